//! A sandbox json-hmac provider: a real HTTP server that plays the provider
//! described in `providers/json-hmac.md`, with its own ledger of accounts
//! and transactions.
//!
//! It is written the way that provider would write it and shares no wire,
//! signing or conversion code with the hub's json-hmac adapter, so a
//! misreading of the spec on either side shows up as a disagreement instead
//! of passing on both. The dialect ([`JsonHmac`]: wire, signature, ledger,
//! business rules) is this crate; the server, fault injection, counters and
//! the control surface are [`sandbox_kit`]'s, and [`Sandbox`] is the kit's
//! handle for this dialect.
//!
//! Tests start one with [`Sandbox::start_local`] and a [`SandboxConfig`],
//! seed accounts (balances in minor units), point the adapter at
//! [`Sandbox::base_url`], switch [`Fault`]s on and off, and audit the
//! provider's books with [`Sandbox::ledger`] (a [`LedgerSnapshot`]). The
//! same is reachable over HTTP under `/control/` when
//! [`SandboxConfig::control`] is set (see [`sandbox_kit`] for the routes).
//!
//! Dialect rules in short: `X-Operator` is required (400) and must be the
//! configured operator, `X-Signature` must be the hex HMAC-SHA256 of the raw
//! body (401); the same `tx_id` again replays the first reply byte for byte
//! (declines included) and moves nothing; a rollback names a debit, and a
//! second rollback of it replays the first rollback's reply. How it
//! misbehaves under each fault (including `Tampered`) is on [`JsonHmac`].

mod dialect;
mod ledger;
mod signature;
mod wire;

use std::fmt;

pub use sandbox_kit::{
    AccountSeed, DEFAULT_SEED, Fault, FaultError, FaultKind, RequestStats, SeedParseError, Setup,
};

pub use dialect::{JsonHmac, TAMPER_SUFFIX};
pub use ledger::{AccountSnapshot, LedgerSnapshot, TransactionRecord, TxKind, TxState};
pub use wire::ErrorCode;

/// A running sandbox json-hmac provider: the kit's handle for [`JsonHmac`].
/// Start it from a [`SandboxConfig`] (or a [`Setup`]); it stops on
/// `shutdown().await` or when dropped.
pub type Sandbox = sandbox_kit::Sandbox<JsonHmac>;

/// The secret used when none is given. For demos and tests only: anyone can
/// read it here.
pub const DEMO_SECRET: &str = "demo-json-hmac-secret";

/// How a sandbox behaves.
#[derive(Clone)]
pub struct SandboxConfig {
    /// Shared HMAC secret of the one operator this sandbox knows.
    pub secret: String,
    /// The `X-Operator` value requests must carry, e.g. `"hub"`.
    pub operator: String,
    /// Serve the test-only control surface under `/control/`.
    pub control: bool,
}

impl Default for SandboxConfig {
    /// [`DEMO_SECRET`], operator `"hub"`, no control surface.
    fn default() -> Self {
        SandboxConfig {
            secret: DEMO_SECRET.to_owned(),
            operator: "hub".to_owned(),
            control: false,
        }
    }
}

impl fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("secret", &"<redacted>")
            .field("operator", &self.operator)
            .field("control", &self.control)
            .finish()
    }
}

impl From<SandboxConfig> for Setup<JsonHmac> {
    fn from(config: SandboxConfig) -> Self {
        Setup::new(JsonHmac {
            secret: config.secret,
            operator: config.operator,
        })
        .with_control(config.control)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_debug_redacts_the_secret() {
        let shown = format!("{:?}", SandboxConfig::default());
        assert!(!shown.contains(DEMO_SECRET), "{shown}");
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn config_becomes_a_setup() {
        let setup: Setup<JsonHmac> = SandboxConfig {
            control: true,
            ..SandboxConfig::default()
        }
        .into();
        assert!(setup.control);
        assert_eq!(setup.dialect.secret, DEMO_SECRET);
        assert_eq!(setup.dialect.operator, "hub");
    }
}
