//! The form-md5 dialect as pure functions: canonical requests to hashed,
//! form-encoded wire bodies, and wire replies (HTTP status + body bytes) to
//! canonical outcomes.
//!
//! Nothing here does I/O or reads a clock (the bet/result `timestamp` is an
//! input), so every rule below is unit-tested byte for byte. The wire format
//! is `shared/providers/form-md5.md`.
//!
//! # Requests
//!
//! Every request is a `POST` of `application/x-www-form-urlencoded`
//! parameters, in this order, with `hash` last:
//!
//! | operation | endpoint | parameters |
//! |---|---|---|
//! | debit | `/bet.html` | `providerId`, `userId`, `reference`, `amount`, `currency`, `roundId`, `timestamp`, `hash` |
//! | credit | `/result.html` | the same as a debit |
//! | rollback | `/refund.html` | `providerId`, `userId`, `reference`, `hash` |
//! | balance | `/balance.html` | `providerId`, `userId`, `currency`, `hash` |
//!
//! - `reference` is the hub's [`ProviderTxId`](adapter_api::ProviderTxId) of
//!   the movement. A refund's `reference` is the *bet's* id: the dialect
//!   gives a refund no id of its own, so the rollback's own
//!   `RollbackRequest::tx_id` is not sent, and a second refund of one bet
//!   under any rollback id gets the first refund's reply.
//! - `amount` is a decimal string with exactly the currency's exponent
//!   (`"2.50"` for 250 EUR minor units, `"1250"` for JPY; [`crate::amount`]).
//! - `roundId` is the canonical request's `reference`; it is left out when
//!   the request has none.
//! - `timestamp` is milliseconds since the Unix epoch, from the adapter's
//!   clock ([`Timestamp`]).
//! - `hash` is the lowercase hex MD5 of every other parameter sorted by name
//!   (byte order) and joined as `k1=v1&k2=v2...` with the values NOT
//!   URL-encoded, with the shared secret appended directly after the last
//!   value ([`Credentials::hash`]). The body itself is URL-encoded
//!   properly (`form_urlencoded`, spaces as `+`), so a value holding `&` or
//!   `=` still reaches the provider intact; the provider hashes the decoded
//!   values, as we do.
//!
//! A non-positive amount, an empty id or account is refused as
//! [`AdapterError::Unrepresentable`] before anything is sent.
//!
//! # Classification of replies
//!
//! Every business answer is HTTP 200 with a JSON object whose numeric
//! `error` is 0 on success. Replies are unsigned and untrusted, so they are
//! parsed strictly: one JSON object (not an array, no trailing bytes), no
//! unknown or duplicate fields, `error` a non-negative integer, text fields
//! strings, and each answer carries exactly the fields of its shape in the
//! spec (an optional `description` string is allowed on every reply, and a
//! field whose value is `null` counts as absent):
//!
//! | answer | fields |
//! |---|---|
//! | bet / result success | `error` 0, `transactionId`, `currency`, `cash` |
//! | refund success | `error` 0, `transactionId` |
//! | balance success | `error` 0, `currency`, `cash` |
//! | any error | `error` != 0 |
//!
//! `cash` is read from the JSON number's raw text, exactly
//! ([`crate::amount::parse_minor`]): more decimals than the currency's
//! exponent, exponent notation, a string, or a value outside `i64` minor
//! units is malformed. A `transactionId` must be non-empty, at most
//! [`MAX_TRANSACTION_ID_LEN`] bytes, without control characters. `currency`
//! must be the request's, byte for byte. form-md5 has no overdraft (a bet
//! below zero is error 1), so a negative `cash` is malformed, and so is a
//! result's `cash` below the amount just credited.
//!
//! When in doubt the answer is `Unknown`: the hub resolves it by
//! compensation (form-md5 has no status query), whereas a wrong `Settled`
//! or `Declined` would lose money.
//!
//! Bet and result ([`classify_transfer`]):
//!
//! | HTTP | `error` | outcome |
//! |---|---|---|
//! | 200 | 0, valid success shape | `Settled` (`balance_after` = `cash` in the request's currency, `provider_ref` = `transactionId`) |
//! | 200 | 0, anything else (missing/extra field, other currency, bad `cash`, negative or implausible `cash`) | `Unknown(Malformed)` |
//! | 200 | 1 insufficient balance | `Declined(InsufficientFunds)` |
//! | 200 | 2 player not found | `Declined(UnknownAccount)` |
//! | 200 | 3 bet not allowed | `Declined(AccountBlocked)` |
//! | 200 | 4 limit reached | `Declined(LimitExceeded)` |
//! | 200 | 6 wrong currency | `Declined(WrongCurrency)` |
//! | 200 | 5 invalid hash | `NotProcessed(Rejected)` |
//! | 200 | 120 bad parameters | `NotProcessed(Rejected)` |
//! | 200 | 100 internal error | `Unknown(Transport)` with [`InternalError`]: the provider says itself that the outcome is unknown |
//! | 200 | 7, 8 (answers to a refund only), any other number | `Unknown(Malformed)` |
//! | 200 | not JSON, truncated, not an object, wrong types, error reply with extra fields | `Unknown(Malformed)` |
//! | other | anything (the dialect answers everything with 200, so 5xx, 4xx, 3xx say nothing about the outcome) | `Unknown(HttpStatus)` |
//!
//! Refund ([`classify_rollback`]) follows the same table, except:
//!
//! | HTTP | `error` | outcome |
//! |---|---|---|
//! | 200 | 0, valid refund shape | `Settled` with `provider_ref` = `transactionId` and no `balance_after` (the reply has none) |
//! | 200 | 7 transaction not found | `Settled(Settlement::default())`: the bet was never applied, nothing to reverse |
//! | 200 | 8 already settled | `Declined(NotReversible)`: the reference is a result (a credit) |
//!
//! Balance ([`classify_balance`]): 200 with `error` 0, our currency and an
//! exact non-negative `cash` is the balance; errors 1, 2, 3, 4, 6 are
//! `Err(AdapterError::Declined)` (2 is `UnknownAccount`), 5 and 120
//! `Err(Rejected)`, 100 `Err(Transport)`, other numbers and bad bodies
//! `Err(Malformed)`, other HTTP statuses `Err(HttpStatus)`.
//!
//! Transport failures (connect errors, resets) are classified in the crate
//! root, where the transport's answer meets these functions.

