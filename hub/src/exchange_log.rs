//! The provider exchange log: every request the hub sends to a provider and
//! what came back (a reply, a failure, or nothing before the hub stopped
//! waiting), redacted by the adapter, with the operation, attempt number,
//! status and latency, stored compressed and indexed by transaction id and
//! time. It is what an operator opens first when a partner disputes a
//! transaction: [`ExchangeLog::exchanges`] lists a transaction's exchanges
//! in time order, its compensations and rollbacks included.
//!
//! # How exchanges get here
//!
//! [`ExchangeLog::instrument`] wraps each provider's resilience stack: every
//! call through it (a money call, a status query, a compensation, a balance
//! query; the engine's and the resolver's alike) runs inside an
//! [`adapter_api::exchange::scope`] whose recorder knows the transaction id
//! (the provider-side id is the hub's transaction id), the operation and
//! the provider. The adapter's transport records each exchange it makes;
//! the recorder numbers them 1, 2, ... within the call (retries and
//! failover included; an attempt the breaker refused sends nothing and has
//! no number) and queues them. Health probes go around the stack and are
//! not logged.
//!
//! # Never in the money path's way
//!
//! The log lives in its own SQLite file beside the journal
//! (`<journal stem>-exchanges.db` unless `exchange_log.path` says
//! otherwise), written by its own thread and connection with
//! `synchronous=NORMAL`: SQLite admits one writer per database file, so a
//! table in the journal's file would make group commits of money wait
//! behind log batches and prunes. Recording never blocks: exchanges go
//! through a bounded queue (`exchange_log.queue`) and, when it is full (the
//! writer is behind or the disk is failing), are dropped and counted
//! ([`ExchangeLogStats::dropped`]) with a warning. Losing the last few
//! entries at a crash is accepted; losing a money event is not, and the
//! journal is untouched by all of this.
//!
//! # Storage
//!
//! One row per exchange: `at_us` (when the request was sent, µs since the
//! epoch), the transaction id and the related one (the debit a rollback or
//! compensation reverses), provider, operation, attempt, URL, HTTP status,
//! how it ended, latency, and the redacted headers and bodies as JSON
//! compressed with zlib (`flate2`). Indexed on the transaction id, the
//! related id and time. [`ExchangeLog::run_pruner`] deletes entries older
//! than `exchange_log.retention` every `exchange_log.prune_interval`, in
//! small chunks.

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use adapter_api::ProviderTxId;
use adapter_api::exchange::{self, Body, Exchange, ExchangeReply, Message, Recorder};
use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tower::util::BoxCloneSyncService;

use crate::config::Config;
use crate::domain::{ProviderId, TransactionId};
use crate::engine::{Clock, Provider};
use crate::journal::JournalError;
use crate::resilience::{BoxError, Operation, ProviderCall, ProviderService, Reply};

/// `[exchange_log]`: whether provider exchanges are logged, where, and for
/// how long they are kept.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExchangeLogConfig {
    /// Log provider exchanges at all.
    pub enabled: bool,
    /// The log's SQLite file; by default beside the journal, named after
    /// it (`data/hub.db` -> `data/hub-exchanges.db`).
    pub path: Option<PathBuf>,
    /// Entries older than this are pruned (`30d`).
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
    /// How often pruning runs.
    #[serde(with = "humantime_serde")]
    pub prune_interval: Duration,
    /// Exchanges waiting for the writer; beyond this they are dropped (and
    /// counted) rather than slow the calls that made them.
    pub queue: usize,
}

impl Default for ExchangeLogConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            path: None,
            retention: Duration::from_secs(30 * 24 * 3600),
            prune_interval: Duration::from_secs(3600),
            queue: 4096,
        }
    }
}

