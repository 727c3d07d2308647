//! The journal: the durable record of every money movement, idempotency
//! records and API key hashes.
//!
//! Storage is an append-only log of transaction events plus a current-state
//! projection updated in the same SQL transaction as the event that changes
//! it. The [`Journal`] trait speaks in operations of the money path (begin a
//! call, record an outcome), not SQL, so a PostgreSQL backend can stand
//! beside the SQLite one without touching callers. Every operation that
//! decides idempotency is atomic inside the backend.

pub mod seed;
mod sqlite;
#[cfg(test)]
mod tests;

pub use sqlite::SqliteJournal;

use adapter_api::{DeclineReason, Money};
use tokio::sync::broadcast;

use crate::domain::{
    Account, Fingerprint, IdempotencyKey, PartnerId, ProviderId, Reference, TransactionId, TxKind,
    TxRecord, TxState,
};

/// A debit or credit the hub is about to send.
#[derive(Clone, Debug)]
pub struct Intent {
    /// Owner.
    pub partner: PartnerId,
    /// The partner's key.
    pub key: IdempotencyKey,
    /// Debit or credit.
    pub kind: TxKind,
    /// Target provider.
    pub provider: ProviderId,
    /// Account at the provider.
    pub account: Account,
    /// Amount, positive.
    pub amount: Money,
    /// The partner's reference.
    pub reference: Option<Reference>,
    /// Fingerprint of the request.
    pub fingerprint: Fingerprint,
    /// Now, in microseconds since the Unix epoch.
    pub now_us: i64,
    /// The partner's daily limit for this currency, if any, in minor
    /// units: the most its debits and credits (not declined, failed or
    /// rolled back) created in the UTC day of `now_us` may add up to, this
    /// one included.
    pub daily_limit: Option<i64>,
}

/// A UTC day in microseconds.
pub const DAY_US: i64 = 86_400_000_000;

/// The first microsecond of the UTC day of `at_us`.
pub fn day_of(at_us: i64) -> i64 {
    at_us - at_us.rem_euclid(DAY_US)
}

/// What [`Journal::begin`] found.
#[derive(Clone, Debug)]
pub enum Begin {
    /// The intent is durable (new, or a re-run after FAILED): call the
    /// provider.
    Started(TxRecord),
    /// A call with this key and fingerprint is recorded: replay it (it may be
    /// in flight, in state SENT).
    Existing(TxRecord),
    /// The key belongs to a different request.
    Conflict(TxRecord),
    /// The key was closed by a rollback before any debit with it arrived.
    Tombstoned(TxRecord),
    /// The call would take the partner over its daily limit; nothing was
    /// recorded.
    OverDailyLimit {
        /// Already moved today, in minor units.
        used: i64,
    },
}

/// Which transaction a rollback names.
#[derive(Clone, Debug)]
pub enum RollbackTarget {
    /// By transaction id.
    Id(TransactionId),
    /// By the debit's idempotency key, with the provider to tombstone under
    /// when the key is unknown.
    Key(IdempotencyKey, Option<ProviderId>),
}

/// A rollback the hub is about to process.
#[derive(Clone, Debug)]
pub struct RollbackIntent {
    /// Owner.
    pub partner: PartnerId,
    /// The partner's key for the rollback itself.
    pub key: IdempotencyKey,
    /// The debit to reverse.
    pub target: RollbackTarget,
    /// Fingerprint of the rollback request.
    pub fingerprint: Fingerprint,
    /// Now, in microseconds since the Unix epoch.
    pub now_us: i64,
}

/// What [`Journal::begin_rollback`] found.
#[derive(Clone, Debug)]
pub enum RollbackBegin {
    /// The rollback is durable (SENT): call the provider to reverse `original`.
    Started {
        /// The rollback.
        rollback: TxRecord,
        /// The debit it reverses.
        original: Box<TxRecord>,
    },
    /// A rollback is already recorded for this key, or for this debit:
    /// replay it.
    Existing(TxRecord),
    /// The debit was never applied (declined, failed, or never seen: then a
    /// tombstone now closes its key); the hub recorded the rollback as done
    /// without calling the provider.
    Closed(TxRecord),
    /// The key belongs to a different request.
    Conflict(TxRecord),
    /// No such transaction for this partner.
    NotFound,
    /// The unknown debit key cannot be tombstoned without a provider.
    ProviderRequired,
    /// The target is not a debit.
    NotReversible(TxRecord),
    /// The debit is still in flight; wait for it and try again.
    OriginalInFlight(TxRecord),
}

