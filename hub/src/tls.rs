//! TLS and mutual TLS on the partner port, and the connections tonic serves.
//!
//! - [`TlsConfig`] (`[server.tls]`) names the certificate chain and key (PEM)
//!   and, for mTLS, the CA that client certificates must chain to. Client
//!   certificates are optional on the port: API-key and token partners
//!   connect without one, but a certificate that is presented must verify or
//!   the handshake fails.
//! - [`ServerTls`] holds the rustls configuration built from those files and
//!   rebuilds it when their contents change ([`ServerTls::watch`]); a bad new
//!   file is logged and the previous configuration kept. New connections use
//!   the newest configuration; open ones keep theirs.
//! - [`incoming`] accepts TCP connections, sets their keepalive, completes the
//!   TLS handshake and reads the HTTP/2 preface, all within
//!   `server.handshake_timeout`, off the accept loop, and hands tonic
//!   [`Connection`]s. A client that connects and stalls is cut off.
//! - Each connection carries a [`ConnInfo`] that tonic puts into every
//!   request's extensions: the remote address and, when the client presented
//!   a verified certificate, its [`PeerIdentity`] ([`peer_identity`]).
//! - [`OpenCallsLayer`] counts the calls open on each connection; a
//!   connection that has had none for `server.idle_timeout` is closed
//!   ([`AcceptOptions::idle_timeout`]), so a client that only answers
//!   keepalive PINGs, or trickles a header block that never completes, does
//!   not hold it for ever.
//!
//! One rustls crypto provider serves the whole process: `ring`, installed as
//! the process default by [`install_crypto_provider`] (`aws-lc-rs` is never
//! compiled in; `cargo tree -i aws-lc-rs` stays empty).
//!
//! # Mapping identities to partners
//!
//! The auth layer sees the identity of the connection a call arrived on:
//!
//! ```ignore
//! if let Some(identity) = hub::tls::peer_identity(&req) {
//!     // identity.names: URI SANs, then DNS SANs, then subject CNs, in
//!     // certificate order; match them against the partners' configured
//!     // certificate names.
//! }
//! ```
//!
//! The identity comes from the handshake, never from metadata, so a client
//! cannot forge it with a header. Handlers see the same value in the
//! `tonic::Request` extensions (`req.extensions().get::<ConnInfo>()`).

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::BodyExt;

use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_stream::{Stream, StreamExt};
use tonic::transport::server::{Connected, TcpIncoming};

/// `[server.tls]`: the partner port's certificate and, for mTLS, the CA of
/// client certificates.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The server's certificate chain, PEM, leaf first.
    pub cert_file: PathBuf,
    /// The server's private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// CA certificates (PEM) that client certificates must chain to. When
    /// set, clients may present a certificate (mTLS); one that does not
    /// verify fails the handshake. Clients without one still connect.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
    /// Certificate revocation lists (PEM `X509 CRL` blocks) of the client
    /// CAs, re-read like the other files: a client certificate they revoke
    /// fails the handshake. Needs `client_ca_file`. Once set, it must hold a
    /// CRL from every CA that issues client certificates: a certificate
    /// whose revocation status cannot be told is refused (fail closed).
    /// Only the client's own certificate is checked, not intermediates.
    #[serde(default)]
    pub client_crl_file: Option<PathBuf>,
    /// How often the files are read to see whether they changed.
    #[serde(default = "default_reload_interval", with = "humantime_serde")]
    pub reload_interval: Duration,
}

fn default_reload_interval() -> Duration {
    Duration::from_secs(5)
}

/// Why the TLS configuration could not be built; each names the field.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("configuration: {field}: cannot read {}: {source}", path.display())]
    Read {
        /// Dotted path of the field naming the file.
        field: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A file was read but does not hold what it should.
    #[error("configuration: {field}: {}: {reason}", path.display())]
    Content {
        /// Dotted path of the field naming the file.
        field: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Installs `ring` as the process's default rustls crypto provider. Safe to
/// call any number of times, from anywhere; call it before anything builds a
/// rustls configuration (the `hub` binary does so first thing).
pub fn install_crypto_provider() {
    // An error only means a default is installed already; only ring is
    // compiled in, so it is this one.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The process's provider, installing it first if needed.
fn crypto_provider() -> Arc<CryptoProvider> {
    install_crypto_provider();
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()))
}

/// Who a client certificate names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PeerIdentity {
    /// URI SANs, then DNS SANs, then subject common names, each group in
    /// certificate order. Never empty.
    pub names: Vec<String>,
}

