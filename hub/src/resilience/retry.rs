//! Retries of calls that provably moved nothing, and of read-only queries:
//! full-jitter exponential backoff that must fit before the partner's
//! deadline, the same provider-side id on every attempt (the request is
//! cloned unchanged), and a retry budget so that retries add at most a
//! configured fraction of recent calls and cannot multiply an outage.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;
use tower::retry::budget::{Budget, TpsBudget};

use super::{BoxError, CallError, Jitter, ProviderCall, Reply, Verdict};
use crate::config::RetryConfig;

/// Counters of retry decisions, shared by every call of a provider, and
/// mirrored into the hub's metrics under the provider's name.
#[derive(Default, Debug)]
pub struct RetryStats {
    /// Retries made.
    pub retries: AtomicU64,
    /// Retries refused because the budget was spent.
    pub budget_exhausted: AtomicU64,
    /// The provider, for metrics.
    provider: String,
}

impl RetryStats {
    fn labels(&self) -> crate::metrics::ProviderLabels {
        crate::metrics::ProviderLabels {
            provider: self.provider.clone(),
        }
    }

    fn retried(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
        crate::metrics::get()
            .retries
            .get_or_create(&self.labels())
            .inc();
    }

    fn refused_by_budget(&self) {
        self.budget_exhausted.fetch_add(1, Ordering::Relaxed);
        crate::metrics::get()
            .retry_budget_exhausted
            .get_or_create(&self.labels())
            .inc();
    }
}

/// The retry policy of one provider (cloned per call).
#[derive(Clone)]
pub struct RetryPolicy {
    config: RetryConfig,
    budget: Arc<TpsBudget>,
    jitter: Arc<dyn Jitter>,
    stats: Arc<RetryStats>,
    /// Attempts made by this call so far.
    attempts: u32,
}

impl RetryPolicy {
    /// A policy with a budget shared by every call of the provider.
    pub fn new(config: RetryConfig, budget: Arc<TpsBudget>, jitter: Arc<dyn Jitter>) -> Self {
        Self {
            config,
            budget,
            jitter,
            stats: Arc::new(RetryStats::default()),
            attempts: 0,
        }
    }

    /// The same policy, counting its decisions under `provider` in metrics.
    pub fn labelled(mut self, provider: &str) -> Self {
        self.stats = Arc::new(RetryStats {
            provider: provider.to_owned(),
            ..RetryStats::default()
        });
        self
    }

    /// The shared counters.
    pub fn stats(&self) -> Arc<RetryStats> {
        self.stats.clone()
    }

    /// Full jitter: uniformly random in `[0, min(max, base * 2^n))`.
    fn backoff(&self, retry: u32) -> Duration {
        let ceiling = self
            .config
            .backoff_base
            .checked_mul(1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX))
            .unwrap_or(self.config.backoff_max)
            .min(self.config.backoff_max);
        ceiling.mul_f64(self.jitter.fraction().clamp(0.0, 1.0))
    }
}

fn retryable(call: &ProviderCall, result: &Result<Reply, BoxError>) -> bool {
    match result {
        Ok(reply) => match reply.verdict() {
            Verdict::Answered => false,
            Verdict::NothingHappened => true,
            // A money call that may have moved must never be sent again
            // blindly: it is resolved by status query or compensation.
            Verdict::Unclear => call.op.is_read_only(),
        },
        // An open breaker will still be open after a short backoff.
        Err(e) => {
            !matches!(
                e.downcast_ref::<CallError>(),
                Some(CallError::CircuitOpen { .. } | CallError::NoTimeLeft)
            ) && call.op.is_read_only()
        }
    }
}

impl tower::retry::Policy<ProviderCall, Reply, BoxError> for RetryPolicy {
    type Future = Pin<Box<dyn Future<Output = ()> + Send>>;

    fn retry(
        &mut self,
        call: &mut ProviderCall,
        result: &mut Result<Reply, BoxError>,
    ) -> Option<Self::Future> {
        if self.attempts == 0 {
            // Every call earns budget for retries, once.
            self.budget.deposit();
        }
        self.attempts += 1;
        if !retryable(call, result) || self.attempts >= self.config.max_attempts {
            return None;
        }
        let wait = self.backoff(self.attempts - 1);
        // The retry must start (and have a moment to run) before the deadline.
        if Instant::now() + wait >= call.answer_by {
            return None;
        }
        if !self.budget.withdraw() {
            self.stats.refused_by_budget();
            tracing::warn!("retry budget exhausted: not retrying");
            return None;
        }
        self.stats.retried();
        Some(Box::pin(tokio::time::sleep(wait)))
    }

    fn clone_request(&mut self, call: &ProviderCall) -> Option<ProviderCall> {
        Some(call.clone())
    }
}
