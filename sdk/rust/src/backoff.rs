//! Full-jitter exponential backoff, with the hub's RetryInfo delay as a floor.

use std::time::Duration;

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