impl PeerIdentity {
    /// The identity named by a DER certificate, if it parses and names
    /// anything. The certificate is trusted to have been verified already.
    pub fn from_der(der: &[u8]) -> Option<PeerIdentity> {
        use x509_parser::extensions::GeneralName;
        use x509_parser::prelude::FromDer;

        let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der).ok()?;
        let sans: Vec<GeneralName<'_>> = match cert.subject_alternative_name() {
            Ok(Some(ext)) => ext.value.general_names.clone(),
            _ => Vec::new(),
        };
        let uris = sans.iter().filter_map(|n| match n {
            GeneralName::URI(u) => Some(u.to_string()),
            _ => None,
        });
        let dns = sans.iter().filter_map(|n| match n {
            GeneralName::DNSName(d) => Some(d.to_string()),
            _ => None,
        });
        let cns = cert
            .subject()
            .iter_common_name()
            .filter_map(|cn| cn.as_str().ok().map(str::to_owned));
        let names: Vec<String> = uris.chain(dns).chain(cns).collect();
        (!names.is_empty()).then_some(PeerIdentity { names })
    }
}

/// What tonic knows about the connection a request arrived on; it is in
/// every request's extensions.
#[derive(Debug, Clone, Default)]
pub struct ConnInfo {
    /// The client's address.
    pub remote_addr: Option<SocketAddr>,
    /// The server's address.
    pub local_addr: Option<SocketAddr>,
    /// Whether the connection is TLS.
    pub tls: bool,
    /// The verified client certificate's identity, if one was presented.
    pub peer_identity: Option<PeerIdentity>,
    /// The calls open on the connection, which its idle timeout goes by.
    calls: Arc<OpenCalls>,
}

/// The calls open on one connection, and since when it has had none.
#[derive(Debug)]
pub struct OpenCalls {
    state: Mutex<CallsState>,
}

#[derive(Debug, Clone, Copy)]
struct CallsState {
    open: usize,
    idle_since: tokio::time::Instant,
}

impl Default for OpenCalls {
    fn default() -> Self {
        Self {
            state: Mutex::new(CallsState {
                open: 0,
                idle_since: tokio::time::Instant::now(),
            }),
        }
    }
}

impl OpenCalls {
    fn with<R>(&self, f: impl FnOnce(&mut CallsState) -> R) -> R {
        match self.state.lock() {
            Ok(mut s) => f(&mut s),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// Counts a call open until the guard is dropped.
    pub fn open(self: &Arc<Self>) -> CallGuard {
        self.with(|s| s.open += 1);
        CallGuard(self.clone())
    }

    /// How many calls are open.
    pub fn count(&self) -> usize {
        self.with(|s| s.open)
    }

    /// Since when no call has been open; `None` while one is.
    fn idle_since(&self) -> Option<tokio::time::Instant> {
        self.with(|s| (s.open == 0).then_some(s.idle_since))
    }
}

/// One open call of a connection ([`OpenCalls::open`]).
#[derive(Debug)]
pub struct CallGuard(Arc<OpenCalls>);

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.0.with(|s| {
            s.open = s.open.saturating_sub(1);
            if s.open == 0 {
                s.idle_since = tokio::time::Instant::now();
            }
        });
    }
}

impl ConnInfo {
    /// The calls open on this connection.
    pub fn calls(&self) -> &Arc<OpenCalls> {
        &self.calls
    }
}

/// The verified client-certificate identity of the connection `req`
/// arrived on; `None` without mTLS or without a client certificate.
pub fn peer_identity<B>(req: &http::Request<B>) -> Option<&PeerIdentity> {
    req.extensions()
        .get::<ConnInfo>()
        .and_then(|c| c.peer_identity.as_ref())
}

/// Counts every call as open on its connection ([`ConnInfo::calls`]) from
/// the moment it reaches the service until its response has been sent
/// whole (or the call is dropped), which is what the connection's idle
/// timeout goes by.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenCallsLayer;

