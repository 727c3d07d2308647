//! The three targets of the benchmark issue that the ceiling and the
//! scenarios do not measure, one `hub-load` command each:
//!
//! - [`overhead`] (`hub-load overhead`): the full path through a sandbox
//!   provider against the same sandbox called directly. The same open-loop
//!   generator drives, at the same rate and for the same time, first the
//!   json-hmac adapter in-process (the very adapter the hub uses, so the
//!   same signing and HTTP client, with no hub), then the hub routing to
//!   that adapter; one sandbox process serves both. Debits only.
//! - [`soak`] (`hub-load soak`): the hub with echo providers under open
//!   load until N calls, its resident memory sampled every second; memory
//!   after warm-up, at the end, the maximum and the growth per million
//!   calls (least squares after warm-up).
//! - [`big_journal`] (`hub-load big-journal`): a journal seeded with
//!   millions of transactions ([`hub::journal::seed`]), a hub on it, and
//!   closed-loop `GetTransaction` and `ListTransactions` latency.
//!
//! The first two end with the money audit; the seeded journal is deleted
//! after the run (only the results are kept).

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use adapter_api::Currency;
use hub::domain::{PartnerId, ProviderId};
use hub::engine::{Clock, SystemClock};
use hub::journal::seed::{self, SeedSpec};
use hub_proto::settlement::v1 as pb;
use pb::settlement_service_client::SettlementServiceClient;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use tonic::metadata::AsciiMetadataValue;

use crate::audit::MoneyAudit;
use crate::generator::{self, Load, RateShape, Reconciled, RunSpec};
use crate::mix::{Mix, Op};
use crate::scenario::{self, Options, Providers};
use crate::stats::{Latency, Summary, TimePoint};

fn ms_delta(a: &Latency, b: &Latency) -> Latency {
    Latency {
        p50_ms: a.p50_ms - b.p50_ms,
        p90_ms: a.p90_ms - b.p90_ms,
        p99_ms: a.p99_ms - b.p99_ms,
        p999_ms: a.p999_ms - b.p999_ms,
        max_ms: a.max_ms - b.max_ms,
        mean_ms: a.mean_ms - b.mean_ms,
    }
}

// --------------------------------------------------------------- overhead

/// One side of the overhead comparison.
#[derive(Clone, Debug, Serialize)]
pub struct Side {
    /// `direct` or `hub`.
    pub name: String,
    /// Results of the measured run (after its warm-up).
    pub summary: Summary,
    /// Per second.
    pub series: Vec<TimePoint>,
    /// Arrivals not made (too many in flight).
    pub dropped: u64,
}

/// The full path through a sandbox against the sandbox called directly.
#[derive(Clone, Debug, Serialize)]
pub struct OverheadResult {
    /// Arrival rate of both, calls/s.
    pub rate: f64,
    /// Seconds of measured load of each.
    pub seconds: f64,
    /// Seconds of warm-up before each.
    pub warmup: f64,
    /// The json-hmac adapter called in-process, no hub.
    pub direct: Side,
    /// The hub, routing to the same adapter and sandbox.
    pub hub: Side,
    /// `hub - direct`, per quantile, ms.
    pub added: Latency,
    /// The direct calls against the sandbox's ledger: each settled debit
    /// applied exactly once with its amount; one line per discrepancy.
    pub direct_discrepancies: Vec<String>,
    /// Direct debits checked against the ledger.
    pub direct_checked: usize,
    /// The hub's calls: the money audit (generator, journal, ledger).
    pub reconciled: Reconciled,
    /// The money audit of the hub's calls.
    pub audit: MoneyAudit,
}

impl OverheadResult {
    /// Both audits are clean.
    pub fn is_clean(&self) -> bool {
        self.audit.is_clean() && self.direct_discrepancies.is_empty()
    }
}

fn open_spec(opts: &Options, label: &str, rate: f64, seconds: f64, mix: Mix) -> RunSpec {
    RunSpec {
        label: label.to_owned(),
        load: Load::Open {
            connections: 8,
            rate: RateShape::Constant(rate),
            max_in_flight: 20_000,
        },
        duration: Duration::from_secs_f64(seconds),
        max_calls: None,
        mix,
        seed: opts.seed,
        timeout: Duration::from_secs(5),
        run_id: format!("{label}-{}", SystemClock.now_us()),
        progress: opts.progress,
    }
}

