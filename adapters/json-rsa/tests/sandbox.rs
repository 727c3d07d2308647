//! The adapter against the real sandbox json-rsa provider on an ephemeral
//! loopback port: every classification that needs a live exchange, with the
//! provider's ledger (in 1e-5 units) checked after each call.

use std::path::{Path, PathBuf};
use std::time::Duration;

use adapter_api::{
    AccountId, Adapter, AdapterError, BalanceRequest, Currency, DeclineReason, Direction, Money,
    MoneyRequest, Outcome, ProviderTxId, RollbackRequest, Settlement, StatusRequest, TxKind,
    TxStatus,
};
use adapter_json_rsa::{JsonRsaAdapter, JsonRsaConfig};
use sandbox_json_rsa::{Fault, FaultKind, Sandbox, SandboxConfig};

/// 1e-5 units per cent.
const CENT: i64 = 1000;

fn eur() -> Currency {
    Currency::from_code("EUR").unwrap()
}

fn usd() -> Currency {
    Currency::from_code("USD").unwrap()
}

fn key(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../samples/json-rsa/keys")
        .join(name)
}

/// A sandbox with the demo keys (the samples' keys).
async fn sandbox() -> Sandbox {
    Sandbox::start_local(SandboxConfig::default().setup().unwrap())
        .await
        .unwrap()
}

fn adapter_with(base_url: String, private_key: &str, provider_public_key: &str) -> JsonRsaAdapter {
    JsonRsaAdapter::new(JsonRsaConfig {
        base_url,
        private_key_file: key(private_key),
        provider_public_key_file: key(provider_public_key),
        ca_file: None,
    })
    .unwrap()
}

fn adapter_for(sandbox: &Sandbox) -> JsonRsaAdapter {
    adapter_with(
        sandbox.base_url(),
        "operator_private.pem",
        "provider_public.pem",
    )
}

