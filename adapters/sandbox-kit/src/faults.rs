//! Fault injection: ways a provider misbehaves on purpose, switched on and
//! off at run time by a test. Dialect-agnostic: where a misbehaviour needs a
//! body, the [`Dialect`](crate::Dialect) hooks supply it.
//!
//! Each active [`Fault`] applies to the dialect's paths (never
//! `/control/...`), optionally only to one path and only to the next N
//! requests on it. When a request arrives every matching fault is consulted
//! once, in the order the faults were set, and a plan for that request is
//! fixed: added latency (the sum of matching latencies), hang, answer 503,
//! and at most one after-commit misbehaviour (the first matching one). Every
//! matching fault with a `remaining` count uses up one, whether or not it
//! ended up deciding anything (an `ErrorRate` coin that came up "no" still
//! counts, and so does an after-commit fault on a request the dialect
//! refused before its books, to which it does not apply). Randomness comes
//! from a per-fault seeded generator, so a run is reproducible.

use std::mem::discriminant;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// Seed of a fault's generator when the fault names none.
pub const DEFAULT_SEED: u64 = 0x5eed;

/// One kind of misbehaviour. In JSON (the control surface): `{"latency":"250ms"}`,
/// `{"error_rate":0.5}`, `"hang"`, `"drop_after_commit"`,
/// `"server_error_after_commit"`, `"garbage"`, `"tampered"`.
///
/// The after-commit kinds (the last four) fire only when the dialect's
/// books took the request ([`Handled::committed`](crate::Handled::committed));
/// a request refused before (signature, malformed body) gets its real
/// refusal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Waits this long before handling the request at all (before the
    /// signature check and before the ledger). The request is then handled
    /// normally.
    Latency(#[serde(with = "humantime_serde")] Duration),
    /// With this probability (0.0 to 1.0) answers without processing:
    /// nothing is applied, nothing recorded, and the reply is
    /// [`Dialect::unavailable`](crate::Dialect::unavailable)'s (by default
    /// a 503 with an empty body). A client may safely retry.
    ErrorRate(f64),
    /// Accepts the request and answers nothing until the faults are cleared
    /// ([`crate::Sandbox::clear_faults`] or `DELETE /control/faults`); then
    /// the request is processed and answered normally. Never cleared, it
    /// never answers (a client sees a timeout; nothing is applied).
    Hang,
    /// Processes the request (applies it to the ledger and records its
    /// reply), then resets the connection (TCP RST) without sending a byte
    /// of the reply. A retry with the same transaction id gets whatever the
    /// dialect answers a duplicate with (typically the recorded reply).
    DropAfterCommit,
    /// Processes the request (applies and records it), then answers with
    /// [`Dialect::server_error`](crate::Dialect::server_error) instead of
    /// the real reply (by default a 500 with an empty body).
    ServerErrorAfterCommit,
    /// Processes the request (applies and records it), then answers with
    /// [`Dialect::garbage`](crate::Dialect::garbage) instead of the real
    /// reply: by default 200 with the real headers, a correct
    /// `Content-Length` and the first half of the real body (not valid
    /// JSON).
    Garbage,
    /// Processes the request (applies and records it), then answers with
    /// [`Dialect::tamper`](crate::Dialect::tamper)'s version of the real
    /// reply: well formed, but not trustworthy as the answer to this
    /// request (signed with a wrong key, or naming another transaction,
    /// account, currency, amount or balance; each dialect documents which).
    Tampered,
}

/// A fault with its scope. Build one with [`Fault::new`] and the builder
/// methods, or send it as JSON to `POST /control/faults`:
/// `{"kind":"hang","path":"/v1/debit","remaining":1}`. Paths are the
/// dialect's own (`/v1/debit`, `/api/transaction/bet`, `/bet.html`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    /// What happens.
    pub kind: FaultKind,
    /// Only requests to this exact path (`/v1/debit`); all dialect paths if
    /// `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Only the next this many matching requests; then the fault is gone.
    /// Forever if `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining: Option<u32>,
    /// Seed of this fault's random generator ([`DEFAULT_SEED`] if `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

impl Fault {
    /// A fault on every dialect path, for every request.
    pub fn new(kind: FaultKind) -> Self {
        Fault {
            kind,
            path: None,
            remaining: None,
            seed: None,
        }
    }

    /// Limits the fault to one path, e.g. `/v1/debit`.
    pub fn on_path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Limits the fault to the next `n` matching requests.
    pub fn times(mut self, n: u32) -> Self {
        self.remaining = Some(n);
        self
    }

