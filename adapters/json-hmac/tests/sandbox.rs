//! The adapter against the real sandbox json-hmac provider on an ephemeral
//! loopback port: every classification that needs a live exchange, with the
//! provider's ledger checked after each call.

use std::time::Duration;

use adapter_api::{
    AccountId, Adapter, AdapterError, BalanceRequest, Currency, DeclineReason, Direction, Money,
    MoneyRequest, Outcome, ProviderTxId, RollbackRequest, Settlement, StatusRequest, TxKind,
    TxStatus,
};
use adapter_json_hmac::transformer::MalformedReply;
use adapter_json_hmac::{JsonHmacAdapter, JsonHmacConfig};
use sandbox_json_hmac::{Fault, FaultKind, Sandbox, SandboxConfig};

const SECRET: &str = "integration-secret";
const OPERATOR: &str = "hub";

fn eur() -> Currency {
    Currency::from_code("EUR").unwrap()
}

fn usd() -> Currency {
    Currency::from_code("USD").unwrap()
}

async fn sandbox() -> Sandbox {
    Sandbox::start_local(SandboxConfig {
        secret: SECRET.into(),
        operator: OPERATOR.into(),
        control: false,
    })
    .await
    .unwrap()
}

fn adapter_for(base_url: String, secret: &str, operator: &str) -> JsonHmacAdapter {
    JsonHmacAdapter::new(JsonHmacConfig {
        base_url,
        secret: secret.into(),
        operator: operator.into(),
        ca_file: None,
    })
    .unwrap()
}

/// A sandbox with `acc-1` holding EUR 100.00, and an adapter for it.
async fn setup() -> (Sandbox, JsonHmacAdapter) {
    let sandbox = sandbox().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    let adapter = adapter_for(sandbox.base_url(), SECRET, OPERATOR);
    (sandbox, adapter)
}

fn money(direction: Direction, tx_id: &str, account: &str, amount: Money) -> MoneyRequest {
    MoneyRequest {
        direction,
        tx_id: ProviderTxId::new(tx_id),
        account: AccountId::new(account),
        amount,
        reference: Some("round-1".into()),
    }
}

fn debit(tx_id: &str, minor_units: i64) -> MoneyRequest {
    money(
        Direction::Debit,
        tx_id,
        "acc-1",
        Money::new(eur(), minor_units),
    )
}

fn credit(tx_id: &str, minor_units: i64) -> MoneyRequest {
    money(
        Direction::Credit,
        tx_id,
        "acc-1",
        Money::new(eur(), minor_units),
    )
}

fn rollback(tx_id: &str, original: &str, minor_units: Option<i64>) -> RollbackRequest {
    RollbackRequest {
        tx_id: ProviderTxId::new(tx_id),
        original_tx_id: ProviderTxId::new(original),
        account: AccountId::new("acc-1"),
        amount: minor_units.map(|m| Money::new(eur(), m)),
    }
}

fn balance_of(account: &str, currency: Currency) -> BalanceRequest {
    BalanceRequest {
        account: AccountId::new(account),
        currency,
    }
}

fn status_of(tx_id: &str, kind: TxKind, minor_units: Option<i64>) -> StatusRequest {
    StatusRequest {
        tx_id: ProviderTxId::new(tx_id),
        kind,
        account: AccountId::new("acc-1"),
        amount: minor_units.map(|m| Money::new(eur(), m)),
    }
}

#[track_caller]
fn assert_applied(status: TxStatus) {
    match status {
        TxStatus::Applied(settlement) => assert_eq!(settlement, Settlement::default()),
        other => panic!("expected Applied, got {other:?}"),
    }
}

#[track_caller]
fn assert_settled(outcome: Outcome, balance: Option<i64>) -> Settlement {
    match outcome {
        Outcome::Settled(settlement) => {
            assert_eq!(
                settlement.balance_after,
                balance.map(|b| Money::new(eur(), b))
            );
            settlement
        }
        other => panic!("expected Settled, got {other:?}"),
    }
}

