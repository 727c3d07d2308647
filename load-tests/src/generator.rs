//! The load generator: settlement calls from many partners to several
//! providers over a fixed set of HTTP/2 connections, closed loop (a fixed
//! number of callers, each waiting for its answer) or open loop (calls
//! start at a fixed arrival rate whatever the answers do; latency counts
//! from the intended start, so a stalled server is not hidden).
//!
//! Every money call gets a fresh idempotency key. What each accepted money
//! call was told is kept in a [`Book`]; calls that got no answer (a
//! retryable code) are kept too, and [`reconcile`] retries them with the
//! same key after the run and waits for PENDING ones to become final, which
//! is what any client must do and what makes the money audit exact.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use adapter_api::{Adapter, ProviderTxId};
use hub::domain::{IdempotencyKey, PartnerId, TransactionId};
use hub_proto::settlement::v1 as pb;
use pb::settlement_service_client::SettlementServiceClient;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tonic::metadata::AsciiMetadataValue;
use tonic::transport::{Channel, Endpoint};

use crate::mix::{Mix, Op};
use crate::stats::{Recorder, Summary, TimePoint};

/// A partner the generator calls as.
#[derive(Clone, Debug)]
pub struct Partner {
    /// Its name in the hub's configuration.
    pub name: String,
    /// Its API key (`x-api-key`).
    pub key: String,
}

/// A provider the generator moves money at.
#[derive(Clone, Debug)]
pub struct ProviderSpec {
    /// Its name in the hub's configuration.
    pub name: String,
    /// Seeded accounts to use.
    pub accounts: Vec<String>,
    /// ISO 4217 code of the accounts.
    pub currency: String,
}

/// What to call.
#[derive(Clone, Debug)]
pub struct Target {
    /// `http://host:port` of the gRPC server.
    pub url: String,
    /// Partners to spread calls over (at least one).
    pub partners: Vec<Partner>,
    /// Providers to spread calls over (at least one).
    pub providers: Vec<ProviderSpec>,
}

/// How calls arrive.
#[derive(Clone, Debug)]
pub enum Load {
    /// `connections` x `streams` callers, each making its next call when the
    /// previous one is answered.
    Closed {
        /// HTTP/2 connections.
        connections: usize,
        /// Concurrent callers per connection.
        streams: usize,
    },
    /// Calls start at `rate` per second over `connections`, whatever the
    /// answers do; at most `max_in_flight` at once (more are counted as
    /// dropped, not made).
    Open {
        /// HTTP/2 connections, used in turn.
        connections: usize,
        /// Arrival rate over time.
        rate: RateShape,
        /// Bound on calls in flight.
        max_in_flight: usize,
    },
}

/// An arrival rate over the run.
#[derive(Clone, Debug)]
pub enum RateShape {
    /// The same rate throughout.
    Constant(f64),
    /// From `from` to `to` per second, linearly over the run's duration.
    Ramp {
        /// Rate at the start.
        from: f64,
        /// Rate at the end.
        to: f64,
    },
    /// `base` per second, and `peak` from `at` for `length`.
    Spike {
        /// The usual rate.
        base: f64,
        /// The rate during the spike.
        peak: f64,
        /// When the spike starts.
        at: Duration,
        /// How long it lasts.
        length: Duration,
    },
}

impl RateShape {
    /// Calls per second at `t` into a run of `duration`.
    pub fn at(&self, t: Duration, duration: Duration) -> f64 {
        let r = match self {
            RateShape::Constant(r) => *r,
            RateShape::Ramp { from, to } => {
                let f = (t.as_secs_f64() / duration.as_secs_f64().max(1e-9)).min(1.0);
                from + (to - from) * f
            }
            RateShape::Spike {
                base,
                peak,
                at,
                length,
            } => {
                if t >= *at && t < *at + *length {
                    *peak
                } else {
                    *base
                }
            }
        };
        r.max(1.0)
    }
}

/// One run of the generator.
#[derive(Clone, Debug)]
pub struct RunSpec {
    /// Name on the progress line.
    pub label: String,
    /// How calls arrive.
    pub load: Load,
    /// How long to generate load.
    pub duration: Duration,
    /// Stop after this many calls, if sooner.
    pub max_calls: Option<u64>,
    /// Which operations.
    pub mix: Mix,
    /// Seed of the operation, account and amount choices.
    pub seed: u64,
    /// Deadline of each call (`grpc-timeout`).
    pub timeout: Duration,
    /// Prefix of every idempotency key: unique per run.
    pub run_id: String,
    /// Print the progress line to stderr once a second.
    pub progress: bool,
}