/// Runs the overhead comparison at `rate` calls/s, `seconds` each after
/// `warmup` seconds each.
pub async fn overhead(
    opts: &Options,
    rate: f64,
    seconds: f64,
    warmup: f64,
) -> anyhow::Result<OverheadResult> {
    let stack = scenario::start_stack(opts, Providers::JsonHmac).await?;
    let sandbox = stack
        .sandboxes
        .first()
        .ok_or_else(|| anyhow::anyhow!("no sandbox"))?;
    let adapter = scenario::json_hmac_adapter(sandbox)?;
    let base_url = sandbox.base_url.clone();

    // Direct: warm-up, then measured.
    let mut direct_book = generator::Book::default();
    let w = generator::run_direct(
        &stack.target,
        adapter.clone(),
        &open_spec(opts, "direct-warmup", rate, warmup, Mix::debits_only()),
    )
    .await?;
    direct_book.merge_from(w.book);
    let d = generator::run_direct(
        &stack.target,
        adapter.clone(),
        &open_spec(opts, "direct", rate, seconds, Mix::debits_only()),
    )
    .await?;
    direct_book.merge_from(d.book);
    // Calls without an answer are made again with the same id (the
    // dialect replays the original answer), as the hub's own retries do.
    for call in std::mem::take(&mut direct_book.unanswered) {
        let mut answer = Err(tonic::Status::unavailable("not tried"));
        for _ in 0..20 {
            answer = generator::execute_direct(adapter.as_ref(), &stack.target, &call).await;
            if answer.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        match answer {
            Ok(tx) => direct_book.told.push(generator::Told {
                call,
                state: tx.as_ref().map(|t| t.state).unwrap_or_default(),
                tx_id: tx.map(|t| t.transaction_id).unwrap_or_default(),
            }),
            Err(_) => direct_book.unanswered.push(call),
        }
    }

    // Through the hub: warm-up, then measured.
    let mut book = generator::Book::default();
    let w = generator::run(
        &stack.target,
        &open_spec(opts, "hub-warmup", rate, warmup, Mix::debits_only()),
    )
    .await?;
    book.merge_from(w.book);
    let h = generator::run(
        &stack.target,
        &open_spec(opts, "hub", rate, seconds, Mix::debits_only()),
    )
    .await?;
    book.merge_from(h.book);
    let reconciled =
        generator::reconcile(&stack.target, &mut book, Duration::from_secs(60)).await?;

    // The direct calls against the ledger, before the stack stops it.
    let ledger = hub::audit::fetch_ledger("json-hmac", &base_url).await?;
    let (direct_checked, direct_discrepancies) = check_direct(&direct_book, &ledger);
    let direct_ids: HashSet<String> = direct_book.told.iter().map(|t| t.tx_id.clone()).collect();
    let audit = stack.finish_excluding(&book, &direct_ids).await?;
    Ok(OverheadResult {
        rate,
        seconds,
        warmup,
        added: ms_delta(&h.summary.latency, &d.summary.latency),
        direct: Side {
            name: "direct".into(),
            summary: d.summary,
            series: d.series,
            dropped: d.dropped,
        },
        hub: Side {
            name: "hub".into(),
            summary: h.summary,
            series: h.series,
            dropped: h.dropped,
        },
        direct_discrepancies,
        direct_checked,
        reconciled,
        audit,
    })
}

/// Every direct debit told SETTLED is in the ledger once, as a debit of
/// its amount; every one told DECLINED is not applied; none is unanswered.
fn check_direct(
    book: &generator::Book,
    ledger: &[hub::audit::ProviderEntry],
) -> (usize, Vec<String>) {
    let mut bad: Vec<String> = book
        .unanswered
        .iter()
        .map(|c| format!("UNANSWERED  {}: no answer even when made again", c.key))
        .collect();
    let mut by_id: BTreeMap<&str, Vec<&hub::audit::ProviderEntry>> = BTreeMap::new();
    for e in ledger {
        by_id.entry(e.tx_id.as_str()).or_default().push(e);
    }
    let settled = pb::TransactionState::Settled as i32;
    for t in &book.told {
        let found = by_id
            .get(t.tx_id.as_str())
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let applied = found
            .iter()
            .filter(|e| {
                e.kind == hub::audit::EntryKind::Debit
                    && matches!(e.amount, hub::audit::ProviderAmount::Exact(m) if m.minor_units == t.call.amount)
            })
            .count();
        match (t.state == settled, applied, found.len()) {
            (true, 1, 1) | (false, 0, 0) => {}
            _ => bad.push(format!(
                "DIRECT      {}: told state {}, the ledger holds {} entries ({} matching)",
                t.call.key,
                t.state,
                found.len(),
                applied
            )),
        }
    }
    (book.told.len(), bad)
}

// ------------------------------------------------------------------- soak

/// One memory sample of the soak.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct RssSample {
    /// Seconds since the load started.
    pub t_s: f64,
    /// Calls completed by then.
    pub calls: u64,
    /// The hub's resident memory, KiB.
    pub rss_kib: u64,
}

