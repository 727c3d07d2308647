//! What form-md5 answers under each of the kit's faults, observed by a real
//! client (the fault mechanics themselves are tested in `sandbox-kit`).

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use sandbox_form_md5::{Fault, FaultKind, TxState};
use tokio::time::timeout;

use crate::common::*;

#[tokio::test]
async fn latency_delays_the_scoped_path_and_the_request_still_applies() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    let delay = Duration::from_millis(200);
    sandbox.set_fault(Fault::new(FaultKind::Latency(delay)).on_path("/bet.html"));

    let started = Instant::now();
    assert_eq!(balance(&sandbox, "acc-1", "EUR").await.error(), 0);
    assert!(started.elapsed() < delay, "balance was delayed");

    let started = Instant::now();
    let reply = bet(&sandbox, "acc-1", "b-1", "2.50").await;
    assert!(started.elapsed() >= delay, "bet was not delayed");
    assert_eq!(reply.cash(), "97.50");
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));
}

#[tokio::test]
async fn error_rate_one_answers_503_without_processing() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    sandbox.set_fault(Fault::new(FaultKind::ErrorRate(1.0)));

    let reply = bet(&sandbox, "acc-1", "b-1", "2.50").await;
    assert_eq!(reply.status, 503);
    assert!(reply.body.is_empty(), "{}", reply.text());
    assert_eq!(sandbox.balance("acc-1"), Some(10_000));
    assert!(sandbox.ledger().transactions.is_empty());
    assert_eq!(sandbox.requests_for("b-1"), 1);

    // Nothing was recorded, so the same reference applies once it is gone.
    sandbox.clear_faults();
    assert_eq!(bet(&sandbox, "acc-1", "b-1", "2.50").await.error(), 0);
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));
}

#[tokio::test]
async fn hang_holds_the_request_unprocessed_until_faults_are_cleared() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    sandbox.set_fault(Fault::new(FaultKind::Hang).on_path("/bet.html"));

    let request = form_request("/bet.html", &money_body("acc-1", "b-1", "2.50", "EUR"));
    let addr = sandbox.addr();
    let pending = tokio::spawn(async move { exchange(addr, &request).await });

    // Still nothing after a while, and nothing applied.
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(!pending.is_finished(), "the hung request was answered");
    assert_eq!(sandbox.balance("acc-1"), Some(10_000));
    assert!(sandbox.ledger().transactions.is_empty());
    assert_eq!(sandbox.requests_for("b-1"), 1, "it did arrive");

    sandbox.clear_faults();
    let raw = timeout(Duration::from_secs(5), pending)
        .await
        .expect("answered once cleared")
        .expect("task")
        .expect("exchange");
    assert_eq!(parse_reply(&raw).cash(), "97.50");
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));
}

#[tokio::test]
async fn drop_after_commit_applies_then_resets_the_connection() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    sandbox.set_fault(Fault::new(FaultKind::DropAfterCommit).times(1));

    let request = form_request("/bet.html", &money_body("acc-1", "b-1", "2.50", "EUR"));
    // Not a byte of reply: the connection is reset (RST, not FIN).
    let error = exchange(sandbox.addr(), &request)
        .await
        .expect_err("no reply expected");
    assert_eq!(error.kind(), ErrorKind::ConnectionReset, "{error}");
    // Applied and recorded, though the client never heard.
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));
    let record = sandbox
        .ledger()
        .transaction("b-1")
        .cloned()
        .expect("recorded");
    assert_eq!(record.state, TxState::Applied);

    // There is no status query: repeating the bet is how to learn, and it
    // gets the recorded reply without moving money again.
    let retry = send_raw(&sandbox, &request).await;
    assert_eq!(retry.text(), record.reply);
    assert_eq!(retry.cash(), "97.50");
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));
    assert_eq!(sandbox.requests_for("b-1"), 2);
}

#[tokio::test]
async fn drop_after_commit_on_a_refund_can_be_resolved_by_refunding_again() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    assert_eq!(bet(&sandbox, "acc-1", "b-1", "2.50").await.error(), 0);
    sandbox.set_fault(
        Fault::new(FaultKind::DropAfterCommit)
            .on_path("/refund.html")
            .times(1),
    );

    let request = form_request("/refund.html", &refund_body("acc-1", "b-1"));
    let error = exchange(sandbox.addr(), &request).await.expect_err("reset");
    assert_eq!(error.kind(), ErrorKind::ConnectionReset, "{error}");
    assert_eq!(sandbox.balance("acc-1"), Some(10_000));

    let retry = send_raw(&sandbox, &request).await;
    assert_eq!(retry.text(), r#"{"error":0,"transactionId":"fm-2"}"#);
    assert_eq!(sandbox.balance("acc-1"), Some(10_000));
}

