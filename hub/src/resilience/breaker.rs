//! A circuit breaker per provider endpoint: failsafe's state machine and
//! failure policies (consecutive failures, or a success rate over a window
//! with a minimum of calls), behind a gate that adds what failsafe lacks:
//! exactly one probe while half-open, and open periods on tokio's clock that
//! back off exponentially with jitter and a cap, sub-second values allowed.
//!
//! The gate owns the open period. failsafe is given open periods of zero
//! and is asked to go half-open only once the gate's period is over, so the
//! time a call is refused for, the `RetryInfo` it is told, and the moment
//! [`Breaker::state`] turns half-open all come from one instant on tokio's
//! clock (paused in tests, driven by a simulator later). Every call into
//! the state machine happens under the gate's lock, and the transitions it
//! reports are applied to the gate before that lock is released, so no
//! caller ever sees the two disagree. (failsafe's success-rate window still
//! keeps its own time with std's clock; tests freeze that one with
//! `failsafe::clock::freeze`.)
//!
//! NotProcessed and Unknown count as failures, declines as successes. While
//! open, calls fail fast with [`CallError::CircuitOpen`] and nothing reaches
//! the provider.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
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
    /// The open period is over: the next call goes through as the one
    /// probe (others fail fast while it is out).
    HalfOpen,
}

/// Open periods: `base * 2^n`, capped at `max`, with equal jitter (half
/// fixed, half random) so breakers of many hubs do not probe in lockstep.
#[derive(Clone)]
pub struct OpenBackoff {
    attempt: u32,
    base: Duration,
    max: Duration,
    jitter: Arc<dyn Jitter>,
}

impl OpenBackoff {
    /// The next open period.
    fn period(&mut self) -> Duration {
        let ceiling = self
            .base
            .checked_mul(1u32.checked_shl(self.attempt.min(31)).unwrap_or(u32::MAX))
            .unwrap_or(self.max)
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let half = ceiling / 2;
        let delay = half + half.mul_f64(self.jitter.fraction().clamp(0.0, 1.0));
        delay.max(Duration::from_millis(1))
    }
}

impl Iterator for OpenBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        Some(self.period())
    }
}

/// What failsafe's policies are given as open periods: none, because the
/// gate keeps the real ones (one sequence for both policies, so an opening
/// that both trip at once still has one period, the one callers are told).
type NoWait = std::iter::Repeat<Duration>;

type Policy = OrElse<ConsecutiveFailures<NoWait>, SuccessRateOverTimeWindow<NoWait>>;

/// Transitions failsafe reported, as bits, until the gate applies them.
const OPENED: u8 = 1;
const HALF_OPENED: u8 = 2;
const CLOSED: u8 = 4;

struct Events(Arc<AtomicU8>);

impl failsafe::Instrument for Events {
    fn on_call_rejected(&self) {}

    fn on_open(&self) {
        self.0.fetch_or(OPENED, Ordering::AcqRel);
    }

    fn on_half_open(&self) {
        self.0.fetch_or(HALF_OPENED, Ordering::AcqRel);
    }

    fn on_closed(&self) {
        self.0.fetch_or(CLOSED, Ordering::AcqRel);
    }
}

/// Where the gate is. Moves only with the state machine's transitions,
/// under the gate's lock.
#[derive(Clone, Copy, Debug)]
enum Phase {
    Closed,
    /// Refusing calls until `until`; then the next call is the probe.
    Open {
        until: Instant,
    },
    /// failsafe is half-open; `probe` is the token of the probe out, if any.
    HalfOpen {
        probe: Option<u64>,
    },
}

struct Gate {
    phase: Phase,
    backoff: OpenBackoff,
    /// The latest open period, to bound what callers refused while the
    /// probe is out are told to wait.
    open_for: Duration,
    /// The last probe token given: a late answer of an older probe must not
    /// free a newer probe's slot.
    probes: u64,
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

/// Most a call refused while the probe is out is told to wait: the probe
/// usually decides sooner than a whole open period.
const PROBE_OUT_RETRY: Duration = Duration::from_millis(100);

struct Shared {
    machine: failsafe::StateMachine<Policy, Events>,
    /// Filled by the machine's instrument, drained under the gate's lock.
    events: Arc<AtomicU8>,
    gate: Mutex<Gate>,
    opened: AtomicU64,
    /// 0: no override, 1: held open, 2: held closed.
    forced: AtomicU8,
    label: String,
    /// The provider and endpoint, for the transitions metric.
    provider: String,
    endpoint: String,
}

impl Shared {
    fn gate(&self) -> MutexGuard<'_, Gate> {
        self.gate.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies what the state machine reported since the last call into it.
    /// Called with the gate locked, right after every such call.
    fn apply(&self, gate: &mut Gate, now: Instant) {
        let events = self.events.swap(0, Ordering::AcqRel);
        if events & OPENED != 0 {
            let period = gate.backoff.period();
            gate.phase = Phase::Open {
                until: now + period,
            };
            gate.open_for = period;
            self.opened.fetch_add(1, Ordering::Relaxed);
            self.transition("open");
            tracing::warn!(endpoint = %self.label, ?period, "breaker opened");
        } else if events & CLOSED != 0 {
            gate.phase = Phase::Closed;
            gate.backoff.attempt = 0;
            self.transition("closed");
            tracing::info!(endpoint = %self.label, "breaker closed");
        }
        if events & HALF_OPENED != 0 {
            self.transition("half_open");
        }
    }