/// The soak's results.
#[derive(Clone, Debug, Serialize)]
pub struct SoakResult {
    /// Offered arrival rate, calls/s.
    pub rate: f64,
    /// Calls offered.
    pub calls: u64,
    /// Calls counted as warm-up.
    pub warmup_calls: u64,
    /// The operation mix.
    pub mix: String,
    /// Histograms and errors of the whole run.
    pub summary: Summary,
    /// Per second.
    pub series: Vec<TimePoint>,
    /// Arrivals not made (too many in flight).
    pub dropped: u64,
    /// Completed calls per second over the run against the offered rate:
    /// the hub kept up when this is about 1 and nothing was dropped.
    pub kept_up: f64,
    /// Memory samples, one a second.
    pub rss: Vec<RssSample>,
    /// Resident memory at the first sample after warm-up, MiB.
    pub rss_after_warmup_mib: f64,
    /// At the last sample, MiB.
    pub rss_end_mib: f64,
    /// The largest sample, MiB.
    pub rss_max_mib: f64,
    /// Least-squares slope of memory against calls after warm-up, MiB per
    /// million calls.
    pub growth_mib_per_million: f64,
    /// What the reconcile pass did.
    pub reconciled: Reconciled,
    /// The money audit (generator against journal; echo providers keep no
    /// ledger).
    pub audit: MoneyAudit,
}

/// Calls completed by each second of `series` (cumulative).
fn cumulative_calls(series: &[TimePoint]) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(series.len() + 1);
    let (mut t0, mut total) = (0.0, 0.0);
    out.push((0.0, 0.0));
    for p in series {
        total += (p.ok_per_s + p.errors_per_s) * (p.t_s - t0);
        t0 = p.t_s;
        out.push((p.t_s, total));
    }
    out
}

/// Calls completed at `t`, interpolated.
fn calls_at(cum: &[(f64, f64)], t: f64) -> f64 {
    for w in cum.windows(2) {
        let ((t0, c0), (t1, c1)) = (w[0], w[1]);
        if t <= t1 {
            let f = if t1 > t0 { (t - t0) / (t1 - t0) } else { 1.0 };
            return c0 + (c1 - c0) * f.clamp(0.0, 1.0);
        }
    }
    cum.last().map(|c| c.1).unwrap_or(0.0)
}

/// Least-squares slope of `y` against `x`.
pub fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let (num, den) = points.iter().fold((0.0, 0.0), |(a, b), (x, y)| {
        (a + (x - mx) * (y - my), b + (x - mx) * (x - mx))
    });
    if den == 0.0 { 0.0 } else { num / den }
}

