//! The provider exchange log end to end: a real hub and json-hmac sandbox,
//! faults injected for real, and the log of the disputed transaction read
//! back from its file. Every exchange of every call about the transaction
//! is there (the lost debit reply, each status query attempt of the money
//! path and of the resolver, the partner's rollback), numbered, with its
//! status and latency, and neither the shared secret nor any request's
//! signature appears anywhere in it.

mod common;

use std::sync::Arc;
use std::time::Duration;

use adapter_api::exchange::{ExchangeReply, REDACTED};
use common::*;
use hub::domain::TransactionId;
use hub::engine::SystemClock;
use hub::exchange_log::{ExchangeEntry, ExchangeLog, ExchangeLogConfig, ExchangeOperation};
use hub_proto::settlement::v1 as pb;
use sandbox_json_hmac::{Fault, FaultKind};

/// Reads the log until `tx` has `want` entries (the hub writes in batches).
async fn exchanges_of(log: &ExchangeLog, tx: &TransactionId, want: usize) -> Vec<ExchangeEntry> {
    let mut entries = Vec::new();
    for _ in 0..100 {
        entries = log.exchanges(tx).await.unwrap();
        if entries.len() >= want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    entries
}

fn hmac_hex(body: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes());
    hex::encode(ring::hmac::sign(&key, body.as_bytes()).as_ref())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disputed_debit_shows_every_attempt_and_no_secret() {
    let sb = sandbox().await;
    // The debit is applied but its reply lost; the money path's status
    // query fails three times (all its attempts), so the debit is PENDING
    // until the resolver asks again.
    sb.set_fault(
        Fault::new(FaultKind::DropAfterCommit)
            .on_path("/v1/debit")
            .times(1),
    );
    sb.set_fault(
        Fault::new(FaultKind::ErrorRate(1.0))
            .on_path("/v1/status")
            .times(3),
    );
    let (dir, path) = journal_path();
    let providers = hmac_provider(
        PROVIDER,
        sb.addr(),
        "[providers.sb.health]\ninterval = \"1h\"\n[providers.sb.retry]\nmax_attempts = 3\nbackoff_base = \"5ms\"\nbackoff_max = \"10ms\"",
    );
    let resolver =
        "[resolver]\npoll_interval = \"50ms\"\nbackoff_base = \"10ms\"\nbackoff_max = \"50ms\"";
    let config = config_with(&path, &format!("{providers}\n{resolver}"), &[PROVIDER]);
    let hub = TestHub::start_with(config).await;
    let mut c = hub.client("p1").await;

    let tx = debited(&mut c, debit("disputed-1", "acc-1", 250)).await;
    assert_eq!(state(&tx), pb::TransactionState::Pending);
    // The resolver settles it.
    let mut settled = tx.clone();
    for _ in 0..100 {
        settled = fetched(&mut c, by_id(tx.transaction_id.clone())).await;
        if state(&settled) == pb::TransactionState::Settled {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(state(&settled), pb::TransactionState::Settled);
    // The partner disputes it and rolls it back.
    let rb = c
        .rollback(pb::RollbackRequest {
            idempotency_key: "disputed-1-rb".into(),
            target: Some(pb::rollback_request::Target::TransactionId(
                tx.transaction_id.clone(),
            )),
            provider: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .transaction
        .unwrap();
    assert_eq!(state(&rb), pb::TransactionState::RolledBack);

    // What an operator opens: the log beside the journal.
    let log = ExchangeLog::open(
        &dir.path().join("hub-exchanges.db"),
        &ExchangeLogConfig::default(),
        Arc::new(SystemClock),
    )
    .unwrap();
    let id = TransactionId::parse(&tx.transaction_id).unwrap();
    let entries = exchanges_of(&log, &id, 6).await;
    let seen: Vec<_> = entries
        .iter()
        .map(|e| (e.operation, e.attempt, e.status()))
        .collect();
    assert_eq!(
        seen,
        [
            (ExchangeOperation::Debit, 1, None),
            (ExchangeOperation::Status, 1, Some(503)),
            (ExchangeOperation::Status, 2, Some(503)),
            (ExchangeOperation::Status, 3, Some(503)),
            (ExchangeOperation::Status, 1, Some(200)),
            (ExchangeOperation::Rollback, 1, Some(200)),
        ],
        "{entries:#?}"
    );
    // The lost reply: the request may have been applied.
    assert!(
        matches!(
            entries[0].exchange.reply,
            ExchangeReply::Failed {
                maybe_sent: true,
                ..
            }
        ),
        "{:?}",
        entries[0].exchange.reply
    );
    assert!(entries.windows(2).all(|w| w[0].at_us <= w[1].at_us));
    assert!(
        entries
            .iter()
            .all(|e| e.exchange.latency < Duration::from_secs(3))
    );
    assert!(
        entries
            .iter()
            .all(|e| e.provider.as_str() == PROVIDER && e.exchange.url.starts_with("http://"))
    );
    assert_eq!(
        entries[5].tx_id.as_ref().map(|t| t.as_str()),
        Some(rb.transaction_id.as_str())
    );
    assert!(
        entries[0]
            .exchange
            .request
            .body
            .text
            .contains(&tx.transaction_id)
    );
    let ExchangeReply::Received { message, .. } = &entries[4].exchange.reply else {
        panic!("{:?}", entries[4].exchange.reply);
    };
    assert!(
        message.body.text.contains("\"status\":\"OK\""),
        "{}",
        message.body.text
    );

    // No secret and no signature, anywhere; the signature header is there,
    // redacted.
    for e in &entries {
        let request = &e.exchange.request;
        assert!(
            request
                .headers
                .contains(&("x-signature".into(), REDACTED.into())),
            "{:?}",
            request.headers
        );
        let signature = hmac_hex(&request.body.text);
        let shown = format!("{e:?}");
        assert!(!shown.contains(SECRET), "secret in {shown}");
        assert!(!shown.contains(&signature), "signature in {shown}");
    }
    hub.stop().await;
}
