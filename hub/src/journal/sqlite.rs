//! The embedded SQLite journal.
//!
//! One writer thread owns the write connection and group-commits: it takes
//! every write waiting in its queue, applies each in its own savepoint inside
//! one SQL transaction, commits once (WAL, `synchronous=FULL`), and only then
//! answers each caller and publishes the changes. Reads use a small pool of
//! separate connections on blocking threads, so they never wait for fsync.

use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use adapter_api::{Currency, Money};
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, params};
use tokio::sync::{broadcast, mpsc, oneshot};

use super::{
    AdminActionRecord, ApiKeyRecord, Begin, Change, DAY_US, Intent, Journal, JournalError,
    JournalStats, ListFilter, Lookup, QueueStats, Recorded, RollbackBegin, RollbackIntent,
    RollbackTarget, WorkItem, day_of,
};
use crate::domain::{
    Fingerprint, IdempotencyKey, PartnerId, ProviderId, TransactionId, TxKind, TxRecord, TxState,
    decline_code, decline_from_code,
};

// `seq` is a plain rowid, not AUTOINCREMENT: rows of `transactions` and
// `events` are never deleted, so max+1 is already monotonic, and
// AUTOINCREMENT would cost a `sqlite_sequence` write per insert. (Journals
// created before keep their AUTOINCREMENT; both behave the same.)
const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS transactions (
    seq             INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    partner         TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    kind            INTEGER NOT NULL,
    state           INTEGER NOT NULL,
    decline_reason  INTEGER,
    provider        TEXT NOT NULL,
    account         TEXT NOT NULL,
    currency        TEXT,
    amount          INTEGER,
    reference       TEXT,
    reverses        TEXT,
    balance_after   INTEGER,
    provider_ref    TEXT,
    created_us      INTEGER NOT NULL,
    updated_us      INTEGER NOT NULL,
    tombstone       INTEGER NOT NULL DEFAULT 0,
    fingerprint     BLOB NOT NULL,
    UNIQUE (partner, idempotency_key)
);
CREATE UNIQUE INDEX IF NOT EXISTS transactions_one_rollback
    ON transactions (reverses) WHERE reverses IS NOT NULL;
CREATE INDEX IF NOT EXISTS transactions_partner_seq ON transactions (partner, seq);
CREATE INDEX IF NOT EXISTS transactions_open ON transactions (state) WHERE state IN (0, 1);
-- A partner's transactions in creation order (the implicit rowid makes it
-- (partner, created_us, seq)): a page of a time range reads one contiguous
-- stretch of it. It replaces the (partner, currency, created_us) index of
-- earlier journals, which served the daily limit's sum (now `daily_usage`)
-- and could not serve a time range across currencies.
DROP INDEX IF EXISTS transactions_partner_day;
CREATE INDEX IF NOT EXISTS transactions_partner_created
    ON transactions (partner, created_us);
-- ListTransactions filtered by one state (PENDING, say): without it a
-- state that matches few rows walks the partner's whole history.
CREATE INDEX IF NOT EXISTS transactions_partner_state
    ON transactions (partner, state, seq);

