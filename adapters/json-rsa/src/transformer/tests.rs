//! Unit tests of the transformer: exact wire bodies and signatures, tables of
//! signed replies against their classification, signature failures, and
//! bounded property tests that feed arbitrary replies to every classifier.

use super::*;

use std::sync::LazyLock;

use adapter_api::{AccountId, ProviderTxId};
use proptest::prelude::*;
use serde_json::{Value, json};

const OPERATOR_PRIVATE: &[u8] =
    include_bytes!("../../../samples/json-rsa/keys/operator_private.pem");
const OPERATOR_PUBLIC: &[u8] = include_bytes!("../../../samples/json-rsa/keys/operator_public.pem");
const PROVIDER_PRIVATE: &[u8] =
    include_bytes!("../../../samples/json-rsa/keys/provider_private.pem");
const PROVIDER_PUBLIC: &[u8] = include_bytes!("../../../samples/json-rsa/keys/provider_public.pem");
const IMPOSTOR_PRIVATE: &[u8] =
    include_bytes!("../../../samples/json-rsa/keys/impostor_private.pem");

/// Our request signer.
static OPERATOR: LazyLock<Signer> = LazyLock::new(|| Signer::from_pem(OPERATOR_PRIVATE).unwrap());
/// What the provider verifies our requests with.
static OPERATOR_VERIFIER: LazyLock<Verifier> =
    LazyLock::new(|| Verifier::from_pem(OPERATOR_PUBLIC).unwrap());
/// The provider's reply signer, played by the test.
static PROVIDER: LazyLock<Signer> = LazyLock::new(|| Signer::from_pem(PROVIDER_PRIVATE).unwrap());
/// What the adapter verifies replies with.
static VERIFIER: LazyLock<Verifier> =
    LazyLock::new(|| Verifier::from_pem(PROVIDER_PUBLIC).unwrap());
/// Someone else's key.
static IMPOSTOR: LazyLock<Signer> = LazyLock::new(|| Signer::from_pem(IMPOSTOR_PRIVATE).unwrap());

const RU: &str = "00000000-0000-4000-8000-000000000001";
const OTHER_RU: &str = "00000000-0000-4000-8000-000000000002";

fn ru() -> RequestUuid {
    RU.parse().unwrap()
}

fn eur() -> Currency {
    Currency::from_code("EUR").unwrap()
}

fn debit(amount: i64) -> MoneyRequest {
    MoneyRequest {
        direction: Direction::Debit,
        tx_id: ProviderTxId::new("tx-1"),
        account: AccountId::new("acc-1"),
        amount: Money::new(eur(), amount),
        reference: Some("r-9".into()),
    }
}

fn credit(amount: i64) -> MoneyRequest {
    MoneyRequest {
        direction: Direction::Credit,
        tx_id: ProviderTxId::new("tx-2"),
        account: AccountId::new("acc-1"),
        amount: Money::new(eur(), amount),
        reference: None,
    }
}

fn rollback(amount: Option<i64>) -> RollbackRequest {
    RollbackRequest {
        tx_id: ProviderTxId::new("rb-1"),
        original_tx_id: ProviderTxId::new("tx-1"),
        account: AccountId::new("acc-1"),
        amount: amount.map(|a| Money::new(eur(), a)),
    }
}

fn balance_req() -> BalanceRequest {
    BalanceRequest {
        account: AccountId::new("acc-1"),
        currency: eur(),
    }
}

fn status_req(amount: Option<i64>) -> StatusRequest {
    StatusRequest {
        tx_id: ProviderTxId::new("tx-1"),
        kind: TxKind::Debit,
        account: AccountId::new("acc-1"),
        amount: amount.map(|a| Money::new(eur(), a)),
    }
}

// ------------------------------------------------------------ requests

#[track_caller]
fn assert_signed_by_operator(wire: &WireRequest) {
    assert_eq!(
        OPERATOR_VERIFIER.verify(&wire.body, Some(wire.signature.as_bytes())),
        Ok(())
    );
}

#[test]
fn bet_body_and_signature_are_exact() {
    let wire = encode_transfer(&debit(250), ru(), &OPERATOR).unwrap();
    assert_eq!(wire.endpoint, Endpoint::Bet);
    assert_eq!(wire.request_uuid.as_str(), RU);
    assert_eq!(
        &wire.body[..],
        br#"{"request_uuid":"00000000-0000-4000-8000-000000000001","transaction_uuid":"tx-1","user":"acc-1","currency":"EUR","amount":250000,"round":"r-9"}"#
    );
    // Known answer, from `openssl dgst -sha256 -sign operator_private.pem`.
    assert_eq!(
        wire.signature,
        "pl3gf3Ncft+0TQ3zseqVUQ/R4kPGTH43E7LTlnOdhzQf5/6qw2kChjVclxf25j8FT0Szrc/b4MpYi6AlokCMmKZSHCozsuEu0aBiTUXKqIBgSoJ9EHg82IMadH8EKyXBM4Csq86LyxUm7Z3MLpX9ci9kWIueRvo8eJwQyIpX46DPP9HEtQeJGChbIyawYq4wu8H4Td113mogJEIDMCOyJqGsKu7yB7xKJi/HpSjS8PXlMIXqVFbsLQYbQ0KrMpoAGfMLsZqR1EZZ7Wycy+roJJ7/wlLtjHmtHfkBAF4MXTDmxm2EIYRvcnu+cwuoy3+0LA6wOo1SiAGSW+431gtHkQ=="
    );
    assert_signed_by_operator(&wire);
    // The provider's key does not verify our signature.
    assert!(
        VERIFIER
            .verify(&wire.body, Some(wire.signature.as_bytes()))
            .is_err()
    );
}

#[test]
fn win_without_reference_omits_round() {
    let wire = encode_transfer(&credit(1250), ru(), &OPERATOR).unwrap();
    assert_eq!(wire.endpoint, Endpoint::Win);
    assert_eq!(
        &wire.body[..],
        br#"{"request_uuid":"00000000-0000-4000-8000-000000000001","transaction_uuid":"tx-2","user":"acc-1","currency":"EUR","amount":1250000}"#
    );
    assert_signed_by_operator(&wire);
}

#[test]
fn rollback_body_and_signature_are_exact() {
    let wire = encode_rollback(&rollback(Some(250)), ru(), &OPERATOR).unwrap();
    assert_eq!(wire.endpoint, Endpoint::Rollback);
    assert_eq!(
        &wire.body[..],
        br#"{"request_uuid":"00000000-0000-4000-8000-000000000001","transaction_uuid":"rb-1","reference_transaction_uuid":"tx-1"}"#
    );
    assert_eq!(
        wire.signature,
        "t79nyMLygy9hKKgRdB0gwifkDjaDlbI4YHoK85CPG2VdagZy+QYlaAzJ8ID5rc91qe/zPUf9BteMJ06XVYhGWqS+dPuh5PadeFW7kYTkVJsFHH4fKQsCwN73dZWIOVKue3J+5fBpquaBt7tm7dIJXYBiGxlbp0luQTTtEaEtj7TNak+MP3Zg5WtxKIZfLlPnfrBEIR2w88pgAivNncKyQ7G2yRPgA3TMCd/j5lKLZKjDxtH3t0bKybMC9NuJ8T85aeHPSg0La7vXXpD6aXADRSYkZLpIOuF6xR4haMPaFOkJ9PLXcf1Rgkl3HxwdRiR72AbOIx9VI+32qEmVSVuArw=="
    );
    // Without the amount the body is the same.
    let without = encode_rollback(&rollback(None), ru(), &OPERATOR).unwrap();
    assert_eq!(without, wire);
}

#[test]
fn balance_and_lookup_bodies_are_exact() {
    let wire = encode_balance(&balance_req(), ru(), &OPERATOR).unwrap();
    assert_eq!(wire.endpoint, Endpoint::Balance);
    assert_eq!(
        &wire.body[..],
        br#"{"request_uuid":"00000000-0000-4000-8000-000000000001","user":"acc-1","currency":"EUR"}"#
    );
    // Known answer, from openssl.
    assert_eq!(
        wire.signature,
        "ITnoVEdW90BffQhbMDwvZzFr2xN5dWm6l0Tcu7VXGoytMOWUiI4rbdnmEwd5pYqPI0U7d9te0FFRldFXkRdU/eWm84MP4x2MtdVtBMeCYKOap0fCvLpJEGtLpKrMV/mmhyhj88HfYAyQ+24dK4++VLRLbLbkdgWZmcuwXC2/H6BQch6s1wZ9w/0JK7zwFh5Ik12hiGAF9CcsS/5MmJdFmiyhkWyamEeMmaHNtE0ZXds9CNdJGGUts7Qw2gbLOi5YathMf6jXYd8A1zqxhpCi/hzZOtuVq5lPBba3t9EQcF0AJlWN9UbsmI1mLgNOGw1WysGnL0RgGXMs/0GTsp9R2Q=="
    );

    let wire = encode_status(&status_req(Some(250)), ru(), &OPERATOR).unwrap();
    assert_eq!(wire.endpoint, Endpoint::Lookup);
    assert_eq!(
        &wire.body[..],
        br#"{"request_uuid":"00000000-0000-4000-8000-000000000001","transaction_uuid":"tx-1"}"#
    );
    assert_eq!(
        wire.signature,
        "RZnCCWTHdoKkZqU4WEEnBdNE14NSgV+aXyrgEyD25h7T+VQ7+z/b6YTuN2gyl5ZLHeM6sv/9wLlyT1jfwkEkfb937rbDdKP0XG1+kLJRhK2lKYHoGRfREPiGCVn/jJgujyYTnnNMh4JbBN1qALBtKbOwm8+jMN0odYWNUj7r8J8Ol+rxueTmld7Etf422+SbsZzp6MnTko6tYQniC8iLV3AC06SodHiKPI2yaWWYGR4C0/L3zVmD89J4yf2+ymbi/TUmVVtcjlbos1w/qqlehPMwEzShxBJ9poNC0f/IfGycFlVO/Dlwe0c5WcFOmBwAloXXiGMIv8Uxj4GJLoU+5A=="
    );
}

