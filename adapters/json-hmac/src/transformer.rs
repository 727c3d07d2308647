//! The json-hmac dialect as pure functions: canonical requests to signed wire
//! bodies, and wire replies (HTTP status + body bytes) to canonical outcomes.
//!
//! Nothing here does I/O, so every rule below is unit-tested byte for byte.
//! The wire format is `shared/providers/json-hmac.md`.
//!
//! # Requests
//!
//! Bodies are serialized from structs, so field order is fixed:
//!
//! | endpoint | body |
//! |---|---|
//! | `/v1/debit`, `/v1/credit` | `{"tx_id","account","currency","amount","round"}` (`round` omitted when the request has no reference) |
//! | `/v1/rollback` | `{"tx_id","ref_tx_id"}` |
//! | `/v1/balance` | `{"account","currency"}` |
//! | `/v1/status` | `{"tx_id"}` |
//!
//! `X-Signature` is the lowercase hex HMAC-SHA256 of the exact body bytes
//! under the shared secret ([`Signer`]). Amounts are integer minor units in
//! both canonical and wire form, so conversion is the identity; a
//! non-positive amount, an empty id or an empty account is refused as
//! [`AdapterError::Unrepresentable`] before anything is sent (for a status
//! query: [`TxStatus::Unknown`] of it).
//!
//! # Classification of replies
//!
//! Replies are untrusted input: they are parsed into strict structs (a JSON
//! value other than an object, unknown or duplicate fields, wrong JSON types,
//! trailing bytes and integers outside `i64` are all malformed) and nothing
//! is indexed blindly. An error code counts only with the HTTP status the
//! spec gives it. When in doubt the
//! answer is `Unknown`: the hub resolves it by a status query or a rollback,
//! whereas a wrong `Settled` or `Declined` would lose money.
//!
//! Debit and credit ([`classify_transfer`]):
//!
//! | HTTP | body | outcome |
//! |---|---|---|
//! | 200 | `tx_id` = ours, `status` `"OK"`, `balance` >= 0 (and >= the amount for a credit), non-empty `provider_ref` | `Settled` (balance in the request's currency, `provider_ref`) |
//! | 200 | anything else: other `tx_id`, other `status`, missing/extra/duplicate field, wrong type, negative balance, a credit's balance below its amount, non-JSON, truncated | `Unknown(Malformed)` |
//! | 402 | `INSUFFICIENT_FUNDS` | `Declined(InsufficientFunds)` |
//! | 403 | `ACCOUNT_BLOCKED` / `LIMIT_EXCEEDED` | `Declined(AccountBlocked / LimitExceeded)` |
//! | 404 | `UNKNOWN_ACCOUNT` | `Declined(UnknownAccount)` |
//! | 409 | `WRONG_CURRENCY` | `Declined(WrongCurrency)` |
//! | 400 | `BAD_REQUEST` | `NotProcessed(Rejected)` |
//! | 401 | `INVALID_SIGNATURE` | `NotProcessed(Rejected)` |
//! | 404 / 409 | `TRANSACTION_NOT_FOUND` / `NOT_REVERSIBLE` (not answers to a debit or credit) | `Unknown(Malformed)` |
//! | 4xx | a known code with another status than the spec's, or an unknown code | `Unknown(Malformed)` |
//! | 4xx | no parseable `{"code": ...}` body | `Unknown(HttpStatus)` |
//! | 5xx | anything, 503 included (the spec: "if the body was sent, the outcome is unknown") | `Unknown(HttpStatus)` |
//! | other | 1xx, other 2xx, 3xx | `Unknown(HttpStatus)` |
//!
//! Rollback ([`classify_rollback`]) follows the same table (a rollback can
//! be declined like any movement, say `UNKNOWN_ACCOUNT` when the debit's
//! account is gone), except:
//!
//! | HTTP | body | outcome |
//! |---|---|---|
//! | 200 | `tx_id` = ours, `status` `"OK"`, `balance` >= 0 (and >= the amount given back, when known), optional non-empty `provider_ref` | `Settled`; `balance_after` in the currency of `RollbackRequest::amount`, or `None` when the hub gave no amount (the wire does not say) |
//! | 200 | well-formed, `status` `"OK"`, another non-empty `tx_id` | `Settled` with `balance_after: None`: the spec answers a second rollback of the same debit (under any rollback id) with the first rollback's reply, whose balance is stale |
//! | 404 | `TRANSACTION_NOT_FOUND` | `Settled(Settlement::default())`: the debit was never applied, nothing to reverse |
//! | 409 | `NOT_REVERSIBLE` | `Declined(NotReversible)` |
//!
//! Balance ([`classify_balance`]): 200 with our `account`, our `currency` and
//! `balance` >= 0 is the balance; the decline codes are
//! `Err(AdapterError::Declined)`, `BAD_REQUEST` / `INVALID_SIGNATURE` are
//! `Err(Rejected)`, unexpected codes and bad bodies are `Err(Malformed)`, and
//! statuses without a business answer are `Err(HttpStatus)`.
//!
//! Status ([`classify_status`]) checks the provider's record against what
//! the hub sent under that id ([`StatusRequest`]). A query moves no money,
//! so every failure is `TxStatus::Unknown` and the error only says why:
//!
//! | HTTP | body | status |
//! |---|---|---|
//! | 200 | `tx_id` = ours, `status` `"OK"`, `kind` = ours, `amount` > 0, and `amount`/`currency` = ours when the hub gave an amount | `Applied` (no balance, no `provider_ref`: the reply has neither) |
//! | 200 | the same checks, `status` `"ROLLED_BACK"`, `kind` `"debit"` | `RolledBack` |
//! | 200 | `"ROLLED_BACK"` for a credit or a rollback (the spec reverses only debits), another `status`, `tx_id`, `kind`, `amount` or `currency`, a non-positive amount, missing/extra/duplicate field, wrong type, non-JSON | `Unknown(Malformed)` |
//! | 404 | `TRANSACTION_NOT_FOUND` | `NotFound` (the provider answers this for ids it refused too: nothing moved) |
//! | 400 / 401 | `BAD_REQUEST` / `INVALID_SIGNATURE` | `Unknown(Rejected)` |
//! | 4xx | any other code (the decline codes are no answer to a status query), or a code with another status than the spec's | `Unknown(Malformed)` |
//! | 4xx | no parseable `{"code": ...}` body | `Unknown(HttpStatus)` |
//! | 5xx, other | anything | `Unknown(HttpStatus)` |
//!
//! json-hmac has no overdraft (a debit below zero is `INSUFFICIENT_FUNDS`),
//! so a negative balance in any reply is malformed.
//!
//! Transport failures (connect errors, resets) are classified in the crate
//! root, where the transport's answer meets these functions.

