//! The form-md5 provider as a [`sandbox_kit::Dialect`]: which paths it
//! serves, how it authenticates and parses a request, and how it misbehaves
//! when the kit injects a fault.
//!
//! A request is checked in this order; the first failure answers (HTTP 200,
//! like every answer of this provider) and nothing reaches the books:
//! 1. `Content-Type` must be `application/x-www-form-urlencoded` (parameters
//!    such as `charset` allowed), and no parameter may appear twice: else
//!    120 bad parameters. Parameters come from the body only; a query string
//!    is ignored;
//! 2. `providerId` must be the configured operator id, and `hash` the MD5
//!    signature made with its secret: else 5 invalid hash (the secret is per
//!    operator, so a missing or unknown `providerId` has no secret that
//!    could have signed the request);
//! 3. the endpoint's parameters must be present and well formed (amounts:
//!    see [`crate::amount`]): else 120 bad parameters.
//!
//! Then the [`Ledger`] applies its rules under the kit's lock.

use std::fmt;
use std::fmt::Write as _;

use sandbox_kit::{AccountSeed, Bytes, Handled, Reply, Request, RequestClass, StatusCode, http};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use tracing::warn;

use crate::amount::{Currency, format_decimal, parse_decimal};
use crate::form::Form;
use crate::ledger::{Ledger, LedgerSnapshot};
use crate::wire::{BalanceRequest, Endpoint, ErrorCode, MoneyRequest, RefundRequest, error_body};

/// The only request content type this provider reads.
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// The form-md5 dialect: the one operator this provider knows (its
/// `providerId` and the secret it signs with).
#[derive(Clone)]
pub struct FormMd5 {
    provider_id: String,
    secret: String,
}

impl FormMd5 {
    /// A provider that knows one operator: requests must carry
    /// `providerId=provider_id` and be signed with `secret`.
    pub fn new(provider_id: impl Into<String>, secret: impl Into<String>) -> Self {
        FormMd5 {
            provider_id: provider_id.into(),
            secret: secret.into(),
        }
    }

    /// The operator id requests must carry.
    pub fn provider_id(&self) -> &str {
        &self.provider_id
    }

    /// Answers one request to `path` with this body, against `ledger`: the
    /// reply body (always sent with HTTP 200) and whether the books took the
    /// request (false when it was refused by the checks in the module docs).
    /// `content_type` is the request's `Content-Type` header, if any.
    pub fn respond(
        &self,
        ledger: &mut Ledger,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> (String, bool) {
        let Some(endpoint) = Endpoint::from_path(path) else {
            // The kit routes only our paths; answer like a provider would.
            return (error_body(ErrorCode::BadParameters), false);
        };
        match self.authenticate(content_type, body) {
            Ok(form) => match apply(ledger, endpoint, &form) {
                Ok(reply) => (reply, true),
                Err(code) => (error_body(code), false),
            },
            Err(code) => (error_body(code), false),
        }
    }

    /// Steps 1 and 2 of the module docs.
    fn authenticate(&self, content_type: Option<&str>, body: &[u8]) -> Result<Form, ErrorCode> {
        if !content_type.is_some_and(is_form) {
            return Err(ErrorCode::BadParameters);
        }
        let form = Form::parse(body).map_err(|_| ErrorCode::BadParameters)?;
        if form.get("providerId") != Some(self.provider_id.as_str()) {
            return Err(ErrorCode::InvalidHash);
        }
        if !form.verify(&self.secret) {
            return Err(ErrorCode::InvalidHash);
        }
        Ok(form)
    }
}

impl fmt::Debug for FormMd5 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FormMd5")
            .field("provider_id", &self.provider_id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Whether a `Content-Type` value is the form type (case-insensitive,
/// parameters allowed).
fn is_form(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(FORM_CONTENT_TYPE))
}

/// Step 3, then the books. `Err` only for malformed parameters.
fn apply(ledger: &mut Ledger, endpoint: Endpoint, form: &Form) -> Result<String, ErrorCode> {
    Ok(match endpoint {
        Endpoint::Balance => ledger.balance(&BalanceRequest::parse(form)?),
        Endpoint::Bet => ledger.bet(&MoneyRequest::parse(form)?),
        Endpoint::Result => ledger.result(&MoneyRequest::parse(form)?),
        Endpoint::Refund => ledger.refund(&RefundRequest::parse(form)?),
    })
}

/// A reply as this provider sends every answer: 200, JSON.
fn json_reply(body: String) -> Reply {
    Reply::json(StatusCode::OK, body)
}

impl sandbox_kit::Dialect for FormMd5 {
    type Ledger = Ledger;

    fn name(&self) -> &'static str {
        "form-md5"
    }

    fn paths(&self) -> &'static [&'static str] {
        &["/balance.html", "/bet.html", "/result.html", "/refund.html"]
    }

