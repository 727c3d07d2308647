//! One `POST` over HTTP/1.1 with hyper-util's pooled legacy client (TLS for
//! `https` URIs, with rustls over ring), and the whole reply (status,
//! headers, body up to a size limit) read back.
//!
//! The transport knows nothing about a dialect's meaning and trusts nothing
//! it reads; it only reports whether the request can have reached the
//! provider:
//! - [`TransportError::Connect`]: the connection could not be established
//!   (the TLS handshake included: an untrusted certificate fails it), so not
//!   a byte of the request was written;
//! - [`TransportError::AfterSend`]: anything that fails once a connection
//!   was handed the request (reset, close before a full reply, body read
//!   error): the provider may have applied it;
//! - [`TransportError::TooLarge`]: a reply came, but its body is over the
//!   limit: the provider may have applied the request too.
//!
//! There is no timeout here: the hub applies deadlines by dropping the
//! future, which cancels the exchange.
//!
//! While a [recorder](adapter_api::exchange) listens, every exchange is
//! recorded, redacted by the adapter's [`Redaction`]: a complete reply, a
//! failure, or (when the future is dropped first) an abandoned request.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use adapter_api::exchange::{self, Exchange, ExchangeReply, Message};
use adapter_api::{AdapterError, BoxError, Outcome};
use bytes::Bytes;
use http::{HeaderMap, Method, Request, Uri};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::RootCertStore;

use crate::redact::Redaction;
use crate::tls::{self, CaFileError, Trust};

/// The largest reply body [`Transport::new`] reads, in bytes (64 KiB).
/// Provider replies are a few hundred bytes; anything larger is not a reply
/// of any dialect.
pub const MAX_REPLY_BYTES: usize = 64 * 1024;

/// How long an idle pooled connection is kept. Shorter than common server
/// keep-alive timeouts (5 s in Node.js, 30 s in hyper), so a connection is
/// seldom reused just as the provider closes it: a request written into a
/// closing connection fails after sending, which is an `Unknown`.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(4);

/// A complete reply: the HTTP status, the headers and the whole body.
#[derive(Debug)]
pub struct RawReply {
    /// The HTTP status code.
    pub status: u16,
    /// The reply headers, untrusted and unchecked.
    pub headers: HeaderMap,
    /// The whole body, exactly as received.
    pub body: Bytes,
}

/// Why an exchange produced no complete reply.
#[derive(Debug)]
pub enum TransportError {
    /// The request could not be built; nothing was sent. The transport
    /// itself never returns this: it is for a caller whose headers cannot be
    /// made (a signature that is no header value), so one mapping covers
    /// every failure of an exchange.
    Build(BoxError),
    /// No connection could be made (refused, DNS, the TCP or TLS
    /// handshake); nothing was sent.
    Connect(BoxError),
    /// The request may have been written, but no full reply came back.
    AfterSend(BoxError),
    /// The reply body is longer than `limit` bytes. The request was sent.
    TooLarge {
        /// The transport's reply limit, in bytes.
        limit: usize,
    },
}

impl TransportError {
    /// Whether the request certainly never reached the provider
    /// ([`TransportError::Build`], [`TransportError::Connect`]). Otherwise it
    /// may have been applied.
    pub fn nothing_sent(&self) -> bool {
        matches!(self, TransportError::Build(_) | TransportError::Connect(_))
    }

    /// The error of a query (balance, status), which moves no money:
    /// `Build` is [`AdapterError::Unrepresentable`], `Connect`
    /// [`AdapterError::Connect`], `AfterSend` [`AdapterError::Transport`],
    /// and `TooLarge` [`AdapterError::Malformed`] of the dialect's own
    /// error, which `too_large` makes from the limit.
    pub fn into_adapter_error(self, too_large: impl FnOnce(usize) -> BoxError) -> AdapterError {
        match self {
            TransportError::Build(e) => AdapterError::Unrepresentable(e),
            TransportError::Connect(e) => AdapterError::Connect(e),
            TransportError::AfterSend(e) => AdapterError::Transport(e),
            TransportError::TooLarge { limit } => AdapterError::Malformed(too_large(limit)),
        }
    }