impl ExchangeLogConfig {
    /// Checks the values; the error is the field (under `exchange_log.`)
    /// and what is wrong with it.
    pub fn validate(&self) -> Result<(), (String, &'static str)> {
        let checks: [(bool, &str, &'static str); 4] = [
            (
                self.retention >= Duration::from_secs(1),
                "retention",
                "must be at least 1s",
            ),
            (
                !self.prune_interval.is_zero(),
                "prune_interval",
                "must be positive",
            ),
            (self.queue >= 1, "queue", "must be at least 1"),
            (
                self.path.as_ref().is_none_or(|p| !p.as_os_str().is_empty()),
                "path",
                "must name a file",
            ),
        ];
        match checks.iter().find(|(ok, _, _)| !ok) {
            Some((_, field, reason)) => Err((format!("exchange_log.{field}"), reason)),
            None => Ok(()),
        }
    }

    /// The log's file: `path`, or the journal's file name with
    /// `-exchanges` before its extension, in the journal's directory.
    pub fn path_beside(&self, journal: &Path) -> PathBuf {
        if let Some(path) = &self.path {
            return path.clone();
        }
        let stem = journal
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "hub".into());
        let name = match journal.extension() {
            Some(ext) => format!("{stem}-exchanges.{}", ext.to_string_lossy()),
            None => format!("{stem}-exchanges"),
        };
        journal.with_file_name(name)
    }
}

/// What the hub asked the provider in the call an exchange belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExchangeOperation {
    /// A debit.
    Debit,
    /// A credit.
    Credit,
    /// A rollback (a partner's, or the resolver's compensation).
    Rollback,
    /// A transaction status query.
    Status,
    /// A balance query.
    Balance,
}

impl ExchangeOperation {
    /// The stored name: `debit`, `credit`, `rollback`, `status`, `balance`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExchangeOperation::Debit => "debit",
            ExchangeOperation::Credit => "credit",
            ExchangeOperation::Rollback => "rollback",
            ExchangeOperation::Status => "status",
            ExchangeOperation::Balance => "balance",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "debit" => ExchangeOperation::Debit,
            "credit" => ExchangeOperation::Credit,
            "rollback" => ExchangeOperation::Rollback,
            "status" => ExchangeOperation::Status,
            "balance" => ExchangeOperation::Balance,
            _ => return None,
        })
    }
}

/// One logged exchange, as read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExchangeEntry {
    /// Position in the log (increasing with insertion).
    pub id: i64,
    /// When the request was sent, in µs since the Unix epoch (the hub's
    /// clock).
    pub at_us: i64,
    /// The transaction the call was about (its provider-side id, which is
    /// the hub's transaction id); none for a balance query.
    pub tx_id: Option<ProviderTxId>,
    /// For a rollback or compensation: the debit it reverses.
    pub related_tx_id: Option<ProviderTxId>,
    /// The provider.
    pub provider: ProviderId,
    /// What the call asked.
    pub operation: ExchangeOperation,
    /// The exchange's number within its call, from 1: a retry or a
    /// failover to the backup endpoint is the next number.
    pub attempt: u32,
    /// The request, the reply (or failure), the latency; redacted.
    pub exchange: Exchange,
}

impl ExchangeEntry {
    /// The HTTP status of a complete reply.
    pub fn status(&self) -> Option<u16> {
        self.exchange.reply.status()
    }
}

/// Counters of the log's queue and writer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExchangeLogStats {
    /// Exchanges handed to the log.
    pub recorded: u64,
    /// Exchanges dropped because the queue was full or the writer gone.
    pub dropped: u64,
    /// Exchanges written.
    pub written: u64,
    /// Exchanges lost to a failed write.
    pub write_failures: u64,
    /// Entries pruned.
    pub pruned: u64,
}

#[derive(Default)]
struct Counters {
    recorded: AtomicU64,
    dropped: AtomicU64,
    written: AtomicU64,
    write_failures: AtomicU64,
    pruned: AtomicU64,
}

/// An exchange on its way to the writer.
struct NewEntry {
    at_us: i64,
    tx_id: Option<String>,
    related_tx_id: Option<String>,
    provider: String,
    operation: ExchangeOperation,
    attempt: u32,
    exchange: Exchange,
}

enum Msg {
    Entry(Box<NewEntry>),
    Flush(oneshot::Sender<()>),
    Prune {
        before_us: i64,
        reply: oneshot::Sender<Result<u64, String>>,
    },
}

/// The exchange log: a handle to its queue, writer thread and reader.
/// Cheap to clone; the writer ends when the last clone is dropped, after
/// writing what is queued.
#[derive(Clone)]
pub struct ExchangeLog {
    inner: Arc<Inner>,
}

