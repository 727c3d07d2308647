//! Resilience per provider, end to end: every fault is driven for real
//! through the sandbox's fault injection (or by closing its port), and what
//! reached the provider is counted at the provider.

mod common;
#[path = "common/health.rs"]
mod health;

use std::time::Duration;

use common::*;
use health::{provider_health, wait_provider_health};
use hub::journal::Journal;
use hub_proto::settlement::v1 as pb;
use sandbox_json_hmac::{Fault, FaultKind, Sandbox};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

/// Health checks far apart, so they do not touch the sandbox in a test
/// that is not about them.
const QUIET_HEALTH: &str = "[providers.sb.health]\ninterval = \"1h\"";
/// A resolver that does not poll during the test.
const QUIET_RESOLVER: &str = "[resolver]\npoll_interval = \"1h\"";

fn retry_delay(status: &tonic::Status) -> Option<Duration> {
    use tonic_types::StatusExt;
    status.get_details_retry_info().and_then(|r| r.retry_delay)
}

/// Requests a counting fault may see before it is used up.
const COUNTED: u32 = 1_000_000;

/// Counts the requests reaching `path` at the sandbox (balance and status
/// queries included, which its own counters leave out): a fault that
/// changes nothing (no latency) for the next [`COUNTED`] requests, each of
/// which uses one up.
fn count_requests(sb: &Sandbox, path: &str) {
    sb.set_fault(
        Fault::new(FaultKind::Latency(Duration::ZERO))
            .on_path(path)
            .times(COUNTED),
    );
}

/// Requests that reached `path` since [`count_requests`].
fn requests(sb: &Sandbox, path: &str) -> u64 {
    let left = sb
        .faults()
        .into_iter()
        .find(|f| f.kind == FaultKind::Latency(Duration::ZERO) && f.path.as_deref() == Some(path))
        .and_then(|f| f.remaining)
        .expect("requests to this path are counted");
    u64::from(COUNTED - left)
}

/// The value of the metric sample `name{labels}` (all of its labels
/// given, in any order) on the hub's `/metrics`.
async fn metric(hub: &TestHub, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(hub.metrics_addr)
        .await
        .unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nhost: hub\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).await.unwrap();
    let mut want: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    want.sort();
    raw.lines().find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (n, rest) = series.split_once('{')?;
        let mut have: Vec<String> = rest
            .strip_suffix('}')?
            .split(',')
            .map(str::to_owned)
            .collect();
        have.sort();
        (n == name && have == want).then(|| value.parse().ok())?
    })
}

/// A hub in front of `sb` as provider `sb` (`extra`: more of its entry),
/// with its journal in a fresh directory that lives as long as the guard.
async fn hub_over(sb: &Sandbox, extra: &str) -> (tempfile::TempDir, TestHub) {
    let (dir, path) = journal_path();
    let hub = TestHub::start_with(config_with(
        &path,
        &hmac_provider(PROVIDER, sb.addr(), extra),
        &[PROVIDER],
    ))
    .await;
    (dir, hub)
}