/// Runs the soak: the hub with echo providers, `calls` calls of `mix` at
/// `rate` calls/s, memory sampled every second.
pub async fn soak(
    opts: &Options,
    rate: f64,
    calls: u64,
    warmup_calls: u64,
    mix: Mix,
) -> anyhow::Result<SoakResult> {
    let stack = scenario::start_stack(opts, Providers::Echo).await?;
    let seconds = calls as f64 / rate;
    let mut spec = open_spec(opts, "soak", rate, seconds, mix);
    spec.load = Load::Open {
        connections: 16,
        rate: RateShape::Constant(rate),
        max_in_flight: 20_000,
    };
    spec.max_calls = Some(calls);
    let duration = spec.duration;
    let sampler = tokio::spawn(scenario::drive(stack.hub.clone(), vec![], vec![], duration));
    let started = Instant::now();
    let run = generator::run(&stack.target, &spec).await?;
    let elapsed = started.elapsed().as_secs_f64();
    let (_, samples) = sampler.await??;
    let cum = cumulative_calls(&run.series);
    let rss: Vec<RssSample> = samples
        .iter()
        .map(|&(t_s, rss_kib)| RssSample {
            t_s,
            calls: calls_at(&cum, t_s) as u64,
            rss_kib,
        })
        .collect();
    let mib = |kib: u64| kib as f64 / 1024.0;
    let after: Vec<&RssSample> = rss.iter().filter(|s| s.calls >= warmup_calls).collect();
    let growth = slope(
        &after
            .iter()
            .map(|s| (s.calls as f64 / 1e6, mib(s.rss_kib)))
            .collect::<Vec<_>>(),
    );
    let mut book = run.book;
    let reconciled =
        generator::reconcile(&stack.target, &mut book, Duration::from_secs(120)).await?;
    let audit = stack.finish(&book).await?;
    Ok(SoakResult {
        rate,
        calls,
        warmup_calls,
        mix: spec.mix.to_string(),
        kept_up: run.summary.calls as f64 / elapsed.max(1e-9) / rate,
        rss_after_warmup_mib: after.first().map(|s| mib(s.rss_kib)).unwrap_or(0.0),
        rss_end_mib: rss.last().map(|s| mib(s.rss_kib)).unwrap_or(0.0),
        rss_max_mib: rss.iter().map(|s| mib(s.rss_kib)).fold(0.0, f64::max),
        growth_mib_per_million: growth,
        summary: run.summary,
        series: run.series,
        dropped: run.dropped,
        rss,
        reconciled,
        audit,
    })
}

// ------------------------------------------------------------ big journal

/// One read query measured against the big journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Query {
    /// `GetTransaction` by transaction id of a random seeded transaction.
    GetById,
    /// `GetTransaction` by idempotency key of a random seeded transaction.
    GetByKey,
    /// `ListTransactions`, 100 rows, a random partner, no filter, from a
    /// random position (its page token).
    List,
    /// The same, one provider's transactions only (half of them).
    ListProvider,
    /// The same, DECLINED ones only (one in 20).
    ListState,
    /// The first page of one hour of a random partner's transactions
    /// (start and end time; no page token).
    ListHour,
}

impl Query {
    /// Every query, in report order.
    pub const ALL: [Query; 6] = [
        Query::GetById,
        Query::GetByKey,
        Query::List,
        Query::ListProvider,
        Query::ListState,
        Query::ListHour,
    ];

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Query::GetById => "get_by_id",
            Query::GetByKey => "get_by_key",
            Query::List => "list",
            Query::ListProvider => "list_provider",
            Query::ListState => "list_state",
            Query::ListHour => "list_hour",
        }
    }
}

/// One query's results.
#[derive(Clone, Debug, Serialize)]
pub struct QueryResult {
    /// Which.
    pub query: Query,
    /// What it asks, in words.
    pub what: String,
    /// Histograms and errors.
    pub summary: Summary,
    /// Rows returned per call, on average.
    pub rows_per_call: f64,
}

/// The big-journal results.
#[derive(Clone, Debug, Serialize)]
pub struct BigJournalResult {
    /// Transactions seeded.
    pub rows: u64,
    /// Partners they belong to.
    pub partners: usize,
    /// Seconds the seeding took.
    pub seed_seconds: f64,
    /// Journal file size after seeding, bytes.
    pub db_bytes: u64,
    /// Journal file size after the run (WAL checkpointed by the hub), bytes.
    pub db_bytes_after: u64,
    /// Closed-loop callers: connections x streams.
    pub connections: usize,
    /// Callers per connection.
    pub streams: usize,
    /// Seconds per query.
    pub seconds: f64,
    /// Per query.
    pub queries: Vec<QueryResult>,
    /// The hub's resident memory at the end, KiB.
    pub hub_rss_kib: Option<u64>,
}