struct Inner {
    queue: mpsc::Sender<Msg>,
    reader: Arc<Mutex<Connection>>,
    clock: Arc<dyn Clock>,
    retention: Duration,
    prune_interval: Duration,
    counters: Arc<Counters>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS exchanges (
    id INTEGER PRIMARY KEY,
    at_us INTEGER NOT NULL,
    tx_id TEXT,
    related_tx_id TEXT,
    provider TEXT NOT NULL,
    operation TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    url TEXT NOT NULL,
    status INTEGER,
    ended TEXT NOT NULL,
    latency_us INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS exchanges_by_tx ON exchanges (tx_id, at_us);
CREATE INDEX IF NOT EXISTS exchanges_by_related ON exchanges (related_tx_id, at_us);
CREATE INDEX IF NOT EXISTS exchanges_by_time ON exchanges (at_us);
";

/// Entries written per SQL transaction at most.
const MAX_BATCH: usize = 512;
/// Entries deleted per statement when pruning.
const PRUNE_CHUNK: usize = 2000;
/// The largest decompressed entry read back (a guard against a corrupt
/// row, far above any real entry).
const MAX_DECODED: u64 = 4 * 1024 * 1024;

fn storage(e: impl std::error::Error + Send + Sync + 'static) -> JournalError {
    JournalError::Storage(Box::new(e))
}

impl ExchangeLog {
    /// The log `config` asks for (`[exchange_log]`, beside `[journal]`),
    /// or `None` when it is disabled.
    ///
    /// # Errors
    ///
    /// [`JournalError::Storage`] when the file cannot be opened or created.
    pub fn from_config(
        config: &Config,
        clock: Arc<dyn Clock>,
    ) -> Result<Option<Self>, JournalError> {
        let log = &config.exchange_log;
        if !log.enabled {
            return Ok(None);
        }
        Self::open(&log.path_beside(&config.journal.path), log, clock).map(Some)
    }

    /// Opens (or creates) the log at `path` with `config`'s retention and
    /// queue, timestamps from `clock`, and starts its writer thread.
    ///
    /// # Errors
    ///
    /// [`JournalError::Storage`] when the file cannot be opened or created.
    pub fn open(
        path: &Path,
        config: &ExchangeLogConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, JournalError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(storage)?;
        }
        let writer = open_connection(path)?;
        writer.execute_batch(SCHEMA).map_err(storage)?;
        let reader = open_connection(path)?;
        let (queue, rx) = mpsc::channel(config.queue.max(1));
        let counters = Arc::new(Counters::default());
        let thread = Writer {
            conn: writer,
            rx,
            counters: counters.clone(),
        };
        std::thread::Builder::new()
            .name("exchange-log-writer".into())
            .spawn(move || thread.run())
            .map_err(storage)?;
        Ok(Self {
            inner: Arc::new(Inner {
                queue,
                reader: Arc::new(Mutex::new(reader)),
                clock,
                retention: config.retention,
                prune_interval: config.prune_interval,
                counters,
            }),
        })
    }

    /// Wraps every provider's stack so that its exchanges are logged (see
    /// the module docs).
    pub fn instrument(
        &self,
        mut providers: HashMap<ProviderId, Provider>,
    ) -> HashMap<ProviderId, Provider> {
        for (id, provider) in &mut providers {
            provider.service = BoxCloneSyncService::new(Scoped {
                inner: provider.service.clone(),
                log: self.clone(),
                provider: id.clone(),
            });
        }
        providers
    }

    /// Queues one exchange of `call`. Never blocks: with the queue full,
    /// the exchange is dropped and counted.
    fn push(&self, call: &CallRecorder, attempt: u32, exchange: Exchange) {
        let counters = &self.inner.counters;
        counters.recorded.fetch_add(1, Ordering::Relaxed);
        let latency_us = i64::try_from(exchange.latency.as_micros()).unwrap_or(i64::MAX);
        let entry = NewEntry {
            at_us: self.inner.clock.now_us().saturating_sub(latency_us),
            tx_id: call.tx_id.clone(),
            related_tx_id: call.related_tx_id.clone(),
            provider: call.provider.as_str().to_owned(),
            operation: call.operation,
            attempt,
            exchange,
        };
        if self
            .inner
            .queue
            .try_send(Msg::Entry(Box::new(entry)))
            .is_err()
        {
            let dropped = counters.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            // One warning per power of two, not one per exchange.
            if dropped.is_power_of_two() {
                tracing::warn!(dropped, "exchange log queue full: exchanges dropped");
            }
        }
    }

    /// Waits until everything queued before this call is written.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.inner.queue.send(Msg::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// Every exchange of transaction `tx`, oldest first: those of calls
    /// about it (the money call, its retries, status queries, a resend)
    /// and those of rollbacks and compensations that reverse it. Bodies
    /// decompressed, redacted as recorded. Exchanges still queued are not
    /// included ([`ExchangeLog::flush`] first to see them).
    ///
    /// # Errors
    ///
    /// [`JournalError::Storage`] when the file cannot be read or an entry
    /// cannot be decoded.
    pub async fn exchanges(&self, tx: &TransactionId) -> Result<Vec<ExchangeEntry>, JournalError> {
        let id = tx.as_str().to_owned();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, at_us, tx_id, related_tx_id, provider, operation, attempt, url, \
                 latency_us, body FROM exchanges WHERE tx_id = ?1 \
                 UNION ALL \
                 SELECT id, at_us, tx_id, related_tx_id, provider, operation, attempt, url, \
                 latency_us, body FROM exchanges WHERE related_tx_id = ?1 AND tx_id IS NOT ?1 \
                 ORDER BY at_us, id",
            )?;
            let rows = stmt.query_map(params![id], Row::read)?;
            rows.map(|r| r.map_err(storage)?.decode()).collect()
        })
        .await
    }

    /// Exchanges sent at or after `from_us` and before `to_us` (µs since
    /// the epoch), oldest first, at most `limit`.
    ///
    /// # Errors
    ///
    /// As [`ExchangeLog::exchanges`].
    pub async fn between(
        &self,
        from_us: i64,
        to_us: i64,
        limit: usize,
    ) -> Result<Vec<ExchangeEntry>, JournalError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, at_us, tx_id, related_tx_id, provider, operation, attempt, url, \
                 latency_us, body FROM exchanges WHERE at_us >= ?1 AND at_us < ?2 \
                 ORDER BY at_us, id LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![from_us, to_us, limit], Row::read)?;
            rows.map(|r| r.map_err(storage)?.decode()).collect()
        })
        .await
    }

    /// Deletes entries older than the retention (by the hub's clock);
    /// returns how many.
    ///
    /// # Errors
    ///
    /// [`JournalError::Storage`] when the delete fails,
    /// [`JournalError::Closed`] when the writer is gone.
    pub async fn prune(&self) -> Result<u64, JournalError> {
        let retention = i64::try_from(self.inner.retention.as_micros()).unwrap_or(i64::MAX);
        let before = self.inner.clock.now_us().saturating_sub(retention);
        self.prune_before(before).await
    }

    /// Deletes entries sent before `before_us`; returns how many.
    ///
    /// # Errors
    ///
    /// As [`ExchangeLog::prune`].
    pub async fn prune_before(&self, before_us: i64) -> Result<u64, JournalError> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .queue
            .send(Msg::Prune { before_us, reply })
            .await
            .map_err(|_| JournalError::Closed)?;
        let deleted = answer
            .await
            .map_err(|_| JournalError::Closed)?
            .map_err(|e| JournalError::Storage(e.into()))?;
        self.inner
            .counters
            .pruned
            .fetch_add(deleted, Ordering::Relaxed);
        Ok(deleted)
    }

    /// Prunes every `prune_interval` for ever (the server runs it as a
    /// background task, aborted at shutdown).
    pub async fn run_pruner(self) {
        let mut tick = tokio::time::interval(self.inner.prune_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match self.prune().await {
                Ok(0) => {}
                Ok(pruned) => tracing::info!(pruned, "exchange log pruned"),
                Err(e) => tracing::error!(error = %e, "exchange log pruning failed"),
            }
        }
    }

    /// The queue's and writer's counters.
    pub fn stats(&self) -> ExchangeLogStats {
        let c = &self.inner.counters;
        ExchangeLogStats {
            recorded: c.recorded.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            written: c.written.load(Ordering::Relaxed),
            write_failures: c.write_failures.load(Ordering::Relaxed),
            pruned: c.pruned.load(Ordering::Relaxed),
        }
    }

    async fn read<T, F>(&self, f: F) -> Result<T, JournalError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, JournalError> + Send + 'static,
    {
        let reader = self.inner.reader.clone();
        tokio::task::spawn_blocking(move || {
            let conn = reader.lock().map_err(|_| JournalError::Closed)?;
            f(&conn)
        })
        .await
        .map_err(|_| JournalError::Closed)?
    }
}