    /// The outcome of a money call: [`Outcome::NotProcessed`] when
    /// [nothing was sent](TransportError::nothing_sent), [`Outcome::Unknown`]
    /// otherwise, of the error [`TransportError::into_adapter_error`] gives.
    pub fn into_outcome(self, too_large: impl FnOnce(usize) -> BoxError) -> Outcome {
        let nothing_sent = self.nothing_sent();
        let error = self.into_adapter_error(too_large);
        if nothing_sent {
            Outcome::NotProcessed(error)
        } else {
            Outcome::Unknown(error)
        }
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::Build(_) => f.write_str("the request could not be built"),
            TransportError::Connect(_) => f.write_str("could not connect to the provider"),
            TransportError::AfterSend(_) => {
                f.write_str("the exchange failed after the request may have been sent")
            }
            TransportError::TooLarge { limit } => {
                write!(f, "the reply is longer than {limit} bytes")
            }
        }
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TransportError::Build(e)
            | TransportError::Connect(e)
            | TransportError::AfterSend(e) => Some(e.as_ref()),
            TransportError::TooLarge { .. } => None,
        }
    }
}

/// A pooled HTTP/1.1 client that posts bodies and reads whole replies, over
/// TLS for `https` URIs.
///
/// Cheap to clone: clones share the connection pool. Requests need a Tokio
/// runtime.
#[derive(Clone, Debug)]
pub struct Transport {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    reply_limit: usize,
    redaction: Arc<Redaction>,
}

impl Default for Transport {
    fn default() -> Self {
        Self::new()
    }
}

impl Transport {
    /// A client with its own connection pool (idle connections kept for
    /// [`POOL_IDLE_TIMEOUT`], `TCP_NODELAY` on) that reads replies of up to
    /// [`MAX_REPLY_BYTES`] and trusts the `webpki-roots` CAs for `https`.
    pub fn new() -> Self {
        Self::with_reply_limit(MAX_REPLY_BYTES)
    }

    /// As [`Transport::new`], reading replies of up to `limit` bytes.
    pub fn with_reply_limit(limit: usize) -> Self {
        Self::with_roots(tls::webpki_roots(), limit)
    }

    /// As [`Transport::new`], trusting `trust` for `https`: an operator's
    /// `ca_file` setting is `Trust::from_ca_file(config.ca_file.as_deref())`.
    ///
    /// # Errors
    ///
    /// A [`CaFileError`] when the CA file cannot be read or holds no valid
    /// CA certificate.
    pub fn with_trust(trust: Trust<'_>) -> Result<Self, CaFileError> {
        Self::with_trust_and_reply_limit(trust, MAX_REPLY_BYTES)
    }

    /// As [`Transport::with_trust`], reading replies of up to `limit` bytes.
    ///
    /// # Errors
    ///
    /// As [`Transport::with_trust`].
    pub fn with_trust_and_reply_limit(trust: Trust<'_>, limit: usize) -> Result<Self, CaFileError> {
        Ok(Self::with_roots(tls::roots(trust)?, limit))
    }

    fn with_roots(roots: RootCertStore, limit: usize) -> Self {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        // The TLS layer takes `https` URIs; plain `http` passes through.
        http.enforce_http(false);
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(tls::client_config(roots))
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build(connector);
        Self {
            client,
            reply_limit: limit,
            redaction: Arc::new(Redaction::new()),
        }
    }

    /// The same transport, redacting recorded exchanges with `redaction`
    /// (by default only the headers every dialect hides).
    pub fn with_redaction(mut self, redaction: Redaction) -> Self {
        self.redaction = Arc::new(redaction);
        self
    }

