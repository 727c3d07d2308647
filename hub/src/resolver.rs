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
//! tried once before the provider takes new money calls: the server marks
//! the providers with queued work as recovering before it serves, and the
//! recovery pass lifts each one as soon as its items have been tried. A
//! recovery pass that cannot read the queue is retried with backoff until
//! it can, so no provider stays blocked for good.
//!
//! Time comes from the engine's [`Clock`](crate::engine::Clock) and jitter
//! from its [`Jitter`](crate::resilience::Jitter), so a simulator can drive
//! the resolver deterministically.

use std::collections::HashMap;
use std::time::Duration;

use adapter_api::{
    AccountId, DeclineReason, Direction, MoneyRequest, Outcome, RollbackRequest, StatusRequest,
    TxStatus,
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::config::ResolverConfig;
use crate::domain::{ProviderId, TransactionId, TxKind, TxRecord, TxState};
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
    /// start: the providers the caller marked with
    /// [`set_recovering`](Engine::set_recovering) take no new money calls
    /// until their items have been tried), then whatever falls due.
    pub async fn run_resolver(self, stop: CancellationToken) {
        let config = self.resolver_config().clone();
        // Until recovery succeeds its providers refuse money calls: retry
        // it, never give up on it.
        let mut failures = 0u32;
        while let Err(e) = self.recover().await {
            failures = failures.saturating_add(1);
            // Never sooner than a poll: a journal that fails at once must
            // not be hammered.
            let wait =
                backoff(&config, failures, self.jitter().fraction()).max(config.poll_interval);
            tracing::error!(error = %e, attempt = failures, retry_in = ?wait, "recovery pass failed; retrying");
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
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
                Ok(items) => self.work_all(items, |_| {}).await,
                Err(e) => tracing::error!(error = %e, "resolver cannot read its queue"),
            }
        }
    }

    /// Tries every queued item once, opening each provider to new money
    /// calls as soon as its own items have been tried, and every provider
    /// at the end. Fails only if the queue cannot be read; then every
    /// provider marked recovering stays so.
    async fn recover(&self) -> Result<(), JournalError> {
        let now = self.clock().now_us();
        let items = self
            .journal()
            .claim_work(now, lease_us(), usize::MAX >> 1, true)
            .await?;
        let mut left: HashMap<ProviderId, usize> = HashMap::new();
        for item in &items {
            *left.entry(item.provider.clone()).or_default() += 1;
        }
        if !items.is_empty() {
            tracing::warn!(
                items = items.len(),
                providers = left.len(),
                "resuming unfinished transactions"
            );
        }
        // A task that panicked tried its item too: the end of the pass
        // opens its provider.
        self.work_all(items, |provider| self.item_recovered(&mut left, provider))
            .await;
        // Whatever was marked (even without an item claimed here) is done.
        self.end_recovery();
        Ok(())
    }

    /// Counts one of `provider`'s items as tried; its last opens it.
    fn item_recovered(&self, left: &mut HashMap<ProviderId, usize>, provider: ProviderId) {
        let Some(n) = left.get_mut(&provider) else {
            return;
        };
        *n = n.saturating_sub(1);
        if *n == 0 {
            left.remove(&provider);
            tracing::info!(provider = %provider, "recovered: taking money calls again");
            self.set_recovering(std::slice::from_ref(&provider), false);
        }
    }

    /// Works `items`, at most `concurrency` at once, telling `done` the
    /// provider of each item worked.
    async fn work_all(&self, items: Vec<WorkItem>, mut done: impl FnMut(ProviderId)) {
        let mut set = tokio::task::JoinSet::new();
        let limit = self.resolver_config().concurrency.max(1);
        let mut finished = |joined: Option<Result<ProviderId, _>>| {
            if let Some(Ok(provider)) = joined {
                done(provider);
            }
        };
        for item in items {
            while set.len() >= limit {
                finished(set.join_next().await);
            }
            let engine = self.clone();
            set.spawn(async move {
                let provider = item.provider.clone();
                engine.work(item).await;
                provider
            });
        }
        while !set.is_empty() {
            finished(set.join_next().await);
        }
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
        let attempts = item.attempts.saturating_add(1);
        let dead = attempts >= config.max_attempts;
        let wait = backoff(config, attempts, self.jitter().fraction());
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

/// Full-jitter backoff after `failures` failed attempts (1 or more): a
/// `fraction` (in `[0, 1)`) of `backoff_base` doubled per failure after the
/// first, capped at `backoff_max`.
fn backoff(config: &ResolverConfig, failures: u32, fraction: f64) -> Duration {
    let doublings = failures.saturating_sub(1).min(31);
    let ceiling = config
        .backoff_base
        .checked_mul(1u32 << doublings)
        .unwrap_or(config.backoff_max)
        .min(config.backoff_max);
    ceiling.mul_f64(fraction.clamp(0.0, 1.0))
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use adapter_api::{Currency, Money};
    use tokio::sync::broadcast;

    use super::*;
    use crate::domain::{Account, Fingerprint, IdempotencyKey, PartnerId};
    use crate::engine::Clock;
    use crate::journal::{
        AdminActionRecord, ApiKeyRecord, Begin, Change, Intent, Journal, JournalStats, ListFilter,
        Lookup, QueueStats, RollbackBegin, RollbackIntent, SqliteJournal,
    };
    use crate::resilience::FixedJitter;

    const NOW: i64 = 1_700_000_000_000_000;

    struct FixedClock;
    impl Clock for FixedClock {
        fn now_us(&self) -> i64 {
            NOW
        }
    }

    fn config() -> ResolverConfig {
        ResolverConfig {
            poll_interval: Duration::from_millis(10),
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_secs(1),
            max_attempts: 100,
            ..ResolverConfig::default()
        }
    }

    fn engine(journal: Arc<dyn Journal>, jitter: f64) -> Engine {
        Engine::new(
            journal,
            std::collections::HashMap::new(),
            Arc::new(FixedClock),
            Arc::new(FixedJitter(jitter)),
            config(),
            16,
        )
    }

    /// A PENDING debit at provider `provider`, queued for the resolver.
    async fn queued(journal: &dyn Journal, key: &str, provider: &str) -> TransactionId {
        let intent = Intent {
            partner: PartnerId::parse("p1").unwrap(),
            key: IdempotencyKey::parse(key).unwrap(),
            kind: TxKind::Debit,
            provider: ProviderId::parse(provider).unwrap(),
            account: Account::parse("acc-1").unwrap(),
            amount: Money::new(Currency::from_code("EUR").unwrap(), 100),
            reference: None,
            fingerprint: Fingerprint::of(&[key.as_bytes()]),
            now_us: NOW,
            daily_limit: None,
        };
        let Begin::Started(tx) = journal.begin(intent).await.unwrap() else {
            panic!("not started");
        };
        // As a hub that died with the call in flight leaves it.
        journal.park_in_flight(NOW).await.unwrap();
        tx.id
    }

    /// The delay the resolver chose after each of `failures` failed
    /// attempts (the provider is not configured, so every attempt fails).
    async fn delays(jitter: f64, failures: u32) -> Vec<Duration> {
        let journal: Arc<dyn Journal> = Arc::new(SqliteJournal::in_memory().unwrap());
        let id = queued(journal.as_ref(), "k-1", "gone").await;
        let engine = engine(journal.clone(), jitter);
        let mut out = Vec::new();
        for n in 1..=failures {
            let item = journal.work_item(&id).await.unwrap().unwrap();
            engine.work(item).await;
            let after = journal.work_item(&id).await.unwrap().unwrap();
            assert_eq!(after.attempts, n);
            assert!(!after.dead);
            let waited = u64::try_from(after.next_at_us - NOW).unwrap();
            out.push(Duration::from_micros(waited));
        }
        out
    }

    #[tokio::test]
    async fn retry_delays_are_full_jitter_under_a_capped_exponential() {
        // The lowest draw retries at once, whatever the attempt.
        assert_eq!(delays(0.0, 6).await, vec![Duration::ZERO; 6]);
        // The highest draw reaches (to the microsecond) the ceiling: the
        // base before the second attempt, doubling, capped at the maximum.
        let top = delays(1.0 - f64::EPSILON, 7).await;
        let ceilings = [100, 200, 400, 800, 1_000, 1_000, 1_000].map(Duration::from_millis);
        for (n, (got, ceiling)) in top.iter().zip(ceilings).enumerate() {
            assert!(
                *got <= ceiling && ceiling - *got <= Duration::from_micros(1),
                "after failure {}: {got:?}, ceiling {ceiling:?}",
                n + 1
            );
        }
        // A draw in between is that fraction of the ceiling.
        assert_eq!(
            delays(0.25, 3).await,
            [25, 50, 100].map(Duration::from_millis).to_vec()
        );
    }

    /// A journal whose queue cannot be read the first `failures` times.
    struct FlakyQueue {
        inner: SqliteJournal,
        failures: AtomicU32,
        claims: AtomicU32,
    }

    #[async_trait::async_trait]
    impl Journal for FlakyQueue {
        async fn begin(&self, intent: Intent) -> Result<Begin, JournalError> {
            self.inner.begin(intent).await
        }
        async fn begin_rollback(
            &self,
            intent: RollbackIntent,
        ) -> Result<RollbackBegin, JournalError> {
            self.inner.begin_rollback(intent).await
        }
        async fn record(
            &self,
            id: &TransactionId,
            result: Recorded,
            now_us: i64,
        ) -> Result<TxRecord, JournalError> {
            self.inner.record(id, result, now_us).await
        }
        async fn park_in_flight(&self, now_us: i64) -> Result<u64, JournalError> {
            self.inner.park_in_flight(now_us).await
        }
        async fn claim_work(
            &self,
            now_us: i64,
            lease_us: i64,
            limit: usize,
            all: bool,
        ) -> Result<Vec<WorkItem>, JournalError> {
            self.claims.fetch_add(1, Ordering::SeqCst);
            let failing = self
                .failures
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if failing {
                return Err(JournalError::Closed);
            }
            self.inner.claim_work(now_us, lease_us, limit, all).await
        }
        async fn reschedule_work(
            &self,
            tx_id: &TransactionId,
            next_at_us: i64,
            error: &str,
            dead: bool,
        ) -> Result<(), JournalError> {
            self.inner
                .reschedule_work(tx_id, next_at_us, error, dead)
                .await
        }
        async fn wait_work(
            &self,
            tx_id: &TransactionId,
            next_at_us: i64,
        ) -> Result<(), JournalError> {
            self.inner.wait_work(tx_id, next_at_us).await
        }
        async fn complete_work(&self, tx_id: &TransactionId) -> Result<(), JournalError> {
            self.inner.complete_work(tx_id).await
        }
        async fn list_work(&self, dead: Option<bool>) -> Result<Vec<WorkItem>, JournalError> {
            self.inner.list_work(dead).await
        }
        async fn work_item(&self, tx_id: &TransactionId) -> Result<Option<WorkItem>, JournalError> {
            self.inner.work_item(tx_id).await
        }
        async fn queue_stats(&self) -> Result<QueueStats, JournalError> {
            self.inner.queue_stats().await
        }
        async fn list_pending(
            &self,
            after_seq: i64,
            limit: usize,
        ) -> Result<Vec<TxRecord>, JournalError> {
            self.inner.list_pending(after_seq, limit).await
        }
        async fn record_admin_action(
            &self,
            action: AdminActionRecord,
        ) -> Result<AdminActionRecord, JournalError> {
            self.inner.record_admin_action(action).await
        }
        async fn list_admin_actions(
            &self,
            before_seq: Option<i64>,
            limit: usize,
        ) -> Result<Vec<AdminActionRecord>, JournalError> {
            self.inner.list_admin_actions(before_seq, limit).await
        }
        async fn replay_dead(
            &self,
            tx_id: &TransactionId,
            now_us: i64,
        ) -> Result<bool, JournalError> {
            self.inner.replay_dead(tx_id, now_us).await
        }
        async fn get_any(&self, id: &TransactionId) -> Result<Option<TxRecord>, JournalError> {
            self.inner.get_any(id).await
        }
        async fn get(
            &self,
            partner: &PartnerId,
            lookup: &Lookup,
        ) -> Result<Option<TxRecord>, JournalError> {
            self.inner.get(partner, lookup).await
        }
        async fn list(
            &self,
            partner: &PartnerId,
            filter: &ListFilter,
            after: i64,
            limit: usize,
        ) -> Result<Vec<TxRecord>, JournalError> {
            self.inner.list(partner, filter, after, limit).await
        }
        async fn scan(&self, after: i64, limit: usize) -> Result<Vec<TxRecord>, JournalError> {
            self.inner.scan(after, limit).await
        }
        async fn changes(
            &self,
            partner: &PartnerId,
            provider: Option<&ProviderId>,
            after: i64,
            limit: usize,
        ) -> Result<Vec<Change>, JournalError> {
            self.inner.changes(partner, provider, after, limit).await
        }
        fn subscribe(&self) -> broadcast::Receiver<Change> {
            self.inner.subscribe()
        }
        async fn insert_key(&self, key: ApiKeyRecord) -> Result<(), JournalError> {
            self.inner.insert_key(key).await
        }
        async fn find_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, JournalError> {
            self.inner.find_key(id).await
        }
        async fn list_keys(
            &self,
            partner: Option<&PartnerId>,
        ) -> Result<Vec<ApiKeyRecord>, JournalError> {
            self.inner.list_keys(partner).await
        }
        async fn revoke_key(&self, id: &str, now_us: i64) -> Result<bool, JournalError> {
            self.inner.revoke_key(id, now_us).await
        }
        fn stats(&self) -> JournalStats {
            self.inner.stats()
        }
    }

    #[tokio::test]
    async fn a_failed_recovery_pass_is_retried_until_the_providers_open() {
        let flaky = Arc::new(FlakyQueue {
            inner: SqliteJournal::in_memory().unwrap(),
            failures: AtomicU32::new(3),
            claims: AtomicU32::new(0),
        });
        let journal: Arc<dyn Journal> = flaky.clone();
        queued(journal.as_ref(), "k-1", "slow").await;
        let engine = engine(journal.clone(), 0.5);
        let slow = ProviderId::parse("slow").unwrap();
        // As the server does before serving.
        engine.set_recovering(std::slice::from_ref(&slow), true);
        let stop = CancellationToken::new();
        let resolver = tokio::spawn(engine.clone().run_resolver(stop.clone()));
        // The retries wait 50, 100 and 200 ms (half the ceiling each).
        let mut open = false;
        for _ in 0..500 {
            if !engine.is_recovering(&slow) {
                open = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(open, "the provider stayed blocked");
        assert!(
            flaky.claims.load(Ordering::SeqCst) >= 4,
            "opened only after a pass that read the queue"
        );
        // That pass tried the item (an attempt, since the provider is gone).
        let item = &journal.list_work(None).await.unwrap()[0];
        assert!(item.attempts >= 1, "{item:?}");
        stop.cancel();
        resolver.await.unwrap();
    }
}