use std::fmt;

use adapter_api::{
    AdapterError, BalanceRequest, Currency, DeclineReason, Direction, Money, MoneyRequest, Outcome,
    RollbackRequest, Settlement,
};
use bytes::Bytes;
use md5::{Digest, Md5};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::amount::{self, AmountError};

/// Longest `transactionId` accepted in a reply, in bytes.
pub const MAX_TRANSACTION_ID_LEN: usize = 128;

/// The `code` of [`AdapterError::Rejected`] for error 5.
pub const REJECTED_INVALID_HASH: &str = "5 (invalid hash)";

/// The `code` of [`AdapterError::Rejected`] for error 120.
pub const REJECTED_BAD_PARAMETERS: &str = "120 (bad parameters)";

/// A provider endpoint of the form-md5 dialect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST /bet.html`: a debit.
    Bet,
    /// `POST /result.html`: a credit.
    Result,
    /// `POST /refund.html`: the rollback of a bet.
    Refund,
    /// `POST /balance.html`.
    Balance,
}

impl Endpoint {
    /// The endpoint's path, appended to the configured base URL.
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Bet => "/bet.html",
            Endpoint::Result => "/result.html",
            Endpoint::Refund => "/refund.html",
            Endpoint::Balance => "/balance.html",
        }
    }
}

/// The `timestamp` parameter of bets and results: milliseconds since the
/// Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(u64);

impl Timestamp {
    /// A timestamp of `millis` milliseconds since the Unix epoch.
    pub fn from_millis(millis: u64) -> Self {
        Self(millis)
    }

