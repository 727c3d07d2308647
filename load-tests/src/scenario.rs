//! The benchmarks and scenarios of the `hub-load` binary. Everything runs
//! as processes on loopback: the release hub, the sandbox providers (each
//! with its control surface on) and the bare server.
//!
//! - [`bench`]: the ceiling. The bare server and the hub with two
//!   [`echo`](hub::echo) providers, driven in turn by the same closed-loop
//!   generator (same connections x streams, debits only); then the hub
//!   with the standard mix. Throughputs are reported as ratios.
//! - [`scenario`]: open-loop load through the three sandbox providers
//!   (json-hmac, json-rsa, form-md5) with the standard mix, shaped and
//!   faulted by [`Kind`].
//!
//! Both end with the money audit ([`crate::audit`]); a discrepancy fails
//! the run.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hub::engine::{Clock, SystemClock};
use hub::journal::{Journal, SqliteJournal};
use serde::Serialize;
use tokio::sync::Mutex;

use crate::audit::{self, MoneyAudit};
use crate::generator::{self, Load, Partner, ProviderSpec, RateShape, Reconciled, RunSpec, Target};
use crate::mix::Mix;
use crate::procs::{self, Bins, Proc};
use crate::stats::{Summary, TimePoint};

/// Options shared by every run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Where the release binaries are.
    pub bins: Bins,
    /// Where results (JSON, report) go.
    pub out: PathBuf,
    /// Partners to spread the load over.
    pub partners: usize,
    /// Print the progress line.
    pub progress: bool,
    /// Seed of the generator.
    pub seed: u64,
}

const ACCOUNTS: usize = 8;
const CURRENCY: &str = "EUR";
/// Seeded balance per account, in minor units: never the reason a debit is
/// declined.
const BALANCE: i64 = 1_000_000_000_000;
const HMAC_SECRET: &str = "load-json-hmac-secret";
const MD5_SECRET: &str = "load-form-md5-secret";
const OPERATOR: &str = "hub";

/// A sandbox provider process.
pub struct SandboxProc {
    /// Its provider name in the hub.
    pub provider: String,
    /// Its dialect.
    pub dialect: &'static str,
    /// `http://127.0.0.1:port`.
    pub base_url: String,
    proc: Proc,
}

/// Which providers a hub is configured with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Providers {
    /// Two echo providers (no network).
    Echo,
    /// A sandbox process per built-in dialect.
    Sandboxes,
    /// One json-hmac sandbox process (provider `hmac`).
    JsonHmac,
}

impl Providers {
    fn sandboxes(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Providers::Echo => &[],
            Providers::Sandboxes => &[
                ("hmac", "json-hmac"),
                ("rsa", "json-rsa"),
                ("md5", "form-md5"),
            ],
            Providers::JsonHmac => &[("hmac", "json-hmac")],
        }
    }
}

/// A running hub with its providers, and the generator's view of it.
pub struct Stack {
    /// The hub process (shared with the event driver).
    pub hub: Arc<Mutex<Proc>>,
    /// The sandbox processes.
    pub sandboxes: Vec<SandboxProc>,
    /// The journal file.
    pub journal: PathBuf,
    /// What the generator calls.
    pub target: Target,
    _dir: tempfile::TempDir,
}

fn rsa_keys() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../adapters/samples/json-rsa/keys")
}

fn accounts() -> Vec<String> {
    (0..ACCOUNTS).map(|i| format!("acc-{i}")).collect()
}

fn seeds(scale: i64) -> Vec<String> {
    accounts()
        .iter()
        .flat_map(|a| {
            [
                "--seed".to_owned(),
                format!("{a}:{CURRENCY}:{}", BALANCE * scale),
            ]
        })
        .collect()
}

