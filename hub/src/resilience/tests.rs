//! Unit tests of the layers over in-process fake services: the breaker's
//! one-probe gate, the retry policy's rules and budget, and the failover
//! rules. End-to-end behaviour against real sandboxes is in
//! `hub/tests/resilience.rs` and `hub/tests/breaker.rs`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use adapter_api::{
    AccountId, AdapterError, BalanceRequest, Currency, Direction, Money, MoneyRequest, Outcome,
    ProviderTxId, Settlement,
};
use tokio::time::Instant;
use tower::{Service, ServiceExt};

use super::*;
use crate::config::{BreakerConfig, RetryConfig};

fn transfer(answer_in: Duration) -> ProviderCall {
    ProviderCall {
        op: Operation::Transfer(MoneyRequest {
            direction: Direction::Debit,
            tx_id: ProviderTxId::new("tx-1"),
            account: AccountId::new("acc-1"),
            amount: Money::new(Currency::from_code("EUR").unwrap(), 100),
            reference: None,
        }),
        answer_by: Instant::now() + answer_in,
    }
}

fn balance(answer_in: Duration) -> ProviderCall {
    ProviderCall {
        op: Operation::Balance(BalanceRequest {
            account: AccountId::new("acc-1"),
            currency: Currency::from_code("EUR").unwrap(),
        }),
        answer_by: Instant::now() + answer_in,
    }
}

fn refused() -> AdapterError {
    AdapterError::Connect("connection refused".into())
}

/// A fake provider: answers with `reply(n)` on the n-th call (from 0).
#[derive(Clone)]
struct Fake {
    calls: Arc<AtomicU32>,
    reply: fn(u32) -> Reply,
    delay: Duration,
}

impl Fake {
    fn new(reply: fn(u32) -> Reply) -> Self {
        Self {
            calls: Arc::new(AtomicU32::new(0)),
            reply,
            delay: Duration::ZERO,
        }
    }

    fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Service<ProviderCall> for Fake {
    type Response = Reply;
    type Error = BoxError;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Reply, BoxError>> + Send>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), BoxError>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: ProviderCall) -> Self::Future {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let reply = (self.reply)(n);
        let delay = self.delay;
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            Ok(reply)
        })
    }
}

fn settled() -> Reply {
    Reply::Moved(Outcome::Settled(Settlement::default()))
}

fn retry_config(max_attempts: u32) -> RetryConfig {
    RetryConfig {
        max_attempts,
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(80),
        budget_ratio: 0.5,
        budget_min_per_second: 100,
        budget_window: Duration::from_secs(1),
    }
}

fn policy(config: RetryConfig) -> RetryPolicy {
    let budget = Arc::new(tower::retry::budget::TpsBudget::new(
        config.budget_window,
        config.budget_min_per_second,
        config.budget_ratio,
    ));
    RetryPolicy::new(config, budget, Arc::new(SeededJitter::new(3)))
}

