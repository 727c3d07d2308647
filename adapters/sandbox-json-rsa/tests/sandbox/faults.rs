//! Every fault kind, observed by a real client.

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use sandbox_json_rsa::{Fault, FaultKind, TxState};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;

#[tokio::test]
async fn latency_delays_the_scoped_path_only_and_the_request_still_applies() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    let delay = Duration::from_millis(300);
    sandbox.set_fault(Fault::new(FaultKind::Latency(delay)).on_path(BET));

    let started = Instant::now();
    balance(&sandbox, "q-1", "acc-1", "EUR").await.trusted();
    assert!(started.elapsed() < delay, "balance was delayed");

    let started = Instant::now();
    let reply = bet(&sandbox, "q-2", "t-1", "acc-1", 250).await.trusted();
    assert!(started.elapsed() >= delay, "bet was not delayed");
    assert_eq!(reply.rs(), "RS_OK");
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));
}

#[tokio::test]
async fn error_rate_one_answers_503_without_processing() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    sandbox.set_fault(Fault::new(FaultKind::ErrorRate(1.0)));

    let reply = bet(&sandbox, "q-1", "t-1", "acc-1", 250).await;
    assert_eq!(reply.status, 503);
    assert!(reply.body.is_empty(), "{}", reply.text());
    assert_eq!(sandbox.balance("acc-1"), Some(10_000));
    assert!(sandbox.ledger().transactions.is_empty());
    assert_eq!(sandbox.requests_for("t-1"), 1);

    // Nothing was recorded, so the same id is applied once the fault is gone.
    sandbox.clear_faults();
    assert_eq!(
        bet(&sandbox, "q-2", "t-1", "acc-1", 250)
            .await
            .trusted()
            .rs(),
        "RS_OK"
    );
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));
}

#[tokio::test]
async fn hang_holds_the_request_unprocessed_until_faults_are_cleared() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    sandbox.set_fault(Fault::new(FaultKind::Hang).on_path(BET));

    let body = transfer_body("q-1", "t-1", "acc-1", 250);
    let mut stream = TcpStream::connect(sandbox.addr()).await.expect("connect");
    stream
        .write_all(&raw_request("POST", BET, &signed_headers(&body), &body))
        .await
        .expect("send");
    let mut reply = Vec::new();
    let waited =
        tokio::time::timeout(Duration::from_millis(300), stream.read_to_end(&mut reply)).await;
    assert!(waited.is_err(), "answered while hung: {reply:?}");
    assert!(reply.is_empty());
    assert_eq!(sandbox.balance("acc-1"), Some(10_000));
    assert!(sandbox.ledger().transactions.is_empty());
    // Other paths are not hung.
    balance(&sandbox, "q-2", "acc-1", "EUR").await.trusted();

    sandbox.clear_faults();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut reply))
        .await
        .expect("answered after clear")
        .expect("read");
    let reply = parse_reply(&reply).trusted();
    assert_eq!(reply.rs(), "RS_OK");
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));
}

#[tokio::test]
async fn drop_after_commit_applies_then_resets_and_a_retry_gets_the_original_answer() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    sandbox.set_fault(Fault::new(FaultKind::DropAfterCommit).times(1));

    let body = transfer_body("q-1", "t-1", "acc-1", 250);
    let request = raw_request("POST", BET, &signed_headers(&body), &body);
    // Not a byte of reply: the connection is reset (RST, not FIN).
    let error = exchange(sandbox.addr(), &request)
        .await
        .expect_err("no reply expected");
    assert_eq!(error.kind(), ErrorKind::ConnectionReset, "{error}");
    // Applied and recorded, though the client never heard.
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));
    assert_eq!(
        sandbox.ledger().transaction("t-1").map(|t| t.state),
        Some(TxState::Applied)
    );

    // The retry (a new request_uuid, as the spec wants) gets the original
    // answer, and nothing moves again.
    let retry = bet(&sandbox, "q-2", "t-1", "acc-1", 250).await.trusted();
    assert_eq!(
        retry.text(),
        r#"{"request_uuid":"q-2","transaction_uuid":"t-1","balance":9750,"currency":"EUR","status":"RS_OK"}"#
    );
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));
    assert_eq!(sandbox.requests_for("t-1"), 2);
}