async fn start_sandbox(
    bins: &Bins,
    dir: &Path,
    provider: &str,
    dialect: &'static str,
) -> anyhow::Result<SandboxProc> {
    let addr = procs::free_addr()?;
    let mut args = vec!["--listen".to_owned(), addr.to_string(), "--control".into()];
    let (bin, scale) = match dialect {
        "json-hmac" => {
            args.extend(["--secret", HMAC_SECRET, "--operator", OPERATOR].map(String::from));
            ("sandbox-json-hmac", 1)
        }
        // 1e-5 units: EUR cents x 1000.
        "json-rsa" => ("sandbox-json-rsa", 1000),
        _ => {
            args.extend(["--secret", MD5_SECRET, "--provider-id", OPERATOR].map(String::from));
            ("sandbox-form-md5", 1)
        }
    };
    args.extend(seeds(scale));
    let proc = Proc::start(
        provider,
        bins.path(bin)?,
        args,
        vec![("RUST_LOG".into(), "warn".into())],
        dir.join(format!("{provider}.log")),
        addr,
    )
    .await?;
    Ok(SandboxProc {
        provider: provider.to_owned(),
        dialect,
        base_url: format!("http://{addr}"),
        proc,
    })
}

/// The json-hmac adapter for sandbox `s`, configured as the hub configures
/// it ([`provider_toml`]): for calling the sandbox directly, without the hub.
pub fn json_hmac_adapter(s: &SandboxProc) -> anyhow::Result<Arc<dyn adapter_api::Adapter>> {
    anyhow::ensure!(
        s.dialect == "json-hmac",
        "{} is not a json-hmac sandbox",
        s.provider
    );
    let config = adapter_json_hmac::JsonHmacConfig {
        base_url: s.base_url.clone(),
        secret: HMAC_SECRET.into(),
        operator: OPERATOR.into(),
        ca_file: None,
    };
    Ok(Arc::new(adapter_json_hmac::JsonHmacAdapter::new(config)?))
}

fn provider_toml(s: &SandboxProc) -> String {
    let common = "timeout = \"2s\"\nconcurrency = 4096\n";
    match s.dialect {
        "json-hmac" => format!(
            "[providers.{}]\ndialect = \"json-hmac\"\nbase_url = \"{}\"\nsecret = \"{HMAC_SECRET}\"\noperator = \"{OPERATOR}\"\n{common}",
            s.provider, s.base_url
        ),
        "json-rsa" => format!(
            "[providers.{}]\ndialect = \"json-rsa\"\nbase_url = \"{}\"\nprivate_key_file = \"{}\"\nprovider_public_key_file = \"{}\"\n{common}",
            s.provider,
            s.base_url,
            rsa_keys().join("operator_private.pem").display(),
            rsa_keys().join("provider_public.pem").display()
        ),
        _ => format!(
            "[providers.{}]\ndialect = \"form-md5\"\nbase_url = \"{}\"\nsecret = \"{MD5_SECRET}\"\nprovider_id = \"{OPERATOR}\"\n{common}",
            s.provider, s.base_url
        ),
    }
}