    /// Seeds the fault's random generator.
    pub fn seeded(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Checks the parameters: an error rate must be a number in 0.0..=1.0.
    pub fn validate(&self) -> Result<(), FaultError> {
        match self.kind {
            FaultKind::ErrorRate(p) if !(0.0..=1.0).contains(&p) => {
                Err(FaultError::ErrorRateOutOfRange)
            }
            _ => Ok(()),
        }
    }

    fn matches(&self, path: &str) -> bool {
        self.path.as_deref().is_none_or(|p| p == path)
    }

    fn same_slot(&self, other: &Fault) -> bool {
        discriminant(&self.kind) == discriminant(&other.kind) && self.path == other.path
    }
}

/// Why a fault is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FaultError {
    /// `ErrorRate` outside 0.0..=1.0 (or not a number).
    #[error("error_rate must be between 0.0 and 1.0")]
    ErrorRateOutOfRange,
}

/// What to do after the ledger has processed a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AfterCommit {
    Drop,
    ServerError,
    Garbage,
    Tampered,
}

/// What the faults decided for one request, fixed when it arrived.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub latency: Duration,
    /// Wait until this changes (faults cleared) before going on.
    pub hang: Option<watch::Receiver<u64>>,
    pub unavailable: bool,
    pub after: Option<AfterCommit>,
}

#[derive(Debug)]
struct Active {
    fault: Fault,
    rng: StdRng,
}

/// The active faults of one sandbox.
#[derive(Debug)]
pub(crate) struct Faults {
    active: Mutex<Vec<Active>>,
    /// Bumped on every clear; hung requests wait for it.
    cleared: watch::Sender<u64>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            active: Mutex::new(Vec::new()),
            cleared: watch::Sender::new(0),
        }
    }
}

impl Faults {
    fn lock(&self) -> MutexGuard<'_, Vec<Active>> {
        self.active.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Activates a fault, replacing an active one of the same kind on the
    /// same path. A fault with `remaining: Some(0)` only removes that one.
    /// The fault must be valid (see [`Fault::validate`]).
    pub fn set(&self, fault: Fault) {
        let mut active = self.lock();
        active.retain(|a| !a.fault.same_slot(&fault));
        if fault.remaining == Some(0) {
            return;
        }
        let rng = StdRng::seed_from_u64(fault.seed.unwrap_or(DEFAULT_SEED));
        active.push(Active { fault, rng });
    }

    /// Removes every fault and releases every hung request.
    pub fn clear(&self) {
        let mut active = self.lock();
        active.clear();
        self.cleared.send_modify(|generation| *generation += 1);
    }

    /// The active faults, in the order they were set.
    pub fn list(&self) -> Vec<Fault> {
        self.lock().iter().map(|a| a.fault.clone()).collect()
    }

