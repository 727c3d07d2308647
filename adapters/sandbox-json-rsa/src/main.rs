//! `sandbox-json-rsa`: runs the sandbox json-rsa provider until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use sandbox_json_rsa::{AccountSeed, KeyConfig, KeySource, Sandbox, SandboxConfig};
use tokio::net::TcpListener;
use tracing::{info, warn};
use tracing_subscriber::EnvFilter;

/// A sandbox json-rsa payment provider with its own ledger.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9102")]
    listen: SocketAddr,
    /// PEM file of the operator's public key (verifies requests). Default:
    /// the public demo key.
    #[arg(long, env = "SANDBOX_OPERATOR_PUBLIC_KEY", value_name = "PEM_FILE")]
    operator_public_key: Option<PathBuf>,
    /// PEM file of this provider's private key (signs replies). Default: the
    /// public demo key.
    #[arg(long, env = "SANDBOX_PROVIDER_PRIVATE_KEY", value_name = "PEM_FILE")]
    provider_private_key: Option<PathBuf>,
    /// PEM file of the key the "tampered" fault signs replies with. Default:
    /// the demo impostor key.
    #[arg(long, env = "SANDBOX_IMPOSTOR_PRIVATE_KEY", value_name = "PEM_FILE")]
    impostor_private_key: Option<PathBuf>,
    /// Serve the test-only control surface under /control/.
    #[arg(long)]
    control: bool,
    /// Seed a user, USER:CURRENCY:BALANCE in 1e-5 units; repeatable.
    #[arg(long = "seed", value_name = "USER:CURRENCY:BALANCE")]
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

    let demo = KeyConfig::default();
    let pick = |path: Option<PathBuf>, default: KeySource| path.map_or(default, KeySource::Path);
    if args.operator_public_key.is_none() || args.provider_private_key.is_none() {
        warn!("using the public demo keys; pass key files for anything shared");
    }
    let config = SandboxConfig {
        keys: KeyConfig {
            operator_public_key: pick(args.operator_public_key, demo.operator_public_key),
            provider_private_key: pick(args.provider_private_key, demo.provider_private_key),
            impostor_private_key: pick(args.impostor_private_key, demo.impostor_private_key),
        },
        control: args.control,
    };

    let setup = config.setup()?;
    let listener = TcpListener::bind(args.listen).await?;
    let sandbox = Sandbox::start(listener, setup).await?;
    for seed in &args.seeds {
        sandbox.seed_account(seed);
        info!(user = %seed.account, currency = %seed.currency, balance = seed.balance, "seeded");
    }
    info!(url = %sandbox.base_url(), control = args.control, "sandbox json-rsa provider listening");

    tokio::signal::ctrl_c().await?;
    info!("shutting down");
    sandbox.shutdown().await;
    Ok(())
}
