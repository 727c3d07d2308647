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
}

impl Attempt {
    /// Calls `adapter`, giving each call at most `timeout`.
    pub fn new(adapter: Arc<dyn Adapter>, timeout: Duration) -> Self {
        Self { adapter, timeout }
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
        Box::pin(async move {
            // Nothing is sent once the partner's deadline has passed: then
            // nothing can have moved and the caller may say so.
            if Instant::now() >= call.answer_by {
                return Err(CallError::NoTimeLeft.into());
            }
            Ok(match &call.op {
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
            })
        })
    }
}