CREATE TABLE IF NOT EXISTS events (
    seq            INTEGER PRIMARY KEY,
    tx_id          TEXT NOT NULL REFERENCES transactions (id),
    partner        TEXT NOT NULL,
    state          INTEGER NOT NULL,
    decline_reason INTEGER,
    balance_after  INTEGER,
    provider_ref   TEXT,
    at_us          INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_partner_seq ON events (partner, seq);

-- What each partner moved per currency and UTC day (`day_us` is the
-- day's first microsecond): the sum of the debits and credits created that
-- day that moved or may have moved money (SENT, PENDING, SETTLED). Kept in
-- the same SQL transaction as every state change, so the daily amount limit
-- reads one row instead of summing the day's transactions on the writer.
CREATE TABLE IF NOT EXISTS daily_usage (
    partner  TEXT NOT NULL,
    currency TEXT NOT NULL,
    day_us   INTEGER NOT NULL,
    used     INTEGER NOT NULL,
    PRIMARY KEY (partner, currency, day_us)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS work_items (
    tx_id      TEXT PRIMARY KEY REFERENCES transactions (id),
    provider   TEXT NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    next_at_us INTEGER NOT NULL,
    last_error TEXT,
    dead       INTEGER NOT NULL DEFAULT 0,
    created_us INTEGER NOT NULL,
    updated_us INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS work_items_due ON work_items (dead, next_at_us);

CREATE TABLE IF NOT EXISTS admin_actions (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    at_us    INTEGER NOT NULL,
    operator TEXT NOT NULL,
    action   TEXT NOT NULL,
    target   TEXT NOT NULL,
    reason   TEXT NOT NULL,
    detail   TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS api_keys (
    id         TEXT PRIMARY KEY,
    partner    TEXT NOT NULL,
    hash       BLOB NOT NULL,
    label      TEXT NOT NULL,
    created_us INTEGER NOT NULL,
    revoked_us INTEGER
);
"#;

const TX_COLUMNS: &str = "seq, id, partner, idempotency_key, kind, state, decline_reason, \
     provider, account, currency, amount, reference, reverses, balance_after, provider_ref, \
     created_us, updated_us, tombstone";

/// A state transition, returning the stored row.
static UPDATE_STATE_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "UPDATE transactions SET state = ?2, decline_reason = COALESCE(?3, decline_reason), \
         balance_after = COALESCE(?4, balance_after), provider_ref = COALESCE(?5, provider_ref), \
         updated_us = ?6 WHERE id = ?1 RETURNING {TX_COLUMNS}"
    )
});

/// How many writes one commit takes at most.
const MAX_BATCH: usize = 512;
/// Read connections for a file journal.
const READERS: usize = 4;

/// The SQLite [`Journal`].
pub struct SqliteJournal {
    writes: mpsc::UnboundedSender<Box<dyn Job>>,
    readers: Arc<ReadPool>,
    changes: broadcast::Sender<Change>,
    stats: Arc<Counters>,
}

#[derive(Default)]
struct Counters {
    writes: AtomicU64,
    commits: AtomicU64,
}

struct ReadPool {
    conns: Vec<Mutex<Connection>>,
    next: AtomicUsize,
}

impl SqliteJournal {
    /// Opens (or creates) the journal file at `path`, in WAL mode with
    /// `synchronous=FULL`.
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| JournalError::Storage(Box::new(e)))?;
        }
        let writer = Connection::open(path)?;
        writer.pragma_update(None, "journal_mode", "WAL")?;
        configure(&writer)?;
        create_schema(&writer)?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let c = Connection::open(path)?;
            configure(&c)?;
            readers.push(Mutex::new(c));
        }
        Ok(Self::start(Arc::new(Mutex::new(writer)), readers))
    }

    /// A journal in memory, for tests: one connection serves reads and
    /// writes.
    pub fn in_memory() -> Result<Self, JournalError> {
        let conn = Connection::open_in_memory()?;
        configure(&conn)?;
        create_schema(&conn)?;
        // Reads share the writer's connection, so they must go through the
        // same mutex: give the pool a connection handle that locks it.
        let shared = Arc::new(Mutex::new(conn));
        Ok(Self::start_shared(shared))
    }

    fn start(writer: Arc<Mutex<Connection>>, readers: Vec<Mutex<Connection>>) -> Self {
        let pool = Arc::new(ReadPool {
            conns: readers,
            next: AtomicUsize::new(0),
        });
        Self::spawn_writer(writer, pool)
    }

    fn start_shared(conn: Arc<Mutex<Connection>>) -> Self {
        // In memory there is only one connection: the pool holds none and
        // reads are sent through the writer queue instead.
        let pool = Arc::new(ReadPool {
            conns: Vec::new(),
            next: AtomicUsize::new(0),
        });
        Self::spawn_writer(conn, pool)
    }

    fn spawn_writer(conn: Arc<Mutex<Connection>>, readers: Arc<ReadPool>) -> Self {
        let (writes, rx) = mpsc::unbounded_channel();
        let (changes, _) = broadcast::channel(4096);
        let stats = Arc::new(Counters::default());
        let writer = Writer {
            conn,
            rx,
            changes: changes.clone(),
            stats: stats.clone(),
        };
        std::thread::Builder::new()
            .name("journal-writer".into())
            .spawn(move || writer.run())
            .map(|_| ())
            .unwrap_or_else(
                |e| tracing::error!(error = %e, "journal writer thread failed to start"),
            );
        Self {
            writes,
            readers,
            changes,
            stats,
        }
    }

    /// Runs `f` in its own savepoint of the next group commit and answers
    /// after the commit.
    async fn write<T, F>(&self, f: F) -> Result<T, JournalError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<(T, Vec<Change>), JournalError> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(TypedJob {
            f: Some(f),
            out: None,
            reply,
        });
        self.writes.send(job).map_err(|_| JournalError::Closed)?;
        rx.await.map_err(|_| JournalError::Closed)?
    }

    /// Runs a read on a pooled connection on a blocking thread (or through
    /// the writer for an in-memory journal).
    async fn read<T, F>(&self, f: F) -> Result<T, JournalError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, JournalError> + Send + 'static,
    {
        if self.readers.conns.is_empty() {
            return self.write(move |c| Ok((f(c)?, Vec::new()))).await;
        }
        let pool = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            let i = pool.next.fetch_add(1, Ordering::Relaxed) % pool.conns.len();
            let conn = pool.conns[i].lock().map_err(|_| JournalError::Closed)?;
            f(&conn)
        })
        .await
        .map_err(|_| JournalError::Closed)?
    }
}

impl From<rusqlite::Error> for JournalError {
    fn from(e: rusqlite::Error) -> Self {
        JournalError::Storage(Box::new(e))
    }
}

/// Creates what is missing of the schema. A journal from before
/// `daily_usage` gets it filled from its transactions, once.
fn create_schema(c: &Connection) -> Result<(), rusqlite::Error> {
    let had_usage: bool = c.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'daily_usage'",
        [],
        |r| r.get(0),
    )?;
    c.execute_batch(SCHEMA)?;
    if !had_usage {
        rebuild_daily_usage(c)?;
    }
    Ok(())
}

/// Recomputes `daily_usage` from the transactions (for journals written
/// before it existed, and by the bulk seeder, which writes rows directly).
pub(crate) fn rebuild_daily_usage(c: &Connection) -> Result<(), rusqlite::Error> {
    c.execute_batch(&format!(
        "DELETE FROM daily_usage;
         INSERT INTO daily_usage (partner, currency, day_us, used)
         SELECT partner, currency, created_us - (((created_us % {DAY_US}) + {DAY_US}) % {DAY_US}),
                SUM(amount)
         FROM transactions
         WHERE kind IN (1, 2) AND state IN (0, 1, 2) AND amount IS NOT NULL
         GROUP BY 1, 2, 3;"
    ))
}

/// Whether a transaction's amount counts toward its partner's daily limit:
/// a debit or credit that moved or may have moved money.
fn counts_daily(kind: TxKind, state: TxState) -> bool {
    matches!(kind, TxKind::Debit | TxKind::Credit)
        && matches!(state, TxState::Sent | TxState::Pending | TxState::Settled)
}

/// Moves `tx`'s amount into (`sign` 1) or out of (-1) its day's usage.
fn add_daily(c: &Connection, tx: &TxRecord, sign: i64) -> rusqlite::Result<()> {
    let Some(amount) = tx.amount else {
        return Ok(());
    };
    c.execute_cached(
        "INSERT INTO daily_usage (partner, currency, day_us, used) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (partner, currency, day_us) DO UPDATE SET used = used + excluded.used",
        params![
            tx.partner.as_str(),
            amount.currency.code(),
            day_of(tx.created_us),
            sign * amount.minor_units
        ],
    )?;
    Ok(())
}

fn configure(c: &Connection) -> Result<(), rusqlite::Error> {
    c.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    c.pragma_update(None, "synchronous", "FULL")?;
    c.pragma_update(None, "foreign_keys", "ON")?;
    c.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(())
}

