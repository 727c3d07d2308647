//! What a run measured: an HDR histogram of latency per operation (1 µs to
//! 60 s, 3 significant digits), errors by gRPC code, and a per-second time
//! series (throughput, p50 and p99 of the calls completed in that second)
//! that also feeds the live progress line.
//!
//! Workers record into shards (one mutex each, never held across an await)
//! so that hundreds of concurrent callers do not queue on one lock.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::mix::Op;

/// Highest latency a histogram holds, in microseconds (longer is clamped).
const MAX_US: u64 = 60_000_000;

fn histogram() -> Histogram<u64> {
    // 1 µs .. 60 s with 3 significant digits always constructs.
    Histogram::new_with_bounds(1, MAX_US, 3).unwrap_or_else(|_| unreachable!())
}

/// The stable name of a gRPC status code, as in the gRPC spec.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code as C;
    match code {
        C::Ok => "OK",
        C::Cancelled => "CANCELLED",
        C::Unknown => "UNKNOWN",
        C::InvalidArgument => "INVALID_ARGUMENT",
        C::DeadlineExceeded => "DEADLINE_EXCEEDED",
        C::NotFound => "NOT_FOUND",
        C::AlreadyExists => "ALREADY_EXISTS",
        C::PermissionDenied => "PERMISSION_DENIED",
        C::ResourceExhausted => "RESOURCE_EXHAUSTED",
        C::FailedPrecondition => "FAILED_PRECONDITION",
        C::Aborted => "ABORTED",
        C::OutOfRange => "OUT_OF_RANGE",
        C::Unimplemented => "UNIMPLEMENTED",
        C::Internal => "INTERNAL",
        C::Unavailable => "UNAVAILABLE",
        C::DataLoss => "DATA_LOSS",
        C::Unauthenticated => "UNAUTHENTICATED",
    }
}

struct OpAcc {
    latency: Histogram<u64>,
    ok: u64,
    errors: BTreeMap<&'static str, u64>,
}

struct Shard {
    ops: Vec<OpAcc>,
    window: Histogram<u64>,
    window_ok: u64,
    window_errors: u64,
}

impl Shard {
    fn new() -> Self {
        Shard {
            ops: Op::ALL
                .iter()
                .map(|_| OpAcc {
                    latency: histogram(),
                    ok: 0,
                    errors: BTreeMap::new(),
                })
                .collect(),
            window: histogram(),
            window_ok: 0,
            window_errors: 0,
        }
    }
}