/// A planned call.
#[derive(Clone, Debug)]
pub struct Call {
    /// Which operation.
    pub op: Op,
    /// Index into [`Target::partners`].
    pub partner: usize,
    /// Index into [`Target::providers`].
    pub provider: usize,
    /// Index into the provider's accounts.
    pub account: usize,
    /// Idempotency key of a money call; the key looked up by a get.
    pub key: String,
    /// Amount in minor units (debit, credit).
    pub amount: i64,
    /// The debit's key, for a rollback.
    pub target_key: Option<String>,
}

/// What the hub answered an accepted money call.
#[derive(Clone, Debug)]
pub struct Told {
    /// The call.
    pub call: Call,
    /// Its transaction's state as answered (`pb::TransactionState`), and
    /// after [`reconcile`] its final state.
    pub state: i32,
    /// Its transaction id.
    pub tx_id: String,
}

/// What the generator knows about its money calls.
#[derive(Clone, Debug, Default)]
pub struct Book {
    /// Accepted money calls (answered OK).
    pub told: Vec<Told>,
    /// Money calls that got a retryable error (UNAVAILABLE, ABORTED,
    /// DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, UNKNOWN, CANCELLED,
    /// INTERNAL): their outcome is not known yet.
    pub unanswered: Vec<Call>,
    /// Money calls refused with a definite code.
    pub refused: Vec<(Call, tonic::Code)>,
}

impl Book {
    /// Adds `other`'s calls to this book.
    pub fn merge_from(&mut self, other: Book) {
        self.told.extend(other.told);
        self.unanswered.extend(other.unanswered);
        self.refused.extend(other.refused);
    }
}

/// What a run produced.
pub struct RunResult {
    /// Histograms and errors.
    pub summary: Summary,
    /// One point per second.
    pub series: Vec<TimePoint>,
    /// Money calls and what they were told.
    pub book: Book,
    /// Open loop: arrivals not made because `max_in_flight` were in flight.
    pub dropped: u64,
}