/// Prepared statements kept per connection (every distinct SQL text of
/// this module fits).
const STATEMENT_CACHE: usize = 128;

/// `execute` and `query_row` through the connection's statement cache.
/// rusqlite's own `Connection::execute` and `query_row` parse their SQL
/// again on every call; under load that parsing was the largest single CPU
/// cost of a money call (see load-tests/report).
trait Cached {
    fn execute_cached<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize>;
    fn query_row_cached<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>;
}

impl Cached for Connection {
    fn execute_cached<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    fn query_row_cached<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    {
        self.prepare_cached(sql)?.query_row(params, f)
    }
}

trait Job: Send {
    /// Applies the write in a savepoint; returns the changes to publish.
    fn apply(&mut self, conn: &mut Connection) -> Vec<Change>;
    /// Answers the caller once the batch's commit is known.
    fn finish(self: Box<Self>, committed: Result<(), String>);
}

struct TypedJob<T, F> {
    f: Option<F>,
    out: Option<Result<T, JournalError>>,
    reply: oneshot::Sender<Result<T, JournalError>>,
}

impl<T, F> Job for TypedJob<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<(T, Vec<Change>), JournalError> + Send + 'static,
{
    fn apply(&mut self, conn: &mut Connection) -> Vec<Change> {
        let Some(f) = self.f.take() else {
            return Vec::new();
        };
        let result = (|| {
            let sp = conn.savepoint()?;
            let out = f(&sp)?;
            sp.commit()?;
            Ok(out)
        })();
        match result {
            Ok((value, changes)) => {
                self.out = Some(Ok(value));
                changes
            }
            Err(e) => {
                self.out = Some(Err(e));
                Vec::new()
            }
        }
    }

    fn finish(self: Box<Self>, committed: Result<(), String>) {
        let answer = match (committed, self.out) {
            (Ok(()), Some(out)) => out,
            (Err(e), _) => {
                tracing::error!(error = %e, "journal commit failed");
                Err(JournalError::Closed)
            }
            (Ok(()), None) => Err(JournalError::Closed),
        };
        // The caller may have gone away; the write stands either way.
        let _ = self.reply.send(answer);
    }
}

struct Writer {
    conn: Arc<Mutex<Connection>>,
    rx: mpsc::UnboundedReceiver<Box<dyn Job>>,
    changes: broadcast::Sender<Change>,
    stats: Arc<Counters>,
}

impl Writer {
    fn run(mut self) {
        let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_BATCH);
        while let Some(first) = self.rx.blocking_recv() {
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match self.rx.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            let started = std::time::Instant::now();
            let (committed, changes) = self.commit(&mut batch);
            if committed.is_ok() {
                let metrics = crate::metrics::get();
                metrics
                    .journal_commit_duration
                    .observe(started.elapsed().as_secs_f64());
                // A batch holds at most MAX_BATCH jobs: exact as f64.
                #[allow(clippy::cast_precision_loss)]
                metrics.journal_batch_size.observe(batch.len() as f64);
                self.stats.commits.fetch_add(1, Ordering::Relaxed);
                self.stats
                    .writes
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
            for job in batch.drain(..) {
                job.finish(committed.clone());
            }
            if committed.is_ok() {
                for change in changes {
                    // No subscriber is fine.
                    let _ = self.changes.send(change);
                }
            }
        }
    }

    fn commit(&self, batch: &mut [Box<dyn Job>]) -> (Result<(), String>, Vec<Change>) {
        let Ok(mut conn) = self.conn.lock() else {
            return (Err("journal connection poisoned".into()), Vec::new());
        };
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            return (Err(e.to_string()), Vec::new());
        }
        let mut changes = Vec::new();
        for job in batch.iter_mut() {
            changes.extend(job.apply(&mut conn));
        }
        match conn.execute_batch("COMMIT") {
            Ok(()) => (Ok(()), changes),
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                (Err(e.to_string()), Vec::new())
            }
        }
    }
}

// ---- row helpers -------------------------------------------------------

fn bad(idx: usize, what: &'static str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, Type::Integer, what.into())
}

fn money(row: &Row, cur_idx: usize, amount_idx: usize) -> rusqlite::Result<Option<Money>> {
    let cur: Option<String> = row.get(cur_idx)?;
    let amount: Option<i64> = row.get(amount_idx)?;
    match (cur, amount) {
        (Some(c), Some(a)) => {
            let c = Currency::from_code(&c).map_err(|_| bad(cur_idx, "unknown currency"))?;
            Ok(Some(Money::new(c, a)))
        }
        _ => Ok(None),
    }
}

fn read_tx(row: &Row) -> rusqlite::Result<TxRecord> {
    let text = |i: usize| -> rusqlite::Result<String> { row.get(i) };
    let currency: Option<String> = row.get(9)?;
    let balance_after = match (currency, row.get::<_, Option<i64>>(13)?) {
        (Some(c), Some(b)) => Some(Money::new(
            Currency::from_code(&c).map_err(|_| bad(9, "unknown currency"))?,
            b,
        )),
        _ => None,
    };
    Ok(TxRecord {
        seq: row.get(0)?,
        id: TransactionId::parse(&text(1)?).map_err(|_| bad(1, "transaction id"))?,
        partner: PartnerId::parse(&text(2)?).map_err(|_| bad(2, "partner"))?,
        key: IdempotencyKey::parse(&text(3)?).map_err(|_| bad(3, "idempotency key"))?,
        kind: TxKind::from_code(row.get(4)?).ok_or_else(|| bad(4, "kind"))?,
        state: TxState::from_code(row.get(5)?).ok_or_else(|| bad(5, "state"))?,
        decline_reason: match row.get::<_, Option<i64>>(6)? {
            Some(c) => Some(decline_from_code(c).ok_or_else(|| bad(6, "decline reason"))?),
            None => None,
        },
        provider: ProviderId::parse(&text(7)?).map_err(|_| bad(7, "provider"))?,
        account: text(8)?,
        amount: money(row, 9, 10)?,
        reference: row.get(11)?,
        reverses: match row.get::<_, Option<String>>(12)? {
            Some(s) => Some(TransactionId::parse(&s).map_err(|_| bad(12, "reverses"))?),
            None => None,
        },
        balance_after,
        provider_ref: row.get(14)?,
        created_us: row.get(15)?,
        updated_us: row.get(16)?,
        tombstone: row.get::<_, i64>(17)? != 0,
    })
}

