//! The bridge against fake plugins (tests/support): answers in and out of
//! contract, a wrong token, a plugin that crashes mid-call, one that hangs,
//! one that never answers Describe. Every fault is driven for real: the
//! fake's runtime is killed, its handler never returns, its socket is mute.

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use adapter_api::{
    AccountId, Adapter, AdapterError, AdapterFactory, BalanceRequest, Currency, DeclineReason,
    Direction, Money, MoneyRequest, Outcome, ProviderTxId, RollbackRequest, StatusRequest, TxKind,
    TxStatus,
};
use hub_proto::adapter::v1 as pb;
use support::{Listen, Mode, Running, State, settings, socket};

fn eur() -> Currency {
    Currency::from_code("EUR").unwrap()
}

fn debit(id: &str) -> MoneyRequest {
    MoneyRequest {
        direction: Direction::Debit,
        tx_id: ProviderTxId::new(id),
        account: AccountId::new("acc-1"),
        amount: Money::new(eur(), 250),
        reference: None,
    }
}

fn build(address: &str) -> Arc<dyn Adapter> {
    adapter_plugin::Factory
        .build(&settings(address))
        .expect("the plugin describes itself")
}

fn describe_outcome(o: &Outcome) -> String {
    format!("{o:?}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_contract_answers_over_a_unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let state = State::new(Mode::Honest);
    let plugin = Running::start(Listen::Unix(socket(dir.path(), "p")), state.clone());
    let adapter = build(&plugin.address);

    let d = adapter.descriptor();
    assert_eq!(d.dialect, adapter_plugin::DIALECT);
    assert!(d.capabilities.balance && d.capabilities.status);
    assert_eq!(d.default_timeout, Duration::from_secs(2));

    match adapter.transfer(&debit("tx-1")).await {
        Outcome::Settled(s) => {
            assert_eq!(s.balance_after, Some(Money::new(eur(), 1000)));
            assert_eq!(s.provider_ref.as_deref(), Some("fake-1"));
        }
        other => panic!("{other:?}"),
    }
    let rollback = adapter
        .rollback(&RollbackRequest {
            tx_id: ProviderTxId::new("rb-1"),
            original_tx_id: ProviderTxId::new("tx-1"),
            account: AccountId::new("acc-1"),
            amount: Some(Money::new(eur(), 250)),
        })
        .await;
    assert!(matches!(rollback, Outcome::Settled(_)), "{rollback:?}");
    let balance = adapter
        .balance(&BalanceRequest {
            account: AccountId::new("acc-1"),
            currency: eur(),
        })
        .await;
    assert_eq!(balance.ok(), Some(Money::new(eur(), 1000)));
    let status = adapter
        .status(&StatusRequest {
            tx_id: ProviderTxId::new("tx-1"),
            kind: TxKind::Debit,
            account: AccountId::new("acc-1"),
            amount: Some(Money::new(eur(), 250)),
        })
        .await;
    assert!(matches!(status, TxStatus::Applied(_)), "{status:?}");

    // A declined answer is trusted when it is in contract.
    state.set(Mode::Transfer(pb::TransferResponse {
        transaction_id: "tx-2".into(),
        outcome: pb::Outcome::Declined as i32,
        decline_reason: pb::DeclineReason::InsufficientFunds as i32,
        ..Default::default()
    }));
    assert!(matches!(
        adapter.transfer(&debit("tx-2")).await,
        Outcome::Declined(DeclineReason::InsufficientFunds)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_tcp_works_too() {
    let plugin = Running::start(Listen::Tcp, State::new(Mode::Honest));
    assert!(plugin.address.starts_with("127.0.0.1:"));
    let adapter = build(&plugin.address);
    let o = adapter.transfer(&debit("tx-1")).await;
    assert!(matches!(o, Outcome::Settled(_)), "{o:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_is_not_processed_and_the_plugin_does_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let state = State::new(Mode::Honest);
    let plugin = Running::start(Listen::Unix(socket(dir.path(), "p")), state.clone());

    // At build: Describe is refused, so the provider is not built.
    let mut wrong = settings(&plugin.address);
    wrong["token"] = "not-the-token".into();
    let error = adapter_plugin::Factory
        .build(&wrong)
        .err()
        .expect("refused");
    assert_eq!(error.field, "address");
    assert!(error.reason.contains("token"), "{}", error.reason);
    assert!(!error.reason.contains("not-the-token"), "{}", error.reason);

    // Later (the plugin's token rotated): money calls are NotProcessed.
    let adapter = build(&plugin.address);
    *state.token.lock().unwrap() = "rotated".into();
    let o = adapter.transfer(&debit("tx-1")).await;
    assert!(
        matches!(
            o,
            Outcome::NotProcessed(AdapterError::Rejected {
                code: "UNAUTHENTICATED"
            })
        ),
        "{o:?}"
    );
    assert_eq!(state.transfers.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_contract_answers_are_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let state = State::new(Mode::Honest);
    let plugin = Running::start(Listen::Unix(socket(dir.path(), "p")), state.clone());
    let adapter = build(&plugin.address);

    let settled = || pb::TransferResponse {
        transaction_id: "tx-1".into(),
        outcome: pb::Outcome::Settled as i32,
        ..Default::default()
    };
    let answers = [
        (
            "unknown outcome value",
            Mode::Transfer(pb::TransferResponse {
                outcome: 42,
                ..settled()
            }),
        ),
        (
            "wrong transaction id",
            Mode::Transfer(pb::TransferResponse {
                transaction_id: "someone-else".into(),
                ..settled()
            }),
        ),
        (
            "missing transaction id",
            Mode::Transfer(pb::TransferResponse {
                transaction_id: String::new(),
                ..settled()
            }),
        ),
        (
            "declined without a reason",
            Mode::Transfer(pb::TransferResponse {
                outcome: pb::Outcome::Declined as i32,
                ..settled()
            }),
        ),
        (
            "not processed without a reason",
            Mode::Transfer(pb::TransferResponse {
                outcome: pb::Outcome::NotProcessed as i32,
                ..settled()
            }),
        ),
        (
            "balance in another currency",
            Mode::Transfer(pb::TransferResponse {
                balance_after: Some(pb::Money {
                    currency_code: "USD".into(),
                    minor_units: 1,
                }),
                ..settled()
            }),
        ),
        (
            "oversized reply",
            Mode::Transfer(pb::TransferResponse {
                provider_reference: "x".repeat(adapter_plugin::MAX_REPLY_BYTES + 1),
                ..settled()
            }),
        ),
        (
            "an empty message",
            Mode::Transfer(pb::TransferResponse::default()),
        ),
        ("gRPC INTERNAL", Mode::Fail(tonic::Code::Internal)),
        ("gRPC UNAVAILABLE", Mode::Fail(tonic::Code::Unavailable)),
        ("gRPC UNIMPLEMENTED", Mode::Fail(tonic::Code::Unimplemented)),
        (
            "gRPC OK-less PERMISSION_DENIED",
            Mode::Fail(tonic::Code::PermissionDenied),
        ),
    ];
    for (what, mode) in answers {
        state.set(mode);
        let o = adapter.transfer(&debit("tx-1")).await;
        assert!(
            matches!(o, Outcome::Unknown(_)),
            "{what}: {}",
            describe_outcome(&o)
        );
    }
    // The connection survives all of that.
    state.set(Mode::Honest);
    let o = adapter.transfer(&debit("tx-1")).await;
    assert!(matches!(o, Outcome::Settled(_)), "{o:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_that_crashes_mid_call_is_unknown_then_not_processed_until_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let path = socket(dir.path(), "p");
    let state = State::new(Mode::Hang);
    let plugin = Running::start(Listen::Unix(path.clone()), state.clone());
    let adapter = build(&plugin.address);

    let call = {
        let adapter = adapter.clone();
        tokio::spawn(async move { adapter.transfer(&debit("tx-1")).await })
    };
    tokio::time::timeout(Duration::from_secs(5), state.entered.notified())
        .await
        .expect("the call reached the plugin");
    plugin.crash();
    let o = tokio::time::timeout(Duration::from_secs(5), call)
        .await
        .expect("a crash ends the call")
        .unwrap();
    // The plugin had the call: it may have acted on it.
    assert!(
        matches!(o, Outcome::Unknown(AdapterError::Transport(_))),
        "{o:?}"
    );

    // Nobody listens any more: provably nothing is sent. (A call made
    // before the client has noticed the dead connection is written into it,
    // and that one is honestly Unknown; the next ones must connect anew.)
    let mut o = adapter.transfer(&debit("tx-2")).await;
    for _ in 0..20 {
        if !matches!(o, Outcome::Unknown(AdapterError::Transport(_))) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
        o = adapter.transfer(&debit("tx-2")).await;
    }
    assert!(
        matches!(o, Outcome::NotProcessed(AdapterError::Connect(_))),
        "{o:?}"
    );

    // The plugin comes back at the same address: the bridge reconnects.
    let back = State::new(Mode::Honest);
    let _plugin = Running::start(Listen::Unix(path), back.clone());
    let o = adapter.transfer(&debit("tx-3")).await;
    assert!(matches!(o, Outcome::Settled(_)), "{o:?}");
    assert_eq!(back.transfers.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_plugin_is_cut_by_the_deadline_and_the_call_is_cancelled_there() {
    let dir = tempfile::tempdir().unwrap();
    let state = State::new(Mode::Hang);
    let plugin = Running::start(Listen::Unix(socket(dir.path(), "p")), state.clone());
    let adapter = build(&plugin.address);

    // The bridge never times out on its own; the hub's deadline (here the
    // same tokio timeout the hub's attempt layer uses) drops the call.
    let started = std::time::Instant::now();
    let cut =
        tokio::time::timeout(Duration::from_millis(300), adapter.transfer(&debit("tx-1"))).await;
    assert!(cut.is_err(), "a hanging plugin never answers");
    assert!(started.elapsed() < Duration::from_secs(2));

    // Dropping the call resets the stream: the plugin's handler is dropped.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while state.cancelled.load(Ordering::SeqCst) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the plugin never saw the cancellation"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // And the channel is still usable.
    state.set(Mode::Honest);
    let o = adapter.transfer(&debit("tx-2")).await;
    assert!(matches!(o, Outcome::Settled(_)), "{o:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_that_never_answers_describe_fails_the_build_in_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = socket(dir.path(), "mute");
    // Accepts connections and never says a word.
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let mut s = settings(&format!("unix:{}", path.display()));
    s["describe_timeout"] = "300ms".into();
    let started = std::time::Instant::now();
    let error = adapter_plugin::Factory
        .build(&s)
        .err()
        .expect("no descriptor");
    assert_eq!(error.field, "address");
    assert!(error.reason.contains("no answer"), "{}", error.reason);
    assert!(started.elapsed() < Duration::from_secs(3));
    holder.abort();

    // Nothing listening at all.
    let s = settings(&format!(
        "unix:{}",
        dir.path().join("absent.sock").display()
    ));
    let error = adapter_plugin::Factory.build(&s).err().expect("no plugin");
    assert!(
        error.reason.contains("could not connect"),
        "{}",
        error.reason
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_contract_descriptions_fail_the_build() {
    let dir = tempfile::tempdir().unwrap();
    let state = State::new(Mode::Honest);
    state.describe.lock().unwrap().duplicates = 0;
    let plugin = Running::start(Listen::Unix(socket(dir.path(), "p")), state.clone());
    let error = adapter_plugin::Factory
        .build(&settings(&plugin.address))
        .err()
        .expect("refused");
    assert!(error.reason.contains("duplicates"), "{}", error.reason);
}

#[test]
fn settings_errors_name_the_field() {
    let cases = [
        (
            serde_json::json!({"address": "10.1.2.3:7000", "token": "t"}),
            "address",
        ),
        (serde_json::json!({"address": "unix:/x"}), "token"),
        (serde_json::json!({"token": "t"}), "address"),
        (
            serde_json::json!({"address": "unix:/x", "token": "t", "colour": "red"}),
            "colour",
        ),
        (
            serde_json::json!({"address": "unix:/x", "token": "t", "connect_timeout": "0s"}),
            "connect_timeout",
        ),
    ];
    for (s, field) in cases {
        let error = adapter_plugin::Factory.build(&s).err().expect("refused");
        assert_eq!(error.field, field, "{s}: {error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_are_not_sent_when_the_plugin_does_not_offer_them() {
    let dir = tempfile::tempdir().unwrap();
    let state = State::new(Mode::Honest);
    {
        let mut d = state.describe.lock().unwrap();
        d.balance = false;
        d.status = false;
    }
    let plugin = Running::start(Listen::Unix(socket(dir.path(), "p")), state);
    let adapter = build(&plugin.address);
    let balance = adapter
        .balance(&BalanceRequest {
            account: AccountId::new("acc-1"),
            currency: eur(),
        })
        .await;
    assert!(matches!(balance, Err(AdapterError::Unsupported)));
    let status = adapter
        .status(&StatusRequest {
            tx_id: ProviderTxId::new("tx-1"),
            kind: TxKind::Debit,
            account: AccountId::new("acc-1"),
            amount: None,
        })
        .await;
    assert!(matches!(
        status,
        TxStatus::Unknown(AdapterError::Unsupported)
    ));
}
