//! The one-command demo: a sandbox provider of each built-in dialect in the
//! same process (json-hmac as `sandbox`, json-rsa as `sandbox-rsa`, form-md5
//! as `sandbox-md5`), seeded accounts, a demo partner and its well-known API
//! key.
//!
//! The demo key is throwaway material for a local sandbox; it is only ever
//! stored in the demo's own journal.

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use std::path::PathBuf;

use sandbox_json_hmac::{Sandbox, SandboxConfig};

use crate::auth::key_from_parts;
use crate::config::{Config, ConfigError};
use crate::domain::PartnerId;
use crate::journal::{Journal, JournalError};

/// The demo partner's name.
pub const DEMO_PARTNER: &str = "demo";
/// The demo's json-hmac provider.
pub const DEMO_PROVIDER: &str = "sandbox";
/// The demo's json-rsa provider.
pub const DEMO_PROVIDER_RSA: &str = "sandbox-rsa";
/// The demo's form-md5 provider.
pub const DEMO_PROVIDER_MD5: &str = "sandbox-md5";
const DEMO_MD5_SECRET: &str = "demo-form-md5-secret";
/// The demo partner's API key.
pub const DEMO_KEY: &str = "hk_00000000000000d0_demo-partner-secret-for-local-use-only";
const DEMO_KEY_ID: &str = "00000000000000d0";
const DEMO_KEY_SECRET: &str = "demo-partner-secret-for-local-use-only";
/// The demo's operator (for `admin.v1`).
pub const DEMO_OPS: &str = "ops";
/// The demo operator's key.
pub const DEMO_OPS_KEY: &str = "ok_00000000000000d0_demo-operator-secret-for-local-use-only";
const DEMO_OPS_KEY_ID: &str = "00000000000000d0";
const DEMO_OPS_KEY_SECRET: &str = "demo-operator-secret-for-local-use-only";
const DEMO_SANDBOX_SECRET: &str = "demo-json-hmac-secret";
const DEMO_OPERATOR: &str = "hub";

/// Accounts the demo sandbox starts with: (account, currency, balance).
pub const DEMO_ACCOUNTS: &[(&str, &str, i64)] = &[
    ("acc-1", "EUR", 100_000),
    ("acc-2", "EUR", 500),
    ("acc-jpy", "JPY", 1_000_000),
];

/// The demo's sandbox providers, one per dialect.
pub struct Sandboxes {
    /// json-hmac.
    pub hmac: Sandbox,
    /// json-rsa.
    pub rsa: sandbox_json_rsa::Sandbox,
    /// form-md5.
    pub md5: sandbox_form_md5::Sandbox,
}

impl Sandboxes {
    /// Stops them.
    pub async fn shutdown(self) {
        self.hmac.shutdown().await;
        self.rsa.shutdown().await;
        self.md5.shutdown().await;
    }
}

/// Starts the demo sandboxes on free loopback ports, seeded.
pub async fn start_sandboxes() -> std::io::Result<Sandboxes> {
    let hmac = Sandbox::start_local(SandboxConfig {
        secret: DEMO_SANDBOX_SECRET.into(),
        operator: DEMO_OPERATOR.into(),
        control: true,
    })
    .await?;
    let rsa_setup = sandbox_json_rsa::SandboxConfig {
        control: true,
        ..Default::default()
    }
    .setup()
    .map_err(std::io::Error::other)?;
    let rsa = sandbox_json_rsa::Sandbox::start_local(rsa_setup).await?;
    let md5 = sandbox_form_md5::Sandbox::start_local(sandbox_form_md5::SandboxConfig {
        secret: DEMO_MD5_SECRET.into(),
        provider_id: DEMO_OPERATOR.into(),
        control: true,
    })
    .await?;
    for (account, currency, balance) in DEMO_ACCOUNTS {
        hmac.seed(account, currency, *balance);
        md5.seed(account, currency, *balance);
        // json-rsa counts in 1e-5 of a unit.
        let exponent = adapter_api::Currency::from_code(currency)
            .map(|c| u32::from(c.exponent()))
            .unwrap_or(2);
        rsa.seed(account, currency, *balance * 10i64.pow(5 - exponent));
    }
    Ok(Sandboxes { hmac, rsa, md5 })
}

/// The throwaway json-rsa keys the demo (and tests) use.
fn demo_keys() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../adapters/samples/json-rsa/keys")
}