/// Collects every call's latency and result.
pub struct Recorder {
    shards: Box<[Mutex<Shard>]>,
    started: Instant,
    last_tick: Mutex<Instant>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Recorder {
    /// A recorder with `shards` independent locks (at least one).
    pub fn new(shards: usize) -> Self {
        let now = Instant::now();
        Recorder {
            shards: (0..shards.max(1))
                .map(|_| Mutex::new(Shard::new()))
                .collect(),
            started: now,
            last_tick: Mutex::new(now),
        }
    }

    /// Records one call of `op` that took `latency`, made by a worker
    /// that uses shard `shard` (any number; it is reduced modulo the
    /// shard count). `Err(code)` is a call that did not answer OK.
    pub fn record(&self, shard: usize, op: Op, latency: Duration, result: Result<(), tonic::Code>) {
        let us = u64::try_from(latency.as_micros())
            .unwrap_or(MAX_US)
            .clamp(1, MAX_US);
        let mut s = lock(&self.shards[shard % self.shards.len()]);
        let acc = &mut s.ops[op.index()];
        // In bounds by the clamp above.
        let _ = acc.latency.record(us);
        match result {
            Ok(()) => acc.ok += 1,
            Err(code) => *acc.errors.entry(code_name(code)).or_default() += 1,
        }
        let _ = s.window.record(us);
        match result {
            Ok(()) => s.window_ok += 1,
            Err(_) => s.window_errors += 1,
        }
    }

    /// Closes the current window of the time series: what completed since
    /// the previous tick.
    pub fn tick(&self) -> TimePoint {
        let mut window = histogram();
        let (mut ok, mut errors) = (0, 0);
        for shard in self.shards.iter() {
            let mut s = lock(shard);
            let _ = window.add(&s.window);
            s.window.reset();
            ok += std::mem::take(&mut s.window_ok);
            errors += std::mem::take(&mut s.window_errors);
        }
        let now = Instant::now();
        let since = {
            let mut last = lock(&self.last_tick);
            let since = now.duration_since(*last);
            *last = now;
            since
        };
        let secs = since.as_secs_f64().max(1e-6);
        TimePoint {
            t_s: now.duration_since(self.started).as_secs_f64(),
            ok_per_s: ok as f64 / secs,
            errors_per_s: errors as f64 / secs,
            p50_ms: ms(window.value_at_quantile(0.5)),
            p99_ms: ms(window.value_at_quantile(0.99)),
        }
    }

    /// Everything recorded so far, over `elapsed` of load.
    pub fn summary(&self, elapsed: Duration) -> Summary {
        let mut ops = BTreeMap::new();
        let mut all = histogram();
        let mut errors: BTreeMap<&'static str, u64> = BTreeMap::new();
        let (mut calls, mut ok) = (0, 0);
        for op in Op::ALL {
            let mut latency = histogram();
            let mut op_ok = 0;
            let mut op_errors: BTreeMap<&'static str, u64> = BTreeMap::new();
            for shard in self.shards.iter() {
                let s = lock(shard);
                let acc = &s.ops[op.index()];
                let _ = latency.add(&acc.latency);
                op_ok += acc.ok;
                for (code, n) in &acc.errors {
                    *op_errors.entry(code).or_default() += n;
                }
            }
            if latency.is_empty() {
                continue;
            }
            let _ = all.add(&latency);
            calls += latency.len();
            ok += op_ok;
            for (code, n) in &op_errors {
                *errors.entry(code).or_default() += n;
            }
            ops.insert(op, OpSummary::of(&latency, op_ok, op_errors));
        }
        let secs = elapsed.as_secs_f64().max(1e-6);
        Summary {
            elapsed_s: secs,
            calls,
            ok,
            ok_per_s: ok as f64 / secs,
            errors,
            latency: Latency::of(&all),
            ops,
        }
    }
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Latency quantiles, in milliseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Latency {
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Slowest.
    pub max_ms: f64,
    /// Mean.
    pub mean_ms: f64,
}

impl Latency {
    fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Latency::default();
        }
        Latency {
            p50_ms: ms(h.value_at_quantile(0.5)),
            p90_ms: ms(h.value_at_quantile(0.9)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
            mean_ms: h.mean() / 1000.0,
        }
    }
}

/// One operation's results.
#[derive(Clone, Debug, Serialize)]
pub struct OpSummary {
    /// Calls completed (the histogram's count).
    pub calls: u64,
    /// Calls answered OK.
    pub ok: u64,
    /// The others, by gRPC code.
    pub errors: BTreeMap<&'static str, u64>,
    /// Latency of every completed call, OK or not.
    pub latency: Latency,
}

impl OpSummary {
    fn of(h: &Histogram<u64>, ok: u64, errors: BTreeMap<&'static str, u64>) -> Self {
        OpSummary {
            calls: h.len(),
            ok,
            errors,
            latency: Latency::of(h),
        }
    }
}

/// A whole run's results.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Seconds of load.
    pub elapsed_s: f64,
    /// Calls completed.
    pub calls: u64,
    /// Calls answered OK.
    pub ok: u64,
    /// OK answers per second: the throughput figure.
    pub ok_per_s: f64,
    /// Calls not answered OK, by gRPC code.
    pub errors: BTreeMap<&'static str, u64>,
    /// Latency over every operation.
    pub latency: Latency,
    /// Per operation.
    pub ops: BTreeMap<Op, OpSummary>,
}

/// One second of the time series.
#[derive(Clone, Debug, Serialize)]
pub struct TimePoint {
    /// Seconds since the recorder was made.
    pub t_s: f64,
    /// OK answers per second in this window.
    pub ok_per_s: f64,
    /// Other answers per second in this window.
    pub errors_per_s: f64,
    /// Median latency of the calls completed in this window.
    pub p50_ms: f64,
    /// 99th percentile of the calls completed in this window.
    pub p99_ms: f64,
}

impl TimePoint {
    /// The live progress line.
    pub fn line(&self, label: &str, total: u64) -> String {
        format!(
            "[{label}] t={:>5.1}s  ok/s={:>8.0}  err/s={:>6.0}  p50={:>7.2}ms  p99={:>7.2}ms  total={total}",
            self.t_s, self.ok_per_s, self.errors_per_s, self.p50_ms, self.p99_ms
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_codes_add_up_across_shards() {
        let r = Recorder::new(4);
        for i in 0..100u64 {
            let result = if i % 10 == 0 {
                Err(tonic::Code::Unavailable)
            } else {
                Ok(())
            };
            r.record(
                i as usize,
                Op::Debit,
                Duration::from_micros(100 + i),
                result,
            );
        }
        r.record(0, Op::GetTransaction, Duration::from_millis(2), Ok(()));
        let point = r.tick();
        assert!(point.p99_ms >= 0.19);
        let s = r.summary(Duration::from_secs(1));
        assert_eq!(s.calls, 101);
        assert_eq!(s.ok, 91);
        assert_eq!(s.errors.get("UNAVAILABLE"), Some(&10));
        assert_eq!(s.ops[&Op::Debit].calls, 100);
        assert_eq!(s.ops[&Op::GetTransaction].latency.p50_ms, 2.0);
        assert!(!s.ops.contains_key(&Op::Credit));
        // The window was drained by the tick.
        assert_eq!(r.tick().ok_per_s, 0.0);
    }
}
