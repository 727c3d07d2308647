//! The `hub` command: serve, run the demo, manage API keys.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use hub::config::Config;
use hub::domain::PartnerId;
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
    /// Manage partners' API keys.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
}

#[derive(Subcommand)]
enum KeysAction {
    /// Create a key for a partner; the key is printed once.
    Create {
        /// The partner, as named in the configuration.
        #[arg(long)]
        partner: String,
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
        /// The key id (the 16 hex digits after `hk_`).
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
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing(cli.log_json);
    match cli.command {
        Command::Serve => {
            let config = Config::load(cli.config.as_deref())?;
            serve(config).await
        }
        Command::Demo => demo().await,
        Command::Keys { action } => {
            let config = Config::load(cli.config.as_deref())?;
            keys(&config, action).await
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.server.listen))?;
    let hub = Hub::from_config(&config)?;
    tracing::info!(addr = %config.server.listen, "hub serving");
    hub.serve(listener, shutdown_signal()).await?;
    Ok(())
}

async fn demo() -> anyhow::Result<()> {
    let sandboxes = hub::demo::start_sandboxes().await?;
    let config = hub::demo::config(&sandboxes)?;
    let journal = Arc::new(SqliteJournal::open(&config.journal.path)?);
    hub::demo::ensure_demo_key(journal.as_ref(), SystemClock.now_us()).await?;
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.server.listen))?;
    let hub = Hub::with_journal(
        &config,
        journal,
        Arc::new(SystemClock),
        Arc::new(hub::resilience::SeededJitter::from_entropy()),
    )?;
    println!(
        "hub demo on {} (plaintext)\n  partner: {}\n  api key: {}\n  providers: {} (json-hmac at {}), {} (json-rsa at {}), {} (form-md5 at {})\n  accounts at each: {}\n  journal: {}",
        config.server.listen,
        hub::demo::DEMO_PARTNER,
        hub::demo::DEMO_KEY,
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
    );
    hub.serve(listener, shutdown_signal()).await?;
    sandboxes.shutdown().await;
    Ok(())
}

async fn keys(config: &Config, action: KeysAction) -> anyhow::Result<()> {
    let journal = SqliteJournal::open(&config.journal.path)?;
    let now = SystemClock.now_us();
    match action {
        KeysAction::Create { partner, label } => {
            let partner =
                PartnerId::parse(&partner).map_err(|e| anyhow::anyhow!("--partner: {e}"))?;
            if !config.partners.contains_key(partner.as_str()) {
                anyhow::bail!("--partner: no partner named {partner:?} is configured");
            }
            let key = hub::auth::generate_key(&partner, &label, now);
            journal.insert_key(key.record.clone()).await?;
            println!("{}", key.key);
            eprintln!(
                "key {} created for {partner}; it is shown only this once",
                key.record.id
            );
        }
        KeysAction::List { partner } => {
            let partner = partner
                .map(|p| PartnerId::parse(&p).map_err(|e| anyhow::anyhow!("--partner: {e}")))
                .transpose()?;
            println!("{:<16}  {:<16}  {:<8}  label", "id", "partner", "status");
            for k in journal.list_keys(partner.as_ref()).await? {
                let status = if k.revoked_us.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                println!("{:<16}  {:<16}  {status:<8}  {}", k.id, k.partner, k.label);
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