#[test]
fn amounts_go_out_in_1e5_units_per_currency_exponent() {
    let cases = [
        ("EUR", 250, 250_000),
        ("JPY", 7, 700_000),
        ("BHD", 1, 100),
        ("CLF", 3, 30),
    ];
    for (code, minor, units) in cases {
        let mut req = debit(1);
        req.amount = Money::new(Currency::from_code(code).unwrap(), minor);
        let wire = encode_transfer(&req, ru(), &OPERATOR).unwrap();
        let parsed: Value = serde_json::from_slice(&wire.body).unwrap();
        assert_eq!(parsed["amount"], json!(units), "{code}");
        assert_eq!(parsed["currency"], json!(code));
    }
}

#[test]
fn the_request_uuid_is_the_callers() {
    let a = encode_transfer(&debit(1), ru(), &OPERATOR).unwrap();
    let b = encode_transfer(&debit(1), OTHER_RU.parse().unwrap(), &OPERATOR).unwrap();
    assert_ne!(a.body, b.body);
    assert_ne!(a.signature, b.signature);
    // Parsed UUIDs go out lowercase and hyphenated.
    let upper: RequestUuid = "6BA7B810-9DAD-11D1-80B4-00C04FD430C8".parse().unwrap();
    assert_eq!(upper.as_str(), "6ba7b810-9dad-11d1-80b4-00c04fd430c8");
    let simple: RequestUuid = "6ba7b8109dad11d180b400c04fd430c8".parse().unwrap();
    assert_eq!(simple, upper);
    assert!("not-a-uuid".parse::<RequestUuid>().is_err());
    // Fresh ones are v4 and differ.
    let fresh = RequestUuid::new_v4();
    assert_ne!(fresh, RequestUuid::new_v4());
    let parsed = Uuid::parse_str(fresh.as_str()).unwrap();
    assert_eq!(parsed.get_version_num(), 4);
    assert_eq!(fresh.as_str(), parsed.hyphenated().to_string());
}

#[test]
fn strings_are_json_escaped_inside_the_signed_body() {
    let mut req = debit(1);
    req.account = AccountId::new("a\"b\\c\u{1}");
    let wire = encode_transfer(&req, ru(), &OPERATOR).unwrap();
    let parsed: Value = serde_json::from_slice(&wire.body).unwrap();
    assert_eq!(parsed["user"], "a\"b\\c\u{1}");
    assert_signed_by_operator(&wire);
}

#[test]
fn unrepresentable_requests_are_refused_before_sending() {
    fn reason(err: AdapterError) -> String {
        match err {
            AdapterError::Unrepresentable(source) => source.to_string(),
            other => panic!("expected Unrepresentable, got {other:?}"),
        }
    }
    let transfer = |req: &MoneyRequest| reason(encode_transfer(req, ru(), &OPERATOR).unwrap_err());
    assert_eq!(
        transfer(&debit(0)),
        RequestError::NonPositiveAmount.to_string()
    );
    assert_eq!(
        transfer(&credit(-5)),
        RequestError::NonPositiveAmount.to_string()
    );
    assert_eq!(
        transfer(&debit(i64::MIN)),
        RequestError::NonPositiveAmount.to_string()
    );
    // i64::MAX cents is more than i64 units of 1e-5.
    assert_eq!(
        transfer(&debit(i64::MAX)),
        RequestError::Units(UnitsError::Overflow).to_string()
    );
    let Err(AdapterError::Unrepresentable(source)) =
        encode_transfer(&debit(i64::MAX / 999), ru(), &OPERATOR)
    else {
        panic!("overflow not refused");
    };
    assert!(matches!(
        source.downcast_ref::<RequestError>(),
        Some(RequestError::Units(UnitsError::Overflow))
    ));
    // The largest amount that fits goes out exactly.
    let wire = encode_transfer(&debit(i64::MAX / 1000), ru(), &OPERATOR).unwrap();
    let parsed: Value = serde_json::from_slice(&wire.body).unwrap();
    assert_eq!(parsed["amount"], json!(i64::MAX / 1000 * 1000));

    let mut req = debit(1);
    req.tx_id = ProviderTxId::new("");
    assert_eq!(transfer(&req), RequestError::EmptyTxId.to_string());
    let mut req = debit(1);
    req.account = AccountId::new("");
    assert_eq!(transfer(&req), RequestError::EmptyAccount.to_string());
    let mut req = rollback(None);
    req.original_tx_id = ProviderTxId::new("");
    assert_eq!(
        reason(encode_rollback(&req, ru(), &OPERATOR).unwrap_err()),
        RequestError::EmptyTxId.to_string()
    );
    let mut req = rollback(None);
    req.tx_id = ProviderTxId::new("");
    assert_eq!(
        reason(encode_rollback(&req, ru(), &OPERATOR).unwrap_err()),
        RequestError::EmptyTxId.to_string()
    );
    let mut req = balance_req();
    req.account = AccountId::new("");
    assert_eq!(
        reason(encode_balance(&req, ru(), &OPERATOR).unwrap_err()),
        RequestError::EmptyAccount.to_string()
    );
    let mut req = status_req(None);
    req.tx_id = ProviderTxId::new("");
    assert_eq!(
        reason(encode_status(&req, ru(), &OPERATOR).unwrap_err()),
        RequestError::EmptyTxId.to_string()
    );
}

#[test]
fn rollbacks_are_not_looked_up() {
    let mut req = status_req(Some(250));
    req.kind = TxKind::Rollback;
    assert!(matches!(
        encode_status(&req, ru(), &OPERATOR),
        Err(AdapterError::Unsupported)
    ));
    // Even a signed "does not exist" proves nothing about a rollback.
    let (body, sig) = signed_reply(&format!(
        r#"{{"request_uuid":"{RU}","transaction_uuid":"tx-1","status":"RS_ERROR_TRANSACTION_DOES_NOT_EXIST"}}"#
    ));
    assert_eq!(
        status_class(classify_status(
            &req,
            &ru(),
            &ok_reply(&body, &sig),
            &VERIFIER
        )),
        StatusClass::Unknown(Kind::Unsupported)
    );
}

// ------------------------------------------------------------ replies

/// `body` with the provider's signature.
fn signed_reply(body: &str) -> (Vec<u8>, String) {
    let signature = PROVIDER.sign(body.as_bytes()).unwrap();
    (body.as_bytes().to_vec(), signature)
}

fn ok_reply<'a>(body: &'a [u8], signature: &'a str) -> WireReply<'a> {
    WireReply {
        status: 200,
        signature: Some(signature.as_bytes()),
        body,
    }
}

/// An outcome reduced to something comparable.
#[derive(Debug, PartialEq)]
enum Class {
    Settled(Settlement),
    Declined(DeclineReason),
    NotProcessed(Kind),
    Unknown(Kind),
}

