//! The resolver: every PENDING transaction ends exactly once, settled or
//! compensated.
//!
//! A transaction whose outcome is unknown is queued in the journal (in the
//! same SQL transaction that made it PENDING). The resolver works the queue
//! with full-jitter backoff:
//!
//! | transaction | provider has status query | without status query |
//! |---|---|---|
//! | debit | status: applied -> SETTLED, reversed -> ROLLED_BACK, declined -> DECLINED, not found -> compensate | compensate |
//! | credit | status: applied -> SETTLED, declined -> DECLINED, not found -> send again (same id) | send again (same id) |
//! | rollback | send again (same id) | send again (same id) |
//!
//! "Compensate" is the hub's own rollback of the debit, under an id derived
//! from the debit's, so repeating it is one rollback at the provider; a
//! provider's "nothing to reverse" counts as done. A credit is never rolled
//! back, only sent again. A provider's "not found" (and a compensation) is
//! acted on only `settle_after` after the hub last sent the transaction, so
//! a request still travelling cannot land after the hub decided it never
//! did.
//!
//! What exhausts `max_attempts` becomes a dead letter (still PENDING to the
//! partner) until an operator replays it. On start, every queued item is
//! tried once before the provider takes new money calls.
//!
//! Time comes from the engine's [`Clock`](crate::engine::Clock) and jitter
//! from its [`Jitter`](crate::resilience::Jitter), so a simulator can drive
//! the resolver deterministically.

use std::collections::HashSet;
use std::time::Duration;

