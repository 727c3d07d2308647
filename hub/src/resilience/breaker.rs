//! A circuit breaker per provider endpoint: failsafe's state machine and
//! failure policies (consecutive failures, or a success rate over a window
//! with a minimum of calls), plus what failsafe lacks: a gate that lets
//! exactly one probe through while half-open, and open periods that back off
//! exponentially with jitter and a cap, sub-second values allowed.
//!
//! NotProcessed and Unknown count as failures, declines as successes. While
//! open, calls fail fast with [`CallError::CircuitOpen`] and nothing reaches
//! the provider.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use failsafe::failure_policy::{
    ConsecutiveFailures, FailurePolicy as _, OrElse, SuccessRateOverTimeWindow,
    consecutive_failures, success_rate_over_time_window,
};
use tokio::time::Instant;

use super::{BoxError, CallError, Jitter, ProviderCall, Reply, Verdict};
use crate::config::BreakerConfig;

/// Where a breaker is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls flow.
    Closed,
    /// Calls fail fast.
    Open,
    /// One probe may go through.
    HalfOpen,
}

impl BreakerState {
    fn from_u8(v: u8) -> Self {
        match v {
            1 => BreakerState::Open,
            2 => BreakerState::HalfOpen,
            _ => BreakerState::Closed,
        }
    }
}

/// Open periods: `base * 2^n`, capped at `max`, with equal jitter (half
/// fixed, half random) so breakers of many hubs do not probe in lockstep.
#[derive(Clone)]
pub struct OpenBackoff {
    attempt: u32,
    base: Duration,
    max: Duration,
    jitter: Arc<dyn Jitter>,
    last: Arc<AtomicU64>,
}

impl Iterator for OpenBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let ceiling = self
            .base
            .checked_mul(1u32.checked_shl(self.attempt.min(31)).unwrap_or(u32::MAX))
            .unwrap_or(self.max)
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let half = ceiling / 2;
        let delay = half + half.mul_f64(self.jitter.fraction().clamp(0.0, 1.0));
        let delay = delay.max(Duration::from_millis(1));
        self.last.store(
            u64::try_from(delay.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        Some(delay)
    }
}

type Policy = OrElse<ConsecutiveFailures<OpenBackoff>, SuccessRateOverTimeWindow<OpenBackoff>>;

/// Tracks the state machine's transitions for the gate and for reporting.
#[derive(Default)]
struct Tracker {
    state: AtomicU8,
    opened_at: Mutex<Option<Instant>>,
    last_open_us: Arc<AtomicU64>,
    opened: AtomicU64,
    /// The provider and endpoint, for the transitions metric.
    provider: String,
    endpoint: String,
}

impl Tracker {
    /// Enters state `code` (0 closed, 1 open, 2 half-open), counting a
    /// transition only when the state changes (failsafe also reports
    /// staying closed).
    fn enter(&self, code: u8, to: &str) {
        if self.state.swap(code, Ordering::AcqRel) != code {
            self.transition(to);
        }
    }

    fn transition(&self, to: &str) {
        crate::metrics::get()
            .breaker_transitions
            .get_or_create(&crate::metrics::TransitionLabels {
                provider: self.provider.clone(),
                endpoint: self.endpoint.clone(),
                to: to.to_owned(),
            })
            .inc();
    }
}

struct Instr(Arc<Tracker>);

impl failsafe::Instrument for Instr {
    fn on_call_rejected(&self) {}

    fn on_open(&self) {
        self.0.opened.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut at) = self.0.opened_at.lock() {
            *at = Some(Instant::now());
        }
        self.0.enter(1, "open");
    }

    fn on_half_open(&self) {
        self.0.enter(2, "half_open");
    }

    fn on_closed(&self) {
        self.0.enter(0, "closed");
    }
}

/// An operator's override of a breaker, for maintenance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Forced {
    /// No override: the breaker follows its policy.
    No,
    /// Held open: every call fails fast, nothing reaches the provider.
    Open,
    /// Held closed: every call goes through, whatever the policy says.
    Closed,
}

/// What a call refused by a breaker held open is told to wait.
const FORCED_OPEN_RETRY: Duration = Duration::from_secs(5);

struct Shared {
    machine: failsafe::StateMachine<Policy, Instr>,
    #[cfg_attr(not(test), allow(dead_code))]
    backoff_template: OpenBackoff,
    tracker: Arc<Tracker>,
    probe_out: AtomicBool,
    /// 0: no override, 1: held open, 2: held closed.
    forced: AtomicU8,
    label: String,
}

/// A breaker around `S`. Clones share the breaker.
pub struct Breaker<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: Clone> Clone for Breaker<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<S> Breaker<S> {
    /// A breaker named `label` (`provider/endpoint`, for logs and metrics)
    /// over `inner`.
    pub fn new(inner: S, label: String, config: &BreakerConfig, jitter: Arc<dyn Jitter>) -> Self {
        let (provider, endpoint) = label.split_once('/').unwrap_or((&label, ""));
        let tracker = Arc::new(Tracker {
            provider: provider.to_owned(),
            endpoint: endpoint.to_owned(),
            ..Tracker::default()
        });
        let backoff = Self::backoff(config, jitter, &tracker);
        let backoff_template = backoff.clone();
        let policy = consecutive_failures(config.consecutive_failures, backoff.clone()).or_else(
            success_rate_over_time_window(
                config.min_success_rate,
                config.min_requests,
                config.window,
                backoff,
            ),
        );
        let machine = failsafe::StateMachine::new(policy, Instr(tracker.clone()));
        Self {
            inner,
            shared: Arc::new(Shared {
                machine,
                backoff_template,
                tracker,
                probe_out: AtomicBool::new(false),
                forced: AtomicU8::new(0),
                label,
            }),
        }
    }

