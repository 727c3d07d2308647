//! Full-jitter exponential backoff, with the hub's RetryInfo delay as a floor,
//! and the source of its randomness.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rand::{Rng, SeedableRng, rngs::StdRng};

/// Where the backoff's jitter comes from: uniform draws in `[0, 1)`.
///
/// [`Jitter::system`] (the default) draws from the thread-local generator;
/// [`Jitter::seeded`] makes a client's waits reproducible, for tests and
/// replays of an incident.
///
/// ```
/// use settlement_sdk::Jitter;
/// let a = Jitter::seeded(7);
/// let b = Jitter::seeded(7);
/// assert_eq!((a.draw(), a.draw()), (b.draw(), b.draw()));
/// assert!((0.0..1.0).contains(&Jitter::system().draw()));
/// ```
#[derive(Clone)]
pub struct Jitter(Arc<dyn Fn() -> f64 + Send + Sync>);

impl Jitter {
    /// Draws from the thread-local random generator.
    pub fn system() -> Jitter {
        Jitter(Arc::new(rand::random::<f64>))
    }

    /// A deterministic sequence from `seed`, shared by the client's clones.
    pub fn seeded(seed: u64) -> Jitter {
        let rng = Mutex::new(StdRng::seed_from_u64(seed));
        Jitter(Arc::new(move || {
            rng.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .random::<f64>()
        }))
    }

    /// Any source; values outside `[0, 1]` are clamped.
    pub fn from_fn(f: impl Fn() -> f64 + Send + Sync + 'static) -> Jitter {
        Jitter(Arc::new(f))
    }

    /// The next draw.
    pub fn draw(&self) -> f64 {
        (self.0)()
    }
}

impl Default for Jitter {
    fn default() -> Self {
        Jitter::system()
    }
}

impl fmt::Debug for Jitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Jitter(..)")
    }
}

/// How long to wait before retry number `attempt` (1 for the first retry).
///
/// Full jitter: a uniform pick in `[0, min(max, base * 2^(attempt-1))]`,
/// `unit` being the uniform draw in `[0, 1)` (injected so tests are
/// deterministic). A `hint` from the hub's RetryInfo is a lower bound.
pub(crate) fn delay(
    attempt: u32,
    base: Duration,
    max: Duration,
    hint: Option<Duration>,
    unit: f64,
) -> Duration {
    let exp = attempt.saturating_sub(1).min(20);
    let cap = base.saturating_mul(1u32 << exp).min(max);
    let jittered = cap.mul_f64(unit.clamp(0.0, 1.0));
    match hint {
        Some(h) => jittered.max(h),
        None => jittered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn grows_then_caps_and_respects_the_hint() {
        assert_eq!(delay(1, 100 * MS, MS * 1000, None, 1.0), 100 * MS);
        assert_eq!(delay(3, 100 * MS, MS * 1000, None, 1.0), 400 * MS);
        assert_eq!(delay(10, 100 * MS, MS * 1000, None, 1.0), 1000 * MS);
        assert_eq!(delay(3, 100 * MS, MS * 1000, None, 0.5), 200 * MS);
        assert_eq!(delay(3, 100 * MS, MS * 1000, None, 0.0), Duration::ZERO);
        assert_eq!(delay(1, 100 * MS, MS * 1000, Some(500 * MS), 0.1), 500 * MS);
    }
}
