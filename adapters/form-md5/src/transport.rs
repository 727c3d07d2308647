//! The HTTP exchange with a form-md5 provider: one form-encoded `POST` over
//! HTTP/1.1 with hyper-util's pooled legacy client, and the whole reply body
//! read back (up to [`MAX_REPLY_BYTES`]).
//!
//! This is the json-hmac adapter's transport with the dialect's headers
//! swapped: the hash travels in the body, so the only header is the content
//! type.
//!
//! This module knows nothing about the dialect's meaning; it only reports
//! whether the request can have reached the provider:
//! - [`TransportError::Connect`]: the connection could not be established,
//!   so not a byte of the request was written;
//! - [`TransportError::AfterSend`]: anything that fails once a connection
//!   was handed the request (reset, close before a full reply, body read
//!   error): the provider may have applied it.
//!
//! There is no timeout here: the hub applies deadlines by dropping the
//! future, which cancels the exchange.

use std::time::Duration;

use adapter_api::BoxError;
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// The largest reply body read, in bytes. form-md5 replies are well under
/// a hundred bytes; anything larger is not a reply of this dialect.
pub(crate) const MAX_REPLY_BYTES: usize = 64 * 1024;

/// How long an idle pooled connection is kept. Shorter than common server
/// keep-alive timeouts (5 s in Node.js, 30 s in hyper), so a connection is
/// seldom reused just as the provider closes it: a request written into a
/// closing connection fails after sending, which is an `Unknown`.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(4);

const FORM_URLENCODED: HeaderValue = HeaderValue::from_static("application/x-www-form-urlencoded");

/// A complete reply: the HTTP status and the whole body.
#[derive(Debug)]
pub(crate) struct RawReply {
    pub(crate) status: u16,
    pub(crate) body: Bytes,
}

/// Why an exchange produced no complete reply.
#[derive(Debug)]
pub(crate) enum TransportError {
    /// The request could not be built; nothing was sent.
    Build(BoxError),
    /// No connection could be made; nothing was sent.
    Connect(BoxError),
    /// The request may have been written, but no full reply came back.
    AfterSend(BoxError),
    /// The reply body is longer than [`MAX_REPLY_BYTES`].
    TooLarge,
}

/// A pooled HTTP/1.1 client that posts form-encoded bodies.
#[derive(Clone, Debug)]
pub(crate) struct Transport {
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Transport {
    /// A client with its own connection pool.
    pub(crate) fn new() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build(connector);
        Self { client }
    }

    /// POSTs the form `body` to `uri` and reads the whole reply.
    pub(crate) async fn post(&self, uri: &Uri, body: Bytes) -> Result<RawReply, TransportError> {
        let request = Request::builder()
            .method(Method::POST)
            .uri(uri.clone())
            .header(CONTENT_TYPE, FORM_URLENCODED)
            .body(Full::new(body))
            .map_err(|e| TransportError::Build(Box::new(e)))?;

        let response = self.client.request(request).await.map_err(|e| {
            // The legacy client reports a connect error only when no
            // connection was ever handed the request (refused, DNS, the
            // handshake); everything else may have written it.
            if e.is_connect() {
                TransportError::Connect(Box::new(e))
            } else {
                TransportError::AfterSend(Box::new(e))
            }
        })?;
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), MAX_REPLY_BYTES)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<LengthLimitError>() {
                    TransportError::TooLarge
                } else {
                    TransportError::AfterSend(e)
                }
            })?
            .to_bytes();
        Ok(RawReply { status, body })
    }
}