#[tokio::test]
async fn server_error_after_commit_answers_a_signed_500_after_applying() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    sandbox.set_fault(Fault::new(FaultKind::ServerErrorAfterCommit).on_path(BET));

    let reply = bet(&sandbox, "q-1", "t-1", "acc-1", 250).await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.text(), r#"{"status":"RS_ERROR_UNKNOWN"}"#);
    assert!(reply.signed_by_provider());
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));

    // The lookup (another path) tells the truth.
    let reply = lookup(&sandbox, "q-2", "t-1").await.trusted();
    assert_eq!(reply.json()["state"], "TS_SUCCESS");
}

#[tokio::test]
async fn garbage_is_an_unparseable_200_whose_signature_fails_after_applying() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    sandbox.set_fault(Fault::new(FaultKind::Garbage).on_path(BET));

    let reply = bet(&sandbox, "q-1", "t-1", "acc-1", 250).await;
    assert_eq!(reply.status, 200);
    assert!(!reply.body.is_empty());
    assert!(
        serde_json::from_slice::<serde_json::Value>(&reply.body).is_err(),
        "parsed: {}",
        reply.text()
    );
    assert!(!reply.signed_by_provider());
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));
    assert_eq!(
        sandbox.ledger().transaction("t-1").map(|t| t.state),
        Some(TxState::Applied)
    );
}

#[tokio::test]
async fn tampered_is_the_real_reply_signed_with_the_impostors_key() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    sandbox.set_fault(Fault::new(FaultKind::Tampered).times(1));

    let tampered = bet(&sandbox, "q-1", "t-1", "acc-1", 250).await;
    assert_eq!(tampered.status, 200);
    assert_eq!(
        tampered.text(),
        r#"{"request_uuid":"q-1","transaction_uuid":"t-1","balance":9750,"currency":"EUR","status":"RS_OK"}"#
    );
    assert!(!tampered.signed_by_provider(), "tampered reply verifies");
    // It is a real signature, by the wrong key.
    let signature = tampered.header("x-signature").expect("signed");
    assert_eq!(signature, sign_with("impostor_private.pem", &tampered.body));
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));

    // The fault is used up: the retry's reply is the same answer, trusted.
    let retry = bet(&sandbox, "q-1", "t-1", "acc-1", 250).await.trusted();
    assert_eq!(retry.body, tampered.body);
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));
}

#[tokio::test]
async fn after_commit_faults_do_not_fire_on_refused_requests() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    sandbox.set_fault(Fault::new(FaultKind::Tampered));
    let body = transfer_body("q-1", "t-1", "acc-1", 250);
    let reply = send(&sandbox, "POST", BET, &[], &body).await.trusted();
    assert_eq!(reply.rs(), "RS_ERROR_INVALID_SIGNATURE");
    assert_eq!(sandbox.balance("acc-1"), Some(10_000));
}

#[tokio::test]
async fn faults_switch_through_the_control_surface() {
    let sandbox = start_with_control().await;
    sandbox.seed("acc-1", "EUR", 10_000);

    let reply = control(
        &sandbox,
        "POST",
        "/control/faults",
        &format!(r#"{{"kind":"tampered","path":"{ROLLBACK}"}}"#),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        sandbox.faults(),
        vec![Fault::new(FaultKind::Tampered).on_path(ROLLBACK)]
    );
    bet(&sandbox, "q-1", "t-1", "acc-1", 250).await.trusted();
    let reply = rollback(&sandbox, "q-2", "r-1", "t-1").await;
    assert!(!reply.signed_by_provider());
    assert_eq!(sandbox.balance("acc-1"), Some(10_000));

    let reply = control(&sandbox, "DELETE", "/control/faults", "").await;
    assert_eq!(reply.status, 200);
    assert!(sandbox.faults().is_empty());
    rollback(&sandbox, "q-3", "r-1", "t-1").await.trusted();
}