fn open_connection(path: &Path) -> Result<Connection, JournalError> {
    let c = Connection::open(path).map_err(storage)?;
    c.pragma_update(None, "journal_mode", "WAL")
        .map_err(storage)?;
    // A diagnostic log: a crash may lose its last entries, never money.
    c.pragma_update(None, "synchronous", "NORMAL")
        .map_err(storage)?;
    c.busy_timeout(Duration::from_secs(5)).map_err(storage)?;
    Ok(c)
}

/// A row as stored, before decompression.
struct Row {
    id: i64,
    at_us: i64,
    tx_id: Option<String>,
    related_tx_id: Option<String>,
    provider: String,
    operation: String,
    attempt: i64,
    url: String,
    latency_us: i64,
    body: Vec<u8>,
}

impl Row {
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            at_us: r.get(1)?,
            tx_id: r.get(2)?,
            related_tx_id: r.get(3)?,
            provider: r.get(4)?,
            operation: r.get(5)?,
            attempt: r.get(6)?,
            url: r.get(7)?,
            latency_us: r.get(8)?,
            body: r.get(9)?,
        })
    }

    fn decode(self) -> Result<ExchangeEntry, JournalError> {
        let bad =
            |what: &str| JournalError::Storage(format!("exchange {}: {what}", self.id).into());
        let provider = ProviderId::parse(&self.provider).map_err(|_| bad("provider"))?;
        let operation =
            ExchangeOperation::parse(&self.operation).ok_or_else(|| bad("operation"))?;
        let value = decompress(&self.body).ok_or_else(|| bad("body"))?;
        let (method, request, reply) = from_json(&value).ok_or_else(|| bad("body"))?;
        Ok(ExchangeEntry {
            id: self.id,
            at_us: self.at_us,
            tx_id: self.tx_id.map(ProviderTxId::new),
            related_tx_id: self.related_tx_id.map(ProviderTxId::new),
            provider,
            operation,
            attempt: u32::try_from(self.attempt).map_err(|_| bad("attempt"))?,
            exchange: Exchange {
                method,
                url: self.url,
                request,
                reply,
                latency: Duration::from_micros(u64::try_from(self.latency_us).unwrap_or(0)),
            },
        })
    }
}

