//! The `hub` command: serve, run the demo, manage API keys, audit.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use hub::config::Config;
use hub::domain::{PartnerId, ProviderId};
use hub::engine::{Clock, SystemClock};
use hub::journal::{Journal, SqliteJournal};
use hub::server::{Hub, shutdown_signal};

#[derive(Parser)]
#[command(name = "hub", version, about = "gRPC integration hub for providers")]
struct Cli {
    /// TOML configuration file (defaults, then this file, then HUB_* variables).
    #[arg(long, global = true, env = "HUB_CONFIG")]
    config: Option<PathBuf>,
    /// Log as JSON lines.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve partners with the configured providers.
    Serve,
    /// Serve with an in-process sandbox provider and the demo partner key.
    Demo,
    /// Manage API keys: partners' (`hk_...`) and operators' (`ok_...`, for
    /// admin.v1).
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Inspect and replay the resolver's dead letters (PENDING transactions
    /// whose resolution exhausted its budget).
    DeadLetters {
        #[command(subcommand)]
        action: DeadLettersAction,
    },
    /// Compare the journal with each provider's ledger, read from the
    /// provider's `base_url` (a sandbox with its control surface on). Exits
    /// non-zero on any discrepancy, PENDING transactions included.
    Audit {
        /// Audit only this provider (repeatable); default: every configured
        /// one, and journal transactions of providers no longer configured.
        #[arg(long = "provider", value_name = "NAME")]
        providers: Vec<String>,
    },
}

#[derive(Subcommand)]
enum DeadLettersAction {
    /// List dead letters with their last error.
    List,
    /// Queue a dead letter again (after the provider is back); a running
    /// hub picks it up at its next poll.
    Replay {
        /// The transaction id.
        transaction_id: String,
    },
}

#[derive(Subcommand)]
enum KeysAction {
    /// Create a key for a partner or an operator; the key is printed once.
    #[command(group(clap::ArgGroup::new("owner").required(true).args(["partner", "operator"])))]
    Create {
        /// The partner, as named in the configuration.
        #[arg(long)]
        partner: Option<String>,
        /// The operator, as named in the configuration (`[operators.NAME]`).
        #[arg(long)]
        operator: Option<String>,
        /// A label to recognise the key by.
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List keys (ids, never secrets).
    List {
        /// Only this partner's keys.
        #[arg(long)]
        partner: Option<String>,
    },
    /// Revoke a key by id.
    Revoke {
        /// The key id (the 16 hex digits after `hk_`, or `op-` and the 16
        /// hex digits after `ok_`).
        id: String,
    },
}

fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HUB_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    // Before anything can build a rustls configuration.
    hub::tls::install_crypto_provider();
    let cli = Cli::parse();
    init_tracing(cli.log_json);
    match cli.command {
        Command::Serve => {
            let config = Config::load(cli.config.as_deref())?;
            serve(config, cli.config.clone()).await?;
        }
        Command::Demo => demo().await?,
        Command::Keys { action } => {
            let config = Config::load(cli.config.as_deref())?;
            keys(&config, action).await?;
        }
        Command::DeadLetters { action } => {
            let config = Config::load(cli.config.as_deref())?;
            dead_letters(&config, action).await?;
        }
        Command::Audit { providers } => {
            let config = Config::load(cli.config.as_deref())?;
            return audit(&config, &providers).await;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn serve(config: Config, config_file: Option<PathBuf>) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.server.listen))?;
    let mut hub = with_metrics(Hub::from_config(&config)?, &config).await?;
    if let Some(path) = config_file {
        hub = hub.with_config_file(path);
    }
    tracing::info!(addr = %config.server.listen, "hub serving");
    hub.serve(listener, shutdown_signal()).await?;
    Ok(())
}

/// Opens the metrics listener the configuration asks for.
async fn with_metrics(hub: Hub, config: &Config) -> anyhow::Result<Hub> {
    if !config.metrics.enabled {
        return Ok(hub);
    }
    let addr = config.metrics.listen;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen for metrics on {addr} (metrics.listen)"))?;
    Ok(hub.with_metrics_listener(listener))
}

