//! Bulk seeding of a SQLite journal, for benchmarks only (`hub-load
//! big-journal` measures reads against ten million transactions).
//!
//! The journal's own write path commits every call durably and is far too
//! slow to fill a file with millions of rows in minutes. This writes the
//! same rows directly, in large SQL transactions, into a journal created by
//! [`SqliteJournal::open`] (so with the real schema and its indexes), with
//! `synchronous=OFF` on its own connection: a crash while seeding leaves a
//! useless fixture, never lost money. Never use it on a journal that holds
//! real transactions; it refuses one that holds any.
//!
//! What it writes is deterministic, so a benchmark can name existing
//! transactions without reading the file ([`seeded_call`]): row `i`
//! (0-based) belongs to partner `partners[i % partners.len()]`, has key
//! `seed-{i}` and sequence number `i + 1`. Per partner, every block of 20
//! of its transactions holds 12 settled debits, 5 settled credits, one
//! declined debit, one rolled-back debit and the rollback that reversed it
//! (the next transaction of the same partner), all at one provider and
//! account. Each transaction has its two events (SENT, then the final
//! state), as a real call leaves.

use std::path::Path;
use std::time::{Duration, Instant};

use adapter_api::{Currency, DeclineReason};
use rusqlite::{Connection, params};

use super::{JournalError, SqliteJournal};
use crate::domain::{
    Fingerprint, IdempotencyKey, PartnerId, ProviderId, TransactionId, TxKind, TxState,
    decline_code,
};

/// Why seeding failed.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The spec names no partner, provider or account, or too many rows.
    #[error("bad seed spec: {0}")]
    Spec(&'static str),
    /// The journal already holds transactions.
    #[error("the journal already holds transactions; only an empty one is seeded")]
    NotEmpty,
    /// Creating the journal failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// Writing the rows failed.
    #[error("seeding the journal failed")]
    Sqlite(#[from] rusqlite::Error),
    /// Reading the file's size failed.
    #[error("reading the journal file failed")]
    Io(#[from] std::io::Error),
}

/// What [`seed_for_benchmarks`] writes.
#[derive(Clone, Debug)]
pub struct SeedSpec {
    /// Transactions to write.
    pub rows: u64,
    /// Their owners, in turn (at least one).
    pub partners: Vec<PartnerId>,
    /// Their providers, one per block of 20 transactions of a partner (at
    /// least one).
    pub providers: Vec<ProviderId>,
    /// Accounts `acc-0 .. acc-{accounts-1}` (at least one).
    pub accounts: usize,
    /// Currency of every amount.
    pub currency: Currency,
    /// `created_us` of row 0; row `i` is created `i * step_us` later.
    pub start_us: i64,
    /// Microseconds between consecutive rows.
    pub step_us: i64,
}

/// What was written, and how long it took.
#[derive(Clone, Debug)]
pub struct SeedReport {
    /// Transactions written.
    pub rows: u64,
    /// Events written (two per transaction).
    pub events: u64,
    /// Wall time of the whole seeding, checkpoint included.
    pub elapsed: Duration,
    /// Size of the journal file afterwards, in bytes.
    pub file_bytes: u64,
}

/// One seeded transaction, as a benchmark needs to name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeededCall {
    /// Owner.
    pub partner: PartnerId,
    /// The partner's idempotency key.
    pub key: IdempotencyKey,
    /// The transaction id.
    pub id: TransactionId,
    /// Its sequence number (the `ListTransactions` position).
    pub seq: i64,
    /// Its kind.
    pub kind: TxKind,
    /// Its state.
    pub state: TxState,
}

/// Row `i` of a journal seeded with `spec`, computed without reading it.
pub fn seeded_call(spec: &SeedSpec, i: u64) -> Result<SeededCall, SeedError> {
    let shape = Shape::of(spec, i)?;
    let key = IdempotencyKey::parse(&format!("seed-{i}")).map_err(|_| SeedError::Spec("key"))?;
    let partner = shape.partner.clone();
    Ok(SeededCall {
        id: TransactionId::derive(&partner, &key),
        partner,
        key,
        seq: i64::try_from(i + 1).map_err(|_| SeedError::Spec("too many rows"))?,
        kind: shape.kind,
        state: shape.state,
    })
}

/// Where row `i` falls in its partner's blocks of 20.
struct Shape<'a> {
    partner: &'a PartnerId,
    provider: &'a ProviderId,
    account: usize,
    kind: TxKind,
    state: TxState,
    /// The row a rollback reverses.
    reverses: Option<u64>,
}