use std::fmt;

use adapter_api::{
    AdapterError, BalanceRequest, DeclineReason, Direction, Money, MoneyRequest, Outcome,
    RollbackRequest, Settlement, StatusRequest, TxKind, TxStatus,
};
use bytes::Bytes;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Longest `provider_ref` accepted in a reply, in bytes.
pub const MAX_PROVIDER_REF_LEN: usize = 128;

/// Longest error `code` kept in a [`MalformedReply::UnexpectedCode`], in
/// characters (the rest of an untrusted code is cut off).
const MAX_KEPT_CODE_LEN: usize = 64;

/// A provider endpoint of the json-hmac dialect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST /v1/debit`.
    Debit,
    /// `POST /v1/credit`.
    Credit,
    /// `POST /v1/rollback`.
    Rollback,
    /// `POST /v1/balance`.
    Balance,
    /// `POST /v1/status`.
    Status,
}

impl Endpoint {
    /// The endpoint's path, appended to the configured base URL.
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Debit => "/v1/debit",
            Endpoint::Credit => "/v1/credit",
            Endpoint::Rollback => "/v1/rollback",
            Endpoint::Balance => "/v1/balance",
            Endpoint::Status => "/v1/status",
        }
    }
}

/// A request ready for the wire: where it goes, its exact body, and the
/// `X-Signature` value for that body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireRequest {
    /// The endpoint to POST to.
    pub endpoint: Endpoint,
    /// The JSON body, byte for byte as signed.
    pub body: Bytes,
    /// Lowercase hex HMAC-SHA256 of `body`.
    pub signature: String,
}

