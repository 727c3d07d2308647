//! Unit tests of the transformer: exact wire bodies and signatures, a table
//! of replies against their classification, and bounded property tests that
//! feed arbitrary replies to every classifier.

use super::*;

use adapter_api::{AccountId, Currency, ProviderTxId, StatusRequest, TxKind, TxStatus};
use proptest::prelude::*;
use serde_json::{Value, json};

const SECRET: &str = "test-secret";

fn eur() -> Currency {
    Currency::from_code("EUR").unwrap()
}

fn signer() -> Signer {
    Signer::new(SECRET.as_bytes()).unwrap()
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

fn status_req(kind: TxKind, amount: Option<i64>) -> StatusRequest {
    StatusRequest {
        tx_id: ProviderTxId::new(if kind == TxKind::Rollback {
            "rb-1"
        } else {
            "tx-1"
        }),
        kind,
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

/// The HMAC computed here with the `hmac` crate directly, not through
/// [`Signer`].
fn independent_hmac(secret: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

// ------------------------------------------------------------ requests

#[test]
fn debit_body_and_signature_are_exact() {
    let wire = encode_transfer(&debit(250), &signer()).unwrap();
    assert_eq!(wire.endpoint, Endpoint::Debit);
    assert_eq!(
        &wire.body[..],
        br#"{"tx_id":"tx-1","account":"acc-1","currency":"EUR","amount":250,"round":"r-9"}"#
    );
    assert_eq!(wire.signature, independent_hmac(SECRET, &wire.body));
    // Known answer, computed outside Rust.
    assert_eq!(
        wire.signature,
        "88d1a00ee167477f2dd0491bf96998fc1c9aaa11fc3dabeada011fcb60983c70"
    );
}

#[test]
fn credit_without_reference_omits_round() {
    let wire = encode_transfer(&credit(1250), &signer()).unwrap();
    assert_eq!(wire.endpoint, Endpoint::Credit);
    assert_eq!(
        &wire.body[..],
        br#"{"tx_id":"tx-2","account":"acc-1","currency":"EUR","amount":1250}"#
    );
    assert_eq!(
        wire.signature,
        "7e035f94916801cb6db0fc215349ebcd69ccdef3d3d6e4b5adc17c7a51ee30c0"
    );
    assert_eq!(wire.signature, independent_hmac(SECRET, &wire.body));
}

#[test]
fn rollback_body_and_signature_are_exact() {
    let wire = encode_rollback(&rollback(Some(250)), &signer()).unwrap();
    assert_eq!(wire.endpoint, Endpoint::Rollback);
    assert_eq!(&wire.body[..], br#"{"tx_id":"rb-1","ref_tx_id":"tx-1"}"#);
    assert_eq!(
        wire.signature,
        "e42cf1472fe2a3e9d59de52a0cf9ddfb79c1f0027d3824b77b029ef68e02b1da"
    );
    assert_eq!(wire.signature, independent_hmac(SECRET, &wire.body));
}

#[test]
fn balance_body_and_signature_are_exact() {
    let wire = encode_balance(&balance_req(), &signer()).unwrap();
    assert_eq!(wire.endpoint, Endpoint::Balance);
    assert_eq!(&wire.body[..], br#"{"account":"acc-1","currency":"EUR"}"#);
    assert_eq!(
        wire.signature,
        "4890af3e49c1eee4202f5777e904e86b1a4bd1c7b30a025631da41f22f8182db"
    );
}

#[test]
fn status_body_and_signature_are_exact() {
    let wire = encode_status(&status_req(TxKind::Debit, Some(250)), &signer()).unwrap();
    assert_eq!(wire.endpoint, Endpoint::Status);
    assert_eq!(Endpoint::Status.path(), "/v1/status");
    // Only the id goes on the wire, whatever else the hub knows.
    assert_eq!(&wire.body[..], br#"{"tx_id":"tx-1"}"#);
    assert_eq!(wire.signature, independent_hmac(SECRET, &wire.body));
    // Known answer, computed outside Rust.
    assert_eq!(
        wire.signature,
        "c42c9f9c8dff31defe030a80575aea9d41177c58ce9eb6b6f8fd0eca21529e49"
    );
    let wire = encode_status(&status_req(TxKind::Rollback, None), &signer()).unwrap();
    assert_eq!(&wire.body[..], br#"{"tx_id":"rb-1"}"#);
    assert_eq!(
        wire.signature,
        "d5fe2c5dbf6e8adf83b6b453d0fa44baacfcf245a99ec0d7167e92bd89f538e3"
    );
}

#[test]
fn the_signature_depends_on_the_secret_and_every_byte() {
    let body = br#"{"account":"acc-1","currency":"EUR"}"#;
    let other = Signer::new(b"other-secret").unwrap();
    assert_ne!(signer().sign(body), other.sign(body));
    assert_ne!(
        signer().sign(body),
        signer().sign(br#"{"account":"acc-2","currency":"EUR"}"#)
    );
    assert_eq!(
        signer().sign(b""),
        "a41bc6d81d6413576ae0994995e0ad89a416ec97389515c3604f47722122eeeb"
    );
    assert_eq!(format!("{:?}", signer()), "Signer(<redacted>)");
}

#[test]
fn strings_are_json_escaped_inside_the_signed_body() {
    let mut req = debit(1);
    req.account = AccountId::new("a\"b\\c\u{1}");
    let wire = encode_transfer(&req, &signer()).unwrap();
    let parsed: Value = serde_json::from_slice(&wire.body).unwrap();
    assert_eq!(parsed["account"], "a\"b\\c\u{1}");
    assert_eq!(wire.signature, independent_hmac(SECRET, &wire.body));
}

#[test]
fn unrepresentable_requests_are_refused_before_sending() {
    fn reason(err: AdapterError) -> String {
        match err {
            AdapterError::Unrepresentable(source) => source.to_string(),
            other => panic!("expected Unrepresentable, got {other:?}"),
        }
    }
    assert_eq!(
        reason(encode_transfer(&debit(0), &signer()).unwrap_err()),
        RequestError::NonPositiveAmount.to_string()
    );
    assert_eq!(
        reason(encode_transfer(&credit(-5), &signer()).unwrap_err()),
        RequestError::NonPositiveAmount.to_string()
    );
    assert_eq!(
        reason(encode_transfer(&debit(i64::MIN), &signer()).unwrap_err()),
        RequestError::NonPositiveAmount.to_string()
    );
    let mut req = debit(1);
    req.tx_id = ProviderTxId::new("");
    assert_eq!(
        reason(encode_transfer(&req, &signer()).unwrap_err()),
        RequestError::EmptyTxId.to_string()
    );
    let mut req = debit(1);
    req.account = AccountId::new("");
    assert_eq!(
        reason(encode_transfer(&req, &signer()).unwrap_err()),
        RequestError::EmptyAccount.to_string()
    );
    let mut req = rollback(None);
    req.original_tx_id = ProviderTxId::new("");
    assert_eq!(
        reason(encode_rollback(&req, &signer()).unwrap_err()),
        RequestError::EmptyTxId.to_string()
    );
    let mut req = balance_req();
    req.account = AccountId::new("");
    assert_eq!(
        reason(encode_balance(&req, &signer()).unwrap_err()),
        RequestError::EmptyAccount.to_string()
    );
    let mut req = status_req(TxKind::Debit, None);
    req.tx_id = ProviderTxId::new("");
    assert_eq!(
        reason(encode_status(&req, &signer()).unwrap_err()),
        RequestError::EmptyTxId.to_string()
    );
    // The largest amount is sent as is: the conversion is the identity.
    let wire = encode_transfer(&debit(i64::MAX), &signer()).unwrap();
    let parsed: Value = serde_json::from_slice(&wire.body).unwrap();
    assert_eq!(parsed["amount"], json!(i64::MAX));
}

// ------------------------------------------------------------ replies

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
    Malformed(&'static str),
    Rejected(&'static str),
    Declined(DeclineReason),
    Other,
}

fn kind(error: &AdapterError) -> Kind {
    match error {
        AdapterError::HttpStatus { status } => Kind::HttpStatus(*status),
        AdapterError::Malformed(source) => {
            Kind::Malformed(match source.downcast_ref::<MalformedReply>() {
                Some(MalformedReply::Json(_)) => "json",
                Some(MalformedReply::NotAnObject) => "not an object",
                Some(MalformedReply::TxIdMismatch) => "tx_id",
                Some(MalformedReply::EmptyTxId) => "empty tx_id",
                Some(MalformedReply::NotOk) => "not ok",
                Some(MalformedReply::NegativeBalance) => "negative",
                Some(MalformedReply::ImplausibleBalance) => "implausible",
                Some(MalformedReply::BadProviderRef) => "provider_ref",
                Some(MalformedReply::AccountMismatch) => "account",
                Some(MalformedReply::CurrencyMismatch) => "currency",
                Some(MalformedReply::UnexpectedStatus) => "status",
                Some(MalformedReply::KindMismatch) => "kind",
                Some(MalformedReply::AmountMismatch) => "amount",
                Some(MalformedReply::NonPositiveAmount) => "non-positive",
                Some(MalformedReply::UnexpectedCode { .. }) => "code",
                Some(MalformedReply::TooLarge { .. }) => "too large",
                None => "?",
            })
        }
        AdapterError::Rejected { code } => Kind::Rejected(code),
        AdapterError::Declined(reason) => Kind::Declined(*reason),
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

fn settled(balance: i64, provider_ref: &str) -> Class {
    Class::Settled(Settlement {
        balance_after: Some(Money::new(eur(), balance)),
        provider_ref: Some(provider_ref.into()),
    })
}

fn unknown_malformed(reason: &'static str) -> Class {
    Class::Unknown(Kind::Malformed(reason))
}

/// Replies that every money operation classifies alike.
fn common_error_rows() -> Vec<(&'static str, u16, &'static [u8], Class)> {
    use DeclineReason::*;
    vec![
        (
            "insufficient funds",
            402,
            br#"{"code":"INSUFFICIENT_FUNDS"}"#,
            Class::Declined(InsufficientFunds),
        ),
        (
            "blocked",
            403,
            br#"{"code":"ACCOUNT_BLOCKED"}"#,
            Class::Declined(AccountBlocked),
        ),
        (
            "limit",
            403,
            br#"{"code":"LIMIT_EXCEEDED"}"#,
            Class::Declined(LimitExceeded),
        ),
        (
            "wrong currency",
            409,
            br#"{"code":"WRONG_CURRENCY"}"#,
            Class::Declined(WrongCurrency),
        ),
        (
            "unknown account",
            404,
            br#"{"code":"UNKNOWN_ACCOUNT"}"#,
            Class::Declined(UnknownAccount),
        ),
        (
            "decline with whitespace",
            402,
            b" {\n\"code\" : \"INSUFFICIENT_FUNDS\" }\n",
            Class::Declined(InsufficientFunds),
        ),
        (
            "bad signature",
            401,
            br#"{"code":"INVALID_SIGNATURE"}"#,
            Class::NotProcessed(Kind::Rejected("INVALID_SIGNATURE")),
        ),
        (
            "bad request",
            400,
            br#"{"code":"BAD_REQUEST"}"#,
            Class::NotProcessed(Kind::Rejected("BAD_REQUEST")),
        ),
        // A known code with another status than the spec's is not trusted.
        (
            "decline code on 400",
            400,
            br#"{"code":"INSUFFICIENT_FUNDS"}"#,
            unknown_malformed("code"),
        ),
        (
            "rejection code on 403",
            403,
            br#"{"code":"INVALID_SIGNATURE"}"#,
            unknown_malformed("code"),
        ),
        (
            "unknown code",
            422,
            br#"{"code":"SOMETHING_NEW"}"#,
            unknown_malformed("code"),
        ),
        (
            "lowercase code",
            402,
            br#"{"code":"insufficient_funds"}"#,
            unknown_malformed("code"),
        ),
        // 4xx without a parseable code.
        (
            "4xx empty body",
            404,
            b"",
            Class::Unknown(Kind::HttpStatus(404)),
        ),
        (
            "4xx html",
            403,
            b"<html>forbidden</html>",
            Class::Unknown(Kind::HttpStatus(403)),
        ),
        (
            "4xx code wrong type",
            402,
            br#"{"code":402}"#,
            Class::Unknown(Kind::HttpStatus(402)),
        ),
        (
            "4xx code extra field",
            402,
            br#"{"code":"INSUFFICIENT_FUNDS","x":1}"#,
            Class::Unknown(Kind::HttpStatus(402)),
        ),
        (
            "4xx duplicate code",
            402,
            br#"{"code":"INSUFFICIENT_FUNDS","code":"LIMIT_EXCEEDED"}"#,
            Class::Unknown(Kind::HttpStatus(402)),
        ),
        (
            "4xx truncated",
            402,
            br#"{"code":"INSUFFICIENT_FU"#,
            Class::Unknown(Kind::HttpStatus(402)),
        ),
        (
            "4xx trailing garbage",
            402,
            br#"{"code":"INSUFFICIENT_FUNDS"}xx"#,
            Class::Unknown(Kind::HttpStatus(402)),
        ),
        (
            "4xx array",
            402,
            br#"["INSUFFICIENT_FUNDS"]"#,
            Class::Unknown(Kind::HttpStatus(402)),
        ),
        (
            "429 without code",
            429,
            b"slow down",
            Class::Unknown(Kind::HttpStatus(429)),
        ),
        // 5xx after sending: the provider may have applied it, whatever it says.
        ("500", 500, b"", Class::Unknown(Kind::HttpStatus(500))),
        (
            "502",
            502,
            b"bad gateway",
            Class::Unknown(Kind::HttpStatus(502)),
        ),
        ("503", 503, b"", Class::Unknown(Kind::HttpStatus(503))),
        (
            "503 with a decline code",
            503,
            br#"{"code":"INSUFFICIENT_FUNDS"}"#,
            Class::Unknown(Kind::HttpStatus(503)),
        ),
        ("504", 504, b"", Class::Unknown(Kind::HttpStatus(504))),
        // Statuses that carry no business answer.
        (
            "201",
            201,
            br#"{"tx_id":"tx-1","status":"OK","balance":1,"provider_ref":"x"}"#,
            Class::Unknown(Kind::HttpStatus(201)),
        ),
        ("204", 204, b"", Class::Unknown(Kind::HttpStatus(204))),
        ("302", 302, b"", Class::Unknown(Kind::HttpStatus(302))),
        ("100", 100, b"", Class::Unknown(Kind::HttpStatus(100))),
        ("600", 600, b"", Class::Unknown(Kind::HttpStatus(600))),
        ("0", 0, b"", Class::Unknown(Kind::HttpStatus(0))),
    ]
}

/// 200 replies that no operation may take as settled, with the reason.
#[rustfmt::skip]
fn garbage_200_rows() -> Vec<(&'static str, &'static [u8], &'static str)> {
    vec![
        ("empty", b"", "json"),
        ("whitespace", b"   ", "json"),
        ("not json", b"OK", "json"),
        ("html", b"<html><body>OK</body></html>", "json"),
        ("null", b"null", "not an object"),
        ("array", b"[]", "not an object"),
        ("number", b"9750", "not an object"),
        ("string", br#""OK""#, "not an object"),
        ("empty object", b"{}", "json"),
        ("truncated", br#"{"tx_id":"tx-1","status":"OK","bal"#, "json"),
        ("invalid utf-8", b"{\"tx_id\":\"\xff\xfe\"}", "json"),
        ("nul bytes", b"\0\0\0\0", "json"),
        ("nested", br#"{"reply":{"tx_id":"tx-1","status":"OK","balance":1,"provider_ref":"x"}}"#, "json"),
        // serde would take these as the structs, field by field.
        ("transfer fields as an array", br#"["tx-1","OK",9750,"hm-1"]"#, "not an object"),
        ("rollback fields as an array", br#" ["rb-1","OK",10000]"#, "not an object"),
        ("array then garbage", br#"["tx-1","OK",9750,"hm-1"]]"#, "json"),
    ]
}

#[test]
#[rustfmt::skip]
fn transfer_replies_are_classified() {
    let debit = debit(250);
    let ok: &[u8] = br#"{"tx_id":"tx-1","status":"OK","balance":9750,"provider_ref":"hm-000123"}"#;
    let mut rows: Vec<(&str, u16, &[u8], Class)> = vec![
        ("settled", 200, ok, settled(9750, "hm-000123")),
        ("settled, fields reordered", 200, br#"{"provider_ref":"hm-1","balance":0,"status":"OK","tx_id":"tx-1"}"#, settled(0, "hm-1")),
        ("settled, max balance", 200, br#"{"tx_id":"tx-1","status":"OK","balance":9223372036854775807,"provider_ref":"r"}"#, settled(i64::MAX, "r")),
        ("other tx_id", 200, br#"{"tx_id":"tx-2","status":"OK","balance":9750,"provider_ref":"hm-1"}"#, unknown_malformed("tx_id")),
        ("tx_id prefix", 200, br#"{"tx_id":"tx-","status":"OK","balance":9750,"provider_ref":"hm-1"}"#, unknown_malformed("tx_id")),
        ("status not OK", 200, br#"{"tx_id":"tx-1","status":"FAILED","balance":9750,"provider_ref":"hm-1"}"#, unknown_malformed("not ok")),
        ("status lowercase", 200, br#"{"tx_id":"tx-1","status":"ok","balance":9750,"provider_ref":"hm-1"}"#, unknown_malformed("not ok")),
        ("status rolled back", 200, br#"{"tx_id":"tx-1","status":"ROLLED_BACK","balance":9750,"provider_ref":"hm-1"}"#, unknown_malformed("not ok")),
        ("negative balance", 200, br#"{"tx_id":"tx-1","status":"OK","balance":-1,"provider_ref":"hm-1"}"#, unknown_malformed("negative")),
        ("empty provider_ref", 200, br#"{"tx_id":"tx-1","status":"OK","balance":1,"provider_ref":""}"#, unknown_malformed("provider_ref")),
        ("control char provider_ref", 200, br#"{"tx_id":"tx-1","status":"OK","balance":1,"provider_ref":"a\nb"}"#, unknown_malformed("provider_ref")),
        ("missing provider_ref", 200, br#"{"tx_id":"tx-1","status":"OK","balance":9750}"#, unknown_malformed("json")),
        ("missing balance", 200, br#"{"tx_id":"tx-1","status":"OK","provider_ref":"hm-1"}"#, unknown_malformed("json")),
        ("missing tx_id", 200, br#"{"status":"OK","balance":9750,"provider_ref":"hm-1"}"#, unknown_malformed("json")),
        ("missing status", 200, br#"{"tx_id":"tx-1","balance":9750,"provider_ref":"hm-1"}"#, unknown_malformed("json")),
        ("balance as string", 200, br#"{"tx_id":"tx-1","status":"OK","balance":"9750","provider_ref":"hm-1"}"#, unknown_malformed("json")),
        ("balance as float", 200, br#"{"tx_id":"tx-1","status":"OK","balance":9750.0,"provider_ref":"hm-1"}"#, unknown_malformed("json")),
        ("balance as exponent", 200, br#"{"tx_id":"tx-1","status":"OK","balance":1e3,"provider_ref":"hm-1"}"#, unknown_malformed("json")),
        ("balance null", 200, br#"{"tx_id":"tx-1","status":"OK","balance":null,"provider_ref":"hm-1"}"#, unknown_malformed("json")),
        ("balance above i64", 200, br#"{"tx_id":"tx-1","status":"OK","balance":9223372036854775808,"provider_ref":"hm-1"}"#, unknown_malformed("json")),
        ("balance huge", 200, br#"{"tx_id":"tx-1","status":"OK","balance":123456789012345678901234567890,"provider_ref":"hm-1"}"#, unknown_malformed("json")),
        ("balance below i64", 200, br#"{"tx_id":"tx-1","status":"OK","balance":-9223372036854775809,"provider_ref":"hm-1"}"#, unknown_malformed("json")),
        ("tx_id as number", 200, br#"{"tx_id":1,"status":"OK","balance":9750,"provider_ref":"hm-1"}"#, unknown_malformed("json")),
        ("provider_ref as number", 200, br#"{"tx_id":"tx-1","status":"OK","balance":9750,"provider_ref":123}"#, unknown_malformed("json")),
        ("extra field", 200, br#"{"tx_id":"tx-1","status":"OK","balance":9750,"provider_ref":"hm-1","extra":true}"#, unknown_malformed("json")),
        ("duplicate tx_id", 200, br#"{"tx_id":"tx-9","tx_id":"tx-1","status":"OK","balance":9750,"provider_ref":"hm-1"}"#, unknown_malformed("json")),
        ("trailing garbage", 200, br#"{"tx_id":"tx-1","status":"OK","balance":9750,"provider_ref":"hm-1"}garbage"#, unknown_malformed("json")),
        ("two objects", 200, br#"{"tx_id":"tx-1","status":"OK","balance":9750,"provider_ref":"hm-1"}{}"#, unknown_malformed("json")),
        ("not found on a debit", 404, br#"{"code":"TRANSACTION_NOT_FOUND"}"#, unknown_malformed("code")),
        ("not reversible on a debit", 409, br#"{"code":"NOT_REVERSIBLE"}"#, unknown_malformed("code")),
    ];
    for (name, body, reason) in garbage_200_rows() {
        rows.push((name, 200, body, unknown_malformed(reason)));
    }
    for (name, status, body, expected) in common_error_rows() {
        rows.push((name, status, body, expected));
    }
    for (name, status, body, expected) in rows {
        assert_eq!(class(classify_transfer(&debit, status, body)), expected, "debit: {name}");
    }
}

#[test]
#[rustfmt::skip]
fn credit_replies_are_classified() {
    let credit = credit(1250);
    let reply = |balance: i64| format!(r#"{{"tx_id":"tx-2","status":"OK","balance":{balance},"provider_ref":"hm-7"}}"#);
    assert_eq!(class(classify_transfer(&credit, 200, reply(1250).as_bytes())), settled(1250, "hm-7"));
    assert_eq!(class(classify_transfer(&credit, 200, reply(99_999).as_bytes())), settled(99_999, "hm-7"));
    // A credit of 1250 cannot leave less than 1250 on a non-negative account.
    assert_eq!(class(classify_transfer(&credit, 200, reply(1249).as_bytes())), unknown_malformed("implausible"));
    // The debit's reply is not the credit's.
    let debit_reply = br#"{"tx_id":"tx-1","status":"OK","balance":9750,"provider_ref":"hm-1"}"#;
    assert_eq!(class(classify_transfer(&credit, 200, debit_reply)), unknown_malformed("tx_id"));
    for (name, status, body, expected) in common_error_rows() {
        assert_eq!(class(classify_transfer(&credit, status, body)), expected, "credit: {name}");
    }
}

#[test]
#[rustfmt::skip]
fn rollback_replies_are_classified() {
    let with_amount = rollback(Some(250));
    let without_amount = rollback(None);
    let ok: &[u8] = br#"{"tx_id":"rb-1","status":"OK","balance":10000}"#;
    assert_eq!(class(classify_rollback(&with_amount, 200, ok)), Class::Settled(Settlement {
        balance_after: Some(Money::new(eur(), 10_000)),
        provider_ref: None,
    }));
    // The wire does not say the currency: without an amount there is none.
    assert_eq!(class(classify_rollback(&without_amount, 200, ok)), Class::Settled(Settlement::default()));
    assert_eq!(
        class(classify_rollback(&with_amount, 200, br#"{"tx_id":"rb-1","status":"OK","balance":250,"provider_ref":"hm-9"}"#)),
        Class::Settled(Settlement { balance_after: Some(Money::new(eur(), 250)), provider_ref: Some("hm-9".into()) }),
    );
    // The spec's replay of the first rollback of the same debit, under
    // another rollback id: reversed, but the balance is not ours.
    assert_eq!(
        class(classify_rollback(&with_amount, 200, br#"{"tx_id":"rb-0","status":"OK","balance":10000}"#)),
        Class::Settled(Settlement::default()),
    );
    // The debit was never applied: nothing to reverse.
    assert_eq!(
        class(classify_rollback(&with_amount, 404, br#"{"code":"TRANSACTION_NOT_FOUND"}"#)),
        Class::Settled(Settlement::default()),
    );
    assert_eq!(
        class(classify_rollback(&with_amount, 409, br#"{"code":"NOT_REVERSIBLE"}"#)),
        Class::Declined(DeclineReason::NotReversible),
    );
    let rows: Vec<(&str, u16, &[u8], Class)> = vec![
        ("not found with another status", 400, br#"{"code":"TRANSACTION_NOT_FOUND"}"#, unknown_malformed("code")),
        ("not found on 410", 410, br#"{"code":"TRANSACTION_NOT_FOUND"}"#, unknown_malformed("code")),
        ("not reversible on 403", 403, br#"{"code":"NOT_REVERSIBLE"}"#, unknown_malformed("code")),
        ("not found, no body", 404, b"", Class::Unknown(Kind::HttpStatus(404))),
        ("not found, html", 404, b"<h1>Not Found</h1>", Class::Unknown(Kind::HttpStatus(404))),
        ("balance below the amount given back", 200, br#"{"tx_id":"rb-1","status":"OK","balance":249}"#, unknown_malformed("implausible")),
        ("empty tx_id", 200, br#"{"tx_id":"","status":"OK","balance":10000}"#, unknown_malformed("empty tx_id")),
        ("status not OK", 200, br#"{"tx_id":"rb-1","status":"NOT_FOUND","balance":10000}"#, unknown_malformed("not ok")),
        ("status not OK, other id", 200, br#"{"tx_id":"rb-0","status":"FAILED","balance":10000}"#, unknown_malformed("not ok")),
        ("negative balance", 200, br#"{"tx_id":"rb-1","status":"OK","balance":-5}"#, unknown_malformed("negative")),
        ("missing balance", 200, br#"{"tx_id":"rb-1","status":"OK"}"#, unknown_malformed("json")),
        ("balance as string", 200, br#"{"tx_id":"rb-1","status":"OK","balance":"10000"}"#, unknown_malformed("json")),
        ("huge balance", 200, br#"{"tx_id":"rb-1","status":"OK","balance":1e400}"#, unknown_malformed("json")),
        ("extra field", 200, br#"{"tx_id":"rb-1","status":"OK","balance":10000,"ref_tx_id":"tx-1"}"#, unknown_malformed("json")),
        ("empty provider_ref", 200, br#"{"tx_id":"rb-1","status":"OK","balance":10000,"provider_ref":""}"#, unknown_malformed("provider_ref")),
        ("trailing garbage", 200, br#"{"tx_id":"rb-1","status":"OK","balance":10000},"#, unknown_malformed("json")),
    ];
    for (name, status, body, expected) in rows {
        assert_eq!(class(classify_rollback(&with_amount, status, body)), expected, "rollback: {name}");
    }
    for (name, body, reason) in garbage_200_rows() {
        assert_eq!(class(classify_rollback(&with_amount, 200, body)), unknown_malformed(reason), "rollback: {name}");
    }
    for (name, status, body, expected) in common_error_rows() {
        assert_eq!(class(classify_rollback(&with_amount, status, body)), expected, "rollback: {name}");
    }
}

/// A table row: name, HTTP status, body, expected classification.
type Row<T> = (&'static str, u16, &'static [u8], T);

fn balance_class(result: Result<Money, AdapterError>) -> Result<Money, Kind> {
    result.map_err(|e| kind(&e))
}

#[test]
#[rustfmt::skip]
fn balance_replies_are_classified() {
    let req = balance_req();
    let rows: Vec<Row<Result<Money, Kind>>> = vec![
        ("balance", 200, br#"{"account":"acc-1","currency":"EUR","balance":10000}"#, Ok(Money::new(eur(), 10_000))),
        ("zero", 200, br#"{"balance":0,"currency":"EUR","account":"acc-1"}"#, Ok(Money::new(eur(), 0))),
        ("other account", 200, br#"{"account":"acc-2","currency":"EUR","balance":10000}"#, Err(Kind::Malformed("account"))),
        ("other currency", 200, br#"{"account":"acc-1","currency":"USD","balance":10000}"#, Err(Kind::Malformed("currency"))),
        ("lowercase currency", 200, br#"{"account":"acc-1","currency":"eur","balance":10000}"#, Err(Kind::Malformed("currency"))),
        ("negative", 200, br#"{"account":"acc-1","currency":"EUR","balance":-1}"#, Err(Kind::Malformed("negative"))),
        ("float", 200, br#"{"account":"acc-1","currency":"EUR","balance":100.5}"#, Err(Kind::Malformed("json"))),
        ("huge", 200, br#"{"account":"acc-1","currency":"EUR","balance":99999999999999999999}"#, Err(Kind::Malformed("json"))),
        ("missing currency", 200, br#"{"account":"acc-1","balance":10000}"#, Err(Kind::Malformed("json"))),
        ("extra field", 200, br#"{"account":"acc-1","currency":"EUR","balance":1,"x":null}"#, Err(Kind::Malformed("json"))),
        ("garbage", 200, b"\x00garbage", Err(Kind::Malformed("json"))),
        ("fields as an array", 200, br#"["acc-1","EUR",10000]"#, Err(Kind::Malformed("not an object"))),
        ("unknown account", 404, br#"{"code":"UNKNOWN_ACCOUNT"}"#, Err(Kind::Declined(DeclineReason::UnknownAccount))),
        ("blocked", 403, br#"{"code":"ACCOUNT_BLOCKED"}"#, Err(Kind::Declined(DeclineReason::AccountBlocked))),
        ("wrong currency", 409, br#"{"code":"WRONG_CURRENCY"}"#, Err(Kind::Declined(DeclineReason::WrongCurrency))),
        ("bad signature", 401, br#"{"code":"INVALID_SIGNATURE"}"#, Err(Kind::Rejected("INVALID_SIGNATURE"))),
        ("bad request", 400, br#"{"code":"BAD_REQUEST"}"#, Err(Kind::Rejected("BAD_REQUEST"))),
        ("not found", 404, br#"{"code":"TRANSACTION_NOT_FOUND"}"#, Err(Kind::Malformed("code"))),
        ("unknown code", 418, br#"{"code":"TEAPOT"}"#, Err(Kind::Malformed("code"))),
        ("4xx garbage", 404, b"nope", Err(Kind::HttpStatus(404))),
        ("500", 500, b"", Err(Kind::HttpStatus(500))),
        ("503", 503, br#"{"account":"acc-1","currency":"EUR","balance":1}"#, Err(Kind::HttpStatus(503))),
        ("301", 301, b"", Err(Kind::HttpStatus(301))),
    ];
    for (name, status, body, expected) in rows {
        assert_eq!(balance_class(classify_balance(&req, status, body)), expected, "balance: {name}");
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

fn applied() -> StatusClass {
    StatusClass::Applied(Settlement {
        balance_after: None,
        provider_ref: None,
    })
}

fn status_malformed(reason: &'static str) -> StatusClass {
    StatusClass::Unknown(Kind::Malformed(reason))
}

#[test]
#[rustfmt::skip]
fn status_replies_are_classified() {
    let req = status_req(TxKind::Debit, Some(250));
    let ok: &[u8] = br#"{"tx_id":"tx-1","status":"OK","kind":"debit","amount":250,"currency":"EUR"}"#;
    let mut rows: Vec<Row<StatusClass>> = vec![
        ("applied", 200, ok, applied()),
        ("applied, fields reordered", 200, br#"{"currency":"EUR","amount":250,"kind":"debit","status":"OK","tx_id":"tx-1"}"#, applied()),
        ("applied, whitespace", 200, b" {\n\"tx_id\" : \"tx-1\", \"status\":\"OK\",\"kind\":\"debit\",\"amount\":250,\"currency\":\"EUR\"}\n", applied()),
        ("rolled back", 200, br#"{"tx_id":"tx-1","status":"ROLLED_BACK","kind":"debit","amount":250,"currency":"EUR"}"#, StatusClass::RolledBack),
        ("not found", 404, br#"{"code":"TRANSACTION_NOT_FOUND"}"#, StatusClass::NotFound),
        // Not our transaction: another id, kind, amount or currency.
        ("other tx_id", 200, br#"{"tx_id":"tx-2","status":"OK","kind":"debit","amount":250,"currency":"EUR"}"#, status_malformed("tx_id")),
        ("tx_id prefix", 200, br#"{"tx_id":"tx-","status":"OK","kind":"debit","amount":250,"currency":"EUR"}"#, status_malformed("tx_id")),
        ("rolled back, other tx_id", 200, br#"{"tx_id":"tx-2","status":"ROLLED_BACK","kind":"debit","amount":250,"currency":"EUR"}"#, status_malformed("tx_id")),
        ("kind credit", 200, br#"{"tx_id":"tx-1","status":"OK","kind":"credit","amount":250,"currency":"EUR"}"#, status_malformed("kind")),
        ("kind rollback", 200, br#"{"tx_id":"tx-1","status":"OK","kind":"rollback","amount":250,"currency":"EUR"}"#, status_malformed("kind")),
        ("kind uppercase", 200, br#"{"tx_id":"tx-1","status":"OK","kind":"DEBIT","amount":250,"currency":"EUR"}"#, status_malformed("kind")),
        ("kind unknown", 200, br#"{"tx_id":"tx-1","status":"OK","kind":"refund","amount":250,"currency":"EUR"}"#, status_malformed("kind")),
        ("rolled back, kind credit", 200, br#"{"tx_id":"tx-1","status":"ROLLED_BACK","kind":"credit","amount":250,"currency":"EUR"}"#, status_malformed("kind")),
        ("other amount", 200, br#"{"tx_id":"tx-1","status":"OK","kind":"debit","amount":251,"currency":"EUR"}"#, status_malformed("amount")),
        ("amount in major units", 200, br#"{"tx_id":"tx-1","status":"OK","kind":"debit","amount":2,"currency":"EUR"}"#, status_malformed("amount")),
        ("rolled back, other amount", 200, br#"{"tx_id":"tx-1","status":"ROLLED_BACK","kind":"debit","amount":25000,"currency":"EUR"}"#, status_malformed("amount")),
        ("zero amount", 200, br#"{"tx_id":"tx-1","status":"OK","kind":"debit","amount":0,"currency":"EUR"}"#, status_malformed("non-positive")),
        ("negative amount", 200, br#"{"tx_id":"tx-1","status":"OK","kind":"debit","amount":-250,"currency":"EUR"}"#, status_malformed("non-positive")),
        ("other currency", 200, br#"{"tx_id":"tx-1","status":"OK","kind":"debit","amount":250,"currency":"USD"}"#, status_malformed("currency")),
        ("lowercase currency", 200, br#"{"tx_id":"tx-1","status":"OK","kind":"debit","amount":250,"currency":"eur"}"#, status_malformed("currency")),
        ("rolled back, other currency", 200, br#"{"tx_id":"tx-1","status":"ROLLED_BACK","kind":"debit","amount":250,"currency":"GBP"}"#, status_malformed("currency")),
        // Statuses the spec does not give.
        ("status failed", 200, br#"{"tx_id":"tx-1","status":"FAILED","kind":"debit","amount":250,"currency":"EUR"}"#, status_malformed("status")),
        ("status lowercase", 200, br#"{"tx_id":"tx-1","status":"ok","kind":"debit","amount":250,"currency":"EUR"}"#, status_malformed("status")),
        ("status declined", 200, br#"{"tx_id":"tx-1","status":"DECLINED","kind":"debit","amount":250,"currency":"EUR"}"#, status_malformed("status")),
        ("status empty", 200, br#"{"tx_id":"tx-1","status":"","kind":"debit","amount":250,"currency":"EUR"}"#, status_malformed("status")),
        // Shape.
        ("missing currency", 200, br#"{"tx_id":"tx-1","status":"OK","kind":"debit","amount":250}"#, status_malformed("json")),
        ("missing kind", 200, br#"{"tx_id":"tx-1","status":"OK","amount":250,"currency":"EUR"}"#, status_malformed("json")),
        ("missing amount", 200, br#"{"tx_id":"tx-1","status":"OK","kind":"debit","currency":"EUR"}"#, status_malformed("json")),
        ("a transfer reply", 200, br#"{"tx_id":"tx-1","status":"OK","balance":9750,"provider_ref":"hm-000123"}"#, status_malformed("json")),
        ("extra field", 200, br#"{"tx_id":"tx-1","status":"OK","kind":"debit","amount":250,"currency":"EUR","balance":9750}"#, status_malformed("json")),
        ("duplicate status", 200, br#"{"tx_id":"tx-1","status":"ROLLED_BACK","status":"OK","kind":"debit","amount":250,"currency":"EUR"}"#, status_malformed("json")),
        ("amount as string", 200, br#"{"tx_id":"tx-1","status":"OK","kind":"debit","amount":"250","currency":"EUR"}"#, status_malformed("json")),
        ("amount as float", 200, br#"{"tx_id":"tx-1","status":"OK","kind":"debit","amount":250.0,"currency":"EUR"}"#, status_malformed("json")),
        ("amount above i64", 200, br#"{"tx_id":"tx-1","status":"OK","kind":"debit","amount":9223372036854775808,"currency":"EUR"}"#, status_malformed("json")),
        ("kind null", 200, br#"{"tx_id":"tx-1","status":"OK","kind":null,"amount":250,"currency":"EUR"}"#, status_malformed("json")),
        ("trailing garbage", 200, br#"{"tx_id":"tx-1","status":"OK","kind":"debit","amount":250,"currency":"EUR"}x"#, status_malformed("json")),
        ("fields as an array", 200, br#"["tx-1","OK","debit",250,"EUR"]"#, status_malformed("not an object")),
        // Error codes that are no answer to a status query.
        ("not found on 400", 400, br#"{"code":"TRANSACTION_NOT_FOUND"}"#, status_malformed("code")),
        ("not found on 410", 410, br#"{"code":"TRANSACTION_NOT_FOUND"}"#, status_malformed("code")),
        ("not reversible", 409, br#"{"code":"NOT_REVERSIBLE"}"#, status_malformed("code")),
        ("not found, no body", 404, b"", StatusClass::Unknown(Kind::HttpStatus(404))),
        ("not found, html", 404, b"<h1>Not Found</h1>", StatusClass::Unknown(Kind::HttpStatus(404))),
        ("not found, extra field", 404, br#"{"code":"TRANSACTION_NOT_FOUND","tx_id":"tx-1"}"#, StatusClass::Unknown(Kind::HttpStatus(404))),
        ("5xx with a status body", 500, ok, StatusClass::Unknown(Kind::HttpStatus(500))),
        ("5xx with not found", 503, br#"{"code":"TRANSACTION_NOT_FOUND"}"#, StatusClass::Unknown(Kind::HttpStatus(503))),
    ];
    for (name, body, reason) in garbage_200_rows() {
        rows.push((name, 200, body, status_malformed(reason)));
    }
    // Declines are no answer to a status query; everything else is
    // Unknown with the same error as for a money call.
    for (name, status, body, expected) in common_error_rows() {
        let expected = match expected {
            Class::Declined(_) => status_malformed("code"),
            Class::NotProcessed(kind) | Class::Unknown(kind) => StatusClass::Unknown(kind),
            Class::Settled(_) => unreachable!("{name}"),
        };
        rows.push((name, status, body, expected));
    }
    for (name, status, body, expected) in rows {
        assert_eq!(status_class(classify_status(&req, status, body)), expected, "status: {name}");
    }
}

#[test]
#[rustfmt::skip]
fn status_replies_are_checked_against_the_request() {
    let reply = |status: &str, kind: &str, amount: i64, currency: &str| {
        format!(r#"{{"tx_id":"tx-1","status":"{status}","kind":"{kind}","amount":{amount},"currency":"{currency}"}}"#)
    };
    let classify = |req: &StatusRequest, body: String| status_class(classify_status(req, 200, body.as_bytes()));

    // Without an amount the hub cannot check amount and currency.
    let debit = status_req(TxKind::Debit, None);
    assert_eq!(classify(&debit, reply("OK", "debit", 99, "USD")), applied());
    assert_eq!(classify(&debit, reply("ROLLED_BACK", "debit", 1, "JPY")), StatusClass::RolledBack);
    assert_eq!(classify(&debit, reply("OK", "debit", 0, "EUR")), status_malformed("non-positive"));
    assert_eq!(classify(&debit, reply("OK", "credit", 99, "EUR")), status_malformed("kind"));

    // A credit is applied, never rolled back (the spec refuses to reverse it).
    let credit = status_req(TxKind::Credit, Some(1250));
    assert_eq!(classify(&credit, reply("OK", "credit", 1250, "EUR")), applied());
    assert_eq!(classify(&credit, reply("ROLLED_BACK", "credit", 1250, "EUR")), status_malformed("status"));
    assert_eq!(classify(&credit, reply("OK", "debit", 1250, "EUR")), status_malformed("kind"));
    assert_eq!(classify(&credit, reply("OK", "credit", 1249, "EUR")), status_malformed("amount"));

    // A rollback's record carries the reversed debit's amount and currency.
    let rollback = status_req(TxKind::Rollback, Some(250));
    let rb = |status: &str, kind: &str| {
        format!(r#"{{"tx_id":"rb-1","status":"{status}","kind":"{kind}","amount":250,"currency":"EUR"}}"#)
    };
    assert_eq!(classify(&rollback, rb("OK", "rollback")), applied());
    assert_eq!(classify(&rollback, rb("ROLLED_BACK", "rollback")), status_malformed("status"));
    assert_eq!(classify(&rollback, rb("OK", "debit")), status_malformed("kind"));
    // The reversed debit's record is not the rollback's.
    assert_eq!(classify(&rollback, reply("ROLLED_BACK", "debit", 250, "EUR")), status_malformed("tx_id"));
    let rollback = status_req(TxKind::Rollback, None);
    assert_eq!(classify(&rollback, rb("OK", "rollback")), applied());
    assert_eq!(status_class(classify_status(&rollback, 404, br#"{"code":"TRANSACTION_NOT_FOUND"}"#)), StatusClass::NotFound);
}

#[test]
fn an_unexpected_code_is_kept_short() {
    let long = format!(r#"{{"code":"{}"}}"#, "X".repeat(10_000));
    let Outcome::Unknown(AdapterError::Malformed(source)) =
        classify_transfer(&debit(1), 402, long.as_bytes())
    else {
        panic!("expected Unknown(Malformed)");
    };
    match source.downcast_ref::<MalformedReply>() {
        Some(MalformedReply::UnexpectedCode { status: 402, code }) => {
            assert_eq!(code.chars().count(), 64);
        }
        other => panic!("unexpected {other:?}"),
    }
}

// ------------------------------------------------------------ properties

/// An independent reading of "a valid settled reply to this transfer",
/// through `serde_json::Value` rather than the classifier's structs.
fn valid_transfer_reply(req: &MoneyRequest, body: &[u8]) -> bool {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
        return false;
    };
    let keys_ok = map.len() == 4
        && ["tx_id", "status", "balance", "provider_ref"]
            .iter()
            .all(|k| map.contains_key(*k));
    let balance = map.get("balance").and_then(Value::as_i64);
    keys_ok
        && map.get("tx_id").and_then(Value::as_str) == Some(req.tx_id.as_str())
        && map.get("status").and_then(Value::as_str) == Some("OK")
        && balance.is_some_and(|b| {
            b >= 0 && (req.direction == Direction::Debit || b >= req.amount.minor_units)
        })
        && map
            .get("provider_ref")
            .and_then(Value::as_str)
            .is_some_and(|r| !r.is_empty() && r.len() <= 128 && !r.chars().any(char::is_control))
}

fn valid_rollback_reply(req: &RollbackRequest, body: &[u8]) -> bool {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
        return false;
    };
    let allowed = ["tx_id", "status", "balance", "provider_ref"];
    let tx_id = map.get("tx_id").and_then(Value::as_str);
    let balance = map.get("balance").and_then(Value::as_i64);
    map.keys().all(|k| allowed.contains(&k.as_str()))
        && tx_id.is_some_and(|t| !t.is_empty())
        && map.get("status").and_then(Value::as_str) == Some("OK")
        && balance.is_some_and(|b| {
            b >= 0
                && (tx_id != Some(req.tx_id.as_str())
                    || req.amount.is_none_or(|a| b >= a.minor_units))
        })
        && match map.get("provider_ref") {
            None | Some(Value::Null) => true,
            Some(Value::String(r)) => {
                !r.is_empty() && r.len() <= 128 && !r.chars().any(char::is_control)
            }
            Some(_) => false,
        }
}

fn is_code(body: &[u8], code: &str) -> bool {
    serde_json::from_slice::<Value>(body).is_ok_and(|v| v == json!({ "code": code }))
}

/// Arbitrary statuses, weighted towards the interesting ones.
fn any_status() -> BoxedStrategy<u16> {
    prop_oneof![
        3 => Just(200u16),
        2 => prop::sample::select(vec![400u16, 401, 402, 403, 404, 409, 500, 503]),
        1 => any::<u16>(),
    ]
    .boxed()
}

/// A JSON value that is sometimes the right type and sometimes not.
fn any_json_value(right: Value) -> BoxedStrategy<Value> {
    prop_oneof![
        4 => Just(right),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<f64>().prop_map(|f| json!(f)),
        1 => "[a-zA-Z0-9_ -]{0,12}".prop_map(Value::from),
        1 => Just(Value::Null),
        1 => Just(json!([])),
        1 => Just(json!({})),
    ]
    .boxed()
}

/// A reply's fields in wire order.
type Fields = Vec<(&'static str, Value)>;

/// Well-formed debit/credit replies, for `tx_id` or another transaction.
fn transfer_fields(tx_id: &'static str) -> BoxedStrategy<Fields> {
    (
        prop_oneof![3 => Just(tx_id.to_owned()), 1 => "tx-[0-9]"],
        -5i64..20_000,
        "[a-z0-9-]{0,8}",
    )
        .prop_map(|(tx_id, balance, provider_ref)| {
            vec![
                ("tx_id", json!(tx_id)),
                ("status", json!("OK")),
                ("balance", json!(balance)),
                ("provider_ref", json!(provider_ref)),
            ]
        })
        .boxed()
}

/// Well-formed rollback replies, for `tx_id` or an earlier rollback.
fn rollback_fields(tx_id: &'static str) -> BoxedStrategy<Fields> {
    (
        prop_oneof![3 => Just(tx_id), 1 => Just("rb-0")],
        -5i64..20_000,
        prop::option::of("[a-z0-9-]{0,8}"),
    )
        .prop_map(|(tx_id, balance, provider_ref)| {
            let mut fields = vec![
                ("tx_id", json!(tx_id)),
                ("status", json!("OK")),
                ("balance", json!(balance)),
            ];
            fields.extend(provider_ref.map(|r| ("provider_ref", json!(r))));
            fields
        })
        .boxed()
}

/// Well-formed status replies, for `tx_id` or another transaction, with
/// every status and kind of the spec and some that are not.
fn status_fields(tx_id: &'static str) -> BoxedStrategy<Fields> {
    (
        prop_oneof![3 => Just(tx_id), 1 => Just("tx-2")],
        prop::sample::select(vec!["OK", "OK", "ROLLED_BACK", "FAILED"]),
        prop::sample::select(vec!["debit", "debit", "credit", "rollback", "refund"]),
        prop_oneof![3 => Just(250i64), 1 => -5i64..500],
        prop_oneof![3 => Just("EUR"), 1 => Just("USD")],
    )
        .prop_map(|(tx_id, status, kind, amount, currency)| {
            vec![
                ("tx_id", json!(tx_id)),
                ("status", json!(status)),
                ("kind", json!(kind)),
                ("amount", json!(amount)),
                ("currency", json!(currency)),
            ]
        })
        .boxed()
}

/// An independent reading of "a status reply that is about this very
/// transaction", through `serde_json::Value`: what it says happened.
fn expected_status(req: &StatusRequest, body: &[u8]) -> Option<&'static str> {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
        return None;
    };
    let keys = ["tx_id", "status", "kind", "amount", "currency"];
    if map.len() != keys.len() || !keys.iter().all(|k| map.contains_key(*k)) {
        return None;
    }
    let kind = match req.kind {
        TxKind::Debit => "debit",
        TxKind::Credit => "credit",
        TxKind::Rollback => "rollback",
    };
    let amount = map.get("amount").and_then(Value::as_i64)?;
    let currency = map.get("currency").and_then(Value::as_str)?;
    let ours = map.get("tx_id").and_then(Value::as_str) == Some(req.tx_id.as_str())
        && map.get("kind").and_then(Value::as_str) == Some(kind)
        && amount > 0
        && req
            .amount
            .is_none_or(|m| m.minor_units == amount && m.currency.code() == currency);
    if !ours {
        return None;
    }
    match map.get("status").and_then(Value::as_str) {
        Some("OK") => Some("applied"),
        Some("ROLLED_BACK") if req.kind == TxKind::Debit => Some("rolled back"),
        _ => None,
    }
}

/// Well-formed balance replies, for our account and currency or others.
fn balance_fields() -> BoxedStrategy<Fields> {
    (
        prop_oneof![3 => Just("acc-1"), 1 => Just("acc-2")],
        prop_oneof![3 => Just("EUR"), 1 => Just("USD")],
        -5i64..20_000,
    )
        .prop_map(|(account, currency, balance)| {
            vec![
                ("account", json!(account)),
                ("currency", json!(currency)),
                ("balance", json!(balance)),
            ]
        })
        .boxed()
}

/// A reply as an object: unchanged, or with one field removed, one field
/// replaced by an arbitrary value, or one extra field.
fn mutated_object(fields: BoxedStrategy<Fields>) -> BoxedStrategy<Vec<u8>> {
    (
        fields,
        0..6u8,
        any::<prop::sample::Index>(),
        any_json_value(Value::Null),
    )
        .prop_map(|(mut fields, how, which, value)| {
            let at = which.index(fields.len().max(1));
            match how {
                // Half of them stay well-formed.
                0..3 => {}
                3 if at < fields.len() => {
                    fields.remove(at);
                }
                4 if at < fields.len() => {
                    let key = fields[at].0;
                    fields[at] = (key, value);
                }
                _ => fields.push(("extra", value)),
            }
            let map = fields
                .into_iter()
                .map(|(key, value)| (key.to_owned(), value))
                .collect();
            serde_json::to_vec(&Value::Object(map)).unwrap_or_default()
        })
        .boxed()
}

/// A reply's field values as a JSON array in wire order, which serde's
/// derived structs would accept.
fn as_array(fields: BoxedStrategy<Fields>) -> BoxedStrategy<Vec<u8>> {
    fields
        .prop_map(|fields| {
            let items = fields.into_iter().map(|(_, value)| value).collect();
            serde_json::to_vec(&Value::Array(items)).unwrap_or_default()
        })
        .boxed()
}

/// `{"code": ...}` with every code of the dialect and an unknown one.
fn error_body() -> BoxedStrategy<Vec<u8>> {
    prop::sample::select(vec![
        "INSUFFICIENT_FUNDS",
        "ACCOUNT_BLOCKED",
        "LIMIT_EXCEEDED",
        "WRONG_CURRENCY",
        "UNKNOWN_ACCOUNT",
        "TRANSACTION_NOT_FOUND",
        "NOT_REVERSIBLE",
        "INVALID_SIGNATURE",
        "BAD_REQUEST",
        "OTHER",
    ])
    .prop_map(|code| serde_json::to_vec(&json!({ "code": code })).unwrap_or_default())
    .boxed()
}

/// Arbitrary bytes, well-formed or mutated replies (whole, cut short, or as
/// arrays), and error bodies.
fn any_body(fields: fn() -> BoxedStrategy<Fields>) -> BoxedStrategy<Vec<u8>> {
    let truncated =
        (mutated_object(fields()), any::<prop::sample::Index>()).prop_map(|(body, cut)| {
            let at = cut.index(body.len().max(1));
            body.get(..at).map(<[u8]>::to_vec).unwrap_or_default()
        });
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..256),
        4 => mutated_object(fields()),
        1 => truncated,
        1 => as_array(fields()),
        1 => error_body(),
    ]
    .boxed()
}

fn declined_is_justified(status: u16, body: &[u8], reason: DeclineReason) -> bool {
    let expected = match reason {
        DeclineReason::InsufficientFunds => (402, "INSUFFICIENT_FUNDS"),
        DeclineReason::AccountBlocked => (403, "ACCOUNT_BLOCKED"),
        DeclineReason::LimitExceeded => (403, "LIMIT_EXCEEDED"),
        DeclineReason::WrongCurrency => (409, "WRONG_CURRENCY"),
        DeclineReason::UnknownAccount => (404, "UNKNOWN_ACCOUNT"),
        DeclineReason::NotReversible => (409, "NOT_REVERSIBLE"),
        _ => return false,
    };
    status == expected.0 && is_code(body, expected.1)
}

fn not_processed_is_justified(status: u16, body: &[u8], error: &AdapterError) -> bool {
    match error {
        AdapterError::Rejected { code } => {
            (status == 400 && *code == "BAD_REQUEST" && is_code(body, "BAD_REQUEST"))
                || (status == 401
                    && *code == "INVALID_SIGNATURE"
                    && is_code(body, "INVALID_SIGNATURE"))
        }
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn transfer_classification_is_total_and_sound(
        status in any_status(),
        body in any_body(|| transfer_fields("tx-1")),
        is_credit in any::<bool>(),
    ) {
        let mut req = debit(250);
        if is_credit {
            req.direction = Direction::Credit;
        }
        let valid = status == 200 && valid_transfer_reply(&req, &body);
        match classify_transfer(&req, status, &body) {
            Outcome::Settled(s) => {
                prop_assert!(valid, "settled on {status} {:?}", String::from_utf8_lossy(&body));
                prop_assert_eq!(s.balance_after.map(|m| m.currency), Some(eur()));
                prop_assert!(s.provider_ref.is_some());
            }
            Outcome::Declined(reason) => {
                prop_assert!(reason != DeclineReason::NotReversible);
                prop_assert!(declined_is_justified(status, &body, reason));
            }
            Outcome::NotProcessed(e) => prop_assert!(not_processed_is_justified(status, &body, &e)),
            Outcome::Unknown(_) => prop_assert!(!valid, "valid reply not settled"),
        }
    }

    #[test]
    fn rollback_classification_is_total_and_sound(
        status in any_status(),
        body in any_body(|| rollback_fields("rb-1")),
        amount in prop::option::of(1i64..20_000),
    ) {
        let req = rollback(amount);
        let valid = status == 200 && valid_rollback_reply(&req, &body);
        let not_found = status == 404 && is_code(&body, "TRANSACTION_NOT_FOUND");
        match classify_rollback(&req, status, &body) {
            Outcome::Settled(s) => {
                prop_assert!(valid || not_found, "settled on {status} {:?}", String::from_utf8_lossy(&body));
                if s.balance_after.is_some() {
                    prop_assert!(amount.is_some());
                }
            }
            Outcome::Declined(reason) => prop_assert!(declined_is_justified(status, &body, reason)),
            Outcome::NotProcessed(e) => prop_assert!(not_processed_is_justified(status, &body, &e)),
            Outcome::Unknown(_) => prop_assert!(!valid && !not_found),
        }
    }

    #[test]
    fn balance_classification_is_total_and_sound(
        status in any_status(),
        body in any_body(balance_fields),
    ) {
        let expected = serde_json::from_slice::<Value>(&body)
            .ok()
            .filter(|_| status == 200)
            .filter(|v| v.as_object().is_some_and(|m| m.len() == 3))
            .filter(|v| v["account"] == "acc-1" && v["currency"] == "EUR")
            .and_then(|v| v["balance"].as_i64())
            .filter(|b| *b >= 0);
        match classify_balance(&balance_req(), status, &body) {
            Ok(money) => prop_assert_eq!(Some(money), expected.map(|b| Money::new(eur(), b))),
            Err(AdapterError::Declined(reason)) => {
                prop_assert!(declined_is_justified(status, &body, reason));
            }
            Err(rejected @ AdapterError::Rejected { .. }) => {
                let justified = not_processed_is_justified(status, &body, &rejected);
                prop_assert!(justified);
            }
            Err(_) => prop_assert!(expected.is_none()),
        }
    }
}

proptest! {
    // Replies that match the request on every field are a small share of
    // the generated ones, and they are the ones that must not slip through.
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn status_classification_is_total_and_sound(
        status in any_status(),
        body in any_body(|| status_fields("tx-1")),
        kind in prop::sample::select(vec![TxKind::Debit, TxKind::Credit, TxKind::Rollback]),
        amount in prop::option::of(prop_oneof![3 => Just(250i64), 1 => 1i64..500]),
    ) {
        let mut req = status_req(kind, amount);
        // The same id for every kind, so the generated replies name it.
        req.tx_id = ProviderTxId::new("tx-1");
        let expected = expected_status(&req, &body).filter(|_| status == 200);
        let not_found = status == 404 && is_code(&body, "TRANSACTION_NOT_FOUND");
        let shown = String::from_utf8_lossy(&body);
        match classify_status(&req, status, &body) {
            TxStatus::Applied(settlement) => {
                prop_assert_eq!(expected, Some("applied"), "applied on {} {:?}", status, shown);
                prop_assert_eq!(settlement, Settlement::default());
            }
            TxStatus::RolledBack => {
                prop_assert_eq!(expected, Some("rolled back"), "rolled back on {} {:?}", status, shown);
                prop_assert_eq!(kind, TxKind::Debit);
            }
            TxStatus::NotFound => prop_assert!(not_found, "not found on {status} {shown:?}"),
            TxStatus::Declined(reason) => prop_assert!(false, "declined {reason:?} on {status} {shown:?}"),
            TxStatus::Unknown(AdapterError::Rejected { code }) => {
                let justified = not_processed_is_justified(status, &body, &AdapterError::Rejected { code });
                prop_assert!(justified);
            }
            TxStatus::Unknown(_) => {
                prop_assert!(expected.is_none() && !not_found, "{status} {shown:?} not taken");
            }
        }
    }

    #[test]
    fn garbage_is_never_a_status(
        status in any_status(),
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..256),
            // A valid reply cut short, or with a byte changed.
            (any::<prop::sample::Index>(), any::<prop::sample::Index>(), any::<u8>()).prop_map(|(cut, at, byte)| {
                let mut body = br#"{"tx_id":"tx-1","status":"OK","kind":"debit","amount":250,"currency":"EUR"}"#.to_vec();
                if byte % 2 == 0 {
                    body.truncate(cut.index(body.len()));
                } else {
                    let at = at.index(body.len());
                    body[at] = byte;
                }
                body
            }),
        ],
    ) {
        let req = status_req(TxKind::Debit, Some(250));
        let expected = expected_status(&req, &body).filter(|_| status == 200);
        match classify_status(&req, status, &body) {
            TxStatus::Applied(_) | TxStatus::RolledBack => {
                prop_assert!(expected.is_some(), "{status} {:?}", String::from_utf8_lossy(&body));
            }
            _ => {}
        }
    }
}