/// A sandbox with `acc-1` holding EUR 100.00, and an adapter for it.
async fn setup() -> (Sandbox, JsonRsaAdapter) {
    let sandbox = sandbox().await;
    sandbox.seed("acc-1", "EUR", 10_000 * CENT);
    let adapter = adapter_for(&sandbox);
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

fn debit(tx_id: &str, cents: i64) -> MoneyRequest {
    money(Direction::Debit, tx_id, "acc-1", Money::new(eur(), cents))
}

fn credit(tx_id: &str, cents: i64) -> MoneyRequest {
    money(Direction::Credit, tx_id, "acc-1", Money::new(eur(), cents))
}

fn rollback(tx_id: &str, original: &str, cents: Option<i64>) -> RollbackRequest {
    RollbackRequest {
        tx_id: ProviderTxId::new(tx_id),
        original_tx_id: ProviderTxId::new(original),
        account: AccountId::new("acc-1"),
        amount: cents.map(|c| Money::new(eur(), c)),
    }
}

fn balance_of(account: &str, currency: Currency) -> BalanceRequest {
    BalanceRequest {
        account: AccountId::new(account),
        currency,
    }
}

fn status_of(tx_id: &str, kind: TxKind, cents: Option<i64>) -> StatusRequest {
    StatusRequest {
        tx_id: ProviderTxId::new(tx_id),
        kind,
        account: AccountId::new("acc-1"),
        amount: cents.map(|c| Money::new(eur(), c)),
    }
}

#[track_caller]
fn assert_settled(outcome: Outcome, cents: Option<i64>) -> Settlement {
    match outcome {
        Outcome::Settled(settlement) => {
            assert_eq!(
                settlement.balance_after,
                cents.map(|c| Money::new(eur(), c))
            );
            assert_eq!(settlement.provider_ref, None);
            settlement
        }
        other => panic!("expected Settled, got {other:?}"),
    }
}

#[track_caller]
fn assert_declined(outcome: Outcome, expected: DeclineReason) {
    match outcome {
        Outcome::Declined(reason) => assert_eq!(reason, expected),
        other => panic!("expected Declined({expected:?}), got {other:?}"),
    }
}

#[tokio::test]
async fn debit_credit_rollback_balance_and_status_move_the_providers_ledger() {
    let (sandbox, adapter) = setup().await;

    assert_settled(adapter.transfer(&debit("d-1", 250)).await, Some(9_750));
    assert_eq!(sandbox.balance("acc-1"), Some(9_750 * CENT));

    assert_settled(adapter.transfer(&credit("c-1", 1_000)).await, Some(10_750));
    assert_eq!(sandbox.balance("acc-1"), Some(10_750 * CENT));

    assert_eq!(
        adapter.balance(&balance_of("acc-1", eur())).await.unwrap(),
        Money::new(eur(), 10_750)
    );

    assert!(matches!(
        adapter
            .status(&status_of("d-1", TxKind::Debit, Some(250)))
            .await,
        TxStatus::Applied(_)
    ));
    assert!(matches!(
        adapter
            .status(&status_of("c-1", TxKind::Credit, Some(1_000)))
            .await,
        TxStatus::Applied(_)
    ));

    assert_settled(
        adapter.rollback(&rollback("r-1", "d-1", Some(250))).await,
        Some(11_000),
    );
    assert_eq!(sandbox.balance("acc-1"), Some(11_000 * CENT));
    assert!(matches!(
        adapter
            .status(&status_of("d-1", TxKind::Debit, Some(250)))
            .await,
        TxStatus::RolledBack
    ));

    // Without the amount the rollback's reply gives no currency.
    assert_settled(adapter.transfer(&debit("d-2", 1_000)).await, Some(10_000));
    assert_settled(adapter.rollback(&rollback("r-2", "d-2", None)).await, None);
    assert_eq!(sandbox.balance("acc-1"), Some(11_000 * CENT));

    sandbox.shutdown().await;
}

#[tokio::test]
async fn status_answers_every_state() {
    let (sandbox, adapter) = setup().await;
    assert!(matches!(
        adapter
            .status(&status_of("never", TxKind::Debit, Some(1)))
            .await,
        TxStatus::NotFound
    ));

    assert_declined(
        adapter.transfer(&debit("d-big", 1_000_000)).await,
        DeclineReason::InsufficientFunds,
    );
    assert!(matches!(
        adapter
            .status(&status_of("d-big", TxKind::Debit, Some(1_000_000)))
            .await,
        TxStatus::Declined(DeclineReason::Other)
    ));

    // A record that is not what the hub sent is not ours.
    assert_settled(adapter.transfer(&debit("d-1", 250)).await, Some(9_750));
    match adapter
        .status(&status_of("d-1", TxKind::Debit, Some(251)))
        .await
    {
        TxStatus::Unknown(AdapterError::Malformed(_)) => {}
        other => panic!("expected Unknown(Malformed), got {other:?}"),
    }
    // Without the amount, any well-formed record is taken.
    assert!(matches!(
        adapter.status(&status_of("d-1", TxKind::Debit, None)).await,
        TxStatus::Applied(_)
    ));

    // The lookup does not know rollback ids: not asked.
    assert_settled(
        adapter.rollback(&rollback("r-1", "d-1", Some(250))).await,
        Some(10_000),
    );
    let lookups_before = sandbox.stats();
    assert!(matches!(
        adapter
            .status(&status_of("r-1", TxKind::Rollback, Some(250)))
            .await,
        TxStatus::Unknown(AdapterError::Unsupported)
    ));
    assert_eq!(sandbox.stats(), lookups_before, "nothing was sent");

    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_repeated_transaction_replays_and_other_parameters_are_a_duplicate() {
    let (sandbox, adapter) = setup().await;
    let first = assert_settled(adapter.transfer(&debit("d-1", 250)).await, Some(9_750));
    let again = assert_settled(adapter.transfer(&debit("d-1", 250)).await, Some(9_750));
    assert_eq!(first, again);
    assert_eq!(sandbox.balance("acc-1"), Some(9_750 * CENT));
    assert_eq!(sandbox.requests_for("d-1"), 2);

    assert_declined(
        adapter.transfer(&debit("d-1", 300)).await,
        DeclineReason::DuplicateTransaction,
    );
    assert_declined(
        adapter.transfer(&credit("d-1", 250)).await,
        DeclineReason::DuplicateTransaction,
    );
    assert_eq!(sandbox.balance("acc-1"), Some(9_750 * CENT));

    let first = assert_settled(
        adapter.rollback(&rollback("r-1", "d-1", Some(250))).await,
        Some(10_000),
    );
    let again = assert_settled(
        adapter.rollback(&rollback("r-1", "d-1", Some(250))).await,
        Some(10_000),
    );
    assert_eq!(first, again);
    assert_eq!(sandbox.balance("acc-1"), Some(10_000 * CENT));

    // The rollback's id naming another bet is a duplicate too.
    assert_settled(adapter.transfer(&debit("d-2", 100)).await, Some(9_900));
    assert_declined(
        adapter.rollback(&rollback("r-1", "d-2", Some(100))).await,
        DeclineReason::DuplicateTransaction,
    );
    assert_eq!(sandbox.balance("acc-1"), Some(9_900 * CENT));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn rollback_rules_are_normalized() {
    let (sandbox, adapter) = setup().await;

    // Never sent: nothing to reverse, acknowledged (the provider's
    // tombstone), and a late debit with that id is refused.
    let settled = assert_settled(
        adapter
            .rollback(&rollback("r-0", "d-late", Some(250)))
            .await,
        None,
    );
    assert_eq!(settled, Settlement::default());
    assert_eq!(sandbox.balance("acc-1"), Some(10_000 * CENT));
    assert_declined(
        adapter.transfer(&debit("d-late", 250)).await,
        DeclineReason::AlreadyRolledBack,
    );
    assert_eq!(sandbox.balance("acc-1"), Some(10_000 * CENT));
    assert!(matches!(
        adapter
            .status(&status_of("d-late", TxKind::Debit, Some(250)))
            .await,
        TxStatus::NotFound
    ));

    // A declined debit was never applied either.
    assert_declined(
        adapter.transfer(&debit("d-big", 1_000_000)).await,
        DeclineReason::InsufficientFunds,
    );
    assert_settled(
        adapter
            .rollback(&rollback("r-big", "d-big", Some(1_000_000)))
            .await,
        Some(10_000),
    );
    assert_eq!(sandbox.balance("acc-1"), Some(10_000 * CENT));

    // A credit cannot be rolled back.
    assert_settled(adapter.transfer(&credit("c-1", 500)).await, Some(10_500));
    assert_declined(
        adapter.rollback(&rollback("r-c", "c-1", Some(500))).await,
        DeclineReason::NotReversible,
    );
    assert_eq!(sandbox.balance("acc-1"), Some(10_500 * CENT));

    // A second rollback of one debit under another id: the provider answers
    // with the first rollback's reply; reversed once, nothing moves again,
    // and the stale balance of that reply is not reported as ours.
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
    assert_eq!(sandbox.balance("acc-1"), Some(10_400 * CENT));

    // The rolled-back debit's id is refused from then on.
    assert_declined(
        adapter.transfer(&debit("d-1", 300)).await,
        DeclineReason::AlreadyRolledBack,
    );
    assert_eq!(sandbox.balance("acc-1"), Some(10_400 * CENT));

    sandbox.shutdown().await;
}

#[tokio::test]
async fn declines_are_classified_and_move_nothing() {
    let (sandbox, adapter) = setup().await;
    sandbox.seed("acc-disabled", "EUR", 10_000 * CENT);
    sandbox.block("acc-disabled");
    sandbox.seed("acc-limited", "EUR", 10_000 * CENT);
    sandbox.set_limit("acc-limited", Some(100 * CENT));

    let cases = [
        (debit("d-1", 10_001), DeclineReason::InsufficientFunds),
        (
            money(
                Direction::Debit,
                "d-2",
                "acc-disabled",
                Money::new(eur(), 1),
            ),
            DeclineReason::AccountBlocked,
        ),
        (
            money(
                Direction::Credit,
                "c-2",
                "acc-disabled",
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
    assert_eq!(sandbox.balance("acc-1"), Some(10_000 * CENT));
    assert_eq!(sandbox.balance("acc-disabled"), Some(10_000 * CENT));
    assert_eq!(sandbox.balance("acc-limited"), Some(10_000 * CENT));

    // A declined id replays its decline.
    assert_declined(
        adapter.transfer(&debit("d-1", 10_001)).await,
        DeclineReason::InsufficientFunds,
    );

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
async fn a_balance_that_is_not_whole_cents_is_refused() {
    let (sandbox, adapter) = setup().await;
    sandbox.seed("acc-odd", "EUR", 10_000 * CENT + 1);
    match adapter.balance(&balance_of("acc-odd", eur())).await {
        Err(AdapterError::Malformed(_)) => {}
        other => panic!("expected Err(Malformed), got {other:?}"),
    }
    // A debit on it moves money, but the balance it reports is not exact.
    let req = money(Direction::Debit, "d-odd", "acc-odd", Money::new(eur(), 1));
    match adapter.transfer(&req).await {
        Outcome::Unknown(AdapterError::Malformed(_)) => {}
        other => panic!("expected Unknown(Malformed), got {other:?}"),
    }
    assert_eq!(sandbox.balance("acc-odd"), Some(9_999 * CENT + 1));
    // The lookup still resolves it.
    let status = StatusRequest {
        tx_id: ProviderTxId::new("d-odd"),
        kind: TxKind::Debit,
        account: AccountId::new("acc-odd"),
        amount: Some(Money::new(eur(), 1)),
    };
    assert!(matches!(
        adapter.status(&status).await,
        TxStatus::Applied(_)
    ));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_wrong_operator_key_is_rejected_before_processing() {
    let (sandbox, _) = setup().await;
    let impostor = adapter_with(
        sandbox.base_url(),
        "impostor_private.pem",
        "provider_public.pem",
    );
    let rejected = |e: &AdapterError| {
        matches!(
            e,
            AdapterError::Rejected {
                code: "RS_ERROR_INVALID_SIGNATURE"
            }
        )
    };
    match impostor.transfer(&debit("d-1", 250)).await {
        Outcome::NotProcessed(e) if rejected(&e) => {}
        other => panic!("expected NotProcessed(Rejected), got {other:?}"),
    }
    match impostor.rollback(&rollback("r-1", "d-1", None)).await {
        Outcome::NotProcessed(e) if rejected(&e) => {}
        other => panic!("expected NotProcessed(Rejected), got {other:?}"),
    }
    assert!(
        impostor
            .balance(&balance_of("acc-1", eur()))
            .await
            .is_err_and(|e| rejected(&e))
    );
    match impostor
        .status(&status_of("d-1", TxKind::Debit, None))
        .await
    {
        TxStatus::Unknown(e) if rejected(&e) => {}
        other => panic!("expected Unknown(Rejected), got {other:?}"),
    }
    assert_eq!(sandbox.balance("acc-1"), Some(10_000 * CENT));
    assert!(sandbox.ledger().transactions.is_empty());

    // The right key still works on the same id: nothing was recorded.
    let adapter = adapter_for(&sandbox);
    assert_settled(adapter.transfer(&debit("d-1", 250)).await, Some(9_750));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn replies_under_a_wrong_provider_key_are_never_trusted() {
    let (sandbox, _) = setup().await;
    // The adapter expects another provider key than the one the sandbox
    // signs with.
    let adapter = adapter_with(
        sandbox.base_url(),
        "operator_private.pem",
        "operator_public.pem",
    );
    match adapter.transfer(&debit("d-1", 250)).await {
        Outcome::Unknown(AdapterError::BadSignature) => {}
        other => panic!("expected Unknown(BadSignature), got {other:?}"),
    }
    assert_eq!(
        sandbox.balance("acc-1"),
        Some(9_750 * CENT),
        "the provider applied it"
    );
    // Declines are not trusted either.
    match adapter.transfer(&debit("d-2", 1_000_000)).await {
        Outcome::Unknown(AdapterError::BadSignature) => {}
        other => panic!("expected Unknown(BadSignature), got {other:?}"),
    }
    assert!(matches!(
        adapter.balance(&balance_of("acc-1", eur())).await,
        Err(AdapterError::BadSignature)
    ));
    assert!(matches!(
        adapter.status(&status_of("d-1", TxKind::Debit, None)).await,
        TxStatus::Unknown(AdapterError::BadSignature)
    ));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn connection_refused_is_not_processed() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let adapter = adapter_with(
        format!("http://{addr}"),
        "operator_private.pem",
        "provider_public.pem",
    );

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
    assert!(matches!(
        adapter.status(&status_of("d-1", TxKind::Debit, None)).await,
        TxStatus::Unknown(AdapterError::Connect(_))
    ));
}

#[tokio::test]
async fn drop_after_commit_is_unknown_but_the_money_moved() {
    let (sandbox, adapter) = setup().await;
    sandbox.set_fault(
        Fault::new(FaultKind::DropAfterCommit)
            .on_path("/api/transaction/bet")
            .times(1),
    );

    match adapter.transfer(&debit("d-1", 250)).await {
        Outcome::Unknown(AdapterError::Transport(_)) => {}
        other => panic!("expected Unknown(Transport), got {other:?}"),
    }
    assert_eq!(
        sandbox.balance("acc-1"),
        Some(9_750 * CENT),
        "the provider applied it"
    );

    // The hub's resolution: a lookup, or the same id again, which settles
    // without moving more.
    assert!(matches!(
        adapter
            .status(&status_of("d-1", TxKind::Debit, Some(250)))
            .await,
        TxStatus::Applied(_)
    ));
    assert_settled(adapter.transfer(&debit("d-1", 250)).await, Some(9_750));
    assert_eq!(sandbox.balance("acc-1"), Some(9_750 * CENT));
    assert_eq!(sandbox.requests_for("d-1"), 2);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn server_error_after_commit_is_unknown() {
    let (sandbox, adapter) = setup().await;
    sandbox.set_fault(
        Fault::new(FaultKind::ServerErrorAfterCommit)
            .on_path("/api/transaction/win")
            .times(1),
    );
    match adapter.transfer(&credit("c-1", 250)).await {
        Outcome::Unknown(AdapterError::HttpStatus { status: 500 }) => {}
        other => panic!("expected Unknown(HttpStatus 500), got {other:?}"),
    }
    assert_eq!(
        sandbox.balance("acc-1"),
        Some(10_250 * CENT),
        "the provider applied it"
    );

    assert_settled(adapter.transfer(&debit("d-1", 250)).await, Some(10_000));
    sandbox.set_fault(
        Fault::new(FaultKind::ServerErrorAfterCommit)
            .on_path("/api/transaction/rollback")
            .times(1),
    );
    match adapter.rollback(&rollback("r-1", "d-1", Some(250))).await {
        Outcome::Unknown(AdapterError::HttpStatus { status: 500 }) => {}
        other => panic!("expected Unknown(HttpStatus 500), got {other:?}"),
    }
    assert_eq!(
        sandbox.balance("acc-1"),
        Some(10_250 * CENT),
        "the rollback applied"
    );

    // Resolution with the same ids settles without moving more.
    assert_settled(adapter.transfer(&credit("c-1", 250)).await, Some(10_250));
    assert_settled(
        adapter.rollback(&rollback("r-1", "d-1", Some(250))).await,
        Some(10_250),
    );
    assert_eq!(sandbox.balance("acc-1"), Some(10_250 * CENT));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn service_unavailable_is_unknown_too() {
    // The sandbox's 503 processes nothing, but the spec does not promise
    // that for a 5xx after the body was sent.
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
    assert_eq!(sandbox.balance("acc-1"), Some(10_000 * CENT));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_garbage_reply_is_unknown_and_never_settled() {
    let (sandbox, adapter) = setup().await;
    sandbox.set_fault(Fault::new(FaultKind::Garbage));

    // Half the real body under the real body's signature: it does not
    // verify, so nothing in it is read.
    match adapter.transfer(&debit("d-1", 250)).await {
        Outcome::Unknown(AdapterError::BadSignature) => {}
        other => panic!("expected Unknown(BadSignature), got {other:?}"),
    }
    assert_eq!(
        sandbox.balance("acc-1"),
        Some(9_750 * CENT),
        "the provider applied it"
    );
    assert!(matches!(
        adapter.rollback(&rollback("r-1", "d-1", Some(250))).await,
        Outcome::Unknown(AdapterError::BadSignature)
    ));
    assert_eq!(
        sandbox.balance("acc-1"),
        Some(10_000 * CENT),
        "the rollback applied"
    );
    assert!(matches!(
        adapter.balance(&balance_of("acc-1", eur())).await,
        Err(AdapterError::BadSignature)
    ));

    sandbox.clear_faults();
    assert_declined(
        adapter.transfer(&debit("d-1", 250)).await,
        DeclineReason::AlreadyRolledBack,
    );
    assert_settled(
        adapter.rollback(&rollback("r-1", "d-1", Some(250))).await,
        Some(10_000),
    );
    assert_eq!(sandbox.balance("acc-1"), Some(10_000 * CENT));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_tampered_reply_is_unknown_and_the_lookup_resolves_it() {
    let (sandbox, adapter) = setup().await;
    sandbox.set_fault(
        Fault::new(FaultKind::Tampered)
            .on_path("/api/transaction/bet")
            .times(1),
    );
    // The real reply, signed with another key.
    match adapter.transfer(&debit("d-1", 250)).await {
        Outcome::Unknown(AdapterError::BadSignature) => {}
        other => panic!("expected Unknown(BadSignature), got {other:?}"),
    }
    assert_eq!(
        sandbox.balance("acc-1"),
        Some(9_750 * CENT),
        "the provider applied it"
    );
    assert!(matches!(
        adapter
            .status(&status_of("d-1", TxKind::Debit, Some(250)))
            .await,
        TxStatus::Applied(_)
    ));

    // Tampered declines and lookups are not trusted either.
    sandbox.set_fault(Fault::new(FaultKind::Tampered));
    assert!(matches!(
        adapter.transfer(&debit("d-2", 1_000_000)).await,
        Outcome::Unknown(AdapterError::BadSignature)
    ));
    assert!(matches!(
        adapter
            .status(&status_of("d-1", TxKind::Debit, Some(250)))
            .await,
        TxStatus::Unknown(AdapterError::BadSignature)
    ));
    sandbox.clear_faults();
    assert_eq!(sandbox.balance("acc-1"), Some(9_750 * CENT));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_hung_provider_is_cut_off_by_the_callers_deadline() {
    let (sandbox, adapter) = setup().await;
    sandbox.set_fault(Fault::new(FaultKind::Hang).on_path("/api/transaction/bet"));

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
        Some(10_000 * CENT),
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
    assert_eq!(sandbox.balance("acc-1"), Some(9_750 * CENT));
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
    assert_eq!(sandbox.balance("acc-1"), Some(8_000 * CENT));
    sandbox.shutdown().await;
}