    /// Bet, result and refund are money requests, counted under their
    /// `reference` (for a refund: the bet's), read from the body whatever
    /// else is wrong with it.
    fn classify(&self, request: &Request) -> RequestClass {
        match Endpoint::from_path(&request.path) {
            Some(endpoint) if endpoint.moves_money() => RequestClass::Money {
                tx_id: form_urlencoded::parse(&request.body)
                    .find(|(name, _)| name == "reference")
                    .map(|(_, value)| value.into_owned()),
            },
            _ => RequestClass::Query,
        }
    }

    fn handle(&self, ledger: &mut Ledger, request: &Request) -> Handled {
        let content_type = request.header(http::header::CONTENT_TYPE.as_str());
        let (body, committed) = self.respond(ledger, &request.path, content_type, &request.body);
        let reply = json_reply(body);
        if committed {
            Handled::committed(reply)
        } else {
            Handled::refused(reply)
        }
    }

    /// A success reply keeps its shape but names another `transactionId`,
    /// currency and `cash`; error replies are sent as they are (details at
    /// `tamper_body` in this module).
    fn tamper(&self, _request: &Request, reply: &Reply) -> Reply {
        reply.clone().with_body(tamper_body(&reply.body))
    }

    /// How this provider reports a failure of its own: HTTP 200 with
    /// `{"error":100,"description":"internal error"}` (the outcome of a
    /// money call is unknown), even though the books committed.
    fn server_error(&self, _request: &Request, _reply: &Reply) -> Reply {
        json_reply(error_body(ErrorCode::Internal))
    }
}

impl sandbox_kit::Ledger for Ledger {
    type Snapshot = LedgerSnapshot;

    /// Balance and limit in minor units. A currency that is not an ISO 4217
    /// code with an exponent cannot be held: the seed is ignored (and
    /// logged), so the account stays unknown (or as it was).
    fn seed(&mut self, seed: &AccountSeed) {
        match Currency::from_code(&seed.currency) {
            Some(currency) => Ledger::seed(
                self,
                &seed.account,
                currency,
                seed.balance,
                seed.blocked,
                seed.limit,
            ),
            None => warn!(
                account = %seed.account,
                currency = %seed.currency,
                "seed ignored: not an ISO 4217 currency with a minor unit"
            ),
        }
    }

    fn block(&mut self, account: &str) -> bool {
        self.set_blocked(account, true)
    }

    fn set_limit(&mut self, account: &str, limit: Option<i64>) -> bool {
        Ledger::set_limit(self, account, limit)
    }

    fn balance(&self, account: &str) -> Option<i64> {
        self.balance_of(account)
    }

    fn snapshot(&self) -> LedgerSnapshot {
        Ledger::snapshot(self)
    }
}