use adapter_api::{
    AccountId, DeclineReason, Direction, MoneyRequest, Outcome, RollbackRequest, StatusRequest,
    TxStatus,
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::domain::{TransactionId, TxKind, TxRecord, TxState};
use crate::engine::{Engine, Provider};
use crate::journal::{JournalError, Recorded, WorkItem};
use crate::resilience::{Operation, ProviderCall, Reply};

/// What one attempt achieved.
#[derive(Debug)]
enum Step {
    /// The transaction is final now.
    Done,
    /// Not yet; why.
    Again(String),
    /// Too early to decide: try again at this time (µs), without spending
    /// an attempt.
    Wait(i64),
}

/// How long the resolver holds a claimed item before another worker may
/// take it.
const LEASE: Duration = Duration::from_secs(60);

impl Engine {
    /// One status query right after an unknown outcome, inside the money
    /// path: only a definite answer is taken. Returns the updated record if
    /// the transaction is final now.
    pub(crate) async fn resolve_inline(&self, tx: &TxRecord) -> Option<TxRecord> {
        let provider = self.provider_of(&tx.provider)?;
        if tx.kind == TxKind::Rollback || !supports_status(&provider) {
            return None;
        }
        let recorded = match self.status(&provider, tx).await.ok()? {
            TxStatus::Applied(s) => Recorded::Settled {
                balance_after: s.balance_after,
                provider_ref: s.provider_ref,
            },
            TxStatus::RolledBack => Recorded::RolledBack,
            TxStatus::Declined(reason) => Recorded::Declined(reason),
            TxStatus::NotFound | TxStatus::Unknown(_) => return None,
        };
        let now = self.clock().now_us();
        let updated = self.journal().record(&tx.id, recorded, now).await.ok()?;
        (!updated.state.is_open()).then_some(updated)
    }

    /// Works the queue until `stop`: first every item once (recovery after a
    /// start; the providers concerned take no new money calls until then),
    /// then whatever falls due.
    pub async fn run_resolver(self, stop: CancellationToken) {
        if let Err(e) = self.recover().await {
            tracing::error!(error = %e, "recovery pass failed; the resolver will retry");
        }
        let config = self.resolver_config().clone();
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(config.poll_interval) => {}
            }
            let now = self.clock().now_us();
            match self
                .journal()
                .claim_work(now, lease_us(), config.concurrency, false)
                .await
            {
                Ok(items) => self.work_all(items).await,
                Err(e) => tracing::error!(error = %e, "resolver cannot read its queue"),
            }
        }
    }

    /// Tries every queued item once, then opens their providers to new
    /// money calls.
    async fn recover(&self) -> Result<(), JournalError> {
        let now = self.clock().now_us();
        let items = self
            .journal()
            .claim_work(now, lease_us(), usize::MAX >> 1, true)
            .await?;
        let providers: Vec<_> = items
            .iter()
            .map(|i| i.provider.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if !items.is_empty() {
            tracing::warn!(
                items = items.len(),
                providers = providers.len(),
                "resuming unfinished transactions"
            );
        }
        self.set_recovering(&providers, true);
        self.work_all(items).await;
        self.set_recovering(&providers, false);
        Ok(())
    }

    async fn work_all(&self, items: Vec<WorkItem>) {
        let mut set = tokio::task::JoinSet::new();
        let limit = self.resolver_config().concurrency.max(1);
        for item in items {
            while set.len() >= limit {
                let _ = set.join_next().await;
            }
            let engine = self.clone();
            set.spawn(async move { engine.work(item).await });
        }
        while set.join_next().await.is_some() {}
    }

    /// One attempt at one item, and its bookkeeping.
    async fn work(&self, item: WorkItem) {
        let step = match self.attempt(&item).await {
            Ok(step) => step,
            Err(e) => Step::Again(format!("journal: {e}")),
        };
        let why = match step {
            Step::Done => return,
            Step::Wait(at) => {
                // Not an attempt: the budget is for the provider's answers.
                if let Err(e) = self.journal().wait_work(&item.tx_id, at).await {
                    tracing::error!(transaction = %item.tx_id, error = %e, "cannot reschedule");
                }
                return;
            }
            Step::Again(why) => why,
        };
        let config = self.resolver_config();
        let attempts = item.attempts + 1;
        let dead = attempts >= config.max_attempts;
        let ceiling = config
            .backoff_base
            .checked_mul(1u32.checked_shl(attempts.min(31)).unwrap_or(u32::MAX))
            .unwrap_or(config.backoff_max)
            .min(config.backoff_max);
        let wait = ceiling.mul_f64(self.jitter().fraction().clamp(0.0, 1.0));
        let next = self.clock().now_us().saturating_add(micros(wait));
        if dead {
            tracing::error!(transaction = %item.tx_id, error = %why, "resolution budget spent: dead letter");
        } else {
            tracing::info!(transaction = %item.tx_id, attempt = attempts, error = %why, "not resolved yet");
        }
        if let Err(e) = self
            .journal()
            .reschedule_work(&item.tx_id, next, &why, dead)
            .await
        {
            tracing::error!(transaction = %item.tx_id, error = %e, "cannot reschedule");
        }
    }

    async fn attempt(&self, item: &WorkItem) -> Result<Step, JournalError> {
        let Some(tx) = self.find(&item.tx_id).await? else {
            self.journal().complete_work(&item.tx_id).await?;
            return Ok(Step::Done);
        };
        if !tx.state.is_open() {
            self.journal().complete_work(&item.tx_id).await?;
            return Ok(Step::Done);
        }
        let Some(provider) = self.provider_of(&tx.provider) else {
            return Ok(Step::Again(format!(
                "provider {} is not configured",
                tx.provider
            )));
        };
        let settle_at = tx
            .updated_us
            .saturating_add(micros(self.resolver_config().settle_after));
        let step = match tx.kind {
            TxKind::Debit => self.resolve_debit(&provider, &tx, settle_at).await?,
            TxKind::Credit => self.resolve_credit(&provider, &tx).await?,
            TxKind::Rollback => self.resend_rollback(&provider, &tx).await?,
        };
        Ok(step)
    }

    async fn find(&self, id: &TransactionId) -> Result<Option<TxRecord>, JournalError> {
        // Work items are not partner-scoped: look the transaction up by id
        // whoever owns it.
        self.journal().get_any(id).await
    }

    async fn resolve_debit(
        &self,
        provider: &Provider,
        tx: &TxRecord,
        settle_at: i64,
    ) -> Result<Step, JournalError> {
        if supports_status(provider) {
            let status = match self.status(provider, tx).await {
                Ok(s) => s,
                Err(why) => return Ok(Step::Again(format!("status query not sent: {why}"))),
            };
            match status {
                TxStatus::Applied(s) => {
                    return self
                        .conclude(
                            tx,
                            Recorded::Settled {
                                balance_after: s.balance_after,
                                provider_ref: s.provider_ref,
                            },
                        )
                        .await;
                }
                TxStatus::RolledBack => return self.conclude(tx, Recorded::RolledBack).await,
                TxStatus::Declined(r) => return self.conclude(tx, Recorded::Declined(r)).await,
                TxStatus::Unknown(e) => return Ok(Step::Again(format!("status query: {e}"))),
                TxStatus::NotFound => {}
            }
        }
        if self.clock().now_us() < settle_at {
            return Ok(Step::Wait(settle_at));
        }
        // Compensate: our own rollback of the debit.
        let req = RollbackRequest {
            tx_id: TransactionId::compensation_of(&tx.id).provider_tx_id(),
            original_tx_id: tx.id.provider_tx_id(),
            account: AccountId::new(tx.account.clone()),
            amount: tx.amount,
        };
        match self.send(provider, Operation::Rollback(req)).await {
            Ok(Outcome::Settled(_)) => {
                tracing::info!(transaction = %tx.id, "debit compensated");
                self.conclude(tx, Recorded::RolledBack).await
            }
            Ok(other) => Ok(Step::Again(format!("compensation: {}", describe(&other)))),
            Err(why) => Ok(Step::Again(format!("compensation not sent: {why}"))),
        }
    }

    async fn resolve_credit(
        &self,
        provider: &Provider,
        tx: &TxRecord,
    ) -> Result<Step, JournalError> {
        if supports_status(provider) {
            let status = match self.status(provider, tx).await {
                Ok(s) => s,
                Err(why) => return Ok(Step::Again(format!("status query not sent: {why}"))),
            };
            match status {
                TxStatus::Applied(s) => {
                    return self
                        .conclude(
                            tx,
                            Recorded::Settled {
                                balance_after: s.balance_after,
                                provider_ref: s.provider_ref,
                            },
                        )
                        .await;
                }
                TxStatus::Declined(r) => return self.conclude(tx, Recorded::Declined(r)).await,
                TxStatus::Unknown(e) => return Ok(Step::Again(format!("status query: {e}"))),
                TxStatus::RolledBack => {
                    return Ok(Step::Again(
                        "the provider reports a credit rolled back; an operator must look".into(),
                    ));
                }
                TxStatus::NotFound => {}
            }
        }
        // Forward: the same credit again, same id. The provider replays it
        // if it applied it, or applies it now.
        let Some(amount) = tx.amount else {
            return Ok(Step::Again("credit without an amount".into()));
        };
        let req = MoneyRequest {
            direction: Direction::Credit,
            tx_id: tx.id.provider_tx_id(),
            account: AccountId::new(tx.account.clone()),
            amount,
            reference: tx.reference.clone(),
        };
        match self.send(provider, Operation::Transfer(req)).await {
            Ok(Outcome::Settled(s)) => {
                self.conclude(
                    tx,
                    Recorded::Settled {
                        balance_after: s.balance_after,
                        provider_ref: s.provider_ref,
                    },
                )
                .await
            }
            Ok(Outcome::Declined(r)) => self.conclude(tx, Recorded::Declined(r)).await,
            Ok(other) => Ok(Step::Again(format!("forward retry: {}", describe(&other)))),
            Err(why) => Ok(Step::Again(format!("forward retry not sent: {why}"))),
        }
    }

    async fn resend_rollback(
        &self,
        provider: &Provider,
        tx: &TxRecord,
    ) -> Result<Step, JournalError> {
        let Some(original) = &tx.reverses else {
            return Ok(Step::Again("rollback without its debit".into()));
        };
        let req = RollbackRequest {
            tx_id: tx.id.provider_tx_id(),
            original_tx_id: original.provider_tx_id(),
            account: AccountId::new(tx.account.clone()),
            amount: tx.amount,
        };
        match self.send(provider, Operation::Rollback(req)).await {
            Ok(Outcome::Settled(s)) => {
                self.conclude(
                    tx,
                    Recorded::Settled {
                        balance_after: s.balance_after,
                        provider_ref: s.provider_ref,
                    },
                )
                .await
            }
            Ok(Outcome::Declined(DeclineReason::NotReversible)) => {
                self.conclude(tx, Recorded::Declined(DeclineReason::NotReversible))
                    .await
            }
            Ok(other) => Ok(Step::Again(format!("rollback: {}", describe(&other)))),
            Err(why) => Ok(Step::Again(format!("rollback not sent: {why}"))),
        }
    }

    async fn conclude(&self, tx: &TxRecord, recorded: Recorded) -> Result<Step, JournalError> {
        let now = self.clock().now_us();
        let after = self.journal().record(&tx.id, recorded, now).await?;
        tracing::info!(transaction = %tx.id, state = ?after.state, "resolved");
        if after.state == TxState::Pending {
            return Ok(Step::Again("still pending".into()));
        }
        Ok(Step::Done)
    }

    async fn status(&self, provider: &Provider, tx: &TxRecord) -> Result<TxStatus, String> {
        let req = StatusRequest {
            tx_id: tx.id.provider_tx_id(),
            kind: match tx.kind {
                TxKind::Debit => adapter_api::TxKind::Debit,
                TxKind::Credit => adapter_api::TxKind::Credit,
                TxKind::Rollback => adapter_api::TxKind::Rollback,
            },
            account: AccountId::new(tx.account.clone()),
            amount: tx.amount,
        };
        match provider
            .service
            .clone()
            .oneshot(ProviderCall {
                op: Operation::Status(req),
                answer_by: Instant::now() + provider_budget(),
            })
            .await
        {
            Ok(Reply::Status(s)) => Ok(s),
            Ok(other) => Err(format!("unexpected reply {other:?}")),
            // Refused by the stack (breaker open, bulkhead full): say so,
            // rather than dress it up as a provider error.
            Err(e) => Err(e.to_string()),
        }
    }

    async fn send(&self, provider: &Provider, op: Operation) -> Result<Outcome, String> {
        match provider
            .service
            .clone()
            .oneshot(ProviderCall {
                op,
                answer_by: Instant::now() + provider_budget(),
            })
            .await
        {
            Ok(Reply::Moved(o)) => Ok(o),
            Ok(other) => Err(format!("unexpected reply {other:?}")),
            Err(e) => Err(e.to_string()),
        }
    }
}

fn supports_status(provider: &Provider) -> bool {
    provider.descriptor().is_some_and(|d| d.capabilities.status)
}

fn describe(o: &Outcome) -> String {
    match o {
        Outcome::Settled(_) => "settled".into(),
        Outcome::Declined(r) => format!("declined ({r:?})"),
        Outcome::NotProcessed(e) => format!("not processed: {e}"),
        Outcome::Unknown(e) => format!("unknown: {e}"),
    }
}

/// Time a resolver call may take, retries included.
fn provider_budget() -> Duration {
    Duration::from_secs(30)
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

fn lease_us() -> i64 {
    micros(LEASE)
}
