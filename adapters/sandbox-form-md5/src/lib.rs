//! A sandbox form-md5 provider: a real HTTP server that plays the provider
//! described in `providers/form-md5.md`, with its own ledger of accounts
//! and transactions.
//!
//! It is written the way that provider would write it and shares no wire,
//! signing or conversion code with the hub's form-md5 adapter, so a
//! misreading of the spec on either side shows up as a disagreement instead
//! of passing on both. The generic half (HTTP server, faults, counters, the
//! `/control/` surface, the handle) is [`sandbox_kit`]; this crate is the
//! [`FormMd5`] dialect and its [`Ledger`]. Tests start one with
//! [`Sandbox::start_local`], seed accounts (balances in minor units), point
//! the adapter at [`Sandbox::base_url`], switch [`Fault`]s on and off, and
//! audit the books with [`Sandbox::ledger`].
//!
//! # The dialect
//!
//! `POST /balance.html`, `/bet.html`, `/result.html`, `/refund.html` with an
//! `application/x-www-form-urlencoded` body; `hash` is the lower-case hex
//! MD5 of the other parameters sorted by name, joined `k=v&...` with decoded
//! values, the secret appended. Every answer is HTTP 200 JSON with a numeric
//! `error` (0 success). Amounts are decimal strings with exactly the
//! currency's ISO 4217 exponent; balances come back as JSON numbers with
//! that many decimals (`97.50`, `1250` for JPY).
//!
//! Decisions the spec leaves open (in full in the docs of the private
//! `ledger` and `dialect` modules):
//! - a missing or unknown `providerId` is answered 5 (invalid hash): the
//!   secret is per operator, so nothing it signs can verify;
//! - a wrong `Content-Type`, a parameter given twice, a missing or empty
//!   required parameter, an unknown currency (or one without a minor unit,
//!   such as `XAU`), and an amount that is not a strictly positive decimal
//!   with exactly the exponent's decimals (no sign, no leading zero, no
//!   overflow of `i64` minor units) are 120; `timestamp` and `roundId` are
//!   optional and recorded as given;
//! - bets and results share one namespace of references; a repeated
//!   reference replays the first reply (declines included) whatever
//!   endpoint or parameters it comes with;
//! - a refund of a declined bet is 7 (nothing moved), of another player's
//!   bet 120; refund refusals are not recorded;
//! - a blocked account refuses bets and results (3) but not refunds; a
//!   per-transaction limit refuses larger bets and results (4), and so does
//!   a balance that would overflow;
//! - provider transaction ids are `fm-1`, `fm-2`, ... in the order money
//!   moved (bets, results, refunds alike).
//!
//! Under the kit's after-commit faults: `ServerErrorAfterCommit` answers
//! HTTP 200 `{"error":100,"description":"internal error"}`, this provider's
//! own way of saying the outcome is unknown; `Garbage` is the kit's
//! truncated reply (200, `application/json`, the first half of the body);
//! `Tampered` keeps a success reply's shape but names another
//! `transactionId` (`fm-N` -> `fm-(N+1000000)`), another currency with the
//! same exponent (EUR <-> USD, JPY <-> KRW, KWD <-> BHD) and one major unit
//! more `cash`; error replies name nothing of the request and are sent
//! as they are.

mod amount;
mod dialect;
mod form;
mod ledger;
mod wire;

use std::fmt;

pub use dialect::{FORM_CONTENT_TYPE, FormMd5};
pub use ledger::{AccountSnapshot, Ledger, LedgerSnapshot, TransactionRecord, TxKind, TxState};
pub use sandbox_kit::{AccountSeed, DEFAULT_SEED, Fault, FaultKind, RequestStats, Setup};
pub use wire::{Endpoint, ErrorCode};

/// A running sandbox form-md5 provider (the kit's handle).
pub type Sandbox = sandbox_kit::Sandbox<FormMd5>;

/// The secret used when none is given. For demos and tests only: anyone can
/// read it here.
pub const DEMO_SECRET: &str = "demo-form-md5-secret";

/// The `providerId` used when none is given.
pub const DEFAULT_PROVIDER_ID: &str = "hub";

/// How a sandbox behaves.
#[derive(Clone)]
pub struct SandboxConfig {
    /// Shared MD5 secret of the one operator this sandbox knows.
    pub secret: String,
    /// The `providerId` requests must carry (the operator's id).
    pub provider_id: String,
    /// Serve the test-only control surface under `/control/`.
    pub control: bool,
}

impl Default for SandboxConfig {
    /// [`DEMO_SECRET`], [`DEFAULT_PROVIDER_ID`], no control surface.
    fn default() -> Self {
        SandboxConfig {
            secret: DEMO_SECRET.to_owned(),
            provider_id: DEFAULT_PROVIDER_ID.to_owned(),
            control: false,
        }
    }
}

impl fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("secret", &"<redacted>")
            .field("provider_id", &self.provider_id)
            .field("control", &self.control)
            .finish()
    }
}

impl From<SandboxConfig> for Setup<FormMd5> {
    fn from(config: SandboxConfig) -> Self {
        Setup::new(FormMd5::new(config.provider_id, config.secret)).with_control(config.control)
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
        let setup: Setup<FormMd5> = SandboxConfig {
            control: true,
            ..SandboxConfig::default()
        }
        .into();
        assert!(setup.control);
        assert_eq!(setup.dialect.provider_id(), DEFAULT_PROVIDER_ID);
    }
}
