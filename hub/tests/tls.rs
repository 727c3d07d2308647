//! TLS and mTLS on the partner port, end to end: real handshakes on
//! ephemeral loopback ports, with certificates generated here (rcgen, ring)
//! and never stored in the repository. Also the limits that keep a hostile
//! client from pinning the port: message and metadata size, handshake
//! deadline.

mod common;
#[path = "common/process.rs"]
mod process;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use hub::config::Config;
use hub::journal::Journal;
use hub::tls::{AcceptOptions, PeerIdentity, ServerTls, TlsConfig};
use hub_proto::settlement::v1::settlement_service_client::SettlementServiceClient;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair, SanType,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_stream::StreamExt;
use tonic::Code;
use tonic::transport::server::Connected;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

/// A throwaway certificate authority.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

/// A certificate signed by a [`Ca`], with its key, both PEM.
struct Leaf {
    cert: String,
    key: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        Ca {
            issuer: Issuer::new(params, key),
            pem: cert.pem(),
        }
    }

    fn sign(&self, sans: Vec<SanType>, cn: &str) -> Leaf {
        self.sign_with(sans, cn, |_| {})
    }

    /// Like [`Ca::sign`], with `adjust` changing the parameters first.
    fn sign_with(
        &self,
        sans: Vec<SanType>,
        cn: &str,
        adjust: impl FnOnce(&mut CertificateParams),
    ) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.subject_alt_names = sans;
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, cn);
        adjust(&mut params);
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    /// A server certificate for `localhost`.
    fn server(&self) -> Leaf {
        self.sign(
            vec![SanType::DnsName("localhost".try_into().unwrap())],
            "hub",
        )
    }

    /// A client certificate naming partner `name` in every way.
    fn client(&self, name: &str) -> Leaf {
        self.sign(client_names(name), name)
    }

    /// A client certificate for partner `name` with serial number `serial`
    /// (what a revocation list names).
    fn client_numbered(&self, name: &str, serial: u64) -> Leaf {
        self.sign_with(client_names(name), name, |params| {
            params.serial_number = Some(rcgen::SerialNumber::from(serial));
        })
    }

    /// This CA's revocation list (PEM), revoking the `serials`.
    fn crl(&self, number: u64, serials: &[u64]) -> String {
        let revoked = serials
            .iter()
            .map(|&serial| rcgen::RevokedCertParams {
                serial_number: rcgen::SerialNumber::from(serial),
                revocation_time: rcgen::date_time_ymd(2024, 1, 1),
                reason_code: Some(rcgen::RevocationReason::KeyCompromise),
                invalidity_date: None,
            })
            .collect();
        rcgen::CertificateRevocationListParams {
            this_update: rcgen::date_time_ymd(2024, 1, 1),
            next_update: rcgen::date_time_ymd(2099, 1, 1),
            crl_number: rcgen::SerialNumber::from(number),
            issuing_distribution_point: None,
            revoked_certs: revoked,
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        }
        .signed_by(&self.issuer)
        .unwrap()
        .pem()
        .unwrap()
    }

    /// A client certificate for partner `name` that expired in 2021.
    fn expired_client(&self, name: &str) -> Leaf {
        self.sign_with(client_names(name), name, |params| {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        })
    }
}

/// The SANs of a client certificate for partner `name`.
fn client_names(name: &str) -> Vec<SanType> {
    vec![
        SanType::DnsName(format!("{name}.partners.test").try_into().unwrap()),
        SanType::URI(format!("spiffe://partners/{name}").try_into().unwrap()),
    ]
}

/// Writes the server's pair into `dir` (key first: a reload in between sees
/// a mismatched pair, which it refuses).
fn install(dir: &Path, leaf: &Leaf) {
    std::fs::write(dir.join("key.pem"), &leaf.key).unwrap();
    std::fs::write(dir.join("cert.pem"), &leaf.cert).unwrap();
}

fn tls_config(dir: &Path, client_ca: Option<&Ca>) -> TlsConfig {
    let client_ca_file = client_ca.map(|ca| {
        let path = dir.join("client-ca.pem");
        std::fs::write(&path, &ca.pem).unwrap();
        path
    });
    TlsConfig {
        cert_file: dir.join("cert.pem"),
        key_file: dir.join("key.pem"),
        client_ca_file,
        client_crl_file: None,
        reload_interval: Duration::from_millis(100),
    }
}

/// The test configuration (journal at `path`, provider at `sandbox`) with
/// TLS instead of plaintext.
fn config_tls(path: PathBuf, sandbox: SocketAddr, tls: TlsConfig) -> Config {
    let mut config = config(path, sandbox);
    config.server.plaintext = false;
    config.server.tls = Some(tls);
    config
}

/// A TLS channel trusting `ca`, presenting `identity` if given.
async fn tls_channel(
    addr: SocketAddr,
    ca: &Ca,
    identity: Option<&Leaf>,
) -> Result<Channel, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&ca.pem))
        .domain_name("localhost");
    if let Some(leaf) = identity {
        tls = tls.identity(Identity::from_pem(&leaf.cert, &leaf.key));
    }
    Channel::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
}

/// A bare TLS connection (tokio-rustls, ALPN h2) trusting `ca`, presenting
/// `identity` if given; nothing is sent after the handshake.
async fn raw_tls(
    addr: SocketAddr,
    ca: &Ca,
    identity: Option<&Leaf>,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    hub::tls::install_crypto_provider();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.pem.as_bytes()).unwrap())
        .unwrap();
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    let mut client = match identity {
        None => builder.with_no_client_auth(),
        Some(leaf) => builder
            .with_client_auth_cert(
                CertificateDer::pem_slice_iter(leaf.cert.as_bytes())
                    .collect::<Result<_, _>>()
                    .unwrap(),
                PrivateKeyDer::from_pem_slice(leaf.key.as_bytes()).unwrap(),
            )
            .unwrap(),
    };
    client.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = TcpStream::connect(addr).await?;
    tokio_rustls::TlsConnector::from(Arc::new(client))
        .connect("localhost".try_into().unwrap(), tcp)
        .await
}