/// The result of one provider attempt, to record.
#[derive(Clone, Debug)]
pub enum Recorded {
    /// Money moved (for a rollback: the debit is reversed or was never
    /// applied).
    Settled {
        /// Balance after, if reported.
        balance_after: Option<Money>,
        /// The provider's reference, if given.
        provider_ref: Option<String>,
    },
    /// Refused.
    Declined(DeclineReason),
    /// Outcome unknown: also queues the transaction for the resolver.
    Pending,
    /// Provably nothing moved.
    Failed,
    /// A debit the provider reports reversed, or that the hub compensated
    /// (rolled back at the provider, or found never applied).
    RolledBack,
}

/// A queued resolution: a PENDING transaction the resolver works on until
/// the provider gives a definite answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkItem {
    /// The transaction.
    pub tx_id: TransactionId,
    /// Its provider.
    pub provider: ProviderId,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due (µs).
    pub next_at_us: i64,
    /// Why the last attempt did not resolve it.
    pub last_error: Option<String>,
    /// Whether it exhausted its budget and waits for an operator.
    pub dead: bool,
    /// When it was queued (µs).
    pub created_us: i64,
}

/// One operator action, as journaled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminActionRecord {
    /// Its place in the journal of actions (0 before it is stored).
    pub seq: i64,
    /// When (µs).
    pub at_us: i64,
    /// The operator's name.
    pub operator: String,
    /// What was done (the admin RPC's name).
    pub action: String,
    /// What it was done to.
    pub target: String,
    /// The reason the operator gave.
    pub reason: String,
    /// What was decided.
    pub detail: String,
}

/// The size of the resolver's backlog, for metrics and operators.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Work items waiting (dead letters excluded).
    pub queued: u64,
    /// When the oldest waiting item was queued (µs), if any waits.
    pub oldest_queued_us: Option<i64>,
    /// Dead letters.
    pub dead: u64,
    /// Transactions in state PENDING.
    pub pending: u64,
}

/// How to look up one transaction.
#[derive(Clone, Debug)]
pub enum Lookup {
    /// By the partner's idempotency key.
    Key(IdempotencyKey),
    /// By transaction id.
    Id(TransactionId),
}

/// Filters of [`Journal::list`].
#[derive(Clone, Debug, Default)]
pub struct ListFilter {
    /// Only this provider.
    pub provider: Option<ProviderId>,
    /// Only these states (empty: all).
    pub states: Vec<TxState>,
    /// Created at or after (µs).
    pub start_us: Option<i64>,
    /// Created before (µs).
    pub end_us: Option<i64>,
}

/// One change of one transaction, as the change feed carries it.
#[derive(Clone, Debug)]
pub struct Change {
    /// Position in the event log; the feed's cursor.
    pub seq: i64,
    /// The transaction right after the change.
    pub tx: TxRecord,
}

/// A stored API key (its hash, never the key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// Public key id (the part before the secret).
    pub id: String,
    /// Owner.
    pub partner: PartnerId,
    /// SHA-256 of the secret part.
    pub hash: [u8; 32],
    /// Free label.
    pub label: String,
    /// Creation time (µs).
    pub created_us: i64,
    /// Revocation time (µs), if revoked.
    pub revoked_us: Option<i64>,
}

/// Counters that show how writes were batched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JournalStats {
    /// Write operations applied.
    pub writes: u64,
    /// SQL commits that applied them.
    pub commits: u64,
}

/// Why a journal operation failed. Any of these makes money calls fail
/// closed (UNAVAILABLE).
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The storage engine (or the disk under it) failed.
    #[error("journal storage failed")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
    /// The writer has stopped (shutdown or a fatal error).
    #[error("journal writer is not running")]
    Closed,
    /// A stored row does not decode: the file was changed outside the hub.
    #[error("journal row is corrupt: {0}")]
    Corrupt(&'static str),
}

