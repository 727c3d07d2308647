//! Partner limits end to end: rate limits refuse before anything is
//! journaled or sent.

mod common;

use common::*;
use hub::journal::Journal;
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_refuse_with_retry_info_and_quota_failure_before_anything_moves() {
    use tonic_types::StatusExt;
    let sb = sandbox().await;
    let (_dir, path) = journal_path();
    let partners = format!(
        "[partners.p1]\nproviders = [\"{PROVIDER}\"]\n[partners.p1.rate]\nper_provider_per_second = 1\nper_provider_burst = 2\n\
         [partners.p2]\nproviders = [\"{PROVIDER}\"]\n[partners.p2.rate]\nper_second = 1\nburst = 1\n"
    );
    let hub = TestHub::start_with(config_toml(
        &path,
        &hmac_provider(
            PROVIDER,
            sb.addr(),
            "[providers.sb.health]\ninterval = \"1h\"",
        ),
        &partners,
    ))
    .await;

    // p1: two debits pass its provider burst; the third is refused.
    let mut p1 = hub.client("p1").await;
    p1.debit(debit("a", "acc-1", 1)).await.unwrap();
    p1.debit(debit("b", "acc-1", 1)).await.unwrap();
    let err = p1.debit(debit("c", "acc-1", 1)).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert_eq!(reason(&err).as_deref(), Some("RATE_LIMITED"));
    assert!(
        err.get_details_retry_info()
            .and_then(|r| r.retry_delay)
            .is_some()
    );
    let quota = err.get_details_quota_failure().expect("QuotaFailure");
    assert_eq!(quota.violations[0].subject, "partner:p1/provider:sb");
    assert_eq!(sb.money_requests(), 2);
    let p1_id = hub::domain::PartnerId::parse("p1").unwrap();
    let rows = hub
        .journal
        .list(&p1_id, &Default::default(), 0, 10)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "the refused call was not journaled");
    // Reads do not count against the provider limit.
    p1.get_transaction(hub_proto::settlement::v1::GetTransactionRequest {
        lookup: Some(
            hub_proto::settlement::v1::get_transaction_request::Lookup::IdempotencyKey("a".into()),
        ),
    })
    .await
    .unwrap();

    // p2: one call a second, any RPC.
    let mut p2 = hub.client("p2").await;
    p2.debit(debit("x", "acc-1", 1)).await.unwrap();
    let err = p2
        .get_transaction(hub_proto::settlement::v1::GetTransactionRequest {
            lookup: Some(
                hub_proto::settlement::v1::get_transaction_request::Lookup::IdempotencyKey(
                    "x".into(),
                ),
            ),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    let quota = err.get_details_quota_failure().expect("QuotaFailure");
    assert_eq!(quota.violations[0].subject, "partner:p2");
    assert_eq!(sb.money_requests(), 3);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amount_limits_per_transaction_and_per_day_refuse_with_a_clear_reason() {
    use tonic_types::StatusExt;
    let sb = sandbox().await;
    let (_dir, path) = journal_path();
    let partners = format!(
        "[partners.p1]\nproviders = [\"{PROVIDER}\"]\n[partners.p1.amounts.EUR]\nper_transaction = 5000\nper_day = 8000\n"
    );
    let hub = TestHub::start_with(config_toml(
        &path,
        &hmac_provider(
            PROVIDER,
            sb.addr(),
            "[providers.sb.health]\ninterval = \"1h\"",
        ),
        &partners,
    ))
    .await;
    let mut c = hub.client("p1").await;
    let err = c.debit(debit("big", "acc-1", 5_001)).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason(&err).as_deref(), Some("AMOUNT_LIMIT_EXCEEDED"));
    assert!(err.get_details_precondition_failure().is_some());

    c.debit(debit("d1", "acc-1", 5_000)).await.unwrap();
    c.credit(credit("c1", "acc-1", 2_000)).await.unwrap();
    let err = c.debit(debit("d2", "acc-1", 1_001)).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason(&err).as_deref(), Some("DAILY_LIMIT_EXCEEDED"));
    // Exactly up to the limit is fine; other currencies are not limited.
    c.debit(debit("d3", "acc-1", 1_000)).await.unwrap();
    assert_eq!(sb.money_requests(), 3);
    assert_eq!(sb.balance("acc-1"), Some(100_000 - 5_000 + 2_000 - 1_000));
    let p1 = hub::domain::PartnerId::parse("p1").unwrap();
    let rows = hub
        .journal
        .list(&p1, &Default::default(), 0, 10)
        .await
        .unwrap();
    assert_eq!(rows.len(), 3, "refused calls were not journaled");
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_requires_its_permission() {
    let sb = sandbox().await;
    let (_dir, path) = journal_path();
    let partners = format!(
        "[partners.p1]\nproviders = [\"{PROVIDER}\"]\npermissions = [\"read\"]\n\
         [partners.p2]\nproviders = [\"{PROVIDER}\"]\npermissions = [\"move\"]\n"
    );
    let hub = TestHub::start_with(config_toml(
        &path,
        &hmac_provider(
            PROVIDER,
            sb.addr(),
            "[providers.sb.health]\ninterval = \"1h\"",
        ),
        &partners,
    ))
    .await;
    let get = || hub_proto::settlement::v1::GetTransactionRequest {
        lookup: Some(
            hub_proto::settlement::v1::get_transaction_request::Lookup::IdempotencyKey("m".into()),
        ),
    };
    // A reader cannot move money.
    let mut reader = hub.client("p1").await;
    let err = reader.debit(debit("m", "acc-1", 1)).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(reason(&err).as_deref(), Some("PERMISSION_DENIED"));
    assert_eq!(
        reader.get_transaction(get()).await.unwrap_err().code(),
        Code::NotFound
    );
    // A mover cannot read.
    let mut mover = hub.client("p2").await;
    mover.debit(debit("m", "acc-1", 1)).await.unwrap();
    let err = mover.get_transaction(get()).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(sb.money_requests(), 1);
    hub.stop().await;
}