/// An [`AdapterError`] reduced to its kind (and, when malformed, the
/// reason).
#[derive(Debug, PartialEq)]
enum Kind {
    HttpStatus(u16),
    BadSignature,
    Malformed(&'static str),
    Rejected(&'static str),
    Declined(DeclineReason),
    ProviderTrouble,
    Unsupported,
    Other,
}

fn kind(error: &AdapterError) -> Kind {
    match error {
        AdapterError::HttpStatus { status } => Kind::HttpStatus(*status),
        AdapterError::BadSignature => Kind::BadSignature,
        AdapterError::Malformed(source) => {
            Kind::Malformed(match source.downcast_ref::<MalformedReply>() {
                Some(MalformedReply::Json(_)) => "json",
                Some(MalformedReply::NotAnObject) => "not an object",
                Some(MalformedReply::UnexpectedField(_)) => "unexpected field",
                Some(MalformedReply::MissingField(_)) => "missing field",
                Some(MalformedReply::RequestUuidMismatch) => "request_uuid",
                Some(MalformedReply::TransactionUuidMismatch) => "transaction_uuid",
                Some(MalformedReply::EmptyTransactionUuid) => "empty transaction_uuid",
                Some(MalformedReply::UserMismatch) => "user",
                Some(MalformedReply::CurrencyMismatch) => "currency",
                Some(MalformedReply::UnknownCurrency) => "unknown currency",
                Some(MalformedReply::NegativeBalance) => "negative",
                Some(MalformedReply::ImplausibleBalance) => "implausible",
                Some(MalformedReply::Units(_)) => "inexact",
                Some(MalformedReply::AmountMismatch) => "amount",
                Some(MalformedReply::NonPositiveAmount) => "non-positive amount",
                Some(MalformedReply::UnexpectedStatus(_)) => "status",
                Some(MalformedReply::UnexpectedState(_)) => "state",
                Some(MalformedReply::TooLarge { .. }) => "too large",
                None => "?",
            })
        }
        AdapterError::Rejected { code } => Kind::Rejected(code),
        AdapterError::Declined(reason) => Kind::Declined(*reason),
        AdapterError::Transport(source) if source.is::<ProviderTrouble>() => Kind::ProviderTrouble,
        AdapterError::Unsupported => Kind::Unsupported,
        _ => Kind::Other,
    }
}

fn class(outcome: Outcome) -> Class {
    match outcome {
        Outcome::Settled(s) => Class::Settled(s),
        Outcome::Declined(r) => Class::Declined(r),
        Outcome::NotProcessed(e) => Class::NotProcessed(kind(&e)),
        Outcome::Unknown(e) => Class::Unknown(kind(&e)),
    }
}

/// A [`TxStatus`] reduced to something comparable.
#[derive(Debug, PartialEq)]
enum StatusClass {
    Applied(Settlement),
    RolledBack,
    Declined(DeclineReason),
    NotFound,
    Unknown(Kind),
}

fn status_class(status: TxStatus) -> StatusClass {
    match status {
        TxStatus::Applied(s) => StatusClass::Applied(s),
        TxStatus::RolledBack => StatusClass::RolledBack,
        TxStatus::Declined(r) => StatusClass::Declined(r),
        TxStatus::NotFound => StatusClass::NotFound,
        TxStatus::Unknown(e) => StatusClass::Unknown(kind(&e)),
    }
}

fn settled(balance: Option<i64>) -> Class {
    Class::Settled(Settlement {
        balance_after: balance.map(|b| Money::new(eur(), b)),
        provider_ref: None,
    })
}

fn unknown_malformed(reason: &'static str) -> Class {
    Class::Unknown(Kind::Malformed(reason))
}

/// Classifies `body` (with `{RU}` replaced by this call's request_uuid),
/// signed by the provider, as the reply to `classify`'s request.
fn signed_class(body: &str, classify: impl Fn(&WireReply<'_>) -> Outcome) -> Class {
    let (body, sig) = signed_reply(&body.replace("{RU}", RU));
    class(classify(&ok_reply(&body, &sig)))
}

/// Every status string, with how a bet classifies it when the reply is
/// otherwise a proper refusal (`{"request_uuid","transaction_uuid","status"}`).
fn bet_status_rows() -> Vec<(&'static str, Class)> {
    use DeclineReason::*;
    vec![
        (
            "RS_ERROR_NOT_ENOUGH_MONEY",
            Class::Declined(InsufficientFunds),
        ),
        ("RS_ERROR_USER_DISABLED", Class::Declined(AccountBlocked)),
        ("RS_ERROR_LIMIT_REACHED", Class::Declined(LimitExceeded)),
        ("RS_ERROR_WRONG_CURRENCY", Class::Declined(WrongCurrency)),
        ("RS_ERROR_UNKNOWN_USER", Class::Declined(UnknownAccount)),
        (
            "RS_ERROR_DUPLICATE_TRANSACTION",
            Class::Declined(DuplicateTransaction),
        ),
        (
            "RS_ERROR_TRANSACTION_ROLLED_BACK",
            Class::Declined(AlreadyRolledBack),
        ),
        (
            "RS_ERROR_INVALID_SIGNATURE",
            Class::NotProcessed(Kind::Rejected("RS_ERROR_INVALID_SIGNATURE")),
        ),
        ("RS_ERROR_UNKNOWN", Class::Unknown(Kind::ProviderTrouble)),
        (
            "RS_ERROR_TRANSACTION_DOES_NOT_EXIST",
            unknown_malformed("status"),
        ),
        ("RS_ERROR_NOT_REVERSIBLE", unknown_malformed("status")),
        ("RS_OK", unknown_malformed("missing field")),
        ("RS_ERROR_SOMETHING_NEW", unknown_malformed("status")),
        ("rs_ok", unknown_malformed("status")),
        ("", unknown_malformed("status")),
    ]
}

#[test]
#[rustfmt::skip]
fn bet_replies_are_classified() {
    let req = debit(250);
    let classify = |r: &WireReply<'_>| classify_transfer(&req, &ru(), r, &VERIFIER);
    let rows: Vec<(&str, &str, Class)> = vec![
        ("settled", r#"{"request_uuid":"{RU}","transaction_uuid":"tx-1","balance":975000000,"currency":"EUR","status":"RS_OK"}"#, settled(Some(975_000))),
        ("fields reordered, whitespace", r#" { "status" : "RS_OK", "currency":"EUR", "balance":0, "transaction_uuid":"tx-1", "request_uuid":"{RU}" } "#, settled(Some(0))),
        ("max exact balance", r#"{"request_uuid":"{RU}","transaction_uuid":"tx-1","balance":9223372036854775000,"currency":"EUR","status":"RS_OK"}"#, settled(Some(9_223_372_036_854_775))),
        ("inexact balance", r#"{"request_uuid":"{RU}","transaction_uuid":"tx-1","balance":975000001,"currency":"EUR","status":"RS_OK"}"#, unknown_malformed("inexact")),
        ("inexact max balance", r#"{"request_uuid":"{RU}","transaction_uuid":"tx-1","balance":9223372036854775807,"currency":"EUR","status":"RS_OK"}"#, unknown_malformed("inexact")),
        ("balance above i64", r#"{"request_uuid":"{RU}","transaction_uuid":"tx-1","balance":9223372036854775808,"currency":"EUR","status":"RS_OK"}"#, unknown_malformed("json")),
        ("balance huge", r#"{"request_uuid":"{RU}","transaction_uuid":"tx-1","balance":123456789012345678901234567890,"currency":"EUR","status":"RS_OK"}"#, unknown_malformed("json")),
        ("balance 1e400", r#"{"request_uuid":"{RU}","transaction_uuid":"tx-1","balance":1e400,"currency":"EUR","status":"RS_OK"}"#, unknown_malformed("json")),
        ("balance float", r#"{"request_uuid":"{RU}","transaction_uuid":"tx-1","balance":975000000.0,"currency":"EUR","status":"RS_OK"}"#, unknown_malformed("json")),
        ("balance string", r#"{"request_uuid":"{RU}","transaction_uuid":"tx-1","balance":"975000000","currency":"EUR","status":"RS_OK"}"#, unknown_malformed("json")),
        ("balance null", r#"{"request_uuid":"{RU}","transaction_uuid":"tx-1","balance":null,"currency":"EUR","status":"RS_OK"}"#, unknown_malformed("json")),
        ("a lookup's field, null", r#"{"request_uuid":"{RU}","transaction_uuid":"tx-1","balance":975000000,"currency":"EUR","amount":null,"status":"RS_OK"}"#, unknown_malformed("json")),
        ("negative balance", r#"{"request_uuid":"{RU}","transaction_uuid":"tx-1","balance":-1000,"currency":"EUR","status":"RS_OK"}"#, unknown_malformed("negative")),
        ("missing balance", r#"{"request_uuid":"{RU}","transaction_uuid":"tx-1","currency":"EUR","status":"RS_OK"}"#, unknown_malformed("missing field")),
        ("missing currency", r#"{"request_uuid":"{RU}","transaction_uuid":"tx-1","balance":975000000,"status":"RS_OK"}"#, unknown_malformed("missing field")),
        ("other currency", r#"{"request_uuid":"{RU}","transaction_uuid":"tx-1","balance":975000000,"currency":"USD","status":"RS_OK"}"#, unknown_malformed("currency")),
        ("lowercase currency", r#"{"request_uuid":"{RU}","transaction_uuid":"tx-1","balance":975000000,"currency":"eur","status":"RS_OK"}"#, unknown_malformed("currency")),
        ("missing transaction_uuid", r#"{"request_uuid":"{RU}","balance":975000000,"currency":"EUR","status":"RS_OK"}"#, unknown_malformed("missing field")),
        ("other transaction_uuid", r#"{"request_uuid":"{RU}","transaction_uuid":"tx-2","balance":975000000,"currency":"EUR","status":"RS_OK"}"#, unknown_malformed("transaction_uuid")),
        ("transaction_uuid prefix", r#"{"request_uuid":"{RU}","transaction_uuid":"tx-","balance":975000000,"currency":"EUR","status":"RS_OK"}"#, unknown_malformed("transaction_uuid")),
        ("transaction_uuid number", r#"{"request_uuid":"{RU}","transaction_uuid":1,"balance":975000000,"currency":"EUR","status":"RS_OK"}"#, unknown_malformed("json")),
        ("missing request_uuid", r#"{"transaction_uuid":"tx-1","balance":975000000,"currency":"EUR","status":"RS_OK"}"#, unknown_malformed("request_uuid")),
        ("other request_uuid (a replay)", r#"{"request_uuid":"00000000-0000-4000-8000-000000000002","transaction_uuid":"tx-1","balance":975000000,"currency":"EUR","status":"RS_OK"}"#, unknown_malformed("request_uuid")),
        ("request_uuid uppercase", r#"{"request_uuid":"00000000-0000-4000-8000-00000000000A","transaction_uuid":"tx-1","balance":975000000,"currency":"EUR","status":"RS_OK"}"#, unknown_malformed("request_uuid")),
        ("request_uuid null", r#"{"request_uuid":null,"transaction_uuid":"tx-1","balance":975000000,"currency":"EUR","status":"RS_OK"}"#, unknown_malformed("json")),
        ("status missing", r#"{"request_uuid":"{RU}","transaction_uuid":"tx-1","balance":975000000,"currency":"EUR"}"#, unknown_malformed("json")),
        ("status number", r#"{"request_uuid":"{RU}","transaction_uuid":"tx-1","balance":975000000,"currency":"EUR","status":0}"#, unknown_malformed("json")),
        ("a lookup's field", r#"{"request_uuid":"{RU}","transaction_uuid":"tx-1","balance":975000000,"currency":"EUR","state":"TS_SUCCESS","status":"RS_OK"}"#, unknown_malformed("unexpected field")),
        ("a balance's field", r#"{"request_uuid":"{RU}","transaction_uuid":"tx-1","user":"acc-1","balance":975000000,"currency":"EUR","status":"RS_OK"}"#, unknown_malformed("unexpected field")),
        ("unknown field", r#"{"request_uuid":"{RU}","transaction_uuid":"tx-1","balance":975000000,"currency":"EUR","status":"RS_OK","provider_ref":"x"}"#, unknown_malformed("json")),
        ("duplicate status", r#"{"request_uuid":"{RU}","transaction_uuid":"tx-1","balance":975000000,"currency":"EUR","status":"RS_ERROR_UNKNOWN","status":"RS_OK"}"#, unknown_malformed("json")),
        ("trailing garbage", r#"{"request_uuid":"{RU}","transaction_uuid":"tx-1","balance":975000000,"currency":"EUR","status":"RS_OK"}x"#, unknown_malformed("json")),
        ("two objects", r#"{"request_uuid":"{RU}","transaction_uuid":"tx-1","balance":975000000,"currency":"EUR","status":"RS_OK"}{}"#, unknown_malformed("json")),
        ("truncated", r#"{"request_uuid":"{RU}","transaction_uuid":"tx-1","balance":9750"#, unknown_malformed("json")),
        ("fields as an array", r#"["RS_OK","{RU}","tx-1",null,"EUR",975000000,null,null]"#, unknown_malformed("not an object")),
        ("null", "null", unknown_malformed("not an object")),
        ("empty", "", unknown_malformed("json")),
        ("html", "<html>OK</html>", unknown_malformed("json")),
        // Refusals: with the ids, with extra fields of a bet reply.
        ("decline with balance", r#"{"request_uuid":"{RU}","transaction_uuid":"tx-1","balance":100,"currency":"EUR","status":"RS_ERROR_NOT_ENOUGH_MONEY"}"#, Class::Declined(DeclineReason::InsufficientFunds)),
        ("decline without transaction_uuid", r#"{"request_uuid":"{RU}","status":"RS_ERROR_NOT_ENOUGH_MONEY"}"#, Class::Declined(DeclineReason::InsufficientFunds)),
        ("decline of another transaction", r#"{"request_uuid":"{RU}","transaction_uuid":"tx-9","status":"RS_ERROR_NOT_ENOUGH_MONEY"}"#, unknown_malformed("transaction_uuid")),
        ("decline of another request (a replay)", r#"{"request_uuid":"00000000-0000-4000-8000-000000000002","transaction_uuid":"tx-1","status":"RS_ERROR_NOT_ENOUGH_MONEY"}"#, unknown_malformed("request_uuid")),
        ("decline without request_uuid", r#"{"transaction_uuid":"tx-1","status":"RS_ERROR_NOT_ENOUGH_MONEY"}"#, unknown_malformed("request_uuid")),
        ("bare decline", r#"{"status":"RS_ERROR_USER_DISABLED"}"#, unknown_malformed("request_uuid")),
        ("bare provider trouble", r#"{"status":"RS_ERROR_UNKNOWN"}"#, unknown_malformed("request_uuid")),
        // The provider refuses an unauthenticated request without reading it.
        ("bare invalid signature", r#"{"status":"RS_ERROR_INVALID_SIGNATURE"}"#, Class::NotProcessed(Kind::Rejected("RS_ERROR_INVALID_SIGNATURE"))),
        ("invalid signature of another request", r#"{"request_uuid":"00000000-0000-4000-8000-000000000002","status":"RS_ERROR_INVALID_SIGNATURE"}"#, unknown_malformed("request_uuid")),
        ("invalid signature of another transaction", r#"{"transaction_uuid":"tx-9","status":"RS_ERROR_INVALID_SIGNATURE"}"#, unknown_malformed("transaction_uuid")),
    ];
    for (name, body, expected) in rows {
        assert_eq!(signed_class(body, classify), expected, "bet: {name}");
    }
    for (status, expected) in bet_status_rows() {
        let body = format!(r#"{{"request_uuid":"{{RU}}","transaction_uuid":"tx-1","status":"{status}"}}"#);
        assert_eq!(signed_class(&body, classify), expected, "bet: {status}");
    }
}

#[test]
#[rustfmt::skip]
fn win_replies_are_classified() {
    let req = credit(1250);
    let classify = |r: &WireReply<'_>| classify_transfer(&req, &ru(), r, &VERIFIER);
    let reply = |balance: i64| format!(r#"{{"request_uuid":"{{RU}}","transaction_uuid":"tx-2","balance":{balance},"currency":"EUR","status":"RS_OK"}}"#);
    assert_eq!(signed_class(&reply(1_250_000), classify), settled(Some(1250)));
    assert_eq!(signed_class(&reply(99_999_000), classify), settled(Some(99_999)));
    // A win of 1250 cannot leave less than 1250 on a non-negative account.
    assert_eq!(signed_class(&reply(1_249_000), classify), unknown_malformed("implausible"));
    assert_eq!(signed_class(&reply(1_250_500), classify), unknown_malformed("inexact"));
    // The bet's reply is not the win's.
    let bet_reply = r#"{"request_uuid":"{RU}","transaction_uuid":"tx-1","balance":975000000,"currency":"EUR","status":"RS_OK"}"#;
    assert_eq!(signed_class(bet_reply, classify), unknown_malformed("transaction_uuid"));
    for (status, expected) in bet_status_rows() {
        let body = format!(r#"{{"request_uuid":"{{RU}}","transaction_uuid":"tx-2","status":"{status}"}}"#);
        assert_eq!(signed_class(&body, classify), expected, "win: {status}");
    }
}

#[test]
fn other_currencies_convert_by_their_exponent() {
    let jpy = Currency::from_code("JPY").unwrap();
    let mut req = debit(7);
    req.amount = Money::new(jpy, 7);
    let classify = |r: &WireReply<'_>| classify_transfer(&req, &ru(), r, &VERIFIER);
    let reply = |balance: i64| {
        format!(
            r#"{{"request_uuid":"{{RU}}","transaction_uuid":"tx-1","balance":{balance},"currency":"JPY","status":"RS_OK"}}"#
        )
    };
    assert_eq!(
        signed_class(&reply(300_000), classify),
        Class::Settled(Settlement {
            balance_after: Some(Money::new(jpy, 3)),
            provider_ref: None,
        })
    );
    // Half a yen.
    assert_eq!(
        signed_class(&reply(350_000), classify),
        unknown_malformed("inexact")
    );
}

#[test]
#[rustfmt::skip]
fn rollback_replies_are_classified() {
    let with_amount = rollback(Some(250));
    let without_amount = rollback(None);
    let with = |r: &WireReply<'_>| classify_rollback(&with_amount, &ru(), r, &VERIFIER);
    let without = |r: &WireReply<'_>| classify_rollback(&without_amount, &ru(), r, &VERIFIER);

    let ok = r#"{"request_uuid":"{RU}","transaction_uuid":"rb-1","balance":1000000000,"status":"RS_OK"}"#;
    assert_eq!(signed_class(ok, with), settled(Some(1_000_000)));
    // The wire gives no currency: without the hub's amount there is none.
    assert_eq!(signed_class(ok, without), settled(None));
    // ... unless the reply names one.
    let with_currency = r#"{"request_uuid":"{RU}","transaction_uuid":"rb-1","balance":1000000000,"currency":"EUR","status":"RS_OK"}"#;
    assert_eq!(signed_class(with_currency, without), settled(Some(1_000_000)));
    assert_eq!(signed_class(with_currency, with), settled(Some(1_000_000)));
    // The tombstone answer for a bet the provider never saw: no balance.
    let tombstone = r#"{"request_uuid":"{RU}","transaction_uuid":"rb-1","status":"RS_OK"}"#;
    assert_eq!(signed_class(tombstone, with), settled(None));
    assert_eq!(signed_class(tombstone, without), settled(None));
    // The spec's replay of the first rollback of the same bet, under another
    // rollback id: reversed, but the balance is not ours.
    let replay = r#"{"request_uuid":"{RU}","transaction_uuid":"rb-0","balance":1000000000,"status":"RS_OK"}"#;
    assert_eq!(signed_class(replay, with), settled(None));
    let rows: Vec<(&str, &str, Class)> = vec![
        ("not reversible", r#"{"request_uuid":"{RU}","transaction_uuid":"rb-1","status":"RS_ERROR_NOT_REVERSIBLE"}"#, Class::Declined(DeclineReason::NotReversible)),
        ("duplicate rollback id", r#"{"request_uuid":"{RU}","transaction_uuid":"rb-1","status":"RS_ERROR_DUPLICATE_TRANSACTION"}"#, Class::Declined(DeclineReason::DuplicateTransaction)),
        ("unknown user", r#"{"request_uuid":"{RU}","transaction_uuid":"rb-1","status":"RS_ERROR_UNKNOWN_USER"}"#, Class::Declined(DeclineReason::UnknownAccount)),
        ("limit", r#"{"request_uuid":"{RU}","transaction_uuid":"rb-1","status":"RS_ERROR_LIMIT_REACHED"}"#, Class::Declined(DeclineReason::LimitExceeded)),
        ("not reversible, other id", r#"{"request_uuid":"{RU}","transaction_uuid":"rb-0","status":"RS_ERROR_NOT_REVERSIBLE"}"#, unknown_malformed("transaction_uuid")),
        ("invalid signature", r#"{"status":"RS_ERROR_INVALID_SIGNATURE"}"#, Class::NotProcessed(Kind::Rejected("RS_ERROR_INVALID_SIGNATURE"))),
        ("provider trouble", r#"{"request_uuid":"{RU}","transaction_uuid":"rb-1","status":"RS_ERROR_UNKNOWN"}"#, Class::Unknown(Kind::ProviderTrouble)),
        ("does not exist (not a rollback answer)", r#"{"request_uuid":"{RU}","transaction_uuid":"rb-1","status":"RS_ERROR_TRANSACTION_DOES_NOT_EXIST"}"#, unknown_malformed("status")),
        ("rolled back (not a rollback answer)", r#"{"request_uuid":"{RU}","transaction_uuid":"rb-1","status":"RS_ERROR_TRANSACTION_ROLLED_BACK"}"#, unknown_malformed("status")),
        ("other request", r#"{"request_uuid":"00000000-0000-4000-8000-000000000002","transaction_uuid":"rb-1","balance":1000000000,"status":"RS_OK"}"#, unknown_malformed("request_uuid")),
        ("no request_uuid", r#"{"transaction_uuid":"rb-1","balance":1000000000,"status":"RS_OK"}"#, unknown_malformed("request_uuid")),
        ("no transaction_uuid", r#"{"request_uuid":"{RU}","balance":1000000000,"status":"RS_OK"}"#, unknown_malformed("missing field")),
        ("empty transaction_uuid", r#"{"request_uuid":"{RU}","transaction_uuid":"","balance":1000000000,"status":"RS_OK"}"#, unknown_malformed("empty transaction_uuid")),
        ("inexact balance", r#"{"request_uuid":"{RU}","transaction_uuid":"rb-1","balance":1000000001,"status":"RS_OK"}"#, unknown_malformed("inexact")),
        ("inexact balance of a replay", r#"{"request_uuid":"{RU}","transaction_uuid":"rb-0","balance":1000000001,"status":"RS_OK"}"#, unknown_malformed("inexact")),
        ("negative balance", r#"{"request_uuid":"{RU}","transaction_uuid":"rb-1","balance":-5000,"status":"RS_OK"}"#, unknown_malformed("negative")),
        ("other currency", r#"{"request_uuid":"{RU}","transaction_uuid":"rb-1","balance":1000000000,"currency":"USD","status":"RS_OK"}"#, unknown_malformed("currency")),
        ("balance as string", r#"{"request_uuid":"{RU}","transaction_uuid":"rb-1","balance":"1000000000","status":"RS_OK"}"#, unknown_malformed("json")),
        ("huge balance", r#"{"request_uuid":"{RU}","transaction_uuid":"rb-1","balance":1e400,"status":"RS_OK"}"#, unknown_malformed("json")),
        ("a lookup field", r#"{"request_uuid":"{RU}","transaction_uuid":"rb-1","amount":250000,"status":"RS_OK"}"#, unknown_malformed("unexpected field")),
        ("unknown field", r#"{"request_uuid":"{RU}","transaction_uuid":"rb-1","reference_transaction_uuid":"tx-1","status":"RS_OK"}"#, unknown_malformed("json")),
        ("status not OK", r#"{"request_uuid":"{RU}","transaction_uuid":"rb-1","balance":1000000000,"status":"OK"}"#, unknown_malformed("status")),
        ("trailing garbage", r#"{"request_uuid":"{RU}","transaction_uuid":"rb-1","status":"RS_OK"},"#, unknown_malformed("json")),
        ("array", r#"["RS_OK","{RU}","rb-1"]"#, unknown_malformed("not an object")),
    ];
    for (name, body, expected) in rows {
        assert_eq!(signed_class(body, with), expected, "rollback: {name}");
    }
    // A rollback with an unknown currency code and no amount from the hub.
    let odd = r#"{"request_uuid":"{RU}","transaction_uuid":"rb-1","balance":5,"currency":"XAU","status":"RS_OK"}"#;
    assert_eq!(signed_class(odd, without), unknown_malformed("unknown currency"));
}

#[test]
#[rustfmt::skip]
fn balance_replies_are_classified() {
    let req = balance_req();
    let classify = |body: &str| {
        let (body, sig) = signed_reply(&body.replace("{RU}", RU));
        classify_balance(&req, &ru(), &ok_reply(&body, &sig), &VERIFIER).map_err(|e| kind(&e))
    };
    let rows: Vec<(&str, &str, Result<Money, Kind>)> = vec![
        ("balance", r#"{"request_uuid":"{RU}","user":"acc-1","currency":"EUR","balance":1000000000,"status":"RS_OK"}"#, Ok(Money::new(eur(), 1_000_000))),
        ("zero", r#"{"status":"RS_OK","balance":0,"currency":"EUR","user":"acc-1","request_uuid":"{RU}"}"#, Ok(Money::new(eur(), 0))),
        ("inexact", r#"{"request_uuid":"{RU}","user":"acc-1","currency":"EUR","balance":1000000500,"status":"RS_OK"}"#, Err(Kind::Malformed("inexact"))),
        ("negative", r#"{"request_uuid":"{RU}","user":"acc-1","currency":"EUR","balance":-1000,"status":"RS_OK"}"#, Err(Kind::Malformed("negative"))),
        ("other user", r#"{"request_uuid":"{RU}","user":"acc-2","currency":"EUR","balance":1000000000,"status":"RS_OK"}"#, Err(Kind::Malformed("user"))),
        ("no user", r#"{"request_uuid":"{RU}","currency":"EUR","balance":1000000000,"status":"RS_OK"}"#, Err(Kind::Malformed("missing field"))),
        ("other currency", r#"{"request_uuid":"{RU}","user":"acc-1","currency":"USD","balance":1000000000,"status":"RS_OK"}"#, Err(Kind::Malformed("currency"))),
        ("no balance", r#"{"request_uuid":"{RU}","user":"acc-1","currency":"EUR","status":"RS_OK"}"#, Err(Kind::Malformed("missing field"))),
        ("float", r#"{"request_uuid":"{RU}","user":"acc-1","currency":"EUR","balance":100.5,"status":"RS_OK"}"#, Err(Kind::Malformed("json"))),
        ("huge", r#"{"request_uuid":"{RU}","user":"acc-1","currency":"EUR","balance":99999999999999999999,"status":"RS_OK"}"#, Err(Kind::Malformed("json"))),
        ("other request", r#"{"request_uuid":"00000000-0000-4000-8000-000000000002","user":"acc-1","currency":"EUR","balance":1000000000,"status":"RS_OK"}"#, Err(Kind::Malformed("request_uuid"))),
        ("a transfer's field", r#"{"request_uuid":"{RU}","transaction_uuid":"tx-1","user":"acc-1","currency":"EUR","balance":1,"status":"RS_OK"}"#, Err(Kind::Malformed("unexpected field"))),
        ("unknown user", r#"{"request_uuid":"{RU}","status":"RS_ERROR_UNKNOWN_USER"}"#, Err(Kind::Declined(DeclineReason::UnknownAccount))),
        ("unknown user, named", r#"{"request_uuid":"{RU}","user":"acc-1","status":"RS_ERROR_UNKNOWN_USER"}"#, Err(Kind::Declined(DeclineReason::UnknownAccount))),
        ("unknown user, another named", r#"{"request_uuid":"{RU}","user":"acc-2","status":"RS_ERROR_UNKNOWN_USER"}"#, Err(Kind::Malformed("user"))),
        ("disabled", r#"{"request_uuid":"{RU}","status":"RS_ERROR_USER_DISABLED"}"#, Err(Kind::Declined(DeclineReason::AccountBlocked))),
        ("wrong currency", r#"{"request_uuid":"{RU}","status":"RS_ERROR_WRONG_CURRENCY"}"#, Err(Kind::Declined(DeclineReason::WrongCurrency))),
        ("invalid signature", r#"{"status":"RS_ERROR_INVALID_SIGNATURE"}"#, Err(Kind::Rejected("RS_ERROR_INVALID_SIGNATURE"))),
        ("provider trouble", r#"{"request_uuid":"{RU}","status":"RS_ERROR_UNKNOWN"}"#, Err(Kind::ProviderTrouble)),
        ("not enough money", r#"{"request_uuid":"{RU}","status":"RS_ERROR_NOT_ENOUGH_MONEY"}"#, Err(Kind::Malformed("status"))),
        ("does not exist", r#"{"request_uuid":"{RU}","status":"RS_ERROR_TRANSACTION_DOES_NOT_EXIST"}"#, Err(Kind::Malformed("status"))),
        ("bare unknown user", r#"{"status":"RS_ERROR_UNKNOWN_USER"}"#, Err(Kind::Malformed("request_uuid"))),
        ("garbage", "\u{0}garbage", Err(Kind::Malformed("json"))),
        ("array", r#"["RS_OK","{RU}"]"#, Err(Kind::Malformed("not an object"))),
    ];
    for (name, body, expected) in rows {
        assert_eq!(classify(body), expected, "balance: {name}");
    }
}

#[test]
#[rustfmt::skip]
fn lookup_replies_are_classified() {
    let known = status_req(Some(250));
    let unknown_amount = status_req(None);
    let classify = |req: &StatusRequest, body: &str| {
        let (body, sig) = signed_reply(&body.replace("{RU}", RU));
        status_class(classify_status(req, &ru(), &ok_reply(&body, &sig), &VERIFIER))
    };
    let record = |state: &str, amount: i64, currency: &str| format!(
        r#"{{"request_uuid":"{{RU}}","transaction_uuid":"tx-1","state":"{state}","amount":{amount},"currency":"{currency}","status":"RS_OK"}}"#
    );
    for req in [&known, &unknown_amount] {
        assert_eq!(classify(req, &record("TS_SUCCESS", 250_000, "EUR")), StatusClass::Applied(Settlement::default()));
        assert_eq!(classify(req, &record("TS_ROLLED_BACK", 250_000, "EUR")), StatusClass::RolledBack);
        assert_eq!(classify(req, &record("TS_DECLINED", 250_000, "EUR")), StatusClass::Declined(DeclineReason::Other));
        assert_eq!(classify(req, r#"{"request_uuid":"{RU}","transaction_uuid":"tx-1","status":"RS_ERROR_TRANSACTION_DOES_NOT_EXIST"}"#), StatusClass::NotFound);
        assert_eq!(classify(req, r#"{"request_uuid":"{RU}","status":"RS_ERROR_TRANSACTION_DOES_NOT_EXIST"}"#), StatusClass::NotFound);
    }
    let malformed = |reason| StatusClass::Unknown(Kind::Malformed(reason));
    let rows: Vec<(&str, String, StatusClass)> = vec![
        ("another amount", record("TS_SUCCESS", 251_000, "EUR"), malformed("amount")),
        ("another currency", record("TS_SUCCESS", 250_000, "USD"), malformed("amount")),
        ("inexact amount", record("TS_SUCCESS", 250_001, "EUR"), malformed("inexact")),
        ("zero amount", record("TS_SUCCESS", 0, "EUR"), malformed("non-positive amount")),
        ("unknown currency", record("TS_SUCCESS", 250_000, "XXX"), malformed("unknown currency")),
        ("another amount, rolled back", record("TS_ROLLED_BACK", 1_000, "EUR"), malformed("amount")),
        ("unknown state", record("TS_PENDING", 250_000, "EUR"), malformed("state")),
        ("lowercase state", record("ts_success", 250_000, "EUR"), malformed("state")),
        ("no state", r#"{"request_uuid":"{RU}","transaction_uuid":"tx-1","amount":250000,"currency":"EUR","status":"RS_OK"}"#.into(), malformed("missing field")),
        ("no amount", r#"{"request_uuid":"{RU}","transaction_uuid":"tx-1","state":"TS_SUCCESS","currency":"EUR","status":"RS_OK"}"#.into(), malformed("missing field")),
        ("no currency", r#"{"request_uuid":"{RU}","transaction_uuid":"tx-1","state":"TS_SUCCESS","amount":250000,"status":"RS_OK"}"#.into(), malformed("missing field")),
        ("another transaction", r#"{"request_uuid":"{RU}","transaction_uuid":"tx-9","state":"TS_SUCCESS","amount":250000,"currency":"EUR","status":"RS_OK"}"#.into(), malformed("transaction_uuid")),
        ("no transaction", r#"{"request_uuid":"{RU}","state":"TS_SUCCESS","amount":250000,"currency":"EUR","status":"RS_OK"}"#.into(), malformed("missing field")),
        ("another request", r#"{"request_uuid":"00000000-0000-4000-8000-000000000002","transaction_uuid":"tx-1","state":"TS_SUCCESS","amount":250000,"currency":"EUR","status":"RS_OK"}"#.into(), malformed("request_uuid")),
        ("not found, bare (no echo)", r#"{"status":"RS_ERROR_TRANSACTION_DOES_NOT_EXIST"}"#.into(), malformed("request_uuid")),
        ("not found for another transaction", r#"{"request_uuid":"{RU}","transaction_uuid":"tx-9","status":"RS_ERROR_TRANSACTION_DOES_NOT_EXIST"}"#.into(), malformed("transaction_uuid")),
        ("a balance field", r#"{"request_uuid":"{RU}","transaction_uuid":"tx-1","state":"TS_SUCCESS","amount":250000,"currency":"EUR","balance":1,"status":"RS_OK"}"#.into(), malformed("unexpected field")),
        ("invalid signature", r#"{"status":"RS_ERROR_INVALID_SIGNATURE"}"#.into(), StatusClass::Unknown(Kind::Rejected("RS_ERROR_INVALID_SIGNATURE"))),
        ("provider trouble", r#"{"request_uuid":"{RU}","transaction_uuid":"tx-1","status":"RS_ERROR_UNKNOWN"}"#.into(), StatusClass::Unknown(Kind::ProviderTrouble)),
        ("a decline status", r#"{"request_uuid":"{RU}","transaction_uuid":"tx-1","status":"RS_ERROR_NOT_ENOUGH_MONEY"}"#.into(), malformed("status")),
        ("amount as float", r#"{"request_uuid":"{RU}","transaction_uuid":"tx-1","state":"TS_SUCCESS","amount":250000.0,"currency":"EUR","status":"RS_OK"}"#.into(), malformed("json")),
        ("amount huge", r#"{"request_uuid":"{RU}","transaction_uuid":"tx-1","state":"TS_SUCCESS","amount":250000000000000000000000,"currency":"EUR","status":"RS_OK"}"#.into(), malformed("json")),
        ("garbage", "TS_SUCCESS".into(), malformed("json")),
    ];
    for (name, body, expected) in rows {
        assert_eq!(classify(&known, &body), expected, "lookup: {name}");
    }
    // Without the hub's amount, any well-formed positive money is accepted.
    assert_eq!(classify(&unknown_amount, &record("TS_SUCCESS", 1_000, "USD")), StatusClass::Applied(Settlement::default()));
    assert_eq!(classify(&unknown_amount, &record("TS_SUCCESS", 1_001, "USD")), malformed("inexact"));
}

#[test]
fn http_statuses_other_than_200_carry_no_business_answer() {
    let body = format!(
        r#"{{"request_uuid":"{RU}","transaction_uuid":"tx-1","balance":975000000,"currency":"EUR","status":"RS_OK"}}"#
    );
    let (body, sig) = signed_reply(&body);
    for status in [
        0u16, 100, 201, 204, 302, 400, 401, 404, 429, 500, 502, 503, 504, 600,
    ] {
        let reply = WireReply {
            status,
            signature: Some(sig.as_bytes()),
            body: &body,
        };
        assert_eq!(
            class(classify_transfer(&debit(250), &ru(), &reply, &VERIFIER)),
            Class::Unknown(Kind::HttpStatus(status))
        );
        assert_eq!(
            class(classify_rollback(&rollback(None), &ru(), &reply, &VERIFIER)),
            Class::Unknown(Kind::HttpStatus(status))
        );
        assert_eq!(
            classify_balance(&balance_req(), &ru(), &reply, &VERIFIER).map_err(|e| kind(&e)),
            Err(Kind::HttpStatus(status))
        );
        assert_eq!(
            status_class(classify_status(&status_req(None), &ru(), &reply, &VERIFIER)),
            StatusClass::Unknown(Kind::HttpStatus(status))
        );
    }
}

/// A name, the body bytes, and the signature header.
type SignatureCase<'a> = (&'static str, &'a [u8], Option<&'a [u8]>);

#[test]
fn a_reply_that_does_not_verify_is_never_trusted() {
    let settled_bet = format!(
        r#"{{"request_uuid":"{RU}","transaction_uuid":"tx-1","balance":975000000,"currency":"EUR","status":"RS_OK"}}"#
    );
    let decline = format!(
        r#"{{"request_uuid":"{RU}","transaction_uuid":"tx-1","status":"RS_ERROR_NOT_ENOUGH_MONEY"}}"#
    );
    let refused = r#"{"status":"RS_ERROR_INVALID_SIGNATURE"}"#.to_owned();
    for body in [settled_bet, decline, refused] {
        let good = PROVIDER.sign(body.as_bytes()).unwrap();
        let by_impostor = IMPOSTOR.sign(body.as_bytes()).unwrap();
        let by_operator = OPERATOR.sign(body.as_bytes()).unwrap();
        let of_other_body = PROVIDER.sign(b"{}").unwrap();
        let mut spaced = body.clone().into_bytes();
        spaced.push(b' ');
        let mut truncated_sig = good.clone();
        truncated_sig.truncate(good.len() - 4);
        let cases: Vec<SignatureCase<'_>> = vec![
            ("missing", body.as_bytes(), None),
            ("empty", body.as_bytes(), Some(b"")),
            ("impostor", body.as_bytes(), Some(by_impostor.as_bytes())),
            ("our own key", body.as_bytes(), Some(by_operator.as_bytes())),
            (
                "another body's",
                body.as_bytes(),
                Some(of_other_body.as_bytes()),
            ),
            ("body changed", &spaced, Some(good.as_bytes())),
            ("truncated", body.as_bytes(), Some(truncated_sig.as_bytes())),
            ("not base64", body.as_bytes(), Some(b"%%%")),
            ("hex", body.as_bytes(), Some(b"deadbeef")),
        ];
        for (name, bytes, signature) in cases {
            let reply = WireReply {
                status: 200,
                signature,
                body: bytes,
            };
            assert_eq!(
                class(classify_transfer(&debit(250), &ru(), &reply, &VERIFIER)),
                Class::Unknown(Kind::BadSignature),
                "{name}: {body}"
            );
            assert_eq!(
                class(classify_rollback(
                    &rollback(Some(250)),
                    &ru(),
                    &reply,
                    &VERIFIER
                )),
                Class::Unknown(Kind::BadSignature),
                "{name}: {body}"
            );
            assert_eq!(
                classify_balance(&balance_req(), &ru(), &reply, &VERIFIER).map_err(|e| kind(&e)),
                Err(Kind::BadSignature),
                "{name}: {body}"
            );
            assert_eq!(
                status_class(classify_status(&status_req(None), &ru(), &reply, &VERIFIER)),
                StatusClass::Unknown(Kind::BadSignature),
                "{name}: {body}"
            );
        }
        // The control: the provider's signature of exactly these bytes.
        let reply = ok_reply(body.as_bytes(), &good);
        assert!(!matches!(
            class(classify_transfer(&debit(250), &ru(), &reply, &VERIFIER)),
            Class::Unknown(Kind::BadSignature)
        ));
    }
}

#[test]
fn an_unexpected_status_is_kept_short() {
    let long = format!(
        r#"{{"request_uuid":"{RU}","transaction_uuid":"tx-1","status":"{}"}}"#,
        "X".repeat(10_000)
    );
    let (body, sig) = signed_reply(&long);
    let Outcome::Unknown(AdapterError::Malformed(source)) =
        classify_transfer(&debit(1), &ru(), &ok_reply(&body, &sig), &VERIFIER)
    else {
        panic!("expected Unknown(Malformed)");
    };
    match source.downcast_ref::<MalformedReply>() {
        Some(MalformedReply::UnexpectedStatus(status)) => {
            assert_eq!(status.chars().count(), 64);
        }
        other => panic!("unexpected {other:?}"),
    }
}

// ------------------------------------------------------------ properties

const STATUSES: [&str; 14] = [
    "RS_OK",
    "RS_ERROR_NOT_ENOUGH_MONEY",
    "RS_ERROR_USER_DISABLED",
    "RS_ERROR_LIMIT_REACHED",
    "RS_ERROR_WRONG_CURRENCY",
    "RS_ERROR_UNKNOWN_USER",
    "RS_ERROR_DUPLICATE_TRANSACTION",
    "RS_ERROR_TRANSACTION_DOES_NOT_EXIST",
    "RS_ERROR_TRANSACTION_ROLLED_BACK",
    "RS_ERROR_NOT_REVERSIBLE",
    "RS_ERROR_INVALID_SIGNATURE",
    "RS_ERROR_UNKNOWN",
    "RS_ERROR_OTHER",
    "",
];

/// A JSON value that is sometimes the right one and sometimes not.
fn any_json_value(right: Value) -> BoxedStrategy<Value> {
    prop_oneof![
        6 => Just(right),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<f64>().prop_map(|f| json!(f)),
        1 => "[a-zA-Z0-9_ -]{0,12}".prop_map(Value::from),
        1 => Just(Value::Null),
        1 => Just(json!([])),
    ]
    .boxed()
}

/// Which operation a reply template is for.
#[derive(Debug, Clone, Copy)]
enum Op {
    Transfer,
    Rollback,
    Balance,
    Lookup,
}

/// A reply's fields in wire order.
type Fields = Vec<(&'static str, Value)>;

fn any_status_string() -> BoxedStrategy<Value> {
    prop_oneof![
        4 => Just(json!("RS_OK")),
        3 => prop::sample::select(STATUSES.to_vec()).prop_map(Value::from),
    ]
    .boxed()
}

fn any_request_uuid() -> BoxedStrategy<Option<Value>> {
    prop_oneof![
        6 => Just(Some(json!(RU))),
        1 => Just(Some(json!(OTHER_RU))),
        1 => Just(None),
    ]
    .boxed()
}

/// Balances in 1e-5 units: mostly whole cents, sometimes not, sometimes
/// negative or huge.
fn any_units() -> BoxedStrategy<i64> {
    prop_oneof![
        6 => (0i64..2_000_000).prop_map(|c| c * 1000),
        1 => 0i64..2_000_000_000,
        1 => any::<i64>(),
    ]
    .boxed()
}

/// Well-formed replies of `op`, with any status, mostly for this call.
fn template(op: Op) -> BoxedStrategy<Fields> {
    (
        any_request_uuid(),
        any_status_string(),
        any_units(),
        prop_oneof![4 => Just("EUR"), 1 => Just("USD")],
        prop::option::weighted(0.8, any::<bool>()),
        prop::sample::select(vec![
            "TS_SUCCESS",
            "TS_ROLLED_BACK",
            "TS_DECLINED",
            "TS_OTHER",
        ]),
        prop_oneof![4 => Just(250_000i64), 1 => any_units()],
    )
        .prop_map(
            move |(request_uuid, status, units, currency, ours, state, amount)| {
                let mut fields: Fields = request_uuid
                    .map(|r| ("request_uuid", r))
                    .into_iter()
                    .collect();
                let ours = ours.unwrap_or(true);
                match op {
                    Op::Transfer => {
                        fields.push((
                            "transaction_uuid",
                            json!(if ours { "tx-1" } else { "tx-9" }),
                        ));
                        fields.push(("balance", json!(units)));
                        fields.push(("currency", json!(currency)));
                    }
                    Op::Rollback => {
                        fields.push((
                            "transaction_uuid",
                            json!(if ours { "rb-1" } else { "rb-0" }),
                        ));
                        if amount % 2 == 0 {
                            fields.push(("balance", json!(units)));
                        }
                    }
                    Op::Balance => {
                        fields.push(("user", json!(if ours { "acc-1" } else { "acc-2" })));
                        fields.push(("currency", json!(currency)));
                        fields.push(("balance", json!(units)));
                    }
                    Op::Lookup => {
                        fields.push((
                            "transaction_uuid",
                            json!(if ours { "tx-1" } else { "tx-9" }),
                        ));
                        fields.push(("state", json!(state)));
                        fields.push(("amount", json!(amount)));
                        fields.push(("currency", json!(currency)));
                    }
                }
                fields.push(("status", status));
                fields
            },
        )
        .boxed()
}

/// A reply as an object: unchanged, or with one field removed, one field
/// replaced by an arbitrary value, or one field another operation has (or
/// no operation has).
fn mutated_object(op: Op) -> BoxedStrategy<Vec<u8>> {
    (
        template(op),
        0..7u8,
        any::<prop::sample::Index>(),
        any_json_value(Value::Null),
        prop::sample::select(vec![
            "request_uuid",
            "transaction_uuid",
            "user",
            "currency",
            "balance",
            "amount",
            "state",
            "extra",
        ]),
    )
        .prop_map(|(mut fields, how, which, value, extra)| {
            let at = which.index(fields.len().max(1));
            match how {
                // Half of them stay well-formed.
                0..4 => {}
                4 if at < fields.len() => {
                    fields.remove(at);
                }
                5 if at < fields.len() => {
                    let key = fields[at].0;
                    fields[at] = (key, value);
                }
                _ => fields.push((extra, value)),
            }
            let map = fields
                .into_iter()
                .map(|(key, value)| (key.to_owned(), value))
                .collect();
            serde_json::to_vec(&Value::Object(map)).unwrap_or_default()
        })
        .boxed()
}

/// Reply bodies: mutated replies of `op` (whole or cut short), those of the
/// other operations, and arbitrary bytes.
fn any_body(op: Op) -> BoxedStrategy<Vec<u8>> {
    let truncated = (mutated_object(op), any::<prop::sample::Index>()).prop_map(|(body, cut)| {
        let at = cut.index(body.len().max(1));
        body.get(..at).map(<[u8]>::to_vec).unwrap_or_default()
    });
    let others = prop::sample::select(vec![Op::Transfer, Op::Rollback, Op::Balance, Op::Lookup])
        .prop_flat_map(mutated_object);
    prop_oneof![
        6 => mutated_object(op),
        1 => truncated,
        1 => others,
        1 => Just(br#"{"status":"RS_ERROR_INVALID_SIGNATURE"}"#.to_vec()),
        1 => prop::collection::vec(any::<u8>(), 0..200),
    ]
    .boxed()
}

/// How a reply is signed.
#[derive(Debug, Clone, Copy)]
enum Signing {
    Provider,
    Impostor,
    None,
    Garbage,
}

fn any_signing() -> impl Strategy<Value = Signing> {
    prop_oneof![
        6 => Just(Signing::Provider),
        1 => Just(Signing::Impostor),
        1 => Just(Signing::None),
        1 => Just(Signing::Garbage),
    ]
}

fn signature_for(signing: Signing, body: &[u8]) -> Option<String> {
    match signing {
        Signing::Provider => PROVIDER.sign(body).ok(),
        Signing::Impostor => IMPOSTOR.sign(body).ok(),
        Signing::None => None,
        Signing::Garbage => Some("c2lnbmF0dXJl".into()),
    }
}

fn object_of(body: &[u8]) -> Option<serde_json::Map<String, Value>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

fn str_of<'a>(map: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a str> {
    map.get(key).and_then(Value::as_str)
}

/// An independent reading of "a settled reply to this bet or win", through
/// `serde_json::Value` rather than the classifier's structs.
fn valid_transfer_reply(req: &MoneyRequest, body: &[u8]) -> Option<i64> {
    let map = object_of(body)?;
    let allowed = [
        "request_uuid",
        "transaction_uuid",
        "currency",
        "balance",
        "status",
    ];
    if !map.keys().all(|k| allowed.contains(&k.as_str())) {
        return None;
    }
    let balance = map.get("balance").and_then(Value::as_i64)?;
    let ok = str_of(&map, "request_uuid") == Some(RU)
        && str_of(&map, "transaction_uuid") == Some(req.tx_id.as_str())
        && str_of(&map, "status") == Some("RS_OK")
        && str_of(&map, "currency") == Some("EUR")
        && balance >= 0
        && balance % 1000 == 0
        && (req.direction == Direction::Debit || balance / 1000 >= req.amount.minor_units);
    ok.then_some(balance / 1000)
}

/// The decline the spec gives `status` for a bet or win.
fn transfer_decline(status: &str) -> Option<DeclineReason> {
    use DeclineReason::*;
    Some(match status {
        "RS_ERROR_NOT_ENOUGH_MONEY" => InsufficientFunds,
        "RS_ERROR_USER_DISABLED" => AccountBlocked,
        "RS_ERROR_LIMIT_REACHED" => LimitExceeded,
        "RS_ERROR_WRONG_CURRENCY" => WrongCurrency,
        "RS_ERROR_UNKNOWN_USER" => UnknownAccount,
        "RS_ERROR_DUPLICATE_TRANSACTION" => DuplicateTransaction,
        "RS_ERROR_TRANSACTION_ROLLED_BACK" => AlreadyRolledBack,
        _ => return None,
    })
}

/// A reply whose request_uuid is this call's, with `status`.
fn echoes_with_status(body: &[u8], status: &str) -> bool {
    object_of(body).is_some_and(|map| {
        str_of(&map, "status") == Some(status) && str_of(&map, "request_uuid") == Some(RU)
    })
}

fn is_invalid_signature_reply(body: &[u8]) -> bool {
    object_of(body).is_some_and(|map| {
        str_of(&map, "status") == Some("RS_ERROR_INVALID_SIGNATURE")
            && map
                .get("request_uuid")
                .is_none_or(|v| v.as_str() == Some(RU))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever comes back, a bet or win is Settled only on a signed,
    /// independently valid reply, declined only on a signed decline of this
    /// call, and never panics.
    #[test]
    fn transfer_classification_is_total_and_sound(
        status in prop_oneof![6 => Just(200u16), 1 => any::<u16>()],
        body in any_body(Op::Transfer),
        signing in any_signing(),
        is_credit in any::<bool>(),
    ) {
        let mut req = debit(250);
        if is_credit {
            req.direction = Direction::Credit;
        }
        let signature = signature_for(signing, &body);
        let reply = WireReply { status, signature: signature.as_ref().map(|s| s.as_bytes()), body: &body };
        let trusted = status == 200 && matches!(signing, Signing::Provider);
        match classify_transfer(&req, &ru(), &reply, &VERIFIER) {
            Outcome::Settled(s) => {
                let valid = valid_transfer_reply(&req, &body);
                prop_assert!(trusted && valid.is_some(), "settled on {status} {signing:?} {:?}", String::from_utf8_lossy(&body));
                prop_assert_eq!(s.balance_after, valid.map(|b| Money::new(eur(), b)));
            }
            Outcome::Declined(reason) => {
                let map = object_of(&body).unwrap_or_default();
                let status_str = str_of(&map, "status").unwrap_or_default();
                prop_assert!(trusted);
                prop_assert!(echoes_with_status(&body, status_str));
                prop_assert_eq!(Some(reason), transfer_decline(status_str));
            }
            Outcome::NotProcessed(e) => {
                prop_assert!(trusted && is_invalid_signature_reply(&body));
                prop_assert!(matches!(e, AdapterError::Rejected { .. }), "{e:?}");
            }
            Outcome::Unknown(e) => {
                prop_assert!(!trusted || valid_transfer_reply(&req, &body).is_none(), "valid reply not settled");
                if !trusted && status == 200 {
                    prop_assert!(matches!(e, AdapterError::BadSignature), "{e:?}");
                }
            }
        }
    }

    #[test]
    fn rollback_classification_is_total_and_sound(
        status in prop_oneof![6 => Just(200u16), 1 => any::<u16>()],
        body in any_body(Op::Rollback),
        signing in any_signing(),
        amount in prop::option::of(1i64..20_000),
    ) {
        let req = rollback(amount);
        let signature = signature_for(signing, &body);
        let reply = WireReply { status, signature: signature.as_ref().map(|s| s.as_bytes()), body: &body };
        let trusted = status == 200 && matches!(signing, Signing::Provider);
        match classify_rollback(&req, &ru(), &reply, &VERIFIER) {
            Outcome::Settled(s) => {
                prop_assert!(trusted && echoes_with_status(&body, "RS_OK"));
                if let Some(balance) = s.balance_after {
                    let map = object_of(&body).unwrap_or_default();
                    prop_assert_eq!(str_of(&map, "transaction_uuid"), Some("rb-1"));
                    prop_assert_eq!(map.get("balance").and_then(Value::as_i64), Some(balance.minor_units * 1000));
                }
            }
            Outcome::Declined(reason) => {
                let map = object_of(&body).unwrap_or_default();
                let status_str = str_of(&map, "status").unwrap_or_default();
                prop_assert!(trusted && echoes_with_status(&body, status_str));
                let expected = match status_str {
                    "RS_ERROR_NOT_REVERSIBLE" => Some(DeclineReason::NotReversible),
                    "RS_ERROR_TRANSACTION_ROLLED_BACK" => None,
                    other => transfer_decline(other),
                };
                prop_assert_eq!(Some(reason), expected);
            }
            Outcome::NotProcessed(_) => prop_assert!(trusted && is_invalid_signature_reply(&body)),
            Outcome::Unknown(e) => {
                if !trusted && status == 200 {
                    prop_assert!(matches!(e, AdapterError::BadSignature), "{e:?}");
                }
            }
        }
    }

    #[test]
    fn balance_classification_is_total_and_sound(
        status in prop_oneof![6 => Just(200u16), 1 => any::<u16>()],
        body in any_body(Op::Balance),
        signing in any_signing(),
    ) {
        let signature = signature_for(signing, &body);
        let reply = WireReply { status, signature: signature.as_ref().map(|s| s.as_bytes()), body: &body };
        let trusted = status == 200 && matches!(signing, Signing::Provider);
        let expected = object_of(&body)
            .filter(|_| trusted)
            .filter(|m| m.keys().all(|k| ["request_uuid", "user", "currency", "balance", "status"].contains(&k.as_str())))
            .filter(|m| str_of(m, "request_uuid") == Some(RU) && str_of(m, "status") == Some("RS_OK"))
            .filter(|m| str_of(m, "user") == Some("acc-1") && str_of(m, "currency") == Some("EUR"))
            .and_then(|m| m.get("balance").and_then(Value::as_i64))
            .filter(|b| *b >= 0 && b % 1000 == 0);
        match classify_balance(&balance_req(), &ru(), &reply, &VERIFIER) {
            Ok(money) => prop_assert_eq!(Some(money.minor_units * 1000), expected),
            Err(AdapterError::Declined(_)) => prop_assert!(trusted),
            Err(AdapterError::Rejected { .. }) => prop_assert!(trusted && is_invalid_signature_reply(&body)),
            Err(_) => prop_assert!(expected.is_none()),
        }
    }

    #[test]
    fn lookup_classification_is_total_and_sound(
        status in prop_oneof![6 => Just(200u16), 1 => any::<u16>()],
        body in any_body(Op::Lookup),
        signing in any_signing(),
        known_amount in any::<bool>(),
    ) {
        let req = status_req(known_amount.then_some(250));
        let signature = signature_for(signing, &body);
        let reply = WireReply { status, signature: signature.as_ref().map(|s| s.as_bytes()), body: &body };
        let trusted = status == 200 && matches!(signing, Signing::Provider);
        let map = object_of(&body).unwrap_or_default();
        match classify_status(&req, &ru(), &reply, &VERIFIER) {
            TxStatus::Applied(_) | TxStatus::RolledBack | TxStatus::Declined(_) => {
                prop_assert!(trusted && echoes_with_status(&body, "RS_OK"));
                prop_assert_eq!(str_of(&map, "transaction_uuid"), Some("tx-1"));
                let amount = map.get("amount").and_then(Value::as_i64);
                prop_assert!(amount.is_some_and(|a| a > 0 && a % 1000 == 0));
                if known_amount {
                    prop_assert_eq!(str_of(&map, "currency"), Some("EUR"));
                    prop_assert_eq!(amount, Some(250_000));
                }
            }
            TxStatus::NotFound => {
                prop_assert!(trusted && echoes_with_status(&body, "RS_ERROR_TRANSACTION_DOES_NOT_EXIST"));
            }
            TxStatus::Unknown(e) => {
                if !trusted && status == 200 {
                    prop_assert!(matches!(e, AdapterError::BadSignature), "{e:?}");
                }
            }
        }
    }

    /// Unsigned or wrongly signed bytes are Unknown for every operation,
    /// whatever they are.
    #[test]
    fn untrusted_bytes_are_always_unknown(
        body in prop::collection::vec(any::<u8>(), 0..512),
        signing in prop_oneof![Just(Signing::Impostor), Just(Signing::None), Just(Signing::Garbage)],
    ) {
        let signature = signature_for(signing, &body);
        let reply = WireReply { status: 200, signature: signature.as_ref().map(|s| s.as_bytes()), body: &body };
        prop_assert!(matches!(classify_transfer(&debit(250), &ru(), &reply, &VERIFIER), Outcome::Unknown(AdapterError::BadSignature)));
        prop_assert!(matches!(classify_rollback(&rollback(None), &ru(), &reply, &VERIFIER), Outcome::Unknown(AdapterError::BadSignature)));
        prop_assert!(matches!(classify_balance(&balance_req(), &ru(), &reply, &VERIFIER), Err(AdapterError::BadSignature)));
        prop_assert!(matches!(classify_status(&status_req(None), &ru(), &reply, &VERIFIER), TxStatus::Unknown(AdapterError::BadSignature)));
    }
}

/// The properties above are only as good as their inputs: the generators
/// must reach every class, not just `Unknown`.
#[test]
fn the_generators_reach_every_class() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::deterministic();
    let mut seen = std::collections::BTreeMap::<&str, u32>::new();
    for _ in 0..400 {
        let body = any_body(Op::Transfer)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        let signature = PROVIDER.sign(&body).unwrap();
        let outcome =
            classify_transfer(&debit(250), &ru(), &ok_reply(&body, &signature), &VERIFIER);
        *seen.entry(outcome.class()).or_default() += 1;
    }
    for class in ["settled", "declined", "not_processed", "unknown"] {
        assert!(
            seen.get(class).copied().unwrap_or(0) >= 4,
            "{class}: {seen:?}"
        );
    }
}