/// The part of an exchange stored compressed: method, headers, bodies,
/// reply.
fn to_json(exchange: &Exchange) -> Value {
    let reply = match &exchange.reply {
        ExchangeReply::Received { status, message } => json!({
            "ended": "received",
            "status": status,
            "message": message_json(message),
        }),
        ExchangeReply::Failed { error, maybe_sent } => json!({
            "ended": "failed",
            "error": error,
            "maybe_sent": maybe_sent,
        }),
        ExchangeReply::Abandoned => json!({"ended": "abandoned"}),
    };
    json!({
        "method": exchange.method,
        "request": message_json(&exchange.request),
        "reply": reply,
    })
}

fn message_json(message: &Message) -> Value {
    json!({
        "headers": message.headers.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
        "body": message.body.text,
        "len": message.body.len,
        "truncated": message.body.truncated,
        "escaped": message.body.escaped,
    })
}

fn from_json(value: &Value) -> Option<(String, Message, ExchangeReply)> {
    let method = value.get("method")?.as_str()?.to_owned();
    let request = message_from(value.get("request")?)?;
    let reply = value.get("reply")?;
    let reply = match reply.get("ended")?.as_str()? {
        "received" => ExchangeReply::Received {
            status: u16::try_from(reply.get("status")?.as_u64()?).ok()?,
            message: message_from(reply.get("message")?)?,
        },
        "failed" => ExchangeReply::Failed {
            error: reply.get("error")?.as_str()?.to_owned(),
            maybe_sent: reply.get("maybe_sent")?.as_bool()?,
        },
        "abandoned" => ExchangeReply::Abandoned,
        _ => return None,
    };
    Some((method, request, reply))
}