    fn backoff(config: &BreakerConfig, jitter: Arc<dyn Jitter>, tracker: &Tracker) -> OpenBackoff {
        OpenBackoff {
            attempt: 0,
            base: config.open_base,
            max: config.open_max,
            jitter,
            last: tracker.last_open_us.clone(),
        }
    }

    /// A fresh open-period sequence like the one this breaker uses.
    #[cfg(test)]
    pub(crate) fn backoff_for_tests(&self) -> OpenBackoff {
        OpenBackoff {
            attempt: 0,
            last: Arc::new(AtomicU64::new(0)),
            ..self.shared.backoff_template.clone()
        }
    }

    /// The breaker's state now, an operator's override included.
    pub fn state(&self) -> BreakerState {
        match self.forced() {
            Forced::Open => BreakerState::Open,
            Forced::Closed => BreakerState::Closed,
            Forced::No => self.policy_state(),
        }
    }

    /// The state its policy alone gives, ignoring any override.
    pub fn policy_state(&self) -> BreakerState {
        BreakerState::from_u8(self.shared.tracker.state.load(Ordering::Acquire))
    }

    /// The provider this breaker guards an endpoint of.
    pub fn provider(&self) -> &str {
        &self.shared.tracker.provider
    }

    /// The operator's override, if any.
    pub fn forced(&self) -> Forced {
        match self.shared.forced.load(Ordering::Acquire) {
            1 => Forced::Open,
            2 => Forced::Closed,
            _ => Forced::No,
        }
    }

    /// Holds the breaker open or closed, or ([`Forced::No`]) hands it back
    /// to its policy. Results seen while held still feed the policy.
    pub fn force(&self, forced: Forced) {
        let v = match forced {
            Forced::No => 0,
            Forced::Open => 1,
            Forced::Closed => 2,
        };
        let before = self.shared.forced.swap(v, Ordering::AcqRel);
        if before != v {
            tracing::warn!(endpoint = %self.shared.label, ?forced, "breaker override changed");
        }
    }

    /// How many times it has opened.
    pub fn times_opened(&self) -> u64 {
        self.shared.tracker.opened.load(Ordering::Relaxed)
    }

    /// The inner service.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Asks to call: a permit, or how long until a probe may go.
    fn permit(&self) -> Result<Permit, Duration> {
        let sh = &self.shared;
        match self.forced() {
            Forced::Open => return Err(FORCED_OPEN_RETRY),
            Forced::Closed => {
                return Ok(Permit {
                    shared: sh.clone(),
                    probe: false,
                    recorded: false,
                });
            }
            Forced::No => {}
        }
        if !sh.machine.is_call_permitted() {
            return Err(self.retry_after());
        }
        if self.policy_state() == BreakerState::HalfOpen {
            if sh
                .probe_out
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                // The probe is out; others fail fast until it decides.
                return Err(Duration::from_millis(100).min(self.last_open()));
            }
            tracing::info!(endpoint = %sh.label, "breaker half-open: sending one probe");
            return Ok(Permit {
                shared: sh.clone(),
                probe: true,
                recorded: false,
            });
        }
        Ok(Permit {
            shared: sh.clone(),
            probe: false,
            recorded: false,
        })
    }

    fn last_open(&self) -> Duration {
        Duration::from_micros(self.shared.tracker.last_open_us.load(Ordering::Relaxed))
    }

    fn retry_after(&self) -> Duration {
        let opened = self.shared.tracker.opened_at.lock().ok().and_then(|a| *a);
        let left = opened
            .map(|at| (at + self.last_open()).saturating_duration_since(Instant::now()))
            .unwrap_or_default();
        left.max(Duration::from_millis(1))
    }
}

/// Leave to call; records the result (a dropped call counts as a failure).
struct Permit {
    shared: Arc<Shared>,
    probe: bool,
    recorded: bool,
}

impl Permit {
    fn record(mut self, verdict: Option<Verdict>) {
        match verdict {
            Some(Verdict::Answered) => self.shared.machine.on_success(),
            Some(Verdict::NothingHappened | Verdict::Unclear) => {
                let before = self.shared.tracker.opened.load(Ordering::Relaxed);
                self.shared.machine.on_error();
                if self.shared.tracker.opened.load(Ordering::Relaxed) != before {
                    tracing::warn!(endpoint = %self.shared.label, "breaker opened");
                }
            }
            None => {}
        }
        self.recorded = true;
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.recorded {
            self.shared.machine.on_error();
        }
        if self.probe {
            self.shared.probe_out.store(false, Ordering::Release);
        }
    }
}

impl<S> tower::Service<ProviderCall> for Breaker<S>
where
    S: tower::Service<ProviderCall, Response = Reply, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Reply;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Reply, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, call: ProviderCall) -> Self::Future {
        let permit = match self.permit() {
            Ok(p) => p,
            Err(retry_after) => {
                return Box::pin(async move { Err(CallError::CircuitOpen { retry_after }.into()) });
            }
        };
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let result = inner.call(call).await;
            match &result {
                Ok(reply) => permit.record(Some(reply.verdict())),
                // Not called (no time left): nothing learned.
                Err(_) => permit.record(None),
            }
            result
        })
    }
}
