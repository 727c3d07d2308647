//! The circuit breaker end to end, through the failover and health layers:
//! a primary endpoint whose breaker is open gives its traffic to the backup
//! and gets it back once its open period is over, and a provider without a
//! backup reports SERVING again at the end of the open period, before any
//! call arrives. Faults are driven through the sandboxes' fault injection,
//! and what reached each endpoint is counted at its sandbox.

mod common;
#[path = "common/health.rs"]
mod health;

use std::time::Duration;

use common::*;
use health::{provider_health, wait_provider_health};
use hub_proto::settlement::v1 as pb;
use sandbox_json_hmac::{Fault, FaultKind};
use tonic_health::pb::health_check_response::ServingStatus;

/// Health checks far apart and a resolver that does not poll: only the
/// breaker moves traffic, and only partner calls reach the sandboxes.
const QUIET: &str = "[providers.sb.health]\ninterval = \"1h\"\n[resolver]\npoll_interval = \"1h\"";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_leaves_an_open_primary_for_the_backup_and_returns_after_the_open_period() {
    // Two sandboxes, so that a fault hits the primary alone and each counts
    // its own requests; each holds the same accounts.
    let primary = sandbox().await;
    let backup = sandbox().await;
    let (_dir, path) = journal_path();
    let extra = format!(
        "backup = {{ base_url = \"http://{}\" }}\n[providers.sb.breaker]\nconsecutive_failures = 2\nopen_base = \"400ms\"\nopen_max = \"400ms\"\n[providers.sb.retry]\nmax_attempts = 1\n{QUIET}",
        backup.addr()
    );
    let hub = TestHub::start_with(config_with(
        &path,
        &hmac_provider(PROVIDER, primary.addr(), &extra),
        &[PROVIDER],
    ))
    .await;
    let mut c = hub.client("p1").await;
    let sent_to = |id: &str| (primary.requests_for(id), backup.requests_for(id));

    // The primary answers 503 to everything: the debit may have moved
    // money, so it stays PENDING and is never sent to the backup; the
    // status query right after it fails too. Two failures open the
    // primary's breaker.
    primary.set_fault(Fault::new(FaultKind::ErrorRate(1.0)));
    let unknown = debited(&mut c, debit("unknown", "acc-1", 100)).await;
    assert_eq!(state(&unknown), pb::TransactionState::Pending);
    assert_eq!(sent_to(&unknown.transaction_id), (1, 0));

    // Open: calls go to the backup; nothing reaches the primary.
    for i in 0..3 {
        let tx = debited(&mut c, debit(&format!("open-{i}"), "acc-1", 100)).await;
        assert_eq!(state(&tx), pb::TransactionState::Settled);
        assert_eq!(sent_to(&tx.transaction_id), (0, 1), "open-{i}");
    }
    assert_eq!(primary.money_requests(), 1);
    assert_eq!(
        provider_health(&hub, PROVIDER).await,
        ServingStatus::Serving,
        "the backup serves"
    );

    // The primary recovers. Once its open period (at most 400 ms) is over,
    // the next call goes to it as the probe and closes its breaker; the
    // traffic stays there.
    primary.clear_faults();
    tokio::time::sleep(Duration::from_millis(450)).await;
    for i in 0..3 {
        let tx = debited(&mut c, debit(&format!("back-{i}"), "acc-1", 100)).await;
        assert_eq!(state(&tx), pb::TransactionState::Settled);
        assert_eq!(sent_to(&tx.transaction_id), (1, 0), "back-{i}");
    }
    assert_eq!((primary.money_requests(), backup.money_requests()), (4, 3));

    // Each settled transaction moved money once, at the one endpoint that
    // took it; the one answered 503 moved nothing anywhere.
    assert_eq!(primary.balance("acc-1"), Some(100_000 - 300));
    assert_eq!(backup.balance("acc-1"), Some(100_000 - 300));
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_serves_again_when_its_open_period_ends_before_any_call() {
    let sb = sandbox().await;
    let (_dir, path) = journal_path();
    let extra = format!(
        "[providers.sb.breaker]\nconsecutive_failures = 2\nopen_base = \"1s\"\nopen_max = \"1s\"\n[providers.sb.retry]\nmax_attempts = 1\n{QUIET}"
    );
    let hub = TestHub::start_with(config_with(
        &path,
        &hmac_provider(PROVIDER, sb.addr(), &extra),
        &[PROVIDER],
    ))
    .await;
    let mut c = hub.client("p1").await;

    // A debit and its status query fail: the breaker opens.
    sb.set_fault(Fault::new(FaultKind::ErrorRate(1.0)));
    let tx = debited(&mut c, debit("unknown", "acc-1", 100)).await;
    assert_eq!(state(&tx), pb::TransactionState::Pending);
    wait_provider_health(&hub, PROVIDER, ServingStatus::NotServing).await;

    // Its open period (at most 1 s) ends: SERVING again, with no call
    // having reached the provider since, so partners send the probe.
    sb.clear_faults();
    let requests = sb.money_requests();
    wait_provider_health(&hub, PROVIDER, ServingStatus::Serving).await;
    assert_eq!(sb.money_requests(), requests, "no call was needed");
    let tx = debited(&mut c, debit("probe", "acc-1", 100)).await;
    assert_eq!(state(&tx), pb::TransactionState::Settled);
    assert_eq!(sb.money_requests(), requests + 1);
    hub.stop().await;
}