impl<S> tower::Layer<S> for OpenCallsLayer {
    type Service = OpenCallsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        OpenCallsService { inner }
    }
}

/// The service [`OpenCallsLayer`] builds.
#[derive(Debug, Clone)]
pub struct OpenCallsService<S> {
    inner: S,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S> tower::Service<http::Request<tonic::body::Body>> for OpenCallsService<S>
where
    S: tower::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
        > + Send,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        let guard = req.extensions().get::<ConnInfo>().map(|c| c.calls.open());
        let call = self.inner.call(req);
        Box::pin(async move {
            let response = call.await?;
            // Open until hyper has sent the body (a stream's last message
            // and trailers) and dropped it.
            Ok(response.map(|body| {
                tonic::body::Body::new(body.map_frame(move |frame| {
                    let _open = &guard;
                    frame
                }))
            }))
        })
    }
}

/// The contents of the files, as last read (`None`: unreadable).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Files {
    cert: Option<Vec<u8>>,
    key: Option<Vec<u8>>,
    client_ca: Option<Option<Vec<u8>>>,
    client_crl: Option<Option<Vec<u8>>>,
}

impl Files {
    fn read(config: &TlsConfig) -> Files {
        Files {
            cert: std::fs::read(&config.cert_file).ok(),
            key: std::fs::read(&config.key_file).ok(),
            client_ca: config
                .client_ca_file
                .as_ref()
                .map(|p| std::fs::read(p).ok()),
            client_crl: config
                .client_crl_file
                .as_ref()
                .map(|p| std::fs::read(p).ok()),
        }
    }
}

const CERT_FIELD: &str = "server.tls.cert_file";
const KEY_FIELD: &str = "server.tls.key_file";
const CA_FIELD: &str = "server.tls.client_ca_file";
const CRL_FIELD: &str = "server.tls.client_crl_file";

/// A file's contents as [`Files`] last read them (`read`), or, when it could
/// not be read, the error of reading it again, naming `field`.
fn contents(field: &'static str, path: &Path, read: Option<&Vec<u8>>) -> Result<Vec<u8>, TlsError> {
    match read {
        Some(bytes) => Ok(bytes.clone()),
        None => std::fs::read(path).map_err(|source| TlsError::Read {
            field,
            path: path.to_owned(),
            source,
        }),
    }
}

fn content(field: &'static str, path: &Path, reason: impl ToString) -> TlsError {
    TlsError::Content {
        field,
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

fn certs(
    field: &'static str,
    path: &Path,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| content(field, path, e))?;
    if certs.is_empty() {
        return Err(content(field, path, "no CERTIFICATE in the file"));
    }
    Ok(certs)
}

/// The CRLs of a PEM file (at least one).
fn crls(path: &Path, pem: &[u8]) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsError> {
    let crls = CertificateRevocationListDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| content(CRL_FIELD, path, e))?;
    if crls.is_empty() {
        return Err(content(CRL_FIELD, path, "no X509 CRL in the file"));
    }
    Ok(crls)
}

/// Builds the rustls configuration from the files' contents.
fn build(config: &TlsConfig, files: &Files) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let cert_pem = contents(CERT_FIELD, &config.cert_file, files.cert.as_ref())?;
    let key_pem = contents(KEY_FIELD, &config.key_file, files.key.as_ref())?;
    let chain = certs(CERT_FIELD, &config.cert_file, &cert_pem)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| content(KEY_FIELD, &config.key_file, e))?;

    let provider = crypto_provider();
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| content(CERT_FIELD, &config.cert_file, e))?;
    let builder = match &config.client_ca_file {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let read = files.client_ca.as_ref().and_then(Option::as_ref);
            let pem = contents(CA_FIELD, path, read)?;
            let mut roots = rustls::RootCertStore::empty();
            for ca in certs(CA_FIELD, path, &pem)? {
                roots.add(ca).map_err(|e| content(CA_FIELD, path, e))?;
            }
            let mut verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .allow_unauthenticated();
            if let Some(crl_path) = &config.client_crl_file {
                let read = files.client_crl.as_ref().and_then(Option::as_ref);
                let pem = contents(CRL_FIELD, crl_path, read)?;
                verifier = verifier
                    .with_crls(crls(crl_path, &pem)?)
                    .only_check_end_entity_revocation();
            }
            let verifier = verifier.build().map_err(|e| content(CA_FIELD, path, e))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut server = builder.with_single_cert(chain, key).map_err(|e| {
        content(
            KEY_FIELD,
            &config.key_file,
            format!("does not go with {CERT_FIELD}: {e}"),
        )
    })?;
    server.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(server))
}

