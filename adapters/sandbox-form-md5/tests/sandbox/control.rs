//! The kit's control surface, with form-md5's own units and ledger.

use sandbox_form_md5::{LedgerSnapshot, RequestStats};

use crate::common::*;

#[tokio::test]
async fn seed_over_http_in_minor_units_then_audit_the_ledger() {
    let sandbox = start_with_control().await;
    let seeded = control(
        &sandbox,
        "POST",
        "/control/seed",
        r#"{"account":"acc-1","currency":"EUR","balance":10000,"limit":5000}"#,
    )
    .await;
    assert_eq!(seeded.status, 200, "{}", seeded.text());
    assert_eq!(balance(&sandbox, "acc-1", "EUR").await.cash(), "100.00");
    assert_eq!(bet(&sandbox, "acc-1", "b-1", "50.01").await.error(), 4);
    assert_eq!(bet(&sandbox, "acc-1", "b-2", "2.50").await.error(), 0);

    let ledger = control(&sandbox, "GET", "/control/ledger", "").await;
    assert_eq!(ledger.status, 200);
    let ledger: LedgerSnapshot = serde_json::from_slice(&ledger.body).expect("snapshot JSON");
    assert_eq!(ledger, sandbox.ledger());
    let account = ledger.account("acc-1").expect("account");
    assert_eq!((account.balance, account.opening_balance), (9_750, 10_000));
    assert_eq!(account.limit, Some(5_000));
    assert_eq!(ledger.transactions.len(), 2);

    let stats = control(&sandbox, "GET", "/control/stats", "").await;
    let stats: RequestStats = serde_json::from_slice(&stats.body).expect("stats JSON");
    assert_eq!(stats.money_requests, 2);
    assert_eq!(stats.by_tx_id.get("b-2"), Some(&1));
}

#[tokio::test]
async fn a_currency_without_a_minor_unit_cannot_be_seeded() {
    let sandbox = start().await;
    sandbox.seed("gold", "XAU", 100);
    sandbox.seed("junk", "EURO", 100);
    assert_eq!(sandbox.balance("gold"), None);
    assert_eq!(sandbox.balance("junk"), None);
    assert!(sandbox.ledger().accounts.is_empty());
}