/// A code after which a money call's outcome is unknown, so the same call
/// (same key) must be made again.
pub fn is_retryable(code: tonic::Code) -> bool {
    use tonic::Code as C;
    matches!(
        code,
        C::Unavailable
            | C::Aborted
            | C::DeadlineExceeded
            | C::ResourceExhausted
            | C::Unknown
            | C::Cancelled
            | C::Internal
    )
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Recently used money keys kept for gets.
const RECENT_KEYS: usize = 1024;

/// Chooses calls and keeps the book of one caller (or of the open-loop
/// scheduler).
struct Planner {
    rng: StdRng,
    mix: Mix,
    prefix: String,
    seq: u64,
    /// Closed loop: the caller's partner; open loop: partners in turn.
    partner: Option<usize>,
    partners: usize,
    providers: Vec<usize>,
    /// Settled debits not yet rolled back: (partner, key, provider, account).
    rollbackable: Vec<(usize, String, usize, usize)>,
    recent: VecDeque<(usize, String)>,
    book: Book,
}

impl Planner {
    fn new(target: &Target, spec: &RunSpec, caller: usize, partner: Option<usize>) -> Self {
        Planner {
            rng: StdRng::seed_from_u64(spec.seed ^ (caller as u64).wrapping_mul(0x9e37_79b9)),
            mix: spec.mix.clone(),
            prefix: format!("{}-{caller}", spec.run_id),
            seq: 0,
            partner,
            partners: target.partners.len(),
            providers: target.providers.iter().map(|p| p.accounts.len()).collect(),
            rollbackable: Vec::new(),
            recent: VecDeque::new(),
            book: Book::default(),
        }
    }

    fn next_key(&mut self) -> String {
        self.seq += 1;
        format!("{}-{}", self.prefix, self.seq)
    }

    fn plan(&mut self) -> Call {
        let partner = match self.partner {
            Some(p) => p,
            None => (self.seq as usize) % self.partners,
        };
        let provider = self.rng.random_range(0..self.providers.len());
        let account = self.rng.random_range(0..self.providers[provider].max(1));
        let mut op = self.mix.pick(&mut self.rng);
        if op == Op::Rollback && self.rollbackable.is_empty() {
            op = Op::Debit;
        }
        if op == Op::GetTransaction && self.recent.is_empty() {
            op = Op::GetBalance;
        }
        let mut call = Call {
            op,
            partner,
            provider,
            account,
            key: String::new(),
            amount: self.rng.random_range(1..=500),
            target_key: None,
        };
        match op {
            Op::Debit | Op::Credit => call.key = self.next_key(),
            Op::Rollback => {
                let i = self.rng.random_range(0..self.rollbackable.len());
                let (p, key, provider, account) = self.rollbackable.swap_remove(i);
                call.partner = p;
                call.provider = provider;
                call.account = account;
                call.target_key = Some(key);
                call.key = self.next_key();
            }
            Op::GetBalance => {}
            Op::GetTransaction => {
                let i = self.rng.random_range(0..self.recent.len());
                let (p, key) = self.recent[i].clone();
                call.partner = p;
                call.key = key;
            }
        }
        call
    }

    fn settle(&mut self, call: Call, answer: &Result<Option<pb::Transaction>, tonic::Status>) {
        if !call.op.is_money() {
            return;
        }
        match answer {
            Ok(tx) => {
                let (state, tx_id) = tx
                    .as_ref()
                    .map(|t| (t.state, t.transaction_id.clone()))
                    .unwrap_or_default();
                if self.recent.len() == RECENT_KEYS {
                    self.recent.pop_front();
                }
                self.recent.push_back((call.partner, call.key.clone()));
                if call.op == Op::Debit && state == pb::TransactionState::Settled as i32 {
                    self.rollbackable.push((
                        call.partner,
                        call.key.clone(),
                        call.provider,
                        call.account,
                    ));
                }
                self.book.told.push(Told { call, state, tx_id });
            }
            Err(status) if is_retryable(status.code()) => self.book.unanswered.push(call),
            Err(status) => self.book.refused.push((call, status.code())),
        }
    }
}

/// Per-partner `x-api-key` values, parsed once.
struct Keys(Vec<AsciiMetadataValue>);

impl Keys {
    fn new(target: &Target) -> anyhow::Result<Self> {
        target
            .partners
            .iter()
            .map(|p| {
                AsciiMetadataValue::try_from(p.key.as_str())
                    .map_err(|_| anyhow::anyhow!("partner {}: API key is not ASCII", p.name))
            })
            .collect::<anyhow::Result<Vec<_>>>()
            .map(Keys)
    }
}

/// `msg` as a request of the partner with API key `key`, with deadline
/// `timeout`.
pub fn request<T>(msg: T, key: &AsciiMetadataValue, timeout: Duration) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    req.metadata_mut().insert("x-api-key", key.clone());
    req.set_timeout(timeout);
    req
}

/// Makes `call` and returns the transaction it was answered with (`None`
/// for a balance).
pub async fn execute(
    client: &mut SettlementServiceClient<Channel>,
    target: &Target,
    keys: &[AsciiMetadataValue],
    call: &Call,
    timeout: Duration,
) -> Result<Option<pb::Transaction>, tonic::Status> {
    let key = &keys[call.partner];
    let provider = &target.providers[call.provider];
    let account = provider
        .accounts
        .get(call.account)
        .cloned()
        .unwrap_or_default();
    let amount = Some(pb::Money {
        currency_code: provider.currency.clone(),
        minor_units: call.amount,
    });
    match call.op {
        Op::Debit => {
            let msg = pb::DebitRequest {
                idempotency_key: call.key.clone(),
                provider: provider.name.clone(),
                account,
                amount,
                reference: "load".into(),
            };
            let r = client.debit(request(msg, key, timeout)).await?;
            Ok(r.into_inner().transaction)
        }
        Op::Credit => {
            let msg = pb::CreditRequest {
                idempotency_key: call.key.clone(),
                provider: provider.name.clone(),
                account,
                amount,
                reference: "load".into(),
            };
            let r = client.credit(request(msg, key, timeout)).await?;
            Ok(r.into_inner().transaction)
        }
        Op::Rollback => {
            let msg = pb::RollbackRequest {
                idempotency_key: call.key.clone(),
                target: call
                    .target_key
                    .clone()
                    .map(pb::rollback_request::Target::OriginalIdempotencyKey),
                provider: provider.name.clone(),
            };
            let r = client.rollback(request(msg, key, timeout)).await?;
            Ok(r.into_inner().transaction)
        }
        Op::GetBalance => {
            let msg = pb::GetBalanceRequest {
                provider: provider.name.clone(),
                account,
                currency_code: provider.currency.clone(),
            };
            client.get_balance(request(msg, key, timeout)).await?;
            Ok(None)
        }
        Op::GetTransaction => {
            let msg = pb::GetTransactionRequest {
                lookup: Some(pb::get_transaction_request::Lookup::IdempotencyKey(
                    call.key.clone(),
                )),
            };
            let r = client.get_transaction(request(msg, key, timeout)).await?;
            Ok(r.into_inner().transaction)
        }
    }
}

