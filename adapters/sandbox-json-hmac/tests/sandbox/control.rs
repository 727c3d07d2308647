//! The test-only control surface.

use sandbox_json_hmac::{LedgerSnapshot, RequestStats, TxKind, TxState};

use crate::common::*;

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
