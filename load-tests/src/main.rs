//! `hub-load`: the load generator, the bare server, the ceiling benchmark
//! and the fault scenarios. See `load-tests/README.md`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use hub_load::generator::{self, Load, Partner, ProviderSpec, RateShape, RunSpec, Target};
use hub_load::mix::Mix;
use hub_load::procs::Bins;
use hub_load::scenario::{self, Kind, Options};
use hub_load::targets::{self, Query};

/// Load tests of the hub.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Where JSON results and the report go.
    #[arg(long, default_value = "load-tests/report", global = true)]
    out: PathBuf,
    /// Directory of the release binaries (hub, sandbox-*); default: this
    /// executable's.
    #[arg(long, global = true)]
    bins: Option<PathBuf>,
    /// Partners to spread the load over.
    #[arg(long, default_value_t = 8, global = true)]
    partners: usize,
    /// Seed of the generator's choices.
    #[arg(long, default_value_t = 1, global = true)]
    seed: u64,
    /// No progress line.
    #[arg(long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the bare SettlementService (the ceiling) until killed.
    BareServer {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:50061")]
        listen: std::net::SocketAddr,
    },
    /// The ceiling: bare server vs hub with echo providers, closed loop.
    Bench {
        /// HTTP/2 connections.
        #[arg(long, default_value_t = 32)]
        connections: usize,
        /// Callers per connection.
        #[arg(long, default_value_t = 16)]
        streams: usize,
        /// Seconds per measured run.
        #[arg(long, default_value_t = 15.0)]
        seconds: f64,
    },
    /// Scenarios through sandbox providers, open loop, each ending with the
    /// money audit.
    Scenario {
        /// Which (all when none is given).
        #[arg(value_enum)]
        kinds: Vec<Kind>,
        /// Arrival rate, calls per second (the base of ramp and spike).
        #[arg(long, default_value_t = 500.0)]
        rate: f64,
        /// Seconds of load per scenario.
        #[arg(long, default_value_t = 30.0)]
        seconds: f64,
    },
    /// The ceiling and every scenario, then REPORT.md in --out.
    All {
        /// Arrival rate of the scenarios.
        #[arg(long, default_value_t = 500.0)]
        rate: f64,
        /// Seconds per scenario.
        #[arg(long, default_value_t = 30.0)]
        seconds: f64,
        /// Seconds per measured ceiling run.
        #[arg(long, default_value_t = 15.0)]
        bench_seconds: f64,
    },
    /// The full path through a json-hmac sandbox against the same sandbox
    /// called directly (its adapter in-process, no hub): open loop, debits,
    /// same rate and time; then the money audit of both.
    Overhead {
        /// Arrival rate, calls per second.
        #[arg(long, default_value_t = 1000.0)]
        rate: f64,
        /// Seconds of measured load of each.
        #[arg(long, default_value_t = 30.0)]
        seconds: f64,
        /// Seconds of warm-up before each.
        #[arg(long, default_value_t = 5.0)]
        warmup: f64,
    },
    /// The hub's resident memory under open load with echo providers until
    /// --calls calls; ends with the money audit.
    Soak {
        /// Arrival rate, calls per second.
        #[arg(long, default_value_t = 10_000.0)]
        rate: f64,
        /// Calls to make.
        #[arg(long, default_value_t = 5_000_000)]
        calls: u64,
        /// Calls counted as warm-up.
        #[arg(long, default_value_t = 500_000)]
        warmup_calls: u64,
        /// Operation mix.
        #[arg(
            long,
            default_value = "debit=40,credit=20,rollback=10,balance=15,get=15"
        )]
        mix: Mix,
    },
    /// GetTransaction and ListTransactions latency against a journal seeded
    /// with --rows transactions (deleted afterwards).
    BigJournal {
        /// Transactions to seed.
        #[arg(long, default_value_t = 10_000_000)]
        rows: u64,
        /// Where the temporary journal goes (default: the system's temp dir).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Which queries (all when none is given).
        #[arg(value_enum)]
        queries: Vec<Query>,
        /// HTTP/2 connections.
        #[arg(long, default_value_t = 4)]
        connections: usize,
        /// Callers per connection.
        #[arg(long, default_value_t = 4)]
        streams: usize,
        /// Seconds per query.
        #[arg(long, default_value_t = 20.0)]
        seconds: f64,
    },
    /// Write a gRPC-framed DebitRequest body for h2load (the raw gRPC
    /// path; every request repeats the same idempotency key).
    H2loadBody {
        /// Where to write it.
        #[arg(long, default_value = "debit.grpc")]
        file: PathBuf,
        /// Provider name.
        #[arg(long, default_value = "echo-a")]
        provider: String,
        /// Idempotency key.
        #[arg(long, default_value = "h2load-1")]
        key: String,
    },
    /// Drive a hub that is already running (no audit).
    Run {
        /// The hub's URL.
        #[arg(long, default_value = "http://127.0.0.1:50051")]
        url: String,
        /// PARTNER=API_KEY; repeatable.
        #[arg(long = "key", required = true)]
        keys: Vec<String>,
        /// Provider name; repeatable.
        #[arg(long = "provider", required = true)]
        providers: Vec<String>,
        /// Accounts at every provider, comma-separated.
        #[arg(long, default_value = "acc-1")]
        accounts: String,
        /// Currency of the accounts.
        #[arg(long, default_value = "EUR")]
        currency: String,
        /// Operation mix.
        #[arg(
            long,
            default_value = "debit=40,credit=20,rollback=10,balance=15,get=15"
        )]
        mix: Mix,
        /// HTTP/2 connections.
        #[arg(long, default_value_t = 4)]
        connections: usize,
        /// Closed loop: callers per connection (ignored with --rate).
        #[arg(long, default_value_t = 8)]
        streams: usize,
        /// Open loop at this many calls per second.
        #[arg(long)]
        rate: Option<f64>,
        /// Seconds of load.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Stop after this many calls.
        #[arg(long)]
        calls: Option<u64>,
        /// Write the results here as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
    },
}