/// One closed-loop reader.
struct Reader {
    client: SettlementServiceClient<tonic::transport::Channel>,
    keys: Arc<Vec<AsciiMetadataValue>>,
    spec: Arc<SeedSpec>,
    query: Query,
    rng: StdRng,
    rows: u64,
}

impl Reader {
    async fn step(mut self) -> (Self, Op, Result<(), tonic::Code>) {
        let result = self.call().await;
        if let Ok(n) = &result {
            self.rows += *n as u64;
        }
        (self, Op::GetTransaction, result.map(|_| ()))
    }

    /// Makes one query; returns the rows it answered.
    async fn call(&mut self) -> Result<usize, tonic::Code> {
        let rows = self.spec.rows;
        let i = self.rng.random_range(0..rows);
        let row = seed::seeded_call(&self.spec, i).map_err(|_| tonic::Code::Internal)?;
        let p = (i % self.spec.partners.len() as u64) as usize;
        let key = self.keys[p].clone();
        let timeout = Duration::from_secs(10);
        let rows_of =
            |r: tonic::Response<pb::ListTransactionsResponse>| r.into_inner().transactions.len();
        use pb::get_transaction_request::Lookup;
        let get = |lookup| pb::GetTransactionRequest {
            lookup: Some(lookup),
        };
        let list = |token: String| pb::ListTransactionsRequest {
            page_size: 100,
            page_token: token,
            ..Default::default()
        };
        let token = hub::service::encode_position(row.seq);
        let answer = match self.query {
            Query::GetById => self
                .client
                .get_transaction(generator::request(
                    get(Lookup::TransactionId(row.id.as_str().into())),
                    &key,
                    timeout,
                ))
                .await
                .map(|r| usize::from(r.into_inner().transaction.is_some())),
            Query::GetByKey => self
                .client
                .get_transaction(generator::request(
                    get(Lookup::IdempotencyKey(row.key.as_str().into())),
                    &key,
                    timeout,
                ))
                .await
                .map(|r| usize::from(r.into_inner().transaction.is_some())),
            Query::List => self
                .client
                .list_transactions(generator::request(list(token), &key, timeout))
                .await
                .map(rows_of),
            Query::ListProvider => {
                let msg = pb::ListTransactionsRequest {
                    provider: self.spec.providers[0].as_str().into(),
                    ..list(token)
                };
                self.client
                    .list_transactions(generator::request(msg, &key, timeout))
                    .await
                    .map(rows_of)
            }
            Query::ListState => {
                let msg = pb::ListTransactionsRequest {
                    states: vec![pb::TransactionState::Declined as i32],
                    ..list(token)
                };
                self.client
                    .list_transactions(generator::request(msg, &key, timeout))
                    .await
                    .map(rows_of)
            }
            Query::ListHour => {
                let start = self.spec.start_us + i as i64 * self.spec.step_us;
                let ts = |us: i64| prost_types::Timestamp {
                    seconds: us.div_euclid(1_000_000),
                    nanos: (us.rem_euclid(1_000_000) * 1000) as i32,
                };
                let msg = pb::ListTransactionsRequest {
                    start_time: Some(ts(start)),
                    end_time: Some(ts(start + 3_600_000_000)),
                    ..list(String::new())
                };
                self.client
                    .list_transactions(generator::request(msg, &key, timeout))
                    .await
                    .map(rows_of)
            }
        }
        .map_err(|s| s.code());
        // Every get names a seeded transaction: it must be found.
        match answer {
            Ok(0) if matches!(self.query, Query::GetById | Query::GetByKey) => {
                Err(tonic::Code::NotFound)
            }
            other => other,
        }
    }
}

