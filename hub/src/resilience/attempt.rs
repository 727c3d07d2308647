//! The innermost service: one call to the adapter, bounded by the
//! provider's per-attempt timeout. A timeout is never a failure: for a money
//! call it is `Unknown`, because the request may have been acted on.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use adapter_api::{Adapter, AdapterError, Outcome, TxStatus};
use tokio::time::Instant;

use super::{BoxError, CallError, Operation, ProviderCall, Reply};

/// Calls an adapter once.
#[derive(Clone)]
pub struct Attempt {
    adapter: Arc<dyn Adapter>,
    timeout: Duration,
    /// Its endpoint's series in the metrics.
    metrics: crate::metrics::AttemptMetrics,
}

impl Attempt {
    /// Calls `adapter`, giving each call at most `timeout`.
    pub fn new(adapter: Arc<dyn Adapter>, timeout: Duration) -> Self {
        Self {
            adapter,
            timeout,
            metrics: crate::metrics::AttemptMetrics::default(),
        }
    }

    /// The same attempt, counted in metrics under `provider` and `endpoint`.
    pub fn labelled(mut self, provider: &str, endpoint: &str) -> Self {
        self.metrics = crate::metrics::AttemptMetrics::new(provider, endpoint);
        self
    }

    /// The adapter.
    pub fn adapter(&self) -> &Arc<dyn Adapter> {
        &self.adapter
    }
}

fn timed_out() -> AdapterError {
    AdapterError::Transport("the provider did not answer within the attempt timeout".into())
}

impl tower::Service<ProviderCall> for Attempt {
    type Response = Reply;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Reply, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, call: ProviderCall) -> Self::Future {
        let adapter = self.adapter.clone();
        let timeout = self.timeout;
        let metrics = self.metrics.clone();
        Box::pin(async move {
            // Nothing is sent once the partner's deadline has passed: then
            // nothing can have moved and the caller may say so.
            if Instant::now() >= call.answer_by {
                return Err(CallError::NoTimeLeft.into());
            }
            let started = Instant::now();
            let reply = match &call.op {
                Operation::Transfer(r) => Reply::Moved(
                    tokio::time::timeout(timeout, adapter.transfer(r))
                        .await
                        .unwrap_or_else(|_| Outcome::Unknown(timed_out())),
                ),
                Operation::Rollback(r) => Reply::Moved(
                    tokio::time::timeout(timeout, adapter.rollback(r))
                        .await
                        .unwrap_or_else(|_| Outcome::Unknown(timed_out())),
                ),
                Operation::Balance(r) => Reply::Balance(
                    tokio::time::timeout(timeout, adapter.balance(r))
                        .await
                        .unwrap_or_else(|_| Err(timed_out())),
                ),
                Operation::Status(r) => Reply::Status(
                    tokio::time::timeout(timeout, adapter.status(r))
                        .await
                        .unwrap_or_else(|_| TxStatus::Unknown(timed_out())),
                ),
            };
            observe(&metrics, &call.op, &reply, started.elapsed());
            Ok(reply)
        })
    }
}

/// Counts one attempt by outcome class and records its latency.
fn observe(
    metrics: &crate::metrics::AttemptMetrics,
    op: &Operation,
    reply: &Reply,
    elapsed: Duration,
) {
    let operation = match op {
        Operation::Transfer(_) => "transfer",
        Operation::Rollback(_) => "rollback",
        Operation::Balance(_) => "balance",
        Operation::Status(_) => "status",
    };
    let outcome = match reply {
        Reply::Moved(Outcome::Settled(_)) => "settled",
        Reply::Moved(Outcome::Declined(_)) => "declined",
        Reply::Moved(Outcome::NotProcessed(_)) => "not_processed",
        Reply::Moved(Outcome::Unknown(_)) => "unknown",
        Reply::Balance(Ok(_)) => "answered",
        Reply::Status(TxStatus::Unknown(_)) | Reply::Balance(Err(_)) => "failed",
        Reply::Status(_) => "answered",
    };
    metrics.observe(operation, outcome, elapsed);
}
