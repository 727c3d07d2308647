//! The kit's test-only control surface, with this dialect's books.

use sandbox_json_rsa::{LedgerSnapshot, RequestStats, TxKind, TxState};

use crate::common::*;

#[tokio::test]
async fn control_surface_is_off_by_default() {
    let sandbox = start().await;
    let seed = r#"{"account":"acc-1","currency":"EUR","balance":100}"#;
    for (method, path, body) in [
        ("POST", "/control/seed", seed),
        ("GET", "/control/ledger", ""),
        ("POST", "/control/faults", r#"{"kind":"hang"}"#),
        ("GET", "/control/stats", ""),
    ] {
        let reply = control(&sandbox, method, path, body).await;
        assert_eq!(reply.status, 404, "{method} {path}");
    }
    assert_eq!(sandbox.balance("acc-1"), None);
    assert!(sandbox.faults().is_empty());
}

#[tokio::test]
async fn control_seeds_users_and_shows_the_ledger_and_counters() {
    let sandbox = start_with_control().await;
    let reply = control(
        &sandbox,
        "POST",
        "/control/seed",
        r#"{"account":"acc-9","currency":"EUR","balance":5000000}"#,
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(sandbox.balance("acc-9"), Some(5_000_000));

    let placed = bet(&sandbox, "q-1", "t-1", "acc-9", 2_000_000)
        .await
        .trusted();
    rollback(&sandbox, "q-2", "r-1", "ghost").await.trusted();

    let ledger: LedgerSnapshot =
        serde_json::from_slice(&control(&sandbox, "GET", "/control/ledger", "").await.body)
            .expect("ledger json");
    assert_eq!(ledger, sandbox.ledger());
    let account = ledger.account("acc-9").expect("account");
    assert_eq!(
        (account.balance, account.opening_balance),
        (3_000_000, 5_000_000)
    );
    let record = ledger.transaction("t-1").expect("transaction");
    assert_eq!((record.kind, record.state), (TxKind::Bet, TxState::Applied));
    // The recorded answer renders to the reply that was sent.
    assert_eq!(placed.json()["balance"], 3_000_000);
    assert_eq!(ledger.tombstones.len(), 1);

    let stats: RequestStats =
        serde_json::from_slice(&control(&sandbox, "GET", "/control/stats", "").await.body)
            .expect("stats json");
    assert_eq!(stats.money_requests, 2);
    assert_eq!(stats.by_tx_id.get("t-1"), Some(&1));
    assert_eq!(stats.by_tx_id.get("r-1"), Some(&1));

    // Re-seeding replaces the user, here disabled ("blocked").
    let reply = control(
        &sandbox,
        "POST",
        "/control/seed",
        r#"{"account":"acc-9","currency":"EUR","balance":500,"blocked":true}"#,
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        bet(&sandbox, "q-3", "t-2", "acc-9", 1).await.rs(),
        "RS_ERROR_USER_DISABLED"
    );
}
