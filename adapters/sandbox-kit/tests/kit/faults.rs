//! Every fault kind, observed by a real client.

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use sandbox_kit::{Fault, FaultKind, Sandbox};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;
use crate::toy::{Plain, Toy};

#[tokio::test]
async fn latency_delays_the_scoped_path_only_and_the_request_still_applies() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    let delay = Duration::from_millis(300);
    sandbox.set_fault(Fault::new(FaultKind::Latency(delay)).on_path("/debit"));

    let started = Instant::now();
    assert_eq!(balance(&sandbox, "acc-1").await.status, 200);
    assert!(started.elapsed() < delay, "balance was delayed");

    let started = Instant::now();
    let reply = debit(&sandbox, "d-1", "acc-1", 250).await;
    assert!(started.elapsed() >= delay, "debit was not delayed");
    assert_eq!(reply.status, 200);
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));
}

#[tokio::test]
async fn error_rate_one_answers_the_dialects_unavailable_reply_without_processing() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    sandbox.set_fault(Fault::new(FaultKind::ErrorRate(1.0)));

    let reply = debit(&sandbox, "d-1", "acc-1", 250).await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.text(), r#"{"error":"busy"}"#);
    assert_eq!(sandbox.balance("acc-1"), Some(10_000));
    assert!(sandbox.ledger().transactions.is_empty());
    assert_eq!(sandbox.requests_for("d-1"), 1);

    // Nothing was recorded, so the same id is applied once the fault is gone.
    sandbox.clear_faults();
    assert_eq!(debit(&sandbox, "d-1", "acc-1", 250).await.status, 200);
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));
}

#[tokio::test]
async fn default_hooks_answer_503_and_500_with_empty_bodies_and_truncate_garbage() {
    let sandbox = Sandbox::start_local(Plain::default())
        .await
        .expect("starts");
    sandbox.seed("acc-1", "EUR", 10_000);

    sandbox.set_fault(Fault::new(FaultKind::ErrorRate(1.0)).times(1));
    let reply = debit(&sandbox, "d-1", "acc-1", 1).await;
    assert_eq!((reply.status, reply.body.len()), (503, 0));
    assert_eq!(reply.header("content-type"), None);
    assert_eq!(sandbox.balance("acc-1"), Some(10_000));

    sandbox.set_fault(Fault::new(FaultKind::ServerErrorAfterCommit).times(1));
    let reply = debit(&sandbox, "d-2", "acc-1", 1).await;
    assert_eq!((reply.status, reply.body.len()), (500, 0));
    assert_eq!(sandbox.balance("acc-1"), Some(9_999));

    sandbox.set_fault(Fault::new(FaultKind::Garbage).times(1));
    let reply = debit(&sandbox, "d-3", "acc-1", 1).await;
    let real = r#"{"tx_id":"d-3","balance":9998}"#;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), real[..real.len() / 2]);
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(sandbox.balance("acc-1"), Some(9_998));
}

#[tokio::test]
async fn error_rate_draws_are_reproducible_from_the_seed() {
    async fn statuses(seed: u64) -> Vec<u16> {
        let sandbox = start().await;
        sandbox.seed("acc-1", "EUR", 1);
        sandbox.set_fault(Fault::new(FaultKind::ErrorRate(0.5)).seeded(seed));
        let mut out = Vec::new();
        for _ in 0..16 {
            out.push(balance(&sandbox, "acc-1").await.status);
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
    sandbox.set_fault(Fault::new(FaultKind::Hang).on_path("/debit"));

    let mut stream = TcpStream::connect(sandbox.addr()).await.expect("connect");
    stream
        .write_all(&raw_request("POST", "/debit", &keyed(), "d-1:acc-1:250"))
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
    assert_eq!(balance(&sandbox, "acc-1").await.status, 200);

    sandbox.clear_faults();
    tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut reply))
        .await
        .expect("answered after clear")
        .expect("read");
    assert_eq!(parse_reply(&reply).status, 200);
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));
}

#[tokio::test]
async fn drop_after_commit_applies_then_resets_the_connection() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    sandbox.set_fault(Fault::new(FaultKind::DropAfterCommit).times(1));

    let request = raw_request("POST", "/debit", &keyed(), "d-1:acc-1:250");
    // Not a byte of reply: the connection is reset (RST, not FIN).
    let error = exchange(sandbox.addr(), &request)
        .await
        .expect_err("no reply expected");
    assert_eq!(error.kind(), ErrorKind::ConnectionReset, "{error}");
    // Applied and recorded, though the client never heard.
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));
    let ledger = sandbox.ledger();
    assert_eq!(ledger.transactions.len(), 1);

    // The retry gets the recorded reply, and nothing moves again.
    let retry = parse_reply(&exchange(sandbox.addr(), &request).await.expect("retry"));
    assert_eq!(retry.status, 200);
    assert_eq!(retry.text(), ledger.transactions[0].reply);
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));
    assert_eq!(sandbox.requests_for("d-1"), 2);
}

