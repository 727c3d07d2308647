//! The json-rsa dialect as pure functions: canonical requests to signed wire
//! bodies, and signed wire replies (HTTP status, `X-Signature`, body bytes)
//! to canonical outcomes.
//!
//! Nothing here does I/O, so every rule below is unit-tested byte for byte.
//! The wire format is `shared/providers/json-rsa.md`. The `request_uuid` of
//! each call is an input ([`RequestUuid`]): the adapter draws a fresh UUID v4
//! per HTTP call, tests and the signed samples pass a fixed one.
//!
//! # Requests
//!
//! Bodies are serialized from structs, so field order is fixed:
//!
//! | endpoint | body |
//! |---|---|
//! | `/api/transaction/bet` (debit), `/api/transaction/win` (credit) | `{"request_uuid","transaction_uuid","user","currency","amount","round"}` (`round` omitted when the request has no reference) |
//! | `/api/transaction/rollback` | `{"request_uuid","transaction_uuid","reference_transaction_uuid"}` |
//! | `/api/user/balance` | `{"request_uuid","user","currency"}` |
//! | `/api/transaction/lookup` | `{"request_uuid","transaction_uuid"}` |
//!
//! `transaction_uuid` is the hub's [`ProviderTxId`](adapter_api::ProviderTxId),
//! `user` the account. `amount` is in 1e-5 units of the currency, converted
//! from minor units by [`crate::units`] (checked; never rounded).
//! `X-Signature` is the base64 RSA-SHA256 PKCS#1 v1.5 signature of the exact
//! body bytes under the operator's key ([`Signer`]). A non-positive amount,
//! an amount that overflows in 1e-5 units or a currency finer than 1e-5, an
//! empty id or an empty account is refused as
//! [`AdapterError::Unrepresentable`] before anything is sent.
//!
//! # Classification of replies
//!
//! Replies are untrusted until proven otherwise, in this order:
//!
//! 1. HTTP status: every business answer is `200`. Anything else is
//!    `Unknown(HttpStatus)` (queries: `Err(HttpStatus)`), 5xx included (the
//!    body was sent; the provider may have applied it).
//! 2. Signature: `X-Signature` must be the provider's RSA-SHA256 signature of
//!    the exact body bytes ([`Verifier`]); missing, duplicated, not base64 or
//!    not verifying is `Unknown(BadSignature)` (queries: `Err(BadSignature)`).
//!    Nothing in an unverified body is read, whatever it says.
//! 3. Shape: one JSON object whose fields are among the operation's reply
//!    fields, with the right JSON types (unknown or duplicate fields, `null`
//!    values, floats, integers outside `i64`, trailing bytes, arrays are all
//!    malformed).
//! 4. Echo: `request_uuid` must be present and equal to this call's, so a
//!    signed reply to another call (a replay) is never taken for this one;
//!    a `transaction_uuid`, when present, must be ours (exceptions below).
//!    The one reply that may omit `request_uuid` is
//!    `RS_ERROR_INVALID_SIGNATURE`: a provider refuses an unauthenticated
//!    request without reading its body, so it has nothing to echo (the
//!    sandbox answers exactly `{"status":"RS_ERROR_INVALID_SIGNATURE"}`).
//!    That reply is the same for every request, so it could be replayed;
//!    what it can cause is a `NotProcessed`, never a `Settled` or
//!    `Declined`.
//! 5. `status`, per operation, as below. Any failure of 3 to 5 is
//!    `Unknown(Malformed)` (queries: `Err(Malformed)` / `TxStatus::Unknown`).
//!
//! When in doubt the answer is `Unknown`: the hub resolves it by a lookup or
//! a rollback, whereas a wrong `Settled` or `Declined` would lose money.
//!
//! Bet (debit) and win (credit) ([`classify_transfer`]):
//!
//! | `status` | outcome |
//! |---|---|
//! | `RS_OK`, with our `transaction_uuid`, our `currency`, and a `balance` that is >= 0 (>= the amount for a win) and a whole number of minor units | `Settled` (`balance_after` in minor units, no `provider_ref`: the dialect has none) |
//! | `RS_OK` missing any of those, or with another value | `Unknown(Malformed)` |
//! | `RS_ERROR_NOT_ENOUGH_MONEY` | `Declined(InsufficientFunds)` |
//! | `RS_ERROR_USER_DISABLED` | `Declined(AccountBlocked)` |
//! | `RS_ERROR_LIMIT_REACHED` | `Declined(LimitExceeded)` |
//! | `RS_ERROR_WRONG_CURRENCY` | `Declined(WrongCurrency)` |
//! | `RS_ERROR_UNKNOWN_USER` | `Declined(UnknownAccount)` |
//! | `RS_ERROR_DUPLICATE_TRANSACTION` | `Declined(DuplicateTransaction)` (same id, other parameters; nothing moved) |
//! | `RS_ERROR_TRANSACTION_ROLLED_BACK` | `Declined(AlreadyRolledBack)` (a tombstone refuses the id) |
//! | `RS_ERROR_INVALID_SIGNATURE` | `NotProcessed(Rejected)`: refused before processing |
//! | `RS_ERROR_UNKNOWN` | `Unknown(Transport(ProviderTrouble))` |
//! | `RS_ERROR_TRANSACTION_DOES_NOT_EXIST`, `RS_ERROR_NOT_REVERSIBLE` (not answers to a bet or win), any other string | `Unknown(Malformed)` |
//!
//! Rollback ([`classify_rollback`]):
//!
//! | `status` | outcome |
//! |---|---|
//! | `RS_OK`, our `transaction_uuid`, `balance` >= 0 or no `balance` | `Settled`; this is also the provider's tombstone answer for a debit it never applied ("nothing to reverse", without a balance when the provider never saw the debit). `balance_after` in the currency of `RollbackRequest::amount` (or of a `currency` the reply carries), `None` when neither says it or there is no balance; a balance that is not a whole number of minor units is malformed |
//! | `RS_OK`, another non-empty `transaction_uuid` | `Settled` with `balance_after: None`: the spec answers a second rollback of one debit with the first rollback's answer, whose balance is stale |
//! | `RS_ERROR_NOT_REVERSIBLE` | `Declined(NotReversible)` (a win) |
//! | `RS_ERROR_DUPLICATE_TRANSACTION` and the account declines above | `Declined(..)`, as for a bet |
//! | `RS_ERROR_INVALID_SIGNATURE` / `RS_ERROR_UNKNOWN` | as for a bet |
//! | `RS_ERROR_TRANSACTION_DOES_NOT_EXIST`, `RS_ERROR_TRANSACTION_ROLLED_BACK` (the spec answers neither to a rollback), any other string | `Unknown(Malformed)` |
//!
//! Balance ([`classify_balance`]): `RS_OK` with our `user`, our `currency`
//! and an exact `balance` >= 0 is `Ok(Money)`; `RS_ERROR_UNKNOWN_USER`,
//! `RS_ERROR_USER_DISABLED`, `RS_ERROR_WRONG_CURRENCY` are
//! `Err(Declined(UnknownAccount / AccountBlocked / WrongCurrency))`;
//! `RS_ERROR_INVALID_SIGNATURE` is `Err(Rejected)`, `RS_ERROR_UNKNOWN`
//! `Err(Transport(ProviderTrouble))`, anything else `Err(Malformed)`.
//!
//! Lookup ([`classify_status`]), of bets and wins only: the provider's
//! lookup does not know rollback ids (the sandbox answers
//! `RS_ERROR_TRANSACTION_DOES_NOT_EXIST` for them, which for a rollback that
//! did apply would be a lie), so a status query of a rollback is
//! `Unknown(Unsupported)` and nothing is sent; the hub resolves a pending
//! rollback by repeating it (the same rollback id replays its answer).
//!
//! | `status` / `state` | [`TxStatus`] |
//! |---|---|
//! | `RS_OK` + `TS_SUCCESS` | `Applied` (no balance: the lookup gives none) |
//! | `RS_OK` + `TS_ROLLED_BACK` | `RolledBack` |
//! | `RS_OK` + `TS_DECLINED` | `Declined(Other)` (the lookup says no reason) |
//! | `RS_OK` with another `transaction_uuid`, another or no `state`, an `amount`/`currency` that is not positive money converting exactly, or that is not `StatusRequest::amount` when given | `Unknown(Malformed)`: not our transaction |
//! | `RS_ERROR_TRANSACTION_DOES_NOT_EXIST` | `NotFound` |
//! | `RS_ERROR_INVALID_SIGNATURE` | `Unknown(Rejected)` |
//! | `RS_ERROR_UNKNOWN` | `Unknown(Transport(ProviderTrouble))` |
//! | anything else | `Unknown(Malformed)` |
//!
//! Transport failures (connect errors, resets) are classified in the crate
//! root, where the transport's answer meets these functions.