fn by_key(
    c: &Connection,
    partner: &PartnerId,
    key: &IdempotencyKey,
) -> rusqlite::Result<Option<(TxRecord, Vec<u8>)>> {
    c.query_row_cached(
        &format!(
            "SELECT {TX_COLUMNS}, fingerprint FROM transactions \
             WHERE partner = ?1 AND idempotency_key = ?2"
        ),
        params![partner.as_str(), key.as_str()],
        |r| Ok((read_tx(r)?, r.get::<_, Vec<u8>>(18)?)),
    )
    .optional()
}

fn by_id(c: &Connection, id: &TransactionId) -> rusqlite::Result<Option<TxRecord>> {
    c.query_row_cached(
        &format!("SELECT {TX_COLUMNS} FROM transactions WHERE id = ?1"),
        params![id.as_str()],
        read_tx,
    )
    .optional()
}

fn rollback_of(c: &Connection, original: &TransactionId) -> rusqlite::Result<Option<TxRecord>> {
    c.query_row_cached(
        &format!("SELECT {TX_COLUMNS} FROM transactions WHERE reverses = ?1"),
        params![original.as_str()],
        read_tx,
    )
    .optional()
}

/// Inserts a transaction row and its first event; returns it as stored.
fn insert_tx(c: &Connection, tx: &TxRecord, fp: &Fingerprint) -> Result<Change, JournalError> {
    let (currency, amount) = match tx.amount {
        Some(m) => (Some(m.currency.code()), Some(m.minor_units)),
        None => (None, None),
    };
    c.execute_cached(
        "INSERT INTO transactions (id, partner, idempotency_key, kind, state, decline_reason, \
         provider, account, currency, amount, reference, reverses, balance_after, provider_ref, \
         created_us, updated_us, tombstone, fingerprint) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
        params![
            tx.id.as_str(),
            tx.partner.as_str(),
            tx.key.as_str(),
            tx.kind.code(),
            tx.state.code(),
            tx.decline_reason.map(decline_code),
            tx.provider.as_str(),
            tx.account,
            currency,
            amount,
            tx.reference,
            tx.reverses.as_ref().map(|r| r.as_str()),
            tx.balance_after.map(|m| m.minor_units),
            tx.provider_ref,
            tx.created_us,
            tx.updated_us,
            tx.tombstone as i64,
            &fp.0[..],
        ],
    )?;
    let stored = by_id(c, &tx.id)?.ok_or(JournalError::Corrupt("inserted row vanished"))?;
    if counts_daily(stored.kind, stored.state) {
        add_daily(c, &stored, 1)?;
    }
    append_event(c, stored)
}

/// Changes a transaction's state (and outcome fields) and appends the event.
fn transition(
    c: &Connection,
    tx: &TxRecord,
    state: TxState,
    result: Option<&Recorded>,
    now_us: i64,
) -> Result<Change, JournalError> {
    let (decline, balance, provider_ref) = match result {
        Some(Recorded::Declined(r)) => (Some(decline_code(*r)), None, None),
        Some(Recorded::Settled {
            balance_after,
            provider_ref,
        }) => (
            None,
            balance_after.map(|m| m.minor_units),
            provider_ref.clone(),
        ),
        _ => (None, None, None),
    };
    // The updated row comes back from the update itself.
    let stored = c
        .query_row_cached(
            &UPDATE_STATE_SQL,
            params![
                tx.id.as_str(),
                state.code(),
                decline,
                balance,
                provider_ref,
                now_us
            ],
            read_tx,
        )
        .optional()?
        .ok_or(JournalError::Corrupt("updated row vanished"))?;
    // `tx` was read in this same write, so its state is the one replaced.
    match (
        counts_daily(tx.kind, tx.state),
        counts_daily(stored.kind, stored.state),
    ) {
        (false, true) => add_daily(c, &stored, 1)?,
        (true, false) => add_daily(c, &stored, -1)?,
        _ => {}
    }
    append_event(c, stored)
}

fn append_event(c: &Connection, tx: TxRecord) -> Result<Change, JournalError> {
    c.execute_cached(
        "INSERT INTO events (tx_id, partner, state, decline_reason, balance_after, provider_ref, at_us) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            tx.id.as_str(),
            tx.partner.as_str(),
            tx.state.code(),
            tx.decline_reason.map(decline_code),
            tx.balance_after.map(|m| m.minor_units),
            tx.provider_ref,
            tx.updated_us,
        ],
    )?;
    Ok(Change {
        seq: c.last_insert_rowid(),
        tx,
    })
}

fn begin_tx(c: &Connection, intent: Intent) -> Result<(Begin, Vec<Change>), JournalError> {
    if let Some((existing, fp)) = by_key(c, &intent.partner, &intent.key)? {
        if existing.tombstone {
            return Ok((Begin::Tombstoned(existing), vec![]));
        }
        if fp != intent.fingerprint.0 {
            return Ok((Begin::Conflict(existing), vec![]));
        }
        // A FAILED attempt runs again, unless a rollback names it: the
        // debit must never be sent beside (or after) its own reversal.
        if existing.state == TxState::Failed && rollback_of(c, &existing.id)?.is_none() {
            let change = transition(c, &existing, TxState::Sent, None, intent.now_us)?;
            return Ok((Begin::Started(change.tx.clone()), vec![change]));
        }
        return Ok((Begin::Existing(existing), vec![]));
    }
    if let Some(limit) = intent.daily_limit {
        let used: i64 = c
            .query_row_cached(
                "SELECT used FROM daily_usage WHERE partner = ?1 AND currency = ?2 AND day_us = ?3",
                params![
                    intent.partner.as_str(),
                    intent.amount.currency.code(),
                    day_of(intent.now_us)
                ],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0);
        if used.saturating_add(intent.amount.minor_units) > limit {
            return Ok((Begin::OverDailyLimit { used }, vec![]));
        }
    }
    let tx = TxRecord {
        seq: 0,
        id: TransactionId::derive(&intent.partner, &intent.key),
        partner: intent.partner,
        key: intent.key,
        kind: intent.kind,
        state: TxState::Sent,
        decline_reason: None,
        provider: intent.provider,
        account: intent.account.as_str().to_owned(),
        amount: Some(intent.amount),
        reference: intent.reference.map(|r| r.as_str().to_owned()),
        reverses: None,
        balance_after: None,
        provider_ref: None,
        created_us: intent.now_us,
        updated_us: intent.now_us,
        tombstone: false,
    };
    let change = insert_tx(c, &tx, &intent.fingerprint)?;
    Ok((Begin::Started(change.tx.clone()), vec![change]))
}

