//! The HTTP plumbing every provider adapter shares, whatever its dialect:
//!
//! - [`Transport`]: one `POST` over HTTP/1.1 with hyper-util's pooled legacy
//!   client (TLS for `https`: rustls over ring, trusting an operator's CA
//!   file or the `webpki-roots` CAs, [`Trust`]), the whole reply read back up to a size limit, and every failure
//!   sorted into "nothing was sent" or "it may have been sent"
//!   ([`TransportError::nothing_sent`]), which is what decides between
//!   `NotProcessed` and `Unknown` ([`TransportError::into_outcome`]);
//! - [`BaseUrl`]: an operator's `http[s]://host[:port][/prefix]` setting,
//!   validated once, from which each provider endpoint's [`http::Uri`] is
//!   derived ([`BaseUrl::endpoint`]).
//!
//! - [`Redaction`]: what a dialect's recorded exchanges must not show
//!   (signature headers, secret body fields, its shared secret); the
//!   transport records every exchange, redacted, while the hub listens
//!   ([`adapter_api::exchange`]).
//!
//! It knows nothing about any dialect: the headers to send (content type,
//! signatures, operator ids), the reading of reply headers and the endpoint
//! paths stay in each adapter.

mod base_url;
mod redact;
mod tls;
mod transport;

pub use base_url::{BaseUrl, BaseUrlError};
pub use redact::{MAX_DEPTH, MAX_LOGGED_BODY, MIN_SCRUBBED_SECRET, Redaction};
pub use tls::{CaFileError, Trust};
pub use transport::{MAX_REPLY_BYTES, POOL_IDLE_TIMEOUT, RawReply, Transport, TransportError};
