//! A sandbox json-hmac provider: a real HTTP server that plays the provider
//! described in `providers/json-hmac.md`, with its own ledger of accounts
//! and transactions.
//!
//! It is written the way that provider would write it and shares no wire,
//! signing or conversion code with the hub's json-hmac adapter, so a
//! misreading of the spec on either side shows up as a disagreement instead
//! of passing on both. Tests start one with [`Sandbox::start_local`], seed
//! accounts, point the adapter at [`Sandbox::base_url`], switch
//! [`Fault`]s on and off, and audit the provider's books with
//! [`Sandbox::ledger`].
//!
//! The same is reachable over HTTP when [`SandboxConfig::control`] is set
//! (otherwise these paths are 404); it is not part of the dialect and is
//! neither signed nor faulted:
//!
//! | route | body | answer |
//! |---|---|---|
//! | `POST /control/seed` | `{"account","currency","balance","blocked"?,"limit"?}` | the account |
//! | `GET /control/ledger` | | [`LedgerSnapshot`] |
//! | `POST /control/faults` | a [`Fault`] as JSON | the active faults |
//! | `GET /control/faults` | | the active faults |
//! | `DELETE /control/faults` | | the active faults (none); hung requests go on |
//! | `GET /control/stats` | | [`RequestStats`] |
//!
//! Dialect rules in short: `X-Operator` is required (400) and must be the
//! configured operator, `X-Signature` must be the hex HMAC-SHA256 of the raw
//! body (401); the same `tx_id` again replays the first reply byte for byte
//! (declines included) and moves nothing; a rollback names a debit, and a
//! second rollback of it replays the first rollback's reply.

mod control;
mod dialect;
mod faults;
mod ledger;
mod server;
mod signature;
mod stats;
mod wire;

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::warn;

pub use faults::{DEFAULT_SEED, Fault, FaultError, FaultKind};
pub use ledger::{AccountSnapshot, LedgerSnapshot, TransactionRecord, TxKind, TxState};
pub use stats::RequestStats;
pub use wire::ErrorCode;

use server::App;

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

/// A running sandbox provider. Serving stops on [`Sandbox::shutdown`] or
/// when it is dropped.
#[derive(Debug)]
pub struct Sandbox {
    addr: SocketAddr,
    app: Arc<App>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Sandbox {
    /// Serves on `listener` in a background task (on the current tokio
    /// runtime) and returns at once.
    pub async fn start(listener: TcpListener, config: SandboxConfig) -> std::io::Result<Sandbox> {
        let addr = listener.local_addr()?;
        let app = Arc::new(App::new(config));
        let router = server::router(app.clone());
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(server::serve(listener, router, stopped));
        Ok(Sandbox {
            addr,
            app,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Binds `127.0.0.1:0` (an ephemeral port) and starts serving there.
    pub async fn start_local(config: SandboxConfig) -> std::io::Result<Sandbox> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        Self::start(listener, config).await
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Creates or replaces an account holding `balance` minor units of
    /// `currency`, not blocked, without a limit.
    pub fn seed(&self, account: &str, currency: &str, balance: i64) {
        self.app
            .ledger()
            .seed(account, currency, balance, false, None);
    }

    /// Blocks an account: every later debit and credit on it is refused
    /// with `ACCOUNT_BLOCKED` (rollbacks of its debits still work). Does
    /// nothing (but log) for an unknown account.
    pub fn block(&self, account: &str) {
        if !self.app.ledger().block(account) {
            warn!(account, "block: no such account");
        }
    }

    /// Sets (or with `None` removes) the largest amount one debit or credit
    /// on the account may move; above it the answer is `LIMIT_EXCEEDED`.
    /// Does nothing (but log) for an unknown account.
    pub fn set_limit(&self, account: &str, limit: Option<i64>) {
        if !self.app.ledger().set_limit(account, limit) {
            warn!(account, "set_limit: no such account");
        }
    }

    /// An account's balance in minor units.
    pub fn balance(&self, account: &str) -> Option<i64> {
        self.app.ledger().balance_of(account)
    }

    /// A copy of all accounts and transactions, for an audit.
    pub fn ledger(&self) -> LedgerSnapshot {
        self.app.ledger().snapshot()
    }

    /// Activates a fault, replacing an active fault of the same kind on the
    /// same path (see [`Fault`] and [`FaultKind`] for the semantics). An
    /// error rate outside 0.0..=1.0 is clamped into it (NaN counts as 0.0).
    pub fn set_fault(&self, mut fault: Fault) {
        if let FaultKind::ErrorRate(p) = &mut fault.kind {
            if !(0.0..=1.0).contains(p) {
                warn!(rate = *p, "error rate out of range, clamped");
                *p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
            }
        }
        self.app.faults.set(fault);
    }

    /// Removes every fault and releases hung requests.
    pub fn clear_faults(&self) {
        self.app.faults.clear();
    }

    /// The active faults, in the order they were set.
    pub fn faults(&self) -> Vec<Fault> {
        self.app.faults.list()
    }

    /// Money requests (debit, credit, rollback) received with this `tx_id`,
    /// replays, refusals and fault-answered ones included.
    pub fn requests_for(&self, tx_id: &str) -> u64 {
        self.app.stats.requests_for(tx_id)
    }

    /// Money requests received in total.
    pub fn money_requests(&self) -> u64 {
        self.app.stats.money_requests()
    }

    /// All request counters.
    pub fn stats(&self) -> RequestStats {
        self.app.stats.snapshot()
    }

    /// Stops accepting, closes every connection (in-flight and hung
    /// requests included) and waits until that is done.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            // An error means the server task is already gone.
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// One account to seed, as the binary's `--seed acc-1:EUR:100000` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSeed {
    /// Account id (may itself contain `:`).
    pub account: String,
    /// ISO 4217 code.
    pub currency: String,
    /// Balance in minor units.
    pub balance: i64,
}

/// Why an `ACCOUNT:CURRENCY:BALANCE` seed does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeedParseError {
    /// Fewer than three `:`-separated parts, or an empty one.
    #[error("expected ACCOUNT:CURRENCY:BALANCE")]
    Shape,
    /// The balance is not an integer of minor units.
    #[error("balance must be an integer number of minor units")]
    Balance(#[from] std::num::ParseIntError),
}

impl FromStr for AccountSeed {
    type Err = SeedParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.rsplitn(3, ':');
        let (Some(balance), Some(currency), Some(account)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(SeedParseError::Shape);
        };
        if account.is_empty() || currency.is_empty() {
            return Err(SeedParseError::Shape);
        }
        Ok(AccountSeed {
            account: account.to_owned(),
            currency: currency.to_owned(),
            balance: balance.parse()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_argument_parses_from_the_right() {
        assert_eq!(
            "acc-1:EUR:100000".parse(),
            Ok(AccountSeed {
                account: "acc-1".into(),
                currency: "EUR".into(),
                balance: 100_000
            })
        );
        assert_eq!(
            "ns:acc:USD:-5".parse::<AccountSeed>().map(|s| s.account),
            Ok("ns:acc".into())
        );
        assert_eq!("acc:EUR".parse::<AccountSeed>(), Err(SeedParseError::Shape));
        assert!(matches!(
            "acc:EUR:1.5".parse::<AccountSeed>(),
            Err(SeedParseError::Balance(_))
        ));
    }

    #[test]
    fn config_debug_redacts_the_secret() {
        let shown = format!("{:?}", SandboxConfig::default());
        assert!(!shown.contains(DEMO_SECRET), "{shown}");
        assert!(shown.contains("redacted"));
    }
}
