//! Failover between a provider's primary endpoint and its backup (same
//! provider, same ledger). The backup takes a call when the primary is
//! unhealthy or its breaker open, or when the primary provably did nothing
//! with the call (NotProcessed, or refused by its breaker); never after an
//! Unknown, which may have moved money. The same provider-side id travels
//! to either endpoint, so the provider's own duplicate rules still hold.
//!
//! Traffic returns by itself: once the primary's open period is over its
//! breaker reports half-open, so the next call goes to the primary as the
//! one probe (calls arriving while the probe is out are refused by that
//! breaker, so they go to the backup); the probe's success closes it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tower::ServiceExt;

use super::{BoxError, BreakerState, CallError, Endpoint, ProviderCall, Reply, Verdict};

/// Routes a call to the primary or the backup endpoint.
#[derive(Clone)]
pub struct Failover<S = super::Attempt> {
    primary: Endpoint<S>,
    backup: Option<Endpoint<S>>,
}

impl<S> Failover<S> {
    /// Failover from `primary` to `backup` (if any).
    pub fn new(primary: Endpoint<S>, backup: Option<Endpoint<S>>) -> Self {
        Self { primary, backup }
    }
}

/// Healthy, and its breaker not open (half-open counts: the call may be
/// the probe that brings the endpoint back).
fn usable<S>(e: &Endpoint<S>) -> bool {
    e.health.is_healthy() && e.breaker.state() != BreakerState::Open
}

fn nothing_happened(r: &Result<Reply, BoxError>) -> bool {
    match r {
        Ok(reply) => reply.verdict() == Verdict::NothingHappened,
        Err(e) => matches!(
            e.downcast_ref::<CallError>(),
            Some(CallError::CircuitOpen { .. })
        ),
    }
}

impl<S> tower::Service<ProviderCall> for Failover<S>
where
    S: tower::Service<ProviderCall, Response = Reply, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Reply;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Reply, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, call: ProviderCall) -> Self::Future {
        let primary = self.primary.clone();
        let backup = self.backup.clone();
        Box::pin(async move {
            let backup = backup.filter(usable);
            if let Some(b) = &backup {
                if !usable(&primary) {
                    tracing::debug!("primary unusable: calling the backup endpoint");
                    return b.breaker.clone().oneshot(call).await;
                }
            }
            let first = primary.breaker.clone().oneshot(call.clone()).await;
            match backup {
                Some(b) if nothing_happened(&first) => {
                    tracing::info!("primary did nothing with the call: failing over to the backup");
                    b.breaker.oneshot(call).await
                }
                _ => first,
            }
        })
    }
}
