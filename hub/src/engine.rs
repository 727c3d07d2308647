//! The money path: journal the intent, call the provider's adapter, journal
//! the outcome, answer.
//!
//! Once a call has passed validation, auth and limits, its journal and
//! provider work runs to the end in its own task, even if the client goes
//! away or its deadline passes. The caller waits for that task only until
//! its answer-by instant, then answers with what the journal knows (the
//! PENDING transaction). Concurrent calls with one idempotency key are
//! single-flighted: only the first reaches the journal and the provider;
//! the others wait for it and replay its result.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use adapter_api::{
    AccountId, BalanceRequest, Currency, Direction, Money, MoneyRequest, Outcome, RollbackRequest,
};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::domain::{
    Account, IdempotencyKey, PartnerId, ProviderId, Reference, TransactionId, TxKind, TxRecord,
    TxState,
};
use crate::error::HubError;
use crate::journal::{
    Begin, Intent, Journal, Lookup, Recorded, RollbackBegin, RollbackIntent, RollbackTarget,
};
use crate::resilience::{
    BoxError, BreakerState, CallError, Endpoint, Operation, ProviderCall, ProviderService, Reply,
};

/// Wall-clock time source, injectable for tests.
pub trait Clock: Send + Sync + 'static {
    /// Microseconds since the Unix epoch.
    fn now_us(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_us(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// A configured provider: its resilience stack over its endpoints.
#[derive(Clone)]
pub struct Provider {
    /// Calls go through here: bulkhead, retries, failover, breakers.
    pub service: ProviderService,
    /// The endpoints (primary first), for health checks and reporting.
    pub endpoints: Vec<Endpoint>,
    /// How to check the endpoints' health.
    pub health: crate::config::HealthConfig,
    /// The currency of health probes.
    pub probe_currency: Currency,
}

impl Provider {
    /// What the provider's adapter publishes about it.
    pub fn descriptor(&self) -> Option<adapter_api::Descriptor> {
        self.endpoints
            .first()
            .map(|e| e.breaker.inner().adapter().descriptor())
    }

    /// Whether any endpoint can take calls now.
    pub fn is_serving(&self) -> bool {
        self.endpoints
            .iter()
            .any(|e| e.health.is_healthy() && e.breaker.state() != BreakerState::Open)
    }
}

/// Why the resilience stack did not call the provider: nothing moved.
#[derive(Debug)]
enum Refused {
    /// The endpoint's breaker is open.
    CircuitOpen(Duration),
    /// The provider's bulkhead is full.
    Overloaded,
    /// No time was left to start an attempt.
    NoTimeLeft,
}

impl Refused {
    /// The refusal in `e`, counted in metrics under `provider`.
    fn counted(e: BoxError, provider: &Provider) -> Self {
        let refused = Self::from_box(e);
        let reason = match refused {
            Refused::CircuitOpen(_) => "circuit_open",
            Refused::Overloaded => "concurrency_limit",
            Refused::NoTimeLeft => return refused,
        };
        if let Some(endpoint) = provider.endpoints.first() {
            crate::metrics::get()
                .provider_rejections
                .get_or_create(&crate::metrics::RejectionLabels {
                    provider: endpoint.breaker.provider().to_owned(),
                    reason: reason.to_owned(),
                })
                .inc();
        }
        refused
    }

    fn from_box(e: BoxError) -> Self {
        match e.downcast_ref::<CallError>() {
            Some(CallError::CircuitOpen { retry_after }) => Refused::CircuitOpen(*retry_after),
            Some(CallError::NoTimeLeft) => Refused::NoTimeLeft,
            None => {
                if !e.is::<tower::load_shed::error::Overloaded>() {
                    // No layer has another error; whatever it is, it came
                    // before sending.
                    tracing::error!(error = %e, "unexpected error from the provider stack");
                }
                Refused::Overloaded
            }
        }
    }

    fn into_error(self, provider: &ProviderId) -> HubError {
        match self {
            Refused::CircuitOpen(retry_after) => HubError::ProviderUnavailable {
                provider: provider.clone(),
                retry_after: Some(retry_after),
            },
            Refused::Overloaded => HubError::ProviderOverloaded {
                provider: provider.clone(),
            },
            Refused::NoTimeLeft => HubError::DeadlineExceeded,
        }
    }
}

/// Sends a money operation through the provider's stack.
async fn call(provider: &Provider, op: Operation, answer_by: Instant) -> Result<Outcome, Refused> {
    let reply = provider
        .service
        .clone()
        .oneshot(ProviderCall { op, answer_by })
        .await;
    match reply {
        Ok(Reply::Moved(o)) => Ok(o),
        Ok(other) => {
            // A money operation always gets a money reply; anything else is
            // a bug, and the outcome must be treated as unknown.
            tracing::error!(reply = ?other, "money call got a non-money reply");
            Ok(Outcome::Unknown(adapter_api::AdapterError::Unsupported))
        }
        Err(e) => Err(Refused::counted(e, provider)),
    }
}

/// A validated debit or credit.
#[derive(Clone, Debug)]
pub struct Transfer {
    /// Debit or credit.
    pub kind: TxKind,
    /// The partner's key.
    pub key: IdempotencyKey,
    /// Target provider.
    pub provider: ProviderId,
    /// Account at the provider.
    pub account: Account,
    /// Positive amount.
    pub amount: Money,
    /// The partner's reference.
    pub reference: Option<Reference>,
    /// The partner's daily limit in this currency (minor units), if any.
    pub daily_limit: Option<i64>,
}

/// A validated rollback.
#[derive(Clone, Debug)]
pub struct Reversal {
    /// The partner's key for the rollback.
    pub key: IdempotencyKey,
    /// The debit to reverse.
    pub target: RollbackTarget,
    /// Where the rollback goes ([`Engine::rollback_provider`]); refused
    /// while that provider is being recovered.
    pub provider: Option<ProviderId>,
}

/// The answer to a money call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The transaction as journaled.
    pub tx: TxRecord,
    /// Whether this replays an earlier call (nothing moved for this one).
    pub replay: bool,
}

type Flights = Mutex<HashMap<TransactionId, watch::Receiver<()>>>;

/// Removes a flight from the registry when its task ends, waking waiters.
struct FlightGuard {
    flights: Arc<Flights>,
    id: TransactionId,
    _done: watch::Sender<()>,
}

impl Drop for FlightGuard {
    fn drop(&mut self) {
        if let Ok(mut f) = self.flights.lock() {
            f.remove(&self.id);
        }
    }
}

enum Role {
    Leader(FlightGuard),
    Follower(watch::Receiver<()>),
}

/// Runs money calls. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

/// The providers calls are routed to, replaced whole by a configuration
/// reload; a call keeps the snapshot (and the provider) it started with.
pub type Providers = Arc<HashMap<ProviderId, Arc<Provider>>>;

struct Inner {
    journal: Arc<dyn Journal>,
    providers: crate::swap::Swap<HashMap<ProviderId, Arc<Provider>>>,
    flights: Arc<Flights>,
    tasks: TaskTracker,
    draining: AtomicBool,
    clock: Arc<dyn Clock>,
    jitter: Arc<dyn crate::resilience::Jitter>,
    resolver: crate::config::ResolverConfig,
    /// Providers whose unfinished transactions are being resumed after a
    /// start: their new money calls wait (UNAVAILABLE) until that is done.
    recovering: Mutex<std::collections::HashSet<ProviderId>>,
    /// One permit per money call being worked on, held by its detached
    /// task until the journal and provider work ends.
    admission: Arc<tokio::sync::Semaphore>,
    max_in_flight: usize,
}

/// A money call's admission: counted in `money_calls_in_flight` while held.
struct InFlight {
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl InFlight {
    fn new(permit: tokio::sync::OwnedSemaphorePermit) -> Self {
        crate::metrics::get().money_calls_in_flight.inc();
        Self { _permit: permit }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        crate::metrics::get().money_calls_in_flight.dec();
    }
}

impl Engine {
    /// An engine over `journal` routing to `providers`, resolving unknown
    /// outcomes per `resolver`, working on at most `max_in_flight` money
    /// calls at once, with injected time and randomness.
    pub fn new(
        journal: Arc<dyn Journal>,
        providers: HashMap<ProviderId, Provider>,
        clock: Arc<dyn Clock>,
        jitter: Arc<dyn crate::resilience::Jitter>,
        resolver: crate::config::ResolverConfig,
        max_in_flight: usize,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                journal,
                providers: crate::swap::Swap::new(
                    providers
                        .into_iter()
                        .map(|(id, p)| (id, Arc::new(p)))
                        .collect(),
                ),
                flights: Arc::new(Mutex::new(HashMap::new())),
                tasks: TaskTracker::new(),
                draining: AtomicBool::new(false),
                clock,
                jitter,
                resolver,
                recovering: Mutex::new(std::collections::HashSet::new()),
                admission: Arc::new(tokio::sync::Semaphore::new(max_in_flight)),
                max_in_flight,
            }),
        }
    }

    pub(crate) fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    pub(crate) fn jitter(&self) -> &Arc<dyn crate::resilience::Jitter> {
        &self.inner.jitter
    }

    pub(crate) fn resolver_config(&self) -> &crate::config::ResolverConfig {
        &self.inner.resolver
    }

    pub(crate) fn provider_of(&self, id: &ProviderId) -> Option<Arc<Provider>> {
        self.providers().get(id).cloned()
    }

    /// Marks `providers` as recovering (or done, when `on` is false).
    pub fn set_recovering(&self, providers: &[ProviderId], on: bool) {
        if let Ok(mut r) = self.inner.recovering.lock() {
            for p in providers {
                if on {
                    r.insert(p.clone());
                } else {
                    r.remove(p);
                }
            }
        }
    }

    /// Ends recovery: no provider is recovering any more.
    pub(crate) fn end_recovery(&self) {
        if let Ok(mut r) = self.inner.recovering.lock() {
            r.clear();
        }
    }

    /// Whether `provider` is still being recovered.
    pub(crate) fn is_recovering(&self, provider: &ProviderId) -> bool {
        self.inner
            .recovering
            .lock()
            .map(|r| r.contains(provider))
            .unwrap_or(false)
    }

    fn check_recovered(&self, provider: &ProviderId) -> Result<(), HubError> {
        if self.is_recovering(provider) {
            return Err(HubError::ProviderRecovering {
                provider: provider.clone(),
            });
        }
        Ok(())
    }

    /// Where a rollback of `target` goes: the original's provider, or,
    /// for a debit the hub has not seen, the one the partner named (the
    /// tombstone is kept there). `None`: nothing at any provider to reverse.
    pub async fn rollback_provider(
        &self,
        partner: &PartnerId,
        target: &RollbackTarget,
    ) -> Result<Option<ProviderId>, HubError> {
        let (lookup, named) = match target {
            RollbackTarget::Id(id) => (Lookup::Id(id.clone()), None),
            RollbackTarget::Key(key, provider) => (Lookup::Key(key.clone()), provider.as_ref()),
        };
        let original = self.inner.journal.get(partner, &lookup).await?;
        Ok(original.map(|tx| tx.provider).or_else(|| named.cloned()))
    }

    /// The journal.
    pub fn journal(&self) -> &Arc<dyn Journal> {
        &self.inner.journal
    }

    /// The configured providers, as of now.
    pub fn providers(&self) -> Providers {
        self.inner.providers.load()
    }

    /// Routes new calls to `providers` from now on; calls in flight finish
    /// with the providers they started with.
    pub fn replace_providers(&self, providers: Providers) {
        self.inner.providers.store(providers);
    }

    /// Whether `provider` is configured.
    pub fn has_provider(&self, provider: &ProviderId) -> bool {
        self.providers().contains_key(provider)
    }

    fn provider(&self, id: &ProviderId) -> Result<Arc<Provider>, HubError> {
        self.provider_of(id)
            .ok_or_else(|| HubError::field("provider", format!("no provider named {id:?}")))
    }

    fn now_us(&self) -> i64 {
        self.inner.clock.now_us()
    }

    fn join(&self, id: &TransactionId) -> Role {
        let Ok(mut flights) = self.inner.flights.lock() else {
            // A poisoned registry only happens after a panic elsewhere;
            // waiting on nothing is the safe fallback (the journal still
            // decides idempotency atomically).
            let (tx, _rx) = watch::channel(());
            return Role::Leader(FlightGuard {
                flights: self.inner.flights.clone(),
                id: id.clone(),
                _done: tx,
            });
        };
        if let Some(rx) = flights.get(id) {
            return Role::Follower(rx.clone());
        }
        let (tx, rx) = watch::channel(());
        flights.insert(id.clone(), rx);
        Role::Leader(FlightGuard {
            flights: self.inner.flights.clone(),
            id: id.clone(),
            _done: tx,
        })
    }

    /// Runs a debit or credit for `partner`, answering by `answer_by`.
    pub async fn transfer(
        &self,
        partner: &PartnerId,
        call: Transfer,
        answer_by: Instant,
    ) -> Result<Answer, HubError> {
        self.check_open()?;
        let provider = self.provider(&call.provider)?;
        self.check_recovered(&call.provider)?;
        // Already due (a deadline shorter than the answer margin, or spent
        // on the way in): nothing can be sent, so nothing is journaled and
        // the partner may retry with the same key.
        if Instant::now() >= answer_by {
            return Err(HubError::DeadlineExceeded);
        }
        let id = TransactionId::derive(partner, &call.key);
        let intent = Intent {
            partner: partner.clone(),
            key: call.key.clone(),
            kind: call.kind,
            provider: call.provider.clone(),
            account: call.account.clone(),
            amount: call.amount,
            reference: call.reference.clone(),
            fingerprint: crate::service::transfer_fingerprint(&call),
            now_us: self.now_us(),
            daily_limit: call.daily_limit,
        };
        let engine = self.clone();
        self.run_detached(partner, &id, answer_by, async move {
            engine.run_transfer(intent, provider, answer_by).await
        })
        .await
    }

    /// Runs a rollback for `partner`, answering by `answer_by`.
    pub async fn rollback(
        &self,
        partner: &PartnerId,
        call: Reversal,
        answer_by: Instant,
    ) -> Result<Answer, HubError> {
        self.check_open()?;
        // The original may be one of the transactions being resumed.
        if let Some(provider) = &call.provider {
            self.check_recovered(provider)?;
        }
        // As for a transfer: already due, nothing is journaled or sent.
        if Instant::now() >= answer_by {
            return Err(HubError::DeadlineExceeded);
        }
        let id = TransactionId::derive(partner, &call.key);
        let intent = RollbackIntent {
            partner: partner.clone(),
            key: call.key.clone(),
            target: call.target.clone(),
            fingerprint: crate::service::reversal_fingerprint(&call),
            now_us: self.now_us(),
        };
        let engine = self.clone();
        self.run_detached(partner, &id, answer_by, async move {
            engine.run_rollback(intent, answer_by).await
        })
        .await
    }

    /// Single-flights `work` under `id` in its own task and waits for it
    /// until `answer_by`.
    async fn run_detached<F>(
        &self,
        partner: &PartnerId,
        id: &TransactionId,
        answer_by: Instant,
        work: F,
    ) -> Result<Answer, HubError>
    where
        F: Future<Output = Result<Answer, HubError>> + Send + 'static,
    {
        match self.join(id) {
            Role::Follower(mut done) => {
                // Err means the leader finished (its sender dropped).
                if tokio::time::timeout_at(answer_by, done.changed())
                    .await
                    .is_err()
                {
                    return Err(HubError::InProgress);
                }
                // The journal now decides: replay, conflict, or (after a
                // leader that moved nothing) a fresh attempt.
                Box::pin(self.run_detached(partner, id, answer_by, work)).await
            }
            Role::Leader(guard) => {
                // Refused before anything is journaled: the caller may
                // retry with the same key.
                let metrics = crate::metrics::get();
                let Ok(permit) = self.inner.admission.clone().try_acquire_owned() else {
                    metrics.overloaded.inc();
                    return Err(HubError::HubOverloaded {
                        limit: self.inner.max_in_flight,
                    });
                };
                let permit = InFlight::new(permit);
                let (tx, rx) = tokio::sync::oneshot::channel();
                // The money path outlives the call; its logs keep the call's
                // request id.
                self.inner
                    .tasks
                    .spawn(tracing::Instrument::in_current_span(async move {
                        let result = work.await;
                        drop(guard);
                        drop(permit);
                        let _ = tx.send(result);
                    }));
                match tokio::time::timeout_at(answer_by, rx).await {
                    Ok(Ok(result)) => result,
                    Ok(Err(_)) => Err(HubError::Internal),
                    Err(_) => {
                        // Answer with what is durable; the task goes on.
                        match self
                            .inner
                            .journal
                            .get(partner, &Lookup::Id(id.clone()))
                            .await?
                        {
                            Some(tx) if tx.state != TxState::Failed => {
                                Ok(Answer { tx, replay: false })
                            }
                            Some(_) | None => Err(HubError::DeadlineExceeded),
                        }
                    }
                }
            }
        }
    }

    async fn run_transfer(
        &self,
        intent: Intent,
        provider: Arc<Provider>,
        answer_by: Instant,
    ) -> Result<Answer, HubError> {
        let daily = intent
            .daily_limit
            .map(|d| (intent.amount.currency.code(), d));
        let tx = match self.inner.journal.begin(intent).await? {
            Begin::Started(tx) => tx,
            Begin::Existing(tx) => return Ok(Answer { tx, replay: true }),
            Begin::Conflict(_) => return Err(HubError::IdempotencyConflict),
            Begin::Tombstoned(_) => return Err(HubError::KeyRolledBack),
            Begin::OverDailyLimit { .. } => {
                let (currency, limit) = daily.ok_or(HubError::Internal)?;
                return Err(HubError::AmountLimit {
                    currency,
                    limit,
                    daily: true,
                });
            }
        };
        let amount = tx.amount.ok_or(HubError::Internal)?;
        let req = MoneyRequest {
            direction: match tx.kind {
                TxKind::Credit => Direction::Credit,
                _ => Direction::Debit,
            },
            tx_id: tx.id.provider_tx_id(),
            account: AccountId::new(tx.account.clone()),
            amount,
            reference: tx.reference.clone(),
        };
        let result = call(&provider, Operation::Transfer(req), answer_by).await;
        self.finish(&tx, result).await
    }

    async fn run_rollback(
        &self,
        intent: RollbackIntent,
        answer_by: Instant,
    ) -> Result<Answer, HubError> {
        // The debit may be in flight: wait for it, then decide again.
        for _ in 0..3 {
            match self.inner.journal.begin_rollback(intent.clone()).await? {
                RollbackBegin::Started { rollback, original } => {
                    return self.send_rollback(rollback, *original, answer_by).await;
                }
                RollbackBegin::Existing(tx) => return Ok(Answer { tx, replay: true }),
                RollbackBegin::Closed(tx) => return Ok(Answer { tx, replay: false }),
                RollbackBegin::Conflict(_) => return Err(HubError::IdempotencyConflict),
                RollbackBegin::NotFound => return Err(HubError::NotFound),
                RollbackBegin::ProviderRequired => {
                    return Err(HubError::field(
                        "provider",
                        "required to roll back a debit the hub has not seen",
                    ));
                }
                RollbackBegin::NotReversible(_) => return Err(HubError::NotReversible),
                RollbackBegin::OriginalInFlight(original) => {
                    let waiting = self
                        .inner
                        .flights
                        .lock()
                        .ok()
                        .and_then(|f| f.get(&original.id).cloned());
                    match waiting {
                        Some(mut done) => {
                            let _ = done.changed().await;
                        }
                        None => return Err(HubError::InProgress),
                    }
                }
            }
        }
        Err(HubError::InProgress)
    }

    async fn send_rollback(
        &self,
        rollback: TxRecord,
        original: TxRecord,
        answer_by: Instant,
    ) -> Result<Answer, HubError> {
        let provider = self.provider(&rollback.provider)?;
        let req = RollbackRequest {
            tx_id: rollback.id.provider_tx_id(),
            original_tx_id: original.id.provider_tx_id(),
            account: AccountId::new(original.account.clone()),
            amount: original.amount,
        };
        let result = call(&provider, Operation::Rollback(req), answer_by).await;
        if let Ok(Outcome::Declined(adapter_api::DeclineReason::NotReversible)) = result {
            self.inner
                .journal
                .record(
                    &rollback.id,
                    Recorded::Declined(adapter_api::DeclineReason::NotReversible),
                    self.now_us(),
                )
                .await?;
            return Err(HubError::NotReversible);
        }
        self.finish(&rollback, result).await
    }

    /// Journals an attempt's outcome and turns it into the answer. A call
    /// the stack refused (breaker open, bulkhead full, no time left) moved
    /// nothing: it is journaled FAILED and answered with why.
    async fn finish(
        &self,
        tx: &TxRecord,
        result: Result<Outcome, Refused>,
    ) -> Result<Answer, HubError> {
        let outcome = match result {
            Ok(o) => o,
            Err(refused) => {
                tracing::warn!(transaction = %tx.id, provider = %tx.provider, reason = ?refused, "not sent");
                self.inner
                    .journal
                    .record(&tx.id, Recorded::Failed, self.now_us())
                    .await?;
                return Err(refused.into_error(&tx.provider));
            }
        };
        tracing::info!(
            transaction = %tx.id,
            provider = %tx.provider,
            kind = ?tx.kind,
            outcome = outcome.class(),
            "provider answered"
        );
        let recorded = match outcome {
            Outcome::Settled(s) => Recorded::Settled {
                balance_after: s.balance_after,
                provider_ref: s.provider_ref,
            },
            Outcome::Declined(reason) => Recorded::Declined(reason),
            Outcome::NotProcessed(e) => {
                tracing::warn!(transaction = %tx.id, error = %e, source = ?std::error::Error::source(&e), "nothing moved");
                Recorded::Failed
            }
            Outcome::Unknown(e) => {
                tracing::warn!(transaction = %tx.id, error = %e, source = ?std::error::Error::source(&e), "outcome unknown");
                Recorded::Pending
            }
        };
        let mut tx = self
            .inner
            .journal
            .record(&tx.id, recorded, self.now_us())
            .await?;
        if tx.state == TxState::Pending {
            // Ask the provider at once: a definite answer spares the
            // partner a PENDING; otherwise the resolver takes over.
            if let Some(resolved) = self.resolve_inline(&tx).await {
                tx = resolved;
            }
        }
        if tx.state == TxState::Failed {
            return Err(HubError::ProviderUnavailable {
                provider: tx.provider,
                retry_after: None,
            });
        }
        Ok(Answer { tx, replay: false })
    }

    /// Asks a provider for an account's balance, answering by `answer_by`
    /// (DEADLINE_EXCEEDED if the provider has not answered by then).
    pub async fn balance(
        &self,
        provider_id: &ProviderId,
        account: &Account,
        currency: Currency,
        answer_by: Instant,
    ) -> Result<Money, HubError> {
        let provider = self.provider(provider_id)?;
        let req = BalanceRequest {
            account: AccountId::new(account.as_str()),
            currency,
        };
        // Every attempt is cut at `answer_by` already (a read moved nothing:
        // DEADLINE_EXCEEDED); this bounds the whole stack too, so the answer
        // is never tonic's CANCELLED.
        let Ok(reply) = tokio::time::timeout_at(
            answer_by,
            provider.service.clone().oneshot(ProviderCall {
                op: Operation::Balance(req),
                answer_by,
            }),
        )
        .await
        else {
            return Err(HubError::DeadlineExceeded);
        };
        match reply {
            Ok(Reply::Balance(Ok(m))) => Ok(m),
            Ok(Reply::Balance(Err(adapter_api::AdapterError::Declined(reason)))) => {
                Err(HubError::ProviderRefused {
                    provider: provider_id.clone(),
                    reason: crate::service::decline_reason_code(reason),
                })
            }
            Ok(other) => {
                tracing::warn!(provider = %provider_id, reply = ?other, "balance query failed");
                Err(HubError::ProviderUnavailable {
                    provider: provider_id.clone(),
                    retry_after: None,
                })
            }
            Err(e) => Err(Refused::counted(e, &provider).into_error(provider_id)),
        }
    }

    fn check_open(&self) -> Result<(), HubError> {
        if self.inner.draining.load(Ordering::Acquire) {
            return Err(HubError::ShuttingDown);
        }
        Ok(())
    }

    /// Refuses new money calls, waits up to `grace` for those in flight, then
    /// parks whatever is still unfinished as PENDING.
    pub async fn drain(&self, grace: Duration) -> Result<u64, HubError> {
        self.inner.draining.store(true, Ordering::Release);
        self.inner.tasks.close();
        if tokio::time::timeout(grace, self.inner.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("calls still in flight at the end of the shutdown grace");
        }
        Ok(self.inner.journal.park_in_flight(self.now_us()).await?)
    }

    /// Number of money calls whose task is still running.
    pub fn in_flight(&self) -> usize {
        self.inner.tasks.len()
    }
}
