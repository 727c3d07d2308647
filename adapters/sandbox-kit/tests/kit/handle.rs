//! The handle and the transport: seeding, counters, routing, shutdown.

use sandbox_kit::{AccountSeed, Sandbox};

use crate::common::*;
use crate::toy::BadPaths;

#[tokio::test]
async fn seed_block_and_limit_go_to_the_dialects_ledger() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 1_000);
    sandbox.seed_account(&AccountSeed {
        limit: Some(10),
        ..AccountSeed::new("acc-2", "EUR", 1_000)
    });
    sandbox.block("acc-1");
    // Unknown accounts are logged, not created.
    sandbox.block("nobody");
    sandbox.set_limit("nobody", Some(1));
    assert_eq!(sandbox.balance("nobody"), None);

    assert_eq!(debit(&sandbox, "d-1", "acc-1", 1).await.status, 403);
    assert_eq!(debit(&sandbox, "d-2", "acc-2", 11).await.status, 403);
    sandbox.set_limit("acc-2", None);
    assert_eq!(debit(&sandbox, "d-3", "acc-2", 11).await.status, 200);
    assert_eq!(sandbox.balance("acc-2"), Some(989));
    assert_eq!(sandbox.ledger().accounts.len(), 2);
    assert_eq!(sandbox.dialect().key, crate::toy::KEY);
}

#[tokio::test]
async fn counters_count_money_requests_as_the_dialect_classifies_them() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    debit(&sandbox, "x", "acc-1", 1).await;
    debit(&sandbox, "x", "acc-1", 1).await;
    send(&sandbox, "POST", "/debit", &[], "x:acc-1:1").await;
    credit(&sandbox, "y", "acc-1", 1).await;
    post(&sandbox, "/credit", "").await;
    balance(&sandbox, "acc-1").await;

    assert_eq!(sandbox.requests_for("x"), 3);
    assert_eq!(sandbox.requests_for("y"), 1);
    assert_eq!(sandbox.requests_for("z"), 0);
    assert_eq!(sandbox.money_requests(), 5);
    assert_eq!(sandbox.stats().by_tx_id.len(), 2);
}

#[tokio::test]
async fn only_post_on_the_dialects_paths_is_served() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10);
    assert_eq!(
        send(&sandbox, "GET", "/balance", &keyed(), "").await.status,
        405
    );
    assert_eq!(post(&sandbox, "/elsewhere", "acc-1").await.status, 404);
    // A query string does not change the route.
    assert_eq!(post(&sandbox, "/balance?x=1", "acc-1").await.status, 200);
    assert_eq!(sandbox.money_requests(), 0);
}

#[tokio::test]
async fn replies_carry_exactly_the_dialects_headers_and_body() {
    let sandbox = start().await;
    sandbox.seed("acc-1", "EUR", 10);
    let reply = balance(&sandbox, "acc-1").await;
    assert_eq!(reply.text(), r#"{"account":"acc-1","balance":10}"#);
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(reply.header("x-tampered"), None);
}

#[tokio::test]
async fn a_dialect_with_invalid_paths_does_not_start() {
    let error = Sandbox::start_local(BadPaths::default())
        .await
        .expect_err("refused");
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let sandbox = start().await;
    let addr = sandbox.addr();
    assert_eq!(
        sandbox.base_url(),
        format!("http://127.0.0.1:{}", addr.port())
    );
    assert!(tokio::net::TcpStream::connect(addr).await.is_ok());
    sandbox.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
