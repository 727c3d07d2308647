//! The innermost service: one call to the adapter, bounded by the
//! provider's per-attempt timeout. A timeout is never a failure: for a money
//! call it is `Unknown`, because the request may have been acted on.
//!
//! No attempt starts once the partner's deadline (`answer_by`) has passed.
//! A read (balance, status) is also cut at that deadline: the partner waits
//! for it directly, and it moved nothing, so the caller may answer
//! DEADLINE_EXCEEDED ([`CallError::NoTimeLeft`]). A money attempt runs to
//! its own timeout instead: its partner gets the PENDING transaction at the
//! deadline from the detached money path, and cutting the attempt there
//! would only turn the provider's definite answer into an `Unknown` (then a
//! status query, or for a provider without one a compensation).

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
            let started = Instant::now();
            // Nothing is sent once the partner's deadline has passed: then
            // nothing can have moved and the caller may say so.
            if started >= call.answer_by {
                return Err(CallError::NoTimeLeft.into());
            }
            let attempt_end = started + timeout;
            let read_end = attempt_end.min(call.answer_by);
            // Whether a read that times out was cut by the partner's
            // deadline rather than by the provider's timeout.
            let deadline_first = call.answer_by < attempt_end;
            let mut cut = false;
            let reply = match &call.op {
                Operation::Transfer(r) => Reply::Moved(
                    tokio::time::timeout_at(attempt_end, adapter.transfer(r))
                        .await
                        .unwrap_or_else(|_| Outcome::Unknown(timed_out())),
                ),
                Operation::Rollback(r) => Reply::Moved(
                    tokio::time::timeout_at(attempt_end, adapter.rollback(r))
                        .await
                        .unwrap_or_else(|_| Outcome::Unknown(timed_out())),
                ),
                Operation::Balance(r) => Reply::Balance(
                    tokio::time::timeout_at(read_end, adapter.balance(r))
                        .await
                        .unwrap_or_else(|_| {
                            cut = deadline_first;
                            Err(timed_out())
                        }),
                ),
                Operation::Status(r) => Reply::Status(
                    tokio::time::timeout_at(read_end, adapter.status(r))
                        .await
                        .unwrap_or_else(|_| {
                            cut = deadline_first;
                            TxStatus::Unknown(timed_out())
                        }),
                ),
            };
            observe(&metrics, &call.op, &reply, started.elapsed());
            if cut {
                // A read moved nothing, and its partner is answered now.
                return Err(CallError::NoTimeLeft.into());
            }
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

#[cfg(test)]
mod tests {
    use adapter_api::{
        AccountId, BalanceRequest, Capabilities, Currency, Descriptor, Direction, DuplicateHabit,
        Money, MoneyRequest, ProviderTxId, RollbackRequest, Settlement, StatusRequest,
        UnknownRollbackHabit,
    };
    use tower::ServiceExt;

    use super::*;
    use crate::resilience::Verdict;

    /// A provider that answers everything after `delay`.
    struct Slow {
        delay: Duration,
    }

    #[async_trait::async_trait]
    impl Adapter for Slow {
        fn descriptor(&self) -> Descriptor {
            Descriptor {
                dialect: "slow",
                capabilities: Capabilities {
                    balance: true,
                    status: true,
                },
                duplicates: DuplicateHabit::ReplaysOriginal,
                rollback_of_unknown: UnknownRollbackHabit::AcknowledgesWithTombstone,
                default_timeout: Duration::from_secs(1),
            }
        }

        async fn transfer(&self, _: &MoneyRequest) -> Outcome {
            tokio::time::sleep(self.delay).await;
            Outcome::Settled(Settlement::default())
        }

        async fn rollback(&self, _: &RollbackRequest) -> Outcome {
            tokio::time::sleep(self.delay).await;
            Outcome::Settled(Settlement::default())
        }

        async fn balance(&self, req: &BalanceRequest) -> Result<Money, AdapterError> {
            tokio::time::sleep(self.delay).await;
            Ok(Money::new(req.currency, 1))
        }

        async fn status(&self, _: &StatusRequest) -> TxStatus {
            tokio::time::sleep(self.delay).await;
            TxStatus::NotFound
        }
    }

    fn eur() -> Currency {
        Currency::from_code("EUR").unwrap()
    }

    fn balance() -> Operation {
        Operation::Balance(BalanceRequest {
            account: AccountId::new("acc-1"),
            currency: eur(),
        })
    }

    fn status() -> Operation {
        Operation::Status(StatusRequest {
            tx_id: ProviderTxId::new("tx-1"),
            kind: adapter_api::TxKind::Debit,
            account: AccountId::new("acc-1"),
            amount: None,
        })
    }

    fn debit() -> Operation {
        Operation::Transfer(MoneyRequest {
            direction: Direction::Debit,
            tx_id: ProviderTxId::new("tx-1"),
            account: AccountId::new("acc-1"),
            amount: Money::new(eur(), 100),
            reference: None,
        })
    }

    /// Runs `op` on a provider answering in 2 s, with a 3 s attempt timeout
    /// and `answer_in` left before the partner's deadline: the result and
    /// when it came.
    async fn attempt(op: Operation, answer_in: Duration) -> (Result<Reply, BoxError>, Duration) {
        let slow = Arc::new(Slow {
            delay: Duration::from_secs(2),
        });
        let started = Instant::now();
        let result = Attempt::new(slow, Duration::from_secs(3))
            .oneshot(ProviderCall {
                op,
                answer_by: started + answer_in,
            })
            .await;
        (result, started.elapsed())
    }

    fn no_time_left(result: &Result<Reply, BoxError>) -> bool {
        matches!(
            result
                .as_ref()
                .err()
                .and_then(|e| e.downcast_ref::<CallError>()),
            Some(CallError::NoTimeLeft)
        )
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_is_cut_at_the_partners_deadline_as_no_time_left() {
        let half = Duration::from_millis(500);
        for op in [balance(), status()] {
            let (result, took) = attempt(op, half).await;
            assert!(no_time_left(&result), "{result:?}");
            assert_eq!(took, half);
        }
        // With time enough, the provider's answer.
        let (result, took) = attempt(balance(), Duration::from_secs(5)).await;
        assert!(matches!(result, Ok(Reply::Balance(Ok(_)))), "{result:?}");
        assert_eq!(took, Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_money_attempt_runs_past_the_deadline_to_the_providers_answer() {
        let (result, took) = attempt(debit(), Duration::from_millis(500)).await;
        assert!(
            matches!(result, Ok(Reply::Moved(Outcome::Settled(_)))),
            "{result:?}"
        );
        assert_eq!(took, Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn the_attempt_timeout_is_an_unknown_not_a_refusal() {
        let slow = Arc::new(Slow {
            delay: Duration::from_secs(10),
        });
        let attempt = Attempt::new(slow, Duration::from_secs(3));
        let answer_by = Instant::now() + Duration::from_secs(30);
        for op in [debit(), balance()] {
            let reply = attempt
                .clone()
                .oneshot(ProviderCall { op, answer_by })
                .await
                .unwrap();
            assert_eq!(reply.verdict(), Verdict::Unclear, "{reply:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_is_sent_after_the_deadline() {
        let (result, took) = attempt(debit(), Duration::ZERO).await;
        assert!(no_time_left(&result), "{result:?}");
        assert_eq!(took, Duration::ZERO);
    }
}
