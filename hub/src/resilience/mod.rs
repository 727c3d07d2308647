//! Resilience per provider, as tower layers assembled in one place
//! ([`stack`]): a fast-rejecting concurrency limit, budgeted retries of what
//! provably moved nothing, failover to a backup endpoint, and a circuit
//! breaker and a per-attempt timeout per endpoint.
//!
//! ```text
//! LoadShed(ConcurrencyLimit)        bulkhead: full -> RESOURCE_EXHAUSTED at once
//!   Retry(RetryPolicy)              NotProcessed and read-only queries only, jittered, budgeted
//!     Failover                      backup while the primary is sick, or after NotProcessed
//!       Breaker -> Attempt          per endpoint (BreakerLayer over Attempt): failsafe +
//!                                   one-probe gate; per-attempt timeout = Unknown
//! ```
//!
//! Every layer passes the adapter's classified reply through untouched; the
//! layers only decide whether (and where) to call. Errors between layers
//! are boxed ([`CallError`] or tower's `Overloaded`) and become a gRPC status
//! once, at the edge. Decisions take their time from tokio's clock and their
//! randomness from an injected [`Jitter`], so tests (and a simulator) can
//! drive them deterministically.

mod attempt;
mod breaker;
mod failover;
mod health;
mod retry;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use adapter_api::{
    Adapter, AdapterError, BalanceRequest, Money, MoneyRequest, Outcome, RollbackRequest,
    StatusRequest, TxStatus,
};
use rand::{Rng, SeedableRng};
use tokio::time::Instant;
use tower::ServiceBuilder;
use tower::util::BoxCloneSyncService;

pub use attempt::Attempt;
pub use breaker::{Breaker, BreakerLayer, BreakerState, Forced};
pub use failover::Failover;
pub use health::{EndpointHealth, HealthChecker};
pub use retry::RetryPolicy;

use crate::config::ProviderConfig;

/// An error between layers.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// One call to a provider, as it travels down the stack.
#[derive(Clone, Debug)]
pub struct ProviderCall {
    /// What to ask.
    pub op: Operation,
    /// When the partner must have its answer: no attempt starts after it,
    /// and retries must fit before it.
    pub answer_by: Instant,
}

/// The adapter operation of a call.
#[derive(Clone, Debug)]
pub enum Operation {
    /// A debit or credit.
    Transfer(MoneyRequest),
    /// A rollback.
    Rollback(RollbackRequest),
    /// A balance query.
    Balance(BalanceRequest),
    /// A status query.
    Status(StatusRequest),
}

impl Operation {
    /// Read-only operations are safe to retry whatever happened.
    pub fn is_read_only(&self) -> bool {
        matches!(self, Operation::Balance(_) | Operation::Status(_))
    }
}

/// The adapter's classified answer, passed through the stack untouched.
#[derive(Debug)]
pub enum Reply {
    /// Of a transfer or rollback.
    Moved(Outcome),
    /// Of a balance query.
    Balance(Result<Money, AdapterError>),
    /// Of a status query.
    Status(TxStatus),
}

/// How a reply counts for the breaker and the retry policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The provider answered (declines included).
    Answered,
    /// Provably nothing happened at the provider.
    NothingHappened,
    /// The provider may have acted, or a query got no usable answer.
    Unclear,
}

impl Reply {
    /// The reply's verdict.
    pub fn verdict(&self) -> Verdict {
        let by_error = |e: &AdapterError| match e {
            AdapterError::Connect(_) | AdapterError::Rejected { .. } => Verdict::NothingHappened,
            AdapterError::Declined(_) | AdapterError::Unsupported => Verdict::Answered,
            _ => Verdict::Unclear,
        };
        match self {
            Reply::Moved(Outcome::Settled(_) | Outcome::Declined(_)) => Verdict::Answered,
            Reply::Moved(Outcome::NotProcessed(_)) => Verdict::NothingHappened,
            Reply::Moved(Outcome::Unknown(_)) => Verdict::Unclear,
            Reply::Balance(Ok(_)) => Verdict::Answered,
            Reply::Balance(Err(e)) | Reply::Status(TxStatus::Unknown(e)) => by_error(e),
            Reply::Status(_) => Verdict::Answered,
        }
    }
}

