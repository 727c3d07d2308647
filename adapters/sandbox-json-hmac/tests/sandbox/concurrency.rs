//! Concurrent requests with one `tx_id` apply once.

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_debits_with_one_tx_id_apply_once() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    let addr = sandbox.addr();
    let body = debit_body("same", "acc-1", 100);
    let request = raw_request("POST", "/v1/debit", &signed_headers(&body), &body);

    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(50));
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let request = request.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                parse_reply(&exchange(addr, &request).await.expect("exchange"))
            })
        })
        .collect();
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await.expect("task"));
    }

    assert_eq!(replies[0].status, 200);
    assert_eq!(replies[0].json()["balance"], 9_900);
    for reply in &replies {
        assert_eq!(
            (reply.status, &reply.body),
            (replies[0].status, &replies[0].body)
        );
    }
    assert_eq!(sandbox.balance("acc-1"), Some(9_900));
    assert_eq!(sandbox.ledger().transactions.len(), 1);
    assert_eq!(sandbox.requests_for("same"), 50);
    assert_eq!(sandbox.money_requests(), 50);
}