use std::fmt;
use std::str::FromStr;

use adapter_api::{
    AdapterError, BalanceRequest, Currency, DeclineReason, Direction, Money, MoneyRequest, Outcome,
    RollbackRequest, Settlement, StatusRequest, TxKind, TxStatus,
};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::signing::{SignError, Signer, Verifier};
use crate::units::{self, UnitsError};

/// Longest status or state string kept in a [`MalformedReply`], in
/// characters (the rest of an untrusted string is cut off).
const MAX_KEPT_LEN: usize = 64;

/// A provider endpoint of the json-rsa dialect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST /api/user/balance`.
    Balance,
    /// `POST /api/transaction/bet` (a debit).
    Bet,
    /// `POST /api/transaction/win` (a credit).
    Win,
    /// `POST /api/transaction/rollback`.
    Rollback,
    /// `POST /api/transaction/lookup`.
    Lookup,
}

impl Endpoint {
    /// Every endpoint.
    pub const ALL: [Endpoint; 5] = [
        Endpoint::Balance,
        Endpoint::Bet,
        Endpoint::Win,
        Endpoint::Rollback,
        Endpoint::Lookup,
    ];

    /// The endpoint's path, appended to the configured base URL.
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Balance => "/api/user/balance",
            Endpoint::Bet => "/api/transaction/bet",
            Endpoint::Win => "/api/transaction/win",
            Endpoint::Rollback => "/api/transaction/rollback",
            Endpoint::Lookup => "/api/transaction/lookup",
        }
    }
}