fn new_rollback(intent: &RollbackIntent, original: &TxRecord, state: TxState) -> TxRecord {
    TxRecord {
        seq: 0,
        id: TransactionId::derive(&intent.partner, &intent.key),
        partner: intent.partner.clone(),
        key: intent.key.clone(),
        kind: TxKind::Rollback,
        state,
        decline_reason: None,
        provider: original.provider.clone(),
        account: original.account.clone(),
        amount: original.amount,
        reference: None,
        reverses: Some(original.id.clone()),
        balance_after: None,
        provider_ref: None,
        created_us: intent.now_us,
        updated_us: intent.now_us,
        tombstone: false,
    }
}

fn begin_rollback_tx(
    c: &Connection,
    intent: RollbackIntent,
) -> Result<(RollbackBegin, Vec<Change>), JournalError> {
    let mut changes = Vec::new();
    let own = by_key(c, &intent.partner, &intent.key)?;
    if let Some((existing, fp)) = &own {
        if existing.kind != TxKind::Rollback || fp[..] != intent.fingerprint.0[..] {
            return Ok((RollbackBegin::Conflict(existing.clone()), changes));
        }
        if existing.state != TxState::Failed {
            return Ok((RollbackBegin::Existing(existing.clone()), changes));
        }
    }
    let original = match &intent.target {
        RollbackTarget::Id(id) => match by_id(c, id)?.filter(|t| t.partner == intent.partner) {
            Some(t) => t,
            None => return Ok((RollbackBegin::NotFound, changes)),
        },
        RollbackTarget::Key(key, provider) => match by_key(c, &intent.partner, key)? {
            Some((t, _)) => t,
            None => {
                let Some(provider) = provider else {
                    return Ok((RollbackBegin::ProviderRequired, changes));
                };
                let tomb = TxRecord {
                    seq: 0,
                    id: TransactionId::derive(&intent.partner, key),
                    partner: intent.partner.clone(),
                    key: key.clone(),
                    kind: TxKind::Debit,
                    state: TxState::RolledBack,
                    decline_reason: None,
                    provider: provider.clone(),
                    account: String::new(),
                    amount: None,
                    reference: None,
                    reverses: None,
                    balance_after: None,
                    provider_ref: None,
                    created_us: intent.now_us,
                    updated_us: intent.now_us,
                    tombstone: true,
                };
                let change = insert_tx(c, &tomb, &Fingerprint([0; 32]))?;
                let tomb = change.tx.clone();
                changes.push(change);
                let rb = new_rollback(&intent, &tomb, TxState::RolledBack);
                let change = insert_tx(c, &rb, &intent.fingerprint)?;
                let rb = change.tx.clone();
                changes.push(change);
                return Ok((RollbackBegin::Closed(rb), changes));
            }
        },
    };
    if original.kind != TxKind::Debit {
        return Ok((RollbackBegin::NotReversible(original), changes));
    }
    if let Some(first) = rollback_of(c, &original.id)? {
        if first.key != intent.key {
            return Ok((RollbackBegin::Existing(first), changes));
        }
    }
    // Re-running our own FAILED rollback, or a new one.
    let rerun = own.map(|(t, _)| t);
    let start = |state: TxState, changes: &mut Vec<Change>| -> Result<TxRecord, JournalError> {
        let change = match &rerun {
            Some(t) => transition(c, t, state, None, intent.now_us)?,
            None => insert_tx(
                c,
                &new_rollback(&intent, &original, state),
                &intent.fingerprint,
            )?,
        };
        let tx = change.tx.clone();
        changes.push(change);
        Ok(tx)
    };
    match original.state {
        TxState::Sent => Ok((RollbackBegin::OriginalInFlight(original), changes)),
        TxState::Settled | TxState::Pending => {
            let rollback = start(TxState::Sent, &mut changes)?;
            Ok((
                RollbackBegin::Started {
                    rollback,
                    original: Box::new(original),
                },
                changes,
            ))
        }
        TxState::Failed => {
            // Nothing moved; close the debit's key so a late retry of it is
            // refused.
            changes.push(transition(
                c,
                &original,
                TxState::RolledBack,
                None,
                intent.now_us,
            )?);
            let rb = start(TxState::RolledBack, &mut changes)?;
            Ok((RollbackBegin::Closed(rb), changes))
        }
        TxState::Declined | TxState::RolledBack => {
            let rb = start(TxState::RolledBack, &mut changes)?;
            Ok((RollbackBegin::Closed(rb), changes))
        }
    }
}