/// The demo configuration: defaults, the sandboxes, the demo partner, then
/// `HUB_*` environment overrides.
pub fn config(sandboxes: &Sandboxes) -> Result<Config, ConfigError> {
    let keys = demo_keys();
    let toml = format!(
        r#"
        [server]
        plaintext = true  # the demo is local; `serve` needs server.tls

        [providers.{DEMO_PROVIDER}]
        dialect = "json-hmac"
        base_url = "{hmac}"
        secret = "{DEMO_SANDBOX_SECRET}"
        operator = "{DEMO_OPERATOR}"
        timeout = "5s"

        [providers.{DEMO_PROVIDER_RSA}]
        dialect = "json-rsa"
        base_url = "{rsa}"
        private_key_file = "{rsa_key}"
        provider_public_key_file = "{rsa_pub}"

        [providers.{DEMO_PROVIDER_MD5}]
        dialect = "form-md5"
        base_url = "{md5}"
        secret = "{DEMO_MD5_SECRET}"
        provider_id = "{DEMO_OPERATOR}"

        [partners.{DEMO_PARTNER}]
        providers = ["{DEMO_PROVIDER}", "{DEMO_PROVIDER_RSA}", "{DEMO_PROVIDER_MD5}"]

        [operators.{DEMO_OPS}]
        "#,
        hmac = sandboxes.hmac.base_url(),
        rsa = sandboxes.rsa.base_url(),
        md5 = sandboxes.md5.base_url(),
        rsa_key = keys.join("operator_private.pem").display(),
        rsa_pub = keys.join("provider_public.pem").display(),
    );
    Config::from_figment(
        Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string(&toml))
            .merge(crate::config::env_overrides()),
    )
}

/// Writes the demo's providers (their random ports) and journal as a
/// configuration file beside the journal, `demo-audit.toml`, so that
/// `hub --config data/demo-audit.toml audit` checks the running demo's
/// journal against its sandboxes' ledgers. Returns the file's path. The
/// file is rewritten at each start and is stale once the demo stops.
pub fn write_audit_config(config: &Config) -> std::io::Result<PathBuf> {
    // A JSON string or scalar is also a valid TOML one.
    let quote = |text: &str| serde_json::Value::from(text).to_string();
    let journal = std::path::absolute(&config.journal.path)?;
    let mut toml = format!(
        "# Written by `hub demo` for `hub --config THIS_FILE audit`; stale once the demo stops.\n\
         [journal]\npath = {}\n",
        quote(&journal.to_string_lossy())
    );
    for (name, provider) in &config.providers {
        toml.push_str(&format!(
            "\n[providers.{}]\ndialect = {}\n",
            quote(name),
            quote(&provider.dialect)
        ));
        for (key, value) in &provider.settings.0 {
            if matches!(
                value,
                serde_json::Value::String(_)
                    | serde_json::Value::Number(_)
                    | serde_json::Value::Bool(_)
            ) {
                toml.push_str(&format!("{} = {value}\n", quote(key)));
            }
        }
    }
    let dir = config
        .journal
        .path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir)?;
    let path = dir.join("demo-audit.toml");
    std::fs::write(&path, toml)?;
    Ok(path)
}

/// Stores the demo partner's and the demo operator's keys unless they are
/// there already.
pub async fn ensure_demo_key(journal: &dyn Journal, now_us: i64) -> Result<(), JournalError> {
    if journal.find_key(DEMO_KEY_ID).await?.is_none() {
        let partner =
            PartnerId::parse(DEMO_PARTNER).map_err(|_| JournalError::Corrupt("demo partner"))?;
        let key = key_from_parts(&partner, "demo", now_us, DEMO_KEY_ID, DEMO_KEY_SECRET);
        debug_assert_eq!(key.key, DEMO_KEY);
        journal.insert_key(key.record).await?;
    }
    let ops = crate::operators::operator_key_from_parts(
        DEMO_OPS,
        "demo",
        now_us,
        DEMO_OPS_KEY_ID,
        DEMO_OPS_KEY_SECRET,
    )
    .map_err(|_| JournalError::Corrupt("demo operator"))?;
    debug_assert_eq!(ops.key, DEMO_OPS_KEY);
    if journal.find_key(&ops.record.id).await?.is_none() {
        journal.insert_key(ops.record).await?;
    }
    Ok(())
}
