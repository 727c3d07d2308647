//! Concurrent requests with one reference apply once.

use std::sync::Arc;

use tokio::sync::Barrier;

use crate::common::*;

/// Sends `request` on `n` connections at once and returns the replies.
async fn concurrently(
    sandbox: &sandbox_form_md5::Sandbox,
    request: Vec<u8>,
    n: usize,
) -> Vec<HttpReply> {
    let addr = sandbox.addr();
    let barrier = Arc::new(Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let request = request.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                parse_reply(&exchange(addr, &request).await.expect("exchange"))
            })
        })
        .collect();
    let mut replies = Vec::with_capacity(n);
    for task in tasks {
        replies.push(task.await.expect("task"));
    }
    replies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_bets_with_one_reference_apply_once() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    let request = form_request("/bet.html", &money_body("acc-1", "same", "1.00", "EUR"));

    let replies = concurrently(&sandbox, request, 50).await;

    let expected = r#"{"error":0,"transactionId":"fm-1","currency":"EUR","cash":99.00}"#;
    for reply in &replies {
        assert_eq!((reply.status, reply.text().as_str()), (200, expected));
    }
    assert_eq!(sandbox.balance("acc-1"), Some(9_900));
    assert_eq!(sandbox.ledger().transactions.len(), 1);
    assert_eq!(sandbox.requests_for("same"), 50);
    assert_eq!(sandbox.money_requests(), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_refunds_of_one_bet_apply_once() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    assert_eq!(bet(&sandbox, "acc-1", "b-1", "1.00").await.error(), 0);
    let request = form_request("/refund.html", &refund_body("acc-1", "b-1"));

    let replies = concurrently(&sandbox, request, 50).await;

    for reply in &replies {
        assert_eq!(reply.text(), r#"{"error":0,"transactionId":"fm-2"}"#);
    }
    assert_eq!(sandbox.balance("acc-1"), Some(10_000));
    assert_eq!(sandbox.ledger().transactions.len(), 2);
}