/// Why the stack did not call the provider. Nothing moved in every case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The endpoint's breaker is open (or half-open with its probe out).
    #[error("circuit open; retry in {retry_after:?}")]
    CircuitOpen {
        /// When the breaker will let a probe through.
        retry_after: Duration,
    },
    /// No time is left before the partner's deadline to start an attempt.
    #[error("no time left before the deadline")]
    NoTimeLeft,
}

/// Randomness for jitter, injectable for deterministic tests.
pub trait Jitter: Send + Sync + 'static {
    /// A uniformly random fraction in `[0, 1)`.
    fn fraction(&self) -> f64;
}

/// Jitter that always draws the same fraction (meant to be in `[0, 1)`), for
/// tests and simulations that need to pin a decision (0: no wait; just
/// under 1: the whole ceiling).
#[derive(Clone, Copy, Debug)]
pub struct FixedJitter(pub f64);

impl Jitter for FixedJitter {
    fn fraction(&self) -> f64 {
        self.0
    }
}

/// Jitter from a seeded generator: the same seed, the same decisions.
pub struct SeededJitter(Mutex<rand::rngs::StdRng>);

impl SeededJitter {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(Mutex::new(rand::rngs::StdRng::seed_from_u64(seed)))
    }

    /// A generator seeded from the operating system.
    pub fn from_entropy() -> Self {
        Self(Mutex::new(rand::rngs::StdRng::from_os_rng()))
    }
}

impl Jitter for SeededJitter {
    fn fraction(&self) -> f64 {
        match self.0.lock() {
            Ok(mut r) => r.random::<f64>(),
            Err(_) => 0.5,
        }
    }
}

/// The assembled stack of one provider.
pub type ProviderService = BoxCloneSyncService<ProviderCall, Reply, BoxError>;

/// One endpoint's adapter (an [`Attempt`], or a fake in tests) with its
/// breaker and health.
#[derive(Clone)]
pub struct Endpoint<S = Attempt> {
    /// `primary` or `backup`.
    pub name: &'static str,
    /// Calls through the breaker to the adapter.
    pub breaker: Breaker<S>,
    /// What active checks say.
    pub health: EndpointHealth,
}

/// Builds the whole stack of provider `provider` over its primary adapter
/// and its backup's (if any), as its configuration says: the service calls
/// go through, and the endpoints (primary first) for health checks and
/// reporting.
pub fn stack(
    provider: &str,
    primary: Arc<dyn Adapter>,
    backup: Option<Arc<dyn Adapter>>,
    config: &ProviderConfig,
    jitter: Arc<dyn Jitter>,
) -> (ProviderService, Vec<Endpoint>) {
    let timeout = config
        .timeout
        .unwrap_or(primary.descriptor().default_timeout);
    let endpoint =
        |name, adapter| endpoint(provider, name, adapter, timeout, config, jitter.clone());
    let primary = endpoint("primary", primary);
    let backup = backup.map(|adapter| endpoint("backup", adapter));
    let mut endpoints = vec![primary.clone()];
    endpoints.extend(backup.clone());
    let budget = Arc::new(tower::retry::budget::TpsBudget::new(
        config.retry.budget_window,
        config.retry.budget_min_per_second,
        config.retry.budget_ratio,
    ));
    let policy = RetryPolicy::new(config.retry.clone(), budget, jitter).labelled(provider);
    let svc = ServiceBuilder::new()
        .load_shed()
        .concurrency_limit(config.concurrency)
        .retry(policy)
        .service(Failover::new(primary, backup));
    (BoxCloneSyncService::new(svc), endpoints)
}

/// One endpoint's part of the stack: its adapter, each call bounded by the
/// per-attempt `timeout`, behind the endpoint's own breaker.
fn endpoint(
    provider: &str,
    name: &'static str,
    adapter: Arc<dyn Adapter>,
    timeout: Duration,
    config: &ProviderConfig,
    jitter: Arc<dyn Jitter>,
) -> Endpoint {
    let breaker = ServiceBuilder::new()
        .layer(BreakerLayer::new(
            format!("{provider}/{name}"),
            &config.breaker,
            jitter,
        ))
        .service(Attempt::new(adapter, timeout).labelled(provider, name));
    Endpoint {
        name,
        breaker,
        health: EndpointHealth::default(),
    }
}