    /// Milliseconds since the Unix epoch.
    pub fn as_millis(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A request ready for the wire: where it goes, its exact body (with the
/// `hash` parameter), and that hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireRequest {
    /// The endpoint to POST to.
    pub endpoint: Endpoint,
    /// The form-encoded body, byte for byte, `hash` included.
    pub body: Bytes,
    /// The `hash` parameter's value: lowercase hex MD5.
    pub hash: String,
}

/// Who we are at the provider (`providerId`) and the shared secret that
/// hashes our parameters.
///
/// `Debug` never prints the secret.
#[derive(Clone)]
pub struct Credentials {
    provider_id: String,
    secret: String,
}

impl Credentials {
    /// Credentials for `provider_id` with `secret`. Validation (non-empty,
    /// no control characters) is the configuration's job.
    pub fn new(provider_id: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            provider_id: provider_id.into(),
            secret: secret.into(),
        }
    }

    /// Our `providerId`.
    pub fn provider_id(&self) -> &str {
        &self.provider_id
    }

    /// The `hash` of `params` (every parameter but `hash`): lowercase hex
    /// MD5 of the parameters sorted by name, joined as `k=v&k=v` with raw
    /// (not URL-encoded) values, followed directly by the secret.
    pub fn hash(&self, params: &[(&str, &str)]) -> String {
        let mut sorted = params.to_vec();
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        let mut md5 = Md5::new();
        for (i, (name, value)) in sorted.iter().enumerate() {
            if i > 0 {
                md5.update(b"&");
            }
            md5.update(name.as_bytes());
            md5.update(b"=");
            md5.update(value.as_bytes());
        }
        md5.update(self.secret.as_bytes());
        hex::encode(md5.finalize())
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("provider_id", &self.provider_id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Why a canonical request cannot be expressed in form-md5. Carried as the
/// source of [`AdapterError::Unrepresentable`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// Bet and result amounts must be positive.
    #[error("the amount must be positive")]
    NonPositiveAmount,
    /// A transaction id is empty.
    #[error("a transaction id is empty")]
    EmptyTxId,
    /// The account is empty.
    #[error("the account is empty")]
    EmptyAccount,
    /// The amount has no decimal form (an exponent this dialect cannot
    /// write).
    #[error("the amount cannot be written as a decimal")]
    Amount(#[source] AmountError),
}

/// Why a reply is not a valid answer to the request it came back for.
/// Carried as the source of [`AdapterError::Malformed`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MalformedReply {
    /// Not JSON, or not the expected shape: unknown or duplicate fields,
    /// wrong types, a missing or negative `error`, trailing bytes.
    #[error("the reply is not the expected JSON")]
    Json(#[source] serde_json::Error),
    /// Valid JSON, but not an object.
    #[error("the reply is not a JSON object")]
    NotAnObject,
    /// A field this answer must carry is missing (or `null`).
    #[error("the reply lacks `{0}`")]
    MissingField(&'static str),
    /// A field of the dialect that this answer must not carry.
    #[error("the reply carries `{0}`, which this answer does not have")]
    UnexpectedField(&'static str),
    /// `transactionId` is empty, too long or has control characters.
    #[error("the reply's transactionId is empty, too long or has control characters")]
    BadTransactionId,
    /// The reply's currency is not the request's.
    #[error("the reply is in another currency")]
    CurrencyMismatch,
    /// `cash` is not an exact amount in the currency.
    #[error("the reply's cash is not an exact amount")]
    Cash(#[source] AmountError),
    /// A negative `cash` (form-md5 has no overdraft).
    #[error("the reply's cash is negative")]
    NegativeBalance,
    /// A `cash` that contradicts the movement (below the amount just
    /// credited).
    #[error("the reply's cash contradicts the movement")]
    ImplausibleBalance,
    /// An `error` number that is not an answer to this operation.
    #[error("error {error} is not an answer to this operation")]
    UnexpectedError {
        /// The `error` number.
        error: u64,
    },
    /// The reply body exceeded the size limit.
    #[error("the reply is longer than {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
}

/// The provider answered error 100: an internal error, after which the
/// outcome of a money call is unknown. Carried as the source of
/// [`AdapterError::Transport`], since the exchange failed on the provider's
/// side after it received the request.
#[derive(Debug, thiserror::Error)]
#[error("the provider reported an internal error (100): the outcome is unknown")]
pub struct InternalError;

fn malformed(reason: MalformedReply) -> AdapterError {
    AdapterError::Malformed(Box::new(reason))
}

fn unrepresentable(reason: RequestError) -> AdapterError {
    AdapterError::Unrepresentable(Box::new(reason))
}

// ---------------------------------------------------------------- requests

fn signed(
    endpoint: Endpoint,
    params: &[(&'static str, &str)],
    credentials: &Credentials,
) -> WireRequest {
    let hash = credentials.hash(params);
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.extend_pairs(params.iter().copied());
    form.append_pair("hash", &hash);
    WireRequest {
        endpoint,
        body: Bytes::from(form.finish()),
        hash,
    }
}

/// The wire form of a debit (bet) or credit (result), stamped `timestamp`.
/// The error is [`AdapterError::Unrepresentable`] with a [`RequestError`]
/// source.
pub fn encode_transfer(
    req: &MoneyRequest,
    credentials: &Credentials,
    timestamp: Timestamp,
) -> Result<WireRequest, AdapterError> {
    if req.amount.minor_units <= 0 {
        return Err(unrepresentable(RequestError::NonPositiveAmount));
    }
    if req.tx_id.as_str().is_empty() {
        return Err(unrepresentable(RequestError::EmptyTxId));
    }
    if req.account.as_str().is_empty() {
        return Err(unrepresentable(RequestError::EmptyAccount));
    }
    let endpoint = match req.direction {
        Direction::Debit => Endpoint::Bet,
        Direction::Credit => Endpoint::Result,
    };
    let amount = amount::format_minor(req.amount.minor_units, req.amount.currency.exponent())
        .map_err(|e| unrepresentable(RequestError::Amount(e)))?;
    let timestamp = timestamp.to_string();
    let mut params = vec![
        ("providerId", credentials.provider_id()),
        ("userId", req.account.as_str()),
        ("reference", req.tx_id.as_str()),
        ("amount", amount.as_str()),
        ("currency", req.amount.currency.code()),
    ];
    if let Some(round) = &req.reference {
        params.push(("roundId", round.as_str()));
    }
    params.push(("timestamp", timestamp.as_str()));
    Ok(signed(endpoint, &params, credentials))
}

/// The wire form of a rollback: a refund whose `reference` is the bet's id.
/// The rollback's own `tx_id` and the amount are not on the wire (the
/// dialect has no parameter for them).
pub fn encode_rollback(
    req: &RollbackRequest,
    credentials: &Credentials,
) -> Result<WireRequest, AdapterError> {
    if req.original_tx_id.as_str().is_empty() {
        return Err(unrepresentable(RequestError::EmptyTxId));
    }
    if req.account.as_str().is_empty() {
        return Err(unrepresentable(RequestError::EmptyAccount));
    }
    let params = [
        ("providerId", credentials.provider_id()),
        ("userId", req.account.as_str()),
        ("reference", req.original_tx_id.as_str()),
    ];
    Ok(signed(Endpoint::Refund, &params, credentials))
}

/// The wire form of a balance query.
pub fn encode_balance(
    req: &BalanceRequest,
    credentials: &Credentials,
) -> Result<WireRequest, AdapterError> {
    if req.account.as_str().is_empty() {
        return Err(unrepresentable(RequestError::EmptyAccount));
    }
    let params = [
        ("providerId", credentials.provider_id()),
        ("userId", req.account.as_str()),
        ("currency", req.currency.code()),
    ];
    Ok(signed(Endpoint::Balance, &params, credentials))
}

// ----------------------------------------------------------------- replies

/// Every field a form-md5 reply may carry; which ones an answer must or
/// must not carry is checked after parsing.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reply<'a> {
    error: u64,
    // Informational only, but a string when present.
    #[serde(default, rename = "description")]
    _description: Option<String>,
    #[serde(default, rename = "transactionId")]
    transaction_id: Option<String>,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default, borrow)]
    cash: Option<&'a RawValue>,
}

/// What an `error` number means, before the operation decides.
enum ErrorNumber {
    Success,
    Declined(DeclineReason),
    Rejected(&'static str),
    Internal,
    TransactionNotFound,
    AlreadySettled,
    Other(u64),
}

impl ErrorNumber {
    fn of(error: u64) -> Self {
        match error {
            0 => ErrorNumber::Success,
            1 => ErrorNumber::Declined(DeclineReason::InsufficientFunds),
            2 => ErrorNumber::Declined(DeclineReason::UnknownAccount),
            3 => ErrorNumber::Declined(DeclineReason::AccountBlocked),
            4 => ErrorNumber::Declined(DeclineReason::LimitExceeded),
            5 => ErrorNumber::Rejected(REJECTED_INVALID_HASH),
            6 => ErrorNumber::Declined(DeclineReason::WrongCurrency),
            7 => ErrorNumber::TransactionNotFound,
            8 => ErrorNumber::AlreadySettled,
            100 => ErrorNumber::Internal,
            120 => ErrorNumber::Rejected(REJECTED_BAD_PARAMETERS),
            other => ErrorNumber::Other(other),
        }
    }
}

/// A reply read and checked for its shape: the meaning of its `error`, and
/// the reply itself for a success.
struct Answer<'a> {
    number: ErrorNumber,
    reply: Reply<'a>,
}

/// Parses a reply that must be one JSON object.
///
/// serde's derived structs also accept a JSON array of the field values in
/// order; the wire format only has objects, so anything not starting with
/// `{` (after JSON whitespace) is refused first.
fn parse_object<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, MalformedReply> {
    let first = body
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    if first != Some(&b'{') {
        return Err(
            match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
                Ok(_) => MalformedReply::NotAnObject,
                Err(e) => MalformedReply::Json(e),
            },
        );
    }
    serde_json::from_slice(body).map_err(MalformedReply::Json)
}

/// Reads a 200 reply. An error reply (`error` != 0) must carry nothing but
/// `error` and an optional `description`.
fn read(body: &[u8]) -> Result<Answer<'_>, AdapterError> {
    let reply: Reply<'_> = parse_object(body).map_err(malformed)?;
    let number = ErrorNumber::of(reply.error);
    if !matches!(number, ErrorNumber::Success) {
        forbid(&reply, Field::TransactionId)?;
        forbid(&reply, Field::Currency)?;
        forbid(&reply, Field::Cash)?;
    }
    Ok(Answer { number, reply })
}

/// The optional fields of a reply.
#[derive(Clone, Copy)]
enum Field {
    TransactionId,
    Currency,
    Cash,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::TransactionId => "transactionId",
            Field::Currency => "currency",
            Field::Cash => "cash",
        }
    }

    fn present(self, reply: &Reply<'_>) -> bool {
        match self {
            Field::TransactionId => reply.transaction_id.is_some(),
            Field::Currency => reply.currency.is_some(),
            Field::Cash => reply.cash.is_some(),
        }
    }
}

fn forbid(reply: &Reply<'_>, field: Field) -> Result<(), AdapterError> {
    if field.present(reply) {
        return Err(malformed(MalformedReply::UnexpectedField(field.name())));
    }
    Ok(())
}

fn transaction_id(reply: &mut Reply<'_>) -> Result<String, AdapterError> {
    let id = reply
        .transaction_id
        .take()
        .ok_or_else(|| malformed(MalformedReply::MissingField("transactionId")))?;
    if id.is_empty() || id.len() > MAX_TRANSACTION_ID_LEN || id.chars().any(char::is_control) {
        return Err(malformed(MalformedReply::BadTransactionId));
    }
    Ok(id)
}

/// `currency` and `cash` of a success reply, as an exact non-negative
/// amount in `currency` (the request's).
fn cash(reply: &Reply<'_>, currency: Currency) -> Result<Money, AdapterError> {
    let code = reply
        .currency
        .as_deref()
        .ok_or_else(|| malformed(MalformedReply::MissingField("currency")))?;
    if code != currency.code() {
        return Err(malformed(MalformedReply::CurrencyMismatch));
    }
    let raw = reply
        .cash
        .ok_or_else(|| malformed(MalformedReply::MissingField("cash")))?;
    let minor_units = amount::parse_minor(raw.get(), currency.exponent())
        .map_err(|e| malformed(MalformedReply::Cash(e)))?;
    if minor_units < 0 {
        return Err(malformed(MalformedReply::NegativeBalance));
    }
    Ok(Money::new(currency, minor_units))
}

fn unexpected(error: u64) -> AdapterError {
    malformed(MalformedReply::UnexpectedError { error })
}

fn internal() -> AdapterError {
    AdapterError::Transport(Box::new(InternalError))
}

/// Classifies the provider's reply to a bet or result (see the module docs
/// for the table). Never panics, whatever `body` holds.
pub fn classify_transfer(req: &MoneyRequest, status: u16, body: &[u8]) -> Outcome {
    if status != 200 {
        return Outcome::Unknown(AdapterError::HttpStatus { status });
    }
    let answer = match read(body) {
        Ok(answer) => answer,
        Err(error) => return Outcome::Unknown(error),
    };
    match answer.number {
        ErrorNumber::Success => match settled_transfer(req, answer.reply) {
            Ok(settlement) => Outcome::Settled(settlement),
            Err(error) => Outcome::Unknown(error),
        },
        ErrorNumber::Declined(reason) => Outcome::Declined(reason),
        ErrorNumber::Rejected(code) => Outcome::NotProcessed(AdapterError::Rejected { code }),
        ErrorNumber::Internal => Outcome::Unknown(internal()),
        ErrorNumber::TransactionNotFound => Outcome::Unknown(unexpected(7)),
        ErrorNumber::AlreadySettled => Outcome::Unknown(unexpected(8)),
        ErrorNumber::Other(error) => Outcome::Unknown(unexpected(error)),
    }
}

fn settled_transfer(req: &MoneyRequest, mut reply: Reply<'_>) -> Result<Settlement, AdapterError> {
    let provider_ref = transaction_id(&mut reply)?;
    let balance = cash(&reply, req.amount.currency)?;
    // A credit of X leaves at least X on an account that cannot go negative.
    if req.direction == Direction::Credit && balance.minor_units < req.amount.minor_units {
        return Err(malformed(MalformedReply::ImplausibleBalance));
    }
    Ok(Settlement {
        balance_after: Some(balance),
        provider_ref: Some(provider_ref),
    })
}

/// Classifies the provider's reply to a refund (see the module docs for the
/// table). Never panics, whatever `body` holds.
pub fn classify_rollback(req: &RollbackRequest, status: u16, body: &[u8]) -> Outcome {
    // Nothing in a refund's reply names the bet or the rollback, so the
    // request only matters for what is sent.
    let _ = req;
    if status != 200 {
        return Outcome::Unknown(AdapterError::HttpStatus { status });
    }
    let answer = match read(body) {
        Ok(answer) => answer,
        Err(error) => return Outcome::Unknown(error),
    };
    match answer.number {
        ErrorNumber::Success => match settled_rollback(answer.reply) {
            Ok(settlement) => Outcome::Settled(settlement),
            Err(error) => Outcome::Unknown(error),
        },
        // The provider never applied the bet: nothing to reverse.
        ErrorNumber::TransactionNotFound => Outcome::Settled(Settlement::default()),
        // The reference is a result (a credit), which is never reversed.
        ErrorNumber::AlreadySettled => Outcome::Declined(DeclineReason::NotReversible),
        ErrorNumber::Declined(reason) => Outcome::Declined(reason),
        ErrorNumber::Rejected(code) => Outcome::NotProcessed(AdapterError::Rejected { code }),
        ErrorNumber::Internal => Outcome::Unknown(internal()),
        ErrorNumber::Other(error) => Outcome::Unknown(unexpected(error)),
    }
}

fn settled_rollback(mut reply: Reply<'_>) -> Result<Settlement, AdapterError> {
    forbid(&reply, Field::Currency)?;
    forbid(&reply, Field::Cash)?;
    let provider_ref = transaction_id(&mut reply)?;
    Ok(Settlement {
        balance_after: None,
        provider_ref: Some(provider_ref),
    })
}

/// Classifies the provider's reply to a balance query (see the module docs).
/// Never panics, whatever `body` holds.
pub fn classify_balance(
    req: &BalanceRequest,
    status: u16,
    body: &[u8],
) -> Result<Money, AdapterError> {
    if status != 200 {
        return Err(AdapterError::HttpStatus { status });
    }
    let answer = read(body)?;
    match answer.number {
        ErrorNumber::Success => {
            forbid(&answer.reply, Field::TransactionId)?;
            cash(&answer.reply, req.currency)
        }
        ErrorNumber::Declined(reason) => Err(AdapterError::Declined(reason)),
        ErrorNumber::Rejected(code) => Err(AdapterError::Rejected { code }),
        ErrorNumber::Internal => Err(internal()),
        ErrorNumber::TransactionNotFound => Err(unexpected(7)),
        ErrorNumber::AlreadySettled => Err(unexpected(8)),
        ErrorNumber::Other(error) => Err(unexpected(error)),
    }
}

#[cfg(test)]
mod tests;