/// Opens one HTTP/2 connection to `url` (reconnecting by itself if it
/// drops).
pub async fn connect(url: &str) -> anyhow::Result<Channel> {
    Ok(Endpoint::from_shared(url.to_owned())?
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(2))
        .connect()
        .await?)
}

/// Where a caller's calls go: the hub (or the bare server) over one
/// HTTP/2 connection, or a provider's adapter called in-process with no
/// hub at all (the baseline of the "full path vs the provider directly"
/// comparison).
#[derive(Clone)]
enum Conn {
    Grpc(SettlementServiceClient<Channel>),
    Adapter(Arc<dyn Adapter>),
}

impl Conn {
    async fn execute(
        &mut self,
        target: &Target,
        keys: &[AsciiMetadataValue],
        call: &Call,
        timeout: Duration,
    ) -> Result<Option<pb::Transaction>, tonic::Status> {
        match self {
            Conn::Grpc(client) => execute(client, target, keys, call, timeout).await,
            Conn::Adapter(adapter) => {
                tokio::time::timeout(timeout, execute_direct(adapter.as_ref(), target, call))
                    .await
                    .unwrap_or_else(|_| Err(tonic::Status::deadline_exceeded("timed out")))
            }
        }
    }
}

/// The provider-side id the hub would send for `key` of `partner`.
fn provider_tx_id(partner: &str, key: &str) -> Result<ProviderTxId, tonic::Status> {
    let bad = |e: hub::domain::IdError| tonic::Status::invalid_argument(e.to_string());
    let partner = PartnerId::parse(partner).map_err(bad)?;
    let key = IdempotencyKey::parse(key).map_err(bad)?;
    Ok(TransactionId::derive(&partner, &key).provider_tx_id())
}

/// Makes `call` through `adapter` directly, as the hub would (same
/// provider-side id, account, amount and reference), and answers as the hub
/// would: a settled or declined transaction, or the gRPC code the hub uses
/// for a call whose outcome is not known (`UNAVAILABLE` when nothing
/// happened, `UNKNOWN` when it may have). Lookups need the hub's journal:
/// `UNIMPLEMENTED`.
pub async fn execute_direct(
    adapter: &dyn Adapter,
    target: &Target,
    call: &Call,
) -> Result<Option<pb::Transaction>, tonic::Status> {
    use adapter_api::{
        AccountId, BalanceRequest, Currency, Direction, Money, MoneyRequest, Outcome,
        RollbackRequest,
    };
    let partner = &target.partners[call.partner].name;
    let provider = &target.providers[call.provider];
    let account = AccountId::new(
        provider
            .accounts
            .get(call.account)
            .cloned()
            .unwrap_or_default(),
    );
    let currency = Currency::from_code(&provider.currency)
        .map_err(|e| tonic::Status::invalid_argument(e.to_string()))?;
    let tx_id = provider_tx_id(partner, &call.key)?;
    let (outcome, done) = match call.op {
        Op::Debit | Op::Credit => {
            let req = MoneyRequest {
                direction: if call.op == Op::Debit {
                    Direction::Debit
                } else {
                    Direction::Credit
                },
                tx_id: tx_id.clone(),
                account,
                amount: Money::new(currency, call.amount),
                reference: Some("load".into()),
            };
            (adapter.transfer(&req).await, pb::TransactionState::Settled)
        }
        Op::Rollback => {
            let original = call.target_key.as_deref().unwrap_or_default();
            let req = RollbackRequest {
                tx_id: tx_id.clone(),
                original_tx_id: provider_tx_id(partner, original)?,
                account,
                amount: None,
            };
            (
                adapter.rollback(&req).await,
                pb::TransactionState::RolledBack,
            )
        }
        Op::GetBalance => {
            let req = BalanceRequest { account, currency };
            return match adapter.balance(&req).await {
                Ok(_) => Ok(None),
                Err(e) => Err(tonic::Status::unavailable(e.to_string())),
            };
        }
        Op::GetTransaction => {
            return Err(tonic::Status::unimplemented(
                "a transaction lookup needs the hub's journal",
            ));
        }
    };
    let state = match outcome {
        Outcome::Settled(_) => done,
        Outcome::Declined(_) => pb::TransactionState::Declined,
        Outcome::NotProcessed(e) => return Err(tonic::Status::unavailable(e.to_string())),
        Outcome::Unknown(e) => return Err(tonic::Status::unknown(e.to_string())),
    };
    Ok(Some(pb::Transaction {
        transaction_id: tx_id.as_str().to_owned(),
        state: state as i32,
        ..Default::default()
    }))
}