#[tokio::test]
async fn debit_credit_rollback_and_balance_move_the_providers_ledger() {
    let (sandbox, adapter) = setup().await;

    let settled = assert_settled(adapter.transfer(&debit("d-1", 250)).await, Some(9_750));
    let debit_ref = settled.provider_ref.unwrap();
    assert!(!debit_ref.is_empty());
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));

    let settled = assert_settled(adapter.transfer(&credit("c-1", 1_000)).await, Some(10_750));
    assert_ne!(settled.provider_ref.as_deref(), Some(debit_ref.as_str()));
    assert_eq!(sandbox.balance("acc-1"), Some(10_750));

    assert_eq!(
        adapter.balance(&balance_of("acc-1", eur())).await.unwrap(),
        Money::new(eur(), 10_750)
    );

    let settled = assert_settled(
        adapter.rollback(&rollback("r-1", "d-1", Some(250))).await,
        Some(11_000),
    );
    assert_eq!(settled.provider_ref, None);
    assert_eq!(sandbox.balance("acc-1"), Some(11_000));

    // Without the amount the wire gives no currency for the balance.
    let settled = assert_settled(adapter.transfer(&debit("d-2", 1_000)).await, Some(10_000));
    assert!(settled.provider_ref.is_some());
    assert_settled(adapter.rollback(&rollback("r-2", "d-2", None)).await, None);
    assert_eq!(sandbox.balance("acc-1"), Some(11_000));

    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_repeated_tx_id_replays_and_moves_nothing() {
    let (sandbox, adapter) = setup().await;
    let first = assert_settled(adapter.transfer(&debit("d-1", 250)).await, Some(9_750));
    let again = assert_settled(adapter.transfer(&debit("d-1", 250)).await, Some(9_750));
    assert_eq!(first, again);
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));
    assert_eq!(sandbox.requests_for("d-1"), 2);

    let first = assert_settled(
        adapter.rollback(&rollback("r-1", "d-1", Some(250))).await,
        Some(10_000),
    );
    let again = assert_settled(
        adapter.rollback(&rollback("r-1", "d-1", Some(250))).await,
        Some(10_000),
    );
    assert_eq!(first, again);
    assert_eq!(sandbox.balance("acc-1"), Some(10_000));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn rollback_rules_are_normalized() {
    let (sandbox, adapter) = setup().await;

    // Never applied (never sent): nothing to reverse, acknowledged.
    let settled = assert_settled(
        adapter
            .rollback(&rollback("r-0", "d-unknown", Some(250)))
            .await,
        None,
    );
    assert_eq!(settled, Settlement::default());
    assert_eq!(sandbox.balance("acc-1"), Some(10_000));

    // A declined debit was never applied either.
    assert!(matches!(
        adapter.transfer(&debit("d-big", 1_000_000)).await,
        Outcome::Declined(DeclineReason::InsufficientFunds)
    ));
    assert_eq!(
        assert_settled(
            adapter
                .rollback(&rollback("r-big", "d-big", Some(1_000_000)))
                .await,
            None
        ),
        Settlement::default()
    );
    assert_eq!(sandbox.balance("acc-1"), Some(10_000));

    // A credit cannot be rolled back.
    assert_settled(adapter.transfer(&credit("c-1", 500)).await, Some(10_500));
    assert!(matches!(
        adapter.rollback(&rollback("r-c", "c-1", Some(500))).await,
        Outcome::Declined(DeclineReason::NotReversible)
    ));
    assert_eq!(sandbox.balance("acc-1"), Some(10_500));

    // A second rollback of one debit under another id: the provider replays
    // the first rollback's reply; reversed once, nothing moves again, and
    // the stale balance of that reply is not reported as ours.
    assert_settled(adapter.transfer(&debit("d-1", 300)).await, Some(10_200));
    assert_settled(
        adapter.rollback(&rollback("r-1", "d-1", Some(300))).await,
        Some(10_500),
    );
    assert_settled(adapter.transfer(&debit("d-2", 100)).await, Some(10_400));
    let second = assert_settled(
        adapter.rollback(&rollback("r-1b", "d-1", Some(300))).await,
        None,
    );
    assert_eq!(second, Settlement::default());
    assert_eq!(sandbox.balance("acc-1"), Some(10_400));

    sandbox.shutdown().await;
}

