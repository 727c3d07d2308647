//! Concurrent requests: one application per transaction id, and no money
//! created or lost under contention.

use std::sync::Arc;

use sandbox_json_rsa::TxState;
use tokio::sync::Barrier;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_bets_with_one_transaction_uuid_apply_once() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000_000);
    let addr = sandbox.addr();

    let barrier = Arc::new(Barrier::new(50));
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            // Each retry has its own request_uuid, as the spec wants.
            let body = transfer_body(&format!("q-{i}"), "same", "acc-1", 1_000_000);
            let request = raw_request("POST", BET, &signed_headers(&body), &body);
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                parse_reply(&exchange(addr, &request).await.expect("exchange"))
            })
        })
        .collect();
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await.expect("task").trusted());
    }

    for (i, reply) in replies.iter().enumerate() {
        assert_eq!(
            reply.text(),
            format!(
                r#"{{"request_uuid":"q-{i}","transaction_uuid":"same","balance":9000000,"currency":"EUR","status":"RS_OK"}}"#
            )
        );
    }
    assert_eq!(sandbox.balance("acc-1"), Some(9_000_000));
    let ledger = sandbox.ledger();
    assert_eq!(ledger.transactions.len(), 1);
    assert_eq!(ledger.transactions[0].state, TxState::Applied);
    assert_eq!(sandbox.requests_for("same"), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_distinct_bets_never_overdraw() {
    let sandbox = start().await;
    // Room for exactly 7 bets of 1000.
    sandbox.seed("acc-1", "EUR", 7_500);
    let addr = sandbox.addr();
    let barrier = Arc::new(Barrier::new(20));
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let body = transfer_body(&format!("q-{i}"), &format!("t-{i}"), "acc-1", 1_000);
            let request = raw_request("POST", BET, &signed_headers(&body), &body);
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                parse_reply(&exchange(addr, &request).await.expect("exchange"))
            })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        match task.await.expect("task").trusted().rs().as_str() {
            "RS_OK" => ok += 1,
            "RS_ERROR_NOT_ENOUGH_MONEY" => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(ok, 7);
    assert_eq!(sandbox.balance("acc-1"), Some(500));
}