/// Runs `spec` against `target`, printing the progress line if asked.
pub async fn run(target: &Target, spec: &RunSpec) -> anyhow::Result<RunResult> {
    let connections = match spec.load {
        Load::Closed { connections, .. } | Load::Open { connections, .. } => connections.max(1),
    };
    let mut conns = Vec::with_capacity(connections);
    for _ in 0..connections {
        conns.push(Conn::Grpc(SettlementServiceClient::new(
            connect(&target.url).await?,
        )));
    }
    run_via(target, spec, conns).await
}

/// Runs `spec` with every call made through `adapter` in-process, with no
/// hub (`target.url` is not used): the same planner, arrivals, histograms
/// and book as [`run`], so the two are comparable call for call.
pub async fn run_direct(
    target: &Target,
    adapter: Arc<dyn Adapter>,
    spec: &RunSpec,
) -> anyhow::Result<RunResult> {
    let connections = match spec.load {
        Load::Closed { connections, .. } | Load::Open { connections, .. } => connections.max(1),
    };
    run_via(target, spec, vec![Conn::Adapter(adapter); connections]).await
}

async fn run_via(target: &Target, spec: &RunSpec, conns: Vec<Conn>) -> anyhow::Result<RunResult> {
    anyhow::ensure!(!target.partners.is_empty(), "no partners");
    anyhow::ensure!(!target.providers.is_empty(), "no providers");
    let target = Arc::new(target.clone());
    let keys = Arc::new(Keys::new(&target)?.0);
    match &spec.load {
        Load::Closed { streams, .. } => {
            let streams = (*streams).max(1);
            let mut callers = Vec::with_capacity(conns.len() * streams);
            for (c, conn) in conns.iter().enumerate() {
                for s in 0..streams {
                    let caller = c * streams + s;
                    callers.push(Caller {
                        planner: Planner::new(
                            &target,
                            spec,
                            caller,
                            Some(caller % target.partners.len()),
                        ),
                        conn: conn.clone(),
                        target: target.clone(),
                        keys: keys.clone(),
                        timeout: spec.timeout,
                    });
                }
            }
            let run = closed_loop(
                &spec.label,
                spec.progress,
                spec.duration,
                spec.max_calls,
                callers,
                Caller::step,
            )
            .await;
            let mut book = Book::default();
            for c in run.callers {
                book.merge_from(c.planner.book);
            }
            Ok(RunResult {
                summary: run.summary,
                series: run.series,
                book,
                dropped: 0,
            })
        }
        Load::Open {
            rate,
            max_in_flight,
            ..
        } => {
            let (summary, series, (book, dropped)) =
                measured(&spec.label, spec.progress, |recorder, completed| {
                    open(
                        target.clone(),
                        keys.clone(),
                        spec,
                        conns,
                        rate.clone(),
                        *max_in_flight,
                        recorder,
                        completed,
                    )
                })
                .await;
            Ok(RunResult {
                summary,
                series,
                book,
                dropped,
            })
        }
    }
}

