//! `sandbox-form-md5`: runs the sandbox form-md5 provider until Ctrl-C.

use std::net::SocketAddr;

use clap::Parser;
use sandbox_form_md5::{AccountSeed, DEFAULT_PROVIDER_ID, DEMO_SECRET, Sandbox, SandboxConfig};
use tokio::net::TcpListener;
use tracing::{info, warn};
use tracing_subscriber::EnvFilter;

/// A sandbox form-md5 payment provider with its own ledger.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9103")]
    listen: SocketAddr,
    /// Shared MD5 secret. The default is a public demo secret.
    #[arg(long, env = "SANDBOX_SECRET", default_value = DEMO_SECRET, hide_env_values = true)]
    secret: String,
    /// The providerId (operator id) requests must carry.
    #[arg(long, default_value = DEFAULT_PROVIDER_ID)]
    provider_id: String,
    /// Serve the test-only control surface under /control/.
    #[arg(long)]
    control: bool,
    /// Seed an account, ACCOUNT:CURRENCY:BALANCE in minor units; repeatable.
    #[arg(long = "seed", value_name = "ACCOUNT:CURRENCY:BALANCE")]
    seeds: Vec<AccountSeed>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    if args.secret == DEMO_SECRET {
        warn!("using the public demo secret; set --secret or SANDBOX_SECRET for anything shared");
    }

    let listener = TcpListener::bind(args.listen).await?;
    let config = SandboxConfig {
        secret: args.secret,
        provider_id: args.provider_id,
        control: args.control,
    };
    let sandbox = Sandbox::start(listener, config).await?;
    for seed in &args.seeds {
        sandbox.seed_account(seed);
        if sandbox.balance(&seed.account) != Some(seed.balance) {
            return Err(format!(
                "cannot seed {}: {} is not an ISO 4217 currency with a minor unit",
                seed.account, seed.currency
            )
            .into());
        }
        info!(account = %seed.account, currency = %seed.currency, balance = seed.balance, "seeded");
    }
    info!(url = %sandbox.base_url(), control = args.control, "sandbox form-md5 provider listening");

    tokio::signal::ctrl_c().await?;
    info!("shutting down");
    sandbox.shutdown().await;
    Ok(())
}