#[tokio::test(start_paused = true)]
async fn not_processed_is_retried_with_the_same_request_until_it_answers() {
    let fake = Fake::new(|n| {
        if n < 2 {
            Reply::Moved(Outcome::NotProcessed(refused()))
        } else {
            settled()
        }
    });
    let svc = tower::ServiceBuilder::new()
        .retry(policy(retry_config(3)))
        .service(fake.clone());
    let reply = svc.oneshot(transfer(Duration::from_secs(5))).await.unwrap();
    assert!(matches!(reply, Reply::Moved(Outcome::Settled(_))));
    assert_eq!(fake.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn unknown_and_declined_money_calls_are_never_retried() {
    for reply in [
        (|_| Reply::Moved(Outcome::Unknown(AdapterError::HttpStatus { status: 500 })))
            as fn(u32) -> Reply,
        |_| {
            Reply::Moved(Outcome::Declined(
                adapter_api::DeclineReason::InsufficientFunds,
            ))
        },
        |_| settled(),
    ] {
        let fake = Fake::new(reply);
        let svc = tower::ServiceBuilder::new()
            .retry(policy(retry_config(5)))
            .service(fake.clone());
        svc.oneshot(transfer(Duration::from_secs(5))).await.unwrap();
        assert_eq!(fake.calls(), 1);
    }
}

#[tokio::test(start_paused = true)]
async fn read_only_queries_are_retried_after_unclear_answers() {
    let fake = Fake::new(|n| {
        if n == 0 {
            Reply::Balance(Err(AdapterError::HttpStatus { status: 503 }))
        } else {
            Reply::Balance(Ok(Money::new(Currency::from_code("EUR").unwrap(), 5)))
        }
    });
    let svc = tower::ServiceBuilder::new()
        .retry(policy(retry_config(3)))
        .service(fake.clone());
    let reply = svc.oneshot(balance(Duration::from_secs(5))).await.unwrap();
    assert!(matches!(reply, Reply::Balance(Ok(_))));
    assert_eq!(fake.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn attempts_stop_at_the_maximum_and_backoff_stays_inside_the_deadline() {
    let fake = Fake::new(|_| Reply::Moved(Outcome::NotProcessed(refused())));
    let svc = tower::ServiceBuilder::new()
        .retry(policy(retry_config(4)))
        .service(fake.clone());
    let start = Instant::now();
    svc.oneshot(transfer(Duration::from_secs(5))).await.unwrap();
    assert_eq!(fake.calls(), 4);
    // Three full-jitter backoffs, each below its cap (10, 20, 40 ms).
    assert!(
        start.elapsed() < Duration::from_millis(70),
        "{:?}",
        start.elapsed()
    );

    // With the deadline this close, no retry fits.
    let fake = Fake::new(|_| Reply::Moved(Outcome::NotProcessed(refused())));
    let svc = tower::ServiceBuilder::new()
        .retry(policy(RetryConfig {
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(1),
            ..retry_config(4)
        }))
        .service(fake.clone());
    let _ = svc.oneshot(transfer(Duration::from_millis(1))).await;
    assert!(fake.calls() <= 2, "calls {}", fake.calls());
}

#[tokio::test(start_paused = true)]
async fn the_budget_caps_retries_across_calls() {
    let fake = Fake::new(|_| Reply::Moved(Outcome::NotProcessed(refused())));
    let p = policy(RetryConfig {
        budget_ratio: 0.1,
        budget_min_per_second: 1,
        ..retry_config(3)
    });
    let stats = p.stats();
    let svc = tower::ServiceBuilder::new().retry(p).service(fake.clone());
    let calls = 100;
    for _ in 0..calls {
        svc.clone()
            .oneshot(transfer(Duration::from_secs(5)))
            .await
            .unwrap();
    }
    let retries = stats.retries.load(Ordering::Relaxed);
    // Without a budget there would be 200 retries; the budget allows about
    // 10% of calls plus one per second of window.
    assert!(retries <= 15, "retries {retries}");
    assert!(retries >= 1, "retries {retries}");
    assert_eq!(u64::from(fake.calls()), calls + retries);
    assert!(stats.budget_exhausted.load(Ordering::Relaxed) > 0);
}

fn breaker_config() -> BreakerConfig {
    BreakerConfig {
        consecutive_failures: 3,
        min_success_rate: 0.0,
        min_requests: 1000,
        window: Duration::from_secs(10),
        open_base: Duration::from_millis(60),
        open_max: Duration::from_millis(60),
    }
}

/// A breaker over `fake` labelled `test/primary`, its open periods
/// jittered from `seed`.
fn test_breaker(fake: &Fake, config: &BreakerConfig, seed: u64) -> Breaker<Fake> {
    Breaker::new(
        fake.clone(),
        "test/primary".into(),
        config,
        Arc::new(SeededJitter::new(seed)),
    )
}

fn unknown() -> Reply {
    Reply::Moved(Outcome::Unknown(AdapterError::HttpStatus { status: 500 }))
}

fn circuit_open(err: &BoxError) -> Option<Duration> {
    match err.downcast_ref::<CallError>() {
        Some(CallError::CircuitOpen { retry_after }) => Some(*retry_after),
        _ => None,
    }
}

// The gate keeps open periods on tokio's clock, so breaker tests run in
// paused time.
#[tokio::test(start_paused = true)]
async fn the_breaker_opens_fails_fast_and_lets_exactly_one_probe_through() {
    static FAIL: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);
    let mut fake = Fake::new(|_| {
        if FAIL.load(Ordering::SeqCst) {
            unknown()
        } else {
            settled()
        }
    });
    fake.delay = Duration::from_millis(30);
    let breaker = test_breaker(&fake, &breaker_config(), 9);
    for _ in 0..3 {
        breaker
            .clone()
            .oneshot(transfer(Duration::from_secs(5)))
            .await
            .unwrap();
    }
    assert_eq!(breaker.state(), BreakerState::Open);
    let err = breaker
        .clone()
        .oneshot(transfer(Duration::from_secs(5)))
        .await
        .unwrap_err();
    let retry_after = circuit_open(&err).expect("refused by the breaker");
    assert!(retry_after <= Duration::from_millis(60), "{retry_after:?}");
    assert_eq!(fake.calls(), 3, "nothing reaches the provider while open");

    FAIL.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(80)).await;
    // No call has arrived, yet the breaker says a probe may go.
    assert_eq!(breaker.state(), BreakerState::HalfOpen);
    assert_eq!(fake.calls(), 3);
    let burst: Vec<_> = (0..10)
        .map(|_| {
            let b = breaker.clone();
            tokio::spawn(async move { b.oneshot(transfer(Duration::from_secs(5))).await })
        })
        .collect();
    let mut passed = 0;
    for r in burst {
        if r.await.unwrap().is_ok() {
            passed += 1;
        }
    }
    assert_eq!(passed, 1, "exactly one probe");
    assert_eq!(fake.calls(), 4);
    assert_eq!(breaker.state(), BreakerState::Closed);
    breaker
        .clone()
        .oneshot(transfer(Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(fake.calls(), 5);
}

#[tokio::test(start_paused = true)]
async fn an_operator_can_hold_a_breaker_open_or_closed_and_hand_it_back() {
    let fake = Fake::new(|_| unknown());
    let breaker = test_breaker(&fake, &breaker_config(), 9);
    let call = || breaker.clone().oneshot(transfer(Duration::from_secs(5)));

    // Held open: nothing reaches the provider although the policy is closed.
    breaker.force(Forced::Open);
    assert_eq!(breaker.state(), BreakerState::Open);
    assert_eq!(breaker.policy_state(), BreakerState::Closed);
    assert!(circuit_open(&call().await.unwrap_err()).is_some());
    assert_eq!(fake.calls(), 0);

    // Held closed: calls go through even once the policy has opened.
    breaker.force(Forced::Closed);
    for _ in 0..5 {
        call().await.unwrap();
    }
    assert_eq!(fake.calls(), 5);
    assert_eq!(breaker.policy_state(), BreakerState::Open);
    assert_eq!(breaker.state(), BreakerState::Closed);

    // Handed back: the policy's open state applies again.
    breaker.force(Forced::No);
    assert_eq!(breaker.forced(), Forced::No);
    assert_eq!(breaker.state(), BreakerState::Open);
    assert!(call().await.is_err());
    assert_eq!(fake.calls(), 5);
}

#[tokio::test(start_paused = true)]
async fn declines_count_as_successes_for_the_breaker() {
    let fake = Fake::new(|_| {
        Reply::Moved(Outcome::Declined(
            adapter_api::DeclineReason::InsufficientFunds,
        ))
    });
    let breaker = test_breaker(&fake, &breaker_config(), 9);
    for _ in 0..10 {
        breaker
            .clone()
            .oneshot(transfer(Duration::from_secs(5)))
            .await
            .unwrap();
    }
    assert_eq!(breaker.state(), BreakerState::Closed);
    assert_eq!(fake.calls(), 10);
}

#[test]
fn open_periods_back_off_with_jitter_under_the_cap() {
    let config = BreakerConfig {
        open_base: Duration::from_millis(100),
        open_max: Duration::from_millis(700),
        ..breaker_config()
    };
    let b = Breaker::new(
        Fake::new(|_| settled()),
        "t".into(),
        &config,
        Arc::new(SeededJitter::new(1)),
    );
    let mut backoff = b.backoff_for_tests();
    let delays: Vec<Duration> = (0..6).map(|_| backoff.next().unwrap()).collect();
    let ceilings = [100u64, 200, 400, 700, 700, 700];
    for (d, c) in delays.iter().zip(ceilings) {
        let c = Duration::from_millis(c);
        assert!(*d >= c / 2 && *d <= c, "{d:?} not in [{:?}, {c:?}]", c / 2);
    }
    // Jitter: not all equal to their ceilings' halves.
    assert!(
        delays
            .iter()
            .zip(ceilings)
            .any(|(d, c)| *d != Duration::from_millis(c) / 2)
    );
}

fn endpoint(reply: fn(u32) -> Reply) -> (Endpoint<Fake>, Fake) {
    let fake = Fake::new(reply);
    let adapter_free = Breaker::new(
        fake.clone(),
        "t".into(),
        &breaker_config(),
        Arc::new(SeededJitter::new(2)),
    );
    (
        Endpoint {
            name: "primary",
            breaker: adapter_free,
            health: EndpointHealth::default(),
        },
        fake,
    )
}

#[tokio::test(start_paused = true)]
async fn failover_only_after_nothing_happened_or_while_the_primary_is_sick() {
    // Primary refuses the connection: the backup takes the call.
    let (p, pf) = endpoint(|_| Reply::Moved(Outcome::NotProcessed(refused())));
    let (b, bf) = endpoint(|_| settled());
    let reply = Failover::new(p, Some(b))
        .oneshot(transfer(Duration::from_secs(5)))
        .await
        .unwrap();
    assert!(matches!(reply, Reply::Moved(Outcome::Settled(_))));
    assert_eq!((pf.calls(), bf.calls()), (1, 1));

    // Primary may have acted: never sent again elsewhere.
    let (p, pf) = endpoint(|_| unknown());
    let (b, bf) = endpoint(|_| settled());
    let reply = Failover::new(p, Some(b))
        .oneshot(transfer(Duration::from_secs(5)))
        .await
        .unwrap();
    assert!(matches!(reply, Reply::Moved(Outcome::Unknown(_))));
    assert_eq!((pf.calls(), bf.calls()), (1, 0));

    // Primary unhealthy: straight to the backup; back when it recovers.
    let (p, pf) = endpoint(|_| settled());
    let (b, bf) = endpoint(|_| settled());
    p.health.set(false);
    let f = Failover::new(p.clone(), Some(b));
    f.clone()
        .oneshot(transfer(Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!((pf.calls(), bf.calls()), (0, 1));
    p.health.set(true);
    f.oneshot(transfer(Duration::from_secs(5))).await.unwrap();
    assert_eq!((pf.calls(), bf.calls()), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn not_processed_counts_as_a_breaker_failure() {
    let fake = Fake::new(|_| Reply::Moved(Outcome::NotProcessed(refused())));
    let breaker = test_breaker(&fake, &breaker_config(), 9);
    let call = || breaker.clone().oneshot(transfer(Duration::from_secs(5)));
    for _ in 0..2 {
        call().await.unwrap();
    }
    assert_eq!(breaker.state(), BreakerState::Closed);
    call().await.unwrap();
    assert_eq!(breaker.state(), BreakerState::Open);
    assert!(circuit_open(&call().await.unwrap_err()).is_some());
    assert_eq!(fake.calls(), 3);
}

/// Runs `f` in a paused current-thread runtime's context with failsafe's
/// clock frozen (its success-rate window keeps std's time): `f` advances
/// each clock as the test needs.
fn frozen<R>(f: impl FnOnce(&tokio::runtime::Runtime, &mut failsafe::clock::MockClock) -> R) -> R {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    // Outside `block_on` too, the breaker reads the paused clock.
    let _context = rt.enter();
    failsafe::clock::freeze(|clock| f(&rt, clock))
}

/// Fails every other call: never two failures in a row.
fn every_other_fails(n: u32) -> Reply {
    if n % 2 == 0 { unknown() } else { settled() }
}

fn rate_config(min_requests: u32) -> BreakerConfig {
    BreakerConfig {
        consecutive_failures: 3,
        min_success_rate: 0.5,
        min_requests,
        window: Duration::from_secs(1),
        ..breaker_config()
    }
}

#[test]
fn a_low_success_rate_over_the_window_opens_the_breaker_with_enough_calls() {
    let config = rate_config(6);
    frozen(|rt, clock| {
        let fake = Fake::new(every_other_fails);
        let breaker = test_breaker(&fake, &config, 4);
        let call = || rt.block_on(breaker.clone().oneshot(transfer(Duration::from_secs(5))));
        // failsafe judges a rate only once a whole window has passed.
        clock.advance(config.window);
        for n in 0..7 {
            assert_eq!(breaker.state(), BreakerState::Closed, "before call {n}");
            call().unwrap();
            clock.advance(Duration::from_millis(100));
        }
        // The seventh call, a failure with seven calls in the window, opened
        // it: no consecutive-failure threshold was reached.
        assert_eq!(breaker.state(), BreakerState::Open);
        assert!(circuit_open(&call().unwrap_err()).is_some());
        assert_eq!(fake.calls(), 7);
    });
}

#[test]
fn a_low_success_rate_with_fewer_calls_than_the_minimum_does_not_open_it() {
    let config = rate_config(20);
    frozen(|rt, clock| {
        let fake = Fake::new(every_other_fails);
        let breaker = test_breaker(&fake, &config, 4);
        clock.advance(config.window);
        for _ in 0..12 {
            rt.block_on(breaker.clone().oneshot(transfer(Duration::from_secs(5))))
                .unwrap();
            clock.advance(Duration::from_millis(100));
        }
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert_eq!(breaker.times_opened(), 0);
        assert_eq!(fake.calls(), 12);
    });
}

#[test]
fn retry_info_is_the_time_left_open_even_when_both_policies_trip_at_once() {
    let config = BreakerConfig {
        min_requests: 3,
        open_base: Duration::from_millis(200),
        open_max: Duration::from_millis(200),
        ..rate_config(3)
    };
    frozen(|rt, clock| {
        let fake = Fake::new(|_| unknown());
        let breaker = test_breaker(&fake, &config, 5);
        let call = || rt.block_on(breaker.clone().oneshot(transfer(Duration::from_secs(5))));
        clock.advance(config.window);
        // The third failure is both the third in a row and the third call
        // of a window with no success.
        for _ in 0..3 {
            call().unwrap();
            clock.advance(Duration::from_millis(10));
        }
        assert_eq!(breaker.times_opened(), 1);
        let period = circuit_open(&call().unwrap_err()).expect("open");
        assert!(
            (Duration::from_millis(100)..=Duration::from_millis(200)).contains(&period),
            "{period:?}"
        );
        rt.block_on(tokio::time::advance(period - Duration::from_millis(1)));
        assert_eq!(breaker.state(), BreakerState::Open);
        let left = circuit_open(&call().unwrap_err()).expect("still open");
        assert_eq!(left, Duration::from_millis(1), "the time left, exactly");
        assert_eq!(fake.calls(), 3);

        // Told to come back in 1 ms, a call then is the probe.
        rt.block_on(tokio::time::advance(left));
        clock.advance(Duration::from_millis(1));
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        call().unwrap();
        assert_eq!(fake.calls(), 4);
        // It failed: open again, and told the whole new period.
        assert_eq!(breaker.times_opened(), 2);
        let again = circuit_open(&call().unwrap_err()).expect("open again");
        assert!(
            (Duration::from_millis(100)..=Duration::from_millis(200)).contains(&again),
            "{again:?}"
        );
    });
}

// Concurrency is the subject: real threads, so real time.
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn half_open_admits_exactly_one_probe_among_callers_on_many_threads() {
    let mut fake = Fake::new(|_| unknown());
    fake.delay = Duration::from_millis(50);
    let config = BreakerConfig {
        consecutive_failures: 1,
        open_base: Duration::from_millis(2),
        open_max: Duration::from_millis(2),
        ..breaker_config()
    };
    let breaker = test_breaker(&fake, &config, 6);
    breaker
        .clone()
        .oneshot(transfer(Duration::from_secs(5)))
        .await
        .unwrap();
    let callers = 16;
    for round in 0..20 {
        let before = fake.calls();
        // The open period (at most 2 ms) is over; every probe fails, so
        // each round starts open.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let start = Arc::new(tokio::sync::Barrier::new(callers));
        let calls: Vec<_> = (0..callers)
            .map(|_| {
                let b = breaker.clone();
                let start = start.clone();
                tokio::spawn(async move {
                    start.wait().await;
                    b.oneshot(transfer(Duration::from_secs(5))).await
                })
            })
            .collect();
        let mut refused = 0;
        for c in calls {
            if let Err(e) = c.await.unwrap() {
                assert!(circuit_open(&e).is_some(), "{e}");
                refused += 1;
            }
        }
        assert_eq!(fake.calls() - before, 1, "round {round}: one probe");
        assert_eq!(refused, callers - 1, "round {round}");
    }
}

#[tokio::test(start_paused = true)]
async fn traffic_returns_to_the_primary_once_its_open_period_is_over() {
    static DOWN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);
    let (mut p, mut pf) = endpoint(|_| {
        if DOWN.load(Ordering::SeqCst) {
            Reply::Moved(Outcome::NotProcessed(refused()))
        } else {
            settled()
        }
    });
    // Slow enough that a second call arrives while the probe is out.
    pf.delay = Duration::from_millis(10);
    p.breaker = Breaker::new(
        pf.clone(),
        "t/primary".into(),
        &breaker_config(),
        Arc::new(SeededJitter::new(2)),
    );
    let (b, bf) = endpoint(|_| settled());
    let f = Failover::new(p.clone(), Some(b));
    let call = || f.clone().oneshot(transfer(Duration::from_secs(5)));
    let settles = |r: Result<Reply, BoxError>| matches!(r, Ok(Reply::Moved(Outcome::Settled(_))));

    // The primary refuses three calls, each then taken by the backup; its
    // breaker opens and the next call goes straight to the backup.
    for _ in 0..4 {
        assert!(settles(call().await));
    }
    assert_eq!((pf.calls(), bf.calls()), (3, 4));
    assert_eq!(p.breaker.state(), BreakerState::Open);

    // The primary recovers. Once its open period is over, of two calls the
    // first is the probe, to the primary; the other, refused by the
    // primary's breaker meanwhile, goes to the backup.
    DOWN.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert_eq!(p.breaker.state(), BreakerState::HalfOpen);
    let (first, second) = tokio::join!(call(), call());
    assert!(settles(first) && settles(second));
    assert_eq!((pf.calls(), bf.calls()), (4, 5));

    // The probe closed the breaker: traffic stays on the primary.
    assert_eq!(p.breaker.state(), BreakerState::Closed);
    for _ in 0..3 {
        assert!(settles(call().await));
    }
    assert_eq!((pf.calls(), bf.calls()), (7, 5));
}