/// Runs `body` with a fresh [`Recorder`] and a count of completed calls,
/// printing the progress line once a second if asked; returns what was
/// recorded over the time `body` took, the per-second series and `body`'s
/// own result.
async fn measured<T, Fut>(
    label: &str,
    progress: bool,
    body: impl FnOnce(Arc<Recorder>, Arc<AtomicU64>) -> Fut,
) -> (Summary, Vec<TimePoint>, T)
where
    Fut: std::future::Future<Output = T>,
{
    let recorder = Arc::new(Recorder::new(64));
    let completed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let ticker = tokio::spawn(tick(
        recorder.clone(),
        completed.clone(),
        stop.clone(),
        label.to_owned(),
        progress,
    ));
    let started = Instant::now();
    let out = body(recorder.clone(), completed).await;
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let series = ticker.await.unwrap_or_default();
    (recorder.summary(elapsed), series, out)
}

/// What [`closed_loop`] measured, and its callers as they ended.
pub struct ClosedRun<C> {
    /// Histograms and errors.
    pub summary: Summary,
    /// One point per second.
    pub series: Vec<TimePoint>,
    /// Each caller's state at the end, in no particular order.
    pub callers: Vec<C>,
}

/// The closed loop: every caller makes its next call as soon as the
/// previous one is answered, for `duration` or until `max_calls` calls
/// have started. `step` makes one call with a caller's state and gives the
/// state back with the operation made and its result; the time it takes is
/// the call's latency. The generator's own closed loop (planned settlement
/// calls) and read benchmarks with calls of their own both run on it.
pub async fn closed_loop<C, F, Fut>(
    label: &str,
    progress: bool,
    duration: Duration,
    max_calls: Option<u64>,
    callers: Vec<C>,
    step: F,
) -> ClosedRun<C>
where
    C: Send + 'static,
    F: Fn(C) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = (C, Op, Result<(), tonic::Code>)> + Send + 'static,
{
    let (summary, series, callers) = measured(label, progress, |recorder, completed| async move {
        let deadline = Instant::now() + duration;
        let issued = Arc::new(AtomicU64::new(0));
        let mut workers = tokio::task::JoinSet::new();
        for (i, state) in callers.into_iter().enumerate() {
            let (recorder, completed, issued, step) = (
                recorder.clone(),
                completed.clone(),
                issued.clone(),
                step.clone(),
            );
            workers.spawn(async move {
                let mut state = state;
                while Instant::now() < deadline {
                    if max_calls.is_some_and(|m| issued.fetch_add(1, Ordering::Relaxed) >= m) {
                        break;
                    }
                    let start = Instant::now();
                    let (next, op, result) = step(state).await;
                    state = next;
                    recorder.record(i, op, start.elapsed(), result);
                    completed.fetch_add(1, Ordering::Relaxed);
                }
                state
            });
        }
        let mut out = Vec::new();
        while let Some(done) = workers.join_next().await {
            if let Ok(state) = done {
                out.push(state);
            }
        }
        out
    })
    .await;
    ClosedRun {
        summary,
        series,
        callers,
    }
}

/// One closed-loop caller of planned settlement calls.
struct Caller {
    planner: Planner,
    conn: Conn,
    target: Arc<Target>,
    keys: Arc<Vec<AsciiMetadataValue>>,
    timeout: Duration,
}

impl Caller {
    async fn step(mut self) -> (Self, Op, Result<(), tonic::Code>) {
        let call = self.planner.plan();
        let op = call.op;
        let answer = self
            .conn
            .execute(&self.target, &self.keys, &call, self.timeout)
            .await;
        let code = answer.as_ref().map(|_| ()).map_err(|s| s.code());
        self.planner.settle(call, &answer);
        (self, op, code)
    }
}

