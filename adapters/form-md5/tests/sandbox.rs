//! The adapter against the real sandbox form-md5 provider on an ephemeral
//! loopback port: every classification that needs a live exchange, with the
//! provider's ledger checked after each call.

use std::sync::Arc;
use std::time::Duration;

use adapter_api::{
    AccountId, Adapter, AdapterError, BalanceRequest, Currency, DeclineReason, Direction, Money,
    MoneyRequest, Outcome, ProviderTxId, RollbackRequest, Settlement,
};
use adapter_form_md5::transformer::{InternalError, MalformedReply, REJECTED_INVALID_HASH};
use adapter_form_md5::{Clock, FormMd5Adapter, FormMd5Config, Timestamp};
use sandbox_form_md5::{Fault, FaultKind, Sandbox, SandboxConfig, TxState};

const SECRET: &str = "integration-secret";
const PROVIDER_ID: &str = "op1";
const NOW: u64 = 1_732_540_000_000;

#[derive(Debug)]
struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(NOW)
    }
}

fn eur() -> Currency {
    Currency::from_code("EUR").unwrap()
}

fn usd() -> Currency {
    Currency::from_code("USD").unwrap()
}

async fn sandbox() -> Sandbox {
    Sandbox::start_local(SandboxConfig {
        secret: SECRET.into(),
        provider_id: PROVIDER_ID.into(),
        control: false,
    })
    .await
    .unwrap()
}

fn adapter_for(base_url: String, secret: &str, provider_id: &str) -> FormMd5Adapter {
    FormMd5Adapter::with_clock(
        FormMd5Config {
            base_url,
            secret: secret.into(),
            provider_id: provider_id.into(),
            ca_file: None,
        },
        Arc::new(FixedClock),
    )
    .unwrap()
}