/// Signs request bodies with the provider's shared secret.
///
/// `Debug` never prints the key.
#[derive(Clone)]
pub struct Signer {
    mac: Hmac<Sha256>,
}

/// The secret could not key an HMAC (HMAC takes keys of any length, so this
/// does not happen with SHA-256; it exists so no `expect` is needed).
#[derive(Debug, thiserror::Error)]
#[error("the secret cannot key HMAC-SHA256")]
pub struct InvalidKey;

impl Signer {
    /// Keys a signer with `secret`.
    pub fn new(secret: &[u8]) -> Result<Self, InvalidKey> {
        let mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| InvalidKey)?;
        Ok(Self { mac })
    }

    /// The `X-Signature` value of `body`: lowercase hex HMAC-SHA256.
    pub fn sign(&self, body: &[u8]) -> String {
        let mut mac = self.mac.clone();
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Signer(<redacted>)")
    }
}

/// Why a canonical request cannot be expressed in json-hmac. Carried as the
/// source of [`AdapterError::Unrepresentable`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// Debit and credit amounts must be positive.
    #[error("the amount must be positive")]
    NonPositiveAmount,
    /// A transaction id is empty.
    #[error("a transaction id is empty")]
    EmptyTxId,
    /// The account is empty.
    #[error("the account is empty")]
    EmptyAccount,
    /// The body could not be serialized.
    #[error("the body could not be serialized")]
    Encode(#[source] serde_json::Error),
}

/// Why a reply is not a valid answer to the request it came back for.
/// Carried as the source of [`AdapterError::Malformed`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MalformedReply {
    /// Not JSON, or not the expected shape: missing, extra or duplicate
    /// fields, wrong types, integers outside `i64`, trailing bytes.
    #[error("the reply is not the expected JSON")]
    Json(#[source] serde_json::Error),
    /// Valid JSON, but not an object (an array in the fields' order would
    /// otherwise pass as the struct).
    #[error("the reply is not a JSON object")]
    NotAnObject,
    /// The reply names another transaction.
    #[error("the reply names another transaction")]
    TxIdMismatch,
    /// The reply's `tx_id` is empty.
    #[error("the reply's tx_id is empty")]
    EmptyTxId,
    /// The reply's `status` is not `OK`.
    #[error("the reply's status is not OK")]
    NotOk,
    /// A negative balance (json-hmac has no overdraft).
    #[error("the reply's balance is negative")]
    NegativeBalance,
    /// A balance that contradicts the movement (below the amount just
    /// credited or given back).
    #[error("the reply's balance contradicts the movement")]
    ImplausibleBalance,
    /// `provider_ref` is empty, too long or has control characters.
    #[error("the reply's provider_ref is empty, too long or has control characters")]
    BadProviderRef,
    /// A balance reply for another account.
    #[error("the balance reply names another account")]
    AccountMismatch,
    /// A balance or status reply in another currency than the request's.
    #[error("the reply is in another currency than the request")]
    CurrencyMismatch,
    /// A status reply whose `status` is not one the spec gives for this
    /// kind of transaction (only `OK`, and `ROLLED_BACK` for a debit).
    #[error("the status reply's status is not one this transaction can have")]
    UnexpectedStatus,
    /// A status reply for another kind of transaction than the hub sent.
    #[error("the status reply names another kind of transaction")]
    KindMismatch,
    /// A status reply with another amount than the hub sent.
    #[error("the status reply names another amount")]
    AmountMismatch,
    /// A status reply with an amount that is zero or negative.
    #[error("the status reply's amount is not positive")]
    NonPositiveAmount,
    /// An error code that is not an answer to this operation with this HTTP
    /// status.
    #[error("HTTP {status} with code {code:?} is not an answer to this operation")]
    UnexpectedCode {
        /// The HTTP status.
        status: u16,
        /// The code, cut to 64 characters.
        code: String,
    },
    /// The reply body exceeded the size limit.
    #[error("the reply is longer than {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
}