    /// What recorded exchanges hide.
    pub fn redaction(&self) -> &Redaction {
        &self.redaction
    }

    /// The largest reply body read, in bytes.
    pub fn reply_limit(&self) -> usize {
        self.reply_limit
    }

    /// POSTs `body` to `uri` with exactly `headers` (the content type
    /// included; `Host` and `Content-Length` are added) and reads the whole
    /// reply.
    ///
    /// # Errors
    ///
    /// [`TransportError::Connect`] when no connection could be made,
    /// [`TransportError::AfterSend`] when the exchange failed after that,
    /// [`TransportError::TooLarge`] when the body is over the limit.
    ///
    /// While a recorder listens ([`adapter_api::exchange::scope`]), the
    /// exchange is recorded, redacted, when it ends, fails or is dropped.
    pub async fn post(
        &self,
        uri: &Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<RawReply, TransportError> {
        if !exchange::is_recording() {
            return self.send(uri, headers, body).await;
        }
        let mut pending = Pending {
            redaction: self.redaction.clone(),
            url: logged_url(uri),
            headers: headers.clone(),
            body: body.clone(),
            started: Instant::now(),
            done: false,
        };
        let result = self.send(uri, headers, body).await;
        pending.finish(&result);
        result
    }

    async fn send(
        &self,
        uri: &Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<RawReply, TransportError> {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = uri.clone();
        *request.headers_mut() = headers;

        let response = self.client.request(request).await.map_err(|e| {
            // The legacy client reports a connect error only when no
            // connection was ever handed the request (refused, DNS, the TCP
            // or TLS handshake); everything else may have written it.
            if e.is_connect() {
                TransportError::Connect(Box::new(e))
            } else {
                TransportError::AfterSend(Box::new(e))
            }
        })?;
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, self.reply_limit)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<LengthLimitError>() {
                    TransportError::TooLarge {
                        limit: self.reply_limit,
                    }
                } else {
                    TransportError::AfterSend(e)
                }
            })?
            .to_bytes();
        Ok(RawReply {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        })
    }
}

/// `scheme://authority/path` of `uri`: a query could carry credentials.
fn logged_url(uri: &Uri) -> String {
    let mut url = String::new();
    if let Some(scheme) = uri.scheme_str() {
        url.push_str(scheme);
        url.push_str("://");
    }
    if let Some(authority) = uri.authority() {
        url.push_str(authority.as_str());
    }
    url.push_str(uri.path());
    url
}

fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
}

/// An exchange being made while a recorder listens: recorded once, when
/// it ends ([`Pending::finish`]) or, if its future is dropped first, as
/// abandoned.
struct Pending {
    redaction: Arc<Redaction>,
    url: String,
    headers: HeaderMap,
    body: Bytes,
    started: Instant,
    done: bool,
}

impl Pending {
    fn finish(&mut self, result: &Result<RawReply, TransportError>) {
        let reply = match result {
            Ok(reply) => ExchangeReply::Received {
                status: reply.status,
                message: Message {
                    headers: self.redaction.headers(&reply.headers),
                    body: self
                        .redaction
                        .body(content_type(&reply.headers), &reply.body),
                },
            },
            Err(error) => ExchangeReply::Failed {
                error: error_chain(error),
                maybe_sent: !error.nothing_sent(),
            },
        };
        self.record(reply);
    }

    fn record(&mut self, reply: ExchangeReply) {
        self.done = true;
        exchange::record(Exchange {
            method: Method::POST.to_string(),
            url: std::mem::take(&mut self.url),
            request: Message {
                headers: self.redaction.headers(&self.headers),
                body: self.redaction.body(content_type(&self.headers), &self.body),
            },
            reply,
            latency: self.started.elapsed(),
        });
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.done {
            self.record(ExchangeReply::Abandoned);
        }
    }
}

/// An error and its causes, `: `-separated. Transport errors name
/// connections and protocol failures, never header values or bodies.
fn error_chain(error: &TransportError) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests;