fn write_json(path: &Path, value: &impl serde::Serialize) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, serde_json::to_vec_pretty(value)?)
        .with_context(|| format!("writing {}", path.display()))
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let command_line = std::env::args().collect::<Vec<_>>().join(" ");
    let opts = || -> anyhow::Result<Options> {
        Ok(Options {
            bins: Bins::locate(cli.bins.clone())?,
            out: cli.out.clone(),
            partners: cli.partners.max(1),
            progress: !cli.quiet,
            seed: cli.seed,
        })
    };
    let mut clean = true;
    match cli.command {
        Command::BareServer { listen } => {
            let listener = tokio::net::TcpListener::bind(listen).await?;
            hub_load::bare::serve(listener, async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        }
        Command::Bench {
            connections,
            streams,
            seconds,
        } => {
            let opts = opts()?;
            let b = scenario::bench(&opts, connections, streams, seconds).await?;
            write_json(&opts.out.join("bench.json"), &b)?;
            println!(
                "{}",
                hub_load::report::markdown(&command_line, Some(&b), &[])
            );
            clean &= b.audit.is_clean();
        }
        Command::Scenario {
            kinds,
            rate,
            seconds,
        } => {
            let opts = opts()?;
            let kinds = if kinds.is_empty() {
                Kind::ALL.to_vec()
            } else {
                kinds
            };
            let mut results = Vec::new();
            for kind in kinds {
                let r = scenario::scenario(&opts, kind, rate, seconds).await?;
                write_json(&opts.out.join(format!("{}.json", kind.name())), &r)?;
                eprintln!("[{}] {}", kind.name(), r.audit);
                clean &= r.audit.is_clean();
                results.push(r);
            }
            println!(
                "{}",
                hub_load::report::markdown(&command_line, None, &results)
            );
        }
        Command::All {
            rate,
            seconds,
            bench_seconds,
        } => {
            let opts = opts()?;
            let b = scenario::bench(&opts, 32, 16, bench_seconds).await?;
            write_json(&opts.out.join("bench.json"), &b)?;
            clean &= b.audit.is_clean();
            let mut results = Vec::new();
            for kind in Kind::ALL {
                let r = scenario::scenario(&opts, kind, rate, seconds).await?;
                write_json(&opts.out.join(format!("{}.json", kind.name())), &r)?;
                eprintln!("[{}] {}", kind.name(), r.audit);
                clean &= r.audit.is_clean();
                results.push(r);
            }
            let mut md = hub_load::report::markdown(&command_line, Some(&b), &results);
            // The longer targets run as their own commands; their latest
            // sections are kept in the report.
            for part in ["overhead.md", "soak.md", "big-journal.md"] {
                if let Ok(section) = std::fs::read_to_string(opts.out.join(part)) {
                    md.push('\n');
                    md.push_str(&section);
                }
            }
            std::fs::write(opts.out.join("REPORT.md"), &md)?;
            println!("{md}");
        }
        Command::Overhead {
            rate,
            seconds,
            warmup,
        } => {
            let opts = opts()?;
            let r = targets::overhead(&opts, rate, seconds, warmup).await?;
            write_json(&opts.out.join("overhead.json"), &r)?;
            let md = hub_load::report::overhead(&command_line, &r);
            std::fs::write(opts.out.join("overhead.md"), &md)?;
            println!("{md}");
            clean &= r.is_clean();
        }
        Command::Soak {
            rate,
            calls,
            warmup_calls,
            mix,
        } => {
            let opts = opts()?;
            let r = targets::soak(&opts, rate, calls, warmup_calls, mix).await?;
            write_json(&opts.out.join("soak.json"), &r)?;
            let md = hub_load::report::soak(&command_line, &r);
            std::fs::write(opts.out.join("soak.md"), &md)?;
            println!("{md}");
            clean &= r.audit.is_clean();
        }
        Command::BigJournal {
            rows,
            dir,
            queries,
            connections,
            streams,
            seconds,
        } => {
            let opts = opts()?;
            let queries = if queries.is_empty() {
                Query::ALL.to_vec()
            } else {
                queries
            };
            let r = targets::big_journal(&opts, dir, rows, &queries, connections, streams, seconds)
                .await?;
            write_json(&opts.out.join("big-journal.json"), &r)?;
            let md = hub_load::report::big_journal(&command_line, &r);
            std::fs::write(opts.out.join("big-journal.md"), &md)?;
            println!("{md}");
        }
        Command::H2loadBody {
            file,
            provider,
            key,
        } => {
            use prost::Message;
            let msg = hub_proto::settlement::v1::DebitRequest {
                idempotency_key: key,
                provider,
                account: "acc-0".into(),
                amount: Some(hub_proto::settlement::v1::Money {
                    currency_code: "EUR".into(),
                    minor_units: 125,
                }),
                reference: "load".into(),
            };
            let body = msg.encode_to_vec();
            // gRPC framing: not compressed, 4-byte big-endian length.
            let mut framed = vec![0u8];
            framed.extend_from_slice(&u32::try_from(body.len())?.to_be_bytes());
            framed.extend_from_slice(&body);
            std::fs::write(&file, framed)?;
            println!("{}", file.display());
        }
        Command::Run {
            url,
            keys,
            providers,
            accounts,
            currency,
            mix,
            connections,
            streams,
            rate,
            seconds,
            calls,
            json,
        } => {
            let partners = keys
                .iter()
                .map(|k| {
                    k.split_once('=')
                        .map(|(name, key)| Partner {
                            name: name.into(),
                            key: key.into(),
                        })
                        .context("--key takes PARTNER=API_KEY")
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let accounts: Vec<String> = accounts.split(',').map(str::to_owned).collect();
            let target = Target {
                url,
                partners,
                providers: providers
                    .into_iter()
                    .map(|name| ProviderSpec {
                        name,
                        accounts: accounts.clone(),
                        currency: currency.clone(),
                    })
                    .collect(),
            };
            let load = match rate {
                Some(r) => Load::Open {
                    connections,
                    rate: RateShape::Constant(r),
                    max_in_flight: 20_000,
                },
                None => Load::Closed {
                    connections,
                    streams,
                },
            };
            let spec = RunSpec {
                label: "run".into(),
                load,
                duration: Duration::from_secs_f64(seconds),
                max_calls: calls,
                mix,
                seed: cli.seed,
                timeout: Duration::from_secs(10),
                run_id: format!("run-{}", std::process::id()),
                progress: !cli.quiet,
            };
            let r = generator::run(&target, &spec).await?;
            let out =
                serde_json::json!({"summary": r.summary, "series": r.series, "dropped": r.dropped});
            if let Some(path) = json {
                write_json(&path, &out)?;
            }
            println!("{}", serde_json::to_string_pretty(&r.summary)?);
        }
    }
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        eprintln!("money audit FAILED");
        ExitCode::FAILURE
    })
}