/// The `request_uuid` of one HTTP call: fresh per call, echoed in the reply.
/// On the wire as a lowercase hyphenated UUID.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RequestUuid(String);

impl RequestUuid {
    /// A fresh random (v4) UUID.
    pub fn new_v4() -> Self {
        Self::from(Uuid::new_v4())
    }

    /// The value as sent on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<Uuid> for RequestUuid {
    fn from(uuid: Uuid) -> Self {
        Self(uuid.hyphenated().to_string())
    }
}

impl FromStr for RequestUuid {
    type Err = uuid::Error;

    /// Parses any UUID form `uuid` accepts; the wire form is always
    /// lowercase hyphenated.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self::from)
    }
}

impl fmt::Display for RequestUuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RequestUuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestUuid({})", self.0)
    }
}

/// A request ready for the wire: where it goes, its `request_uuid`, its
/// exact body, and the `X-Signature` value for that body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireRequest {
    /// The endpoint to POST to.
    pub endpoint: Endpoint,
    /// The call's `request_uuid`, which the reply must echo.
    pub request_uuid: RequestUuid,
    /// The JSON body, byte for byte as signed.
    pub body: Bytes,
    /// Base64 RSA-SHA256 PKCS#1 v1.5 signature of `body`.
    pub signature: String,
}

/// A complete reply as received: nothing in it is trusted yet.
#[derive(Clone, Copy, Debug)]
pub struct WireReply<'a> {
    /// The HTTP status code.
    pub status: u16,
    /// The `X-Signature` header value; `None` when absent or repeated.
    pub signature: Option<&'a [u8]>,
    /// The body bytes, exactly as received.
    pub body: &'a [u8],
}