#[tokio::test]
async fn tampered_sends_the_dialects_tampered_reply_after_applying() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    sandbox.set_fault(Fault::new(FaultKind::Tampered).on_path("/debit").times(1));

    let reply = debit(&sandbox, "d-1", "acc-1", 250).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), r#"{"tx_id":"xd-1","balance":9750}"#);
    assert_eq!(reply.header("x-tampered").as_deref(), Some("yes"));
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));
    // The books kept the real reply; a replay gets it.
    let replay = debit(&sandbox, "d-1", "acc-1", 250).await;
    assert_eq!(replay.text(), r#"{"tx_id":"d-1","balance":9750}"#);
    assert_eq!(replay.header("x-tampered"), None);
}

#[tokio::test]
async fn after_commit_faults_spare_requests_refused_before_the_books() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    for kind in [
        FaultKind::DropAfterCommit,
        FaultKind::ServerErrorAfterCommit,
        FaultKind::Garbage,
        FaultKind::Tampered,
    ] {
        sandbox.set_fault(Fault::new(kind.clone()));
        let unkeyed = send(&sandbox, "POST", "/debit", &[], "d-1:acc-1:250").await;
        assert_eq!(
            (unkeyed.status, unkeyed.text().as_str()),
            (401, r#"{"error":"bad key"}"#),
            "{kind:?}"
        );
        let malformed = post(&sandbox, "/debit", "d-1:acc-1").await;
        assert_eq!(malformed.status, 400, "{kind:?}");
        sandbox.clear_faults();
    }
    assert!(sandbox.ledger().transactions.is_empty());
    assert_eq!(sandbox.requests_for("d-1"), 8);
    assert_eq!(sandbox.balance("acc-1"), Some(10_000));
}

#[tokio::test]
async fn after_commit_faults_hit_declines_and_queries_too() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 100);
    sandbox.set_fault(Fault::new(FaultKind::ServerErrorAfterCommit));
    assert_eq!(debit(&sandbox, "d-1", "acc-1", 500).await.status, 500);
    assert_eq!(balance(&sandbox, "acc-1").await.status, 500);
    sandbox.clear_faults();
    // The decline was recorded all the same.
    assert_eq!(debit(&sandbox, "d-1", "acc-1", 1).await.status, 402);
}

#[tokio::test]
async fn a_fault_can_be_limited_to_the_next_n_requests_on_one_path() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    sandbox.set_fault(
        Fault::new(FaultKind::ServerErrorAfterCommit)
            .on_path("/credit")
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
async fn out_of_range_error_rates_are_clamped_by_the_handle() {
    let sandbox = start().await;
    sandbox.set_fault(Fault::new(FaultKind::ErrorRate(7.0)));
    sandbox.set_fault(Fault::new(FaultKind::ErrorRate(f64::NAN)).on_path("/debit"));
    assert_eq!(
        sandbox.faults(),
        vec![
            Fault::new(FaultKind::ErrorRate(1.0)),
            Fault::new(FaultKind::ErrorRate(0.0)).on_path("/debit"),
        ]
    );
}

#[tokio::test]
async fn a_pooled_hyper_client_sees_drop_after_commit_as_an_error_and_does_not_resend() {
    use http_body_util::{BodyExt, Full};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    use sandbox_kit::Bytes;

    let sandbox: Sandbox<Toy> = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let request = |path: &str, body: &str| {
        hyper::Request::post(format!("{}{path}", sandbox.base_url()))
            .header("x-key", crate::toy::KEY)
            .body(Full::new(Bytes::from(body.to_owned())))
            .expect("request")
    };

    // Warm the pool so the faulted request goes out on a reused connection.
    let warm = client
        .request(request("/balance", "acc-1"))
        .await
        .expect("balance");
    assert_eq!(warm.status(), 200);
    warm.into_body().collect().await.expect("body");

    sandbox.set_fault(Fault::new(FaultKind::DropAfterCommit).times(1));
    let error = client
        .request(request("/debit", "d-1:acc-1:250"))
        .await
        .expect_err("the connection was reset");
    assert!(!error.is_connect(), "{error:?}");
    assert_eq!(sandbox.requests_for("d-1"), 1, "the client resent");
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));
}