impl<'a> Shape<'a> {
    fn of(spec: &'a SeedSpec, i: u64) -> Result<Self, SeedError> {
        if spec.partners.is_empty() || spec.providers.is_empty() || spec.accounts == 0 {
            return Err(SeedError::Spec("it needs partners, providers and accounts"));
        }
        let n = spec.partners.len() as u64;
        let (p, j) = ((i % n) as usize, i / n);
        let block = j / 20;
        let (kind, state, reverses) = match j % 20 {
            0..=11 => (TxKind::Debit, TxState::Settled, None),
            12..=16 => (TxKind::Credit, TxState::Settled, None),
            17 => (TxKind::Debit, TxState::Declined, None),
            18 => (TxKind::Debit, TxState::RolledBack, None),
            // The partner's previous transaction: the debit of slot 18.
            _ => (TxKind::Rollback, TxState::RolledBack, Some(i - n)),
        };
        Ok(Shape {
            partner: &spec.partners[p],
            provider: &spec.providers[(block % spec.providers.len() as u64) as usize],
            account: ((block + p as u64) % spec.accounts as u64) as usize,
            kind,
            state,
            reverses,
        })
    }
}

fn amount_of(i: u64) -> i64 {
    // 1 .. 50,000 minor units, spread.
    1 + (i.wrapping_mul(7919) % 50_000) as i64
}

/// Transactions per SQL transaction while seeding.
const CHUNK: u64 = 100_000;