    /// Decides what happens to a request on `path` arriving now.
    pub fn plan(&self, path: &str) -> Plan {
        let mut plan = Plan::default();
        let mut active = self.lock();
        for entry in active.iter_mut().filter(|a| a.fault.matches(path)) {
            if let Some(remaining) = entry.fault.remaining.as_mut() {
                *remaining = remaining.saturating_sub(1);
            }
            match entry.fault.kind {
                FaultKind::Latency(d) => plan.latency = plan.latency.saturating_add(d),
                FaultKind::ErrorRate(p) => {
                    // Drawn even when already unavailable, so the sequence a
                    // seed gives does not depend on other faults.
                    let draw: f64 = entry.rng.random();
                    plan.unavailable |= draw < p;
                }
                FaultKind::Hang => {
                    if plan.hang.is_none() {
                        // Subscribed under the lock that `clear` takes, so a
                        // clear cannot slip between deciding and waiting.
                        plan.hang = Some(self.cleared.subscribe());
                    }
                }
                FaultKind::DropAfterCommit => {
                    plan.after.get_or_insert(AfterCommit::Drop);
                }
                FaultKind::ServerErrorAfterCommit => {
                    plan.after.get_or_insert(AfterCommit::ServerError);
                }
                FaultKind::Garbage => {
                    plan.after.get_or_insert(AfterCommit::Garbage);
                }
                FaultKind::Tampered => {
                    plan.after.get_or_insert(AfterCommit::Tampered);
                }
            }
        }
        active.retain(|a| a.fault.remaining != Some(0));
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_counts_down_and_path_scopes() {
        let faults = Faults::default();
        faults.set(Fault::new(FaultKind::Garbage).on_path("/v1/debit").times(2));
        assert_eq!(faults.plan("/v1/credit").after, None);
        assert_eq!(faults.plan("/v1/debit").after, Some(AfterCommit::Garbage));
        assert_eq!(faults.plan("/v1/debit").after, Some(AfterCommit::Garbage));
        assert_eq!(faults.plan("/v1/debit").after, None);
        assert!(faults.list().is_empty());
    }

    #[test]
    fn same_kind_and_path_replaces_and_first_after_commit_wins() {
        let faults = Faults::default();
        faults.set(Fault::new(FaultKind::Latency(Duration::from_millis(5))));
        faults.set(Fault::new(FaultKind::Latency(Duration::from_millis(7))));
        faults.set(Fault::new(FaultKind::Latency(Duration::from_millis(1))).on_path("/v1/debit"));
        faults.set(Fault::new(FaultKind::ServerErrorAfterCommit));
        faults.set(Fault::new(FaultKind::Garbage));
        assert_eq!(faults.list().len(), 4);
        let plan = faults.plan("/v1/debit");
        assert_eq!(plan.latency, Duration::from_millis(8));
        assert_eq!(plan.after, Some(AfterCommit::ServerError));
        faults.set(Fault::new(FaultKind::ServerErrorAfterCommit).times(0));
        assert_eq!(faults.plan("/v1/debit").after, Some(AfterCommit::Garbage));
    }

    #[test]
    fn error_rate_is_reproducible_from_its_seed() {
        let draws = |seed| {
            let faults = Faults::default();
            faults.set(Fault::new(FaultKind::ErrorRate(0.5)).seeded(seed));
            (0..64)
                .map(|_| faults.plan("/v1/debit").unavailable)
                .collect::<Vec<_>>()
        };
        let a = draws(7);
        assert_eq!(a, draws(7));
        assert_ne!(a, draws(8));
        assert!(a.contains(&true) && a.contains(&false));
    }

    #[test]
    fn error_rate_bounds() {
        assert!(Fault::new(FaultKind::ErrorRate(1.0)).validate().is_ok());
        assert!(Fault::new(FaultKind::ErrorRate(0.0)).validate().is_ok());
        for p in [-0.1, 1.5, f64::NAN] {
            assert_eq!(
                Fault::new(FaultKind::ErrorRate(p)).validate(),
                Err(FaultError::ErrorRateOutOfRange)
            );
        }
        let faults = Faults::default();
        faults.set(Fault::new(FaultKind::ErrorRate(1.0)));
        assert!((0..20).all(|_| faults.plan("/v1/balance").unavailable));
        faults.set(Fault::new(FaultKind::ErrorRate(0.0)));
        assert!((0..20).all(|_| !faults.plan("/v1/balance").unavailable));
    }

    #[test]
    fn json_shape() {
        let fault: Fault = serde_json::from_str(
            r#"{"kind":{"latency":"250ms"},"path":"/v1/debit","remaining":3}"#,
        )
        .expect("valid fault json");
        assert_eq!(
            fault,
            Fault::new(FaultKind::Latency(Duration::from_millis(250)))
                .on_path("/v1/debit")
                .times(3)
        );
        let hang: Fault = serde_json::from_str(r#"{"kind":"hang"}"#).expect("valid fault json");
        assert_eq!(hang, Fault::new(FaultKind::Hang));
        let tampered: Fault =
            serde_json::from_str(r#"{"kind":"tampered","path":"/bet.html"}"#).expect("valid");
        assert_eq!(
            tampered,
            Fault::new(FaultKind::Tampered).on_path("/bet.html")
        );
        assert_eq!(
            serde_json::to_string(&Fault::new(FaultKind::Tampered)).expect("serializes"),
            r#"{"kind":"tampered"}"#
        );
        let rate: Fault =
            serde_json::from_str(r#"{"kind":{"error_rate":0.25},"seed":9}"#).expect("valid");
        assert_eq!(rate, Fault::new(FaultKind::ErrorRate(0.25)).seeded(9));
    }

    #[tokio::test]
    async fn clear_releases_a_hang() {
        let faults = Faults::default();
        faults.set(Fault::new(FaultKind::Hang));
        let mut hang = faults.plan("/v1/debit").hang.expect("hang planned");
        faults.clear();
        tokio::time::timeout(Duration::from_secs(1), hang.changed())
            .await
            .expect("released")
            .expect("sender alive");
    }
}