fn with_key(channel: Channel, key: String) -> Client {
    let intercept: Intercept = Box::new(move |mut req: tonic::Request<()>| {
        req.metadata_mut().insert("x-api-key", key.parse().unwrap());
        Ok(req)
    });
    SettlementServiceClient::with_interceptor(channel, intercept)
}

/// Whether a new connection trusting `ca` gets an answer from the health
/// service (which needs no credentials).
async fn health_ok(addr: SocketAddr, ca: &Ca) -> bool {
    let Ok(channel) = tls_channel(addr, ca, None).await else {
        return false;
    };
    HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_debit_over_tls_with_an_api_key_settles() {
    let sb = sandbox().await;
    let (dir, path) = journal_path();
    let ca = Ca::new("server ca");
    install(dir.path(), &ca.server());
    let hub = TestHub::start_with(config_tls(path, sb.addr(), tls_config(dir.path(), None))).await;

    let channel = tls_channel(hub.addr, &ca, None).await.unwrap();
    let mut c = with_key(channel, hub.key("p1").await);
    let tx = debited(&mut c, debit("tls-1", "acc-1", 2_500)).await;
    assert_eq!(
        state(&tx),
        hub_proto::settlement::v1::TransactionState::Settled
    );
    assert_eq!(sb.balance("acc-1"), Some(97_500));

    // A client that does not trust the server's CA does not get in.
    let stranger = Ca::new("another ca");
    assert!(!health_ok(hub.addr, &stranger).await);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_to_a_tls_port_fails_and_moves_nothing() {
    let sb = sandbox().await;
    let (dir, path) = journal_path();
    let ca = Ca::new("server ca");
    install(dir.path(), &ca.server());
    let hub = TestHub::start_with(config_tls(path, sb.addr(), tls_config(dir.path(), None))).await;
    let key = hub.key("p1").await;

    let plain = Channel::from_shared(format!("http://{}", hub.addr))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5))
        .connect()
        .await;
    if let Ok(channel) = plain {
        // The server answers the HTTP/2 preface with a TLS alert and
        // closes: the call fails however the client reads that.
        let refused = with_key(channel, key)
            .debit(debit("plain-1", "acc-1", 100))
            .await;
        assert!(refused.is_err(), "{refused:?}");
    }
    assert_eq!(sb.balance("acc-1"), Some(100_000));
    assert!(hub.journal.scan(0, 10).await.unwrap().is_empty());
    // The port still serves TLS.
    assert!(health_ok(hub.addr, &ca).await);
    hub.stop().await;
}