/// Seeds a journal of `rows` transactions of `opts.partners` partners in
/// a temporary directory under `dir`, starts a hub with echo providers on
/// it, and measures each of `queries` closed loop for `seconds`; the
/// journal is deleted afterwards.
#[allow(clippy::too_many_arguments)]
pub async fn big_journal(
    opts: &Options,
    dir: Option<PathBuf>,
    rows: u64,
    queries: &[Query],
    connections: usize,
    streams: usize,
    seconds: f64,
) -> anyhow::Result<BigJournalResult> {
    let tmp = match &dir {
        Some(d) => tempfile::Builder::new()
            .prefix("hub-load-big-")
            .tempdir_in(d)?,
        None => tempfile::Builder::new().prefix("hub-load-big-").tempdir()?,
    };
    let partners: Vec<PartnerId> = (0..opts.partners)
        .map(|i| PartnerId::parse(&format!("lp-{i}")))
        .collect::<Result<_, _>>()?;
    // Ten transactions a second until now: 10 million span about 12 days.
    let step_us = 100_000;
    let spec = SeedSpec {
        rows,
        partners,
        providers: vec![ProviderId::parse("echo-a")?, ProviderId::parse("echo-b")?],
        accounts: 8,
        currency: Currency::from_code("EUR")?,
        start_us: SystemClock.now_us() - rows as i64 * step_us,
        step_us,
    };
    let path = tmp.path().join("hub.db");
    if opts.progress {
        eprintln!("seeding {rows} transactions into {}", path.display());
    }
    let seeded = {
        let (path, spec) = (path.clone(), spec.clone());
        tokio::task::spawn_blocking(move || seed::seed_for_benchmarks(&path, &spec)).await??
    };
    if opts.progress {
        eprintln!(
            "seeded in {:.1} s, {:.2} GiB",
            seeded.elapsed.as_secs_f64(),
            seeded.file_bytes as f64 / (1u64 << 30) as f64
        );
    }
    let stack = scenario::start_stack_in(opts, Providers::Echo, tmp).await?;
    let keys = Arc::new(
        stack
            .target
            .partners
            .iter()
            .map(|p| AsciiMetadataValue::try_from(p.key.as_str()))
            .collect::<Result<Vec<_>, _>>()?,
    );
    let spec = Arc::new(spec);
    let mut channels = Vec::new();
    for _ in 0..connections.max(1) {
        channels.push(generator::connect(&stack.target.url).await?);
    }
    let mut results = Vec::new();
    for &query in queries {
        let mut callers = Vec::new();
        for (c, ch) in channels.iter().enumerate() {
            for s in 0..streams.max(1) {
                callers.push(Reader {
                    client: SettlementServiceClient::new(ch.clone()),
                    keys: keys.clone(),
                    spec: spec.clone(),
                    query,
                    rng: StdRng::seed_from_u64(opts.seed ^ ((c * 1000 + s) as u64) << 8),
                    rows: 0,
                });
            }
        }
        let run = generator::closed_loop(
            query.name(),
            opts.progress,
            Duration::from_secs_f64(seconds),
            None,
            callers,
            Reader::step,
        )
        .await;
        let returned: u64 = run.callers.iter().map(|r| r.rows).sum();
        results.push(QueryResult {
            query,
            what: describe(query).into(),
            rows_per_call: returned as f64 / run.summary.ok.max(1) as f64,
            summary: run.summary,
        });
    }
    let hub_rss_kib = stack.hub.lock().await.rss_kib();
    let journal = stack.journal.clone();
    // Nothing moved: the audit holds the seeded transactions only.
    let db_bytes_after = std::fs::metadata(&journal).map(|m| m.len()).unwrap_or(0);
    stack.stop().await?;
    Ok(BigJournalResult {
        rows,
        partners: spec.partners.len(),
        seed_seconds: seeded.elapsed.as_secs_f64(),
        db_bytes: seeded.file_bytes,
        db_bytes_after,
        connections,
        streams,
        seconds,
        queries: results,
        hub_rss_kib,
    })
}

fn describe(q: Query) -> &'static str {
    match q {
        Query::GetById => "GetTransaction by transaction id",
        Query::GetByKey => "GetTransaction by idempotency key",
        Query::List => "ListTransactions, 100 rows from a random position, no filter",
        Query::ListProvider => "ListTransactions, 100 rows from a random position, one provider",
        Query::ListState => "ListTransactions, 100 rows from a random position, DECLINED only",
        Query::ListHour => "ListTransactions, first 100 rows of a random hour (start/end time)",
    }
}