/// The hub configuration of a load run: plaintext on `listen`, the
/// journal at `journal` (SQLite, synchronous=FULL as always), the given
/// provider entries, and `partners` partners `lp-N` allowed on every
/// provider with a rate limit far above the load (so the limiter runs but
/// never refuses), metrics on a free port.
pub fn hub_toml(
    listen: std::net::SocketAddr,
    journal: &Path,
    providers: &[String],
    provider_entries: &str,
    partners: usize,
) -> String {
    let names = providers
        .iter()
        .map(|p| format!("\"{p}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let mut toml = format!(
        "[server]\nlisten = \"{listen}\"\nplaintext = true\nshutdown_grace = \"5s\"\n\n[metrics]\nlisten = \"127.0.0.1:0\"\n\n[journal]\npath = \"{}\"\n\n{provider_entries}\n",
        journal.display()
    );
    for i in 0..partners {
        toml.push_str(&format!(
            "[partners.lp-{i}]\nproviders = [{names}]\n[partners.lp-{i}.rate]\nper_second = 1000000\nburst = 1000000\nper_provider_per_second = 1000000\nper_provider_burst = 1000000\n\n"
        ));
    }
    toml
}

/// Creates an API key for each of `partners` partners `lp-N` in the journal
/// at `path`.
pub async fn create_keys(path: &Path, partners: usize) -> anyhow::Result<Vec<Partner>> {
    let journal = SqliteJournal::open(path)?;
    let mut out = Vec::with_capacity(partners);
    for i in 0..partners {
        let name = format!("lp-{i}");
        let id = hub::domain::PartnerId::parse(&name)?;
        let key = hub::auth::generate_key(&id, "load", SystemClock.now_us());
        journal.insert_key(key.record).await?;
        out.push(Partner { name, key: key.key });
    }
    Ok(out)
}

/// Starts sandboxes (if asked) and the hub, with keys for the partners.
pub async fn start_stack(opts: &Options, providers: Providers) -> anyhow::Result<Stack> {
    let dir = tempfile::Builder::new().prefix("hub-load-").tempdir()?;
    start_stack_in(opts, providers, dir).await
}

/// [`start_stack`] in `dir`, whose `hub.db` may already hold a journal
/// (a seeded one); `dir` is deleted with the stack.
pub async fn start_stack_in(
    opts: &Options,
    providers: Providers,
    dir: tempfile::TempDir,
) -> anyhow::Result<Stack> {
    let mut sandboxes = Vec::new();
    let mut specs = Vec::new();
    let mut entries = String::new();
    match providers {
        Providers::Echo => {
            for name in ["echo-a", "echo-b"] {
                entries.push_str(&format!(
                    "[providers.{name}]\ndialect = \"echo\"\nconcurrency = 4096\n\n"
                ));
                specs.push(ProviderSpec {
                    name: name.into(),
                    accounts: accounts(),
                    currency: CURRENCY.into(),
                });
            }
        }
        Providers::Sandboxes | Providers::JsonHmac => {
            for &(name, dialect) in providers.sandboxes() {
                let s = start_sandbox(&opts.bins, dir.path(), name, dialect).await?;
                entries.push_str(&provider_toml(&s));
                entries.push('\n');
                specs.push(ProviderSpec {
                    name: name.into(),
                    accounts: accounts(),
                    currency: CURRENCY.into(),
                });
                sandboxes.push(s);
            }
        }
    }
    let journal = dir.path().join("hub.db");
    let partners = create_keys(&journal, opts.partners).await?;
    let listen = procs::free_addr()?;
    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    let config = dir.path().join("hub.toml");
    std::fs::write(
        &config,
        hub_toml(listen, &journal, &names, &entries, opts.partners),
    )?;
    let hub = Proc::start(
        "hub",
        opts.bins.path("hub")?,
        vec![
            "--config".into(),
            config.display().to_string(),
            "serve".into(),
        ],
        vec![("HUB_LOG".into(), "warn".into())],
        dir.path().join("hub.log"),
        listen,
    )
    .await?;
    Ok(Stack {
        hub: Arc::new(Mutex::new(hub)),
        sandboxes,
        journal,
        target: Target {
            url: format!("http://{listen}"),
            partners,
            providers: specs,
        },
        _dir: dir,
    })
}

impl Stack {
    /// Stops the hub gracefully, then audits the journal against the
    /// generator's book and every sandbox's ledger, then stops the
    /// sandboxes.
    pub async fn finish(self, book: &generator::Book) -> anyhow::Result<MoneyAudit> {
        self.finish_excluding(book, &HashSet::new()).await
    }

    /// Stops the hub gracefully and the sandboxes, with no audit.
    pub async fn stop(self) -> anyhow::Result<()> {
        let hub = Arc::try_unwrap(self.hub)
            .map_err(|_| anyhow::anyhow!("the hub is still shared"))?
            .into_inner();
        hub.stop(Duration::from_secs(20)).await?;
        for s in self.sandboxes {
            let _ = s.proc.stop(Duration::from_secs(5)).await;
        }
        Ok(())
    }

    /// [`Stack::finish`], leaving out of the ledger audit the provider
    /// transactions in `not_through_hub` (calls made to a sandbox directly,
    /// which the caller audits itself).
    pub async fn finish_excluding(
        self,
        book: &generator::Book,
        not_through_hub: &HashSet<String>,
    ) -> anyhow::Result<MoneyAudit> {
        let hub = Arc::try_unwrap(self.hub)
            .map_err(|_| anyhow::anyhow!("the hub is still shared"))?
            .into_inner();
        hub.stop(Duration::from_secs(20)).await?;
        let journal = SqliteJournal::open(&self.journal)?;
        let records = hub::audit::read_journal(&journal).await?;
        let ledgers = if self.sandboxes.is_empty() {
            None
        } else {
            let mut views = BTreeMap::new();
            let mut ids = Vec::new();
            for s in &self.sandboxes {
                let id = hub::domain::ProviderId::parse(&s.provider)?;
                let mut entries = hub::audit::fetch_ledger(s.dialect, &s.base_url).await?;
                entries.retain(|e| !not_through_hub.contains(&e.tx_id));
                views.insert(id.clone(), entries);
                ids.push(id);
            }
            Some(hub::audit::audit_only(&records, &views, &ids))
        };
        for s in self.sandboxes {
            let _ = s.proc.stop(Duration::from_secs(5)).await;
        }
        Ok(audit::check(&self.target, book, &records, ledgers.as_ref()))
    }
}

// ------------------------------------------------------------------ bench

/// One measured run of the ceiling comparison.
#[derive(Clone, Debug, Serialize)]
pub struct Measured {
    /// What was measured.
    pub name: String,
    /// The operation mix.
    pub mix: String,
    /// Results.
    pub summary: Summary,
    /// Per second.
    pub series: Vec<TimePoint>,
    /// Resident memory of the server at the end, KiB.
    pub server_rss_kib: Option<u64>,
}

/// The ceiling comparison.
#[derive(Clone, Debug, Serialize)]
pub struct BenchResult {
    /// HTTP/2 connections.
    pub connections: usize,
    /// Callers per connection.
    pub streams: usize,
    /// Seconds per measured run.
    pub seconds: f64,
    /// Bare server, debits.
    pub bare: Measured,
    /// Hub with echo providers, debits.
    pub hub_echo: Measured,
    /// Hub with echo providers, the standard mix.
    pub hub_echo_mix: Measured,
    /// `hub_echo.ok_per_s / bare.ok_per_s`.
    pub ratio: f64,
    /// The money audit of the echo runs.
    pub audit: MoneyAudit,
}

#[allow(clippy::too_many_arguments)]
async fn measure(
    opts: &Options,
    name: &str,
    target: &Target,
    load: Load,
    mix: Mix,
    seconds: f64,
    warmup: f64,
    server: &Proc,
    book: &mut generator::Book,
) -> anyhow::Result<Measured> {
    let mut spec = RunSpec {
        label: format!("{name} warm-up"),
        load,
        duration: Duration::from_secs_f64(warmup),
        max_calls: None,
        mix: mix.clone(),
        seed: opts.seed,
        timeout: Duration::from_secs(10),
        run_id: format!("{name}-w-{}", SystemClock.now_us()),
        progress: opts.progress,
    };
    if warmup > 0.0 {
        let w = generator::run(target, &spec).await?;
        book.merge_from(w.book);
    }
    spec.label = name.to_owned();
    spec.duration = Duration::from_secs_f64(seconds);
    spec.run_id = format!("{name}-{}", SystemClock.now_us());
    let r = generator::run(target, &spec).await?;
    book.merge_from(r.book);
    Ok(Measured {
        name: name.to_owned(),
        mix: mix.to_string(),
        summary: r.summary,
        series: r.series,
        server_rss_kib: server.rss_kib(),
    })
}

/// The ceiling: bare server and hub (echo providers) under the same
/// closed-loop load, one after the other.
pub async fn bench(
    opts: &Options,
    connections: usize,
    streams: usize,
    seconds: f64,
) -> anyhow::Result<BenchResult> {
    let warmup = 3.0;
    let load = Load::Closed {
        connections,
        streams,
    };
    let dir = tempfile::Builder::new()
        .prefix("hub-load-bare-")
        .tempdir()?;
    let bare_addr = procs::free_addr()?;
    let bare = Proc::start(
        "bare",
        std::env::current_exe()?,
        vec![
            "bare-server".into(),
            "--listen".into(),
            bare_addr.to_string(),
        ],
        vec![],
        dir.path().join("bare.log"),
        bare_addr,
    )
    .await?;
    let stack = start_stack(opts, Providers::Echo).await?;
    let bare_target = Target {
        url: format!("http://{bare_addr}"),
        ..stack.target.clone()
    };
    let mut bare_book = generator::Book::default();
    let bare_run = measure(
        opts,
        "bare",
        &bare_target,
        load.clone(),
        Mix::debits_only(),
        seconds,
        warmup,
        &bare,
        &mut bare_book,
    )
    .await?;
    bare.stop(Duration::from_secs(5)).await?;
    let mut book = generator::Book::default();
    let (hub_echo, hub_echo_mix) = {
        let hub = stack.hub.lock().await;
        let debits = measure(
            opts,
            "hub-echo",
            &stack.target,
            load.clone(),
            Mix::debits_only(),
            seconds,
            warmup,
            &hub,
            &mut book,
        )
        .await?;
        let mixed = measure(
            opts,
            "hub-echo-mix",
            &stack.target,
            load,
            Mix::standard(),
            seconds,
            0.0,
            &hub,
            &mut book,
        )
        .await?;
        (debits, mixed)
    };
    let reconciled =
        generator::reconcile(&stack.target, &mut book, Duration::from_secs(60)).await?;
    if opts.progress {
        eprintln!("reconciled: {reconciled:?}");
    }
    let audit = stack.finish(&book).await?;
    let ratio = hub_echo.summary.ok_per_s / bare_run.summary.ok_per_s.max(1e-9);
    Ok(BenchResult {
        connections,
        streams,
        seconds,
        bare: bare_run,
        hub_echo,
        hub_echo_mix,
        ratio,
        audit,
    })
}

// -------------------------------------------------------------- scenarios

/// A scenario: a load shape, and maybe a fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The same rate throughout.
    Steady,
    /// From a tenth of the rate to three times it.
    Ramp,
    /// Four times the rate for a sixth of the run, from a third in.
    Spike,
    /// The json-hmac provider answers 503 to everything from a third to two
    /// thirds of the run, then recovers.
    Outage,
    /// The json-hmac provider takes 200 ms more per request from a third to
    /// two thirds of the run.
    Slow,
    /// The hub is killed with SIGKILL halfway and restarted at once.
    Kill,
}