fn balance_of(provider: &str, account: &str) -> pb::GetBalanceRequest {
    pb::GetBalanceRequest {
        provider: provider.into(),
        account: account.into(),
        currency_code: "EUR".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_provider_trips_the_breaker_which_probes_once_and_closes() {
    let sb = sandbox().await;
    // Every request fails: the debit (503 after sending: unknown outcome)
    // and the status query the hub sends right after it.
    sb.set_fault(Fault::new(FaultKind::ErrorRate(1.0)));
    let extra = format!(
        "[providers.sb.breaker]\nconsecutive_failures = 4\nopen_base = \"2s\"\nopen_max = \"2s\"\n[providers.sb.retry]\nmax_attempts = 1\n{QUIET_HEALTH}\n{QUIET_RESOLVER}"
    );
    let (_dir, hub) = hub_over(&sb, &extra).await;
    let key = hub.key("p1").await;
    let mut c = hub.client_with(Some(key.clone())).await;

    // Two debits, each a failure and a failed status query: four failures.
    for i in 0..2 {
        let tx = debited(&mut c, debit(&format!("f-{i}"), "acc-1", 10)).await;
        assert_eq!(state(&tx), pb::TransactionState::Pending);
    }
    assert_eq!(sb.money_requests(), 2);

    // Open: fast failure with RetryInfo, nothing reaches the provider.
    let err = c.debit(debit("f-open", "acc-1", 10)).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert_eq!(reason(&err).as_deref(), Some("PROVIDER_UNAVAILABLE"));
    let delay = retry_delay(&err).expect("RetryInfo");
    assert!(delay <= Duration::from_secs(2), "{delay:?}");
    assert_eq!(sb.money_requests(), 2);
    // Open for 1-2 s (jittered): long enough for the health reporter,
    // which looks every 200 ms, to see it; it reports SERVING again as soon
    // as the period ends.
    wait_provider_health(&hub, PROVIDER, ServingStatus::NotServing).await;

    // Half-open: of a burst, exactly one probe reaches the provider.
    sb.clear_faults();
    sb.set_fault(Fault::new(FaultKind::Latency(Duration::from_millis(400))).on_path("/v1/debit"));
    tokio::time::sleep(Duration::from_millis(2050)).await;
    let burst: Vec<_> = (0..8)
        .map(|i| {
            let key = key.clone();
            let hub_addr = hub.addr;
            tokio::spawn(async move {
                let mut c = common::client_at(hub_addr, &key).await;
                c.debit(debit(&format!("probe-{i}"), "acc-1", 10)).await
            })
        })
        .collect();
    let mut settled = 0;
    let mut refused = 0;
    for call in burst {
        match call.await.unwrap() {
            Ok(r) => {
                assert_eq!(
                    state(&r.into_inner().transaction.unwrap()),
                    pb::TransactionState::Settled
                );
                settled += 1;
            }
            Err(e) => {
                assert_eq!(e.code(), Code::Unavailable, "{e:?}");
                refused += 1;
            }
        }
    }
    assert_eq!((settled, refused), (1, 7));
    assert_eq!(sb.money_requests(), 3, "exactly one probe");

    // The probe closed the breaker.
    sb.clear_faults();
    let tx = debited(&mut c, debit("after", "acc-1", 10)).await;
    assert_eq!(state(&tx), pb::TransactionState::Settled);
    assert_eq!(sb.money_requests(), 4);
    wait_provider_health(&hub, PROVIDER, ServingStatus::Serving).await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_provider_gets_the_partner_a_pending_answer_before_the_deadline() {
    let sb = sandbox().await;
    sb.set_fault(Fault::new(FaultKind::Latency(Duration::from_millis(1_500))).on_path("/v1/debit"));
    let (_dir, hub) = hub_over(&sb, QUIET_HEALTH).await;
    let mut c = hub.client("p1").await;
    let mut req = tonic::Request::new(debit("slow", "acc-1", 100));
    req.set_timeout(Duration::from_millis(300));
    // Never CANCELLED or DEADLINE_EXCEEDED: the request was sent, so the
    // answer is the PENDING transaction.
    let tx = c
        .debit(req)
        .await
        .expect("an answer, not an error")
        .into_inner()
        .transaction
        .unwrap();
    assert_eq!(state(&tx), pb::TransactionState::Pending);

    // The money path goes on and records the provider's answer.
    let mut last = pb::TransactionState::Pending;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let t = fetched(&mut c, by_key("slow")).await;
        last = state(&t);
        if last != pb::TransactionState::Pending {
            break;
        }
    }
    assert_eq!(last, pb::TransactionState::Settled);
    assert_eq!(sb.balance("acc-1"), Some(99_900));
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_of_a_refusing_provider_stay_within_the_budget_with_one_id() {
    let sb = sandbox().await;
    let (_dir, path) = journal_path();
    // A wrong secret: the provider refuses every request before processing
    // it (NotProcessed), so each call is retryable.
    let entry = hmac_provider(
        PROVIDER,
        sb.addr(),
        &format!(
            "[providers.sb.breaker]\nconsecutive_failures = 100000\nmin_requests = 100000\n[providers.sb.retry]\nmax_attempts = 3\nbackoff_base = \"1ms\"\nbackoff_max = \"2ms\"\nbudget_ratio = 0.1\nbudget_min_per_second = 1\nbudget_window = \"1s\"\n{QUIET_HEALTH}"
        ),
    )
    .replace(SECRET, "not-the-secret");
    let hub = TestHub::start_with(config_with(&path, &entry, &[PROVIDER])).await;
    let mut c = hub.client("p1").await;
    let calls = 60u64;
    let mut ids = Vec::new();
    for i in 0..calls {
        let key = format!("refused-{i}");
        let err = c.debit(debit(&key, "acc-1", 1)).await.unwrap_err();
        assert_eq!(err.code(), Code::Unavailable);
        ids.push(key);
    }
    let attempts = sb.money_requests();
    // Unbudgeted, 60 calls x 3 attempts = 180 requests.
    assert!(attempts > calls, "some retries happened: {attempts}");
    assert!(
        attempts <= calls + calls / 10 + 5,
        "retries stay within the budget: {attempts} requests for {calls} calls"
    );
    // Every attempt of a call carried the same provider-side id.
    let p1 = hub::domain::PartnerId::parse("p1").unwrap();
    let mut per_id = 0;
    for key in &ids {
        let id = hub::domain::TransactionId::derive(
            &p1,
            &hub::domain::IdempotencyKey::parse(key).unwrap(),
        );
        let n = sb.requests_for(id.as_str());
        assert!((1..=3).contains(&n), "{key}: {n}");
        per_id += n;
    }
    assert_eq!(per_id, attempts);
    assert_eq!(sb.balance("acc-1"), Some(100_000));
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_provider_at_its_limit_does_not_starve_another() {
    let hung = sandbox().await;
    hung.set_fault(Fault::new(FaultKind::Hang).on_path("/v1/debit"));
    let fine = sandbox().await;
    let (_dir, path) = journal_path();
    let providers = format!(
        "{}\n{}",
        hmac_provider("hung", hung.addr(), "").replace("concurrency = 512", "concurrency = 2")
            + "[providers.hung.health]\ninterval = \"1h\"\n",
        hmac_provider(
            "fine",
            fine.addr(),
            "[providers.fine.health]\ninterval = \"1h\""
        )
    );
    let hub = TestHub::start_with(config_with(&path, &providers, &["hung", "fine"])).await;
    let key = hub.key("p1").await;
    let to = |provider: &str, k: &str| pb::DebitRequest {
        provider: provider.into(),
        ..debit(k, "acc-1", 10)
    };

    // Two calls fill the hung provider's bulkhead; their partners get
    // PENDING at their deadline.
    for k in ["h-1", "h-2"] {
        let mut c = hub.client_with(Some(key.clone())).await;
        let tx = debited_within(&mut c, to("hung", k), Duration::from_millis(300)).await;
        assert_eq!(state(&tx), pb::TransactionState::Pending);
    }
    // A third is refused at once, long before its deadline: had it waited
    // for a slot or at the provider, it would have got PENDING at the
    // deadline instead of an error. It never reaches the provider.
    let mut c = hub.client_with(Some(key.clone())).await;
    let deadline = Duration::from_secs(5);
    let mut req = tonic::Request::new(to("hung", "h-3"));
    req.set_timeout(deadline);
    let asked = std::time::Instant::now();
    let err = c.debit(req).await.unwrap_err();
    assert!(asked.elapsed() < deadline / 2, "{:?}", asked.elapsed());
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert_eq!(reason(&err).as_deref(), Some("PROVIDER_OVERLOADED"));
    assert!(retry_delay(&err).is_some());
    assert_eq!(hung.money_requests(), 2);

    // The other provider answers as usual meanwhile, inside a short
    // deadline: a starved call would get PENDING at it, not SETTLED.
    for i in 0..5 {
        let tx = debited_within(
            &mut c,
            to("fine", &format!("f-{i}")),
            Duration::from_secs(2),
        )
        .await;
        assert_eq!(state(&tx), pb::TransactionState::Settled);
    }
    assert_eq!(fine.balance("acc-1"), Some(100_000 - 50));
    hung.clear_faults();
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_its_in_flight_limit_the_hub_refuses_money_calls_before_journaling_them() {
    let sb = sandbox().await;
    sb.set_fault(Fault::new(FaultKind::Hang).on_path("/v1/debit"));
    let (_dir, path) = journal_path();
    let provider = hmac_provider(
        "sb",
        sb.addr(),
        &format!("{QUIET_HEALTH}\n{QUIET_RESOLVER}"),
    )
    .replace("timeout = \"3s\"", "timeout = \"1s\"");
    let mut config = config_with(&path, &provider, &["sb"]);
    config.server.max_money_calls_in_flight = 2;
    let hub = TestHub::start_with(config).await;
    let key = hub.key("p1").await;
    let mut c = hub.client_with(Some(key.clone())).await;

    // Two calls held at the provider: their partners get PENDING at their
    // deadline while the hub keeps working on them.
    for k in ["held-1", "held-2"] {
        let tx = debited_within(&mut c, debit(k, "acc-1", 10), Duration::from_millis(300)).await;
        assert_eq!(state(&tx), pb::TransactionState::Pending);
    }
    // A third is refused at once, retryable, and leaves no trace.
    let err = c.debit(debit("third", "acc-1", 10)).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert_eq!(reason(&err).as_deref(), Some("HUB_OVERLOADED"));
    assert!(retry_delay(&err).is_some());
    let lookup = c.get_transaction(by_key("third")).await.unwrap_err();
    assert_eq!(lookup.code(), Code::NotFound, "{lookup:?}");
    assert_eq!(sb.money_requests(), 2);
    // Reads are not money calls: still served.
    let held = fetched(&mut c, by_key("held-1")).await;
    assert_eq!(state(&held), pb::TransactionState::Pending);

    // Once the held calls end, the same key goes through.
    sb.clear_faults();
    let mut settled = None;
    for _ in 0..60 {
        match c.debit(debit("third", "acc-1", 10)).await {
            Ok(r) => {
                settled = r.into_inner().transaction;
                break;
            }
            Err(e) if reason(&e).as_deref() == Some("HUB_OVERLOADED") => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    let settled = settled.expect("still refused after 6 s");
    assert_eq!(state(&settled), pb::TransactionState::Settled);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_fails_over_to_the_backup_and_returns_moving_money_once() {
    let primary = sandbox().await;
    let primary_addr = primary.addr();
    let backup = primary
        .also_serve(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap())
        .unwrap();
    let (_dir, path) = journal_path();
    let extra = format!(
        "backup = {{ base_url = \"http://{}\" }}\n[providers.sb.health]\ninterval = \"100ms\"\ntimeout = \"200ms\"\nunhealthy_after = 2\nhealthy_after = 2",
        backup.addr()
    );
    let hub = TestHub::start_with(config_with(
        &path,
        &hmac_provider(PROVIDER, primary_addr, &extra),
        &[PROVIDER],
    ))
    .await;
    let mut c = hub.client("p1").await;
    let mut spent = 0;
    let pay = async |c: &mut Client, k: &str, spent: &mut i64| {
        let tx = debited(c, debit(k, "acc-1", 100)).await;
        assert_eq!(state(&tx), pb::TransactionState::Settled, "{k}");
        *spent += 100;
        tx.transaction_id
    };
    let id = pay(&mut c, "before", &mut spent).await;
    assert_eq!(backup.requests_for(&id), 1);

    // The primary goes down: the call it could not take goes to the backup.
    primary.shutdown().await;
    let id = pay(&mut c, "during-1", &mut spent).await;
    assert_eq!(backup.requests_for(&id), 1, "sent once, to the backup");
    // Health checks notice; calls go straight to the backup; the provider
    // as a whole still serves.
    tokio::time::sleep(Duration::from_millis(400)).await;
    for i in 2..5 {
        pay(&mut c, &format!("during-{i}"), &mut spent).await;
    }
    assert_eq!(
        provider_health(&hub, PROVIDER).await,
        ServingStatus::Serving
    );

    // The primary comes back; once healthy, traffic returns to it: with the
    // backup gone, calls still settle.
    let primary = backup
        .also_serve(tokio::net::TcpListener::bind(primary_addr).await.unwrap())
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    backup.shutdown().await;
    for i in 0..3 {
        pay(&mut c, &format!("after-{i}"), &mut spent).await;
    }
    assert_eq!(primary.balance("acc-1"), Some(100_000 - spent));
    assert_eq!(
        primary.money_requests(),
        8,
        "each transaction reached the provider once"
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_balance_query_answers_deadline_exceeded_before_the_deadline() {
    let sb = sandbox().await;
    sb.set_fault(Fault::new(FaultKind::Latency(Duration::from_secs(2))).on_path("/v1/balance"));
    let (_dir, hub) = hub_over(&sb, QUIET_HEALTH).await;
    let mut c = hub.client("p1").await;
    let mut req = tonic::Request::new(balance_of(PROVIDER, "acc-1"));
    req.set_timeout(Duration::from_millis(500));
    let err = c.get_balance(req).await.unwrap_err();
    // The hub's own answer before the deadline (a read moved nothing), not
    // tonic's CANCELLED at it.
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    assert_eq!(reason(&err).as_deref(), Some("DEADLINE_EXCEEDED"));

    // With time enough, the same query answers.
    let mut req = tonic::Request::new(balance_of(PROVIDER, "acc-1"));
    req.set_timeout(Duration::from_secs(5));
    let balance = c.get_balance(req).await.unwrap().into_inner().balance;
    assert_eq!(balance, eur(100_000));
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_too_short_to_start_an_attempt_sends_and_journals_nothing() {
    let sb = sandbox().await;
    count_requests(&sb, "/v1/balance");
    let (_dir, path) = journal_path();
    let mut config = config_with(
        &path,
        &hmac_provider(
            PROVIDER,
            sb.addr(),
            &format!("{QUIET_HEALTH}\n{QUIET_RESOLVER}"),
        ),
        &[PROVIDER],
    );
    config.server.answer_margin = Duration::from_millis(200);
    let hub = TestHub::start_with(config).await;
    let mut c = hub.client("p1").await;

    // Deadlines shorter than the margin the hub keeps to answer in: due on
    // arrival, so no attempt can start.
    let mut req = tonic::Request::new(debit("short", "acc-1", 10));
    req.set_timeout(Duration::from_millis(150));
    let err = c.debit(req).await.unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    assert_eq!(reason(&err).as_deref(), Some("DEADLINE_EXCEEDED"));
    let mut req = tonic::Request::new(balance_of(PROVIDER, "acc-1"));
    req.set_timeout(Duration::from_millis(150));
    let err = c.get_balance(req).await.unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    assert_eq!(reason(&err).as_deref(), Some("DEADLINE_EXCEEDED"));

    // Nothing reached the provider, and nothing was journaled (no SENT
    // transaction for the resolver to chase).
    assert_eq!(sb.money_requests(), 0);
    assert_eq!(requests(&sb, "/v1/balance"), 0);
    let lookup = c.get_transaction(by_key("short")).await.unwrap_err();
    assert_eq!(lookup.code(), Code::NotFound, "{lookup:?}");
    assert!(hub.journal.list_work(None).await.unwrap().is_empty());

    // So the partner may try again with the same key.
    let tx = debited(&mut c, debit("short", "acc-1", 10)).await;
    assert_eq!(state(&tx), pb::TransactionState::Settled);
    assert_eq!(sb.balance("acc-1"), Some(99_990));

    // A rollback due on arrival is refused the same way and reverses
    // nothing; with time to run, the same key rolls the debit back.
    let rollback = || pb::RollbackRequest {
        idempotency_key: "short-rb".into(),
        target: Some(pb::rollback_request::Target::TransactionId(
            tx.transaction_id.clone(),
        )),
        provider: String::new(),
    };
    let mut req = tonic::Request::new(rollback());
    req.set_timeout(Duration::from_millis(150));
    let err = c.rollback(req).await.unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    // Nothing goes on behind the answer either (a rollback run detached
    // past its deadline would be journaled by now).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sb.money_requests(), 1);
    assert_eq!(sb.balance("acc-1"), Some(99_990));
    let lookup = c.get_transaction(by_key("short-rb")).await.unwrap_err();
    assert_eq!(lookup.code(), Code::NotFound, "{lookup:?}");
    let rolled = c.rollback(rollback()).await.unwrap().into_inner();
    assert_eq!(
        state(&rolled.transaction.unwrap()),
        pb::TransactionState::RolledBack
    );
    assert_eq!(sb.balance("acc-1"), Some(100_000));
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_probes_alone_take_a_failing_provider_out_of_service_and_back() {
    let sb = sandbox().await;
    // One endpoint, no backup; probes every 100 ms.
    let extra = "[providers.sb.health]\ninterval = \"100ms\"\ntimeout = \"200ms\"\nunhealthy_after = 2\nhealthy_after = 2";
    let (_dir, hub) = hub_over(&sb, extra).await;
    wait_provider_health(&hub, PROVIDER, ServingStatus::Serving).await;

    // The probe's route fails; no partner calls anything, so the breaker
    // has nothing to count: only the probes can see it.
    sb.set_fault(Fault::new(FaultKind::ErrorRate(1.0)).on_path("/v1/balance"));
    wait_provider_health(&hub, PROVIDER, ServingStatus::NotServing).await;
    assert_eq!(sb.money_requests(), 0);

    sb.clear_faults();
    wait_provider_health(&hub, PROVIDER, ServingStatus::Serving).await;
    assert_eq!(sb.money_requests(), 0);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_of_a_flapping_provider_stay_within_the_budget_and_money_moves_once() {
    let sb = sandbox().await;
    // Half the debits and half the status queries, at random but the same
    // on every run (seeded), are answered 503 without being processed. A
    // debit's 503 is an unknown outcome (the json-hmac spec: the body was
    // sent), so it is never sent again; the status query the hub asks at
    // once is a read, retried within the budget.
    sb.set_fault(
        Fault::new(FaultKind::ErrorRate(0.5))
            .on_path("/v1/debit")
            .seeded(11),
    );
    sb.set_fault(
        Fault::new(FaultKind::ErrorRate(0.5))
            .on_path("/v1/status")
            .seeded(12),
    );
    count_requests(&sb, "/v1/debit");
    count_requests(&sb, "/v1/status");
    // Retries may add an eighth of recent calls plus one a second over a
    // 10 s window (longer than the test): at most 10 + calls / 8.
    let (ratio, minimum) = (0.125, 10.0);
    let (_dir, path) = journal_path();
    let entry = hmac_provider(
        "flap",
        sb.addr(),
        "[providers.flap.breaker]\nconsecutive_failures = 100000\nmin_requests = 100000\n[providers.flap.retry]\nmax_attempts = 5\nbackoff_base = \"1ms\"\nbackoff_max = \"2ms\"\nbudget_ratio = 0.125\nbudget_min_per_second = 1\nbudget_window = \"10s\"\n[providers.flap.health]\ninterval = \"1h\"",
    );
    let hub = TestHub::start_with(config_with(
        &path,
        &format!("{entry}\n{QUIET_RESOLVER}"),
        &["flap"],
    ))
    .await;
    let mut c = hub.client("p1").await;
    let calls = 80u64;
    let mut outcomes = Vec::new();
    for i in 0..calls {
        let req = pb::DebitRequest {
            provider: "flap".into(),
            ..debit(&format!("flap-{i}"), "acc-1", 10)
        };
        let tx = debited(&mut c, req).await;
        outcomes.push((tx.transaction_id.clone(), state(&tx)));
    }
    let settled = outcomes
        .iter()
        .filter(|(_, s)| *s == pb::TransactionState::Settled)
        .count() as u64;
    let pending = outcomes
        .iter()
        .filter(|(_, s)| *s == pb::TransactionState::Pending)
        .count() as u64;
    assert_eq!(settled + pending, calls, "{outcomes:?}");
    assert!(settled > 0 && pending > 0, "flapping: {settled} settled");

    // One request per transaction, under its one provider-side id; the
    // ledger moved exactly once per settled call and never for the others.
    let ledger = sb.ledger();
    for (id, state) in &outcomes {
        assert_eq!(sb.requests_for(id), 1, "{id}");
        let moved = ledger.transaction(id).is_some();
        assert_eq!(moved, *state == pb::TransactionState::Settled, "{id}");
    }
    assert_eq!(sb.money_requests(), calls);
    assert_eq!(requests(&sb, "/v1/debit"), calls);
    assert_eq!(sb.balance("acc-1"), Some(100_000 - 10 * settled as i64));

    // Every PENDING answer followed one status query of the hub's (a
    // settled debit needs none); what the sandbox saw beyond the calls
    // were retries, and they stayed within the budget.
    let first_attempts = calls + pending;
    let total = requests(&sb, "/v1/debit") + requests(&sb, "/v1/status");
    let retries = total - first_attempts;
    assert!(retries > 0, "the flapping status queries were retried");
    assert!(
        retries as f64 <= first_attempts as f64 * ratio + minimum,
        "{retries} retries for {first_attempts} calls"
    );
    // And the budget, not the attempt limit, is what held them back.
    let refused = metric(
        &hub,
        "hub_provider_retry_budget_exhausted_total",
        &[("provider", "flap")],
    )
    .await;
    assert!(refused.is_some_and(|n| n > 0.0), "{refused:?}");
    hub.stop().await;
}