async fn tick(
    recorder: Arc<Recorder>,
    completed: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    label: String,
    progress: bool,
) -> Vec<TimePoint> {
    let mut series = Vec::new();
    let mut next = Instant::now() + Duration::from_secs(1);
    loop {
        // Once a second, and at once when the load stops (a last, shorter
        // window rather than one padded with idle time).
        while Instant::now() < next && !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        next += Duration::from_secs(1);
        let point = recorder.tick();
        if progress {
            eprintln!("{}", point.line(&label, completed.load(Ordering::Relaxed)));
        }
        series.push(point);
        if stop.load(Ordering::Relaxed) {
            return series;
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn open(
    target: Arc<Target>,
    keys: Arc<Vec<AsciiMetadataValue>>,
    spec: &RunSpec,
    conns: Vec<Conn>,
    rate: RateShape,
    max_in_flight: usize,
    recorder: Arc<Recorder>,
    completed: Arc<AtomicU64>,
) -> (Book, u64) {
    let planner = Arc::new(Mutex::new(Planner::new(&target, spec, 0, None)));
    let start = Instant::now();
    let deadline = start + spec.duration;
    let mut next = start;
    let mut in_flight = tokio::task::JoinSet::new();
    let (mut issued, mut dropped, mut turn) = (0u64, 0u64, 0usize);
    'arrivals: while next < deadline {
        tokio::time::sleep_until(next.into()).await;
        let now = Instant::now();
        while next <= now && next < deadline {
            if spec.max_calls.is_some_and(|m| issued >= m) {
                break 'arrivals;
            }
            while in_flight.try_join_next().is_some() {}
            let intended = next;
            next += Duration::from_secs_f64(1.0 / rate.at(next - start, spec.duration));
            issued += 1;
            if in_flight.len() >= max_in_flight {
                dropped += 1;
                continue;
            }
            let call = lock(&planner).plan();
            turn = (turn + 1) % conns.len();
            let mut conn = conns[turn].clone();
            let (target, keys, recorder, completed, planner) = (
                target.clone(),
                keys.clone(),
                recorder.clone(),
                completed.clone(),
                planner.clone(),
            );
            let timeout = spec.timeout;
            in_flight.spawn(async move {
                let answer = conn.execute(&target, &keys, &call, timeout).await;
                let code = answer.as_ref().map(|_| ()).map_err(|s| s.code());
                // From the intended start: queueing in the generator counts.
                recorder.record(turn, call.op, intended.elapsed(), code);
                completed.fetch_add(1, Ordering::Relaxed);
                lock(&planner).settle(call, &answer);
            });
        }
    }
    while in_flight.join_next().await.is_some() {}
    let book = std::mem::take(&mut lock(&planner).book);
    (book, dropped)
}

/// What [`reconcile`] did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Reconciled {
    /// Unanswered money calls that got an answer when made again.
    pub answered: usize,
    /// Unanswered money calls refused with a definite code when made again.
    pub refused: usize,
    /// Unanswered money calls still without an answer at the deadline.
    pub still_unanswered: usize,
    /// PENDING answers that became final.
    pub resolved: usize,
    /// PENDING answers still PENDING at the deadline.
    pub still_pending: usize,
}

/// After a run: makes every unanswered money call again with the same key
/// until it is answered (or refused), then polls every PENDING transaction
/// until it is final, all within `within`. Updates `book` in place.
pub async fn reconcile(
    target: &Target,
    book: &mut Book,
    within: Duration,
) -> anyhow::Result<Reconciled> {
    let deadline = Instant::now() + within;
    let keys = Keys::new(target)?.0;
    let mut client = SettlementServiceClient::new(connect(&target.url).await?);
    let mut done = Reconciled::default();
    let timeout = Duration::from_secs(5);
    for call in std::mem::take(&mut book.unanswered) {
        let mut backoff = Duration::from_millis(50);
        loop {
            match execute(&mut client, target, &keys, &call, timeout).await {
                Ok(tx) => {
                    let (state, tx_id) =
                        tx.map(|t| (t.state, t.transaction_id)).unwrap_or_default();
                    book.told.push(Told { call, state, tx_id });
                    done.answered += 1;
                    break;
                }
                Err(s) if is_retryable(s.code()) && Instant::now() < deadline => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
                Err(s) if is_retryable(s.code()) => {
                    book.unanswered.push(call);
                    done.still_unanswered += 1;
                    break;
                }
                Err(s) => {
                    book.refused.push((call, s.code()));
                    done.refused += 1;
                    break;
                }
            }
        }
    }
    let pending = pb::TransactionState::Pending as i32;
    for told in book.told.iter_mut().filter(|t| t.state == pending) {
        let get = Call {
            op: Op::GetTransaction,
            ..told.call.clone()
        };
        loop {
            if let Ok(Some(tx)) = execute(&mut client, target, &keys, &get, timeout).await {
                if tx.state != pending {
                    told.state = tx.state;
                    told.tx_id = tx.transaction_id;
                    done.resolved += 1;
                    break;
                }
            }
            if Instant::now() >= deadline {
                done.still_pending += 1;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(done)
}