    /// Feeds a call's result to the policy (`None`: nothing learned) and
    /// frees the probe slot if this call was the probe.
    fn settle(&self, success: Option<bool>, probe: Option<u64>) {
        let mut gate = self.gate();
        match success {
            Some(true) => self.machine.on_success(),
            Some(false) => self.machine.on_error(),
            None => {}
        }
        self.apply(&mut gate, Instant::now());
        if let (Some(token), Phase::HalfOpen { probe: out }) = (probe, &mut gate.phase) {
            if *out == Some(token) {
                // The probe decided nothing: the next call probes.
                *out = None;
            }
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

/// Puts a new [`Breaker`] in front of each service it layers: one per
/// endpoint.
#[derive(Clone)]
pub struct BreakerLayer {
    label: String,
    config: BreakerConfig,
    jitter: Arc<dyn Jitter>,
}

impl BreakerLayer {
    /// Breakers named `label` (`provider/endpoint`) with `config`'s
    /// thresholds and open periods jittered by `jitter`.
    pub fn new(label: String, config: &BreakerConfig, jitter: Arc<dyn Jitter>) -> Self {
        Self {
            label,
            config: config.clone(),
            jitter,
        }
    }
}

impl<S> tower::Layer<S> for BreakerLayer {
    type Service = Breaker<S>;

    fn layer(&self, inner: S) -> Breaker<S> {
        Breaker::new(inner, self.label.clone(), &self.config, self.jitter.clone())
    }
}

impl<S> Breaker<S> {
    /// A breaker named `label` (`provider/endpoint`, for logs and metrics)
    /// over `inner`.
    pub fn new(inner: S, label: String, config: &BreakerConfig, jitter: Arc<dyn Jitter>) -> Self {
        let (provider, endpoint) = label.split_once('/').unwrap_or((&label, ""));
        let no_wait = std::iter::repeat(Duration::ZERO);
        let policy = consecutive_failures(config.consecutive_failures, no_wait.clone()).or_else(
            success_rate_over_time_window(
                config.min_success_rate,
                config.min_requests,
                config.window,
                no_wait,
            ),
        );
        let events = Arc::new(AtomicU8::new(0));
        let machine = failsafe::StateMachine::new(policy, Events(events.clone()));
        // It starts closed, as the gate does: nothing to apply.
        events.store(0, Ordering::Release);
        Self {
            inner,
            shared: Arc::new(Shared {
                machine,
                events,
                gate: Mutex::new(Gate {
                    phase: Phase::Closed,
                    backoff: OpenBackoff {
                        attempt: 0,
                        base: config.open_base,
                        max: config.open_max,
                        jitter,
                    },
                    open_for: config.open_base,
                    probes: 0,
                }),
                opened: AtomicU64::new(0),
                forced: AtomicU8::new(0),
                provider: provider.to_owned(),
                endpoint: endpoint.to_owned(),
                label,
            }),
        }
    }

    /// A fresh open-period sequence like the one this breaker uses.
    #[cfg(test)]
    pub(crate) fn backoff_for_tests(&self) -> OpenBackoff {
        OpenBackoff {
            attempt: 0,
            ..self.shared.gate().backoff.clone()
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

    /// The state its policy alone gives, ignoring any override: half-open
    /// as soon as the open period is over, before any call arrives, so
    /// failover and health reporting send the next call to probe it.
    pub fn policy_state(&self) -> BreakerState {
        match self.shared.gate().phase {
            Phase::Closed => BreakerState::Closed,
            Phase::Open { until } if Instant::now() < until => BreakerState::Open,
            Phase::Open { .. } | Phase::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// The provider this breaker guards an endpoint of.
    pub fn provider(&self) -> &str {
        &self.shared.provider
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
        self.shared.opened.load(Ordering::Relaxed)
    }

    /// The inner service.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Asks to call: a permit, or how long until a probe may go. Decided
    /// under the gate's lock, so of any number of concurrent callers after
    /// an open period exactly one becomes the probe.
    fn permit(&self) -> Result<Permit, Duration> {
        let sh = &self.shared;
        match self.forced() {
            Forced::Open => return Err(FORCED_OPEN_RETRY),
            Forced::Closed => return Ok(Permit::new(sh, None)),
            Forced::No => {}
        }
        let mut gate = sh.gate();
        let now = Instant::now();
        match gate.phase {
            Phase::Closed => Ok(Permit::new(sh, None)),
            Phase::Open { until } if now < until => Err(until.duration_since(now)),
            Phase::HalfOpen { probe: Some(_) } => Err(PROBE_OUT_RETRY.min(gate.open_for)),
            Phase::Open { .. } | Phase::HalfOpen { probe: None } => {
                // failsafe's own open period is zero: it goes half-open now.
                let permitted = sh.machine.is_call_permitted();
                sh.apply(&mut gate, now);
                if !permitted {
                    // Its clock (std's) has not ticked since it opened.
                    return Err(Duration::from_millis(1));
                }
                gate.probes += 1;
                let token = gate.probes;
                gate.phase = Phase::HalfOpen { probe: Some(token) };
                tracing::info!(endpoint = %sh.label, "breaker half-open: sending one probe");
                Ok(Permit::new(sh, Some(token)))
            }
        }
    }
}

/// Leave to call; records the result (a dropped call counts as a failure).
struct Permit {
    shared: Arc<Shared>,
    /// The probe's token, if this call is the probe.
    probe: Option<u64>,
    recorded: bool,
}

impl Permit {
    fn new(shared: &Arc<Shared>, probe: Option<u64>) -> Self {
        Self {
            shared: shared.clone(),
            probe,
            recorded: false,
        }
    }

    fn record(mut self, verdict: Option<Verdict>) {
        self.recorded = true;
        self.shared
            .settle(verdict.map(|v| v == Verdict::Answered), self.probe);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.recorded {
            self.shared.settle(Some(false), self.probe);
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
