//! The provider exchange log, seen from an adapter: what one request to a
//! provider and its reply look like once secrets are gone ([`Exchange`]), and
//! how a transport hands it to whoever listens ([`record`]) without the
//! [`Adapter`](crate::Adapter) trait knowing about it.
//!
//! The listener is a [`Recorder`] set for the duration of one future with
//! [`scope`] (a Tokio task-local): the hub sets one around each call it sends
//! through an adapter, naming the transaction, operation and attempt; the
//! adapter's transport calls [`record`] once per exchange. Outside a scope
//! (health probes, tests, tools) [`record`] does nothing and
//! [`is_recording`] is false, so a transport skips the redaction work.
//!
//! Whoever builds an [`Exchange`] has already redacted it: secrets,
//! signatures and credentials are replaced (by [`REDACTED`]) before the
//! value exists, so no recorder can leak them.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// What a redacted value is replaced with.
pub const REDACTED: &str = "[redacted]";

/// One request to a provider and what came of it, redacted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exchange {
    /// The HTTP method (or the plugin protocol's operation name).
    pub method: String,
    /// Where the request went: `scheme://host:port/path`, without any query.
    pub url: String,
    /// The request as sent, redacted.
    pub request: Message,
    /// What came back.
    pub reply: ExchangeReply,
    /// From just before the request was sent to the full reply (or the
    /// failure, or the moment the caller stopped waiting).
    pub latency: Duration,
}

/// Headers and body of a request or reply, redacted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    /// Header names (lower case) and values in wire order; a redacted
    /// value is [`REDACTED`], a value that is not visible ASCII is escaped.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Body,
}

/// A body as logged: text, redacted, possibly escaped and truncated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Body {
    /// The body as text, with redacted values replaced by [`REDACTED`]. A
    /// body that is not UTF-8 is shown with `\xNN` escapes
    /// ([`Body::escaped`]).
    pub text: String,
    /// Length of the body on the wire, in bytes.
    pub len: usize,
    /// Whether `text` shows only the start of the body.
    pub truncated: bool,
    /// Whether the body was not UTF-8 and `text` escapes it.
    pub escaped: bool,
}

/// What came back for a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExchangeReply {
    /// A complete reply.
    Received {
        /// The HTTP status code.
        status: u16,
        /// Headers and body, redacted.
        message: Message,
    },
    /// No complete reply: the transport failed.
    Failed {
        /// What failed, with its causes (never a body or a header value).
        error: String,
        /// Whether the request may have reached the provider.
        maybe_sent: bool,
    },
    /// The caller stopped waiting (the hub's attempt timeout or the
    /// partner's deadline) before a complete reply: the request may have
    /// reached the provider.
    Abandoned,
}

impl ExchangeReply {
    /// The HTTP status of a complete reply.
    pub fn status(&self) -> Option<u16> {
        match self {
            ExchangeReply::Received { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Takes exchanges as a transport completes them. Called on the task that
/// runs the exchange: implementations must not block (hand the exchange to
/// a queue).
pub trait Recorder: Send + Sync + 'static {
    /// Takes one exchange.
    fn record(&self, exchange: Exchange);
}

impl fmt::Debug for dyn Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Recorder")
    }
}

tokio::task_local! {
    static RECORDER: Arc<dyn Recorder>;
}

/// Runs `future` with `recorder` taking every exchange [`record`]ed while it
/// is polled, and while it is dropped (so a transport whose exchange is
/// abandoned can still say so).
pub fn scope<F: Future>(recorder: Arc<dyn Recorder>, future: F) -> impl Future<Output = F::Output> {
    RECORDER.scope(recorder, future)
}

/// Whether a [`Recorder`] is listening on this task.
pub fn is_recording() -> bool {
    RECORDER.try_with(|_| ()).is_ok()
}

/// Hands `exchange` to the [`Recorder`] of the current [`scope`]; does
/// nothing outside one.
pub fn record(exchange: Exchange) {
    let _ = RECORDER.try_with(|r| r.record(exchange));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Keep(Mutex<Vec<Exchange>>);

    impl Recorder for Keep {
        fn record(&self, exchange: Exchange) {
            self.0.lock().unwrap().push(exchange);
        }
    }

    fn exchange(url: &str) -> Exchange {
        Exchange {
            method: "POST".into(),
            url: url.into(),
            request: Message::default(),
            reply: ExchangeReply::Abandoned,
            latency: Duration::from_millis(3),
        }
    }

    /// Records an exchange when dropped, as a transport does when its
    /// caller stops waiting.
    struct OnDrop;

    impl Drop for OnDrop {
        fn drop(&mut self) {
            record(exchange("http://p/dropped"));
        }
    }

    #[tokio::test]
    async fn exchanges_reach_the_recorder_of_their_scope_only() {
        assert!(!is_recording());
        record(exchange("http://p/outside"));
        let keep = Arc::new(Keep::default());
        scope(keep.clone(), async {
            assert!(is_recording());
            record(exchange("http://p/a"));
            tokio::task::yield_now().await;
            record(exchange("http://p/b"));
        })
        .await;
        record(exchange("http://p/after"));
        let urls: Vec<_> = keep
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.url.clone())
            .collect();
        assert_eq!(urls, ["http://p/a", "http://p/b"]);
    }

    #[tokio::test]
    async fn an_abandoned_future_still_records_when_dropped() {
        let keep = Arc::new(Keep::default());
        let slow = async {
            let _guard = OnDrop;
            std::future::pending::<()>().await;
        };
        let timed = tokio::time::timeout(Duration::from_millis(5), scope(keep.clone(), slow));
        assert!(timed.await.is_err());
        let urls: Vec<_> = keep
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.url.clone())
            .collect();
        assert_eq!(urls, ["http://p/dropped"]);
    }

    #[test]
    fn only_a_complete_reply_has_a_status() {
        let received = ExchangeReply::Received {
            status: 402,
            message: Message::default(),
        };
        assert_eq!(received.status(), Some(402));
        assert_eq!(ExchangeReply::Abandoned.status(), None);
    }
}