/// Creates the journal at `path` (it must not hold transactions yet) and
/// writes `spec.rows` transactions with their events straight into it, in
/// SQL transactions of 100,000 rows; then checkpoints the WAL. For
/// benchmarks only: see the module docs.
pub fn seed_for_benchmarks(path: &Path, spec: &SeedSpec) -> Result<SeedReport, SeedError> {
    let started = Instant::now();
    // The real schema and indexes; the journal's connections close when it
    // drops (the writer thread ends with its queue).
    drop(SqliteJournal::open(path)?);
    let mut c = Connection::open(path)?;
    c.busy_timeout(Duration::from_secs(10))?;
    c.pragma_update(None, "synchronous", "OFF")?;
    // Keep the indexes being filled (random transaction ids) in memory.
    c.pragma_update(None, "cache_size", -1_048_576)?;
    let existing: i64 = c.query_row("SELECT COUNT(*) FROM transactions", [], |r| r.get(0))?;
    if existing != 0 {
        return Err(SeedError::NotEmpty);
    }
    let currency = spec.currency.code();
    let accounts: Vec<String> = (0..spec.accounts).map(|a| format!("acc-{a}")).collect();
    let declined = decline_code(DeclineReason::InsufficientFunds);
    let mut i = 0;
    while i < spec.rows {
        let end = (i + CHUNK).min(spec.rows);
        let t = c.transaction()?;
        {
            let mut tx = t.prepare(
                "INSERT INTO transactions (seq, id, partner, idempotency_key, kind, state, \
                 decline_reason, provider, account, currency, amount, reference, reverses, \
                 created_us, updated_us, fingerprint) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            )?;
            let mut ev = t.prepare(
                "INSERT INTO events (tx_id, partner, state, decline_reason, at_us) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for row in i..end {
                let call = seeded_call(spec, row)?;
                let shape = Shape::of(spec, row)?;
                let amount_row = shape.reverses.unwrap_or(row);
                let amount = amount_of(amount_row);
                let account = &accounts[shape.account];
                let reverses = match shape.reverses {
                    Some(r) => Some(seeded_call(spec, r)?.id),
                    None => None,
                };
                let created = spec.start_us + row as i64 * spec.step_us;
                let updated = created + 1_000;
                let decline = (shape.state == TxState::Declined).then_some(declined);
                let fp = Fingerprint::of(&[
                    &shape.kind.code().to_be_bytes(),
                    shape.provider.as_str().as_bytes(),
                    account.as_bytes(),
                    currency.as_bytes(),
                    &amount.to_be_bytes(),
                ]);
                tx.execute(params![
                    call.seq,
                    call.id.as_str(),
                    call.partner.as_str(),
                    call.key.as_str(),
                    shape.kind.code(),
                    shape.state.code(),
                    decline,
                    shape.provider.as_str(),
                    account,
                    currency,
                    amount,
                    (shape.kind != TxKind::Rollback).then_some("load"),
                    reverses.as_ref().map(|r| r.as_str()),
                    created,
                    updated,
                    &fp.0[..],
                ])?;
                ev.execute(params![
                    call.id.as_str(),
                    call.partner.as_str(),
                    TxState::Sent.code(),
                    None::<i64>,
                    created
                ])?;
                ev.execute(params![
                    call.id.as_str(),
                    call.partner.as_str(),
                    shape.state.code(),
                    decline,
                    updated
                ])?;
            }
        }
        t.commit()?;
        i = end;
    }
    // The rows went in directly, not through the writer that keeps the
    // daily totals.
    super::sqlite::rebuild_daily_usage(&c)?;
    c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?;
    drop(c);
    let file_bytes = std::fs::metadata(path)?.len();
    Ok(SeedReport {
        rows: spec.rows,
        events: spec.rows * 2,
        elapsed: started.elapsed(),
        file_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{Journal, ListFilter, Lookup};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_seeded_journal_reads_back_through_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hub.db");
        let spec = SeedSpec {
            rows: 1_000,
            partners: vec![
                PartnerId::parse("lp-0").unwrap(),
                PartnerId::parse("lp-1").unwrap(),
            ],
            providers: vec![ProviderId::parse("echo-a").unwrap()],
            accounts: 3,
            currency: Currency::from_code("EUR").unwrap(),
            start_us: 1_700_000_000_000_000,
            step_us: 1_000,
        };
        let report = seed_for_benchmarks(&path, &spec).unwrap();
        assert_eq!(report.rows, 1_000);
        assert!(report.file_bytes > 0);
        let journal = SqliteJournal::open(&path).unwrap();
        for i in [0, 1, 37, 38, 39, 999] {
            let want = seeded_call(&spec, i).unwrap();
            let by_key = journal
                .get(&want.partner, &Lookup::Key(want.key.clone()))
                .await
                .unwrap()
                .unwrap();
            assert_eq!((by_key.id.clone(), by_key.seq), (want.id.clone(), want.seq));
            assert_eq!((by_key.kind, by_key.state), (want.kind, want.state));
            let by_id = journal
                .get(&want.partner, &Lookup::Id(want.id))
                .await
                .unwrap();
            assert_eq!(by_id.unwrap().key, want.key);
        }
        // Row 39 is partner lp-1's 20th transaction: the rollback of its 19th.
        let rb = seeded_call(&spec, 39).unwrap();
        assert_eq!(rb.kind, TxKind::Rollback);
        let rb = journal
            .get(&rb.partner, &Lookup::Key(rb.key))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(rb.reverses, Some(seeded_call(&spec, 37).unwrap().id));
        let page = journal
            .list(&spec.partners[1], &ListFilter::default(), 0, 100)
            .await
            .unwrap();
        assert_eq!(page.len(), 100);
        assert!(page.iter().all(|t| t.partner == spec.partners[1]));
        assert_eq!(hub_audit_count(&journal).await, 1_000);
        // A journal with transactions is never seeded again.
        drop(journal);
        assert!(matches!(
            seed_for_benchmarks(&path, &spec),
            Err(SeedError::NotEmpty)
        ));
    }

    async fn hub_audit_count(journal: &SqliteJournal) -> usize {
        crate::audit::read_journal(journal).await.unwrap().len()
    }
}