/// The partner port's TLS configuration, rebuilt when its files change.
pub struct ServerTls {
    config: TlsConfig,
    current: RwLock<Arc<rustls::ServerConfig>>,
    /// The files as last read, loaded or not, so a bad file is reported
    /// once rather than at every check.
    seen: Mutex<Files>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ServerTls {
    /// Reads the files and builds the configuration; errors name the field.
    pub fn load(config: &TlsConfig) -> Result<ServerTls, TlsError> {
        let files = Files::read(config);
        let server = build(config, &files)?;
        Ok(ServerTls {
            config: config.clone(),
            current: RwLock::new(server),
            seen: Mutex::new(files),
        })
    }

    /// Whether client certificates are requested (mTLS).
    pub fn mutual(&self) -> bool {
        self.config.client_ca_file.is_some()
    }

    /// The configuration new connections use.
    pub fn current(&self) -> Arc<rustls::ServerConfig> {
        match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Reads the files (blocking) and, if their contents changed since the
    /// last read, rebuilds the configuration: `Ok(true)` when new
    /// connections now use new files, `Err` when the changed files do not
    /// make a configuration (the previous one stays in use).
    pub fn reload(&self) -> Result<bool, TlsError> {
        let files = Files::read(&self.config);
        {
            let mut seen = match self.seen.lock() {
                Ok(s) => s,
                Err(poisoned) => poisoned.into_inner(),
            };
            if *seen == files {
                return Ok(false);
            }
            *seen = files.clone();
        }
        let server = build(&self.config, &files)?;
        match self.current.write() {
            Ok(mut c) => *c = server,
            Err(poisoned) => *poisoned.into_inner() = server,
        }
        Ok(true)
    }

    /// Checks the files every `reload_interval`, forever; run it as a task.
    pub async fn watch(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.config.reload_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let this = self.clone();
            match tokio::task::spawn_blocking(move || this.reload()).await {
                Ok(Ok(true)) => tracing::info!(
                    cert_file = %self.config.cert_file.display(),
                    "TLS certificate reloaded; new connections use it"
                ),
                Ok(Ok(false)) => {}
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "TLS files changed but cannot be used; keeping the previous certificate")
                }
                Err(e) => tracing::error!(error = %e, "TLS reload task failed"),
            }
        }
    }
}

/// How [`incoming`] treats new connections.
#[derive(Debug, Clone)]
pub struct AcceptOptions {
    /// TCP keepalive on accepted sockets.
    pub tcp_keepalive: Option<Duration>,
    /// Longest a client may take from connecting to having completed the
    /// TLS handshake (if any) and sent the HTTP/2 connection preface.
    pub handshake_timeout: Duration,
    /// A connection with no call open for this long is closed (when the
    /// server counts calls with [`OpenCallsLayer`]); `None`: never.
    pub idle_timeout: Option<Duration>,
}

/// Connections whose handshake is still running at once; more wait in the
/// kernel's backlog.
const MAX_PENDING_HANDSHAKES: usize = 1024;
/// `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`, which every HTTP/2 client sends first.
const H2_PREFACE_LEN: usize = 24;

