//! The one-command demo: a json-hmac sandbox provider in the same process,
//! seeded accounts, a demo partner and its well-known API key.
//!
//! The demo key is throwaway material for a local sandbox; it is only ever
//! stored in the demo's own journal.

use std::net::SocketAddr;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use sandbox_json_hmac::{Sandbox, SandboxConfig};

use crate::auth::key_from_parts;
use crate::config::{Config, ConfigError};
use crate::domain::PartnerId;
use crate::journal::{Journal, JournalError};

/// The demo partner's name.
pub const DEMO_PARTNER: &str = "demo";
/// The demo provider's name.
pub const DEMO_PROVIDER: &str = "sandbox";
/// The demo partner's API key.
pub const DEMO_KEY: &str = "hk_00000000000000d0_demo-partner-secret-for-local-use-only";
const DEMO_KEY_ID: &str = "00000000000000d0";
const DEMO_KEY_SECRET: &str = "demo-partner-secret-for-local-use-only";
const DEMO_SANDBOX_SECRET: &str = "demo-json-hmac-secret";
const DEMO_OPERATOR: &str = "hub";

/// Accounts the demo sandbox starts with: (account, currency, balance).
pub const DEMO_ACCOUNTS: &[(&str, &str, i64)] = &[
    ("acc-1", "EUR", 100_000),
    ("acc-2", "EUR", 500),
    ("acc-jpy", "JPY", 1_000_000),
];

/// Starts the demo sandbox on a free loopback port, seeded.
pub async fn start_sandbox() -> std::io::Result<Sandbox> {
    let sandbox = Sandbox::start_local(SandboxConfig {
        secret: DEMO_SANDBOX_SECRET.into(),
        operator: DEMO_OPERATOR.into(),
        control: false,
    })
    .await?;
    for (account, currency, balance) in DEMO_ACCOUNTS {
        sandbox.seed(account, currency, *balance);
    }
    Ok(sandbox)
}

/// The demo configuration: defaults, the sandbox at `sandbox`, the demo
/// partner, then `HUB_*` environment overrides.
pub fn config(sandbox: SocketAddr) -> Result<Config, ConfigError> {
    let toml = format!(
        r#"
        [providers.{DEMO_PROVIDER}]
        dialect = "json-hmac"
        base_url = "http://{sandbox}"
        secret = "{DEMO_SANDBOX_SECRET}"
        operator = "{DEMO_OPERATOR}"
        timeout = "5s"

        [partners.{DEMO_PARTNER}]
        providers = ["{DEMO_PROVIDER}"]
        "#
    );
    Config::from_figment(
        Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string(&toml))
            .merge(Env::prefixed("HUB_").split("__")),
    )
}

/// Stores the demo key unless it is there already.
pub async fn ensure_demo_key(journal: &dyn Journal, now_us: i64) -> Result<(), JournalError> {
    if journal.find_key(DEMO_KEY_ID).await?.is_some() {
        return Ok(());
    }
    let partner =
        PartnerId::parse(DEMO_PARTNER).map_err(|_| JournalError::Corrupt("demo partner"))?;
    let key = key_from_parts(&partner, "demo", now_us, DEMO_KEY_ID, DEMO_KEY_SECRET);
    debug_assert_eq!(key.key, DEMO_KEY);
    journal.insert_key(key.record).await
}
