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

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;

    use adapter_api::{
        AccountId, AdapterError, Currency, Direction, Money, MoneyRequest, Outcome, ProviderTxId,
        Settlement,
    };
    use tower::ServiceExt;

    use super::super::{FixedJitter, Operation};
    use super::*;

    /// Just below 1: the top of full jitter's `[0, 1)`.
    const TOP: f64 = 1.0 - 1e-6;

    fn policy(jitter: f64) -> RetryPolicy {
        let config = RetryConfig {
            max_attempts: 4,
            backoff_base: Duration::from_millis(10),
            backoff_max: Duration::from_millis(35),
            budget_ratio: 1.0,
            budget_min_per_second: 100,
            budget_window: Duration::from_secs(1),
        };
        let budget = Arc::new(TpsBudget::new(
            config.budget_window,
            config.budget_min_per_second,
            config.budget_ratio,
        ));
        RetryPolicy::new(config, budget, Arc::new(FixedJitter(jitter)))
    }

    fn close(a: Duration, b: Duration) -> bool {
        a.abs_diff(b) < Duration::from_micros(1)
    }

    #[test]
    fn full_jitter_spans_zero_to_the_capped_exponential() {
        let low = policy(0.0);
        let high = policy(TOP);
        let ms = Duration::from_millis;
        // base * 2^n: 10, 20, 40 -> capped at 35, and capped for good.
        for (retry, ceiling) in [
            (0, ms(10)),
            (1, ms(20)),
            (2, ms(35)),
            (3, ms(35)),
            (40, ms(35)),
        ] {
            assert_eq!(low.backoff(retry), Duration::ZERO, "retry {retry}");
            let wait = high.backoff(retry);
            assert!(
                wait < ceiling && close(wait, ceiling),
                "retry {retry}: {wait:?}"
            );
        }
        // A jitter source out of its range cannot push past the cap.
        assert_eq!(policy(7.0).backoff(3), ms(35));
        assert_eq!(policy(-1.0).backoff(3), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn the_waits_between_attempts_are_the_drawn_backoffs() {
        let elapsed = |jitter| async move {
            let calls = Arc::new(AtomicU32::new(0));
            let provider = {
                let calls = calls.clone();
                tower::service_fn(move |_: ProviderCall| {
                    // Three refusals before processing, then settled.
                    let n = calls.fetch_add(1, Ordering::SeqCst);
                    async move {
                        Ok::<_, BoxError>(Reply::Moved(if n < 3 {
                            Outcome::NotProcessed(AdapterError::Connect("refused".into()))
                        } else {
                            Outcome::Settled(Settlement::default())
                        }))
                    }
                })
            };
            let svc = tower::ServiceBuilder::new()
                .retry(policy(jitter))
                .service(provider);
            let call = ProviderCall {
                op: Operation::Transfer(MoneyRequest {
                    direction: Direction::Debit,
                    tx_id: ProviderTxId::new("tx-1"),
                    account: AccountId::new("acc-1"),
                    amount: Money::new(Currency::from_code("EUR").unwrap(), 100),
                    reference: None,
                }),
                answer_by: Instant::now() + Duration::from_secs(5),
            };
            let started = Instant::now();
            let reply = svc.oneshot(call).await.unwrap();
            assert!(matches!(reply, Reply::Moved(Outcome::Settled(_))));
            assert_eq!(calls.load(Ordering::SeqCst), 4);
            started.elapsed()
        };
        assert_eq!(elapsed(0.0).await, Duration::ZERO);
        // 10 + 20 + 35 ms, each just under its ceiling.
        let top = elapsed(TOP).await;
        assert!(
            top <= Duration::from_millis(65) && top >= Duration::from_millis(64),
            "{top:?}"
        );
    }
}