/// Why a canonical request cannot be expressed in json-rsa. Carried as the
/// source of [`AdapterError::Unrepresentable`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// Bet and win amounts must be positive.
    #[error("the amount must be positive")]
    NonPositiveAmount,
    /// The amount does not convert to 1e-5 units.
    #[error("the amount cannot be expressed in 1e-5 units")]
    Units(#[source] UnitsError),
    /// A transaction id is empty.
    #[error("a transaction id is empty")]
    EmptyTxId,
    /// The account is empty.
    #[error("the account is empty")]
    EmptyAccount,
    /// The body could not be serialized.
    #[error("the body could not be serialized")]
    Encode(#[source] serde_json::Error),
    /// The body could not be signed.
    #[error("the body could not be signed")]
    Sign(#[source] SignError),
}

/// Why a reply is not a valid answer to the request it came back for.
/// Carried as the source of [`AdapterError::Malformed`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MalformedReply {
    /// Not JSON, or not the expected shape: unknown or duplicate fields,
    /// wrong types, integers outside `i64`, trailing bytes.
    #[error("the reply is not the expected JSON")]
    Json(#[source] serde_json::Error),
    /// Valid JSON, but not an object.
    #[error("the reply is not a JSON object")]
    NotAnObject,
    /// A field this operation's reply does not have.
    #[error("the reply has a field `{0}` this operation does not answer with")]
    UnexpectedField(&'static str),
    /// A field this answer needs is missing (or null).
    #[error("the reply lacks `{0}`")]
    MissingField(&'static str),
    /// `request_uuid` missing or not this call's: a reply to another call.
    #[error("the reply does not echo this call's request_uuid")]
    RequestUuidMismatch,
    /// The reply names another transaction.
    #[error("the reply names another transaction")]
    TransactionUuidMismatch,
    /// A rollback reply with an empty `transaction_uuid`.
    #[error("the reply's transaction_uuid is empty")]
    EmptyTransactionUuid,
    /// A balance reply for another user.
    #[error("the reply names another user")]
    UserMismatch,
    /// Another currency than the request's.
    #[error("the reply is in another currency")]
    CurrencyMismatch,
    /// A currency code the hub cannot count in.
    #[error("the reply's currency is not an ISO 4217 code with minor units")]
    UnknownCurrency,
    /// A negative balance (the dialect has no overdraft).
    #[error("the reply's balance is negative")]
    NegativeBalance,
    /// A balance that contradicts the movement (below the amount just won).
    #[error("the reply's balance contradicts the movement")]
    ImplausibleBalance,
    /// An amount or balance that is not a whole number of minor units.
    #[error("the reply's amount does not convert exactly")]
    Units(#[source] UnitsError),
    /// A lookup record with another amount or currency than the hub sent.
    #[error("the looked-up transaction has another amount or currency")]
    AmountMismatch,
    /// A lookup record with a non-positive amount.
    #[error("the looked-up transaction's amount is not positive")]
    NonPositiveAmount,
    /// A `status` that is not an answer to this operation.
    #[error("status {0:?} is not an answer to this operation")]
    UnexpectedStatus(String),
    /// A lookup `state` the dialect does not define.
    #[error("state {0:?} is not a transaction state")]
    UnexpectedState(String),
    /// The reply body exceeded the size limit.
    #[error("the reply is longer than {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
}

/// The provider answered `RS_ERROR_UNKNOWN`: its own trouble, the outcome of
/// the call is unknown. Carried as the source of [`AdapterError::Transport`].
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the provider answered RS_ERROR_UNKNOWN")]
pub struct ProviderTrouble;

fn malformed(reason: MalformedReply) -> AdapterError {
    AdapterError::Malformed(Box::new(reason))
}

fn unrepresentable(reason: RequestError) -> AdapterError {
    AdapterError::Unrepresentable(Box::new(reason))
}

fn provider_trouble() -> AdapterError {
    AdapterError::Transport(Box::new(ProviderTrouble))
}

fn cut(s: &str) -> String {
    s.chars().take(MAX_KEPT_LEN).collect()
}

// ---------------------------------------------------------------- requests

#[derive(Serialize)]
struct TransferBody<'a> {
    request_uuid: &'a str,
    transaction_uuid: &'a str,
    user: &'a str,
    currency: &'a str,
    amount: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    round: Option<&'a str>,
}

#[derive(Serialize)]
struct RollbackBody<'a> {
    request_uuid: &'a str,
    transaction_uuid: &'a str,
    reference_transaction_uuid: &'a str,
}

#[derive(Serialize)]
struct BalanceBody<'a> {
    request_uuid: &'a str,
    user: &'a str,
    currency: &'a str,
}

#[derive(Serialize)]
struct LookupBody<'a> {
    request_uuid: &'a str,
    transaction_uuid: &'a str,
}

fn signed(
    endpoint: Endpoint,
    request_uuid: RequestUuid,
    body: &impl Serialize,
    signer: &Signer,
) -> Result<WireRequest, AdapterError> {
    let body = serde_json::to_vec(body).map_err(|e| unrepresentable(RequestError::Encode(e)))?;
    let signature = signer
        .sign(&body)
        .map_err(|e| unrepresentable(RequestError::Sign(e)))?;
    Ok(WireRequest {
        endpoint,
        request_uuid,
        body: Bytes::from(body),
        signature,
    })
}

/// The wire form of a bet (debit) or win (credit). The error is
/// [`AdapterError::Unrepresentable`] with a [`RequestError`] source.
pub fn encode_transfer(
    req: &MoneyRequest,
    request_uuid: RequestUuid,
    signer: &Signer,
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
    let amount = units::to_wire(req.amount).map_err(|e| unrepresentable(RequestError::Units(e)))?;
    let endpoint = match req.direction {
        Direction::Debit => Endpoint::Bet,
        Direction::Credit => Endpoint::Win,
    };
    let body = TransferBody {
        request_uuid: request_uuid.as_str(),
        transaction_uuid: req.tx_id.as_str(),
        user: req.account.as_str(),
        currency: req.amount.currency.code(),
        amount,
        round: req.reference.as_deref(),
    };
    signed(endpoint, request_uuid.clone(), &body, signer)
}

/// The wire form of a rollback. The account and amount are not on the wire:
/// the provider finds the bet by `reference_transaction_uuid`.
pub fn encode_rollback(
    req: &RollbackRequest,
    request_uuid: RequestUuid,
    signer: &Signer,
) -> Result<WireRequest, AdapterError> {
    if req.tx_id.as_str().is_empty() || req.original_tx_id.as_str().is_empty() {
        return Err(unrepresentable(RequestError::EmptyTxId));
    }
    let body = RollbackBody {
        request_uuid: request_uuid.as_str(),
        transaction_uuid: req.tx_id.as_str(),
        reference_transaction_uuid: req.original_tx_id.as_str(),
    };
    signed(Endpoint::Rollback, request_uuid.clone(), &body, signer)
}

/// The wire form of a balance query.
pub fn encode_balance(
    req: &BalanceRequest,
    request_uuid: RequestUuid,
    signer: &Signer,
) -> Result<WireRequest, AdapterError> {
    if req.account.as_str().is_empty() {
        return Err(unrepresentable(RequestError::EmptyAccount));
    }
    let body = BalanceBody {
        request_uuid: request_uuid.as_str(),
        user: req.account.as_str(),
        currency: req.currency.code(),
    };
    signed(Endpoint::Balance, request_uuid.clone(), &body, signer)
}

/// The wire form of a transaction lookup of a bet or win. A rollback's own
/// id is not looked up: the provider's lookup knows bets and wins only, so
/// its "does not exist" would prove nothing ([`AdapterError::Unsupported`],
/// nothing sent).
pub fn encode_status(
    req: &StatusRequest,
    request_uuid: RequestUuid,
    signer: &Signer,
) -> Result<WireRequest, AdapterError> {
    if req.kind == TxKind::Rollback {
        return Err(AdapterError::Unsupported);
    }
    if req.tx_id.as_str().is_empty() {
        return Err(unrepresentable(RequestError::EmptyTxId));
    }
    let body = LookupBody {
        request_uuid: request_uuid.as_str(),
        transaction_uuid: req.tx_id.as_str(),
    };
    signed(Endpoint::Lookup, request_uuid.clone(), &body, signer)
}

// ----------------------------------------------------------------- replies

/// Every field any json-rsa reply has. Which of them an operation's reply
/// may carry is checked afterwards ([`Fields`]). `None` is an absent field:
/// a `null` is malformed like any other wrong type.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reply {
    status: String,
    #[serde(default, deserialize_with = "present")]
    request_uuid: Option<String>,
    #[serde(default, deserialize_with = "present")]
    transaction_uuid: Option<String>,
    #[serde(default, deserialize_with = "present")]
    user: Option<String>,
    #[serde(default, deserialize_with = "present")]
    currency: Option<String>,
    #[serde(default, deserialize_with = "present")]
    balance: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    amount: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    state: Option<String>,
}