fn message_from(value: &Value) -> Option<Message> {
    let headers = value
        .get("headers")?
        .as_array()?
        .iter()
        .map(|pair| {
            let pair = pair.as_array()?;
            Some((
                pair.first()?.as_str()?.to_owned(),
                pair.get(1)?.as_str()?.to_owned(),
            ))
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Message {
        headers,
        body: Body {
            text: value.get("body")?.as_str()?.to_owned(),
            len: usize::try_from(value.get("len")?.as_u64()?).ok()?,
            truncated: value.get("truncated")?.as_bool()?,
            escaped: value.get("escaped")?.as_bool()?,
        },
    })
}

/// zlib with one deflate state for a whole batch: making (and zeroing) a
/// fresh state per entry was a visible share of the log writer's time.
struct Compressor(flate2::write::ZlibEncoder<Vec<u8>>);

impl Compressor {
    fn new() -> Self {
        Self(flate2::write::ZlibEncoder::new(
            Vec::new(),
            flate2::Compression::default(),
        ))
    }

    /// `value` as JSON in one complete zlib stream.
    fn compress(&mut self, value: &Value) -> std::io::Result<Vec<u8>> {
        serde_json::to_writer(&mut self.0, value)?;
        // Finishes this stream into the buffer, then starts afresh.
        self.0.reset(Vec::new())
    }
}

fn decompress(bytes: &[u8]) -> Option<Value> {
    let mut text = Vec::new();
    flate2::read::ZlibDecoder::new(bytes)
        .take(MAX_DECODED)
        .read_to_end(&mut text)
        .ok()?;
    serde_json::from_slice(&text).ok()
}

/// The writer thread: batches of queued entries, one SQL transaction each;
/// flushes and prunes in queue order.
struct Writer {
    conn: Connection,
    rx: mpsc::Receiver<Msg>,
    counters: Arc<Counters>,
}

impl Writer {
    fn run(mut self) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while let Some(first) = self.rx.blocking_recv() {
            let mut after = Vec::new();
            match first {
                Msg::Entry(e) => batch.push(*e),
                other => after.push(other),
            }
            // Take what else is waiting, up to a batch; a flush or prune
            // ends the batch so it sees the entries queued before it.
            while batch.len() < MAX_BATCH && after.is_empty() {
                match self.rx.try_recv() {
                    Ok(Msg::Entry(e)) => batch.push(*e),
                    Ok(other) => after.push(other),
                    Err(_) => break,
                }
            }
            self.write(&mut batch);
            for msg in after {
                match msg {
                    Msg::Flush(done) => {
                        let _ = done.send(());
                    }
                    Msg::Prune { before_us, reply } => {
                        let _ = reply.send(self.prune(before_us, &mut batch));
                    }
                    Msg::Entry(e) => batch.push(*e),
                }
            }
            self.write(&mut batch);
        }
    }

    fn write(&mut self, batch: &mut Vec<NewEntry>) {
        if batch.is_empty() {
            return;
        }
        let n = batch.len() as u64;
        match insert(&mut self.conn, batch) {
            Ok(()) => {
                self.counters.written.fetch_add(n, Ordering::Relaxed);
            }
            Err(e) => {
                self.counters.write_failures.fetch_add(n, Ordering::Relaxed);
                tracing::error!(error = %e, lost = n, "exchange log write failed");
            }
        }
        batch.clear();
    }

    /// Deletes in chunks, writing entries that arrive between chunks so
    /// the queue does not fill behind a long prune.
    fn prune(&mut self, before_us: i64, batch: &mut Vec<NewEntry>) -> Result<u64, String> {
        let mut total = 0u64;
        loop {
            let deleted = self
                .conn
                .execute(
                    "DELETE FROM exchanges WHERE id IN \
                     (SELECT id FROM exchanges WHERE at_us < ?1 ORDER BY at_us LIMIT ?2)",
                    params![before_us, PRUNE_CHUNK as i64],
                )
                .map_err(|e| e.to_string())?;
            total += deleted as u64;
            if deleted < PRUNE_CHUNK {
                return Ok(total);
            }
            while batch.len() < MAX_BATCH {
                match self.rx.try_recv() {
                    Ok(Msg::Entry(e)) => batch.push(*e),
                    Ok(Msg::Flush(done)) => {
                        self.write(batch);
                        let _ = done.send(());
                    }
                    Ok(Msg::Prune { reply, .. }) => {
                        // This prune covers it.
                        let _ = reply.send(Ok(0));
                    }
                    Err(_) => break,
                }
            }
            self.write(batch);
        }
    }
}