fn record_tx(
    c: &Connection,
    id: &TransactionId,
    result: Recorded,
    now_us: i64,
) -> Result<(TxRecord, Vec<Change>), JournalError> {
    let tx = by_id(c, id)?.ok_or(JournalError::Corrupt("recorded transaction is missing"))?;
    if !tx.state.is_open() {
        tracing::warn!(
            transaction = %tx.id,
            state = ?tx.state,
            result = ?result,
            "result for a closed transaction ignored"
        );
        return Ok((tx, vec![]));
    }
    let state = match (&result, tx.kind) {
        (Recorded::Settled { .. }, TxKind::Rollback) => TxState::RolledBack,
        (Recorded::Settled { .. }, _) => TxState::Settled,
        (Recorded::Declined(_), _) => TxState::Declined,
        (Recorded::Pending, _) => TxState::Pending,
        (Recorded::Failed, _) => TxState::Failed,
        (Recorded::RolledBack, _) => TxState::RolledBack,
    };
    let mut changes = vec![transition(c, &tx, state, Some(&result), now_us)?];
    // The queue follows the state in the same SQL transaction: an open
    // outcome is queued for the resolver, a final one leaves the queue.
    if state == TxState::Pending {
        enqueue(c, &tx, now_us)?;
    } else {
        c.execute_cached(
            "DELETE FROM work_items WHERE tx_id = ?1",
            params![tx.id.as_str()],
        )?;
    }
    if state == TxState::RolledBack {
        if let Some(original) = tx
            .reverses
            .as_ref()
            .map(|o| by_id(c, o))
            .transpose()?
            .flatten()
        {
            // A debit resolved as FAILED while its rollback was in flight
            // is closed too, or a retry of it would run again.
            if matches!(
                original.state,
                TxState::Settled | TxState::Pending | TxState::Failed
            ) {
                changes.push(transition(c, &original, TxState::RolledBack, None, now_us)?);
                c.execute_cached(
                    "DELETE FROM work_items WHERE tx_id = ?1",
                    params![original.id.as_str()],
                )?;
            }
        }
    }
    let stored = changes[0].tx.clone();
    Ok((stored, changes))
}

/// Queues `tx` for the resolver, due now (kept as is if already queued).
fn enqueue(c: &Connection, tx: &TxRecord, now_us: i64) -> Result<(), JournalError> {
    c.execute_cached(
        "INSERT OR IGNORE INTO work_items (tx_id, provider, next_at_us, created_us, updated_us) \
         VALUES (?1, ?2, ?3, ?3, ?3)",
        params![tx.id.as_str(), tx.provider.as_str(), now_us],
    )?;
    Ok(())
}

fn read_work(r: &Row) -> rusqlite::Result<WorkItem> {
    Ok(WorkItem {
        tx_id: TransactionId::parse(&r.get::<_, String>(0)?).map_err(|_| bad(0, "tx id"))?,
        provider: ProviderId::parse(&r.get::<_, String>(1)?).map_err(|_| bad(1, "provider"))?,
        attempts: u32::try_from(r.get::<_, i64>(2)?).unwrap_or(u32::MAX),
        next_at_us: r.get(3)?,
        last_error: r.get(4)?,
        dead: r.get::<_, i64>(5)? != 0,
        created_us: r.get(6)?,
    })
}

const WORK_COLUMNS: &str = "tx_id, provider, attempts, next_at_us, last_error, dead, created_us";

fn read_key(r: &Row) -> rusqlite::Result<ApiKeyRecord> {
    let hash: Vec<u8> = r.get(2)?;
    Ok(ApiKeyRecord {
        id: r.get(0)?,
        partner: PartnerId::parse(&r.get::<_, String>(1)?).map_err(|_| bad(1, "partner"))?,
        hash: hash.try_into().map_err(|_| bad(2, "key hash"))?,
        label: r.get(3)?,
        created_us: r.get(4)?,
        revoked_us: r.get(5)?,
    })
}

#[async_trait::async_trait]
impl Journal for SqliteJournal {
    async fn begin(&self, intent: Intent) -> Result<Begin, JournalError> {
        self.write(move |c| begin_tx(c, intent)).await
    }

    async fn begin_rollback(&self, intent: RollbackIntent) -> Result<RollbackBegin, JournalError> {
        self.write(move |c| begin_rollback_tx(c, intent)).await
    }

    async fn record(
        &self,
        id: &TransactionId,
        result: Recorded,
        now_us: i64,
    ) -> Result<TxRecord, JournalError> {
        let id = id.clone();
        self.write(move |c| record_tx(c, &id, result, now_us)).await
    }