impl Kind {
    /// Every scenario, in report order.
    pub const ALL: [Kind; 6] = [
        Kind::Steady,
        Kind::Ramp,
        Kind::Spike,
        Kind::Outage,
        Kind::Slow,
        Kind::Kill,
    ];

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Steady => "steady",
            Kind::Ramp => "ramp",
            Kind::Spike => "spike",
            Kind::Outage => "outage",
            Kind::Slow => "slow",
            Kind::Kill => "kill",
        }
    }

    /// Has a fault (and gets plots).
    pub fn is_fault(self) -> bool {
        matches!(self, Kind::Outage | Kind::Slow | Kind::Kill)
    }
}

/// Something done to the system at a point in the run.
#[derive(Clone, Debug)]
pub(crate) enum Action {
    Fault(usize, String),
    Clear(usize),
    KillHub,
}

/// One event as it happened.
#[derive(Clone, Debug, Serialize)]
pub struct Event {
    /// Seconds since the load started.
    pub t_s: f64,
    /// What happened.
    pub what: String,
}

/// A scenario's results.
#[derive(Clone, Debug, Serialize)]
pub struct ScenarioResult {
    /// Which.
    pub name: &'static str,
    /// Arrival rate (calls/s, the base of the shape).
    pub rate: f64,
    /// Seconds of load.
    pub seconds: f64,
    /// The operation mix.
    pub mix: String,
    /// Histograms and errors.
    pub summary: Summary,
    /// Per second.
    pub series: Vec<TimePoint>,
    /// Arrivals not made (too many in flight).
    pub dropped: u64,
    /// What happened when.
    pub events: Vec<Event>,
    /// Hub resident memory per second, KiB: (t_s, rss).
    pub hub_rss_kib: Vec<(f64, u64)>,
    /// What the reconcile pass did.
    pub reconciled: Reconciled,
    /// The money audit.
    pub audit: MoneyAudit,
}

