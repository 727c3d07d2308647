//! `admin.v1` against a real hub and sandbox: every RPC refused for partner
//! credentials, breakers held for maintenance, PENDING transactions and dead
//! letters listed, replayed and resolved, partners' keys managed, the
//! exchange log of a disputed transaction, configuration reloads (valid and
//! invalid, under load), and every action journaled with its operator.

mod common;
#[path = "common/process.rs"]
mod process;

use std::time::Duration;

use common::*;
use hub_proto::admin::v1 as apb;
use hub_proto::settlement::v1 as pb;
use process::{HubProcess, free_port};
use sandbox_json_hmac::{Fault, FaultKind};
use tonic::Code;

const OPERATORS: &str = "[operators.ops]\n";

fn partners() -> String {
    format!(
        "[partners.p1]\nproviders = [\"{PROVIDER}\"]\n[partners.p2]\nproviders = [\"{PROVIDER}\"]\n{OPERATORS}"
    )
}

async fn hub_with(
    sb_addr: std::net::SocketAddr,
    extra_providers: &str,
) -> (tempfile::TempDir, TestHub) {
    let (dir, path) = journal_path();
    let providers = hmac_provider(
        PROVIDER,
        sb_addr,
        "[providers.sb.health]\ninterval = \"1h\"\n",
    ) + extra_providers;
    let hub = TestHub::start_with(config_toml(&path, &providers, &partners())).await;
    (dir, hub)
}

fn code_of<T: std::fmt::Debug>(r: Result<tonic::Response<T>, tonic::Status>) -> Code {
    match r {
        Ok(_) => Code::Ok,
        Err(s) => s.code(),
    }
}