fn insert(conn: &mut Connection, batch: &[NewEntry]) -> Result<(), JournalError> {
    let tx = conn.transaction().map_err(storage)?;
    {
        let mut stmt = tx
            .prepare_cached(
                "INSERT INTO exchanges (at_us, tx_id, related_tx_id, provider, operation, \
                 attempt, url, status, ended, latency_us, body) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )
            .map_err(storage)?;
        let mut compressor = Compressor::new();
        for e in batch {
            let ended = match &e.exchange.reply {
                ExchangeReply::Received { .. } => "received",
                ExchangeReply::Failed { .. } => "failed",
                ExchangeReply::Abandoned => "abandoned",
            };
            let body = compressor
                .compress(&to_json(&e.exchange))
                .map_err(storage)?;
            stmt.execute(params![
                e.at_us,
                e.tx_id,
                e.related_tx_id,
                e.provider,
                e.operation.as_str(),
                e.attempt,
                e.exchange.url,
                e.exchange.reply.status(),
                ended,
                i64::try_from(e.exchange.latency.as_micros()).unwrap_or(i64::MAX),
                body,
            ])
            .map_err(storage)?;
        }
    }
    tx.commit().map_err(storage)
}

/// Numbers and queues the exchanges of one provider call.
struct CallRecorder {
    log: ExchangeLog,
    provider: ProviderId,
    operation: ExchangeOperation,
    tx_id: Option<String>,
    related_tx_id: Option<String>,
    attempts: AtomicU32,
}

impl CallRecorder {
    fn of(log: &ExchangeLog, provider: &ProviderId, op: &Operation) -> Self {
        let (operation, tx_id, related_tx_id) = match op {
            Operation::Transfer(r) => (
                match r.direction {
                    adapter_api::Direction::Debit => ExchangeOperation::Debit,
                    adapter_api::Direction::Credit => ExchangeOperation::Credit,
                },
                Some(r.tx_id.as_str().to_owned()),
                None,
            ),
            Operation::Rollback(r) => (
                ExchangeOperation::Rollback,
                Some(r.tx_id.as_str().to_owned()),
                Some(r.original_tx_id.as_str().to_owned()),
            ),
            Operation::Status(r) => (
                ExchangeOperation::Status,
                Some(r.tx_id.as_str().to_owned()),
                None,
            ),
            Operation::Balance(_) => (ExchangeOperation::Balance, None, None),
        };
        Self {
            log: log.clone(),
            provider: provider.clone(),
            operation,
            tx_id,
            related_tx_id,
            attempts: AtomicU32::new(0),
        }
    }
}

impl Recorder for CallRecorder {
    fn record(&self, exchange: Exchange) {
        let attempt = self.attempts.fetch_add(1, Ordering::Relaxed) + 1;
        self.log.push(self, attempt, exchange);
    }
}

/// A provider's stack with each call's exchanges recorded.
#[derive(Clone)]
struct Scoped {
    inner: ProviderService,
    log: ExchangeLog,
    provider: ProviderId,
}

impl tower::Service<ProviderCall> for Scoped {
    type Response = Reply;
    type Error = BoxError;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Reply, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, call: ProviderCall) -> Self::Future {
        let recorder = Arc::new(CallRecorder::of(&self.log, &self.provider, &call.op));
        let future = self.inner.call(call);
        Box::pin(exchange::scope(recorder, future))
    }
}