fn malformed(reason: MalformedReply) -> AdapterError {
    AdapterError::Malformed(Box::new(reason))
}

fn unrepresentable(reason: RequestError) -> AdapterError {
    AdapterError::Unrepresentable(Box::new(reason))
}

// ---------------------------------------------------------------- requests

#[derive(Serialize)]
struct TransferBody<'a> {
    tx_id: &'a str,
    account: &'a str,
    currency: &'a str,
    amount: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    round: Option<&'a str>,
}

#[derive(Serialize)]
struct RollbackBody<'a> {
    tx_id: &'a str,
    ref_tx_id: &'a str,
}

#[derive(Serialize)]
struct BalanceBody<'a> {
    account: &'a str,
    currency: &'a str,
}

#[derive(Serialize)]
struct StatusBody<'a> {
    tx_id: &'a str,
}

fn signed(
    endpoint: Endpoint,
    body: &impl Serialize,
    signer: &Signer,
) -> Result<WireRequest, AdapterError> {
    let body = serde_json::to_vec(body).map_err(|e| unrepresentable(RequestError::Encode(e)))?;
    let signature = signer.sign(&body);
    Ok(WireRequest {
        endpoint,
        body: Bytes::from(body),
        signature,
    })
}

/// The wire form of a debit or credit. The error is
/// [`AdapterError::Unrepresentable`] with a [`RequestError`] source.
pub fn encode_transfer(req: &MoneyRequest, signer: &Signer) -> Result<WireRequest, AdapterError> {
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
        Direction::Debit => Endpoint::Debit,
        Direction::Credit => Endpoint::Credit,
    };
    let body = TransferBody {
        tx_id: req.tx_id.as_str(),
        account: req.account.as_str(),
        currency: req.amount.currency.code(),
        // Integer minor units on both sides: the identity conversion.
        amount: req.amount.minor_units,
        round: req.reference.as_deref(),
    };
    signed(endpoint, &body, signer)
}

/// The wire form of a rollback. The account and amount are not on the wire:
/// the provider finds the debit by `ref_tx_id`.
pub fn encode_rollback(
    req: &RollbackRequest,
    signer: &Signer,
) -> Result<WireRequest, AdapterError> {
    if req.tx_id.as_str().is_empty() || req.original_tx_id.as_str().is_empty() {
        return Err(unrepresentable(RequestError::EmptyTxId));
    }
    let body = RollbackBody {
        tx_id: req.tx_id.as_str(),
        ref_tx_id: req.original_tx_id.as_str(),
    };
    signed(Endpoint::Rollback, &body, signer)
}

/// The wire form of a balance query.
pub fn encode_balance(req: &BalanceRequest, signer: &Signer) -> Result<WireRequest, AdapterError> {
    if req.account.as_str().is_empty() {
        return Err(unrepresentable(RequestError::EmptyAccount));
    }
    let body = BalanceBody {
        account: req.account.as_str(),
        currency: req.currency.code(),
    };
    signed(Endpoint::Balance, &body, signer)
}

/// The wire form of a status query. Only the id is on the wire; the rest of
/// the [`StatusRequest`] is what the reply is checked against.
pub fn encode_status(req: &StatusRequest, signer: &Signer) -> Result<WireRequest, AdapterError> {
    if req.tx_id.as_str().is_empty() {
        return Err(unrepresentable(RequestError::EmptyTxId));
    }
    let body = StatusBody {
        tx_id: req.tx_id.as_str(),
    };
    signed(Endpoint::Status, &body, signer)
}