/// [`FaultKind::Tampered`](sandbox_kit::FaultKind::Tampered): the real reply
/// altered so that it no longer answers the request, still valid JSON with
/// the same fields in the same order:
/// - `transactionId` `fm-N` becomes `fm-(N+1000000)`;
/// - `currency` becomes another currency with the same exponent (EUR <-> USD,
///   JPY <-> KRW, KWD <-> BHD, CLF <-> UYW), so `cash` keeps its decimals
///   and an adapter that checks the currency against its request notices;
/// - `cash` is one major unit more (less if that would overflow).
///
/// A refund reply carries only its `transactionId`, so only that changes.
/// Error replies name nothing of the request and are sent as they are (as
/// json-hmac does); so is a body that is not one of this provider's reply
/// shapes.
pub fn tamper_body(body: &[u8]) -> Bytes {
    /// Every field any reply of this provider has, in the order they are
    /// written.
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct AnyReply<'a> {
        error: u64,
        description: Option<String>,
        #[serde(rename = "transactionId")]
        transaction_id: Option<String>,
        currency: Option<String>,
        #[serde(borrow)]
        cash: Option<&'a RawValue>,
    }

    let Ok(reply) = serde_json::from_slice::<AnyReply<'_>>(body) else {
        return Bytes::copy_from_slice(body);
    };
    if reply.error != 0 || reply.description.is_some() {
        return Bytes::copy_from_slice(body);
    }
    let currency = reply.currency.as_deref().and_then(Currency::from_code);

    let mut out = String::from("{\"error\":0");
    if let Some(id) = reply.transaction_id {
        let other = id
            .strip_prefix("fm-")
            .and_then(|n| n.parse::<u64>().ok())
            .and_then(|n| n.checked_add(1_000_000))
            .map_or_else(|| format!("fm-9{id}"), |n| format!("fm-{n}"));
        let _ = write!(out, ",\"transactionId\":{}", Value::String(other));
    }
    if let Some(code) = reply.currency {
        let other = currency.map_or(code, |c| other_currency(c).to_owned());
        let _ = write!(out, ",\"currency\":{}", Value::String(other));
    }
    if let Some(cash) = reply.cash {
        let text = cash.get();
        let shifted = currency.and_then(|c| shift_cash(text, c.exponent()));
        let _ = write!(out, ",\"cash\":{}", shifted.as_deref().unwrap_or(text));
    }
    out.push('}');
    Bytes::from(out)
}

/// Another currency with the same exponent.
fn other_currency(currency: Currency) -> &'static str {
    match (currency.code(), currency.exponent()) {
        ("EUR", _) => "USD",
        (_, 2) => "EUR",
        ("JPY", _) => "KRW",
        (_, 0) => "JPY",
        ("KWD", _) => "BHD",
        (_, 3) => "KWD",
        ("CLF", _) => "UYW",
        _ => "CLF",
    }
}