/// A field that is present must hold a `T` (not `null`); absence is the
/// `default`.
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// The optional fields an operation's reply may carry (`status` and
/// `request_uuid` always).
#[derive(Clone, Copy)]
struct Fields {
    transaction_uuid: bool,
    user: bool,
    currency: bool,
    balance: bool,
    amount: bool,
    state: bool,
}

const TRANSFER_FIELDS: Fields = Fields {
    transaction_uuid: true,
    user: false,
    currency: true,
    balance: true,
    amount: false,
    state: false,
};

const ROLLBACK_FIELDS: Fields = Fields {
    transaction_uuid: true,
    user: false,
    // Not in the spec's rollback reply; tolerated (and then checked) since
    // it is what the balance would be counted in.
    currency: true,
    balance: true,
    amount: false,
    state: false,
};

const BALANCE_FIELDS: Fields = Fields {
    transaction_uuid: false,
    user: true,
    currency: true,
    balance: true,
    amount: false,
    state: false,
};

const LOOKUP_FIELDS: Fields = Fields {
    transaction_uuid: true,
    user: false,
    currency: true,
    balance: false,
    amount: true,
    state: true,
};

impl Reply {
    fn check_fields(&self, allowed: Fields) -> Result<(), MalformedReply> {
        let present = [
            (
                "transaction_uuid",
                self.transaction_uuid.is_some(),
                allowed.transaction_uuid,
            ),
            ("user", self.user.is_some(), allowed.user),
            ("currency", self.currency.is_some(), allowed.currency),
            ("balance", self.balance.is_some(), allowed.balance),
            ("amount", self.amount.is_some(), allowed.amount),
            ("state", self.state.is_some(), allowed.state),
        ];
        match present.iter().find(|(_, is, may)| *is && !*may) {
            Some((name, _, _)) => Err(MalformedReply::UnexpectedField(name)),
            None => Ok(()),
        }
    }

    /// A present `transaction_uuid` must be `ours`; `required` makes absence
    /// malformed too.
    fn check_transaction_uuid(&self, ours: &str, required: bool) -> Result<(), MalformedReply> {
        match self.transaction_uuid.as_deref() {
            Some(theirs) if theirs == ours => Ok(()),
            Some(_) => Err(MalformedReply::TransactionUuidMismatch),
            None if required => Err(MalformedReply::MissingField("transaction_uuid")),
            None => Ok(()),
        }
    }
}