#[tokio::test]
async fn server_error_after_commit_answers_error_100_after_applying() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    sandbox.set_fault(Fault::new(FaultKind::ServerErrorAfterCommit).times(1));

    let reply = bet(&sandbox, "acc-1", "b-1", "2.50").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), error_text(100, "internal error"));
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(
        sandbox.balance("acc-1"),
        Some(9_750),
        "applied all the same"
    );

    let retry = bet(&sandbox, "acc-1", "b-1", "2.50").await;
    assert_eq!(
        retry.text(),
        r#"{"error":0,"transactionId":"fm-1","currency":"EUR","cash":97.50}"#
    );
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));
}

#[tokio::test]
async fn garbage_is_a_200_that_is_not_json_after_applying() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    sandbox.set_fault(Fault::new(FaultKind::Garbage).on_path("/result.html"));

    let reply = result(&sandbox, "acc-1", "w-1", "1.00").await;
    assert_eq!(reply.status, 200);
    assert!(!reply.body.is_empty());
    assert!(
        serde_json::from_slice::<serde_json::Value>(&reply.body).is_err(),
        "parsed: {}",
        reply.text()
    );
    let record = sandbox
        .ledger()
        .transaction("w-1")
        .cloned()
        .expect("recorded");
    assert!(record.reply.as_bytes().starts_with(&reply.body));
    assert_eq!(sandbox.balance("acc-1"), Some(10_100));
}

#[tokio::test]
async fn tampered_names_another_transaction_currency_and_cash_after_applying() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    sandbox.seed("yen", "JPY", 5_000);
    sandbox.seed("poor", "EUR", 1);
    sandbox.set_fault(Fault::new(FaultKind::Tampered));

    let reply = bet(&sandbox, "acc-1", "b-1", "2.50").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.text(),
        r#"{"error":0,"transactionId":"fm-1000001","currency":"USD","cash":98.50}"#
    );
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));

    let body = money_body("yen", "y-1", "1250", "JPY");
    let reply = post(&sandbox, "/bet.html", &body).await;
    assert_eq!(
        reply.text(),
        r#"{"error":0,"transactionId":"fm-1000002","currency":"KRW","cash":3751}"#
    );
    assert_eq!(
        refund(&sandbox, "acc-1", "b-1").await.text(),
        r#"{"error":0,"transactionId":"fm-1000003"}"#
    );
    assert_eq!(
        balance(&sandbox, "acc-1", "EUR").await.text(),
        r#"{"error":0,"currency":"USD","cash":101.00}"#
    );
    // Error replies name nothing of the request: sent as they are.
    assert_eq!(
        bet(&sandbox, "poor", "p-1", "2.50").await.text(),
        error_text(1, "insufficient balance")
    );

    // The books kept the real replies: a replay gets them untampered.
    sandbox.clear_faults();
    assert_eq!(
        bet(&sandbox, "acc-1", "b-1", "2.50").await.text(),
        r#"{"error":0,"transactionId":"fm-1","currency":"EUR","cash":97.50}"#
    );
    assert_eq!(sandbox.balance("acc-1"), Some(10_000));
    assert_eq!(sandbox.balance("yen"), Some(3_750));
}

#[tokio::test]
async fn after_commit_faults_spare_requests_refused_before_the_books() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    sandbox.set_fault(Fault::new(FaultKind::DropAfterCommit));

    let body = body_with(
        "wrong-secret",
        &[
            ("providerId", PROVIDER),
            ("userId", "acc-1"),
            ("reference", "b-1"),
            ("amount", "2.50"),
            ("currency", "EUR"),
        ],
    );
    assert_eq!(
        post(&sandbox, "/bet.html", &body).await.text(),
        error_text(5, "invalid hash")
    );
    let bad_amount = money_body("acc-1", "b-2", "2.5", "EUR");
    assert_eq!(post(&sandbox, "/bet.html", &bad_amount).await.error(), 120);
    assert!(sandbox.ledger().transactions.is_empty());
}
