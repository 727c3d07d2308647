//! The SDK against a real hub and a real json-hmac sandbox on ephemeral
//! ports: every RPC, automatic keys, a safe retry, PENDING resolved, and each
//! error type with its details.

#[path = "../../../hub/tests/common/mod.rs"]
mod common;

use std::time::Duration;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use common::{
    PROVIDER, TestHub, config_toml, config_with, hmac_provider, journal_path, sandbox, sandbox_on,
};
use sandbox_json_hmac::{Fault, FaultKind};
use settlement_sdk::pb::{self, TransactionState};
use settlement_sdk::{Auth, Client, Credit, Debit, Jitter, Rollback, SdkError, money};

const FAST_RESOLVER: &str = "[resolver]\npoll_interval = \"50ms\"\nbackoff_base = \"20ms\"\nbackoff_max = \"100ms\"\nmax_attempts = 4\nsettle_after = \"500ms\"";

async fn sdk(hub: &TestHub, partner: &str) -> Client {
    let key = hub.key(partner).await;
    Client::connect(format!("http://{}", hub.addr), Auth::ApiKey(key))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_with_automatic_idempotency_keys() {
    let sb = sandbox().await;
    let (_dir, path) = journal_path();
    let hub = TestHub::start(path, sb.addr()).await;
    let c = sdk(&hub, "p1").await;

    // Debit without a key: the SDK generates a UUIDv7.
    let d = c
        .debit(Debit::new(PROVIDER, "acc-1", money("EUR", 700)).reference("round-1"))
        .await
        .unwrap();
    assert_eq!(d.state(), TransactionState::Settled);
    let key = uuid::Uuid::parse_str(&d.idempotency_key).expect("a generated UUID");
    assert_eq!(key.get_version_num(), 7);
    assert_eq!(d.reference, "round-1");
    assert_eq!(sb.balance("acc-1"), Some(100_000 - 700));

    // Two calls without keys are two movements.
    let d2 = c
        .debit(Debit::new(PROVIDER, "acc-1", money("EUR", 300)))
        .await
        .unwrap();
    assert_ne!(d2.idempotency_key, d.idempotency_key);
    assert_eq!(sb.balance("acc-1"), Some(100_000 - 1_000));

    // Credit with the caller's key; repeating it is a replay.
    let cr = c
        .credit(Credit::new(PROVIDER, "acc-2", money("EUR", 250)).idempotency_key("win-1"))
        .await
        .unwrap();
    assert_eq!(cr.idempotency_key, "win-1");
    assert_eq!(cr.state(), TransactionState::Settled);
    let again = c
        .credit(Credit::new(PROVIDER, "acc-2", money("EUR", 250)).idempotency_key("win-1"))
        .await
        .unwrap();
    assert!(again.replay);
    assert_eq!(again.transaction_id, cr.transaction_id);
    assert_eq!(sb.balance("acc-2"), Some(1_250));

    // Balance.
    let bal = c.get_balance(PROVIDER, "acc-2", "EUR").await.unwrap();
    assert_eq!(bal.minor_units, 1_250);
    assert_eq!(bal.currency_code, "EUR");

    // Lookups by id and key.
    let by_id = c.get_transaction(&d.transaction_id).await.unwrap();
    assert_eq!(by_id.idempotency_key, d.idempotency_key);
    let by_key = c.get_transaction_by_key("win-1").await.unwrap();
    assert_eq!(by_key.transaction_id, cr.transaction_id);

    // Rollback of the first debit, with a generated key.
    let rb = c
        .rollback(Rollback::of_transaction(&d.transaction_id))
        .await
        .unwrap();
    assert_eq!(rb.reverses_transaction_id, d.transaction_id);
    assert_eq!(rb.state(), TransactionState::RolledBack);
    assert!(uuid::Uuid::parse_str(&rb.idempotency_key).is_ok());
    assert_eq!(sb.balance("acc-1"), Some(100_000 - 300));

    // List.
    let page = c
        .list_transactions(pb::ListTransactionsRequest::default())
        .await
        .unwrap();
    let ids: Vec<_> = page
        .transactions
        .iter()
        .map(|t| t.transaction_id.clone())
        .collect();
    assert!(ids.contains(&d.transaction_id));
    assert!(ids.contains(&d2.transaction_id));
    assert!(ids.contains(&cr.transaction_id));
    assert!(ids.contains(&rb.transaction_id));

    // Watch from the beginning: the first change is the first debit.
    let mut feed = c.watch_transactions("", None).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), feed.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.transaction.unwrap().transaction_id, d.transaction_id);
    assert!(!first.cursor.is_empty());

    drop(feed);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unavailable_provider_is_retried_with_the_same_key_and_moves_money_once() {
    // A port with nothing listening yet: the provider is down.
    let probe = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let (_dir, path) = journal_path();
    let hub = TestHub::start_with(config_with(
        &path,
        &hmac_provider(PROVIDER, addr, "[providers.sb.health]\ninterval = \"1h\""),
        &[PROVIDER],
    ))
    .await;
    let c = sdk(&hub, "p1")
        .await
        .with_deadline(Duration::from_secs(15))
        .with_max_attempts(20)
        .with_backoff(Duration::from_millis(50), Duration::from_millis(200));

    // Without retries the first attempt fails with nothing moved.
    let err = c
        .clone()
        .with_max_attempts(1)
        .debit(Debit::new(PROVIDER, "acc-1", money("EUR", 900)).idempotency_key("retry-probe"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, SdkError::Unavailable { ref reason, retry_after: Some(_) } if reason.as_deref() == Some("PROVIDER_UNAVAILABLE")),
        "{err:?}"
    );

    // The provider comes up ~300 ms into the retried call.
    let starter = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        sandbox_on(listener).await
    });
    let started = std::time::Instant::now();
    let tx = c
        .debit(Debit::new(PROVIDER, "acc-1", money("EUR", 900)).idempotency_key("retry-1"))
        .await
        .unwrap();
    // It settled only after the provider came up, so earlier attempts failed.
    assert!(started.elapsed() >= Duration::from_millis(250));
    let sb = starter.await.unwrap();
    assert_eq!(tx.idempotency_key, "retry-1");
    assert_eq!(tx.state(), TransactionState::Settled);
    assert_eq!(sb.requests_for(&tx.transaction_id), 1, "sent exactly once");
    assert_eq!(sb.balance("acc-1"), Some(100_000 - 900));
    // The probe's key never reached the provider and moved nothing.
    let probe_tx = c.get_transaction_by_key("retry-probe").await.unwrap();
    assert_eq!(probe_tx.state(), TransactionState::Failed);
    assert_eq!(sb.requests_for(&probe_tx.transaction_id), 0);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_final_resolves_a_pending_debit() {
    let sb = sandbox().await;
    sb.set_fault(
        Fault::new(FaultKind::DropAfterCommit)
            .on_path("/v1/debit")
            .times(1),
    );
    sb.set_fault(
        Fault::new(FaultKind::ErrorRate(1.0))
            .on_path("/v1/status")
            .times(3),
    );
    let (_dir, path) = journal_path();
    let hub = TestHub::start_with(config_with(
        &path,
        &(hmac_provider(
            PROVIDER,
            sb.addr(),
            "[providers.sb.health]\ninterval = \"1h\"",
        ) + FAST_RESOLVER),
        &[PROVIDER],
    ))
    .await;
    let c = sdk(&hub, "p1").await;
    let tx = c
        .debit(Debit::new(PROVIDER, "acc-1", money("EUR", 700)))
        .await
        .unwrap();
    assert_eq!(tx.state(), TransactionState::Pending);

    // Too short a wait reports the transaction still pending.
    match c.wait_final(&tx.transaction_id, Duration::ZERO).await {
        Err(SdkError::StillPending { transaction }) => {
            assert_eq!(transaction.transaction_id, tx.transaction_id)
        }
        other => panic!("expected StillPending, got {other:?}"),
    }

    let done = c
        .wait_final(&tx.transaction_id, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(done.state(), TransactionState::Settled);
    assert_eq!(sb.balance("acc-1"), Some(100_000 - 700));
    assert_eq!(sb.requests_for(&tx.transaction_id), 1, "sent once");
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_error_type_carries_its_details() {
    let sb = sandbox().await;
    let (_dir, path) = journal_path();
    let hub = TestHub::start(path, sb.addr()).await;
    let c = sdk(&hub, "p1").await;

    // Invalid argument, with field violations.
    let err = c
        .debit(Debit::new(PROVIDER, "", money("EUR", -5)))
        .await
        .unwrap_err();
    match err {
        SdkError::InvalidArgument { violations, .. } => {
            let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
            assert!(fields.contains(&"account"), "{fields:?}");
            assert!(fields.contains(&"amount.minor_units"), "{fields:?}");
            assert!(violations.iter().all(|v| !v.description.is_empty()));
        }
        other => panic!("expected InvalidArgument, got {other:?}"),
    }

    // Conflict: the same key for a different request.
    c.debit(Debit::new(PROVIDER, "acc-1", money("EUR", 100)).idempotency_key("k-conflict"))
        .await
        .unwrap();
    let err = c
        .debit(Debit::new(PROVIDER, "acc-1", money("EUR", 200)).idempotency_key("k-conflict"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, SdkError::Conflict { ref reason } if reason == "IDEMPOTENCY_CONFLICT"),
        "{err:?}"
    );
    assert_eq!(sb.balance("acc-1"), Some(100_000 - 100), "moved once");

    // Failed precondition: credits cannot be rolled back.
    let cr = c
        .credit(Credit::new(PROVIDER, "acc-1", money("EUR", 10)))
        .await
        .unwrap();
    let err = c
        .rollback(Rollback::of_transaction(&cr.transaction_id))
        .await
        .unwrap_err();
    assert!(
        matches!(err, SdkError::FailedPrecondition { ref reason, .. } if reason == "NOT_REVERSIBLE"),
        "{err:?}"
    );

    // Not found.
    let err = c.get_transaction_by_key("never-seen").await.unwrap_err();
    assert!(matches!(err, SdkError::NotFound), "{err:?}");

    // Permission denied: p3 may use no provider.
    let p3 = sdk(&hub, "p3").await;
    let err = p3
        .debit(Debit::new(PROVIDER, "acc-1", money("EUR", 100)))
        .await
        .unwrap_err();
    assert!(
        matches!(err, SdkError::PermissionDenied { ref reason } if reason == "PROVIDER_NOT_ALLOWED"),
        "{err:?}"
    );

    // Unauthenticated: a wrong key and no key.
    let endpoint = format!("http://{}", hub.addr);
    for auth in [Auth::ApiKey("hk_wrong".into()), Auth::None] {
        let bad = Client::connect(endpoint.clone(), auth).await.unwrap();
        let err = bad.get_balance(PROVIDER, "acc-1", "EUR").await.unwrap_err();
        assert!(
            matches!(err, SdkError::Unauthenticated { ref message } if !message.is_empty()),
            "{err:?}"
        );
    }
    let bearer = Client::connect(endpoint.clone(), Auth::Bearer("not.a.jwt".into()))
        .await
        .unwrap();
    let err = bearer
        .get_balance(PROVIDER, "acc-1", "EUR")
        .await
        .unwrap_err();
    assert!(matches!(err, SdkError::Unauthenticated { .. }), "{err:?}");

    // Bad endpoint and bad credentials fail before any call.
    assert!(matches!(
        Client::connect("not a uri", Auth::None).await,
        Err(SdkError::InvalidEndpoint(_))
    ));
    assert!(matches!(
        Client::connect(endpoint, Auth::ApiKey("line\nbreak".into())).await,
        Err(SdkError::InvalidCredentials)
    ));
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_is_waited_out_and_retried_with_the_same_key() {
    let sb = sandbox().await;
    let (_dir, path) = journal_path();
    let hub = TestHub::start_with(config_toml(
        &path,
        &hmac_provider(PROVIDER, sb.addr(), ""),
        &format!(
            "[partners.lim]\nproviders = [\"{PROVIDER}\"]\n[partners.lim.rate]\nper_second = 1\nburst = 1\n"
        ),
    ))
    .await;
    // Count the backoff draws: one per retry.
    let draws = Arc::new(AtomicU32::new(0));
    let counted = draws.clone();
    let c = sdk(&hub, "lim").await.with_jitter(Jitter::from_fn(move || {
        counted.fetch_add(1, Ordering::SeqCst);
        0.5
    }));

    // Without retries the second call in the same second is refused.
    let once = c.clone().with_max_attempts(1);
    once.get_balance(PROVIDER, "acc-1", "EUR").await.unwrap();
    let err = once
        .get_balance(PROVIDER, "acc-1", "EUR")
        .await
        .unwrap_err();
    assert!(
        matches!(err, SdkError::RateLimited { ref reason, retry_after: Some(d) } if reason == "RATE_LIMITED" && !d.is_zero()),
        "{err:?}"
    );
    assert_eq!(
        draws.load(Ordering::SeqCst),
        0,
        "a single attempt draws nothing"
    );

    // With retries, both debits go through, each sent once.
    let a = c
        .debit(Debit::new(PROVIDER, "acc-1", money("EUR", 100)))
        .await
        .unwrap();
    let b = c
        .debit(Debit::new(PROVIDER, "acc-1", money("EUR", 200)))
        .await
        .unwrap();
    assert!(
        draws.load(Ordering::SeqCst) >= 1,
        "a refused attempt was retried"
    );
    for tx in [&a, &b] {
        assert_eq!(tx.state(), TransactionState::Settled);
        assert_eq!(sb.requests_for(&tx.transaction_id), 1);
    }
    assert_eq!(sb.balance("acc-1"), Some(100_000 - 300));
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_in_flight_is_in_progress_and_moves_nothing() {
    let sb = sandbox().await;
    sb.set_fault(
        Fault::new(FaultKind::Latency(Duration::from_millis(1500)))
            .on_path("/v1/debit")
            .times(1),
    );
    let (_dir, path) = journal_path();
    let hub = TestHub::start(path, sb.addr()).await;
    let c = sdk(&hub, "p1").await;
    let debit = || Debit::new(PROVIDER, "acc-1", money("EUR", 400)).idempotency_key("slow-1");

    let leader = tokio::spawn({
        let c = c.clone();
        async move { c.debit(debit()).await }
    });
    // Once the hub has journaled the leader's call...
    while c.get_transaction_by_key("slow-1").await.is_err() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // ...the same key is held until the duplicate's deadline, then refused
    // as in progress (too late to retry within that deadline).
    let err = c
        .clone()
        .with_deadline(Duration::from_millis(600))
        .debit(debit())
        .await
        .unwrap_err();
    assert!(
        matches!(err, SdkError::InProgress { retry_after: Some(d) } if !d.is_zero()),
        "{err:?}"
    );

    let tx = leader.await.unwrap().unwrap();
    assert_eq!(tx.state(), TransactionState::Settled);
    let replay = c.debit(debit()).await.unwrap();
    assert!(replay.replay);
    assert_eq!(replay.transaction_id, tx.transaction_id);
    assert_eq!(sb.requests_for(&tx.transaction_id), 1, "sent once");
    assert_eq!(sb.balance("acc-1"), Some(100_000 - 400));
    hub.stop().await;
}