/// The dialect's status strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RsStatus {
    Ok,
    NotEnoughMoney,
    UserDisabled,
    LimitReached,
    WrongCurrency,
    UnknownUser,
    DuplicateTransaction,
    TransactionDoesNotExist,
    TransactionRolledBack,
    NotReversible,
    InvalidSignature,
    Unknown,
}

const RS_ERROR_INVALID_SIGNATURE: &str = "RS_ERROR_INVALID_SIGNATURE";

impl RsStatus {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "RS_OK" => Self::Ok,
            "RS_ERROR_NOT_ENOUGH_MONEY" => Self::NotEnoughMoney,
            "RS_ERROR_USER_DISABLED" => Self::UserDisabled,
            "RS_ERROR_LIMIT_REACHED" => Self::LimitReached,
            "RS_ERROR_WRONG_CURRENCY" => Self::WrongCurrency,
            "RS_ERROR_UNKNOWN_USER" => Self::UnknownUser,
            "RS_ERROR_DUPLICATE_TRANSACTION" => Self::DuplicateTransaction,
            "RS_ERROR_TRANSACTION_DOES_NOT_EXIST" => Self::TransactionDoesNotExist,
            "RS_ERROR_TRANSACTION_ROLLED_BACK" => Self::TransactionRolledBack,
            "RS_ERROR_NOT_REVERSIBLE" => Self::NotReversible,
            RS_ERROR_INVALID_SIGNATURE => Self::InvalidSignature,
            "RS_ERROR_UNKNOWN" => Self::Unknown,
            _ => return None,
        })
    }

    /// The decline a money movement maps this status to, if it is one.
    fn movement_decline(self) -> Option<DeclineReason> {
        Some(match self {
            Self::NotEnoughMoney => DeclineReason::InsufficientFunds,
            Self::UserDisabled => DeclineReason::AccountBlocked,
            Self::LimitReached => DeclineReason::LimitExceeded,
            Self::WrongCurrency => DeclineReason::WrongCurrency,
            Self::UnknownUser => DeclineReason::UnknownAccount,
            Self::DuplicateTransaction => DeclineReason::DuplicateTransaction,
            Self::TransactionRolledBack => DeclineReason::AlreadyRolledBack,
            _ => return None,
        })
    }
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

/// A reply that passed steps 1 to 4 of the module docs: from the provider,
/// for this call, of the operation's shape.
struct Opened {
    reply: Reply,
    status: RsStatus,
}

/// Steps 1 to 4 of the module docs, and the status string.
fn open(
    reply: &WireReply<'_>,
    request_uuid: &RequestUuid,
    verifier: &Verifier,
    fields: Fields,
) -> Result<Opened, AdapterError> {
    if reply.status != 200 {
        return Err(AdapterError::HttpStatus {
            status: reply.status,
        });
    }
    verifier
        .verify(reply.body, reply.signature)
        .map_err(|_| AdapterError::BadSignature)?;
    let parsed: Reply = parse_object(reply.body).map_err(malformed)?;
    parsed.check_fields(fields).map_err(malformed)?;
    let status = RsStatus::parse(&parsed.status);
    match parsed.request_uuid.as_deref() {
        Some(echoed) if echoed == request_uuid.as_str() => {}
        // A provider refuses an unauthenticated request without reading
        // it, so it cannot echo anything (see the module docs).
        None if status == Some(RsStatus::InvalidSignature) => {}
        _ => return Err(malformed(MalformedReply::RequestUuidMismatch)),
    }
    let status =
        status.ok_or_else(|| malformed(MalformedReply::UnexpectedStatus(cut(&parsed.status))))?;
    Ok(Opened {
        reply: parsed,
        status,
    })
}

fn unexpected_status(reply: &Reply) -> AdapterError {
    malformed(MalformedReply::UnexpectedStatus(cut(&reply.status)))
}

fn rejected() -> AdapterError {
    AdapterError::Rejected {
        code: RS_ERROR_INVALID_SIGNATURE,
    }
}

fn required<T: Copy>(value: Option<T>, name: &'static str) -> Result<T, MalformedReply> {
    value.ok_or(MalformedReply::MissingField(name))
}

/// A balance in 1e-5 units as money of `currency`: >= 0 and exact.
fn balance_money(units: i64, currency: Currency) -> Result<Money, MalformedReply> {
    if units < 0 {
        return Err(MalformedReply::NegativeBalance);
    }
    units::from_wire(units, currency).map_err(MalformedReply::Units)
}

