//! Every fault kind, observed by a real client.

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use sandbox_json_hmac::{Fault, FaultKind, TxState};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;

#[tokio::test]
async fn latency_delays_the_scoped_path_only_and_the_request_still_applies() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    let delay = Duration::from_millis(300);
    sandbox.set_fault(Fault::new(FaultKind::Latency(delay)).on_path("/v1/debit"));

    let started = Instant::now();
    assert_eq!(balance(&sandbox, "acc-1", "EUR").await.status, 200);
    assert!(started.elapsed() < delay, "balance was delayed");

    let started = Instant::now();
    let reply = debit(&sandbox, "d-1", "acc-1", 250).await;
    assert!(started.elapsed() >= delay, "debit was not delayed");
    assert_eq!(reply.status, 200);
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));
}

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
async fn error_rate_draws_are_reproducible_from_the_seed() {
    async fn statuses(seed: u64) -> Vec<u16> {
        let sandbox = start().await;
        sandbox.seed("acc-1", "EUR", 1);
        sandbox.set_fault(Fault::new(FaultKind::ErrorRate(0.5)).seeded(seed));
        let mut out = Vec::new();
        for _ in 0..16 {
            out.push(balance(&sandbox, "acc-1", "EUR").await.status);
        }
        out
    }
    let first = statuses(42).await;
    assert_eq!(first, statuses(42).await);
    assert!(first.contains(&200) && first.contains(&503), "{first:?}");
}

#[tokio::test]
async fn hang_holds_the_request_unprocessed_until_faults_are_cleared() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    sandbox.set_fault(Fault::new(FaultKind::Hang).on_path("/v1/debit"));

    let body = debit_body("d-1", "acc-1", 250);
    let mut stream = TcpStream::connect(sandbox.addr()).await.expect("connect");
    stream
        .write_all(&raw_request(
            "POST",
            "/v1/debit",
            &signed_headers(&body),
            &body,
        ))
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
    assert_eq!(balance(&sandbox, "acc-1", "EUR").await.status, 200);

    sandbox.clear_faults();
    tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut reply))
        .await
        .expect("answered after clear")
        .expect("read");
    let reply = parse_reply(&reply);
    assert_eq!(reply.status, 200);
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
async fn a_fault_can_be_limited_to_the_next_n_requests_on_one_path() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    sandbox.set_fault(
        Fault::new(FaultKind::ServerErrorAfterCommit)
            .on_path("/v1/credit")
            .times(2),
    );

    assert_eq!(debit(&sandbox, "d-1", "acc-1", 1).await.status, 200);
    assert_eq!(credit(&sandbox, "c-1", "acc-1", 1).await.status, 500);
    assert_eq!(credit(&sandbox, "c-2", "acc-1", 1).await.status, 500);
    assert_eq!(credit(&sandbox, "c-3", "acc-1", 1).await.status, 200);
    assert!(sandbox.faults().is_empty());
    // Both faulted credits were applied.
    assert_eq!(sandbox.balance("acc-1"), Some(10_002));
}

#[tokio::test]
async fn faults_switch_through_the_control_surface() {
    let sandbox = start_with_control().await;
    sandbox.seed("acc-1", "EUR", 10_000);

    let reply = control(
        &sandbox,
        "POST",
        "/control/faults",
        r#"{"kind":{"error_rate":1.0},"path":"/v1/debit"}"#,
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        sandbox.faults(),
        vec![Fault::new(FaultKind::ErrorRate(1.0)).on_path("/v1/debit")]
    );
    assert_eq!(debit(&sandbox, "d-1", "acc-1", 250).await.status, 503);
    assert_eq!(balance(&sandbox, "acc-1", "EUR").await.status, 200);

    let listed = control(&sandbox, "GET", "/control/faults", "").await;
    assert_eq!(listed.json().as_array().map(Vec::len), Some(1));

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
    assert_eq!(balance(&sandbox, "acc-1", "EUR").await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn a_pooled_hyper_client_sees_drop_after_commit_as_an_error_and_does_not_resend() {
    use http_body_util::{BodyExt, Full};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<bytes::Bytes>>();
    let request = |path: &str, body: String| {
        hyper::Request::post(format!("{}{path}", sandbox.base_url()))
            .header("content-type", "application/json")
            .header("x-operator", OPERATOR)
            .header("x-signature", sign(&body))
            .body(Full::new(bytes::Bytes::from(body)))
            .expect("request")
    };

    // Warm the pool so the faulted request goes out on a reused connection.
    let body = serde_json::json!({"account": "acc-1", "currency": "EUR"}).to_string();
    let warm = client
        .request(request("/v1/balance", body))
        .await
        .expect("balance");
    assert_eq!(warm.status(), 200);
    warm.into_body().collect().await.expect("body");

    sandbox.set_fault(Fault::new(FaultKind::DropAfterCommit).times(1));
    let error = client
        .request(request("/v1/debit", debit_body("d-1", "acc-1", 250)))
        .await
        .expect_err("the connection was reset");
    assert!(!error.is_connect(), "{error:?}");
    assert_eq!(sandbox.requests_for("d-1"), 1, "the client resent");
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));
}
