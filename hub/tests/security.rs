//! Partner limits end to end: rate limits refuse before anything is
//! journaled or sent.

mod common;
#[path = "common/jwt.rs"]
mod jwt;

use common::*;
use hub::journal::Journal;
use hub_proto::settlement::v1 as pb;
use tonic::Code;

/// A hub over a fresh journal, its provider a sandbox without health
/// probes, with `partners` (TOML) as given; the directory holds the journal.
async fn quiet_hub(partners: &str) -> (sandbox_json_hmac::Sandbox, tempfile::TempDir, TestHub) {
    let sb = sandbox().await;
    let (dir, path) = journal_path();
    let hub = TestHub::start_with(config_toml(&path, &quiet_provider(sb.addr()), partners)).await;
    (sb, dir, hub)
}

/// What the journal holds for `partner` (the first ten rows).
async fn journaled(hub: &TestHub, partner: &str) -> Vec<hub::domain::TxRecord> {
    let partner = hub::domain::PartnerId::parse(partner).unwrap();
    hub.journal
        .list(&partner, &Default::default(), 0, 10)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_refuse_with_retry_info_and_quota_failure_before_anything_moves() {
    use tonic_types::StatusExt;
    let (sb, _dir, hub) = quiet_hub(&format!(
        "[partners.p1]\nproviders = [\"{PROVIDER}\"]\n[partners.p1.rate]\nper_provider_per_second = 1\nper_provider_burst = 2\n\
         [partners.p2]\nproviders = [\"{PROVIDER}\"]\n[partners.p2.rate]\nper_second = 1\nburst = 1\n"
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
    let rows = journaled(&hub, "p1").await;
    assert_eq!(rows.len(), 2, "the refused call was not journaled");
    // Reads do not count against the provider limit.
    p1.get_transaction(by_key("a")).await.unwrap();

    // p2: one call a second, any RPC.
    let mut p2 = hub.client("p2").await;
    p2.debit(debit("x", "acc-1", 1)).await.unwrap();
    let err = p2.get_transaction(by_key("x")).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    let quota = err.get_details_quota_failure().expect("QuotaFailure");
    assert_eq!(quota.violations[0].subject, "partner:p2");
    assert_eq!(sb.money_requests(), 3);
    hub.stop().await;
}

/// A reload (SIGHUP, admin) that leaves a partner's quota as it was keeps
/// its limiter: it must not hand the partner a fresh burst.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_does_not_refill_a_partners_burst() {
    let (_sb, _dir, hub) = quiet_hub(&format!(
        "[partners.p1]\nproviders = [\"{PROVIDER}\"]\n[partners.p1.rate]\nper_second = 1\nburst = 5\n"
    ))
    .await;
    let mut p1 = hub.client("p1").await;
    let balance = || pb::GetBalanceRequest {
        provider: PROVIDER.into(),
        account: "acc-1".into(),
        currency_code: "EUR".into(),
    };
    for _ in 0..5 {
        p1.get_balance(balance()).await.unwrap();
    }
    let spent = std::time::Instant::now();
    assert_eq!(
        p1.get_balance(balance()).await.unwrap_err().code(),
        Code::ResourceExhausted
    );
    hub.reloader.apply(hub.config.clone()).await.unwrap();
    let mut passed = 0u64;
    for _ in 0..5 {
        passed += u64::from(p1.get_balance(balance()).await.is_ok());
    }
    // At one call a second, only what time refilled may pass; a fresh
    // limiter would let the whole burst of 5 through.
    let refilled = spent.elapsed().as_secs() + 1;
    assert!(
        passed <= refilled && passed < 5,
        "{passed} calls passed after the reload, {refilled} refilled"
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amount_limits_per_transaction_and_per_day_refuse_with_a_clear_reason() {
    use tonic_types::StatusExt;
    let (sb, _dir, hub) = quiet_hub(&format!(
        "[partners.p1]\nproviders = [\"{PROVIDER}\"]\n[partners.p1.amounts.EUR]\nper_transaction = 5000\nper_day = 8000\n"
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
    let rows = journaled(&hub, "p1").await;
    assert_eq!(rows.len(), 3, "refused calls were not journaled");
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_requires_its_permission() {
    let (sb, _dir, hub) = quiet_hub(&format!(
        "[partners.p1]\nproviders = [\"{PROVIDER}\"]\npermissions = [\"read\"]\n\
         [partners.p2]\nproviders = [\"{PROVIDER}\"]\npermissions = [\"move\"]\n"
    ))
    .await;
    let get = || by_key("m");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_bearer_tokens_authenticate_partners_and_their_scopes_narrow_roles() {
    let issuer = jwt::Issuer::new();
    let sb = sandbox().await;
    let (dir, path) = journal_path();
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, issuer.jwks()).unwrap();
    let providers = format!(
        "{}\n[auth.jwt]\njwks_file = \"{}\"\nissuer = \"https://issuer.test\"\naudience = \"hub\"\n",
        quiet_provider(sb.addr()),
        jwks.display()
    );
    let partners = format!(
        "[partners.p1]\nproviders = [\"{PROVIDER}\"]\nauth_methods = [\"api_key\", \"jwt\"]\njwt_subjects = [\"client-1\"]\n\
         [partners.p2]\nproviders = [\"{PROVIDER}\"]\njwt_subjects = [\"client-2\"]\n"
    );
    let hub = TestHub::start_with(config_toml(&path, &providers, &partners)).await;
    let channel = hub.channel().await;
    let client = |token: String| {
        let value: tonic::metadata::MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
        hub_proto::settlement::v1::settlement_service_client::SettlementServiceClient::with_interceptor(
            channel.clone(),
            move |mut req: tonic::Request<()>| {
                req.metadata_mut().insert("authorization", value.clone());
                Ok(req)
            },
        )
    };
    let get = || by_key("t-1");

    // A valid token with both scopes moves money and reads.
    let mut full = client(issuer.token("client-1", "settlement:move settlement:read", 300));
    full.debit(debit("t-1", "acc-1", 5)).await.unwrap();
    full.get_transaction(get()).await.unwrap();

    // A read-only token cannot move money, even for a partner that may.
    let mut reader = client(issuer.token("client-1", "settlement:read", 300));
    let err = reader.debit(debit("t-2", "acc-1", 5)).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    reader.get_transaction(get()).await.unwrap();

    // Expired, forged, unknown-client and not-allowed-method tokens.
    let expired = issuer.token("client-1", "settlement:read", -120);
    let forged = jwt::Issuer::new().token("client-1", "settlement:read", 300);
    let stranger = issuer.token("client-9", "settlement:read", 300);
    let not_allowed = issuer.token("client-2", "settlement:read", 300);
    for token in [expired, forged, stranger, not_allowed] {
        let err = client(token.clone())
            .get_transaction(get())
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated);
        assert!(!err.message().contains(&token[..20]), "no token echoed");
    }
    assert_eq!(sb.money_requests(), 1);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_connection_outlives_its_maximum_age() {
    let sb = sandbox().await;
    let (_dir, path) = journal_path();
    let mut config = config(path, sb.addr());
    config.server.max_connection_age = std::time::Duration::from_millis(300);
    config.server.max_connection_age_grace = std::time::Duration::from_millis(200);
    let hub = TestHub::start_with(config).await;
    let mut c = hub.client("p1").await;
    // A change feed would hold its connection for ever; the hub ends it.
    let mut feed = c
        .watch_transactions(hub_proto::settlement::v1::WatchTransactionsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let started = std::time::Instant::now();
    let ended = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while let Ok(Some(_)) = feed.message().await {}
    })
    .await;
    assert!(ended.is_ok(), "the feed's connection was closed");
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
    // Clients reconnect and carry on.
    let mut c = hub.client("p1").await;
    c.debit(debit("after-age", "acc-1", 1)).await.unwrap();
    hub.stop().await;
}

fn rollback_of(
    key: &str,
    target: hub_proto::settlement::v1::rollback_request::Target,
) -> hub_proto::settlement::v1::RollbackRequest {
    hub_proto::settlement::v1::RollbackRequest {
        idempotency_key: key.into(),
        target: Some(target),
        provider: String::new(),
    }
}

/// A rollback names no provider when it targets the original by id (or by
/// key without `provider`); it goes to the original's, which the partner
/// must still be allowed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_needs_the_original_provider_to_be_allowed_even_by_id() {
    use hub_proto::settlement::v1::rollback_request::Target;
    let (sb, _dir, hub) = quiet_hub(&format!(
        "[partners.p1]\nproviders = [\"{PROVIDER}\"]\n[partners.p2]\nproviders = [\"{PROVIDER}\"]\n"
    ))
    .await;
    let mut p1 = hub.client("p1").await;
    let d = debited(&mut p1, debit("rb-orig", "acc-1", 400)).await;
    let id = d.transaction_id.clone();
    assert_eq!(sb.money_requests(), 1);

    // The provider is taken away from p1.
    let mut taken = hub.config.clone();
    taken.partners.get_mut("p1").unwrap().providers.clear();
    hub.reloader.apply(taken).await.unwrap();
    let targets = [
        Target::TransactionId(id.clone()),
        Target::OriginalIdempotencyKey("rb-orig".into()),
    ];
    for (i, target) in targets.into_iter().enumerate() {
        let err = p1
            .rollback(rollback_of(&format!("rb-{i}"), target))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
        assert_eq!(reason(&err).as_deref(), Some("PROVIDER_NOT_ALLOWED"));
    }
    assert_eq!(sb.money_requests(), 1, "no rollback reached the provider");
    assert_eq!(sb.balance("acc-1"), Some(100_000 - 400));
    let rows = journaled(&hub, "p1").await;
    assert_eq!(rows.len(), 1, "no rollback was journaled");
    assert_eq!(rows[0].state, hub::domain::TxState::Settled);

    // Given back, the same rollback goes through.
    hub.reloader.apply(hub.config.clone()).await.unwrap();
    p1.rollback(rollback_of("rb-0", Target::TransactionId(id)))
        .await
        .unwrap();
    assert_eq!(sb.money_requests(), 2);
    assert_eq!(sb.balance("acc-1"), Some(100_000));
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_by_id_counts_against_the_partner_and_provider_rate_limit() {
    use hub_proto::settlement::v1::rollback_request::Target;
    use tonic_types::StatusExt;
    let (sb, _dir, hub) = quiet_hub(&format!(
        "[partners.p1]\nproviders = [\"{PROVIDER}\"]\n[partners.p1.rate]\nper_provider_per_second = 1\nper_provider_burst = 2\n"
    ))
    .await;
    let mut p1 = hub.client("p1").await;
    let a = debited(&mut p1, debit("rl-a", "acc-1", 100)).await;
    debited(&mut p1, debit("rl-b", "acc-1", 100)).await;
    // The burst is spent: a rollback by id, which names no provider, is
    // refused like a third debit would be.
    for target in [
        Target::TransactionId(a.transaction_id.clone()),
        Target::OriginalIdempotencyKey("rl-a".into()),
    ] {
        let err = p1
            .rollback(rollback_of("rl-undo", target))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
        let quota = err.get_details_quota_failure().expect("QuotaFailure");
        assert_eq!(quota.violations[0].subject, "partner:p1/provider:sb");
        assert!(err.get_details_retry_info().is_some());
    }
    assert_eq!(sb.money_requests(), 2);
    let rows = journaled(&hub, "p1").await;
    assert_eq!(rows.len(), 2, "the refused rollback was not journaled");
    hub.stop().await;
}