/// Classifies the provider's reply to a bet or win sent with `request_uuid`
/// (see the module docs for the table). Never panics, whatever the reply
/// holds.
pub fn classify_transfer(
    req: &MoneyRequest,
    request_uuid: &RequestUuid,
    reply: &WireReply<'_>,
    verifier: &Verifier,
) -> Outcome {
    let Opened { reply, status } = match open(reply, request_uuid, verifier, TRANSFER_FIELDS) {
        Ok(opened) => opened,
        Err(error) => return Outcome::Unknown(error),
    };
    if let Err(e) = reply.check_transaction_uuid(req.tx_id.as_str(), status == RsStatus::Ok) {
        return Outcome::Unknown(malformed(e));
    }
    if let Some(reason) = status.movement_decline() {
        return Outcome::Declined(reason);
    }
    match status {
        RsStatus::Ok => match settled_transfer(req, &reply) {
            Ok(settlement) => Outcome::Settled(settlement),
            Err(e) => Outcome::Unknown(malformed(e)),
        },
        RsStatus::InvalidSignature => Outcome::NotProcessed(rejected()),
        RsStatus::Unknown => Outcome::Unknown(provider_trouble()),
        _ => Outcome::Unknown(unexpected_status(&reply)),
    }
}

fn settled_transfer(req: &MoneyRequest, reply: &Reply) -> Result<Settlement, MalformedReply> {
    let currency = reply
        .currency
        .as_deref()
        .ok_or(MalformedReply::MissingField("currency"))?;
    if currency != req.amount.currency.code() {
        return Err(MalformedReply::CurrencyMismatch);
    }
    let balance = balance_money(required(reply.balance, "balance")?, req.amount.currency)?;
    // A win of X leaves at least X on an account that cannot go negative.
    if req.direction == Direction::Credit && balance.minor_units < req.amount.minor_units {
        return Err(MalformedReply::ImplausibleBalance);
    }
    Ok(Settlement {
        balance_after: Some(balance),
        provider_ref: None,
    })
}

/// Classifies the provider's reply to a rollback sent with `request_uuid`
/// (see the module docs for the table). Never panics, whatever the reply
/// holds.
pub fn classify_rollback(
    req: &RollbackRequest,
    request_uuid: &RequestUuid,
    reply: &WireReply<'_>,
    verifier: &Verifier,
) -> Outcome {
    let Opened { reply, status } = match open(reply, request_uuid, verifier, ROLLBACK_FIELDS) {
        Ok(opened) => opened,
        Err(error) => return Outcome::Unknown(error),
    };
    match status {
        RsStatus::Ok => match settled_rollback(req, &reply) {
            Ok(settlement) => Outcome::Settled(settlement),
            Err(e) => Outcome::Unknown(malformed(e)),
        },
        RsStatus::TransactionDoesNotExist | RsStatus::TransactionRolledBack => {
            Outcome::Unknown(unexpected_status(&reply))
        }
        _ => {
            if let Err(e) = reply.check_transaction_uuid(req.tx_id.as_str(), false) {
                return Outcome::Unknown(malformed(e));
            }
            match status {
                RsStatus::NotReversible => Outcome::Declined(DeclineReason::NotReversible),
                RsStatus::InvalidSignature => Outcome::NotProcessed(rejected()),
                RsStatus::Unknown => Outcome::Unknown(provider_trouble()),
                other => match other.movement_decline() {
                    Some(reason) => Outcome::Declined(reason),
                    None => Outcome::Unknown(unexpected_status(&reply)),
                },
            }
        }
    }
}

fn settled_rollback(req: &RollbackRequest, reply: &Reply) -> Result<Settlement, MalformedReply> {
    let tx_id = reply
        .transaction_uuid
        .as_deref()
        .ok_or(MalformedReply::MissingField("transaction_uuid"))?;
    if tx_id.is_empty() {
        return Err(MalformedReply::EmptyTransactionUuid);
    }
    // The currency the balance is counted in: the debit's, as the hub knows
    // it, or the reply's own; the two must agree when both are given.
    let currency = match (req.amount, reply.currency.as_deref()) {
        (Some(amount), Some(code)) if code != amount.currency.code() => {
            return Err(MalformedReply::CurrencyMismatch);
        }
        (Some(amount), _) => Some(amount.currency),
        (None, Some(code)) => {
            Some(Currency::from_code(code).map_err(|_| MalformedReply::UnknownCurrency)?)
        }
        (None, None) => None,
    };
    // No balance: the tombstone answer for a bet the provider never saw
    // (the request names no user, so there is no balance to tell).
    let balance = match (reply.balance, currency) {
        (Some(units), Some(currency)) => Some(balance_money(units, currency)?),
        (Some(units), None) if units < 0 => return Err(MalformedReply::NegativeBalance),
        _ => None,
    };
    // Another rollback id: the spec replays the first rollback of this
    // debit. The debit is reversed, but that reply's balance is not ours.
    if tx_id != req.tx_id.as_str() {
        return Ok(Settlement::default());
    }
    Ok(Settlement {
        balance_after: balance,
        provider_ref: None,
    })
}