/// A sandbox with `acc-1` holding EUR 100.00, and an adapter for it.
async fn setup() -> (Sandbox, FormMd5Adapter) {
    let sandbox = sandbox().await;
    sandbox.seed("acc-1", "EUR", 10_000);
    let adapter = adapter_for(sandbox.base_url(), SECRET, PROVIDER_ID);
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

fn rollback(tx_id: &str, original: &str) -> RollbackRequest {
    RollbackRequest {
        tx_id: ProviderTxId::new(tx_id),
        original_tx_id: ProviderTxId::new(original),
        account: AccountId::new("acc-1"),
        amount: None,
    }
}

fn balance_of(account: &str, currency: Currency) -> BalanceRequest {
    BalanceRequest {
        account: AccountId::new(account),
        currency,
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

#[track_caller]
fn assert_malformed(error: &AdapterError) -> &MalformedReply {
    match error {
        AdapterError::Malformed(source) => source
            .downcast_ref::<MalformedReply>()
            .unwrap_or_else(|| panic!("not a MalformedReply: {source:?}")),
        other => panic!("expected Malformed, got {other:?}"),
    }
}

#[tokio::test]
async fn bet_result_refund_and_balance_move_the_providers_ledger() {
    let (sandbox, adapter) = setup().await;

    let settled = assert_settled(adapter.transfer(&debit("d-1", 250)).await, Some(9_750));
    let bet_ref = settled.provider_ref.unwrap();
    assert!(!bet_ref.is_empty());
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));
    let ledger = sandbox.ledger();
    let record = ledger.transaction("d-1").unwrap();
    assert_eq!(record.amount, 250);
    assert_eq!(record.currency, "EUR");
    assert_eq!(record.round_id.as_deref(), Some("round-1"));
    assert_eq!(record.timestamp.as_deref(), Some("1732540000000"));
    assert_eq!(record.transaction_id.as_deref(), Some(bet_ref.as_str()));

    let settled = assert_settled(adapter.transfer(&credit("c-1", 1_000)).await, Some(10_750));
    assert_ne!(settled.provider_ref.as_deref(), Some(bet_ref.as_str()));
    assert_eq!(sandbox.balance("acc-1"), Some(10_750));

    assert_eq!(
        adapter.balance(&balance_of("acc-1", eur())).await.unwrap(),
        Money::new(eur(), 10_750)
    );

    // A refund's reply carries no balance.
    let settled = assert_settled(adapter.rollback(&rollback("r-1", "d-1")).await, None);
    assert!(settled.provider_ref.is_some());
    assert_eq!(sandbox.balance("acc-1"), Some(11_000));
    assert_eq!(
        sandbox.ledger().transaction("d-1").map(|t| t.state),
        Some(TxState::Refunded)
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn amounts_keep_each_currencys_exponent() {
    let sandbox = sandbox().await;
    sandbox.seed("acc-jpy", "JPY", 10_000);
    sandbox.seed("acc-bhd", "BHD", 10_000);
    let adapter = adapter_for(sandbox.base_url(), SECRET, PROVIDER_ID);
    let jpy = Currency::from_code("JPY").unwrap();
    let bhd = Currency::from_code("BHD").unwrap();

    for (account, currency) in [("acc-jpy", jpy), ("acc-bhd", bhd)] {
        let req = money(
            Direction::Debit,
            &format!("d-{account}"),
            account,
            Money::new(currency, 1_251),
        );
        match adapter.transfer(&req).await {
            Outcome::Settled(s) => {
                assert_eq!(s.balance_after, Some(Money::new(currency, 8_749)));
            }
            other => panic!("{account}: expected Settled, got {other:?}"),
        }
        assert_eq!(sandbox.balance(account), Some(8_749));
        assert_eq!(
            adapter
                .balance(&balance_of(account, currency))
                .await
                .unwrap(),
            Money::new(currency, 8_749)
        );
    }
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_repeated_reference_replays_and_moves_nothing() {
    let (sandbox, adapter) = setup().await;
    let first = assert_settled(adapter.transfer(&debit("d-1", 250)).await, Some(9_750));
    let again = assert_settled(adapter.transfer(&debit("d-1", 250)).await, Some(9_750));
    assert_eq!(first, again);
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));
    assert_eq!(sandbox.requests_for("d-1"), 2);

    // A second refund of the bet, under the same or another rollback id
    // (which is not on the wire), replays the first refund.
    let first = assert_settled(adapter.rollback(&rollback("r-1", "d-1")).await, None);
    let again = assert_settled(adapter.rollback(&rollback("r-1", "d-1")).await, None);
    let other = assert_settled(adapter.rollback(&rollback("r-1b", "d-1")).await, None);
    assert_eq!(first, again);
    assert_eq!(first, other);
    assert_eq!(sandbox.balance("acc-1"), Some(10_000));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn rollback_rules_are_normalized() {
    let (sandbox, adapter) = setup().await;

    // Never applied (never sent): 7, nothing to reverse, acknowledged.
    let settled = assert_settled(adapter.rollback(&rollback("r-0", "d-unknown")).await, None);
    assert_eq!(settled, Settlement::default());
    assert_eq!(sandbox.balance("acc-1"), Some(10_000));

    // A declined bet was never applied either.
    assert!(matches!(
        adapter.transfer(&debit("d-big", 1_000_000)).await,
        Outcome::Declined(DeclineReason::InsufficientFunds)
    ));
    assert_eq!(
        assert_settled(adapter.rollback(&rollback("r-big", "d-big")).await, None),
        Settlement::default()
    );
    assert_eq!(sandbox.balance("acc-1"), Some(10_000));

    // A result cannot be refunded: 8.
    assert_settled(adapter.transfer(&credit("c-1", 500)).await, Some(10_500));
    assert!(matches!(
        adapter.rollback(&rollback("r-c", "c-1")).await,
        Outcome::Declined(DeclineReason::NotReversible)
    ));
    assert_eq!(sandbox.balance("acc-1"), Some(10_500));
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

    // A declined reference replays its decline.
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
async fn a_wrong_secret_or_provider_id_is_rejected_before_processing() {
    let (sandbox, _) = setup().await;
    let wrong_secret = adapter_for(sandbox.base_url(), "not-the-secret", PROVIDER_ID);
    let wrong_provider = adapter_for(sandbox.base_url(), SECRET, "someone-else");

    for adapter in [&wrong_secret, &wrong_provider] {
        assert!(matches!(
            adapter.transfer(&debit("d-1", 250)).await,
            Outcome::NotProcessed(AdapterError::Rejected {
                code: REJECTED_INVALID_HASH
            })
        ));
        assert!(matches!(
            adapter.transfer(&credit("c-1", 250)).await,
            Outcome::NotProcessed(AdapterError::Rejected {
                code: REJECTED_INVALID_HASH
            })
        ));
        assert!(matches!(
            adapter.rollback(&rollback("r-1", "d-1")).await,
            Outcome::NotProcessed(AdapterError::Rejected {
                code: REJECTED_INVALID_HASH
            })
        ));
        assert!(matches!(
            adapter.balance(&balance_of("acc-1", eur())).await,
            Err(AdapterError::Rejected {
                code: REJECTED_INVALID_HASH
            })
        ));
    }
    assert_eq!(sandbox.balance("acc-1"), Some(10_000));
    assert!(sandbox.ledger().transactions.is_empty());

    // NotProcessed means a retry with the same id is safe: it settles once.
    let good = adapter_for(sandbox.base_url(), SECRET, PROVIDER_ID);
    assert_settled(good.transfer(&debit("d-1", 250)).await, Some(9_750));
    assert_settled(good.transfer(&debit("d-1", 250)).await, Some(9_750));
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn connection_refused_is_not_processed() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let adapter = adapter_for(format!("http://{addr}"), SECRET, PROVIDER_ID);

    match adapter.transfer(&debit("d-1", 250)).await {
        Outcome::NotProcessed(AdapterError::Connect(_)) => {}
        other => panic!("expected NotProcessed(Connect), got {other:?}"),
    }
    assert!(matches!(
        adapter.rollback(&rollback("r-1", "d-1")).await,
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
            .on_path("/bet.html")
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

    // No status query: the hub compensates an unknown bet with a refund,
    // which reverses it exactly once.
    assert_settled(adapter.rollback(&rollback("r-1", "d-1")).await, None);
    assert_eq!(sandbox.balance("acc-1"), Some(10_000));
    assert_settled(adapter.rollback(&rollback("r-1", "d-1")).await, None);
    assert_eq!(sandbox.balance("acc-1"), Some(10_000));

    // An unknown result is resolved by repeating it: the replay moves
    // nothing more.
    sandbox.set_fault(
        Fault::new(FaultKind::DropAfterCommit)
            .on_path("/result.html")
            .times(1),
    );
    assert!(matches!(
        adapter.transfer(&credit("c-1", 300)).await,
        Outcome::Unknown(AdapterError::Transport(_))
    ));
    assert_eq!(sandbox.balance("acc-1"), Some(10_300));
    assert_settled(adapter.transfer(&credit("c-1", 300)).await, Some(10_300));
    assert_eq!(sandbox.balance("acc-1"), Some(10_300));
    assert_eq!(sandbox.requests_for("c-1"), 2);
    sandbox.shutdown().await;
}

#[track_caller]
fn assert_internal(outcome: Outcome) {
    match outcome {
        Outcome::Unknown(AdapterError::Transport(source)) => {
            assert!(source.is::<InternalError>(), "{source:?}");
        }
        other => panic!("expected Unknown(Transport(InternalError)), got {other:?}"),
    }
}

#[tokio::test]
async fn server_error_after_commit_is_unknown() {
    // This provider reports its own failure as 200 with error 100.
    let (sandbox, adapter) = setup().await;
    sandbox.set_fault(
        Fault::new(FaultKind::ServerErrorAfterCommit)
            .on_path("/result.html")
            .times(1),
    );
    assert_internal(adapter.transfer(&credit("c-1", 250)).await);
    assert_eq!(
        sandbox.balance("acc-1"),
        Some(10_250),
        "the provider applied it"
    );

    assert_settled(adapter.transfer(&debit("d-1", 250)).await, Some(10_000));
    sandbox.set_fault(
        Fault::new(FaultKind::ServerErrorAfterCommit)
            .on_path("/refund.html")
            .times(1),
    );
    assert_internal(adapter.rollback(&rollback("r-1", "d-1")).await);
    assert_eq!(sandbox.balance("acc-1"), Some(10_250), "the refund applied");

    // Resolution with the same ids settles without moving more.
    assert_settled(adapter.transfer(&credit("c-1", 250)).await, Some(10_250));
    assert_settled(adapter.rollback(&rollback("r-1", "d-1")).await, None);
    assert_eq!(sandbox.balance("acc-1"), Some(10_250));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn an_unavailable_provider_is_unknown_too() {
    // The sandbox's 503 processes nothing, but the dialect answers every
    // business outcome with 200: any other status says nothing certain.
    let (sandbox, adapter) = setup().await;
    sandbox.set_fault(Fault::new(FaultKind::ErrorRate(1.0)));
    match adapter.transfer(&debit("d-1", 250)).await {
        Outcome::Unknown(AdapterError::HttpStatus { status }) => assert_ne!(status, 200),
        other => panic!("expected Unknown(HttpStatus), got {other:?}"),
    }
    assert!(matches!(
        adapter.balance(&balance_of("acc-1", eur())).await,
        Err(AdapterError::HttpStatus { .. })
    ));
    assert_eq!(sandbox.balance("acc-1"), Some(10_000));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_garbage_reply_is_unknown_malformed() {
    let (sandbox, adapter) = setup().await;
    sandbox.set_fault(Fault::new(FaultKind::Garbage));

    match adapter.transfer(&debit("d-1", 250)).await {
        Outcome::Unknown(error) => {
            assert!(matches!(assert_malformed(&error), MalformedReply::Json(_)));
        }
        other => panic!("expected Unknown(Malformed), got {other:?}"),
    }
    assert_eq!(
        sandbox.balance("acc-1"),
        Some(9_750),
        "the provider applied it"
    );
    assert!(matches!(
        adapter.rollback(&rollback("r-1", "d-1")).await,
        Outcome::Unknown(AdapterError::Malformed(_))
    ));
    assert_eq!(sandbox.balance("acc-1"), Some(10_000), "the refund applied");
    assert!(matches!(
        adapter.balance(&balance_of("acc-1", eur())).await,
        Err(AdapterError::Malformed(_))
    ));

    sandbox.clear_faults();
    // The bet's replay is its original reply, from before the refund.
    assert_settled(adapter.transfer(&debit("d-1", 250)).await, Some(9_750));
    assert_eq!(sandbox.balance("acc-1"), Some(10_000));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_tampered_reply_is_unknown_but_the_money_moved() {
    let (sandbox, adapter) = setup().await;
    sandbox.set_fault(Fault::new(FaultKind::Tampered));

    // Another currency (and cash, and transactionId) than we asked for.
    match adapter.transfer(&debit("d-1", 250)).await {
        Outcome::Unknown(error) => assert!(matches!(
            assert_malformed(&error),
            MalformedReply::CurrencyMismatch
        )),
        other => panic!("expected Unknown(Malformed), got {other:?}"),
    }
    assert_eq!(sandbox.balance("acc-1"), Some(9_750), "the bet applied");
    match adapter.transfer(&credit("c-1", 1_000)).await {
        Outcome::Unknown(error) => assert!(matches!(
            assert_malformed(&error),
            MalformedReply::CurrencyMismatch
        )),
        other => panic!("expected Unknown(Malformed), got {other:?}"),
    }
    assert_eq!(sandbox.balance("acc-1"), Some(10_750), "the result applied");
    match adapter.balance(&balance_of("acc-1", eur())).await {
        Err(error) => assert!(matches!(
            assert_malformed(&error),
            MalformedReply::CurrencyMismatch
        )),
        Ok(money) => panic!("a tampered balance was taken: {money}"),
    }

    sandbox.clear_faults();
    assert_settled(adapter.transfer(&debit("d-1", 250)).await, Some(9_750));
    assert_eq!(sandbox.balance("acc-1"), Some(10_750));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_hung_provider_is_cut_off_by_the_callers_deadline() {
    let (sandbox, adapter) = setup().await;
    sandbox.set_fault(Fault::new(FaultKind::Hang).on_path("/bet.html"));

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
    let adapter = Arc::new(adapter);
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
async fn the_factory_builds_a_working_adapter() {
    use adapter_api::AdapterFactory;
    let (sandbox, _) = setup().await;
    let adapter = adapter_form_md5::Factory
        .build(&serde_json::json!({
            "base_url": sandbox.base_url(),
            "secret": SECRET,
            "provider_id": PROVIDER_ID,
        }))
        .unwrap();
    assert_eq!(adapter.descriptor().dialect, "form-md5");
    assert_settled(adapter.transfer(&debit("d-1", 250)).await, Some(9_750));
    assert_eq!(sandbox.balance("acc-1"), Some(9_750));
    sandbox.shutdown().await;
}