#[tokio::test]
async fn start_up_needs_tls_or_explicit_plaintext() {
    let (dir, path) = journal_path();
    let start = |config: Config| {
        let journal = Arc::new(hub::journal::SqliteJournal::open(&path).unwrap());
        hub::server::Hub::with_journal(
            &config,
            journal,
            Arc::new(hub::engine::SystemClock),
            Arc::new(hub::resilience::SeededJitter::new(1)),
        )
        .err()
    };
    let sandbox: SocketAddr = "127.0.0.1:9".parse().unwrap();

    let mut config = config(path.clone(), sandbox);
    assert!(start(config.clone()).is_none(), "plaintext = true starts");
    config.server.plaintext = false;
    let err = start(config.clone()).expect("neither TLS nor plaintext");
    assert!(
        err.to_string().starts_with("configuration: server.tls:"),
        "{err}"
    );

    // TLS whose files are missing names the file's field.
    let err = start(config_tls(
        path.clone(),
        sandbox,
        tls_config(dir.path(), None),
    ))
    .expect("no certificate file");
    assert!(err.to_string().contains("server.tls.cert_file"), "{err}");

    let ca = Ca::new("server ca");
    install(dir.path(), &ca.server());
    assert!(
        start(config_tls(
            path.clone(),
            sandbox,
            tls_config(dir.path(), None)
        ))
        .is_none(),
        "TLS starts"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_certificate_is_served_without_restart() {
    let sb = sandbox().await;
    let (dir, path) = journal_path();
    let old_ca = Ca::new("old ca");
    install(dir.path(), &old_ca.server());
    let hub = TestHub::start_with(config_tls(path, sb.addr(), tls_config(dir.path(), None))).await;
    assert!(health_ok(hub.addr, &old_ca).await);
    // A connection made before the change keeps working after it.
    let before = tls_channel(hub.addr, &old_ca, None).await.unwrap();

    let new_ca = Ca::new("new ca");
    install(dir.path(), &new_ca.server());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !health_ok(hub.addr, &new_ca).await {
        assert!(Instant::now() < deadline, "new certificate never served");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !health_ok(hub.addr, &old_ca).await,
        "old certificate still served"
    );
    let mut kept = HealthClient::new(before);
    kept.check(HealthCheckRequest {
        service: String::new(),
    })
    .await
    .unwrap();

    // A bad replacement is refused: the new certificate stays in use.
    std::fs::write(dir.path().join("cert.pem"), "not a certificate").unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(health_ok(hub.addr, &new_ca).await);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_admits_the_ca_s_clients_and_clients_without_a_certificate_only() {
    let sb = sandbox().await;
    let (dir, path) = journal_path();
    let server_ca = Ca::new("server ca");
    let client_ca = Ca::new("partner ca");
    install(dir.path(), &server_ca.server());
    let hub = TestHub::start_with(config_tls(
        path,
        sb.addr(),
        tls_config(dir.path(), Some(&client_ca)),
    ))
    .await;

    // A certificate from the configured CA: connects.
    let mine = client_ca.client("p1");
    let channel = tls_channel(hub.addr, &server_ca, Some(&mine))
        .await
        .unwrap();
    let mut c = with_key(channel, hub.key("p1").await);
    c.debit(debit("mtls-1", "acc-1", 1_000)).await.unwrap();
    assert_eq!(sb.balance("acc-1"), Some(99_000));

    // No certificate: client certificates are optional; the key suffices.
    let channel = tls_channel(hub.addr, &server_ca, None).await.unwrap();
    let mut c = with_key(channel, hub.key("p2").await);
    c.debit(debit("mtls-2", "acc-1", 1_000)).await.unwrap();
    assert_eq!(sb.balance("acc-1"), Some(98_000));

    // A certificate from another CA: refused at the handshake, even with a
    // valid key. With TLS 1.3 the client believes it is connected until the
    // server's alert arrives, so the refusal shows on the first read (or,
    // through tonic, on the call, as whatever the closing looks like then).
    let forged = Ca::new("forger ca").client("p1");
    let mut raw = raw_tls(hub.addr, &server_ca, Some(&forged)).await.unwrap();
    let err = raw.read(&mut [0u8; 64]).await.unwrap_err();
    assert!(err.to_string().contains("UnknownCA"), "{err}");
    if let Ok(channel) = tls_channel(hub.addr, &server_ca, Some(&forged)).await {
        let refused = with_key(channel, hub.key("p1").await)
            .debit(debit("mtls-3", "acc-1", 1_000))
            .await;
        assert!(refused.is_err(), "{refused:?}");
    }
    assert_eq!(sb.balance("acc-1"), Some(98_000));
    assert_eq!(hub.journal.scan(0, 10).await.unwrap().len(), 2);
    hub.stop().await;
}

/// The identity reaches request handling: a tonic server on
/// [`hub::tls::incoming`] with a layer that records what
/// [`hub::tls::peer_identity`] says for each request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_certificate_identity_is_in_the_request_extensions() {
    let dir = tempfile::tempdir().unwrap();
    let server_ca = Ca::new("server ca");
    let client_ca = Ca::new("partner ca");
    install(dir.path(), &server_ca.server());
    let tls = Arc::new(ServerTls::load(&tls_config(dir.path(), Some(&client_ca))).unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let incoming = hub::tls::incoming(
        listener,
        Some(tls),
        AcceptOptions {
            tcp_keepalive: None,
            handshake_timeout: Duration::from_secs(5),
            idle_timeout: None,
        },
    );
    let seen: Arc<Mutex<Vec<Option<PeerIdentity>>>> = Arc::default();
    let record = {
        let seen = seen.clone();
        move |req: http::Request<tonic::body::Body>| {
            seen.lock()
                .unwrap()
                .push(hub::tls::peer_identity(&req).cloned());
            req
        }
    };
    let (_reporter, health) = tonic_health::server::health_reporter();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .layer(tower::util::MapRequestLayer::new(record))
            .add_service(health)
            .serve_with_incoming_shutdown(incoming, async {
                let _ = stopped.await;
            }),
    );

    let check = HealthCheckRequest {
        service: String::new(),
    };
    let with_cert = tls_channel(addr, &server_ca, Some(&client_ca.client("p1")))
        .await
        .unwrap();
    HealthClient::new(with_cert)
        .check(check.clone())
        .await
        .unwrap();
    let without = tls_channel(addr, &server_ca, None).await.unwrap();
    HealthClient::new(without).check(check).await.unwrap();

    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            Some(PeerIdentity {
                names: vec![
                    "spiffe://partners/p1".into(),
                    "p1.partners.test".into(),
                    "p1".into()
                ]
            }),
            None
        ]
    );
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_messages_and_metadata_are_refused_and_move_nothing() {
    let sb = sandbox().await;
    let (dir, path) = journal_path();
    let ca = Ca::new("server ca");
    install(dir.path(), &ca.server());
    let mut config = config_tls(path, sb.addr(), tls_config(dir.path(), None));
    config.server.max_message_bytes = 64 * 1024;
    let hub = TestHub::start_with(config).await;
    let channel = tls_channel(hub.addr, &ca, None).await.unwrap();
    let mut c = with_key(channel, hub.key("p1").await);

    let mut big = debit("big-1", "acc-1", 1_000);
    big.reference = "x".repeat(100 * 1024);
    let err = c.debit(big).await.unwrap_err();
    assert_eq!(err.code(), Code::OutOfRange, "{err}");

    // Metadata past the default 16 KiB header list.
    let mut req = tonic::Request::new(debit("big-2", "acc-1", 1_000));
    req.metadata_mut()
        .insert("x-padding", "y".repeat(32 * 1024).parse().unwrap());
    let err = c.debit(req).await.unwrap_err();
    // The server answers 431 Request Header Fields Too Large itself.
    assert!(err.message().contains("431"), "{err:?}");

    assert_eq!(sb.balance("acc-1"), Some(100_000));
    assert!(hub.journal.scan(0, 10).await.unwrap().is_empty());

    // The limits refuse what is too big, not everything.
    let channel = tls_channel(hub.addr, &ca, None).await.unwrap();
    let mut c = with_key(channel, hub.key("p1").await);
    c.debit(debit("small-1", "acc-1", 1_000)).await.unwrap();
    assert_eq!(sb.balance("acc-1"), Some(99_000));
    hub.stop().await;
}

/// Reads until the server closes the connection; how long it took.
async fn time_to_close(mut read: impl AsyncReadExt + Unpin) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 256];
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server kept a silent client for 10s");
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stalls_before_or_after_the_handshake_is_cut_off() {
    let sb = sandbox().await;
    let (dir, path) = journal_path();
    let ca = Ca::new("server ca");
    install(dir.path(), &ca.server());
    let mut config = config_tls(path, sb.addr(), tls_config(dir.path(), None));
    config.server.handshake_timeout = Duration::from_millis(300);
    let hub = TestHub::start_with(config).await;

    // Connects and sends nothing.
    let silent = TcpStream::connect(hub.addr).await.unwrap();
    let took = time_to_close(silent).await;
    assert!(took >= Duration::from_millis(250), "{took:?}");

    // Completes the TLS handshake, then never sends the HTTP/2 preface.
    let mut stalled = raw_tls(hub.addr, &ca, None).await.unwrap();
    assert_eq!(stalled.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    stalled.flush().await.unwrap();
    let took = time_to_close(stalled).await;
    assert!(took < Duration::from_secs(5), "{took:?}");

    // Meanwhile a well-behaved client is served.
    assert!(health_ok(hub.addr, &ca).await);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plaintext_client_that_stalls_in_the_preface_is_cut_off() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut incoming = Box::pin(hub::tls::incoming(
        listener,
        None,
        AcceptOptions {
            tcp_keepalive: Some(Duration::from_secs(60)),
            handshake_timeout: Duration::from_millis(300),
            idle_timeout: None,
        },
    ));

    // Half the HTTP/2 preface, then nothing.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    let took = time_to_close(slow).await;
    assert!(took >= Duration::from_millis(250), "{took:?}");

    // A whole preface makes a connection, with its addresses.
    let mut prompt = TcpStream::connect(addr).await.unwrap();
    prompt
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    let conn = tokio::time::timeout(Duration::from_secs(5), incoming.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let info = conn.connect_info();
    assert_eq!(info.remote_addr, Some(prompt.local_addr().unwrap()));
    assert!(!info.tls);
    assert_eq!(info.peer_identity, None);
}

/// A client certificate alone authenticates a partner that lists its name
/// and allows mTLS; the same certificate does nothing for a partner that
/// does not, and an unmapped certificate is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_authenticates_a_partner_that_allows_mtls() {
    let sb = sandbox().await;
    let (dir, path) = journal_path();
    let server_ca = Ca::new("server ca");
    let client_ca = Ca::new("partner ca");
    install(dir.path(), &server_ca.server());
    let mut config = config_tls(path, sb.addr(), tls_config(dir.path(), Some(&client_ca)));
    let p1 = config.partners.get_mut("p1").unwrap();
    p1.auth_methods = vec![hub::auth::AuthMethod::Mtls];
    p1.certificate_names = vec!["spiffe://partners/p1".into()];
    let p2 = config.partners.get_mut("p2").unwrap();
    p2.certificate_names = vec!["spiffe://partners/p2".into()];
    let hub = TestHub::start_with(config).await;
    let no_key = |channel: Channel| -> Client {
        let intercept: Intercept = Box::new(Ok);
        SettlementServiceClient::with_interceptor(channel, intercept)
    };

    // p1's certificate, no key: a debit as p1.
    let channel = tls_channel(hub.addr, &server_ca, Some(&client_ca.client("p1")))
        .await
        .unwrap();
    let tx = no_key(channel)
        .debit(debit("by-cert", "acc-1", 500))
        .await
        .unwrap()
        .into_inner()
        .transaction
        .unwrap();
    assert_eq!(
        state(&tx),
        hub_proto::settlement::v1::TransactionState::Settled
    );
    let owner = hub::domain::PartnerId::parse("p1").unwrap();
    assert!(
        hub.journal
            .get(
                &owner,
                &hub::journal::Lookup::Key(hub::domain::IdempotencyKey::parse("by-cert").unwrap())
            )
            .await
            .unwrap()
            .is_some()
    );

    // p2 allows API keys only: its certificate is not enough.
    let channel = tls_channel(hub.addr, &server_ca, Some(&client_ca.client("p2")))
        .await
        .unwrap();
    let err = no_key(channel)
        .debit(debit("p2-cert", "acc-1", 500))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);

    // A certificate from the right CA that names no partner.
    let channel = tls_channel(hub.addr, &server_ca, Some(&client_ca.client("nobody")))
        .await
        .unwrap();
    let err = no_key(channel)
        .debit(debit("nobody", "acc-1", 500))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);

    // p1 may not use an API key.
    let channel = tls_channel(hub.addr, &server_ca, None).await.unwrap();
    let err = with_key(channel, hub.key("p1").await)
        .debit(debit("p1-key", "acc-1", 500))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert_eq!(sb.balance("acc-1"), Some(99_500));
    hub.stop().await;
}

