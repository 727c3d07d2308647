//! End to end: a real hub on a loopback port, a real json-hmac sandbox
//! provider, a journal file; partners call over gRPC.

mod common;
#[path = "common/process.rs"]
mod process;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use common::*;
use hub::journal::Journal;
use hub_proto::settlement::v1 as pb;
use process::{HubProcess, free_port};
use sandbox_json_hmac::{Fault, FaultKind};
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debit_credit_rollback_and_balance_move_money_at_the_provider() {
    let sb = sandbox().await;
    let (_dir, path) = journal_path();
    let hub = TestHub::start(path, sb.addr()).await;
    let mut c = hub.client("p1").await;

    let d = c
        .debit(debit("d-1", "acc-1", 2_500))
        .await
        .unwrap()
        .into_inner();
    let tx = d.transaction.unwrap();
    assert_eq!(state(&tx), pb::TransactionState::Settled);
    assert_eq!(tx.balance_after, eur(97_500));
    assert!(!tx.provider_reference.is_empty());
    assert!(!tx.replay);
    assert_eq!(sb.balance("acc-1"), Some(97_500));

    let cr = c
        .credit(credit("c-1", "acc-1", 1_000))
        .await
        .unwrap()
        .into_inner();
    let ctx = cr.transaction.unwrap();
    assert_eq!(state(&ctx), pb::TransactionState::Settled);
    assert_eq!(sb.balance("acc-1"), Some(98_500));

    let b = c
        .get_balance(pb::GetBalanceRequest {
            provider: PROVIDER.into(),
            account: "acc-1".into(),
            currency_code: "EUR".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(b.balance, eur(98_500));

    let rb = c
        .rollback(pb::RollbackRequest {
            idempotency_key: "rb-1".into(),
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
    assert_eq!(rb.reverses_transaction_id, tx.transaction_id);
    assert_eq!(sb.balance("acc-1"), Some(101_000));
    let original = fetched(&mut c, by_key("d-1")).await;
    assert_eq!(state(&original), pb::TransactionState::RolledBack);

    // A second rollback of the same debit, under another key, replays the
    // first and moves nothing.
    let again = c
        .rollback(pb::RollbackRequest {
            idempotency_key: "rb-2".into(),
            target: Some(pb::rollback_request::Target::OriginalIdempotencyKey(
                "d-1".into(),
            )),
            provider: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .transaction
        .unwrap();
    assert!(again.replay);
    assert_eq!(again.transaction_id, rb.transaction_id);
    assert_eq!(sb.balance("acc-1"), Some(101_000));

    // A credit cannot be rolled back.
    let err = c
        .rollback(pb::RollbackRequest {
            idempotency_key: "rb-3".into(),
            target: Some(pb::rollback_request::Target::TransactionId(
                ctx.transaction_id.clone(),
            )),
            provider: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason(&err).as_deref(), Some("NOT_REVERSIBLE"));
    assert_eq!(sb.balance("acc-1"), Some(101_000));
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declines_are_journaled_and_move_nothing() {
    let sb = sandbox().await;
    let (_dir, path) = journal_path();
    let hub = TestHub::start(path, sb.addr()).await;
    let mut c = hub.client("p1").await;
    let tx = debited(&mut c, debit("big", "acc-2", 5_000)).await;
    assert_eq!(state(&tx), pb::TransactionState::Declined);
    assert_eq!(
        tx.decline_reason,
        pb::DeclineReason::InsufficientFunds as i32
    );
    assert_eq!(sb.balance("acc-2"), Some(1_000));
    let tx = debited(&mut c, debit("nobody", "acc-404", 5)).await;
    assert_eq!(tx.decline_reason, pb::DeclineReason::UnknownAccount as i32);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_of_an_unseen_debit_tombstones_its_key() {
    let sb = sandbox().await;
    let (_dir, path) = journal_path();
    let hub = TestHub::start(path, sb.addr()).await;
    let mut c = hub.client("p1").await;
    let rb = c
        .rollback(pb::RollbackRequest {
            idempotency_key: "rb-early".into(),
            target: Some(pb::rollback_request::Target::OriginalIdempotencyKey(
                "late".into(),
            )),
            provider: PROVIDER.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .transaction
        .unwrap();
    assert_eq!(state(&rb), pb::TransactionState::RolledBack);
    assert_eq!(
        sb.money_requests(),
        0,
        "nothing was sent for an unseen debit"
    );
    let err = c.debit(debit("late", "acc-1", 100)).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason(&err).as_deref(), Some("ALREADY_ROLLED_BACK"));
    assert_eq!(sb.balance("acc-1"), Some(100_000));
    assert_eq!(sb.money_requests(), 0);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_returns_the_same_answer_and_moves_nothing() {
    let sb = sandbox().await;
    let (_dir, path) = journal_path();
    let hub = TestHub::start(path, sb.addr()).await;
    let mut c = hub.client("p1").await;
    let first = debited(&mut c, debit("k-1", "acc-1", 700)).await;
    let second = debited(&mut c, debit("k-1", "acc-1", 700)).await;
    assert!(second.replay);
    assert_eq!(
        pb::Transaction {
            replay: true,
            ..first.clone()
        },
        second
    );
    assert_eq!(sb.balance("acc-1"), Some(99_300));
    assert_eq!(sb.requests_for(&first.transaction_id), 1);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_any_fingerprinted_field_is_a_conflict() {
    let sb = sandbox().await;
    sb.seed("acc-3", "EUR", 1_000);
    let (_dir, path) = journal_path();
    // A second provider on the same sandbox, so only the provider differs.
    let providers = hmac_provider(PROVIDER, sb.addr(), "") + &hmac_provider("sb2", sb.addr(), "");
    let hub = TestHub::start_with(config_with(&path, &providers, &[PROVIDER, "sb2"])).await;
    let mut c = hub.client("p1").await;
    let first = debited(&mut c, debit("k-1", "acc-1", 700)).await;
    let variants: Vec<(&str, pb::DebitRequest)> = vec![
        (
            "provider",
            pb::DebitRequest {
                provider: "sb2".into(),
                ..debit("k-1", "acc-1", 700)
            },
        ),
        ("account", debit("k-1", "acc-3", 700)),
        ("amount", debit("k-1", "acc-1", 701)),
        (
            "currency",
            pb::DebitRequest {
                amount: Some(pb::Money {
                    currency_code: "USD".into(),
                    minor_units: 700,
                }),
                ..debit("k-1", "acc-1", 700)
            },
        ),
        (
            "reference",
            pb::DebitRequest {
                reference: "r-2".into(),
                ..debit("k-1", "acc-1", 700)
            },
        ),
    ];
    for (field, req) in variants {
        let err = c.debit(req).await.unwrap_err();
        assert_eq!(err.code(), Code::AlreadyExists, "{field}");
        assert_eq!(
            reason(&err).as_deref(),
            Some("IDEMPOTENCY_CONFLICT"),
            "{field}"
        );
    }
    // The same key as a credit is a different request too.
    let err = c.credit(credit("k-1", "acc-1", 700)).await.unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);

    // A rollback key names one target: reused for another, or for the same
    // transaction named the other way, it is a conflict and reverses nothing.
    let second = debited(&mut c, debit("k-2", "acc-1", 100)).await;
    let rollback = |target| pb::RollbackRequest {
        idempotency_key: "rb-1".into(),
        target: Some(target),
        provider: String::new(),
    };
    use pb::rollback_request::Target;
    let rolled = c
        .rollback(rollback(Target::OriginalIdempotencyKey("k-2".into())))
        .await
        .unwrap()
        .into_inner()
        .transaction
        .unwrap();
    assert_eq!(state(&rolled), pb::TransactionState::RolledBack);
    for (what, target) in [
        ("another key", Target::OriginalIdempotencyKey("k-1".into())),
        ("another id", Target::TransactionId(first.transaction_id)),
        (
            "the same debit by id",
            Target::TransactionId(second.transaction_id),
        ),
    ] {
        let err = c.rollback(rollback(target)).await.unwrap_err();
        assert_eq!(err.code(), Code::AlreadyExists, "{what}");
        assert_eq!(
            reason(&err).as_deref(),
            Some("IDEMPOTENCY_CONFLICT"),
            "{what}"
        );
    }
    assert_eq!(sb.balance("acc-1"), Some(99_300));
    assert_eq!(sb.balance("acc-3"), Some(1_000));
    // The first debit, the second and its rollback: nothing else.
    assert_eq!(sb.money_requests(), 3);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_identical_debits_reach_the_provider_once() {
    let sb = sandbox().await;
    // Slow the provider so the calls overlap for real.
    sb.set_fault(Fault::new(FaultKind::Latency(Duration::from_millis(200))));
    let (_dir, path) = journal_path();
    let hub = TestHub::start(path, sb.addr()).await;
    let key = hub.key("p1").await;
    let mut calls = Vec::new();
    for _ in 0..50 {
        let mut c = hub.client_with(Some(key.clone())).await;
        calls.push(tokio::spawn(async move {
            debited(&mut c, debit("same", "acc-1", 300)).await
        }));
    }
    let mut ids = HashSet::new();
    let mut fresh = 0;
    for call in calls {
        let tx = call.await.unwrap();
        assert_eq!(state(&tx), pb::TransactionState::Settled);
        fresh += usize::from(!tx.replay);
        ids.insert(tx.transaction_id);
    }
    assert_eq!(ids.len(), 1);
    assert_eq!(fresh, 1, "exactly one answer is not a replay");
    let id = ids.into_iter().next().unwrap();
    assert_eq!(sb.requests_for(&id), 1);
    assert_eq!(sb.balance("acc-1"), Some(99_700));
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_moved_nothing_runs_again_with_the_same_key() {
    // The provider is down: its port refuses connections.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let (_dir, path) = journal_path();
    let hub = TestHub::start(path, addr).await;
    let mut c = hub.client("p1").await;
    let err = c.debit(debit("retry-me", "acc-1", 400)).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert_eq!(reason(&err).as_deref(), Some("PROVIDER_UNAVAILABLE"));
    let failed = fetched(&mut c, by_key("retry-me")).await;
    assert_eq!(state(&failed), pb::TransactionState::Failed);

    // The provider comes back on the same port; the same call runs again.
    let sb = sandbox_on(tokio::net::TcpListener::bind(addr).await.unwrap()).await;
    let tx = debited(&mut c, debit("retry-me", "acc-1", 400)).await;
    assert_eq!(state(&tx), pb::TransactionState::Settled);
    assert!(!tx.replay);
    assert_eq!(tx.transaction_id, failed.transaction_id);
    assert_eq!(sb.requests_for(&tx.transaction_id), 1);
    assert_eq!(sb.balance("acc-1"), Some(99_600));
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_are_group_committed() {
    let sb = sandbox().await;
    let (_dir, path) = journal_path();
    let hub = TestHub::start(path, sb.addr()).await;
    let key = hub.key("p1").await;
    let before = hub.journal.stats();
    let mut calls = Vec::new();
    for i in 0..200 {
        let mut c = hub.client_with(Some(key.clone())).await;
        calls.push(tokio::spawn(async move {
            debited(&mut c, debit(&format!("g-{i}"), "acc-1", 1)).await
        }));
    }
    for call in calls {
        let tx = call.await.unwrap();
        assert_eq!(state(&tx), pb::TransactionState::Settled);
    }
    let after = hub.journal.stats();
    let writes = after.writes - before.writes;
    let commits = after.commits - before.commits;
    println!("group commit: {writes} journal writes in {commits} SQL commits");
    // Each debit writes its intent and its outcome.
    assert!(writes >= 400, "writes {writes}");
    assert!(
        commits < writes * 9 / 10,
        "commits {commits} should be measurably fewer than writes {writes}"
    );
    assert_eq!(sb.balance("acc-1"), Some(100_000 - 200));
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_goes_away_leaves_no_half_done_transaction() {
    let sb = sandbox().await;
    sb.set_fault(Fault::new(FaultKind::Latency(Duration::from_millis(600))));
    let (_dir, path) = journal_path();
    let hub = TestHub::start(path, sb.addr()).await;
    let key = hub.key("p1").await;

    // One client's deadline passes mid-call: it gets the PENDING transaction
    // (or the deadline error) while the money path goes on.
    let mut c = hub.client_with(Some(key.clone())).await;
    let mut req = tonic::Request::new(debit("gone-1", "acc-1", 1_000));
    req.set_timeout(Duration::from_millis(200));
    match c.debit(req).await {
        Ok(r) => assert_eq!(
            state(&r.into_inner().transaction.unwrap()),
            pb::TransactionState::Pending
        ),
        // On a loaded machine the client's own timer may fire first
        // (tonic reports that as CANCELLED).
        Err(e) => assert!(
            matches!(e.code(), Code::DeadlineExceeded | Code::Cancelled),
            "{e:?}"
        ),
    }
    // Another client disconnects outright.
    let mut c2 = hub.client_with(Some(key.clone())).await;
    let call = tokio::spawn(async move { c2.debit(debit("gone-2", "acc-1", 2_000)).await });
    tokio::time::sleep(Duration::from_millis(150)).await;
    call.abort();

    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let mut c = hub.client_with(Some(key)).await;
    for k in ["gone-1", "gone-2"] {
        let tx = fetched(&mut c, by_key(k)).await;
        assert_eq!(state(&tx), pb::TransactionState::Settled, "{k}");
        let at_provider = sb.ledger();
        assert!(at_provider.transaction(&tx.transaction_id).is_some(), "{k}");
    }
    assert_eq!(sb.balance("acc-1"), Some(100_000 - 3_000));
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_hub_answers_exactly_as_before() {
    let sb = sandbox().await;
    let (_dir, path) = journal_path();
    let hub = TestHub::start(path.clone(), sb.addr()).await;
    let key = hub.key("p1").await;
    let mut c = hub.client_with(Some(key.clone())).await;
    c.debit(debit("a", "acc-1", 100)).await.unwrap();
    c.debit(debit("b", "acc-2", 5_000)).await.unwrap(); // declined
    c.credit(credit("c", "acc-1", 50)).await.unwrap();
    c.rollback(pb::RollbackRequest {
        idempotency_key: "d".into(),
        target: Some(pb::rollback_request::Target::OriginalIdempotencyKey(
            "a".into(),
        )),
        provider: String::new(),
    })
    .await
    .unwrap();
    let keys = ["a", "b", "c", "d"];
    let mut before = HashMap::new();
    for k in keys {
        before.insert(k, get_by_key(&mut c, k).await);
    }
    hub.stop().await;

    let hub = TestHub::start(path, sb.addr()).await;
    let mut c = hub.client_with(Some(key)).await;
    for k in keys {
        assert_eq!(get_by_key(&mut c, k).await, before[k], "{k}");
        let by_id = fetched(&mut c, by_id(before[k].transaction_id.clone())).await;
        assert_eq!(by_id, before[k]);
    }
    hub.stop().await;
}

async fn get_by_key(c: &mut Client, k: &str) -> pb::Transaction {
    c.get_transaction(by_key(k))
        .await
        .unwrap()
        .into_inner()
        .transaction
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_are_unauthenticated() {
    let sb = sandbox().await;
    let (_dir, path) = journal_path();
    let hub = TestHub::start(path, sb.addr()).await;
    let revoked = hub.key("p1").await;
    let id = revoked[3..19].to_owned();
    assert!(hub.journal.revoke_key(&id, 1).await.unwrap());
    let forged = {
        let good = hub.key("p1").await;
        format!("{}{}", &good[..good.len() - 4], "0000")
    };
    for key in [
        None,
        Some("nonsense".to_owned()),
        Some("hk_0123456789abcdef_aaaaaaaaaaaaaaaaaaaaaaaa".to_owned()),
        Some(forged),
        Some(revoked),
    ] {
        let mut c = hub.client_with(key.clone()).await;
        let err = c.debit(debit("x", "acc-1", 1)).await.unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated, "{key:?}");
        let err = c.get_transaction(by_key("x")).await.unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated);
    }
    assert_eq!(sb.money_requests(), 0);
    let p1 = hub::domain::PartnerId::parse("p1").unwrap();
    let rows = hub
        .journal
        .list(&p1, &Default::default(), 0, 10)
        .await
        .unwrap();
    assert!(rows.is_empty());
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_invalid_argument_naming_the_field_and_moves_nothing() {
    let sb = sandbox().await;
    let (_dir, path) = journal_path();
    let hub = TestHub::start(path, sb.addr()).await;
    let mut c = hub.client("p1").await;
    let money = |code: &str, minor: i64| {
        Some(pb::Money {
            currency_code: code.into(),
            minor_units: minor,
        })
    };
    let cases: Vec<(&str, pb::DebitRequest)> = vec![
        ("idempotency_key", debit("", "acc-1", 1)),
        ("idempotency_key", debit(&"k".repeat(129), "acc-1", 1)),
        ("idempotency_key", debit("bad key\n", "acc-1", 1)),
        ("amount.minor_units", debit("k", "acc-1", 0)),
        ("amount.minor_units", debit("k", "acc-1", -5)),
        ("amount.minor_units", debit("k", "acc-1", i64::MAX)),
        (
            "amount.currency_code",
            pb::DebitRequest {
                amount: money("EURO", 5),
                ..debit("k", "acc-1", 1)
            },
        ),
        (
            "amount.currency_code",
            pb::DebitRequest {
                amount: money("XAU", 5),
                ..debit("k", "acc-1", 1)
            },
        ),
        (
            "amount",
            pb::DebitRequest {
                amount: None,
                ..debit("k", "acc-1", 1)
            },
        ),
        (
            "provider",
            pb::DebitRequest {
                provider: "nope".into(),
                ..debit("k", "acc-1", 1)
            },
        ),
        ("account", debit("k", &"a".repeat(200), 1)),
        ("account", debit("k", "", 1)),
        (
            "reference",
            pb::DebitRequest {
                reference: "r/../x".into(),
                ..debit("k", "acc-1", 1)
            },
        ),
    ];
    for (field, req) in cases {
        let err = c.debit(req).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{field}");
        assert!(
            bad_fields(&err).iter().any(|f| f == field),
            "{field}: {err:?}"
        );
    }
    let err = c
        .get_balance(pb::GetBalanceRequest {
            provider: PROVIDER.into(),
            account: "acc-1".into(),
            currency_code: "???".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), vec!["currency_code".to_string()]);
    let err = c
        .rollback(pb::RollbackRequest {
            idempotency_key: "rb".into(),
            target: Some(pb::rollback_request::Target::TransactionId(
                "not-a-uuid".into(),
            )),
            provider: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), vec!["transaction_id".to_string()]);
    let err = c
        .rollback(pb::RollbackRequest {
            idempotency_key: "same".into(),
            target: Some(pb::rollback_request::Target::OriginalIdempotencyKey(
                "same".into(),
            )),
            provider: PROVIDER.into(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(&err),
        vec!["original_idempotency_key".to_string()]
    );

    // A partner may only use its own providers.
    let mut p3 = hub.client("p3").await;
    let err = p3.debit(debit("k", "acc-1", 1)).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);

    assert_eq!(sb.money_requests(), 0);
    for p in ["p1", "p3"] {
        let rows = hub
            .journal
            .list(
                &hub::domain::PartnerId::parse(p).unwrap(),
                &Default::default(),
                0,
                10,
            )
            .await
            .unwrap();
        assert!(rows.is_empty(), "{p}: {rows:?}");
    }
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_partners_transactions_are_not_found() {
    let sb = sandbox().await;
    let (_dir, path) = journal_path();
    let hub = TestHub::start(path, sb.addr()).await;
    let mut p1 = hub.client("p1").await;
    let mut p2 = hub.client("p2").await;
    let tx = debited(&mut p1, debit("mine", "acc-1", 10)).await;
    let err = p2
        .get_transaction(by_id(tx.transaction_id.clone()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = p2
        .rollback(pb::RollbackRequest {
            idempotency_key: "theirs".into(),
            target: Some(pb::rollback_request::Target::TransactionId(
                tx.transaction_id.clone(),
            )),
            provider: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    // The same key is independent per partner.
    let other = debited(&mut p2, debit("mine", "acc-1", 10)).await;
    assert_ne!(other.transaction_id, tx.transaction_id);
    assert!(!other.replay);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_pages_cover_every_row_once_and_watch_resumes_without_gap() {
    let sb = sandbox().await;
    let (_dir, path) = journal_path();
    let hub = TestHub::start(path, sb.addr()).await;
    let mut c = hub.client("p1").await;
    let mut other = hub.client("p2").await;
    for i in 0..10 {
        c.debit(debit(&format!("l-{i}"), "acc-1", 1)).await.unwrap();
        other
            .debit(debit(&format!("o-{i}"), "acc-1", 1))
            .await
            .unwrap();
    }

    // Pages of 3 cover the 10 rows once, in order.
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = c
            .list_transactions(pb::ListTransactionsRequest {
                page_size: 3,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.transactions.len() <= 3);
        seen.extend(page.transactions.into_iter().map(|t| t.idempotency_key));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let expected: Vec<String> = (0..10).map(|i| format!("l-{i}")).collect();
    assert_eq!(seen, expected);
    let only_declined = c
        .list_transactions(pb::ListTransactionsRequest {
            states: vec![pb::TransactionState::Declined as i32],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(only_declined.transactions.is_empty());

    // Each debit made two changes (SENT, SETTLED). Read 7, resume from the
    // 7th cursor, and expect the rest plus live ones: no gap, no duplicate.
    let mut feed = c
        .watch_transactions(pb::WatchTransactionsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut cursors = Vec::new();
    let mut changes = Vec::new();
    for _ in 0..7 {
        let m = feed.message().await.unwrap().unwrap();
        cursors.push(m.cursor.clone());
        changes.push(m.transaction.unwrap());
    }
    drop(feed);
    let mut feed = c
        .watch_transactions(pb::WatchTransactionsRequest {
            cursor: cursors.last().unwrap().clone(),
            provider: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    for _ in 7..20 {
        let m = tokio::time::timeout(Duration::from_secs(5), feed.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        cursors.push(m.cursor.clone());
        changes.push(m.transaction.unwrap());
    }
    // Live changes arrive on the open feed.
    c.credit(credit("live", "acc-1", 5)).await.unwrap();
    for _ in 0..2 {
        let m = tokio::time::timeout(Duration::from_secs(5), feed.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        cursors.push(m.cursor.clone());
        changes.push(m.transaction.unwrap());
    }
    let unique: HashSet<_> = cursors.iter().collect();
    assert_eq!(unique.len(), cursors.len(), "no duplicate cursor");
    let mut per_key: HashMap<String, Vec<pb::TransactionState>> = HashMap::new();
    for t in &changes {
        assert!(
            !t.idempotency_key.starts_with("o-"),
            "another partner's change leaked"
        );
        per_key
            .entry(t.idempotency_key.clone())
            .or_default()
            .push(state(t));
    }
    assert_eq!(per_key.len(), 11);
    for (k, states) in per_key {
        assert_eq!(
            states,
            vec![pb::TransactionState::Pending, pb::TransactionState::Settled],
            "{k}"
        );
    }
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_v1_and_v1alpha_list_and_describe_the_service() {
    let sb = sandbox().await;
    let (_dir, path) = journal_path();
    let hub = TestHub::start(path, sb.addr()).await;
    // The same conversation in both protocol versions (grpcurl speaks only
    // v1alpha, newer tools only v1): the two are distinct generated types.
    macro_rules! list_and_describe {
        ($version:ident) => {{
            use tokio_stream::StreamExt;
            use tonic_reflection::pb::$version::ServerReflectionRequest;
            use tonic_reflection::pb::$version::server_reflection_client::ServerReflectionClient;
            use tonic_reflection::pb::$version::server_reflection_request::MessageRequest;
            use tonic_reflection::pb::$version::server_reflection_response::MessageResponse;
            let version = stringify!($version);
            let mut r = ServerReflectionClient::new(hub.channel().await);
            let request = |m| ServerReflectionRequest {
                host: String::new(),
                message_request: Some(m),
            };
            let reqs = vec![
                request(MessageRequest::ListServices(String::new())),
                request(MessageRequest::FileContainingSymbol(
                    "settlement.v1.SettlementService".into(),
                )),
            ];
            let mut answers = r
                .server_reflection_info(tokio_stream::iter(reqs))
                .await
                .unwrap()
                .into_inner();
            let Some(MessageResponse::ListServicesResponse(list)) =
                answers.next().await.unwrap().unwrap().message_response
            else {
                panic!("{version}: expected a service list");
            };
            let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
            for service in ["settlement.v1.SettlementService", "grpc.health.v1.Health"] {
                assert!(names.contains(&service), "{version}: {names:?}");
            }
            let Some(MessageResponse::FileDescriptorResponse(files)) =
                answers.next().await.unwrap().unwrap().message_response
            else {
                panic!("{version}: expected a file descriptor");
            };
            let fd = <prost_types::FileDescriptorProto as prost::Message>::decode(
                &files.file_descriptor_proto[0][..],
            )
            .unwrap();
            assert_eq!(fd.package(), "settlement.v1", "{version}");
            let methods: Vec<_> = fd.service[0].method.iter().map(|m| m.name()).collect();
            for m in [
                "Debit",
                "Credit",
                "Rollback",
                "GetBalance",
                "GetTransaction",
                "ListTransactions",
                "WatchTransactions",
            ] {
                assert!(methods.contains(&m), "{version}: {m} in {methods:?}");
            }
        }};
    }
    list_and_describe!(v1);
    list_and_describe!(v1alpha);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_turns_health_off_refuses_new_calls_and_finishes_those_in_flight() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    let sb = sandbox().await;
    sb.set_fault(
        Fault::new(FaultKind::Latency(Duration::from_millis(800)))
            .on_path("/v1/debit")
            .times(1),
    );
    let (_dir, path) = journal_path();
    let hub = TestHub::start(path, sb.addr()).await;
    let mut health = HealthClient::new(hub.channel().await);
    let status = health
        .check(HealthCheckRequest {
            service: "settlement.v1.SettlementService".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(
        status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    let mut watch = health
        .watch(HealthCheckRequest {
            service: "settlement.v1.SettlementService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        watch.message().await.unwrap().unwrap().status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    let key = hub.key("p1").await;
    let mut c = hub.client_with(Some(key.clone())).await;
    let mut late = hub.client_with(Some(key.clone())).await;
    let in_flight = tokio::spawn(async move { c.debit(debit("slow", "acc-1", 10)).await });
    // Shut down once the call is journaled, so it is surely in flight.
    let p1 = hub::domain::PartnerId::parse("p1").unwrap();
    let slow = hub::journal::Lookup::Key(hub::domain::IdempotencyKey::parse("slow").unwrap());
    for _ in 0..500 {
        if hub.journal.get(&p1, &slow).await.unwrap().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let journal = hub.journal.clone();
    let stopping = tokio::spawn(hub.stop());

    // Health turns NOT_SERVING for watchers.
    let turned = tokio::time::timeout(Duration::from_secs(2), watch.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        turned.status,
        tonic_health::pb::health_check_response::ServingStatus::NotServing as i32
    );
    drop(watch);
    // A new call is refused; nothing moves for it.
    let err = late
        .debit(debit("too-late", "acc-1", 10))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert_eq!(reason(&err).as_deref(), Some("SHUTTING_DOWN"), "{err:?}");

    let tx = in_flight
        .await
        .unwrap()
        .unwrap()
        .into_inner()
        .transaction
        .unwrap();
    assert_eq!(state(&tx), pb::TransactionState::Settled);
    stopping.await.unwrap();
    let stored = journal
        .get(
            &hub::domain::PartnerId::parse("p1").unwrap(),
            &hub::journal::Lookup::Key(hub::domain::IdempotencyKey::parse("slow").unwrap()),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.state, hub::domain::TxState::Settled);
    assert_eq!(sb.balance("acc-1"), Some(99_990));
    assert_eq!(
        sb.money_requests(),
        1,
        "the refused call never reached the provider"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_still_in_flight_when_the_grace_ends_is_journaled_pending() {
    let sb = sandbox().await;
    sb.set_fault(Fault::new(FaultKind::Hang).on_path("/v1/debit"));
    let (_dir, path) = journal_path();
    let hub = TestHub::start(path, sb.addr()).await;
    let mut c = hub.client("p1").await;
    let call = tokio::spawn(async move { c.debit(debit("stuck", "acc-1", 10)).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let journal = hub.journal.clone();
    hub.stop().await;
    let stored = journal
        .get(
            &hub::domain::PartnerId::parse("p1").unwrap(),
            &hub::journal::Lookup::Key(hub::domain::IdempotencyKey::parse("stuck").unwrap()),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.state, hub::domain::TxState::Pending);
    call.abort();
    sb.clear_faults();
}

/// The grpcurl binary: `$GRPCURL` (set by scripts/test.sh), else installed
/// by scripts/tools.sh. Never skipped.
fn grpcurl() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("GRPCURL") {
        return p.into();
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = std::process::Command::new("bash")
        .arg(root.join("scripts/tools.sh"))
        .arg("grpcurl")
        .output()
        .expect("scripts/tools.sh runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcurl_lists_describes_and_moves_money() {
    let sb = sandbox().await;
    let (_dir, path) = journal_path();
    let hub = TestHub::start(path, sb.addr()).await;
    let key = hub.key("p1").await;
    let addr = hub.addr.to_string();
    let run = |args: Vec<String>| {
        let bin = grpcurl();
        async move {
            let out = tokio::process::Command::new(bin)
                .args(&args)
                .output()
                .await
                .unwrap();
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).into_owned()
                    + &String::from_utf8_lossy(&out.stderr),
            )
        }
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();

    let (ok, out) = run(s(&["-plaintext", &addr, "list"])).await;
    assert!(ok, "{out}");
    assert!(out.contains("settlement.v1.SettlementService"), "{out}");
    let (ok, out) = run(s(&[
        "-plaintext",
        &addr,
        "describe",
        "settlement.v1.SettlementService",
    ]))
    .await;
    assert!(ok && out.contains("rpc WatchTransactions"), "{out}");

    let body = r#"{"idempotency_key":"cli-1","provider":"sb","account":"acc-1","amount":{"currency_code":"EUR","minor_units":"1250"}}"#;
    let header = format!("x-api-key: {key}");
    let debit_args = s(&[
        "-plaintext",
        "-H",
        &header,
        "-d",
        body,
        &addr,
        "settlement.v1.SettlementService/Debit",
    ]);
    let (ok, out) = run(debit_args.clone()).await;
    assert!(ok && out.contains("TRANSACTION_STATE_SETTLED"), "{out}");
    assert!(!out.contains("\"replay\""), "{out}");
    let (ok, out) = run(debit_args).await;
    assert!(ok && out.contains("\"replay\": true"), "{out}");
    assert_eq!(sb.balance("acc-1"), Some(98_750));

    let bad = body.replace("1250", "0");
    let (ok, out) = run(s(&[
        "-plaintext",
        "-H",
        &header,
        "-d",
        &bad,
        &addr,
        "settlement.v1.SettlementService/Debit",
    ]))
    .await;
    assert!(!ok, "{out}");
    assert!(
        out.contains("InvalidArgument") && out.contains("amount.minor_units"),
        "{out}"
    );
    assert!(
        out.contains("google.rpc.BadRequest") && !out.contains("not recognized"),
        "{out}"
    );

    let (ok, out) = run(s(&[
        "-plaintext",
        "-d",
        r#"{"service":"settlement.v1.SettlementService"}"#,
        &addr,
        "grpc.health.v1.Health/Check",
    ]))
    .await;
    assert!(ok && out.contains("SERVING"), "{out}");
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keys_command_creates_lists_and_revokes() {
    let sb = sandbox().await;
    let (dir, path) = journal_path();
    let cfg_path = dir.path().join("hub.toml");
    std::fs::write(
        &cfg_path,
        format!(
            "[journal]\npath = \"{}\"\n[providers.sb]\ndialect = \"json-hmac\"\nbase_url = \"http://{}\"\nsecret = \"{SECRET}\"\noperator = \"hub\"\ntimeout = \"3s\"\n[partners.p1]\nproviders = [\"sb\"]\n",
            path.display(),
            sb.addr()
        ),
    )
    .unwrap();
    let hub_cmd = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_hub"))
            .arg("--config")
            .arg(&cfg_path)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, key, err) = hub_cmd(&["keys", "create", "--partner", "p1", "--label", "ci"]);
    assert!(ok, "{err}");
    let key = key.trim().to_owned();
    assert!(key.starts_with("hk_"), "{key}");
    let (ok, _, err) = hub_cmd(&["keys", "create", "--partner", "ghost"]);
    assert!(!ok && err.contains("--partner"), "{err}");

    // The key works against a hub on the same journal.
    let hub = TestHub::start(path, sb.addr()).await;
    let mut c = hub.client_with(Some(key.clone())).await;
    c.debit(debit("cli", "acc-1", 5)).await.unwrap();

    let (ok, list, _) = hub_cmd(&["keys", "list"]);
    let id = &key[3..19];
    assert!(ok && list.contains(id) && list.contains("active"), "{list}");
    assert!(!list.contains(&key[20..]), "the secret never shows again");
    let (ok, _, err) = hub_cmd(&["keys", "revoke", id]);
    assert!(ok, "{err}");
    let (ok, _, err) = hub_cmd(&["keys", "revoke", "ffffffffffffffff"]);
    assert!(!ok && err.contains("no key"), "{err}");
    let (_, list, _) = hub_cmd(&["keys", "list", "--partner", "p1"]);
    assert!(list.contains("revoked"), "{list}");

    // Revocation reaches the running hub once its cache entry expires.
    tokio::time::sleep(hub::auth::CACHE_TTL + Duration::from_millis(200)).await;
    let err = c.debit(debit("cli-2", "acc-1", 5)).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    hub.stop().await;
}

/// SIGTERM and SIGINT on a real `hub serve` process: the call in flight
/// finishes settled, then the process exits cleanly and stops listening.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_and_sigint_stop_a_hub_process_after_its_call_in_flight() {
    for signal in ["TERM", "INT"] {
        let sb = sandbox().await;
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("hub.db");
        let file = dir.path().join("hub.toml");
        let partners = format!("[partners.p1]\nproviders = [\"{PROVIDER}\"]\n");
        let providers = hmac_provider(PROVIDER, sb.addr(), "");
        std::fs::write(&file, config_text(&journal, &providers, &partners)).unwrap();
        let key = {
            let j = hub::journal::SqliteJournal::open(&journal).unwrap();
            let k = hub::auth::generate_key(&hub::domain::PartnerId::parse("p1").unwrap(), "t", 0);
            j.insert_key(k.record).await.unwrap();
            k.key
        };
        sb.set_fault(
            Fault::new(FaultKind::Latency(Duration::from_millis(800)))
                .on_path("/v1/debit")
                .times(1),
        );
        let mut hub = HubProcess::start(&file, free_port()).await;
        let channel = tonic::transport::Channel::from_shared(format!("http://{}", hub.addr))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut c = pb::settlement_service_client::SettlementServiceClient::new(channel);
        let mut request = tonic::Request::new(debit("k-1", "acc-1", 250));
        request
            .metadata_mut()
            .insert("x-api-key", key.parse().unwrap());
        let call = tokio::spawn(async move { c.debit(request).await });
        // Signal only once the debit is held at the provider.
        for _ in 0..200 {
            if sb.money_requests() == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            sb.money_requests(),
            1,
            "SIG{signal}: the debit never arrived"
        );
        let sent = std::process::Command::new("kill")
            .args([format!("-{signal}"), hub.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());

        let tx = call
            .await
            .unwrap()
            .unwrap()
            .into_inner()
            .transaction
            .unwrap();
        assert_eq!(state(&tx), pb::TransactionState::Settled, "SIG{signal}");
        assert_eq!(sb.balance("acc-1"), Some(99_750), "SIG{signal}");
        let mut exit = None;
        for _ in 0..200 {
            exit = hub.child.try_wait().unwrap();
            if exit.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let exit = exit.unwrap_or_else(|| panic!("SIG{signal}: the hub did not exit"));
        assert!(exit.success(), "SIG{signal}: {exit}");
        assert!(
            tokio::net::TcpStream::connect(hub.addr).await.is_err(),
            "SIG{signal}: still listening"
        );
        // The journal agrees with the provider after the stop.
        let j = hub::journal::SqliteJournal::open(&journal).unwrap();
        let rows = j.scan(0, 10).await.unwrap();
        assert_eq!(rows.len(), 1, "SIG{signal}");
        assert_eq!(rows[0].state, hub::domain::TxState::Settled, "SIG{signal}");
    }
}
