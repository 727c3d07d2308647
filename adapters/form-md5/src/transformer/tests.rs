//! Unit tests of the transformer: exact wire bodies and hashes (known
//! answers computed outside Rust with `printf ... | md5sum`), a table of
//! replies against their classification for every error number, and
//! bounded property tests that feed arbitrary replies to every classifier.

use super::*;

use adapter_api::{AccountId, ProviderTxId};
use proptest::prelude::*;
use serde_json::{Value, json};

const SECRET: &str = "test-secret";
const TS: Timestamp = Timestamp(1_732_540_000_000);

fn eur() -> Currency {
    Currency::from_code("EUR").unwrap()
}

fn jpy() -> Currency {
    Currency::from_code("JPY").unwrap()
}

fn credentials() -> Credentials {
    Credentials::new("op1", SECRET)
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

fn rollback() -> RollbackRequest {
    RollbackRequest {
        tx_id: ProviderTxId::new("rb-1"),
        original_tx_id: ProviderTxId::new("tx-1"),
        account: AccountId::new("acc-1"),
        amount: Some(Money::new(eur(), 250)),
    }
}

fn balance_req() -> BalanceRequest {
    BalanceRequest {
        account: AccountId::new("acc-1"),
        currency: eur(),
    }
}

/// The MD5 computed here with the `md-5` crate over a string written out
/// by hand, not through [`Credentials::hash`].
fn independent_md5(input: &str) -> String {
    hex::encode(Md5::digest(input.as_bytes()))
}

fn body(wire: &WireRequest) -> &str {
    std::str::from_utf8(&wire.body).unwrap()
}

// ------------------------------------------------------------ requests

#[test]
fn bet_body_and_hash_are_exact() {
    let wire = encode_transfer(&debit(250), &credentials(), TS).unwrap();
    assert_eq!(wire.endpoint, Endpoint::Bet);
    assert_eq!(wire.endpoint.path(), "/bet.html");
    // Known answer: printf '%s' 'amount=2.50&currency=EUR&providerId=op1&reference=tx-1&roundId=r-9&timestamp=1732540000000&userId=acc-1test-secret' | md5sum
    assert_eq!(wire.hash, "f35aecc9a3b369f7681ca3e501479024");
    assert_eq!(
        wire.hash,
        independent_md5(
            "amount=2.50&currency=EUR&providerId=op1&reference=tx-1&roundId=r-9\
             &timestamp=1732540000000&userId=acc-1test-secret"
        )
    );
    assert_eq!(
        body(&wire),
        "providerId=op1&userId=acc-1&reference=tx-1&amount=2.50&currency=EUR&roundId=r-9\
         &timestamp=1732540000000&hash=f35aecc9a3b369f7681ca3e501479024"
    );
}

#[test]
fn result_without_round_omits_round_id() {
    let req = MoneyRequest {
        amount: Money::new(jpy(), 1250),
        ..credit(1)
    };
    let wire = encode_transfer(
        &req,
        &credentials(),
        Timestamp::from_millis(1_732_540_000_001),
    )
    .unwrap();
    assert_eq!(wire.endpoint, Endpoint::Result);
    assert_eq!(wire.endpoint.path(), "/result.html");
    // printf '%s' 'amount=1250&currency=JPY&providerId=op1&reference=tx-2&timestamp=1732540000001&userId=acc-1test-secret' | md5sum
    assert_eq!(wire.hash, "15b47f285bce93003a6be46c0c9d78e8");
    assert_eq!(
        body(&wire),
        "providerId=op1&userId=acc-1&reference=tx-2&amount=1250&currency=JPY\
         &timestamp=1732540000001&hash=15b47f285bce93003a6be46c0c9d78e8"
    );
}

#[test]
fn refund_sends_the_bets_reference_and_not_its_own_id() {
    let wire = encode_rollback(&rollback(), &credentials()).unwrap();
    assert_eq!(wire.endpoint, Endpoint::Refund);
    assert_eq!(wire.endpoint.path(), "/refund.html");
    // printf '%s' 'providerId=op1&reference=tx-1&userId=acc-1test-secret' | md5sum
    assert_eq!(wire.hash, "d1080f21d0a81e235501aa228464c025");
    assert_eq!(
        body(&wire),
        "providerId=op1&userId=acc-1&reference=tx-1&hash=d1080f21d0a81e235501aa228464c025"
    );
    assert!(!body(&wire).contains("rb-1"));
    // Another rollback id for the same bet is the same request.
    let other = RollbackRequest {
        tx_id: ProviderTxId::new("rb-2"),
        amount: None,
        ..rollback()
    };
    assert_eq!(encode_rollback(&other, &credentials()).unwrap(), wire);
}

#[test]
fn balance_body_and_hash_are_exact() {
    let wire = encode_balance(&balance_req(), &credentials()).unwrap();
    assert_eq!(wire.endpoint, Endpoint::Balance);
    assert_eq!(wire.endpoint.path(), "/balance.html");
    // printf '%s' 'currency=EUR&providerId=op1&userId=acc-1test-secret' | md5sum
    assert_eq!(wire.hash, "b530cfb9147650a469a551abe4c72f4b");
    assert_eq!(
        body(&wire),
        "providerId=op1&userId=acc-1&currency=EUR&hash=b530cfb9147650a469a551abe4c72f4b"
    );
}

#[test]
fn values_are_hashed_raw_and_sent_url_encoded() {
    let req = MoneyRequest {
        direction: Direction::Debit,
        tx_id: ProviderTxId::new("tx 3"),
        account: AccountId::new("a b/én"),
        amount: Money::new(Currency::from_code("BHD").unwrap(), 1),
        reference: Some("r&9=x".into()),
    };
    let wire = encode_transfer(&req, &credentials(), Timestamp::from_millis(0)).unwrap();
    // printf '%s' 'amount=0.001&currency=BHD&providerId=op1&reference=tx 3&roundId=r&9=x&timestamp=0&userId=a b/éntest-secret' | md5sum
    assert_eq!(wire.hash, "e5a0445092356e0f197d38c30ca19054");
    assert_eq!(
        body(&wire),
        "providerId=op1&userId=a+b%2F%C3%A9n&reference=tx+3&amount=0.001&currency=BHD\
         &roundId=r%269%3Dx&timestamp=0&hash=e5a0445092356e0f197d38c30ca19054"
    );
    // The provider decodes the body back to exactly our values.
    let decoded: Vec<(String, String)> = form_urlencoded::parse(&wire.body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    assert_eq!(decoded[1], ("userId".into(), "a b/én".into()));
    assert_eq!(decoded[5], ("roundId".into(), "r&9=x".into()));
}

#[test]
fn the_hash_depends_on_the_secret_and_every_value() {
    let params = [("b", "2"), ("a", "1")];
    assert_eq!(
        credentials().hash(&params),
        independent_md5("a=1&b=2test-secret")
    );
    assert_ne!(
        credentials().hash(&params),
        Credentials::new("op1", "other").hash(&params)
    );
    assert_ne!(
        credentials().hash(&params),
        credentials().hash(&[("a", "1"), ("b", "3")])
    );
    // No parameters: the MD5 of the secret alone.
    // printf '%s' 'test-secret' | md5sum
    assert_eq!(credentials().hash(&[]), "2318ed020bcddb328eab6db7800b2f80");
    // Names sort by bytes: upper case before lower case.
    assert_eq!(
        credentials().hash(&[("b", "1"), ("B", "2")]),
        independent_md5("B=2&b=1test-secret")
    );
    let shown = format!("{:?}", credentials());
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(shown.contains("op1"), "{shown}");
}

#[test]
fn amounts_carry_exactly_the_currencys_exponent() {
    let amount_of = |minor: i64, code: &str| {
        let req = MoneyRequest {
            amount: Money::new(Currency::from_code(code).unwrap(), minor),
            ..debit(1)
        };
        let wire = encode_transfer(&req, &credentials(), TS).unwrap();
        form_urlencoded::parse(&wire.body)
            .find(|(k, _)| k == "amount")
            .map(|(_, v)| v.into_owned())
            .unwrap()
    };
    assert_eq!(amount_of(250, "EUR"), "2.50");
    assert_eq!(amount_of(1250, "EUR"), "12.50");
    assert_eq!(amount_of(1, "EUR"), "0.01");
    assert_eq!(amount_of(100, "USD"), "1.00");
    assert_eq!(amount_of(1250, "JPY"), "1250");
    assert_eq!(amount_of(1, "BHD"), "0.001");
    assert_eq!(amount_of(i64::MAX, "EUR"), "92233720368547758.07");
}

#[test]
fn unrepresentable_requests_are_refused_before_sending() {
    fn reason(err: AdapterError) -> String {
        match err {
            AdapterError::Unrepresentable(source) => source.to_string(),
            other => panic!("expected Unrepresentable, got {other:?}"),
        }
    }
    let c = credentials();
    let non_positive = RequestError::NonPositiveAmount.to_string();
    assert_eq!(
        reason(encode_transfer(&debit(0), &c, TS).unwrap_err()),
        non_positive
    );
    assert_eq!(
        reason(encode_transfer(&credit(-5), &c, TS).unwrap_err()),
        non_positive
    );
    assert_eq!(
        reason(encode_transfer(&debit(i64::MIN), &c, TS).unwrap_err()),
        non_positive
    );
    let mut req = debit(1);
    req.tx_id = ProviderTxId::new("");
    assert_eq!(
        reason(encode_transfer(&req, &c, TS).unwrap_err()),
        RequestError::EmptyTxId.to_string()
    );
    let mut req = debit(1);
    req.account = AccountId::new("");
    assert_eq!(
        reason(encode_transfer(&req, &c, TS).unwrap_err()),
        RequestError::EmptyAccount.to_string()
    );
    let mut req = rollback();
    req.original_tx_id = ProviderTxId::new("");
    assert_eq!(
        reason(encode_rollback(&req, &c).unwrap_err()),
        RequestError::EmptyTxId.to_string()
    );
    let mut req = rollback();
    req.account = AccountId::new("");
    assert_eq!(
        reason(encode_rollback(&req, &c).unwrap_err()),
        RequestError::EmptyAccount.to_string()
    );
    let mut req = balance_req();
    req.account = AccountId::new("");
    assert_eq!(
        reason(encode_balance(&req, &c).unwrap_err()),
        RequestError::EmptyAccount.to_string()
    );
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
    Internal,
    Other,
}

fn kind(error: &AdapterError) -> Kind {
    match error {
        AdapterError::HttpStatus { status } => Kind::HttpStatus(*status),
        AdapterError::Malformed(source) => {
            Kind::Malformed(match source.downcast_ref::<MalformedReply>() {
                Some(MalformedReply::Json(_)) => "json",
                Some(MalformedReply::NotAnObject) => "not an object",
                Some(MalformedReply::MissingField(_)) => "missing",
                Some(MalformedReply::UnexpectedField(_)) => "unexpected field",
                Some(MalformedReply::BadTransactionId) => "transactionId",
                Some(MalformedReply::CurrencyMismatch) => "currency",
                Some(MalformedReply::Cash(AmountError::TooManyDecimals)) => "decimals",
                Some(MalformedReply::Cash(AmountError::Overflow)) => "overflow",
                Some(MalformedReply::Cash(_)) => "cash",
                Some(MalformedReply::NegativeBalance) => "negative",
                Some(MalformedReply::ImplausibleBalance) => "implausible",
                Some(MalformedReply::UnexpectedError { .. }) => "error number",
                Some(MalformedReply::TooLarge { .. }) => "too large",
                None => "?",
            })
        }
        AdapterError::Transport(source) if source.is::<InternalError>() => Kind::Internal,
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

/// A table row: name, HTTP status, body, expected classification.
type Row<T> = (&'static str, u16, &'static [u8], T);

/// Error replies that every money operation classifies alike.
#[rustfmt::skip]
fn common_error_rows() -> Vec<Row<Class>> {
    use DeclineReason::*;
    vec![
        ("1 insufficient", 200, br#"{"error":1,"description":"insufficient balance"}"#, Class::Declined(InsufficientFunds)),
        ("2 player not found", 200, br#"{"error":2,"description":"player not found"}"#, Class::Declined(UnknownAccount)),
        ("3 blocked", 200, br#"{"error":3,"description":"bet not allowed"}"#, Class::Declined(AccountBlocked)),
        ("4 limit", 200, br#"{"error":4,"description":"limit reached"}"#, Class::Declined(LimitExceeded)),
        ("6 wrong currency", 200, br#"{"error":6,"description":"wrong currency"}"#, Class::Declined(WrongCurrency)),
        ("decline without description", 200, br#"{"error":1}"#, Class::Declined(InsufficientFunds)),
        ("decline with whitespace", 200, b" {\n\"error\" : 4 ,\"description\":\"\"}\n", Class::Declined(LimitExceeded)),
        ("5 invalid hash", 200, br#"{"error":5,"description":"invalid hash"}"#, Class::NotProcessed(Kind::Rejected(REJECTED_INVALID_HASH))),
        ("120 bad parameters", 200, br#"{"error":120,"description":"bad parameters"}"#, Class::NotProcessed(Kind::Rejected(REJECTED_BAD_PARAMETERS))),
        ("100 internal", 200, br#"{"error":100,"description":"internal error"}"#, Class::Unknown(Kind::Internal)),
        ("100 without description", 200, br#"{"error":100}"#, Class::Unknown(Kind::Internal)),
        // Numbers the dialect does not have.
        ("9", 200, br#"{"error":9,"description":"?"}"#, unknown_malformed("error number")),
        ("101", 200, br#"{"error":101}"#, unknown_malformed("error number")),
        ("huge number", 200, br#"{"error":18446744073709551615}"#, unknown_malformed("error number")),
        // Wrong types and shapes of `error`.
        ("error as string", 200, br#"{"error":"1","description":"insufficient balance"}"#, unknown_malformed("json")),
        ("error as float", 200, br#"{"error":1.0}"#, unknown_malformed("json")),
        ("error as exponent", 200, br#"{"error":1e0}"#, unknown_malformed("json")),
        ("error negative", 200, br#"{"error":-1}"#, unknown_malformed("json")),
        ("error above u64", 200, br#"{"error":18446744073709551616}"#, unknown_malformed("json")),
        ("error null", 200, br#"{"error":null}"#, unknown_malformed("json")),
        ("error bool", 200, br#"{"error":true}"#, unknown_malformed("json")),
        ("error missing", 200, br#"{"description":"insufficient balance"}"#, unknown_malformed("json")),
        ("duplicate error", 200, br#"{"error":0,"error":1}"#, unknown_malformed("json")),
        ("description as number", 200, br#"{"error":1,"description":1}"#, unknown_malformed("json")),
        ("unknown field on an error", 200, br#"{"error":1,"code":"X"}"#, unknown_malformed("json")),
        // An error reply carries nothing but the error and its description.
        ("decline with cash", 200, br#"{"error":1,"currency":"EUR","cash":1.00}"#, unknown_malformed("unexpected field")),
        ("decline with transactionId", 200, br#"{"error":3,"transactionId":"fm-1"}"#, unknown_malformed("unexpected field")),
        ("rejection with currency", 200, br#"{"error":5,"currency":"EUR"}"#, unknown_malformed("unexpected field")),
        ("error truncated", 200, br#"{"error":1,"descr"#, unknown_malformed("json")),
        ("error trailing garbage", 200, br#"{"error":1}x"#, unknown_malformed("json")),
        ("error as array", 200, b"[1]", unknown_malformed("not an object")),
        // The dialect answers every business outcome with 200: anything else
        // says nothing about the outcome, whatever its body.
        ("500", 500, b"", Class::Unknown(Kind::HttpStatus(500))),
        ("500 with a decline", 500, br#"{"error":1}"#, Class::Unknown(Kind::HttpStatus(500))),
        ("502", 502, b"bad gateway", Class::Unknown(Kind::HttpStatus(502))),
        ("503", 503, b"", Class::Unknown(Kind::HttpStatus(503))),
        ("504", 504, b"", Class::Unknown(Kind::HttpStatus(504))),
        ("400 with a rejection", 400, br#"{"error":120}"#, Class::Unknown(Kind::HttpStatus(400))),
        ("403", 403, br#"{"error":5}"#, Class::Unknown(Kind::HttpStatus(403))),
        ("404", 404, b"<h1>Not Found</h1>", Class::Unknown(Kind::HttpStatus(404))),
        ("201 with success", 201, br#"{"error":0,"transactionId":"fm-1","currency":"EUR","cash":97.50}"#, Class::Unknown(Kind::HttpStatus(201))),
        ("204", 204, b"", Class::Unknown(Kind::HttpStatus(204))),
        ("302", 302, b"", Class::Unknown(Kind::HttpStatus(302))),
        ("100", 100, b"", Class::Unknown(Kind::HttpStatus(100))),
        ("0", 0, b"", Class::Unknown(Kind::HttpStatus(0))),
    ]
}

/// 200 replies that no operation may take as an answer, with the reason.
#[rustfmt::skip]
fn garbage_200_rows() -> Vec<(&'static str, &'static [u8], &'static str)> {
    vec![
        ("empty", b"", "json"),
        ("whitespace", b"   ", "json"),
        ("not json", b"OK", "json"),
        ("html", b"<html><body>OK</body></html>", "json"),
        ("null", b"null", "not an object"),
        ("array", b"[]", "not an object"),
        ("number", b"0", "not an object"),
        ("string", br#""OK""#, "not an object"),
        ("empty object", b"{}", "json"),
        ("truncated", br#"{"error":0,"transactionId":"fm-5521","currency":"EUR","cash":97."#, "json"),
        ("truncated in a key", br#"{"error":0,"transac"#, "json"),
        ("invalid utf-8", b"{\"error\":0,\"transactionId\":\"\xff\xfe\"}", "json"),
        ("nul bytes", b"\0\0\0\0", "json"),
        ("form instead of json", b"error=0&transactionId=fm-1", "json"),
        ("nested", br#"{"reply":{"error":0}}"#, "json"),
        ("fields as an array", br#"[0,"fm-5521","EUR",97.50]"#, "not an object"),
        ("array then garbage", br#"[0,"fm-5521"]]"#, "json"),
        ("two objects", br#"{"error":1}{"error":0}"#, "json"),
        ("unknown field", br#"{"error":0,"transactionId":"fm-1","currency":"EUR","cash":1.00,"balance":1}"#, "json"),
        ("duplicate cash", br#"{"error":0,"transactionId":"fm-1","currency":"EUR","cash":1.00,"cash":2.00}"#, "json"),
    ]
}

#[test]
#[rustfmt::skip]
fn bet_replies_are_classified() {
    let req = debit(250);
    let mut rows: Vec<Row<Class>> = vec![
        ("settled", 200, br#"{"error":0,"transactionId":"fm-5521","currency":"EUR","cash":97.50}"#, settled(9750, "fm-5521")),
        ("settled, reordered, whitespace", 200, b"{ \"cash\" : 97.50 , \"currency\":\"EUR\",\"transactionId\":\"fm-1\",\"error\":0 }\n", settled(9750, "fm-1")),
        ("settled with description", 200, br#"{"error":0,"description":"ok","transactionId":"fm-1","currency":"EUR","cash":0.00}"#, settled(0, "fm-1")),
        ("one decimal", 200, br#"{"error":0,"transactionId":"fm-1","currency":"EUR","cash":97.5}"#, settled(9750, "fm-1")),
        ("no decimals", 200, br#"{"error":0,"transactionId":"fm-1","currency":"EUR","cash":97}"#, settled(9700, "fm-1")),
        ("zero", 200, br#"{"error":0,"transactionId":"fm-1","currency":"EUR","cash":0}"#, settled(0, "fm-1")),
        ("max balance", 200, br#"{"error":0,"transactionId":"fm-1","currency":"EUR","cash":92233720368547758.07}"#, settled(i64::MAX, "fm-1")),
        ("escaped transactionId", 200, br#"{"error":0,"transactionId":"fm\u002d1","currency":"EUR","cash":1.00}"#, settled(100, "fm-1")),
        // cash, exactly or not at all.
        ("three decimals", 200, br#"{"error":0,"transactionId":"fm-1","currency":"EUR","cash":97.505}"#, unknown_malformed("decimals")),
        ("trailing zero decimal", 200, br#"{"error":0,"transactionId":"fm-1","currency":"EUR","cash":97.500}"#, unknown_malformed("decimals")),
        ("float noise", 200, br#"{"error":0,"transactionId":"fm-1","currency":"EUR","cash":97.49999999999999}"#, unknown_malformed("decimals")),
        ("exponent", 200, br#"{"error":0,"transactionId":"fm-1","currency":"EUR","cash":9.75e1}"#, unknown_malformed("cash")),
        ("exponent integer", 200, br#"{"error":0,"transactionId":"fm-1","currency":"EUR","cash":1E2}"#, unknown_malformed("cash")),
        ("above i64", 200, br#"{"error":0,"transactionId":"fm-1","currency":"EUR","cash":92233720368547758.08}"#, unknown_malformed("overflow")),
        ("huge", 200, br#"{"error":0,"transactionId":"fm-1","currency":"EUR","cash":123456789012345678901234567890.00}"#, unknown_malformed("overflow")),
        ("huge exponent", 200, br#"{"error":0,"transactionId":"fm-1","currency":"EUR","cash":1e400}"#, unknown_malformed("cash")),
        ("negative", 200, br#"{"error":0,"transactionId":"fm-1","currency":"EUR","cash":-0.01}"#, unknown_malformed("negative")),
        ("cash as string", 200, br#"{"error":0,"transactionId":"fm-1","currency":"EUR","cash":"97.50"}"#, unknown_malformed("cash")),
        ("cash as bool", 200, br#"{"error":0,"transactionId":"fm-1","currency":"EUR","cash":true}"#, unknown_malformed("cash")),
        ("cash as object", 200, br#"{"error":0,"transactionId":"fm-1","currency":"EUR","cash":{"v":1}}"#, unknown_malformed("cash")),
        ("cash null", 200, br#"{"error":0,"transactionId":"fm-1","currency":"EUR","cash":null}"#, unknown_malformed("missing")),
        ("cash missing", 200, br#"{"error":0,"transactionId":"fm-1","currency":"EUR"}"#, unknown_malformed("missing")),
        ("leading zero", 200, br#"{"error":0,"transactionId":"fm-1","currency":"EUR","cash":097.50}"#, unknown_malformed("json")),
        ("cash NaN", 200, br#"{"error":0,"transactionId":"fm-1","currency":"EUR","cash":NaN}"#, unknown_malformed("json")),
        // currency, the request's or nothing.
        ("other currency", 200, br#"{"error":0,"transactionId":"fm-1","currency":"USD","cash":97.50}"#, unknown_malformed("currency")),
        ("lowercase currency", 200, br#"{"error":0,"transactionId":"fm-1","currency":"eur","cash":97.50}"#, unknown_malformed("currency")),
        ("currency missing", 200, br#"{"error":0,"transactionId":"fm-1","cash":97.50}"#, unknown_malformed("missing")),
        ("currency as number", 200, br#"{"error":0,"transactionId":"fm-1","currency":978,"cash":97.50}"#, unknown_malformed("json")),
        // transactionId.
        ("transactionId missing", 200, br#"{"error":0,"currency":"EUR","cash":97.50}"#, unknown_malformed("missing")),
        ("transactionId empty", 200, br#"{"error":0,"transactionId":"","currency":"EUR","cash":97.50}"#, unknown_malformed("transactionId")),
        ("transactionId control", 200, br#"{"error":0,"transactionId":"fm\n1","currency":"EUR","cash":97.50}"#, unknown_malformed("transactionId")),
        ("transactionId as number", 200, br#"{"error":0,"transactionId":5521,"currency":"EUR","cash":97.50}"#, unknown_malformed("json")),
        // A refund's answers are not a bet's.
        ("refund success shape", 200, br#"{"error":0,"transactionId":"fm-5522"}"#, unknown_malformed("missing")),
        ("7 on a bet", 200, br#"{"error":7,"description":"transaction not found"}"#, unknown_malformed("error number")),
        ("8 on a bet", 200, br#"{"error":8,"description":"already settled"}"#, unknown_malformed("error number")),
    ];
    for (name, body, reason) in garbage_200_rows() {
        rows.push((name, 200, body, unknown_malformed(reason)));
    }
    rows.extend(common_error_rows());
    for (name, status, body, expected) in rows {
        assert_eq!(class(classify_transfer(&req, status, body)), expected, "bet: {name}");
    }
}

#[test]
#[rustfmt::skip]
fn result_replies_are_classified() {
    let req = credit(1250);
    let reply = |cash: &str| format!(r#"{{"error":0,"transactionId":"fm-7","currency":"EUR","cash":{cash}}}"#);
    assert_eq!(class(classify_transfer(&req, 200, reply("12.50").as_bytes())), settled(1250, "fm-7"));
    assert_eq!(class(classify_transfer(&req, 200, reply("999.99").as_bytes())), settled(99_999, "fm-7"));
    // A credit of 12.50 cannot leave less than 12.50 on an account that
    // cannot go negative.
    assert_eq!(class(classify_transfer(&req, 200, reply("12.49").as_bytes())), unknown_malformed("implausible"));
    assert_eq!(class(classify_transfer(&req, 200, reply("12.495").as_bytes())), unknown_malformed("decimals"));
    for (name, status, body, expected) in common_error_rows() {
        assert_eq!(class(classify_transfer(&req, status, body)), expected, "result: {name}");
    }
    for (name, body, reason) in garbage_200_rows() {
        assert_eq!(class(classify_transfer(&req, 200, body)), unknown_malformed(reason), "result: {name}");
    }
    assert_eq!(class(classify_transfer(&req, 200, br#"{"error":8}"#)), unknown_malformed("error number"));
}

#[test]
#[rustfmt::skip]
fn zero_exponent_cash_is_whole_units() {
    let req = MoneyRequest { amount: Money::new(jpy(), 1250), ..debit(1) };
    let reply = |cash: &str| format!(r#"{{"error":0,"transactionId":"fm-1","currency":"JPY","cash":{cash}}}"#);
    let settled_jpy = |b: i64| Class::Settled(Settlement { balance_after: Some(Money::new(jpy(), b)), provider_ref: Some("fm-1".into()) });
    assert_eq!(class(classify_transfer(&req, 200, reply("8750").as_bytes())), settled_jpy(8750));
    assert_eq!(class(classify_transfer(&req, 200, reply("8750.0").as_bytes())), unknown_malformed("decimals"));
    assert_eq!(class(classify_transfer(&req, 200, reply("87.50").as_bytes())), unknown_malformed("decimals"));
    // The EUR reading of the same body is another currency.
    assert_eq!(class(classify_transfer(&debit(1), 200, reply("8750").as_bytes())), unknown_malformed("currency"));
}

#[test]
#[rustfmt::skip]
fn refund_replies_are_classified() {
    let req = rollback();
    let refunded = |r: &str| Class::Settled(Settlement { balance_after: None, provider_ref: Some(r.into()) });
    let mut rows: Vec<Row<Class>> = vec![
        ("refunded", 200, br#"{"error":0,"transactionId":"fm-5522"}"#, refunded("fm-5522")),
        ("refunded with description", 200, br#"{"description":"ok","transactionId":"fm-5522","error":0}"#, refunded("fm-5522")),
        // The bet was never applied: nothing to reverse.
        ("7 not found", 200, br#"{"error":7,"description":"transaction not found"}"#, Class::Settled(Settlement::default())),
        ("7 bare", 200, br#"{"error":7}"#, Class::Settled(Settlement::default())),
        // The reference is a result: a credit is never reversed.
        ("8 already settled", 200, br#"{"error":8,"description":"already settled"}"#, Class::Declined(DeclineReason::NotReversible)),
        ("7 with cash", 200, br#"{"error":7,"cash":1.00,"currency":"EUR"}"#, unknown_malformed("unexpected field")),
        ("7 as a string", 200, br#"{"error":"7"}"#, unknown_malformed("json")),
        ("7 on a 404", 404, br#"{"error":7}"#, Class::Unknown(Kind::HttpStatus(404))),
        ("8 on a 409", 409, br#"{"error":8}"#, Class::Unknown(Kind::HttpStatus(409))),
        // A refund's success has exactly its own shape.
        ("transactionId missing", 200, br#"{"error":0}"#, unknown_malformed("missing")),
        ("transactionId empty", 200, br#"{"error":0,"transactionId":""}"#, unknown_malformed("transactionId")),
        ("transactionId too long", 200, format!(r#"{{"error":0,"transactionId":"{}"}}"#, "x".repeat(129)).leak().as_bytes(), unknown_malformed("transactionId")),
        ("a bet's success shape", 200, br#"{"error":0,"transactionId":"fm-1","currency":"EUR","cash":100.00}"#, unknown_malformed("unexpected field")),
        ("with currency", 200, br#"{"error":0,"transactionId":"fm-1","currency":"EUR"}"#, unknown_malformed("unexpected field")),
        ("with cash", 200, br#"{"error":0,"transactionId":"fm-1","cash":1.00}"#, unknown_malformed("unexpected field")),
    ];
    for (name, body, reason) in garbage_200_rows() {
        rows.push((name, 200, body, unknown_malformed(reason)));
    }
    rows.extend(common_error_rows());
    for (name, status, body, expected) in rows {
        assert_eq!(class(classify_rollback(&req, status, body)), expected, "refund: {name}");
    }
    // Without the amount, the same.
    let no_amount = RollbackRequest { amount: None, ..rollback() };
    assert_eq!(class(classify_rollback(&no_amount, 200, br#"{"error":7}"#)), Class::Settled(Settlement::default()));
}

fn balance_class(result: Result<Money, AdapterError>) -> Result<Money, Kind> {
    result.map_err(|e| kind(&e))
}

#[test]
#[rustfmt::skip]
fn balance_replies_are_classified() {
    use DeclineReason::*;
    let req = balance_req();
    let mut rows: Vec<Row<Result<Money, Kind>>> = vec![
        ("balance", 200, br#"{"error":0,"currency":"EUR","cash":100.00}"#, Ok(Money::new(eur(), 10_000))),
        ("reordered", 200, br#"{"cash":0.01,"currency":"EUR","error":0}"#, Ok(Money::new(eur(), 1))),
        ("zero", 200, br#"{"error":0,"currency":"EUR","cash":0}"#, Ok(Money::new(eur(), 0))),
        ("one decimal", 200, br#"{"error":0,"currency":"EUR","cash":0.1}"#, Ok(Money::new(eur(), 10))),
        ("other currency", 200, br#"{"error":0,"currency":"USD","cash":100.00}"#, Err(Kind::Malformed("currency"))),
        ("too many decimals", 200, br#"{"error":0,"currency":"EUR","cash":100.001}"#, Err(Kind::Malformed("decimals"))),
        ("float noise", 200, br#"{"error":0,"currency":"EUR","cash":0.30000000000000004}"#, Err(Kind::Malformed("decimals"))),
        ("huge", 200, br#"{"error":0,"currency":"EUR","cash":99999999999999999999}"#, Err(Kind::Malformed("overflow"))),
        ("negative", 200, br#"{"error":0,"currency":"EUR","cash":-1.00}"#, Err(Kind::Malformed("negative"))),
        ("string", 200, br#"{"error":0,"currency":"EUR","cash":"100.00"}"#, Err(Kind::Malformed("cash"))),
        ("missing cash", 200, br#"{"error":0,"currency":"EUR"}"#, Err(Kind::Malformed("missing"))),
        ("missing currency", 200, br#"{"error":0,"cash":100.00}"#, Err(Kind::Malformed("missing"))),
        ("with transactionId", 200, br#"{"error":0,"transactionId":"fm-1","currency":"EUR","cash":100.00}"#, Err(Kind::Malformed("unexpected field"))),
        ("1", 200, br#"{"error":1}"#, Err(Kind::Declined(InsufficientFunds))),
        ("2 unknown account", 200, br#"{"error":2,"description":"player not found"}"#, Err(Kind::Declined(UnknownAccount))),
        ("3", 200, br#"{"error":3}"#, Err(Kind::Declined(AccountBlocked))),
        ("4", 200, br#"{"error":4}"#, Err(Kind::Declined(LimitExceeded))),
        ("6 wrong currency", 200, br#"{"error":6}"#, Err(Kind::Declined(WrongCurrency))),
        ("5 invalid hash", 200, br#"{"error":5,"description":"invalid hash"}"#, Err(Kind::Rejected(REJECTED_INVALID_HASH))),
        ("120", 200, br#"{"error":120}"#, Err(Kind::Rejected(REJECTED_BAD_PARAMETERS))),
        ("100", 200, br#"{"error":100}"#, Err(Kind::Internal)),
        ("7", 200, br#"{"error":7}"#, Err(Kind::Malformed("error number"))),
        ("8", 200, br#"{"error":8}"#, Err(Kind::Malformed("error number"))),
        ("99", 200, br#"{"error":99}"#, Err(Kind::Malformed("error number"))),
        ("500", 500, b"", Err(Kind::HttpStatus(500))),
        ("503 with a balance", 503, br#"{"error":0,"currency":"EUR","cash":1.00}"#, Err(Kind::HttpStatus(503))),
        ("301", 301, b"", Err(Kind::HttpStatus(301))),
    ];
    for (name, body, reason) in garbage_200_rows() {
        rows.push((name, 200, body, Err(Kind::Malformed(reason))));
    }
    for (name, status, body, expected) in rows {
        assert_eq!(balance_class(classify_balance(&req, status, body)), expected, "balance: {name}");
    }
    let jpy_req = BalanceRequest { currency: jpy(), ..balance_req() };
    assert_eq!(classify_balance(&jpy_req, 200, br#"{"error":0,"currency":"JPY","cash":1250}"#).ok(), Some(Money::new(jpy(), 1250)));
}

// ------------------------------------------------------------ properties

/// An independent reading of `cash`: the raw text of a JSON number, read
/// as a decimal with at most `exponent` decimals and scaled by string
/// padding (no shared code with [`crate::amount`]).
fn independent_cash(raw: &str, exponent: usize) -> Option<i64> {
    if raw.contains(['e', 'E', '"']) {
        return None;
    }
    let (whole, fraction) = raw.split_once('.').unwrap_or((raw, ""));
    if fraction.len() > exponent {
        return None;
    }
    format!("{whole}{fraction:0<exponent$}").parse::<i64>().ok()
}

/// The raw text of `key`'s value in a JSON object body (the object parsed
/// with `RawValue` values).
fn raw_field(body: &[u8], key: &str) -> Option<String> {
    let map: std::collections::BTreeMap<String, Box<RawValue>> =
        serde_json::from_slice(body).ok()?;
    map.get(key).map(|v| v.get().to_owned())
}

/// The dialect's optional fields count as absent when `null`.
fn drop_null_dialect_fields(map: &mut serde_json::Map<String, Value>) {
    for key in ["description", "transactionId", "currency", "cash"] {
        if map.get(key).is_some_and(Value::is_null) {
            map.remove(key);
        }
    }
}

/// Whether a JSON object's text repeats a key (at the top level).
fn has_duplicate_keys(body: &[u8]) -> bool {
    struct Keys(Vec<String>);
    impl<'de> Deserialize<'de> for Keys {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Visitor;
            impl<'de> serde::de::Visitor<'de> for Visitor {
                type Value = Keys;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<Keys, A::Error> {
                    let mut keys = Vec::new();
                    while let Some((key, _)) = map.next_entry::<String, serde::de::IgnoredAny>()? {
                        keys.push(key);
                    }
                    Ok(Keys(keys))
                }
            }
            d.deserialize_map(Visitor)
        }
    }
    serde_json::from_slice::<Keys>(body).is_ok_and(|Keys(keys)| {
        let unique: std::collections::BTreeSet<&String> = keys.iter().collect();
        unique.len() != keys.len()
    })
}

/// An independent reading of "a valid success reply with exactly these
/// fields", through `serde_json::Value` and `RawValue`.
fn valid_success(body: &[u8], keys: &[&str], currency: Option<&str>) -> Option<Value> {
    let Ok(Value::Object(mut map)) = serde_json::from_slice::<Value>(body) else {
        return None;
    };
    drop_null_dialect_fields(&mut map);
    // serde_json's map keeps the last of duplicate keys; the classifier
    // refuses them.
    if has_duplicate_keys(body) {
        return None;
    }
    let mut all = keys.to_vec();
    all.extend(["error", "description"]);
    let ok = map.get("error") == Some(&json!(0))
        && keys
            .iter()
            .all(|k| map.get(*k).is_some_and(|v| !v.is_null()))
        && map.keys().all(|k| all.contains(&k.as_str()))
        && map.get("description").is_none_or(Value::is_string)
        && map.get("transactionId").is_none_or(|t| {
            t.as_str().is_some_and(|t| {
                !t.is_empty() && t.len() <= 128 && !t.chars().any(char::is_control)
            })
        })
        && currency.is_none_or(|c| map.get("currency").and_then(Value::as_str) == Some(c));
    ok.then_some(Value::Object(map))
}

/// Arbitrary statuses, weighted towards 200.
fn any_status() -> BoxedStrategy<u16> {
    prop_oneof![
        6 => Just(200u16),
        1 => prop::sample::select(vec![400u16, 404, 500, 503]),
        1 => any::<u16>(),
    ]
    .boxed()
}

/// The raw text of a `cash` value: mostly numbers, some exact, some not.
fn any_cash() -> BoxedStrategy<String> {
    prop_oneof![
        4 => (0i64..2_000_000, 0usize..=4).prop_map(|(n, decimals)| {
            let text = n.to_string();
            if decimals == 0 || text.len() <= decimals {
                text
            } else {
                let (w, f) = text.split_at(text.len() - decimals);
                format!("{w}.{f}")
            }
        }),
        1 => (1i64..2_000).prop_map(|n| format!("-{}.{:02}", n / 100, n % 100)),
        1 => any::<f64>().prop_map(|f| serde_json::to_string(&f).unwrap_or_default()),
        1 => Just("1e2".to_owned()),
        1 => Just("99999999999999999999999.99".to_owned()),
        1 => Just("\"12.50\"".to_owned()),
        1 => Just("null".to_owned()),
    ]
    .boxed()
}

/// A reply's fields in wire order, as raw JSON texts.
type Fields = Vec<(&'static str, String)>;

/// Success replies with the given fields, sometimes with another error
/// number, currency or an empty transactionId.
fn success_fields(keys: &'static [&'static str]) -> BoxedStrategy<Fields> {
    (
        prop_oneof![12 => Just(0u64), 1 => 0u64..10, 1 => Just(100u64), 1 => Just(120u64)],
        prop_oneof![8 => Just("EUR"), 1 => Just("USD"), 1 => Just("eur")],
        prop_oneof![4 => Just("fm-5521".to_owned()), 1 => "[a-z0-9\\n-]{0,4}"],
        any_cash(),
    )
        .prop_map(move |(error, currency, tx, cash)| {
            let mut fields = vec![("error", error.to_string())];
            for key in keys {
                match *key {
                    "transactionId" => fields.push(("transactionId", json!(tx).to_string())),
                    "currency" => fields.push(("currency", json!(currency).to_string())),
                    "cash" => fields.push(("cash", cash.clone())),
                    _ => {}
                }
            }
            fields
        })
        .boxed()
}

/// A reply as an object: unchanged, or with one field removed, one field
/// replaced by another value, or one extra field (an unknown one, a
/// dialect field out of place, or a duplicate).
fn mutated_object(fields: BoxedStrategy<Fields>) -> BoxedStrategy<Vec<u8>> {
    let other_value = prop_oneof![
        Just("null".to_owned()),
        Just("1".to_owned()),
        Just("1.5".to_owned()),
        Just("\"x\"".to_owned()),
        Just("[]".to_owned()),
        Just("{}".to_owned()),
        Just("\"fm-9\"".to_owned()),
        Just("\"EUR\"".to_owned()),
    ];
    let extra_key = prop::sample::select(vec![
        "extra",
        "description",
        "transactionId",
        "currency",
        "cash",
        "error",
    ]);
    (
        fields,
        0..7u8,
        any::<prop::sample::Index>(),
        other_value,
        extra_key,
    )
        .prop_map(|(mut fields, how, which, value, extra)| {
            let at = which.index(fields.len().max(1));
            match how {
                0..3 => {}
                3 if at < fields.len() => {
                    fields.remove(at);
                }
                4 if at < fields.len() => {
                    let key = fields[at].0;
                    fields[at] = (key, value);
                }
                _ => fields.push((extra, value)),
            }
            let inner: Vec<String> = fields
                .into_iter()
                .map(|(k, v)| format!("{k:?}:{v}"))
                .collect();
            format!("{{{}}}", inner.join(",")).into_bytes()
        })
        .boxed()
}

/// `{"error": n}` with every number of the dialect and some others.
fn error_body() -> BoxedStrategy<Vec<u8>> {
    (
        prop::sample::select(vec![1u64, 2, 3, 4, 5, 6, 7, 8, 9, 100, 120, 121]),
        any::<bool>(),
    )
        .prop_map(|(error, described)| {
            if described {
                format!(r#"{{"error":{error},"description":"x"}}"#).into_bytes()
            } else {
                format!(r#"{{"error":{error}}}"#).into_bytes()
            }
        })
        .boxed()
}

/// Arbitrary bytes, well-formed or mutated replies (whole or cut short),
/// and error bodies.
fn any_body(keys: &'static [&'static str]) -> BoxedStrategy<Vec<u8>> {
    let truncated = (
        mutated_object(success_fields(keys)),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(body, cut)| {
            let at = cut.index(body.len().max(1));
            body.get(..at).map(<[u8]>::to_vec).unwrap_or_default()
        });
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..128),
        5 => mutated_object(success_fields(keys)),
        1 => truncated,
        2 => error_body(),
    ]
    .boxed()
}

/// The body is exactly `{"error": n}` (with an optional string
/// description) for one of `numbers`.
fn is_error(body: &[u8], numbers: &[u64]) -> bool {
    let Ok(Value::Object(mut map)) = serde_json::from_slice::<Value>(body) else {
        return false;
    };
    drop_null_dialect_fields(&mut map);
    map.keys().all(|k| k == "error" || k == "description")
        && map.get("description").is_none_or(Value::is_string)
        && map
            .get("error")
            .and_then(Value::as_u64)
            .is_some_and(|n| numbers.contains(&n))
}

fn decline_number(reason: DeclineReason) -> Option<u64> {
    match reason {
        DeclineReason::InsufficientFunds => Some(1),
        DeclineReason::UnknownAccount => Some(2),
        DeclineReason::AccountBlocked => Some(3),
        DeclineReason::LimitExceeded => Some(4),
        DeclineReason::WrongCurrency => Some(6),
        DeclineReason::NotReversible => Some(8),
        _ => None,
    }
}

fn rejection_is_justified(status: u16, body: &[u8], error: &AdapterError) -> bool {
    match error {
        AdapterError::Rejected { code } if *code == REJECTED_INVALID_HASH => {
            status == 200 && is_error(body, &[5])
        }
        AdapterError::Rejected { code } if *code == REJECTED_BAD_PARAMETERS => {
            status == 200 && is_error(body, &[120])
        }
        _ => false,
    }
}

const TRANSFER_KEYS: &[&str] = &["transactionId", "currency", "cash"];
const REFUND_KEYS: &[&str] = &["transactionId"];
const BALANCE_KEYS: &[&str] = &["currency", "cash"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn transfer_classification_is_total_and_sound(
        status in any_status(),
        body in any_body(TRANSFER_KEYS),
        is_credit in any::<bool>(),
    ) {
        let req = if is_credit { credit(250) } else { debit(250) };
        let expected = (status == 200)
            .then(|| valid_success(&body, TRANSFER_KEYS, Some("EUR")))
            .flatten()
            .and_then(|_| raw_field(&body, "cash"))
            .and_then(|raw| independent_cash(&raw, 2))
            .filter(|cash| *cash >= 0 && (!is_credit || *cash >= 250));
        match classify_transfer(&req, status, &body) {
            Outcome::Settled(s) => {
                prop_assert!(expected.is_some(), "settled on {status} {:?}", String::from_utf8_lossy(&body));
                prop_assert_eq!(s.balance_after, expected.map(|c| Money::new(eur(), c)));
                prop_assert!(s.provider_ref.is_some());
            }
            Outcome::Declined(reason) => {
                prop_assert!(reason != DeclineReason::NotReversible);
                let number = decline_number(reason);
                prop_assert!(status == 200 && number.is_some_and(|n| is_error(&body, &[n])));
            }
            Outcome::NotProcessed(e) => prop_assert!(rejection_is_justified(status, &body, &e)),
            Outcome::Unknown(_) => prop_assert!(expected.is_none(), "valid reply not settled: {:?}", String::from_utf8_lossy(&body)),
        }
    }

    #[test]
    fn refund_classification_is_total_and_sound(
        status in any_status(),
        body in any_body(REFUND_KEYS),
    ) {
        let valid = status == 200 && valid_success(&body, REFUND_KEYS, None).is_some();
        let not_found = status == 200 && is_error(&body, &[7]);
        match classify_rollback(&rollback(), status, &body) {
            Outcome::Settled(s) => {
                prop_assert!(valid || not_found, "settled on {status} {:?}", String::from_utf8_lossy(&body));
                prop_assert_eq!(s.balance_after, None);
                prop_assert_eq!(s.provider_ref.is_some(), valid);
            }
            Outcome::Declined(reason) => {
                let number = decline_number(reason);
                prop_assert!(status == 200 && number.is_some_and(|n| is_error(&body, &[n])));
            }
            Outcome::NotProcessed(e) => prop_assert!(rejection_is_justified(status, &body, &e)),
            Outcome::Unknown(_) => prop_assert!(!valid && !not_found),
        }
    }

    #[test]
    fn balance_classification_is_total_and_sound(
        status in any_status(),
        body in any_body(BALANCE_KEYS),
    ) {
        let expected = (status == 200)
            .then(|| valid_success(&body, BALANCE_KEYS, Some("EUR")))
            .flatten()
            .and_then(|_| raw_field(&body, "cash"))
            .and_then(|raw| independent_cash(&raw, 2))
            .filter(|cash| *cash >= 0);
        match classify_balance(&balance_req(), status, &body) {
            Ok(money) => prop_assert_eq!(Some(money), expected.map(|c| Money::new(eur(), c))),
            Err(AdapterError::Declined(reason)) => {
                prop_assert!(reason != DeclineReason::NotReversible);
                let number = decline_number(reason);
                prop_assert!(status == 200 && number.is_some_and(|n| is_error(&body, &[n])));
            }
            Err(rejected @ AdapterError::Rejected { .. }) => {
                prop_assert!(rejection_is_justified(status, &body, &rejected));
            }
            Err(_) => prop_assert!(expected.is_none(), "valid balance refused: {:?}", String::from_utf8_lossy(&body)),
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_nor_settle(
        status in any::<u16>(),
        body in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        // Random bytes are never a valid success reply (they would have to
        // be a JSON object with `"error":0`).
        let lossy = String::from_utf8_lossy(&body);
        prop_assume!(!lossy.contains("\"error\""));
        prop_assert!(!matches!(classify_transfer(&debit(250), status, &body), Outcome::Settled(_)));
        prop_assert!(!matches!(classify_transfer(&credit(250), status, &body), Outcome::Settled(_)));
        prop_assert!(!matches!(classify_rollback(&rollback(), status, &body), Outcome::Settled(_)));
        prop_assert!(classify_balance(&balance_req(), status, &body).is_err());
    }

    #[test]
    fn every_request_hashes_to_what_its_body_says(
        account in "\\PC{1,12}",
        tx in "[ -~]{1,12}",
        round in prop::option::of("\\PC{0,8}"),
        minor in 1i64..=i64::MAX,
        millis in any::<u64>(),
        code in prop::sample::select(vec!["EUR", "JPY", "BHD", "USD"]),
    ) {
        let currency = Currency::from_code(code).unwrap();
        let req = MoneyRequest {
            direction: Direction::Debit,
            tx_id: ProviderTxId::new(tx),
            account: AccountId::new(account),
            amount: Money::new(currency, minor),
            reference: round,
        };
        let wire = encode_transfer(&req, &credentials(), Timestamp::from_millis(millis)).unwrap();
        // What the provider would do: decode the body, drop `hash`, sort,
        // join, append the secret.
        let mut params: Vec<(String, String)> = form_urlencoded::parse(&wire.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let (last_key, last_value) = params.pop().unwrap();
        prop_assert_eq!(last_key, "hash");
        prop_assert_eq!(&last_value, &wire.hash);
        params.sort();
        let joined: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        prop_assert_eq!(independent_md5(&format!("{}{SECRET}", joined.join("&"))), wire.hash);
        // And the amount reads back exactly.
        let amount = params.iter().find(|(k, _)| k == "amount").map(|(_, v)| v.clone()).unwrap();
        prop_assert_eq!(independent_cash(&amount, usize::from(currency.exponent())), Some(minor));
    }
}