/// The durable store behind the money path.
#[async_trait::async_trait]
pub trait Journal: Send + Sync + 'static {
    /// Records the intent of a debit or credit, or finds what is recorded
    /// under its key. Atomic: of many concurrent calls with one key, exactly
    /// one gets [`Begin::Started`].
    async fn begin(&self, intent: Intent) -> Result<Begin, JournalError>;

    /// Records the intent of a rollback, applying the one-rollback-per-debit
    /// and tombstone rules atomically.
    async fn begin_rollback(&self, intent: RollbackIntent) -> Result<RollbackBegin, JournalError>;

    /// Records the result of an attempt of a debit or credit that is SENT or
    /// PENDING. A settled rollback also moves its debit to ROLLED_BACK.
    async fn record(
        &self,
        id: &TransactionId,
        result: Recorded,
        now_us: i64,
    ) -> Result<TxRecord, JournalError>;

    /// Moves every SENT transaction to PENDING (at start and at shutdown:
    /// their provider calls were interrupted) and queues each for the
    /// resolver. Returns how many.
    async fn park_in_flight(&self, now_us: i64) -> Result<u64, JournalError>;

    /// Claims up to `limit` live work items due at `now_us` (all of them,
    /// due or not, when `all`), pushing their next attempt to
    /// `now_us + lease_us` so no other worker takes them meanwhile.
    async fn claim_work(
        &self,
        now_us: i64,
        lease_us: i64,
        limit: usize,
        all: bool,
    ) -> Result<Vec<WorkItem>, JournalError>;

    /// Schedules the next attempt of an item (or dead-letters it when
    /// `dead`), keeping `error` as its last error.
    async fn reschedule_work(
        &self,
        tx_id: &TransactionId,
        next_at_us: i64,
        error: &str,
        dead: bool,
    ) -> Result<(), JournalError>;

    /// Moves an item's next attempt to `next_at_us` without counting an
    /// attempt.
    async fn wait_work(&self, tx_id: &TransactionId, next_at_us: i64) -> Result<(), JournalError>;

    /// Removes the item of a transaction that is no longer open.
    async fn complete_work(&self, tx_id: &TransactionId) -> Result<(), JournalError>;

    /// Work items: live ones, dead letters, or both.
    async fn list_work(&self, dead: Option<bool>) -> Result<Vec<WorkItem>, JournalError>;

    /// The work item of one transaction, if it has one.
    async fn work_item(&self, tx_id: &TransactionId) -> Result<Option<WorkItem>, JournalError>;

    /// The resolver's backlog: queue depth, its oldest item, dead letters and
    /// PENDING transactions, read in one snapshot.
    async fn queue_stats(&self) -> Result<QueueStats, JournalError>;

    /// PENDING transactions of every partner after position `after_seq`,
    /// oldest first, at most `limit`.
    async fn list_pending(
        &self,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<TxRecord>, JournalError>;

    /// Journals an operator action; returns it with its position.
    async fn record_admin_action(
        &self,
        action: AdminActionRecord,
    ) -> Result<AdminActionRecord, JournalError>;

    /// Operator actions before position `before_seq` (all if `None`), newest
    /// first, at most `limit`.
    async fn list_admin_actions(
        &self,
        before_seq: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AdminActionRecord>, JournalError>;

    /// Puts a dead letter back in the queue, due now; false if there is no
    /// such dead letter.
    async fn replay_dead(&self, tx_id: &TransactionId, now_us: i64) -> Result<bool, JournalError>;

    /// One transaction by id, whoever owns it (for the hub's own workers,
    /// never for partner calls).
    async fn get_any(&self, id: &TransactionId) -> Result<Option<TxRecord>, JournalError>;

    /// One transaction of `partner`.
    async fn get(
        &self,
        partner: &PartnerId,
        lookup: &Lookup,
    ) -> Result<Option<TxRecord>, JournalError>;

    /// A page of `partner`'s transactions after the one at position `after`
    /// (0: from the start), oldest first: in `seq` order, or, when the
    /// filter has a time range, in creation order (`created_us`, then `seq`).
    async fn list(
        &self,
        partner: &PartnerId,
        filter: &ListFilter,
        after: i64,
        limit: usize,
    ) -> Result<Vec<TxRecord>, JournalError>;

    /// Every partner's transactions with `seq > after`, oldest first (for
    /// the audit and for operators).
    async fn scan(&self, after: i64, limit: usize) -> Result<Vec<TxRecord>, JournalError>;

    /// `partner`'s changes with `seq > after`, in order.
    async fn changes(
        &self,
        partner: &PartnerId,
        provider: Option<&ProviderId>,
        after: i64,
        limit: usize,
    ) -> Result<Vec<Change>, JournalError>;

    /// Live changes of every partner, from the moment of subscribing.
    fn subscribe(&self) -> broadcast::Receiver<Change>;

    /// Stores a new API key.
    async fn insert_key(&self, key: ApiKeyRecord) -> Result<(), JournalError>;

    /// One API key by id.
    async fn find_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, JournalError>;

    /// Every key, or one partner's.
    async fn list_keys(
        &self,
        partner: Option<&PartnerId>,
    ) -> Result<Vec<ApiKeyRecord>, JournalError>;

    /// Revokes a key; false if there is no such key.
    async fn revoke_key(&self, id: &str, now_us: i64) -> Result<bool, JournalError>;

    /// Write batching counters.
    fn stats(&self) -> JournalStats;
}