async fn demo() -> anyhow::Result<()> {
    let sandboxes = hub::demo::start_sandboxes().await?;
    let config = hub::demo::config(&sandboxes)?;
    let journal = Arc::new(SqliteJournal::open(&config.journal.path)?);
    hub::demo::ensure_demo_key(journal.as_ref(), SystemClock.now_us()).await?;
    let audit_file = hub::demo::write_audit_config(&config)
        .context("cannot write the demo's audit configuration")?;
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.server.listen))?;
    let hub = Hub::with_journal(
        &config,
        journal,
        Arc::new(SystemClock),
        Arc::new(hub::resilience::SeededJitter::from_entropy()),
    )?;
    let hub = with_metrics(hub, &config).await?;
    println!(
        "hub demo on {} (plaintext), metrics on http://{}/metrics\n  partner: {}\n  api key: {}\n  operator: {} (admin.v1), key: {}\n  providers: {} (json-hmac at {}), {} (json-rsa at {}), {} (form-md5 at {})\n  accounts at each: {}\n  journal: {}\n  audit: cargo run -p hub -- --config {} audit",
        config.server.listen,
        config.metrics.listen,
        hub::demo::DEMO_PARTNER,
        hub::demo::DEMO_KEY,
        hub::demo::DEMO_OPS,
        hub::demo::DEMO_OPS_KEY,
        hub::demo::DEMO_PROVIDER,
        sandboxes.hmac.addr(),
        hub::demo::DEMO_PROVIDER_RSA,
        sandboxes.rsa.addr(),
        hub::demo::DEMO_PROVIDER_MD5,
        sandboxes.md5.addr(),
        hub::demo::DEMO_ACCOUNTS
            .iter()
            .map(|(a, c, b)| format!("{a} ({b} {c})"))
            .collect::<Vec<_>>()
            .join(", "),
        config.journal.path.display(),
        audit_file.display(),
    );
    hub.serve(listener, shutdown_signal()).await?;
    sandboxes.shutdown().await;
    Ok(())
}

async fn audit(config: &Config, providers: &[String]) -> anyhow::Result<ExitCode> {
    let only = providers
        .iter()
        .map(|p| ProviderId::parse(p).map_err(|e| anyhow::anyhow!("--provider {p:?}: {e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let path = &config.journal.path;
    if !path.exists() {
        anyhow::bail!("no journal at {} (journal.path)", path.display());
    }
    let journal = SqliteJournal::open(path)?;
    let report = hub::audit::audit_config(config, &journal, &only).await?;
    println!("{report}");
    Ok(if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn dead_letters(config: &Config, action: DeadLettersAction) -> anyhow::Result<()> {
    let journal = SqliteJournal::open(&config.journal.path)?;
    match action {
        DeadLettersAction::List => {
            println!(
                "{:<36}  {:<16}  {:>8}  last error",
                "transaction", "provider", "attempts"
            );
            for w in journal.list_work(Some(true)).await? {
                println!(
                    "{:<36}  {:<16}  {:>8}  {}",
                    w.tx_id,
                    w.provider,
                    w.attempts,
                    w.last_error.unwrap_or_default()
                );
            }
        }
        DeadLettersAction::Replay { transaction_id } => {
            let id = hub::domain::TransactionId::parse(&transaction_id)
                .map_err(|e| anyhow::anyhow!("transaction id: {e}"))?;
            if !journal.replay_dead(&id, SystemClock.now_us()).await? {
                anyhow::bail!("no dead letter for transaction {transaction_id}");
            }
            println!("transaction {transaction_id} queued again");
        }
    }
    Ok(())
}

async fn keys(config: &Config, action: KeysAction) -> anyhow::Result<()> {
    let journal = SqliteJournal::open(&config.journal.path)?;
    let now = SystemClock.now_us();
    match action {
        KeysAction::Create {
            partner,
            operator,
            label,
        } => {
            let (key, owner) = match (partner, operator) {
                (Some(partner), _) => {
                    let partner = PartnerId::parse(&partner)
                        .map_err(|e| anyhow::anyhow!("--partner: {e}"))?;
                    if !config.partners.contains_key(partner.as_str()) {
                        anyhow::bail!("--partner: no partner named {partner:?} is configured");
                    }
                    (
                        hub::auth::generate_key(&partner, &label, now),
                        partner.to_string(),
                    )
                }
                (None, Some(operator)) => {
                    if !config.operators.contains_key(&operator) {
                        anyhow::bail!("--operator: no operator named {operator:?} is configured");
                    }
                    let key = hub::operators::generate_operator_key(&operator, &label, now)
                        .map_err(|e| anyhow::anyhow!("--operator: {e}"))?;
                    (key, format!("operator {operator}"))
                }
                (None, None) => anyhow::bail!("give --partner or --operator"),
            };
            journal.insert_key(key.record.clone()).await?;
            println!("{}", key.key);
            eprintln!(
                "key {} created for {owner}; it is shown only this once",
                key.record.id
            );
        }
        KeysAction::List { partner } => {
            let partner = partner
                .map(|p| PartnerId::parse(&p).map_err(|e| anyhow::anyhow!("--partner: {e}")))
                .transpose()?;
            println!("{:<19}  {:<16}  {:<8}  label", "id", "owner", "status");
            for k in journal.list_keys(partner.as_ref()).await? {
                let status = if k.revoked_us.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                println!("{:<19}  {:<16}  {status:<8}  {}", k.id, k.partner, k.label);
            }
        }
        KeysAction::Revoke { id } => {
            if !journal.revoke_key(&id, now).await? {
                anyhow::bail!("no key with id {id:?}");
            }
            println!("key {id} revoked");
        }
    }
    Ok(())
}