/// Classifies the provider's reply to a balance query sent with
/// `request_uuid` (see the module docs). Never panics, whatever the reply
/// holds.
pub fn classify_balance(
    req: &BalanceRequest,
    request_uuid: &RequestUuid,
    reply: &WireReply<'_>,
    verifier: &Verifier,
) -> Result<Money, AdapterError> {
    let Opened { reply, status } = open(reply, request_uuid, verifier, BALANCE_FIELDS)?;
    match reply.user.as_deref() {
        Some(user) if user != req.account.as_str() => {
            return Err(malformed(MalformedReply::UserMismatch));
        }
        None if status == RsStatus::Ok => {
            return Err(malformed(MalformedReply::MissingField("user")));
        }
        _ => {}
    }
    match status {
        RsStatus::Ok => {
            let currency = reply
                .currency
                .as_deref()
                .ok_or_else(|| malformed(MalformedReply::MissingField("currency")))?;
            if currency != req.currency.code() {
                return Err(malformed(MalformedReply::CurrencyMismatch));
            }
            let units = required(reply.balance, "balance").map_err(malformed)?;
            balance_money(units, req.currency).map_err(malformed)
        }
        RsStatus::UnknownUser => Err(AdapterError::Declined(DeclineReason::UnknownAccount)),
        RsStatus::UserDisabled => Err(AdapterError::Declined(DeclineReason::AccountBlocked)),
        RsStatus::WrongCurrency => Err(AdapterError::Declined(DeclineReason::WrongCurrency)),
        RsStatus::InvalidSignature => Err(rejected()),
        RsStatus::Unknown => Err(provider_trouble()),
        _ => Err(unexpected_status(&reply)),
    }
}

/// Classifies the provider's reply to a lookup sent with `request_uuid`
/// (see the module docs for the table). Never panics, whatever the reply
/// holds.
pub fn classify_status(
    req: &StatusRequest,
    request_uuid: &RequestUuid,
    reply: &WireReply<'_>,
    verifier: &Verifier,
) -> TxStatus {
    if req.kind == TxKind::Rollback {
        return TxStatus::Unknown(AdapterError::Unsupported);
    }
    match lookup(req, request_uuid, reply, verifier) {
        Ok(status) => status,
        Err(error) => TxStatus::Unknown(error),
    }
}

fn lookup(
    req: &StatusRequest,
    request_uuid: &RequestUuid,
    reply: &WireReply<'_>,
    verifier: &Verifier,
) -> Result<TxStatus, AdapterError> {
    let Opened { reply, status } = open(reply, request_uuid, verifier, LOOKUP_FIELDS)?;
    reply
        .check_transaction_uuid(req.tx_id.as_str(), status == RsStatus::Ok)
        .map_err(malformed)?;
    match status {
        RsStatus::Ok => {}
        RsStatus::TransactionDoesNotExist => return Ok(TxStatus::NotFound),
        RsStatus::InvalidSignature => return Err(rejected()),
        RsStatus::Unknown => return Err(provider_trouble()),
        _ => return Err(unexpected_status(&reply)),
    }
    check_record_amount(req, &reply).map_err(malformed)?;
    let state = reply
        .state
        .as_deref()
        .ok_or_else(|| malformed(MalformedReply::MissingField("state")))?;
    match state {
        "TS_SUCCESS" => Ok(TxStatus::Applied(Settlement::default())),
        "TS_ROLLED_BACK" => Ok(TxStatus::RolledBack),
        "TS_DECLINED" => Ok(TxStatus::Declined(DeclineReason::Other)),
        other => Err(malformed(MalformedReply::UnexpectedState(cut(other)))),
    }
}

/// A lookup record's `amount` and `currency` must be positive money that
/// converts exactly; when the hub knows the amount, exactly that money.
fn check_record_amount(req: &StatusRequest, reply: &Reply) -> Result<(), MalformedReply> {
    let code = reply
        .currency
        .as_deref()
        .ok_or(MalformedReply::MissingField("currency"))?;
    let units = required(reply.amount, "amount")?;
    let currency = Currency::from_code(code).map_err(|_| MalformedReply::UnknownCurrency)?;
    let money = units::from_wire(units, currency).map_err(MalformedReply::Units)?;
    if money.minor_units <= 0 {
        return Err(MalformedReply::NonPositiveAmount);
    }
    match req.amount {
        Some(ours) if ours != money => Err(MalformedReply::AmountMismatch),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