    async fn park_in_flight(&self, now_us: i64) -> Result<u64, JournalError> {
        self.write(move |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {TX_COLUMNS} FROM transactions WHERE state = ?1"
            ))?;
            let sent = stmt
                .query_map(params![TxState::Sent.code()], read_tx)?
                .collect::<Result<Vec<_>, _>>()?;
            let mut changes = Vec::with_capacity(sent.len());
            for tx in &sent {
                changes.push(transition(c, tx, TxState::Pending, None, now_us)?);
                enqueue(c, tx, now_us)?;
            }
            Ok((sent.len() as u64, changes))
        })
        .await
    }

    async fn get_any(&self, id: &TransactionId) -> Result<Option<TxRecord>, JournalError> {
        let id = id.clone();
        self.read(move |c| Ok(by_id(c, &id)?)).await
    }

    async fn claim_work(
        &self,
        now_us: i64,
        lease_us: i64,
        limit: usize,
        all: bool,
    ) -> Result<Vec<WorkItem>, JournalError> {
        self.write(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {WORK_COLUMNS} FROM work_items \
                 WHERE dead = 0 AND (?2 OR next_at_us <= ?1) ORDER BY next_at_us LIMIT ?3"
            ))?;
            let items = stmt
                .query_map(params![now_us, all, limit as i64], read_work)?
                .collect::<Result<Vec<_>, _>>()?;
            for item in &items {
                c.execute_cached(
                    "UPDATE work_items SET next_at_us = ?2 WHERE tx_id = ?1",
                    params![item.tx_id.as_str(), now_us.saturating_add(lease_us)],
                )?;
            }
            Ok((items, vec![]))
        })
        .await
    }

    async fn reschedule_work(
        &self,
        tx_id: &TransactionId,
        next_at_us: i64,
        error: &str,
        dead: bool,
    ) -> Result<(), JournalError> {
        let (id, error) = (tx_id.to_string(), error.to_owned());
        self.write(move |c| {
            c.execute_cached(
                "UPDATE work_items SET attempts = attempts + 1, next_at_us = ?2, last_error = ?3, \
                 dead = ?4, updated_us = ?2 WHERE tx_id = ?1",
                params![id, next_at_us, error, dead],
            )?;
            Ok(((), vec![]))
        })
        .await
    }

    async fn wait_work(&self, tx_id: &TransactionId, next_at_us: i64) -> Result<(), JournalError> {
        let id = tx_id.to_string();
        self.write(move |c| {
            c.execute_cached(
                "UPDATE work_items SET next_at_us = ?2 WHERE tx_id = ?1",
                params![id, next_at_us],
            )?;
            Ok(((), vec![]))
        })
        .await
    }

    async fn complete_work(&self, tx_id: &TransactionId) -> Result<(), JournalError> {
        let id = tx_id.to_string();
        self.write(move |c| {
            c.execute_cached("DELETE FROM work_items WHERE tx_id = ?1", params![id])?;
            Ok(((), vec![]))
        })
        .await
    }

    async fn list_work(&self, dead: Option<bool>) -> Result<Vec<WorkItem>, JournalError> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {WORK_COLUMNS} FROM work_items WHERE ?1 IS NULL OR dead = ?1 \
                 ORDER BY next_at_us"
            ))?;
            let items = stmt
                .query_map(params![dead], read_work)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(items)
        })
        .await
    }

    async fn work_item(&self, tx_id: &TransactionId) -> Result<Option<WorkItem>, JournalError> {
        let id = tx_id.to_string();
        self.read(move |c| {
            Ok(c.query_row_cached(
                &format!("SELECT {WORK_COLUMNS} FROM work_items WHERE tx_id = ?1"),
                params![id],
                read_work,
            )
            .optional()?)
        })
        .await
    }

    async fn queue_stats(&self) -> Result<QueueStats, JournalError> {
        self.read(|c| {
            let (queued, oldest, dead) = c
                .prepare_cached(
                    "SELECT count(*) FILTER (WHERE dead = 0), \
                            min(created_us) FILTER (WHERE dead = 0), \
                            count(*) FILTER (WHERE dead = 1) FROM work_items",
                )?
                .query_row([], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, Option<i64>>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })?;
            let pending: i64 = c
                .prepare_cached("SELECT count(*) FROM transactions WHERE state = ?1")?
                .query_row(params![TxState::Pending.code()], |r| r.get(0))?;
            let count = |n: i64| u64::try_from(n).unwrap_or(0);
            Ok(QueueStats {
                queued: count(queued),
                oldest_queued_us: oldest,
                dead: count(dead),
                pending: count(pending),
            })
        })
        .await
    }

    async fn list_pending(
        &self,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<TxRecord>, JournalError> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {TX_COLUMNS} FROM transactions WHERE state = ?1 AND seq > ?2 \
                 ORDER BY seq LIMIT ?3"
            ))?;
            let rows = stmt
                .query_map(
                    params![
                        TxState::Pending.code(),
                        after_seq,
                        i64::try_from(limit).unwrap_or(i64::MAX)
                    ],
                    read_tx,
                )?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    async fn record_admin_action(
        &self,
        action: AdminActionRecord,
    ) -> Result<AdminActionRecord, JournalError> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO admin_actions (at_us, operator, action, target, reason, detail) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    action.at_us,
                    action.operator,
                    action.action,
                    action.target,
                    action.reason,
                    action.detail
                ],
            )?;
            let seq = c.last_insert_rowid();
            Ok((AdminActionRecord { seq, ..action }, vec![]))
        })
        .await
    }

    async fn list_admin_actions(
        &self,
        before_seq: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AdminActionRecord>, JournalError> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT seq, at_us, operator, action, target, reason, detail FROM admin_actions \
                 WHERE ?1 IS NULL OR seq < ?1 ORDER BY seq DESC LIMIT ?2",
            )?;
            let rows = stmt
                .query_map(
                    params![before_seq, i64::try_from(limit).unwrap_or(i64::MAX)],
                    |r| {
                        Ok(AdminActionRecord {
                            seq: r.get(0)?,
                            at_us: r.get(1)?,
                            operator: r.get(2)?,
                            action: r.get(3)?,
                            target: r.get(4)?,
                            reason: r.get(5)?,
                            detail: r.get(6)?,
                        })
                    },
                )?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    async fn replay_dead(&self, tx_id: &TransactionId, now_us: i64) -> Result<bool, JournalError> {
        let id = tx_id.to_string();
        self.write(move |c| {
            let n = c.execute_cached(
                "UPDATE work_items SET dead = 0, attempts = 0, next_at_us = ?2, updated_us = ?2 \
                 WHERE tx_id = ?1 AND dead = 1",
                params![id, now_us],
            )?;
            Ok((n > 0, vec![]))
        })
        .await
    }

    async fn get(
        &self,
        partner: &PartnerId,
        lookup: &Lookup,
    ) -> Result<Option<TxRecord>, JournalError> {
        let partner = partner.clone();
        let lookup = lookup.clone();
        self.read(move |c| {
            let found = match &lookup {
                Lookup::Key(k) => by_key(c, &partner, k)?.map(|(t, _)| t),
                Lookup::Id(id) => by_id(c, id)?,
            };
            Ok(found.filter(|t| t.partner == partner))
        })
        .await
    }

    async fn list(
        &self,
        partner: &PartnerId,
        filter: &ListFilter,
        after: i64,
        limit: usize,
    ) -> Result<Vec<TxRecord>, JournalError> {
        let partner = partner.clone();
        let filter = filter.clone();
        self.read(move |c| {
            let states: String = filter
                .states
                .iter()
                .map(|s| s.code().to_string())
                .collect::<Vec<_>>()
                .join(",");
            let timed = filter.start_us.is_some() || filter.end_us.is_some();
            // Only the filters given are in the SQL, so that the planner can
            // use the state index (an `?3 IS NULL OR ...` term hides a
            // filter from it). Values stay bound parameters.
            let mut sql = format!("SELECT {TX_COLUMNS} FROM transactions");
            if timed {
                // A time range is read in creation order from the creation
                // index, so a page costs the rows it returns (plus those the
                // other filters skip) wherever the range lies in the
                // partner's history; in `seq` order the first page of an
                // old range walked everything before it. The cursor's row
                // gives the position: after (its created_us, its seq); the
                // range starts at the later of the filter's start and it.
                sql.push_str(
                    " INDEXED BY transactions_partner_created WHERE partner = ?1 \
                     AND created_us >= ?4 AND created_us < ?5 \
                     AND (created_us > ?7 OR seq > ?2)",
                );
            } else {
                sql.push_str(" WHERE partner = ?1 AND seq > ?2");
            }
            if filter.provider.is_some() {
                sql.push_str(" AND provider = ?3");
            }
            if !states.is_empty() {
                // Codes are integers from our own enum, never partner text.
                sql.push_str(&format!(" AND state IN ({states})"));
            }
            sql.push_str(if timed {
                " ORDER BY created_us, seq LIMIT ?6"
            } else {
                " ORDER BY seq LIMIT ?6"
            });
            // Where the cursor's row sits in creation order. A position
            // that is not one of this partner's rows (a forged token) ends
            // the listing rather than revealing where another's row is.
            let after_created = if timed && after > 0 {
                c.query_row_cached(
                    "SELECT created_us FROM transactions WHERE seq = ?1 AND partner = ?2",
                    params![after, partner.as_str()],
                    |r| r.get::<_, i64>(0),
                )
                .optional()?
                .unwrap_or(i64::MAX)
            } else {
                i64::MIN
            };
            let values = params![
                partner.as_str(),
                after,
                filter.provider.as_ref().map(|p| p.as_str()),
                filter.start_us.unwrap_or(i64::MIN).max(after_created),
                filter.end_us.unwrap_or(i64::MAX),
                limit as i64,
                after_created,
            ];
            // The untimed statement's last parameter is ?6.
            let values = if timed { values } else { &values[..6] };
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt
                .query_map(values, read_tx)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    async fn scan(&self, after: i64, limit: usize) -> Result<Vec<TxRecord>, JournalError> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {TX_COLUMNS} FROM transactions WHERE seq > ?1 ORDER BY seq LIMIT ?2"
            ))?;
            let rows = stmt
                .query_map(params![after, limit as i64], read_tx)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    async fn changes(
        &self,
        partner: &PartnerId,
        provider: Option<&ProviderId>,
        after: i64,
        limit: usize,
    ) -> Result<Vec<Change>, JournalError> {
        let partner = partner.clone();
        let provider = provider.cloned();
        self.read(move |c| {
            let cols = TX_COLUMNS
                .split(", ")
                .map(|col| format!("t.{}", col.trim()))
                .collect::<Vec<_>>()
                .join(", ");
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {cols}, e.seq, e.state, e.decline_reason, e.balance_after, \
                 e.provider_ref, e.at_us \
                 FROM events e JOIN transactions t ON t.id = e.tx_id \
                 WHERE e.partner = ?1 AND e.seq > ?2 AND (?3 IS NULL OR t.provider = ?3) \
                 ORDER BY e.seq LIMIT ?4"
            ))?;
            let rows = stmt
                .query_map(
                    params![
                        partner.as_str(),
                        after,
                        provider.as_ref().map(|p| p.as_str()),
                        limit as i64
                    ],
                    |r| {
                        let mut tx = read_tx(r)?;
                        tx.state =
                            TxState::from_code(r.get(19)?).ok_or_else(|| bad(19, "state"))?;
                        tx.decline_reason = match r.get::<_, Option<i64>>(20)? {
                            Some(code) => Some(
                                decline_from_code(code).ok_or_else(|| bad(20, "decline reason"))?,
                            ),
                            None => None,
                        };
                        tx.balance_after = match (tx.amount, r.get::<_, Option<i64>>(21)?) {
                            (Some(m), Some(b)) => Some(Money::new(m.currency, b)),
                            _ => None,
                        };
                        tx.provider_ref = r.get(22)?;
                        tx.updated_us = r.get(23)?;
                        Ok(Change {
                            seq: r.get(18)?,
                            tx,
                        })
                    },
                )?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    async fn insert_key(&self, key: ApiKeyRecord) -> Result<(), JournalError> {
        self.write(move |c| {
            c.execute_cached(
                "INSERT INTO api_keys (id, partner, hash, label, created_us, revoked_us) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    key.id,
                    key.partner.as_str(),
                    &key.hash[..],
                    key.label,
                    key.created_us,
                    key.revoked_us
                ],
            )?;
            Ok(((), vec![]))
        })
        .await
    }

    async fn find_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, JournalError> {
        let id = id.to_owned();
        self.read(move |c| {
            Ok(c.query_row_cached(
                "SELECT id, partner, hash, label, created_us, revoked_us FROM api_keys WHERE id = ?1",
                params![id],
                read_key,
            )
            .optional()?)
        })
        .await
    }

    async fn list_keys(
        &self,
        partner: Option<&PartnerId>,
    ) -> Result<Vec<ApiKeyRecord>, JournalError> {
        let partner = partner.cloned();
        self.read(move |c| {
            let mut stmt = c.prepare(
                "SELECT id, partner, hash, label, created_us, revoked_us FROM api_keys \
                 WHERE ?1 IS NULL OR partner = ?1 ORDER BY created_us, id",
            )?;
            let rows = stmt
                .query_map(params![partner.as_ref().map(|p| p.as_str())], read_key)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    async fn revoke_key(&self, id: &str, now_us: i64) -> Result<bool, JournalError> {
        let id = id.to_owned();
        self.write(move |c| {
            let n = c.execute_cached(
                "UPDATE api_keys SET revoked_us = COALESCE(revoked_us, ?2) WHERE id = ?1",
                params![id, now_us],
            )?;
            Ok((n > 0, vec![]))
        })
        .await
    }

    fn stats(&self) -> JournalStats {
        JournalStats {
            writes: self.stats.writes.load(Ordering::Relaxed),
            commits: self.stats.commits.load(Ordering::Relaxed),
        }
    }
}
