//! TLS and mTLS on the partner port, end to end: real handshakes on
//! ephemeral loopback ports, with certificates generated here (rcgen, ring)
//! and never stored in the repository. Also the limits that keep a hostile
//! client from pinning the port: message and metadata size, handshake
//! deadline.

mod common;

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
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.subject_alt_names = sans;
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, cn);
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
        self.sign(
            vec![
                SanType::DnsName(format!("{name}.partners.test").try_into().unwrap()),
                SanType::URI(format!("spiffe://partners/{name}").try_into().unwrap()),
            ],
            name,
        )
    }
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
        let err = with_key(channel, key)
            .debit(debit("plain-1", "acc-1", 100))
            .await
            .unwrap_err();
        assert_ne!(err.code(), Code::Ok, "{err:?}");
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
        let err = with_key(channel, hub.key("p1").await)
            .debit(debit("mtls-3", "acc-1", 1_000))
            .await
            .unwrap_err();
        assert_ne!(err.code(), Code::Ok, "{err:?}");
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