/// `cash` text (exactly `exponent` decimals, maybe negative) moved by one
/// major unit, exactly.
fn shift_cash(text: &str, exponent: u32) -> Option<String> {
    let (negative, magnitude) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let magnitude = parse_decimal(magnitude, exponent).ok()?;
    let minor = if negative {
        magnitude.checked_neg()?
    } else {
        magnitude
    };
    let unit = 10i64.checked_pow(exponent)?;
    let shifted = minor
        .checked_add(unit)
        .or_else(|| minor.checked_sub(unit))?;
    Some(format_decimal(shifted, exponent))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::form::sign;
    use std::collections::BTreeMap;

    const SECRET: &str = "unit-secret";

    fn provider() -> FormMd5 {
        FormMd5::new("op1", SECRET)
    }

    fn ledger() -> Ledger {
        let mut ledger = Ledger::default();
        let eur = Currency::from_code("EUR").expect("EUR");
        ledger.seed("acc-1", eur, 10_000, false, None);
        ledger
    }

    fn signed(pairs: &[(&str, &str)], secret: &str) -> String {
        let params: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let hash = sign(&params, secret);
        let mut body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        body.push_str("&hash=");
        body.push_str(&hash);
        body
    }

    fn bet(reference: &str, amount: &str) -> Vec<(&'static str, String)> {
        vec![
            ("providerId", "op1".into()),
            ("userId", "acc-1".into()),
            ("reference", reference.into()),
            ("amount", amount.into()),
            ("currency", "EUR".into()),
        ]
    }

    fn body_of(pairs: &[(&'static str, String)], secret: &str) -> String {
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        signed(&pairs, secret)
    }

    #[test]
    fn a_signed_bet_is_applied() {
        let mut ledger = ledger();
        let body = body_of(&bet("b1", "2.50"), SECRET);
        let (reply, committed) = provider().respond(
            &mut ledger,
            "/bet.html",
            Some(FORM_CONTENT_TYPE),
            body.as_bytes(),
        );
        assert_eq!(
            reply,
            r#"{"error":0,"transactionId":"fm-1","currency":"EUR","cash":97.50}"#
        );
        assert!(committed);
    }

    #[test]
    fn refusals_before_the_books() {
        let provider = provider();
        let mut ledger = ledger();
        let good = body_of(&bet("b1", "2.50"), SECRET);
        let mut other_operator = bet("b1", "2.50");
        other_operator[0].1 = "op2".into();
        let mut no_operator = bet("b1", "2.50");
        no_operator.remove(0);
        let cases: Vec<(Option<&str>, String, ErrorCode)> = vec![
            (None, good.clone(), ErrorCode::BadParameters),
            (
                Some("application/json"),
                good.clone(),
                ErrorCode::BadParameters,
            ),
            (
                Some(FORM_CONTENT_TYPE),
                format!("{good}&amount=2.50"),
                ErrorCode::BadParameters,
            ),
            (
                Some(FORM_CONTENT_TYPE),
                body_of(&bet("b1", "2.50"), "wrong"),
                ErrorCode::InvalidHash,
            ),
            (
                Some(FORM_CONTENT_TYPE),
                body_of(&other_operator, SECRET),
                ErrorCode::InvalidHash,
            ),
            (
                Some(FORM_CONTENT_TYPE),
                body_of(&no_operator, SECRET),
                ErrorCode::InvalidHash,
            ),
            (
                Some(FORM_CONTENT_TYPE),
                good.replace("&hash=", "&x="),
                ErrorCode::InvalidHash,
            ),
            (
                Some(FORM_CONTENT_TYPE),
                body_of(&bet("b1", "2.5"), SECRET),
                ErrorCode::BadParameters,
            ),
        ];
        for (content_type, body, code) in cases {
            let answer = provider.respond(&mut ledger, "/bet.html", content_type, body.as_bytes());
            assert_eq!(answer, (error_body(code), false), "{content_type:?} {body}");
        }
        assert_eq!(ledger.balance_of("acc-1"), Some(10_000));
        assert!(ledger.snapshot().transactions.is_empty());

        let charset = "Application/X-WWW-Form-Urlencoded; charset=UTF-8";
        let (_, committed) =
            provider.respond(&mut ledger, "/bet.html", Some(charset), good.as_bytes());
        assert!(committed, "content type parameters are allowed");
    }

    #[test]
    fn tampered_money_reply_names_another_transaction_currency_and_cash() {
        let tampered =
            tamper_body(br#"{"error":0,"transactionId":"fm-17","currency":"EUR","cash":97.50}"#);
        assert_eq!(
            &tampered[..],
            br#"{"error":0,"transactionId":"fm-1000017","currency":"USD","cash":98.50}"#
        );
        let tampered = tamper_body(br#"{"error":0,"currency":"JPY","cash":-1250}"#);
        assert_eq!(
            &tampered[..],
            br#"{"error":0,"currency":"KRW","cash":-1249}"#
        );
        let tampered = tamper_body(br#"{"error":0,"currency":"EUR","cash":92233720368547758.07}"#);
        assert_eq!(
            &tampered[..],
            br#"{"error":0,"currency":"USD","cash":92233720368547757.07}"#
        );
        let tampered = tamper_body(br#"{"error":0,"transactionId":"fm-3"}"#);
        assert_eq!(
            &tampered[..],
            br#"{"error":0,"transactionId":"fm-1000003"}"#
        );
    }

    #[test]
    fn error_replies_and_foreign_bodies_are_not_tampered() {
        for code in [
            ErrorCode::InsufficientBalance,
            ErrorCode::TransactionNotFound,
        ] {
            let body = error_body(code);
            assert_eq!(&tamper_body(body.as_bytes())[..], body.as_bytes());
        }
        assert_eq!(&tamper_body(b"not json")[..], b"not json");
        let foreign = br#"{"error":0,"other":1}"#;
        assert_eq!(&tamper_body(foreign)[..], foreign);
    }

    #[test]
    fn other_currencies_keep_the_exponent() {
        for code in [
            "EUR", "USD", "GBP", "JPY", "KRW", "ISK", "KWD", "BHD", "TND", "CLF", "UYW",
        ] {
            let currency = Currency::from_code(code).expect(code);
            let other = Currency::from_code(other_currency(currency)).expect("known");
            assert_ne!(other, currency, "{code}");
            assert_eq!(other.exponent(), currency.exponent(), "{code}");
        }
    }

    #[test]
    fn debug_redacts_the_secret() {
        let shown = format!("{:?}", provider());
        assert!(!shown.contains(SECRET), "{shown}");
    }
}