// ----------------------------------------------------------------- replies

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TransferReply {
    tx_id: String,
    status: String,
    balance: i64,
    provider_ref: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RollbackReply {
    tx_id: String,
    status: String,
    balance: i64,
    #[serde(default)]
    provider_ref: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BalanceReply {
    account: String,
    currency: String,
    balance: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusReply {
    tx_id: String,
    status: String,
    kind: String,
    amount: i64,
    currency: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ErrorReply {
    code: String,
}

const STATUS_OK: &str = "OK";
const STATUS_ROLLED_BACK: &str = "ROLLED_BACK";

/// Parses a reply that must be one JSON object of exactly `T`'s fields.
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

/// What a 4xx error code means, before the operation decides.
enum ErrorCode {
    Declined(DeclineReason, &'static str),
    Rejected(&'static str),
    TransactionNotFound,
    NotReversible,
}

/// Reads a 4xx body as `{"code": ...}`. Each code is accepted only with the
/// HTTP status the spec gives it. `Err` is the `Unknown` error to report.
fn parse_error_code(status: u16, body: &[u8]) -> Result<ErrorCode, AdapterError> {
    let Ok(reply) = parse_object::<ErrorReply>(body) else {
        return Err(AdapterError::HttpStatus { status });
    };
    let code = match (status, reply.code.as_str()) {
        (400, "BAD_REQUEST") => ErrorCode::Rejected("BAD_REQUEST"),
        (401, "INVALID_SIGNATURE") => ErrorCode::Rejected("INVALID_SIGNATURE"),
        (402, "INSUFFICIENT_FUNDS") => {
            ErrorCode::Declined(DeclineReason::InsufficientFunds, "INSUFFICIENT_FUNDS")
        }
        (403, "ACCOUNT_BLOCKED") => {
            ErrorCode::Declined(DeclineReason::AccountBlocked, "ACCOUNT_BLOCKED")
        }
        (403, "LIMIT_EXCEEDED") => {
            ErrorCode::Declined(DeclineReason::LimitExceeded, "LIMIT_EXCEEDED")
        }
        (404, "UNKNOWN_ACCOUNT") => {
            ErrorCode::Declined(DeclineReason::UnknownAccount, "UNKNOWN_ACCOUNT")
        }
        (409, "WRONG_CURRENCY") => {
            ErrorCode::Declined(DeclineReason::WrongCurrency, "WRONG_CURRENCY")
        }
        (404, "TRANSACTION_NOT_FOUND") => ErrorCode::TransactionNotFound,
        (409, "NOT_REVERSIBLE") => ErrorCode::NotReversible,
        _ => return Err(unexpected_code(status, &reply.code)),
    };
    Ok(code)
}

fn unexpected_code(status: u16, code: &str) -> AdapterError {
    malformed(MalformedReply::UnexpectedCode {
        status,
        code: code.chars().take(MAX_KEPT_CODE_LEN).collect(),
    })
}

fn check_provider_ref(provider_ref: &str) -> Result<(), AdapterError> {
    if provider_ref.is_empty()
        || provider_ref.len() > MAX_PROVIDER_REF_LEN
        || provider_ref.chars().any(char::is_control)
    {
        return Err(malformed(MalformedReply::BadProviderRef));
    }
    Ok(())
}

fn is_client_error(status: u16) -> bool {
    (400..500).contains(&status)
}

/// Classifies the provider's reply to a debit or credit (see the module
/// docs for the table). Never panics, whatever `body` holds.
pub fn classify_transfer(req: &MoneyRequest, status: u16, body: &[u8]) -> Outcome {
    if status == 200 {
        return match settled_transfer(req, body) {
            Ok(settlement) => Outcome::Settled(settlement),
            Err(error) => Outcome::Unknown(error),
        };
    }
    if !is_client_error(status) {
        return Outcome::Unknown(AdapterError::HttpStatus { status });
    }
    match parse_error_code(status, body) {
        Ok(ErrorCode::Declined(reason, _)) => Outcome::Declined(reason),
        Ok(ErrorCode::Rejected(code)) => Outcome::NotProcessed(AdapterError::Rejected { code }),
        Ok(ErrorCode::TransactionNotFound) => {
            Outcome::Unknown(unexpected_code(status, "TRANSACTION_NOT_FOUND"))
        }
        Ok(ErrorCode::NotReversible) => Outcome::Unknown(unexpected_code(status, "NOT_REVERSIBLE")),
        Err(error) => Outcome::Unknown(error),
    }
}

fn settled_transfer(req: &MoneyRequest, body: &[u8]) -> Result<Settlement, AdapterError> {
    let reply: TransferReply = parse_object(body).map_err(malformed)?;
    if reply.tx_id != req.tx_id.as_str() {
        return Err(malformed(MalformedReply::TxIdMismatch));
    }
    if reply.status != STATUS_OK {
        return Err(malformed(MalformedReply::NotOk));
    }
    if reply.balance < 0 {
        return Err(malformed(MalformedReply::NegativeBalance));
    }
    // A credit of X leaves at least X on an account that cannot go negative.
    if req.direction == Direction::Credit && reply.balance < req.amount.minor_units {
        return Err(malformed(MalformedReply::ImplausibleBalance));
    }
    check_provider_ref(&reply.provider_ref)?;
    Ok(Settlement {
        balance_after: Some(Money::new(req.amount.currency, reply.balance)),
        provider_ref: Some(reply.provider_ref),
    })
}

/// Classifies the provider's reply to a rollback (see the module docs for
/// the table). Never panics, whatever `body` holds.
pub fn classify_rollback(req: &RollbackRequest, status: u16, body: &[u8]) -> Outcome {
    if status == 200 {
        return match settled_rollback(req, body) {
            Ok(settlement) => Outcome::Settled(settlement),
            Err(error) => Outcome::Unknown(error),
        };
    }
    if !is_client_error(status) {
        return Outcome::Unknown(AdapterError::HttpStatus { status });
    }
    match parse_error_code(status, body) {
        // The provider never applied the debit: nothing to reverse.
        Ok(ErrorCode::TransactionNotFound) => Outcome::Settled(Settlement::default()),
        Ok(ErrorCode::NotReversible) => Outcome::Declined(DeclineReason::NotReversible),
        Ok(ErrorCode::Declined(reason, _)) => Outcome::Declined(reason),
        Ok(ErrorCode::Rejected(code)) => Outcome::NotProcessed(AdapterError::Rejected { code }),
        Err(error) => Outcome::Unknown(error),
    }
}

fn settled_rollback(req: &RollbackRequest, body: &[u8]) -> Result<Settlement, AdapterError> {
    let reply: RollbackReply = parse_object(body).map_err(malformed)?;
    if reply.tx_id.is_empty() {
        return Err(malformed(MalformedReply::EmptyTxId));
    }
    if reply.status != STATUS_OK {
        return Err(malformed(MalformedReply::NotOk));
    }
    if reply.balance < 0 {
        return Err(malformed(MalformedReply::NegativeBalance));
    }
    if let Some(provider_ref) = &reply.provider_ref {
        check_provider_ref(provider_ref)?;
    }
    // Another rollback id: the spec replays the first rollback of this
    // debit. The debit is reversed, but that reply's balance is not ours.
    if reply.tx_id != req.tx_id.as_str() {
        return Ok(Settlement {
            balance_after: None,
            provider_ref: reply.provider_ref,
        });
    }
    let balance_after = match req.amount {
        Some(amount) if reply.balance < amount.minor_units => {
            // Giving X back leaves at least X.
            return Err(malformed(MalformedReply::ImplausibleBalance));
        }
        Some(amount) => Some(Money::new(amount.currency, reply.balance)),
        None => None,
    };
    Ok(Settlement {
        balance_after,
        provider_ref: reply.provider_ref,
    })
}

/// Classifies the provider's reply to a balance query (see the module docs).
/// Never panics, whatever `body` holds.
pub fn classify_balance(
    req: &BalanceRequest,
    status: u16,
    body: &[u8],
) -> Result<Money, AdapterError> {
    if status == 200 {
        let reply: BalanceReply = parse_object(body).map_err(malformed)?;
        if reply.account != req.account.as_str() {
            return Err(malformed(MalformedReply::AccountMismatch));
        }
        if reply.currency != req.currency.code() {
            return Err(malformed(MalformedReply::CurrencyMismatch));
        }
        if reply.balance < 0 {
            return Err(malformed(MalformedReply::NegativeBalance));
        }
        return Ok(Money::new(req.currency, reply.balance));
    }
    if !is_client_error(status) {
        return Err(AdapterError::HttpStatus { status });
    }
    match parse_error_code(status, body)? {
        ErrorCode::Declined(reason, _) => Err(AdapterError::Declined(reason)),
        ErrorCode::Rejected(code) => Err(AdapterError::Rejected { code }),
        ErrorCode::TransactionNotFound => Err(unexpected_code(status, "TRANSACTION_NOT_FOUND")),
        ErrorCode::NotReversible => Err(unexpected_code(status, "NOT_REVERSIBLE")),
    }
}

/// The wire name of a [`TxKind`] in a status reply.
fn kind_name(kind: TxKind) -> &'static str {
    match kind {
        TxKind::Debit => "debit",
        TxKind::Credit => "credit",
        TxKind::Rollback => "rollback",
    }
}

/// Classifies the provider's reply to a status query (see the module docs
/// for the table). Never panics, whatever `body` holds.
pub fn classify_status(req: &StatusRequest, status: u16, body: &[u8]) -> TxStatus {
    if status == 200 {
        return status_record(req, body).unwrap_or_else(TxStatus::Unknown);
    }
    if !is_client_error(status) {
        return TxStatus::Unknown(AdapterError::HttpStatus { status });
    }
    match parse_error_code(status, body) {
        Ok(ErrorCode::TransactionNotFound) => TxStatus::NotFound,
        Ok(ErrorCode::Rejected(code)) => TxStatus::Unknown(AdapterError::Rejected { code }),
        // Not answers to a status query, which names no account.
        Ok(ErrorCode::Declined(_, code)) => TxStatus::Unknown(unexpected_code(status, code)),
        Ok(ErrorCode::NotReversible) => {
            TxStatus::Unknown(unexpected_code(status, "NOT_REVERSIBLE"))
        }
        Err(error) => TxStatus::Unknown(error),
    }
}

fn status_record(req: &StatusRequest, body: &[u8]) -> Result<TxStatus, AdapterError> {
    let reply: StatusReply = parse_object(body).map_err(malformed)?;
    if reply.tx_id != req.tx_id.as_str() {
        return Err(malformed(MalformedReply::TxIdMismatch));
    }
    if reply.kind != kind_name(req.kind) {
        return Err(malformed(MalformedReply::KindMismatch));
    }
    if reply.amount <= 0 {
        return Err(malformed(MalformedReply::NonPositiveAmount));
    }
    if let Some(amount) = req.amount {
        if reply.currency != amount.currency.code() {
            return Err(malformed(MalformedReply::CurrencyMismatch));
        }
        if reply.amount != amount.minor_units {
            return Err(malformed(MalformedReply::AmountMismatch));
        }
    }
    match (reply.status.as_str(), req.kind) {
        (STATUS_OK, _) => Ok(TxStatus::Applied(Settlement {
            balance_after: None,
            provider_ref: None,
        })),
        // The spec reverses debits only (a credit is NOT_REVERSIBLE, and a
        // rollback is never reversed itself).
        (STATUS_ROLLED_BACK, TxKind::Debit) => Ok(TxStatus::RolledBack),
        _ => Err(malformed(MalformedReply::UnexpectedStatus)),
    }
}

#[cfg(test)]
mod tests;