/// A bare HTTP/2 client, byte by byte: what a hostile or merely odd client
/// can do that a well-behaved library never would.
mod h2raw {
    use std::sync::Arc;
    use std::time::Instant;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio::net::tcp::OwnedWriteHalf;

    pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    pub const DATA: u8 = 0x0;
    pub const HEADERS: u8 = 0x1;
    pub const RST_STREAM: u8 = 0x3;
    pub const SETTINGS: u8 = 0x4;
    pub const PING: u8 = 0x6;
    pub const CONTINUATION: u8 = 0x9;
    pub const END_STREAM: u8 = 0x1;
    pub const ACK: u8 = 0x1;
    pub const END_HEADERS: u8 = 0x4;
    pub const REFUSED_STREAM: u32 = 0x7;

    pub fn frame(ty: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut f = len.to_be_bytes()[1..].to_vec();
        f.push(ty);
        f.push(flags);
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    /// An HPACK block of literal fields without indexing, names and values
    /// plain (no Huffman), each shorter than 127 bytes.
    pub fn header_block(fields: &[(&str, &str)]) -> Vec<u8> {
        let mut block = Vec::new();
        for (name, value) in fields {
            assert!(name.len() < 127 && value.len() < 127);
            block.push(0x00);
            block.push(name.len() as u8);
            block.extend_from_slice(name.as_bytes());
            block.push(value.len() as u8);
            block.extend_from_slice(value.as_bytes());
        }
        block
    }

    /// The header block of a gRPC call to `path` with API key `key`.
    pub fn call_headers(path: &str, key: &str) -> Vec<u8> {
        header_block(&[
            (":method", "POST"),
            (":scheme", "http"),
            (":path", path),
            (":authority", "localhost"),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
            ("x-api-key", key),
        ])
    }

    /// The HEADERS and DATA frames of one unary gRPC call on `stream`.
    pub fn unary_call(stream: u32, path: &str, key: &str, msg: &impl prost::Message) -> Vec<u8> {
        let block = call_headers(path, key);
        let body = msg.encode_to_vec();
        let mut data = vec![0];
        data.extend_from_slice(&(body.len() as u32).to_be_bytes());
        data.extend_from_slice(&body);
        let mut bytes = frame(HEADERS, END_HEADERS, stream, &block);
        bytes.extend(frame(DATA, END_STREAM, stream, &data));
        bytes
    }

    #[derive(Debug, Clone)]
    pub struct Frame {
        pub ty: u8,
        pub flags: u8,
        pub stream: u32,
        pub payload: Vec<u8>,
        pub at: Instant,
    }

    /// Writes to a [`Conn`].
    #[derive(Clone)]
    pub struct Sender(Arc<tokio::sync::Mutex<OwnedWriteHalf>>);

    impl Sender {
        pub async fn send(&self, bytes: &[u8]) {
            let mut w = self.0.lock().await;
            // The server may have closed already; the reader sees that.
            let _ = w.write_all(bytes).await;
            let _ = w.flush().await;
        }
    }

    /// One connection: the test writes through `send`; a task reads every
    /// frame the server sends, acknowledges its SETTINGS and answers its
    /// PINGs (as any live client does), and hands each frame on; the
    /// channel ends when the server closes the connection.
    pub struct Conn {
        writer: Arc<tokio::sync::Mutex<OwnedWriteHalf>>,
        pub frames: tokio::sync::mpsc::UnboundedReceiver<Frame>,
        pub pings_answered: Arc<std::sync::atomic::AtomicUsize>,
        /// Whether PINGs are answered (on by default).
        pub answer_pings: Arc<std::sync::atomic::AtomicBool>,
    }

    impl Conn {
        /// Connects and sends the preface and an empty SETTINGS frame.
        pub async fn open(addr: std::net::SocketAddr) -> Conn {
            let (mut read, write) = TcpStream::connect(addr).await.unwrap().into_split();
            let writer = Arc::new(tokio::sync::Mutex::new(write));
            let (tx, frames) = tokio::sync::mpsc::unbounded_channel();
            let pings_answered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let answer_pings = Arc::new(std::sync::atomic::AtomicBool::new(true));
            let (w, pings, answering) =
                (writer.clone(), pings_answered.clone(), answer_pings.clone());
            tokio::spawn(async move {
                loop {
                    let mut head = [0u8; 9];
                    if read.read_exact(&mut head).await.is_err() {
                        return;
                    }
                    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
                    let mut payload = vec![0; len];
                    if read.read_exact(&mut payload).await.is_err() {
                        return;
                    }
                    let f = Frame {
                        ty: head[3],
                        flags: head[4],
                        stream: u32::from_be_bytes([head[5], head[6], head[7], head[8]])
                            & 0x7fff_ffff,
                        payload,
                        at: Instant::now(),
                    };
                    let answer = match (f.ty, f.flags & ACK) {
                        (SETTINGS, 0) => Some(frame(SETTINGS, ACK, 0, &[])),
                        (PING, 0) if answering.load(std::sync::atomic::Ordering::SeqCst) => {
                            pings.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            Some(frame(PING, ACK, 0, &f.payload))
                        }
                        _ => None,
                    };
                    if let Some(a) = answer {
                        let _ = w.lock().await.write_all(&a).await;
                    }
                    if tx.send(f).is_err() {
                        return;
                    }
                }
            });
            let conn = Conn {
                writer,
                frames,
                pings_answered,
                answer_pings,
            };
            let mut hello = PREFACE.to_vec();
            hello.extend(frame(SETTINGS, 0, 0, &[]));
            conn.send(&hello).await;
            conn
        }

        pub async fn send(&self, bytes: &[u8]) {
            self.sender().send(bytes).await
        }

        /// A handle that writes to the connection from another task.
        pub fn sender(&self) -> Sender {
            Sender(self.writer.clone())
        }

        /// Waits for the server's SETTINGS (acknowledged before this
        /// returns), so nothing the reader writes lands inside a header
        /// block the test sends next.
        pub async fn settled(&mut self) {
            loop {
                let f = self.frames.recv().await.expect("the server's SETTINGS");
                if f.ty == SETTINGS && f.flags & ACK == 0 {
                    return;
                }
            }
        }

        /// The frames that arrive within `d` (fewer if the connection
        /// closes).
        pub async fn frames_for(&mut self, d: std::time::Duration) -> Vec<Frame> {
            let until = tokio::time::Instant::now() + d;
            let mut seen = Vec::new();
            while let Ok(Some(f)) = tokio::time::timeout_at(until, self.frames.recv()).await {
                seen.push(f);
            }
            seen
        }

        /// Every frame until the server closes the connection, and when it
        /// did; panics if it is still open after `limit`.
        pub async fn until_closed(&mut self, limit: std::time::Duration) -> (Vec<Frame>, Instant) {
            let mut seen = Vec::new();
            let closed = tokio::time::timeout(limit, async {
                while let Some(f) = self.frames.recv().await {
                    seen.push(f);
                }
            })
            .await;
            assert!(
                closed.is_ok(),
                "the connection is still open after {limit:?}"
            );
            (seen, Instant::now())
        }
    }
}

/// The test hub's configuration with `idle_timeout` and keepalive PINGs
/// every 100 ms (answered by the clients here, so they do not end it).
fn idle_config(path: PathBuf, sandbox: SocketAddr, idle: Duration) -> Config {
    let mut config = config(path, sandbox);
    config.server.idle_timeout = idle;
    config.server.http2_keepalive_interval = Duration::from_millis(100);
    config.server.http2_keepalive_timeout = Duration::from_secs(5);
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_with_no_call_open_is_closed_after_the_idle_timeout() {
    let sb = sandbox().await;
    let (_dir, path) = journal_path();
    let idle = Duration::from_millis(400);
    let hub = TestHub::start_with(idle_config(path, sb.addr(), idle)).await;

    // Preface and SETTINGS, then nothing but PING answers.
    let started = Instant::now();
    let mut conn = h2raw::Conn::open(hub.addr).await;
    let (_, closed_at) = conn.until_closed(Duration::from_secs(10)).await;
    let took = closed_at - started;
    assert!(took >= idle - Duration::from_millis(50), "{took:?}");
    assert!(
        conn.pings_answered
            .load(std::sync::atomic::Ordering::SeqCst)
            >= 1,
        "the client answered keepalive PINGs, and that did not keep it open"
    );

    // A tonic client carries on over a new connection after its idle one
    // was closed.
    let mut c = hub.client("p1").await;
    c.debit(debit("idle-1", "acc-1", 1)).await.unwrap();
    tokio::time::sleep(idle * 2).await;
    c.debit(debit("idle-2", "acc-1", 1)).await.unwrap();
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_longer_than_the_idle_timeout_is_not_cut_and_the_idle_clock_starts_after_it() {
    use hub_proto::settlement::v1 as pb;
    use sandbox_json_hmac::{Fault, FaultKind};
    let sb = sandbox().await;
    let (_dir, path) = journal_path();
    let idle = Duration::from_millis(300);
    let hub = TestHub::start_with(idle_config(path, sb.addr(), idle)).await;
    let key = hub.key("p1").await;
    // The provider holds the debit three idle timeouts long.
    let held = Duration::from_millis(900);
    sb.set_fault(Fault::new(FaultKind::Latency(held)).on_path("/v1/debit"));

    let mut conn = h2raw::Conn::open(hub.addr).await;
    let sent = Instant::now();
    conn.send(&h2raw::unary_call(
        1,
        "/settlement.v1.SettlementService/Debit",
        &key,
        &debit("long-1", "acc-1", 700),
    ))
    .await;
    let (frames, closed_at) = conn.until_closed(Duration::from_secs(10)).await;
    let on_call: Vec<&h2raw::Frame> = frames.iter().filter(|f| f.stream == 1).collect();
    assert!(
        !on_call.iter().any(|f| f.ty == h2raw::RST_STREAM),
        "the call was not reset: {on_call:?}"
    );
    // The answer came whole: response headers, the message, and trailers
    // ending the stream, after the provider's delay.
    let trailers = on_call
        .iter()
        .find(|f| f.ty == h2raw::HEADERS && f.flags & h2raw::END_STREAM != 0)
        .expect("the call's trailers");
    assert!(on_call.iter().any(|f| f.ty == h2raw::DATA));
    assert!(trailers.at - sent >= held, "{:?}", trailers.at - sent);
    // Only then did the connection go idle and, an idle timeout later,
    // close.
    let idle_for = closed_at - trailers.at;
    assert!(idle_for >= idle - Duration::from_millis(50), "{idle_for:?}");

    assert_eq!(sb.balance("acc-1"), Some(100_000 - 700));
    let tx = hub
        .journal
        .get(
            &hub::domain::PartnerId::parse("p1").unwrap(),
            &hub::journal::Lookup::Key(hub::domain::IdempotencyKey::parse("long-1").unwrap()),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tx.state, hub::domain::TxState::Settled);

    // Through tonic as well: a debit held past the idle timeout settles.
    sb.set_fault(Fault::new(FaultKind::Latency(held)).on_path("/v1/debit"));
    let mut c = hub.client("p1").await;
    let tx = debited(&mut c, debit("long-2", "acc-1", 300)).await;
    assert_eq!(state(&tx), pb::TransactionState::Settled);
    hub.stop().await;
}

/// How a client can send a header block slowly.
#[derive(Debug, Clone, Copy)]
enum Trickle {
    /// One HEADERS frame whose bytes come one every 100 ms.
    FrameBytes,
    /// A HEADERS frame without END_HEADERS, then a CONTINUATION of a few
    /// bytes every 100 ms, never the last one.
    Continuations,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_trickles_a_header_block_after_the_preface_is_cut_off() {
    let sb = sandbox().await;
    let (_dir, path) = journal_path();
    let idle = Duration::from_millis(500);
    let mut config = config(path, sb.addr());
    config.server.idle_timeout = idle;
    let hub = TestHub::start_with(config).await;
    let key = hub.key("p1").await;
    let block = h2raw::call_headers("/settlement.v1.SettlementService/Debit", &key);

    for how in [Trickle::FrameBytes, Trickle::Continuations] {
        // hyper never sees a request. Nothing but the block may come until
        // it ends, so this client cannot answer keepalive PINGs either; with
        // keepalive at its defaults (a PING after 30 s of silence) the
        // connection's own bounds must end this: the idle timeout (no call
        // is open), or h2's limit on CONTINUATION frames.
        let mut conn = h2raw::Conn::open(hub.addr).await;
        conn.settled().await;
        conn.answer_pings
            .store(false, std::sync::atomic::Ordering::SeqCst);
        let started = Instant::now();
        let sender = conn.sender();
        let block = block.clone();
        let trickle = tokio::spawn(async move {
            let every = Duration::from_millis(100);
            match how {
                Trickle::FrameBytes => {
                    let whole = h2raw::frame(h2raw::HEADERS, h2raw::END_HEADERS, 1, &block);
                    sender.send(&whole[..12]).await;
                    for byte in &whole[12..] {
                        tokio::time::sleep(every).await;
                        sender.send(&[*byte]).await;
                    }
                }
                Trickle::Continuations => {
                    sender
                        .send(&h2raw::frame(h2raw::HEADERS, 0, 1, &block[..8]))
                        .await;
                    // After the real bytes, more of the same: it never ends.
                    for chunk in block[8..].chunks(4).cycle().take(1_000) {
                        tokio::time::sleep(every).await;
                        sender
                            .send(&h2raw::frame(h2raw::CONTINUATION, 0, 1, chunk))
                            .await;
                    }
                }
            }
        });
        let (_, closed_at) = conn.until_closed(Duration::from_secs(10)).await;
        assert!(
            !trickle.is_finished(),
            "{how:?}: the client was still sending"
        );
        trickle.abort();
        let took = closed_at - started;
        assert!(took < Duration::from_secs(5), "{how:?}: {took:?}");
    }

    assert_eq!(sb.money_requests(), 0);
    assert!(hub.journal.scan(0, 10).await.unwrap().is_empty());
    // Others are served meanwhile.
    let mut c = hub.client("p1").await;
    c.debit(debit("after-trickle", "acc-1", 1)).await.unwrap();
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_more_than_max_concurrent_streams_calls_of_one_connection_reach_the_handler() {
    use sandbox_json_hmac::{Fault, FaultKind};
    let sb = sandbox().await;
    let (_dir, path) = journal_path();
    let mut config = config(path, sb.addr());
    config.server.max_concurrent_streams = 4;
    let hub = TestHub::start_with(config).await;
    let key = hub.key("p1").await;
    // Every debit that reaches the provider is held there (and counted).
    sb.set_fault(Fault::new(FaultKind::Hang).on_path("/v1/debit"));

    // Ten debits at once on one connection, from a client that does not
    // wait for the server's SETTINGS (a library would queue them).
    let mut conn = h2raw::Conn::open(hub.addr).await;
    let streams: Vec<u32> = (0..10).map(|i| 1 + 2 * i).collect();
    let mut burst = Vec::new();
    for (i, stream) in streams.iter().enumerate() {
        burst.extend(h2raw::unary_call(
            *stream,
            "/settlement.v1.SettlementService/Debit",
            &key,
            &debit(&format!("burst-{i}"), "acc-1", 10),
        ));
    }
    conn.send(&burst).await;

    let deadline = Instant::now() + Duration::from_secs(5);
    while sb.money_requests() < 4 {
        assert!(
            Instant::now() < deadline,
            "{} reached the provider",
            sb.money_requests()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The rest are refused, not queued behind the held ones.
    let held = conn.frames_for(Duration::from_millis(500)).await;
    assert_eq!(sb.money_requests(), 4, "at most four calls at once");
    let refused: Vec<u32> = held
        .iter()
        .filter(|f| {
            f.ty == h2raw::RST_STREAM
                && f.payload.len() == 4
                && u32::from_be_bytes([f.payload[0], f.payload[1], f.payload[2], f.payload[3]])
                    == h2raw::REFUSED_STREAM
        })
        .map(|f| f.stream)
        .collect();
    assert_eq!(refused, streams[4..], "{held:?}");

    // Released, the four held calls are answered whole.
    sb.clear_faults();
    let answered = conn.frames_for(Duration::from_secs(2)).await;
    let mut ended: Vec<u32> = answered
        .iter()
        .filter(|f| f.ty == h2raw::HEADERS && f.flags & h2raw::END_STREAM != 0)
        .map(|f| f.stream)
        .collect();
    ended.sort();
    assert_eq!(ended, streams[..4], "{answered:?}");
    assert_eq!(sb.money_requests(), 4);
    assert_eq!(hub.journal.scan(0, 20).await.unwrap().len(), 4);
    assert_eq!(sb.balance("acc-1"), Some(100_000 - 4 * 10));
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_idle_timeout_is_set_from_the_environment_and_validated() {
    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join("hub.toml");
    std::fs::write(
        &config_file,
        config_text(&dir.path().join("hub.db"), "", ""),
    )
    .unwrap();

    let port = process::free_port();
    let mut cmd = process::HubProcess::command(&config_file, port);
    cmd.env("HUB_SERVER__IDLE_TIMEOUT", "300ms");
    let hub = process::HubProcess::spawn(cmd, port).await;
    let started = Instant::now();
    let mut conn = h2raw::Conn::open(hub.addr).await;
    let (_, closed_at) = conn.until_closed(Duration::from_secs(10)).await;
    let took = closed_at - started;
    assert!(took >= Duration::from_millis(250), "{took:?}");
    drop(hub);

    let mut cmd = process::HubProcess::command(&config_file, process::free_port());
    let out = cmd
        .env("HUB_SERVER__IDLE_TIMEOUT", "0s")
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("server.idle_timeout"), "{err}");
}

/// mTLS partner p1 (certificate only, `spiffe://partners/p1`) on a hub
/// whose client CA is `client_ca`.
fn mtls_config(path: PathBuf, sandbox: SocketAddr, dir: &Path, client_ca: &Ca) -> Config {
    let mut config = config_tls(path, sandbox, tls_config(dir, Some(client_ca)));
    let p1 = config.partners.get_mut("p1").unwrap();
    p1.auth_methods = vec![hub::auth::AuthMethod::Mtls];
    p1.certificate_names = vec!["spiffe://partners/p1".into()];
    config
}

fn without_credentials(channel: Channel) -> Client {
    let intercept: Intercept = Box::new(Ok);
    SettlementServiceClient::with_interceptor(channel, intercept)
}

/// The hub refuses `leaf` at the handshake with the TLS alert `alert`: with
/// TLS 1.3 the client believes it is connected until the alert arrives, so
/// it shows on the first read; a debit through tonic fails, however the
/// closing looks then.
async fn refused_at_handshake(addr: SocketAddr, server_ca: &Ca, leaf: &Leaf, alert: &str) {
    let mut raw = raw_tls(addr, server_ca, Some(leaf)).await.unwrap();
    let err = raw.read(&mut [0u8; 64]).await.unwrap_err();
    assert!(err.to_string().contains(alert), "{err}");
    if let Ok(channel) = tls_channel(addr, server_ca, Some(leaf)).await {
        let refused = without_credentials(channel)
            .debit(debit(&format!("refused-{alert}"), "acc-1", 1_000))
            .await;
        assert!(refused.is_err(), "{refused:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_client_certificate_is_refused_at_the_handshake_and_moves_nothing() {
    let sb = sandbox().await;
    let (dir, path) = journal_path();
    let server_ca = Ca::new("server ca");
    let client_ca = Ca::new("partner ca");
    install(dir.path(), &server_ca.server());
    let hub = TestHub::start_with(mtls_config(path, sb.addr(), dir.path(), &client_ca)).await;

    // The CA's own certificate for p1, names and all, but expired.
    let expired = client_ca.expired_client("p1");
    refused_at_handshake(hub.addr, &server_ca, &expired, "CertificateExpired").await;
    assert_eq!(sb.money_requests(), 0);
    assert!(hub.journal.scan(0, 10).await.unwrap().is_empty());

    // The control: the same partner with a current certificate.
    let channel = tls_channel(hub.addr, &server_ca, Some(&client_ca.client("p1")))
        .await
        .unwrap();
    without_credentials(channel)
        .debit(debit("current-1", "acc-1", 1_000))
        .await
        .unwrap();
    assert_eq!(sb.balance("acc-1"), Some(99_000));
    hub.stop().await;
}

/// Besides a revocation list (`client_crl_file`, which only new handshakes
/// see), a client certificate is revoked by removing its name from the
/// partner's `certificate_names` (a reload). From then on the certificate
/// authenticates no one, on connections made before the reload as well as
/// after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_removed_from_its_partner_by_a_reload_is_refused() {
    let sb = sandbox().await;
    let (dir, path) = journal_path();
    let server_ca = Ca::new("server ca");
    let client_ca = Ca::new("partner ca");
    install(dir.path(), &server_ca.server());
    let config = mtls_config(path, sb.addr(), dir.path(), &client_ca);
    let hub = TestHub::start_with(config.clone()).await;
    let cert = client_ca.client("p1");

    let before = tls_channel(hub.addr, &server_ca, Some(&cert))
        .await
        .unwrap();
    let mut old_conn = without_credentials(before);
    old_conn
        .debit(debit("before-revoke", "acc-1", 1_000))
        .await
        .unwrap();
    assert_eq!(sb.money_requests(), 1);

    let mut revoked = config.clone();
    revoked.partners.get_mut("p1").unwrap().certificate_names = Vec::new();
    hub.reloader.apply(revoked).await.unwrap();

    let after = tls_channel(hub.addr, &server_ca, Some(&cert))
        .await
        .unwrap();
    for (which, c) in [
        ("open before", &mut old_conn),
        ("new", &mut without_credentials(after)),
    ] {
        let err = c
            .debit(debit("after-revoke", "acc-1", 1_000))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated, "{which}: {err:?}");
        let err = c
            .get_transaction(by_key("before-revoke"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated, "{which}: {err:?}");
    }
    assert_eq!(sb.money_requests(), 1);
    assert_eq!(sb.balance("acc-1"), Some(99_000));
    assert_eq!(hub.journal.scan(0, 10).await.unwrap().len(), 1);

    // Reinstated, the same certificate works again.
    hub.reloader.apply(config).await.unwrap();
    old_conn
        .get_transaction(by_key("before-revoke"))
        .await
        .unwrap();
    hub.stop().await;
}

/// `client_crl_file`: a certificate the CA's list revokes fails the
/// handshake and moves nothing, another of the same CA still connects; a
/// re-issued list revoking that one too is used without a restart; a file
/// with no list in it stops start-up naming the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_on_the_revocation_list_is_refused_at_the_handshake() {
    let sb = sandbox().await;
    let (dir, path) = journal_path();
    let server_ca = Ca::new("server ca");
    let client_ca = Ca::new("partner ca");
    install(dir.path(), &server_ca.server());
    let crl_file = dir.path().join("client-crl.pem");
    std::fs::write(&crl_file, client_ca.crl(1, &[1001])).unwrap();
    let mut config = mtls_config(path.clone(), sb.addr(), dir.path(), &client_ca);
    config.server.tls.as_mut().unwrap().client_crl_file = Some(crl_file.clone());
    let hub = TestHub::start_with(config.clone()).await;
    let (revoked, kept) = (
        client_ca.client_numbered("p1", 1001),
        client_ca.client_numbered("p1", 1002),
    );

    refused_at_handshake(hub.addr, &server_ca, &revoked, "CertificateRevoked").await;
    assert_eq!(sb.money_requests(), 0);
    assert!(hub.journal.scan(0, 10).await.unwrap().is_empty());

    let channel = tls_channel(hub.addr, &server_ca, Some(&kept))
        .await
        .unwrap();
    without_credentials(channel)
        .debit(debit("kept-1", "acc-1", 1_000))
        .await
        .unwrap();
    assert_eq!(sb.balance("acc-1"), Some(99_000));

    // The CA revokes the other one too: new handshakes refuse it once the
    // file has been read again.
    std::fs::write(&crl_file, client_ca.crl(2, &[1001, 1002])).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // An accepted handshake leaves the server waiting for the HTTP/2
        // preface: no answer within a moment means "not refused yet".
        let mut raw = raw_tls(hub.addr, &server_ca, Some(&kept)).await.unwrap();
        let read = tokio::time::timeout(Duration::from_millis(300), raw.read(&mut [0u8; 64])).await;
        match read {
            Ok(Err(e)) if e.to_string().contains("CertificateRevoked") => break,
            other => assert!(
                Instant::now() < deadline,
                "the new list was never used: {other:?}"
            ),
        }
    }
    hub.stop().await;

    // A file without a revocation list: start-up names the field.
    std::fs::write(&crl_file, &client_ca.pem).unwrap();
    let journal = Arc::new(hub::journal::SqliteJournal::open(&path).unwrap());
    let err = hub::server::Hub::with_journal(
        &config,
        journal,
        Arc::new(hub::engine::SystemClock),
        Arc::new(hub::resilience::SeededJitter::new(1)),
    )
    .err()
    .expect("no revocation list in the file");
    assert!(
        err.to_string().contains("server.tls.client_crl_file"),
        "{err}"
    );
}