/// Calls every admin RPC once with `c`, returning each code by name.
async fn call_every_rpc(c: &mut AdminClient) -> Vec<(&'static str, Code)> {
    let tx = "0190c2d4-0000-7000-8000-000000000000".to_owned();
    vec![
        (
            "ListProviders",
            code_of(c.list_providers(apb::ListProvidersRequest {}).await),
        ),
        (
            "SetBreakerOverride",
            code_of(
                c.set_breaker_override(apb::SetBreakerOverrideRequest {
                    provider: PROVIDER.into(),
                    endpoint: "primary".into(),
                    r#override: apb::BreakerOverride::None as i32,
                    reason: "probe".into(),
                })
                .await,
            ),
        ),
        (
            "ListPendingTransactions",
            code_of(
                c.list_pending_transactions(apb::ListPendingTransactionsRequest::default())
                    .await,
            ),
        ),
        (
            "ListWorkItems",
            code_of(
                c.list_work_items(apb::ListWorkItemsRequest::default())
                    .await,
            ),
        ),
        (
            "ReplayDeadLetter",
            code_of(
                c.replay_dead_letter(apb::ReplayDeadLetterRequest {
                    transaction_id: tx.clone(),
                    reason: "probe".into(),
                })
                .await,
            ),
        ),
        (
            "ResolveDeadLetter",
            code_of(
                c.resolve_dead_letter(apb::ResolveDeadLetterRequest {
                    transaction_id: tx.clone(),
                    resolution: apb::Resolution::Applied as i32,
                    reason: "probe".into(),
                })
                .await,
            ),
        ),
        (
            "CreateApiKey",
            code_of(
                c.create_api_key(apb::CreateApiKeyRequest {
                    partner: "p2".into(),
                    label: "probe".into(),
                })
                .await,
            ),
        ),
        (
            "ListApiKeys",
            code_of(
                c.list_api_keys(apb::ListApiKeysRequest {
                    partner: "p1".into(),
                })
                .await,
            ),
        ),
        (
            "RevokeApiKey",
            code_of(
                c.revoke_api_key(apb::RevokeApiKeyRequest {
                    key_id: "0000000000000000".into(),
                    reason: "probe".into(),
                })
                .await,
            ),
        ),
        (
            "GetExchangeLog",
            code_of(
                c.get_exchange_log(apb::GetExchangeLogRequest { transaction_id: tx })
                    .await,
            ),
        ),
        (
            "ReloadConfig",
            code_of(c.reload_config(apb::ReloadConfigRequest {}).await),
        ),
        (
            "ListAdminActions",
            code_of(
                c.list_admin_actions(apb::ListAdminActionsRequest::default())
                    .await,
            ),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_admin_rpc_is_for_operators_only() {
    let sb = sandbox().await;
    let (_dir, hub) = hub_with(sb.addr(), "").await;

    // The list above covers the service exactly.
    let set =
        <prost_types::FileDescriptorSet as prost::Message>::decode(hub_proto::FILE_DESCRIPTOR_SET)
            .unwrap();
    let methods: Vec<String> = set
        .file
        .iter()
        .flat_map(|f| f.service.iter())
        .filter(|s| s.name() == "AdminService")
        .flat_map(|s| s.method.iter().map(|m| m.name().to_owned()))
        .collect();
    let mut ops = hub.admin("ops").await;
    let as_operator = call_every_rpc(&mut ops).await;
    let mut listed: Vec<_> = as_operator.iter().map(|(n, _)| (*n).to_owned()).collect();
    let mut described = methods.clone();
    listed.sort();
    described.sort();
    assert_eq!(listed, described, "every admin RPC needs a case here");

    // An operator is let in (the answers are the RPCs' own).
    for (name, code) in &as_operator {
        assert!(
            !matches!(code, Code::Unauthenticated | Code::PermissionDenied),
            "{name}: {code:?}"
        );
    }
    // A partner's key, even a partner's, is refused as not an operator.
    let key = hub.key("p1").await;
    let mut partner = hub.admin_with(Some(key.clone())).await;
    for (name, code) in call_every_rpc(&mut partner).await {
        assert_eq!(code, Code::PermissionDenied, "{name} with a partner key");
    }
    // No credentials, or a wrong operator key: unauthenticated.
    let mut nobody = hub.admin_with(None).await;
    for (name, code) in call_every_rpc(&mut nobody).await {
        assert_eq!(code, Code::Unauthenticated, "{name} without credentials");
    }
    let mut forged = hub
        .admin_with(Some(format!("ok_{}_{}", "ab".repeat(8), "x".repeat(64))))
        .await;
    assert_eq!(
        code_of(forged.list_providers(apb::ListProvidersRequest {}).await),
        Code::Unauthenticated
    );
    // And an operator key moves no money.
    let op_key = hub.operator_key("ops").await;
    let mut c = hub.client_with(Some(op_key)).await;
    let err = c.debit(debit("op-debit", "acc-1", 100)).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breaker_held_open_stops_calls_until_handed_back_and_the_action_is_journaled() {
    let sb = sandbox().await;
    let (_dir, hub) = hub_with(sb.addr(), "").await;
    let mut ops = hub.admin("ops").await;
    let mut c = hub.client("p1").await;

    let providers = ops
        .list_providers(apb::ListProvidersRequest {})
        .await
        .unwrap()
        .into_inner()
        .providers;
    assert_eq!(providers.len(), 1);
    assert_eq!(providers[0].name, PROVIDER);
    assert_eq!(providers[0].dialect, "json-hmac");
    assert!(providers[0].serving);
    assert_eq!(
        providers[0].endpoints[0].breaker_state,
        apb::BreakerState::Closed as i32
    );

    // A reason is required.
    let err = ops
        .set_breaker_override(apb::SetBreakerOverrideRequest {
            provider: PROVIDER.into(),
            endpoint: "primary".into(),
            r#override: apb::BreakerOverride::Open as i32,
            reason: " ".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(bad_fields(&err), vec!["reason"]);

    let held = ops
        .set_breaker_override(apb::SetBreakerOverrideRequest {
            provider: PROVIDER.into(),
            endpoint: "primary".into(),
            r#override: apb::BreakerOverride::Open as i32,
            reason: "provider maintenance 02:00-03:00".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .provider
        .unwrap();
    assert!(!held.serving);
    assert_eq!(
        held.endpoints[0].breaker_state,
        apb::BreakerState::Open as i32
    );
    assert_eq!(
        held.endpoints[0].breaker_override,
        apb::BreakerOverride::Open as i32
    );
    let before = sb.stats().money_requests;
    let err = c.debit(debit("held-1", "acc-1", 100)).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert_eq!(reason(&err).as_deref(), Some("PROVIDER_UNAVAILABLE"));
    assert_eq!(
        sb.stats().money_requests,
        before,
        "nothing reached the provider"
    );

    ops.set_breaker_override(apb::SetBreakerOverrideRequest {
        provider: PROVIDER.into(),
        endpoint: "primary".into(),
        r#override: apb::BreakerOverride::None as i32,
        reason: "maintenance over".into(),
    })
    .await
    .unwrap();
    let tx = debited(&mut c, debit("held-1", "acc-1", 100)).await;
    assert_eq!(state(&tx), pb::TransactionState::Settled);

    let actions = ops
        .list_admin_actions(apb::ListAdminActionsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .actions;
    assert_eq!(actions.len(), 2, "{actions:?}");
    assert_eq!(actions[0].reason, "maintenance over", "newest first");
    assert_eq!(actions[1].operator, "ops");
    assert_eq!(actions[1].action, "SetBreakerOverride");
    assert_eq!(actions[1].target, "sb/primary");
    assert_eq!(actions[1].reason, "provider maintenance 02:00-03:00");
    assert_eq!(actions[1].detail, "override=OPEN");

    // Unknown provider or endpoint: named.
    let err = ops
        .set_breaker_override(apb::SetBreakerOverrideRequest {
            provider: PROVIDER.into(),
            endpoint: "backup".into(),
            r#override: apb::BreakerOverride::Open as i32,
            reason: "x".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), vec!["endpoint"]);
    hub.stop().await;
}

const FAST_RESOLVER: &str = "[resolver]\npoll_interval = \"50ms\"\nbackoff_base = \"20ms\"\nbackoff_max = \"100ms\"\nmax_attempts = 3\nsettle_after = \"500ms\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_replayed_and_resolved_with_a_journaled_reason() {
    // `door` serves the sandbox's ledger until it is shut.
    let sb = sandbox().await;
    let door = sb
        .also_serve(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap())
        .unwrap();
    let (_dir, path) = journal_path();
    let providers = hmac_provider(
        PROVIDER,
        door.addr(),
        "[providers.sb.health]\ninterval = \"1h\"\n[providers.sb.breaker]\nconsecutive_failures = 1000\nmin_requests = 100000\n",
    ) + FAST_RESOLVER;
    let hub = TestHub::start_with(config_toml(&path, &providers, &partners())).await;
    let mut ops = hub.admin("ops").await;
    let mut c = hub.client("p1").await;

    // Two debits land but their replies are lost; status queries fail; the
    // door shuts: both become dead letters.
    door.set_fault(Fault::new(FaultKind::DropAfterCommit).on_path("/v1/debit"));
    door.set_fault(Fault::new(FaultKind::ErrorRate(1.0)).on_path("/v1/status"));
    let mut ids = Vec::new();
    for key in ["lost-1", "lost-2"] {
        let tx = debited(&mut c, debit(key, "acc-1", 300)).await;
        assert_eq!(state(&tx), pb::TransactionState::Pending);
        ids.push(tx.transaction_id);
    }
    let pending = ops
        .list_pending_transactions(apb::ListPendingTransactionsRequest {
            page_size: 1,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(pending.transactions.len(), 1);
    assert_eq!(pending.transactions[0].partner, "p1");
    assert_eq!(
        pending.transactions[0]
            .transaction
            .as_ref()
            .unwrap()
            .transaction_id,
        ids[0]
    );
    let next = ops
        .list_pending_transactions(apb::ListPendingTransactionsRequest {
            page_size: 1,
            page_token: pending.next_page_token,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        next.transactions[0]
            .transaction
            .as_ref()
            .unwrap()
            .transaction_id,
        ids[1]
    );
    door.shutdown().await;

    let mut dead = Vec::new();
    for _ in 0..200 {
        dead = ops
            .list_work_items(apb::ListWorkItemsRequest {
                filter: apb::WorkItemFilter::Dead as i32,
            })
            .await
            .unwrap()
            .into_inner()
            .items;
        if dead.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert!(dead.iter().all(|d| d.dead && !d.last_error.is_empty()));

    // The operator checked with the provider: the first debit is there.
    let resolved = ops
        .resolve_dead_letter(apb::ResolveDeadLetterRequest {
            transaction_id: ids[0].clone(),
            resolution: apb::Resolution::Applied as i32,
            reason: "provider ticket 4711: applied".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resolved.partner, "p1");
    assert_eq!(
        resolved.transaction.unwrap().state,
        pb::TransactionState::Settled as i32
    );
    let seen = fetched(&mut c, by_key("lost-1")).await;
    assert_eq!(state(&seen), pb::TransactionState::Settled);
    // Resolved twice: no longer a dead letter.
    let err = ops
        .resolve_dead_letter(apb::ResolveDeadLetterRequest {
            transaction_id: ids[0].clone(),
            resolution: apb::Resolution::NotApplied as i32,
            reason: "again".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    // The second goes back to the queue.
    let replayed = ops
        .replay_dead_letter(apb::ReplayDeadLetterRequest {
            transaction_id: ids[1].clone(),
            reason: "provider back up".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .item
        .unwrap();
    assert!(!replayed.dead);
    assert_eq!(replayed.attempts, 0);

    let actions = ops
        .list_admin_actions(apb::ListAdminActionsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .actions;
    let kinds: Vec<_> = actions.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(kinds, vec!["ReplayDeadLetter", "ResolveDeadLetter"]);
    assert_eq!(actions[1].target, ids[0]);
    assert_eq!(actions[1].reason, "provider ticket 4711: applied");
    assert!(
        actions[1].detail.contains("RESOLUTION_APPLIED"),
        "{}",
        actions[1].detail
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partner_keys_are_created_listed_and_revoked_by_operators() {
    let sb = sandbox().await;
    let (_dir, hub) = hub_with(sb.addr(), "").await;
    let mut ops = hub.admin("ops").await;

    let created = ops
        .create_api_key(apb::CreateApiKeyRequest {
            partner: "p2".into(),
            label: "rotation-2026-11".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(created.api_key.starts_with("hk_"));
    let record = created.key.unwrap();
    assert_eq!(record.partner, "p2");
    assert!(record.revoke_time.is_none());

    let mut p2 = hub.client_with(Some(created.api_key.clone())).await;
    p2.get_balance(pb::GetBalanceRequest {
        provider: PROVIDER.into(),
        account: "acc-1".into(),
        currency_code: "EUR".into(),
    })
    .await
    .unwrap();

    let listed = ops
        .list_api_keys(apb::ListApiKeysRequest {
            partner: "p2".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .keys;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key_id, record.key_id);
    assert_eq!(listed[0].label, "rotation-2026-11");

    let revoked = ops
        .revoke_api_key(apb::RevokeApiKeyRequest {
            key_id: record.key_id.clone(),
            reason: "leaked in a ticket".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .key
        .unwrap();
    assert!(revoked.revoke_time.is_some());
    // Refused once the key cache has expired (a few seconds at most).
    let mut refused = false;
    for _ in 0..40 {
        let r = p2
            .get_balance(pb::GetBalanceRequest {
                provider: PROVIDER.into(),
                account: "acc-1".into(),
                currency_code: "EUR".into(),
            })
            .await;
        if matches!(&r, Err(e) if e.code() == Code::Unauthenticated) {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refused, "the revoked key still works");

    // Unknown partner; an operator key id is not a partner key.
    let err = ops
        .create_api_key(apb::CreateApiKeyRequest {
            partner: "nobody".into(),
            label: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), vec!["partner"]);
    let err = ops
        .revoke_api_key(apb::RevokeApiKeyRequest {
            key_id: "op-0000000000000000".into(),
            reason: "x".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), vec!["key_id"]);

    let actions = ops
        .list_admin_actions(apb::ListAdminActionsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .actions;
    let kinds: Vec<_> = actions.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(kinds, vec!["RevokeApiKey", "CreateApiKey"]);
    assert!(
        actions
            .iter()
            .all(|a| !a.detail.contains(&created.api_key[20..])),
        "no secret journaled"
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exchange_log_of_a_transaction_shows_every_attempt_without_secrets() {
    let sb = sandbox().await;
    let (_dir, hub) = hub_with(sb.addr(), "").await;
    let mut ops = hub.admin("ops").await;
    let mut c = hub.client("p1").await;
    // The reply is lost; the inline status query then finds it applied.
    sb.set_fault(
        Fault::new(FaultKind::DropAfterCommit)
            .on_path("/v1/debit")
            .times(1),
    );
    let tx = debited(&mut c, debit("disputed", "acc-1", 450)).await;
    let log = ops
        .get_exchange_log(apb::GetExchangeLogRequest {
            transaction_id: tx.transaction_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .exchanges;
    let ops_seen: Vec<_> = log
        .iter()
        .map(|e| (e.operation.as_str(), e.attempt))
        .collect();
    assert!(ops_seen.len() >= 2, "{ops_seen:?}");
    assert_eq!(ops_seen[0], ("debit", 1));
    assert!(
        ops_seen.iter().any(|(op, _)| *op == "status"),
        "{ops_seen:?}"
    );
    // The lost reply shows as a failure; the status query got an answer.
    assert_eq!(log[0].status, 0);
    assert!(!log[0].error.is_empty());
    assert!(log[0].request.contains(&tx.transaction_id));
    assert!(log.iter().any(|e| e.status == 200));
    for e in &log {
        assert_eq!(e.provider, PROVIDER);
        assert!(e.latency_micros >= 0);
        for text in [&e.request, &e.reply] {
            assert!(!text.contains(SECRET), "secret in {text}");
        }
        assert!(
            e.request.contains("[redacted]") || e.request.to_lowercase().contains("x-signature: ["),
            "{}",
            e.request
        );
    }
    // Unknown id: an empty log; a malformed one: named.
    let err = ops
        .get_exchange_log(apb::GetExchangeLogRequest {
            transaction_id: "nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), vec!["transaction_id"]);
    hub.stop().await;
}

/// The configuration file of the reload tests: `partners` and `timeout` of
/// the provider vary.
fn reload_file(
    journal: &std::path::Path,
    sb: std::net::SocketAddr,
    partners: &str,
    timeout: &str,
) -> String {
    let providers = hmac_provider(PROVIDER, sb, "[providers.sb.health]\ninterval = \"1h\"\n")
        .replace("timeout = \"3s\"", &format!("timeout = \"{timeout}\""));
    config_text(journal, &providers, &format!("{partners}{OPERATORS}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_apply_valid_files_refuse_invalid_ones_and_fail_no_call_in_flight() {
    let sb = sandbox().await;
    sb.set_fault(Fault::new(FaultKind::Latency(Duration::from_millis(20))).on_path("/v1/debit"));
    let (dir, journal) = journal_path();
    let file = dir.path().join("hub.toml");
    let p1_only = format!("[partners.p1]\nproviders = [\"{PROVIDER}\"]\n");
    std::fs::write(&file, reload_file(&journal, sb.addr(), &p1_only, "3s")).unwrap();
    let hub = TestHub::start_from_file(&file).await;
    let mut ops = hub.admin("ops").await;
    // p9's key exists before p9 does: it is refused until a reload adds p9.
    let p9_key = hub.key("p9").await;
    let mut p9 = hub.client_with(Some(p9_key)).await;
    let balance = || pb::GetBalanceRequest {
        provider: PROVIDER.into(),
        account: "acc-1".into(),
        currency_code: "EUR".into(),
    };
    assert_eq!(
        p9.get_balance(balance()).await.unwrap_err().code(),
        Code::Unauthenticated
    );

    // Load: four clients debit continuously while the configuration changes.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for w in 0..4 {
        let mut c = hub.client("p1").await;
        let stop = stop.clone();
        load.push(tokio::spawn(async move {
            let mut done = 0u32;
            let mut failures = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && done < 300 {
                match c
                    .debit(debit(&format!("load-{w}-{done}"), "acc-1", 1))
                    .await
                {
                    Ok(r) => {
                        let tx = r.into_inner().transaction.unwrap();
                        if state(&tx) != pb::TransactionState::Settled {
                            failures.push(format!("{:?}", state(&tx)));
                        }
                    }
                    Err(e) => failures.push(format!("{e:?}")),
                }
                done += 1;
            }
            (done, failures)
        }));
    }
    tokio::time::sleep(Duration::from_millis(150)).await;

    // Valid: p9 added, the provider's timeout changed.
    let both = format!("{p1_only}[partners.p9]\nproviders = [\"{PROVIDER}\"]\n");
    std::fs::write(&file, reload_file(&journal, sb.addr(), &both, "4s")).unwrap();
    let report = ops
        .reload_config(apb::ReloadConfigRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(report.partners_changed, vec!["p9"]);
    assert_eq!(report.providers_changed, vec![PROVIDER]);
    p9.get_balance(balance()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;

    // Invalid: a partner naming an unknown provider. Refused with the
    // field path; the running configuration stays.
    let bad = format!("{both}[partners.p10]\nproviders = [\"nowhere\"]\n");
    std::fs::write(&file, reload_file(&journal, sb.addr(), &bad, "4s")).unwrap();
    let err = ops
        .reload_config(apb::ReloadConfigRequest {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason(&err).as_deref(), Some("CONFIG_REFUSED"));
    assert!(
        err.message().contains("partners.p10.providers[0]"),
        "{}",
        err.message()
    );
    p9.get_balance(balance()).await.unwrap();
    // A change that needs a restart is refused too.
    let moved = reload_file(&journal, sb.addr(), &both, "4s")
        .replace("shutdown_grace = \"3s\"", "shutdown_grace = \"4s\"");
    std::fs::write(&file, moved).unwrap();
    let err = ops
        .reload_config(apb::ReloadConfigRequest {})
        .await
        .unwrap_err();
    assert!(err.message().contains("server"), "{}", err.message());

    // Removing p9 takes its access away at once.
    std::fs::write(&file, reload_file(&journal, sb.addr(), &p1_only, "4s")).unwrap();
    ops.reload_config(apb::ReloadConfigRequest {})
        .await
        .unwrap();
    assert_eq!(
        p9.get_balance(balance()).await.unwrap_err().code(),
        Code::Unauthenticated
    );

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = 0;
    for l in load {
        let (done, failures) = l.await.unwrap();
        assert!(
            failures.is_empty(),
            "calls failed during reloads: {failures:?}"
        );
        total += done;
    }
    assert!(total >= 8, "the load ran ({total} calls)");
    let actions = ops
        .list_admin_actions(apb::ListAdminActionsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .actions;
    assert_eq!(
        actions
            .iter()
            .filter(|a| a.action == "ReloadConfig")
            .count(),
        2,
        "only applied reloads are journaled"
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_a_hub_process_and_a_bad_file_leaves_it_running() {
    let sb = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("hub.db");
    let file = dir.path().join("hub.toml");
    let p1_only = format!("[partners.p1]\nproviders = [\"{PROVIDER}\"]\n");
    std::fs::write(&file, reload_file(&journal, sb.addr(), &p1_only, "3s")).unwrap();
    // p9's key is journaled before p9 is configured.
    let key = {
        let j = hub::journal::SqliteJournal::open(&journal).unwrap();
        let k = hub::auth::generate_key(&hub::domain::PartnerId::parse("p9").unwrap(), "t", 0);
        hub::journal::Journal::insert_key(&j, k.record)
            .await
            .unwrap();
        k.key
    };
    let hub = HubProcess::start(&file, free_port()).await;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", hub.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut p9 = pb::settlement_service_client::SettlementServiceClient::new(channel);
    let balance = || {
        let mut r = tonic::Request::new(pb::GetBalanceRequest {
            provider: PROVIDER.into(),
            account: "acc-1".into(),
            currency_code: "EUR".into(),
        });
        r.metadata_mut().insert("x-api-key", key.parse().unwrap());
        r
    };
    assert_eq!(
        p9.get_balance(balance()).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let hup = |pid: u32| {
        let ok = std::process::Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -HUP");
    };

    let both = format!("{p1_only}[partners.p9]\nproviders = [\"{PROVIDER}\"]\n");
    std::fs::write(&file, reload_file(&journal, sb.addr(), &both, "3s")).unwrap();
    hup(hub.child.id());
    let mut admitted = false;
    for _ in 0..100 {
        if p9.get_balance(balance()).await.is_ok() {
            admitted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(admitted, "SIGHUP did not reload the file");

    // A broken file: refused, the hub keeps serving with what it has.
    std::fs::write(&file, "[partners.p9\nthis is not toml").unwrap();
    hup(hub.child.id());
    tokio::time::sleep(Duration::from_millis(300)).await;
    p9.get_balance(balance()).await.unwrap();
    let mut child = hub;
    assert!(
        child.child.try_wait().unwrap().is_none(),
        "the hub is still running"
    );
}
