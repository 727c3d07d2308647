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

fn request<T>(msg: T, key: &AsciiMetadataValue, timeout: Duration) -> tonic::Request<T> {
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

/// Runs `spec` against `target`, printing the progress line if asked.
pub async fn run(target: &Target, spec: &RunSpec) -> anyhow::Result<RunResult> {
    anyhow::ensure!(!target.partners.is_empty(), "no partners");
    anyhow::ensure!(!target.providers.is_empty(), "no providers");
    let target = Arc::new(target.clone());
    let keys = Arc::new(Keys::new(&target)?.0);
    let connections = match spec.load {
        Load::Closed { connections, .. } | Load::Open { connections, .. } => connections.max(1),
    };
    let mut channels = Vec::with_capacity(connections);
    for _ in 0..connections {
        channels.push(connect(&target.url).await?);
    }
    let recorder = Arc::new(Recorder::new(64));
    let completed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let ticker = tokio::spawn(tick(
        recorder.clone(),
        completed.clone(),
        stop.clone(),
        spec.label.clone(),
        spec.progress,
    ));
    let started = Instant::now();
    let (book, dropped) = match &spec.load {
        Load::Closed { streams, .. } => {
            let book = closed(
                &target, &keys, spec, &channels, *streams, &recorder, &completed,
            )
            .await;
            (book, 0)
        }
        Load::Open {
            rate,
            max_in_flight,
            ..
        } => {
            open(
                &target,
                &keys,
                spec,
                &channels,
                rate,
                *max_in_flight,
                &recorder,
                &completed,
            )
            .await
        }
    };
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let series = ticker.await.unwrap_or_default();
    Ok(RunResult {
        summary: recorder.summary(elapsed),
        series,
        book,
        dropped,
    })
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
async fn closed(
    target: &Arc<Target>,
    keys: &Arc<Vec<AsciiMetadataValue>>,
    spec: &RunSpec,
    channels: &[Channel],
    streams: usize,
    recorder: &Arc<Recorder>,
    completed: &Arc<AtomicU64>,
) -> Book {
    let deadline = Instant::now() + spec.duration;
    let issued = Arc::new(AtomicU64::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for (c, channel) in channels.iter().enumerate() {
        for s in 0..streams.max(1) {
            let caller = c * streams.max(1) + s;
            let mut planner =
                Planner::new(target, spec, caller, Some(caller % target.partners.len()));
            let mut client = SettlementServiceClient::new(channel.clone());
            let (target, keys, recorder, completed, issued) = (
                target.clone(),
                keys.clone(),
                recorder.clone(),
                completed.clone(),
                issued.clone(),
            );
            let (max, timeout) = (spec.max_calls, spec.timeout);
            workers.spawn(async move {
                while Instant::now() < deadline {
                    if max.is_some_and(|m| issued.fetch_add(1, Ordering::Relaxed) >= m) {
                        break;
                    }
                    let call = planner.plan();
                    let start = Instant::now();
                    let answer = execute(&mut client, &target, &keys, &call, timeout).await;
                    let code = answer.as_ref().map(|_| ()).map_err(|s| s.code());
                    recorder.record(caller, call.op, start.elapsed(), code);
                    completed.fetch_add(1, Ordering::Relaxed);
                    planner.settle(call, &answer);
                }
                planner.book
            });
        }
    }
    let mut book = Book::default();
    while let Some(done) = workers.join_next().await {
        if let Ok(b) = done {
            book.merge_from(b);
        }
    }
    book
}

#[allow(clippy::too_many_arguments)]
async fn open(
    target: &Arc<Target>,
    keys: &Arc<Vec<AsciiMetadataValue>>,
    spec: &RunSpec,
    channels: &[Channel],
    rate: &RateShape,
    max_in_flight: usize,
    recorder: &Arc<Recorder>,
    completed: &Arc<AtomicU64>,
) -> (Book, u64) {
    let planner = Arc::new(Mutex::new(Planner::new(target, spec, 0, None)));
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
            turn = (turn + 1) % channels.len();
            let mut client = SettlementServiceClient::new(channels[turn].clone());
            let (target, keys, recorder, completed, planner) = (
                target.clone(),
                keys.clone(),
                recorder.clone(),
                completed.clone(),
                planner.clone(),
            );
            let timeout = spec.timeout;
            in_flight.spawn(async move {
                let answer = execute(&mut client, &target, &keys, &call, timeout).await;
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
