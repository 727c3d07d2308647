//! The test-only control surface.

use sandbox_json_hmac::{LedgerSnapshot, RequestStats, TxKind, TxState};

use crate::common::*;

#[tokio::test]
async fn control_surface_is_off_by_default() {
    let sandbox = start().await;
    let seed = r#"{"account":"acc-1","currency":"EUR","balance":100}"#;
    for (method, path, body) in [
        ("POST", "/control/seed", seed),
        ("GET", "/control/ledger", ""),
        ("POST", "/control/faults", r#"{"kind":"hang"}"#),
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
    assert_eq!(sandbox.balance("acc-9"), Some(500));

    let body = serde_json::json!({
        "tx_id": "d-1", "account": "acc-9", "currency": "USD", "amount": 200
    })
    .to_string();
    let debited = post(&sandbox, "/v1/debit", &body).await;
    assert_eq!(debited.status, 200);

    let ledger: LedgerSnapshot =
        serde_json::from_slice(&control(&sandbox, "GET", "/control/ledger", "").await.body)
            .expect("ledger json");
    assert_eq!(ledger, sandbox.ledger());
    let account = ledger.account("acc-9").expect("account");
    assert_eq!((account.balance, account.opening_balance), (300, 500));
    let record = ledger.transaction("d-1").expect("transaction");
    assert_eq!(
        (record.kind, record.state),
        (TxKind::Debit, TxState::Applied)
    );
    assert_eq!(record.reply.as_bytes(), &debited.body[..]);
    assert_eq!(record.http_status, 200);

    let stats: RequestStats =
        serde_json::from_slice(&control(&sandbox, "GET", "/control/stats", "").await.body)
            .expect("stats json");
    assert_eq!(stats.money_requests, 1);
    assert_eq!(stats.by_tx_id.get("d-1"), Some(&1));

    // Re-seeding replaces the account, here blocked.
    let reply = control(
        &sandbox,
        "POST",
        "/control/seed",
        r#"{"account":"acc-9","currency":"USD","balance":500,"blocked":true}"#,
    )
    .await;
    assert_eq!(reply.status, 200);
    let body = serde_json::json!({
        "tx_id": "d-2", "account": "acc-9", "currency": "USD", "amount": 1
    })
    .to_string();
    assert_eq!(
        post(&sandbox, "/v1/debit", &body).await.code(),
        "ACCOUNT_BLOCKED"
    );
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
