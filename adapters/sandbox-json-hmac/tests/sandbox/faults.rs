//! What json-hmac answers under the kit's faults (the fault mechanics
//! themselves are tested in `sandbox-kit`).

use std::io::ErrorKind;

use sandbox_json_hmac::{Fault, FaultKind, TAMPER_SUFFIX, TxState};

use crate::common::*;

#[tokio::test]
async fn error_rate_one_answers_503_without_processing() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    sandbox.set_fault(Fault::new(FaultKind::ErrorRate(1.0)));

    let reply = debit(&sandbox, "d-1", "acc-1", 250).await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.text(), r#"{"code":"SERVICE_UNAVAILABLE"}"#);
    assert_eq!(sandbox.balance("acc-1"), Some(10_000));
    assert!(sandbox.ledger().transactions.is_empty());
    assert_eq!(sandbox.requests_for("d-1"), 1);

    // Nothing was recorded, so the same id is applied once the fault is gone.
    sandbox.clear_faults();
    assert_eq!(debit(&sandbox, "d-1", "acc-1", 250).await.status, 200);
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));
}

#[tokio::test]
async fn drop_after_commit_applies_then_resets_the_connection() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    sandbox.set_fault(Fault::new(FaultKind::DropAfterCommit).times(1));

    let body = debit_body("d-1", "acc-1", 250);
    let request = raw_request("POST", "/v1/debit", &signed_headers(&body), &body);
    // Not a byte of reply: the connection is reset (RST, not FIN).
    let error = exchange(sandbox.addr(), &request)
        .await
        .expect_err("no reply expected");
    assert_eq!(error.kind(), ErrorKind::ConnectionReset, "{error}");
    // Applied and recorded, though the client never heard.
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));
    let ledger = sandbox.ledger();
    let record = ledger.transaction("d-1").expect("recorded");
    assert_eq!(record.state, TxState::Applied);

    // The retry gets the recorded reply, and nothing moves again.
    let retry = parse_reply(&exchange(sandbox.addr(), &request).await.expect("retry"));
    assert_eq!(retry.status, 200);
    assert_eq!(retry.text(), record.reply);
    assert_eq!(retry.json()["provider_ref"], "hm-000001");
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));
    assert_eq!(sandbox.requests_for("d-1"), 2);
}

#[tokio::test]
async fn server_error_after_commit_answers_500_after_applying() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    sandbox.set_fault(Fault::new(FaultKind::ServerErrorAfterCommit));

    let reply = debit(&sandbox, "d-1", "acc-1", 250).await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.text(), r#"{"code":"INTERNAL_ERROR"}"#);
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));

    sandbox.clear_faults();
    let reply = status(&sandbox, "d-1").await;
    assert_eq!(
        (reply.status, reply.json()["status"].as_str()),
        (200, Some("OK"))
    );
}

#[tokio::test]
async fn garbage_is_a_200_that_is_not_json_after_applying() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    sandbox.set_fault(Fault::new(FaultKind::Garbage).on_path("/v1/debit"));

    let reply = debit(&sandbox, "d-1", "acc-1", 250).await;
    assert_eq!(reply.status, 200);
    assert!(!reply.body.is_empty());
    assert!(
        serde_json::from_slice::<serde_json::Value>(&reply.body).is_err(),
        "parsed: {}",
        reply.text()
    );
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));
    assert_eq!(
        sandbox.ledger().transaction("d-1").map(|t| t.state),
        Some(TxState::Applied)
    );
}

#[tokio::test]
async fn tampered_names_another_transaction_or_account_after_applying() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    sandbox.seed("poor", "EUR", 1);
    sandbox.set_fault(Fault::new(FaultKind::Tampered));

    let reply = debit(&sandbox, "d-1", "acc-1", 250).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.text(),
        format!(
            r#"{{"tx_id":"d-1{TAMPER_SUFFIX}","status":"OK","balance":9750,"provider_ref":"hm-000001"}}"#
        )
    );
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));

    let reply = credit(&sandbox, "c-1", "acc-1", 50).await;
    assert_eq!(reply.json()["tx_id"], format!("c-1{TAMPER_SUFFIX}"));
    let reply = rollback(&sandbox, "r-1", "d-1").await;
    assert_eq!(
        reply.text(),
        format!(r#"{{"tx_id":"r-1{TAMPER_SUFFIX}","status":"OK","balance":10050}}"#)
    );
    let reply = status(&sandbox, "d-1").await;
    assert_eq!(reply.json()["tx_id"], format!("d-1{TAMPER_SUFFIX}"));
    assert_eq!(reply.json()["status"], "ROLLED_BACK");
    let reply = balance(&sandbox, "acc-1", "EUR").await;
    assert_eq!(
        reply.text(),
        format!(r#"{{"account":"acc-1{TAMPER_SUFFIX}","currency":"EUR","balance":10050}}"#)
    );
    // Error replies name nothing of the request: sent as they are.
    let reply = debit(&sandbox, "d-2", "poor", 250).await;
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (402, r#"{"code":"INSUFFICIENT_FUNDS"}"#)
    );

    // The books kept the real replies: a replay gets them untampered.
    sandbox.clear_faults();
    let replay = debit(&sandbox, "d-1", "acc-1", 250).await;
    assert_eq!(
        replay.text(),
        r#"{"tx_id":"d-1","status":"OK","balance":9750,"provider_ref":"hm-000001"}"#
    );
    assert_eq!(sandbox.balance("acc-1"), Some(10_050));
}

#[tokio::test]
async fn faults_spare_requests_refused_for_their_signature() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    sandbox.set_fault(Fault::new(FaultKind::DropAfterCommit));
    let body = debit_body("d-1", "acc-1", 250);
    let unsigned = [("X-Operator", OPERATOR.to_owned())];
    let reply = send(&sandbox, "POST", "/v1/debit", &unsigned, &body).await;
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (401, r#"{"code":"INVALID_SIGNATURE"}"#)
    );
    assert!(sandbox.ledger().transactions.is_empty());
}