/// Accepts connections on `listener` (TLS if `tls` is given) and yields them
/// once established, for tonic's `serve_with_incoming*`. Handshakes run in
/// their own tasks, each bounded by `options.handshake_timeout`; failed or
/// slow ones are dropped and logged at debug level. The accept loop ends
/// when the returned stream is dropped.
pub fn incoming(
    listener: TcpListener,
    tls: Option<Arc<ServerTls>>,
    options: AcceptOptions,
) -> impl Stream<Item = Result<Connection, Infallible>> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Connection>(64);
    tokio::spawn(accept_loop(listener, tls, options, tx));
    tokio_stream::wrappers::ReceiverStream::new(rx).map(Ok)
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<Arc<ServerTls>>,
    options: AcceptOptions,
    tx: tokio::sync::mpsc::Sender<Connection>,
) {
    let mut tcp = TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .with_keepalive(options.tcp_keepalive);
    let pending = Arc::new(tokio::sync::Semaphore::new(MAX_PENDING_HANDSHAKES));
    loop {
        let permit = tokio::select! {
            () = tx.closed() => return,
            p = pending.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let stream = tokio::select! {
            () = tx.closed() => return,
            s = tcp.next() => match s {
                Some(Ok(s)) => s,
                Some(Err(e)) => {
                    // Out of descriptors and the like: give it a moment.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                None => return,
            },
        };
        let tls = tls.clone();
        let tx = tx.clone();
        let timeout = options.handshake_timeout;
        let idle = options.idle_timeout;
        tokio::spawn(async move {
            let remote = stream.peer_addr().ok();
            match tokio::time::timeout(timeout, establish(stream, tls.as_deref(), idle)).await {
                Ok(Ok(conn)) => {
                    let _ = tx.send(conn).await;
                }
                Ok(Err(e)) => {
                    tracing::debug!(?remote, error = %e, "connection dropped during handshake")
                }
                Err(_) => {
                    tracing::debug!(?remote, ?timeout, "connection dropped: handshake too slow")
                }
            }
            drop(permit);
        });
    }
}

/// Completes the TLS handshake (if any) and reads the HTTP/2 preface.
async fn establish(
    stream: TcpStream,
    tls: Option<&ServerTls>,
    idle_timeout: Option<Duration>,
) -> io::Result<Connection> {
    let mut info = ConnInfo {
        remote_addr: stream.peer_addr().ok(),
        local_addr: stream.local_addr().ok(),
        tls: tls.is_some(),
        peer_identity: None,
        calls: Arc::default(),
    };
    let mut io = match tls {
        None => Io::Plain(stream),
        Some(tls) => {
            let stream = tokio_rustls::TlsAcceptor::from(tls.current())
                .accept(stream)
                .await?;
            info.peer_identity = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(|leaf| PeerIdentity::from_der(leaf));
            Io::Tls(Box::new(stream))
        }
    };
    let mut preface = vec![0; H2_PREFACE_LEN];
    io.read_exact(&mut preface).await?;
    // Idle from here: the preface is not a call.
    info.calls = Arc::default();
    Ok(Connection {
        io,
        preface,
        replayed: 0,
        idle: idle_timeout.map(|timeout| Idle {
            timeout,
            timer: Box::pin(tokio::time::sleep(timeout)),
            expired: false,
            logged: false,
        }),
        info,
    })
}

/// The idle timeout of one connection.
struct Idle {
    timeout: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
    /// Once expired, the connection reads as closed for good.
    expired: bool,
    logged: bool,
}

impl Idle {
    /// Whether the connection has had no open call for the whole timeout;
    /// otherwise arms the timer (with `cx`'s waker) for when it might have.
    fn expired(&mut self, calls: &OpenCalls, cx: &mut Context<'_>) -> bool {
        if self.expired {
            return true;
        }
        // Twice at most: a timer that fires is re-armed once.
        for _ in 0..2 {
            let now = tokio::time::Instant::now();
            match calls.idle_since() {
                Some(since) if now >= since + self.timeout => {
                    self.expired = true;
                    return true;
                }
                Some(since) => {
                    let due = since + self.timeout;
                    if self.timer.deadline() != due {
                        self.timer.as_mut().reset(due);
                    }
                }
                // Busy: look again a timeout from now (a call that ends in
                // between only makes the connection idle later than that).
                None => {
                    if self.timer.deadline() <= now {
                        self.timer.as_mut().reset(now + self.timeout);
                    }
                }
            }
            if self.timer.as_mut().poll(cx).is_pending() {
                return false;
            }
        }
        false
    }
}

enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Io::Plain(s) => s.is_write_vectored(),
            Io::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// An established partner connection (plaintext or TLS), as tonic serves
/// it; its [`ConnInfo`] goes into every request's extensions.
pub struct Connection {
    io: Io,
    /// The HTTP/2 preface read during establishment, given back to hyper
    /// before anything else.
    preface: Vec<u8>,
    replayed: usize,
    idle: Option<Idle>,
    info: ConnInfo,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl Connected for Connection {
    type ConnectInfo = ConnInfo;

    fn connect_info(&self) -> ConnInfo {
        self.info.clone()
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.replayed < this.preface.len() {
            let rest = &this.preface[this.replayed..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.replayed += n;
            return Poll::Ready(Ok(()));
        }
        if let Some(idle) = &mut this.idle {
            if idle.expired(&this.info.calls, cx) {
                if !std::mem::replace(&mut idle.logged, true) {
                    tracing::debug!(
                        remote = ?this.info.remote_addr,
                        timeout = ?idle.timeout,
                        "closing a connection idle for its idle timeout"
                    );
                }
                // End of stream, as if the client had closed: hyper ends the
                // connection cleanly (no call is open to cut short), flushing
                // what it has written and closing the TLS session.
                return Poll::Ready(Ok(()));
            }
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
        SanType,
    };

    /// One crypto provider for the whole workspace: a dependency that
    /// brings aws-lc-rs (rustls' other provider, and its C build) back into
    /// the lock file fails here rather than at run time, where two compiled
    /// providers and no installed default make rustls refuse to pick one.
    #[test]
    fn the_workspace_locks_no_second_crypto_provider() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock");
        let lock = std::fs::read_to_string(path).unwrap();
        assert!(lock.contains("name = \"ring\""), "{path}: ring is gone?");
        for crate_name in ["aws-lc-rs", "aws-lc-sys", "aws-lc-fips-sys", "openssl-sys"] {
            assert!(
                !lock.contains(&format!("name = \"{crate_name}\"")),
                "{crate_name} is in {path}: find what pulls it with `cargo tree -i {crate_name}` and turn that feature off"
            );
        }
    }

    struct Ca {
        issuer: Issuer<'static, KeyPair>,
        pem: String,
    }

    fn ca(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        Ca {
            issuer: Issuer::new(params, key),
            pem: cert.pem(),
        }
    }

    /// (certificate PEM, key PEM, certificate DER).
    fn leaf(ca: &Ca, sans: Vec<SanType>, cn: Option<&str>) -> (String, String, Vec<u8>) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.subject_alt_names = sans;
        params.distinguished_name = DistinguishedName::new();
        if let Some(cn) = cn {
            params.distinguished_name.push(DnType::CommonName, cn);
        }
        let cert = params.signed_by(&key, &ca.issuer).unwrap();
        (cert.pem(), key.serialize_pem(), cert.der().to_vec())
    }

    fn dns(name: &str) -> SanType {
        SanType::DnsName(name.try_into().unwrap())
    }

    fn uri(name: &str) -> SanType {
        SanType::URI(name.try_into().unwrap())
    }

    #[test]
    fn identity_lists_uri_sans_then_dns_sans_then_the_common_name() {
        let ca = ca("test ca");
        let (_, _, der) = leaf(
            &ca,
            vec![
                dns("shop-1.partners.example"),
                uri("spiffe://partners/shop-1"),
                dns("alt.example"),
            ],
            Some("Shop One"),
        );
        let id = PeerIdentity::from_der(&der).unwrap();
        assert_eq!(
            id.names,
            [
                "spiffe://partners/shop-1",
                "shop-1.partners.example",
                "alt.example",
                "Shop One"
            ]
        );

        let (_, _, der) = leaf(&ca, vec![], Some("shop-2"));
        assert_eq!(PeerIdentity::from_der(&der).unwrap().names, ["shop-2"]);

        let (_, _, der) = leaf(&ca, vec![], None);
        assert_eq!(PeerIdentity::from_der(&der), None);
        assert_eq!(PeerIdentity::from_der(b"not a certificate"), None);
    }

    #[test]
    fn peer_identity_reads_the_connection_info() {
        let mut req = http::Request::new(());
        assert_eq!(peer_identity(&req), None);
        req.extensions_mut().insert(ConnInfo {
            tls: true,
            peer_identity: Some(PeerIdentity {
                names: vec!["shop-1".into()],
            }),
            ..ConnInfo::default()
        });
        assert_eq!(peer_identity(&req).unwrap().names, ["shop-1"]);
    }

    fn write_pair(dir: &Path, cert: &str, key: &str) {
        std::fs::write(dir.join("cert.pem"), cert).unwrap();
        std::fs::write(dir.join("key.pem"), key).unwrap();
    }

    fn config(dir: &Path, client_ca: bool) -> TlsConfig {
        TlsConfig {
            cert_file: dir.join("cert.pem"),
            key_file: dir.join("key.pem"),
            client_ca_file: client_ca.then(|| dir.join("ca.pem")),
            client_crl_file: None,
            reload_interval: Duration::from_millis(10),
        }
    }

    #[test]
    fn reload_swaps_in_changed_files_and_keeps_the_old_ones_when_bad() {
        let dir = tempfile::tempdir().unwrap();
        let ca = ca("ca");
        let (c1, k1, _) = leaf(&ca, vec![dns("localhost")], None);
        write_pair(dir.path(), &c1, &k1);
        let tls = ServerTls::load(&config(dir.path(), false)).unwrap();
        let first = tls.current();
        assert_eq!(first.alpn_protocols, [b"h2".to_vec()]);
        assert!(!tls.reload().unwrap(), "nothing changed");
        assert!(Arc::ptr_eq(&first, &tls.current()));

        // A new certificate with the old key: refused, old one kept.
        let (c2, k2, _) = leaf(&ca, vec![dns("localhost")], None);
        std::fs::write(dir.path().join("cert.pem"), &c2).unwrap();
        let err = tls.reload().unwrap_err();
        assert!(err.to_string().contains("server.tls.key_file"), "{err}");
        assert!(Arc::ptr_eq(&first, &tls.current()));
        // Reported once, not at every check.
        assert!(!tls.reload().unwrap());

        // Its key follows: now it loads.
        std::fs::write(dir.path().join("key.pem"), &k2).unwrap();
        assert!(tls.reload().unwrap());
        assert!(!Arc::ptr_eq(&first, &tls.current()));

        // Garbage: refused, the second pair stays.
        let second = tls.current();
        std::fs::write(dir.path().join("cert.pem"), "garbage").unwrap();
        let err = tls.reload().unwrap_err();
        assert!(err.to_string().contains("server.tls.cert_file"), "{err}");
        assert!(Arc::ptr_eq(&second, &tls.current()));
        std::fs::remove_file(dir.path().join("key.pem")).unwrap();
        assert!(tls.reload().is_err());
        assert!(Arc::ptr_eq(&second, &tls.current()));
    }

    #[test]
    fn load_errors_name_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let err = ServerTls::load(&config(dir.path(), false)).unwrap_err();
        assert!(err.to_string().contains("server.tls.cert_file"), "{err}");

        let ca = ca("ca");
        let (c, k, _) = leaf(&ca, vec![dns("localhost")], None);
        write_pair(dir.path(), &c, "not a key");
        let err = ServerTls::load(&config(dir.path(), false)).unwrap_err();
        assert!(err.to_string().contains("server.tls.key_file"), "{err}");

        write_pair(dir.path(), &c, &k);
        let err = ServerTls::load(&config(dir.path(), true)).unwrap_err();
        assert!(
            err.to_string().contains("server.tls.client_ca_file"),
            "{err}"
        );
        std::fs::write(dir.path().join("ca.pem"), &ca.pem).unwrap();
        let tls = ServerTls::load(&config(dir.path(), true)).unwrap();
        assert!(tls.mutual());
    }

    #[test]
    fn config_has_a_default_interval_and_refuses_unknown_fields() {
        let cfg: TlsConfig =
            serde_json::from_str(r#"{"cert_file": "c.pem", "key_file": "k.pem"}"#).unwrap();
        assert_eq!(cfg.reload_interval, Duration::from_secs(5));
        assert_eq!(cfg.client_ca_file, None);
        let err = serde_json::from_str::<TlsConfig>(
            r#"{"cert_file": "c.pem", "key_file": "k.pem", "ca_file": "x"}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("ca_file"), "{err}");
    }

    #[test]
    fn installing_the_provider_twice_is_fine() {
        install_crypto_provider();
        install_crypto_provider();
        assert!(CryptoProvider::get_default().is_some());
    }
}
