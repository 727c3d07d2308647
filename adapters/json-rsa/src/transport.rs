//! The HTTP exchange with a json-rsa provider: one signed `POST` over
//! HTTP/1.1 with hyper-util's pooled legacy client, and the whole reply
//! (status, `X-Signature`, body up to [`MAX_REPLY_BYTES`]) read back.
//!
//! This module knows nothing about the dialect's meaning and trusts nothing
//! it reads; it only reports whether the request can have reached the
//! provider:
//! - [`TransportError::Connect`]: the connection could not be established,
//!   so not a byte of the request was written;
//! - [`TransportError::AfterSend`]: anything that fails once a connection
//!   was handed the request (reset, close before a full reply, body read
//!   error): the provider may have applied it.
//!
//! There is no timeout here: the hub applies deadlines by dropping the
//! future, which cancels the exchange.
//!
//! (The same as json-hmac's transport but for the headers; see the crate
//! report on sharing it.)

use std::time::Duration;

use adapter_api::BoxError;
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// The largest reply body read, in bytes. json-rsa replies are a few
/// hundred bytes; anything larger is not a reply of this dialect.
pub(crate) const MAX_REPLY_BYTES: usize = 64 * 1024;

/// How long an idle pooled connection is kept. Shorter than common server
/// keep-alive timeouts (5 s in Node.js, 30 s in hyper), so a connection is
/// seldom reused just as the provider closes it: a request written into a
/// closing connection fails after sending, which is an `Unknown`.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(4);

const X_SIGNATURE: HeaderName = HeaderName::from_static("x-signature");
const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

/// A complete reply: the HTTP status, the signature header and the whole
/// body.
#[derive(Debug)]
pub(crate) struct RawReply {
    pub(crate) status: u16,
    /// `X-Signature`, when present exactly once.
    pub(crate) signature: Option<HeaderValue>,
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

/// A pooled HTTP/1.1 client that posts signed JSON bodies.
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

    /// POSTs `body` to `uri` with its `X-Signature` and reads the whole
    /// reply.
    pub(crate) async fn post(
        &self,
        uri: &Uri,
        body: Bytes,
        signature: &str,
    ) -> Result<RawReply, TransportError> {
        let signature =
            HeaderValue::from_str(signature).map_err(|e| TransportError::Build(Box::new(e)))?;
        let request = Request::builder()
            .method(Method::POST)
            .uri(uri.clone())
            .header(CONTENT_TYPE, APPLICATION_JSON)
            .header(X_SIGNATURE, signature)
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
        let mut signatures = response.headers().get_all(X_SIGNATURE).iter();
        // Two signature headers are ambiguous: treated as none.
        let signature = match (signatures.next(), signatures.next()) {
            (Some(only), None) => Some(only.clone()),
            _ => None,
        };
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
        Ok(RawReply {
            status,
            signature,
            body,
        })
    }
}
