//! The test-only control surface.

use sandbox_kit::{AccountSeed, Fault, FaultKind, RequestStats};
use std::time::{Duration, Instant};

use crate::common::*;
use crate::toy::ToySnapshot;

#[tokio::test]
async fn control_surface_is_off_by_default() {
    let sandbox = start().await;
    let seed = r#"{"account":"acc-1","currency":"EUR","balance":100}"#;
    for (method, path, body) in [
        ("POST", "/control/seed", seed),
        ("GET", "/control/ledger", ""),
        ("POST", "/control/faults", r#"{"kind":"hang"}"#),
        ("GET", "/control/faults", ""),
        ("DELETE", "/control/faults", ""),
        ("GET", "/control/stats", ""),
    ] {
        let reply = control(&sandbox, method, path, body).await;
        assert_eq!(reply.status, 404, "{method} {path}");
    }
    assert_eq!(sandbox.balance("acc-1"), None);
    assert!(sandbox.faults().is_empty());
}

#[tokio::test]
async fn control_seeds_accounts_and_shows_the_ledger_and_counters() {
    let sandbox = start_with_control().await;
    let reply = control(
        &sandbox,
        "POST",
        "/control/seed",
        r#"{"account":"acc-9","currency":"USD","balance":500}"#,
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let echoed: AccountSeed = serde_json::from_slice(&reply.body).expect("seed json");
    assert_eq!(echoed, AccountSeed::new("acc-9", "USD", 500));
    assert_eq!(sandbox.balance("acc-9"), Some(500));

    let debited = debit(&sandbox, "d-1", "acc-9", 200).await;
    assert_eq!(debited.status, 200);

    let ledger: ToySnapshot =
        serde_json::from_slice(&control(&sandbox, "GET", "/control/ledger", "").await.body)
            .expect("ledger json");
    assert_eq!(ledger, sandbox.ledger());
    assert_eq!(ledger.accounts["acc-9"].balance, 300);
    assert_eq!(ledger.transactions[0].reply.as_bytes(), &debited.body[..]);

    let stats: RequestStats =
        serde_json::from_slice(&control(&sandbox, "GET", "/control/stats", "").await.body)
            .expect("stats json");
    assert_eq!(stats, sandbox.stats());
    assert_eq!(stats.money_requests, 1);
    assert_eq!(stats.by_tx_id.get("d-1"), Some(&1));

    // Re-seeding replaces the account, here blocked and limited.
    let reply = control(
        &sandbox,
        "POST",
        "/control/seed",
        r#"{"account":"acc-9","currency":"USD","balance":500,"blocked":true,"limit":7}"#,
    )
    .await;
    assert_eq!(reply.status, 200);
    let account = &sandbox.ledger().accounts["acc-9"];
    assert!(account.blocked);
    assert_eq!(account.limit, Some(7));
    assert_eq!(debit(&sandbox, "d-2", "acc-9", 1).await.status, 403);
}

#[tokio::test]
async fn control_refuses_malformed_bodies() {
    let sandbox = start_with_control().await;
    for (path, body) in [
        ("/control/faults", r#"{"kind":{"error_rate":2.0}}"#),
        ("/control/faults", r#"{"kind":"explode"}"#),
        ("/control/seed", "nope"),
        (
            "/control/seed",
            r#"{"account":"a","currency":"EUR","balance":1.5}"#,
        ),
    ] {
        let reply = control(&sandbox, "POST", path, body).await;
        assert_eq!(reply.status, 400, "{path} {body}");
        assert!(reply.json()["error"].is_string());
    }
    assert!(sandbox.faults().is_empty());
    assert!(sandbox.ledger().accounts.is_empty());
}

#[tokio::test]
async fn faults_switch_through_the_control_surface() {
    let sandbox = start_with_control().await;
    sandbox.seed("acc-1", "EUR", 10_000);

    let reply = control(
        &sandbox,
        "POST",
        "/control/faults",
        r#"{"kind":{"error_rate":1.0},"path":"/debit"}"#,
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        sandbox.faults(),
        vec![Fault::new(FaultKind::ErrorRate(1.0)).on_path("/debit")]
    );
    assert_eq!(debit(&sandbox, "d-1", "acc-1", 250).await.status, 503);
    assert_eq!(balance(&sandbox, "acc-1").await.status, 200);

    let reply = control(
        &sandbox,
        "POST",
        "/control/faults",
        r#"{"kind":"tampered"}"#,
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let listed = control(&sandbox, "GET", "/control/faults", "").await;
    assert_eq!(listed.json().as_array().map(Vec::len), Some(2));
    assert_eq!(listed.json()[1]["kind"], "tampered");

    let reply = control(&sandbox, "DELETE", "/control/faults", "").await;
    assert_eq!(reply.status, 200);
    assert!(sandbox.faults().is_empty());
    assert_eq!(debit(&sandbox, "d-1", "acc-1", 250).await.status, 200);

    let reply = control(
        &sandbox,
        "POST",
        "/control/faults",
        r#"{"kind":{"latency":"200ms"},"remaining":1}"#,
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let started = Instant::now();
    assert_eq!(balance(&sandbox, "acc-1").await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert!(sandbox.faults().is_empty());
}

#[tokio::test]
async fn control_paths_are_neither_faulted_nor_counted() {
    let sandbox = start_with_control().await;
    sandbox.set_fault(Fault::new(FaultKind::ErrorRate(1.0)));
    sandbox.set_fault(Fault::new(FaultKind::Garbage));
    let reply = control(&sandbox, "GET", "/control/stats", "").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["money_requests"], 0);
}