/// Runs scenario `kind` at `rate` calls/s for `seconds`.
pub async fn scenario(
    opts: &Options,
    kind: Kind,
    rate: f64,
    seconds: f64,
) -> anyhow::Result<ScenarioResult> {
    let stack = start_stack(opts, Providers::Sandboxes).await?;
    let d = Duration::from_secs_f64(seconds);
    let shape = match kind {
        Kind::Ramp => RateShape::Ramp {
            from: rate / 10.0,
            to: rate * 3.0,
        },
        Kind::Spike => RateShape::Spike {
            base: rate,
            peak: rate * 4.0,
            at: d / 3,
            length: d / 6,
        },
        _ => RateShape::Constant(rate),
    };
    let actions = match kind {
        Kind::Outage => vec![
            (
                d / 3,
                Action::Fault(0, r#"{"kind":{"error_rate":1.0}}"#.into()),
            ),
            (d * 2 / 3, Action::Clear(0)),
        ],
        Kind::Slow => vec![
            (
                d / 3,
                Action::Fault(0, r#"{"kind":{"latency":"200ms"}}"#.into()),
            ),
            (d * 2 / 3, Action::Clear(0)),
        ],
        Kind::Kill => vec![(d / 2, Action::KillHub)],
        _ => vec![],
    };
    let spec = RunSpec {
        label: kind.name().to_owned(),
        load: Load::Open {
            connections: 8,
            rate: shape,
            max_in_flight: 20_000,
        },
        duration: d,
        max_calls: None,
        mix: Mix::standard(),
        seed: opts.seed,
        timeout: Duration::from_secs(5),
        run_id: format!("{}-{}", kind.name(), SystemClock.now_us()),
        progress: opts.progress,
    };
    let urls: Vec<String> = stack.sandboxes.iter().map(|s| s.base_url.clone()).collect();
    let driver = tokio::spawn(drive(stack.hub.clone(), urls.clone(), actions, d));
    let run = generator::run(&stack.target, &spec).await?;
    let (events, rss) = driver.await.context("event driver")??;
    for url in &urls {
        procs::control("DELETE", &format!("{url}/control/faults"), None).await?;
    }
    let mut book = run.book;
    let reconciled =
        generator::reconcile(&stack.target, &mut book, Duration::from_secs(120)).await?;
    if opts.progress {
        eprintln!("[{}] reconciled: {reconciled:?}", kind.name());
    }
    let audit = stack.finish(&book).await?;
    Ok(ScenarioResult {
        name: kind.name(),
        rate,
        seconds,
        mix: spec.mix.to_string(),
        summary: run.summary,
        series: run.series,
        dropped: run.dropped,
        events,
        hub_rss_kib: rss,
        reconciled,
        audit,
    })
}

/// Fires `actions` at their times and samples the hub's memory once a
/// second, for `duration`.
pub(crate) async fn drive(
    hub: Arc<Mutex<Proc>>,
    sandboxes: Vec<String>,
    mut actions: Vec<(Duration, Action)>,
    duration: Duration,
) -> anyhow::Result<(Vec<Event>, Vec<(f64, u64)>)> {
    let start = Instant::now();
    let mut events = Vec::new();
    let mut rss = Vec::new();
    actions.sort_by_key(|(t, _)| *t);
    let mut actions = actions.into_iter().peekable();
    let mut next_sample = Duration::ZERO;
    while start.elapsed() < duration {
        let next_action = actions.peek().map(|(t, _)| *t).unwrap_or(duration);
        let wake = next_action.min(next_sample).min(duration);
        tokio::time::sleep_until((start + wake).into()).await;
        let now = start.elapsed();
        if now >= next_sample {
            if let Some(kib) = hub.lock().await.rss_kib() {
                rss.push((now.as_secs_f64(), kib));
            }
            next_sample += Duration::from_secs(1);
        }
        while actions.peek().is_some_and(|(t, _)| *t <= now) {
            let Some((_, action)) = actions.next() else {
                break;
            };
            let t = |start: Instant| start.elapsed().as_secs_f64();
            match action {
                Action::Fault(i, body) => {
                    procs::control(
                        "POST",
                        &format!("{}/control/faults", sandboxes[i]),
                        Some(body.clone()),
                    )
                    .await?;
                    events.push(Event {
                        t_s: t(start),
                        what: format!("fault on provider {i}: {body}"),
                    });
                }
                Action::Clear(i) => {
                    procs::control("DELETE", &format!("{}/control/faults", sandboxes[i]), None)
                        .await?;
                    events.push(Event {
                        t_s: t(start),
                        what: format!("faults cleared on provider {i}"),
                    });
                }
                Action::KillHub => {
                    let mut hub = hub.lock().await;
                    hub.kill9().await?;
                    events.push(Event {
                        t_s: t(start),
                        what: "hub killed (SIGKILL)".into(),
                    });
                    hub.restart().await?;
                    events.push(Event {
                        t_s: t(start),
                        what: "hub restarted and listening".into(),
                    });
                }
            }
        }
    }
    Ok((events, rss))
}

/// Fails if an audit found a discrepancy.
pub fn require_clean(name: &str, audit: &MoneyAudit) -> anyhow::Result<()> {
    if !audit.is_clean() {
        bail!("{name}: {audit}");
    }
    Ok(())
}
