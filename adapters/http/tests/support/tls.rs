//! Test support shared by the adapter crates (`#[path]`-included): a test CA
//! made with rcgen, its certificate written to a temporary PEM file, and a
//! TLS-terminating proxy on an ephemeral loopback port that forwards each
//! connection, once its handshake succeeded, to a plain-HTTP server.

#![allow(dead_code)]

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use tempfile::NamedTempFile;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A CA, its certificate as a PEM file, and a server certificate it signed
/// for `127.0.0.1` and `localhost`.
pub struct TestCa {
    ca_file: NamedTempFile,
    acceptor: TlsAcceptor,
}

impl TestCa {
    pub fn new() -> Self {
        let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();

        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "adapter test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);

        let leaf_key = KeyPair::generate().unwrap();
        let mut leaf_params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, "127.0.0.1");
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();

        let mut ca_file = NamedTempFile::new().unwrap();
        ca_file.write_all(ca_cert.pem().as_bytes()).unwrap();
        ca_file.flush().unwrap();

        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let chain: Vec<CertificateDer<'static>> = vec![leaf.der().clone()];
        let config = ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        Self {
            ca_file,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        }
    }

    /// The CA certificate's PEM file.
    pub fn ca_file(&self) -> &Path {
        self.ca_file.path()
    }

    /// Serves TLS on an ephemeral loopback port, forwarding every connection
    /// whose handshake succeeded to `upstream`; returns the
    /// `https://127.0.0.1:port` base URL.
    pub async fn proxy_to(&self, upstream: SocketAddr) -> (String, JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("https://{}", listener.local_addr().unwrap());
        let acceptor = self.acceptor.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // An untrusted certificate fails here: nothing reaches
                    // the upstream server.
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let Ok(mut plain) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
        (base, task)
    }
}