#[tokio::test]
async fn declines_are_classified_and_move_nothing() {
    let (sandbox, adapter) = setup().await;
    sandbox.seed("acc-blocked", "EUR", 10_000);
    sandbox.block("acc-blocked");
    sandbox.seed("acc-limited", "EUR", 10_000);
    sandbox.set_limit("acc-limited", Some(100));

    let cases = [
        (debit("d-1", 10_001), DeclineReason::InsufficientFunds),
        (
            money(Direction::Debit, "d-2", "acc-blocked", Money::new(eur(), 1)),
            DeclineReason::AccountBlocked,
        ),
        (
            money(
                Direction::Credit,
                "c-2",
                "acc-blocked",
                Money::new(eur(), 1),
            ),
            DeclineReason::AccountBlocked,
        ),
        (
            money(
                Direction::Debit,
                "d-3",
                "acc-limited",
                Money::new(eur(), 101),
            ),
            DeclineReason::LimitExceeded,
        ),
        (
            money(Direction::Debit, "d-4", "acc-1", Money::new(usd(), 1)),
            DeclineReason::WrongCurrency,
        ),
        (
            money(Direction::Credit, "c-5", "acc-nobody", Money::new(eur(), 1)),
            DeclineReason::UnknownAccount,
        ),
    ];
    for (req, expected) in cases {
        match adapter.transfer(&req).await {
            Outcome::Declined(reason) => assert_eq!(reason, expected, "{}", req.tx_id),
            other => panic!(
                "{}: expected Declined({expected:?}), got {other:?}",
                req.tx_id
            ),
        }
    }
    assert_eq!(sandbox.balance("acc-1"), Some(10_000));
    assert_eq!(sandbox.balance("acc-blocked"), Some(10_000));
    assert_eq!(sandbox.balance("acc-limited"), Some(10_000));

    // A declined id replays its decline.
    assert!(matches!(
        adapter.transfer(&debit("d-1", 10_001)).await,
        Outcome::Declined(DeclineReason::InsufficientFunds)
    ));

    assert!(matches!(
        adapter.balance(&balance_of("acc-nobody", eur())).await,
        Err(AdapterError::Declined(DeclineReason::UnknownAccount))
    ));
    assert!(matches!(
        adapter.balance(&balance_of("acc-1", usd())).await,
        Err(AdapterError::Declined(DeclineReason::WrongCurrency))
    ));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_wrong_secret_or_operator_is_rejected_before_processing() {
    let (sandbox, _) = setup().await;
    let wrong_secret = adapter_for(sandbox.base_url(), "not-the-secret", OPERATOR);
    let wrong_operator = adapter_for(sandbox.base_url(), SECRET, "someone-else");

    for adapter in [&wrong_secret, &wrong_operator] {
        assert!(matches!(
            adapter.transfer(&debit("d-1", 250)).await,
            Outcome::NotProcessed(AdapterError::Rejected {
                code: "INVALID_SIGNATURE"
            })
        ));
        assert!(matches!(
            adapter.rollback(&rollback("r-1", "d-1", None)).await,
            Outcome::NotProcessed(AdapterError::Rejected {
                code: "INVALID_SIGNATURE"
            })
        ));
        assert!(matches!(
            adapter.balance(&balance_of("acc-1", eur())).await,
            Err(AdapterError::Rejected {
                code: "INVALID_SIGNATURE"
            })
        ));
    }
    assert_eq!(sandbox.balance("acc-1"), Some(10_000));
    assert_eq!(sandbox.requests_for("d-1"), 2);

    // NotProcessed means a retry with the same id is safe: it settles once.
    let good = adapter_for(sandbox.base_url(), SECRET, OPERATOR);
    assert_settled(good.transfer(&debit("d-1", 250)).await, Some(9_750));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn connection_refused_is_not_processed() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let adapter = adapter_for(format!("http://{addr}"), SECRET, OPERATOR);

    match adapter.transfer(&debit("d-1", 250)).await {
        Outcome::NotProcessed(AdapterError::Connect(_)) => {}
        other => panic!("expected NotProcessed(Connect), got {other:?}"),
    }
    assert!(matches!(
        adapter.rollback(&rollback("r-1", "d-1", None)).await,
        Outcome::NotProcessed(AdapterError::Connect(_))
    ));
    assert!(matches!(
        adapter.balance(&balance_of("acc-1", eur())).await,
        Err(AdapterError::Connect(_))
    ));
}

#[tokio::test]
async fn drop_after_commit_is_unknown_but_the_money_moved() {
    let (sandbox, adapter) = setup().await;
    sandbox.set_fault(
        Fault::new(FaultKind::DropAfterCommit)
            .on_path("/v1/debit")
            .times(1),
    );

    match adapter.transfer(&debit("d-1", 250)).await {
        Outcome::Unknown(AdapterError::Transport(_)) => {}
        other => panic!("expected Unknown(Transport), got {other:?}"),
    }
    assert_eq!(
        sandbox.balance("acc-1"),
        Some(9_750),
        "the provider applied it"
    );

    // The same id again (the hub's resolution) settles without moving more.
    assert_settled(adapter.transfer(&debit("d-1", 250)).await, Some(9_750));
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));
    assert_eq!(sandbox.requests_for("d-1"), 2);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn server_error_after_commit_is_unknown() {
    let (sandbox, adapter) = setup().await;
    sandbox.set_fault(
        Fault::new(FaultKind::ServerErrorAfterCommit)
            .on_path("/v1/credit")
            .times(1),
    );
    match adapter.transfer(&credit("c-1", 250)).await {
        Outcome::Unknown(AdapterError::HttpStatus { status: 500 }) => {}
        other => panic!("expected Unknown(HttpStatus 500), got {other:?}"),
    }
    assert_eq!(
        sandbox.balance("acc-1"),
        Some(10_250),
        "the provider applied it"
    );

    assert_settled(adapter.transfer(&debit("d-1", 250)).await, Some(10_000));
    sandbox.set_fault(
        Fault::new(FaultKind::ServerErrorAfterCommit)
            .on_path("/v1/rollback")
            .times(1),
    );
    match adapter.rollback(&rollback("r-1", "d-1", Some(250))).await {
        Outcome::Unknown(AdapterError::HttpStatus { status: 500 }) => {}
        other => panic!("expected Unknown(HttpStatus 500), got {other:?}"),
    }
    assert_eq!(
        sandbox.balance("acc-1"),
        Some(10_250),
        "the rollback applied"
    );

    // Resolution with the same ids settles without moving more.
    assert_settled(adapter.transfer(&credit("c-1", 250)).await, Some(10_250));
    assert_settled(
        adapter.rollback(&rollback("r-1", "d-1", Some(250))).await,
        Some(10_250),
    );
    assert_eq!(sandbox.balance("acc-1"), Some(10_250));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn service_unavailable_is_unknown_too() {
    // The sandbox's 503 fault processes nothing, but the spec does not
    // promise that for any 5xx after the body was sent.
    let (sandbox, adapter) = setup().await;
    sandbox.set_fault(Fault::new(FaultKind::ErrorRate(1.0)));
    assert!(matches!(
        adapter.transfer(&debit("d-1", 250)).await,
        Outcome::Unknown(AdapterError::HttpStatus { status: 503 })
    ));
    assert!(matches!(
        adapter.balance(&balance_of("acc-1", eur())).await,
        Err(AdapterError::HttpStatus { status: 503 })
    ));
    assert_eq!(sandbox.balance("acc-1"), Some(10_000));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_garbage_reply_is_unknown_malformed() {
    let (sandbox, adapter) = setup().await;
    sandbox.set_fault(Fault::new(FaultKind::Garbage));

    match adapter.transfer(&debit("d-1", 250)).await {
        Outcome::Unknown(AdapterError::Malformed(source)) => {
            assert!(source.downcast_ref::<MalformedReply>().is_some());
        }
        other => panic!("expected Unknown(Malformed), got {other:?}"),
    }
    assert_eq!(
        sandbox.balance("acc-1"),
        Some(9_750),
        "the provider applied it"
    );
    assert!(matches!(
        adapter.rollback(&rollback("r-1", "d-1", Some(250))).await,
        Outcome::Unknown(AdapterError::Malformed(_))
    ));
    assert_eq!(
        sandbox.balance("acc-1"),
        Some(10_000),
        "the rollback applied"
    );
    assert!(matches!(
        adapter.balance(&balance_of("acc-1", eur())).await,
        Err(AdapterError::Malformed(_))
    ));

    sandbox.clear_faults();
    assert_settled(adapter.transfer(&debit("d-1", 250)).await, Some(9_750));
    assert_eq!(sandbox.balance("acc-1"), Some(10_000));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_hung_provider_is_cut_off_by_the_callers_deadline() {
    let (sandbox, adapter) = setup().await;
    sandbox.set_fault(Fault::new(FaultKind::Hang).on_path("/v1/debit"));

    // The adapter has no timeout of its own; the deadline is the caller's,
    // and dropping the future cancels the exchange.
    let cut = tokio::time::timeout(
        Duration::from_millis(300),
        adapter.transfer(&debit("d-1", 250)),
    )
    .await;
    assert!(
        cut.is_err(),
        "the adapter answered a hung provider: {cut:?}"
    );
    assert_eq!(
        sandbox.requests_for("d-1"),
        1,
        "the request reached the provider"
    );
    assert_eq!(
        sandbox.balance("acc-1"),
        Some(10_000),
        "nothing applied while hung"
    );

    // Other calls are not held up by the abandoned one.
    assert_eq!(
        adapter.balance(&balance_of("acc-1", eur())).await.unwrap(),
        Money::new(eur(), 10_000)
    );

    // Resolving with the same id settles exactly once, whatever became of
    // the abandoned request when the hang was released.
    sandbox.clear_faults();
    assert_settled(adapter.transfer(&debit("d-1", 250)).await, Some(9_750));
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn concurrent_calls_share_the_adapter() {
    let (sandbox, adapter) = setup().await;
    let adapter = std::sync::Arc::new(adapter);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let adapter = adapter.clone();
        tasks.spawn(async move { adapter.transfer(&debit(&format!("d-{i}"), 100)).await });
    }
    while let Some(outcome) = tasks.join_next().await {
        assert!(matches!(outcome.unwrap(), Outcome::Settled(_)));
    }
    assert_eq!(sandbox.balance("acc-1"), Some(8_000));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn status_tells_what_became_of_each_transaction() {
    let (sandbox, adapter) = setup().await;
    assert!(adapter.descriptor().capabilities.status);

    assert_settled(adapter.transfer(&debit("d-1", 250)).await, Some(9_750));
    assert_settled(adapter.transfer(&credit("c-1", 1_000)).await, Some(10_750));
    assert_applied(
        adapter
            .status(&status_of("d-1", TxKind::Debit, Some(250)))
            .await,
    );
    assert_applied(adapter.status(&status_of("d-1", TxKind::Debit, None)).await);
    assert_applied(
        adapter
            .status(&status_of("c-1", TxKind::Credit, Some(1_000)))
            .await,
    );

    // After the rollback the debit reads as rolled back, and the rollback
    // itself as applied (with the reversed debit's amount).
    assert_settled(
        adapter.rollback(&rollback("r-1", "d-1", Some(250))).await,
        Some(11_000),
    );
    assert!(matches!(
        adapter
            .status(&status_of("d-1", TxKind::Debit, Some(250)))
            .await,
        TxStatus::RolledBack
    ));
    assert_applied(
        adapter
            .status(&status_of("r-1", TxKind::Rollback, Some(250)))
            .await,
    );

    // Never sent, or refused: the provider has no record that moved money.
    assert!(matches!(
        adapter
            .status(&status_of("d-never", TxKind::Debit, Some(250)))
            .await,
        TxStatus::NotFound
    ));
    assert!(matches!(
        adapter.transfer(&debit("d-big", 1_000_000)).await,
        Outcome::Declined(DeclineReason::InsufficientFunds)
    ));
    assert!(matches!(
        adapter
            .status(&status_of("d-big", TxKind::Debit, Some(1_000_000)))
            .await,
        TxStatus::NotFound
    ));

    // A record that is not what the hub sent under that id is not ours.
    for (req, why) in [
        (status_of("d-1", TxKind::Credit, Some(250)), "kind"),
        (status_of("c-1", TxKind::Credit, Some(999)), "amount"),
        (
            StatusRequest {
                amount: Some(Money::new(usd(), 1_000)),
                ..status_of("c-1", TxKind::Credit, None)
            },
            "currency",
        ),
    ] {
        match adapter.status(&req).await {
            TxStatus::Unknown(AdapterError::Malformed(source)) => {
                assert!(source.downcast_ref::<MalformedReply>().is_some(), "{why}");
            }
            other => panic!("{why}: expected Unknown(Malformed), got {other:?}"),
        }
    }

    // Queries move nothing and are not money requests.
    assert_eq!(sandbox.balance("acc-1"), Some(11_000));
    assert_eq!(sandbox.requests_for("d-1"), 1);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn status_resolves_a_drop_after_commit() {
    let (sandbox, adapter) = setup().await;
    sandbox.set_fault(
        Fault::new(FaultKind::DropAfterCommit)
            .on_path("/v1/debit")
            .times(1),
    );
    match adapter.transfer(&debit("d-1", 250)).await {
        Outcome::Unknown(AdapterError::Transport(_)) => {}
        other => panic!("expected Unknown(Transport), got {other:?}"),
    }

    // How the hub resolves the unknown outcome: the provider applied it.
    assert_applied(
        adapter
            .status(&status_of("d-1", TxKind::Debit, Some(250)))
            .await,
    );
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));
    assert_eq!(sandbox.requests_for("d-1"), 1, "the debit was sent once");

    // The same for a rollback whose answer was lost.
    sandbox.set_fault(
        Fault::new(FaultKind::DropAfterCommit)
            .on_path("/v1/rollback")
            .times(1),
    );
    assert!(matches!(
        adapter.rollback(&rollback("r-1", "d-1", Some(250))).await,
        Outcome::Unknown(AdapterError::Transport(_))
    ));
    assert_applied(
        adapter
            .status(&status_of("r-1", TxKind::Rollback, Some(250)))
            .await,
    );
    assert!(matches!(
        adapter
            .status(&status_of("d-1", TxKind::Debit, Some(250)))
            .await,
        TxStatus::RolledBack
    ));
    assert_eq!(sandbox.balance("acc-1"), Some(10_000));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn status_failures_are_unknown() {
    let (sandbox, adapter) = setup().await;
    assert_settled(adapter.transfer(&debit("d-1", 250)).await, Some(9_750));
    let req = status_of("d-1", TxKind::Debit, Some(250));

    sandbox.set_fault(Fault::new(FaultKind::Garbage).on_path("/v1/status"));
    assert!(matches!(
        adapter.status(&req).await,
        TxStatus::Unknown(AdapterError::Malformed(_))
    ));
    sandbox.clear_faults();
    sandbox.set_fault(Fault::new(FaultKind::ServerErrorAfterCommit).on_path("/v1/status"));
    assert!(matches!(
        adapter.status(&req).await,
        TxStatus::Unknown(AdapterError::HttpStatus { status: 500 })
    ));
    sandbox.clear_faults();
    sandbox.set_fault(Fault::new(FaultKind::ErrorRate(1.0)).on_path("/v1/status"));
    assert!(matches!(
        adapter.status(&req).await,
        TxStatus::Unknown(AdapterError::HttpStatus { status: 503 })
    ));
    sandbox.clear_faults();
    sandbox.set_fault(Fault::new(FaultKind::DropAfterCommit).on_path("/v1/status"));
    assert!(matches!(
        adapter.status(&req).await,
        TxStatus::Unknown(AdapterError::Transport(_))
    ));
    sandbox.clear_faults();

    let wrong_secret = adapter_for(sandbox.base_url(), "not-the-secret", OPERATOR);
    assert!(matches!(
        wrong_secret.status(&req).await,
        TxStatus::Unknown(AdapterError::Rejected {
            code: "INVALID_SIGNATURE"
        })
    ));

    // Once the provider answers again, the status is known.
    assert_applied(adapter.status(&req).await);
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));
    sandbox.shutdown().await;

    // Nothing listening: a status query moves nothing either way.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let gone = adapter_for(format!("http://{addr}"), SECRET, OPERATOR);
    assert!(matches!(
        gone.status(&req).await,
        TxStatus::Unknown(AdapterError::Connect(_))
    ));
}

#[tokio::test]
async fn an_adapter_built_from_settings_answers_status() {
    use adapter_api::AdapterFactory;

    let (sandbox, _) = setup().await;
    let adapter = adapter_json_hmac::Factory
        .build(&serde_json::json!({
            "base_url": sandbox.base_url(),
            "secret": SECRET,
            "operator": OPERATOR,
        }))
        .map_err(|e| e.to_string())
        .unwrap();
    assert!(adapter.descriptor().capabilities.status);
    assert_settled(adapter.transfer(&debit("d-1", 250)).await, Some(9_750));
    assert_applied(
        adapter
            .status(&status_of("d-1", TxKind::Debit, Some(250)))
            .await,
    );
    sandbox.shutdown().await;
}
