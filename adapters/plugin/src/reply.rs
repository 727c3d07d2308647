//! The bridge as pure functions: canonical requests to `adapter.v1`
//! messages, and a plugin's answers (or the failure to get one) to canonical
//! outcomes.
//!
//! Nothing here does I/O, so every rule is unit-tested and fuzzed
//! (`fuzz/`). A plugin is untrusted like a provider: any answer out of the
//! contract written in `proto/adapter/v1/adapter.proto` is `Unknown` for a
//! money movement (never `Settled`, `Declined` or `NotProcessed`), and an
//! error for a query.
//!
//! # Money movements ([`transfer`], [`rollback`])
//!
//! | the plugin's answer | outcome |
//! |---|---|
//! | no connection could be made ([`CallError::Unreachable`]) | `NotProcessed(Connect)` |
//! | gRPC `UNAUTHENTICATED` (the contract: refused before acting) | `NotProcessed(Rejected)` |
//! | any other gRPC status, an undecodable or oversized reply, a reset | `Unknown(Transport)` |
//! | `transaction_id` other than the request's | `Unknown(Malformed)` |
//! | `OUTCOME_SETTLED`, no decline reason, no error, `balance_after` unset or in the request's currency (a rollback without an amount: unset), `provider_reference` empty or at most 128 bytes without control characters | `Settled` |
//! | `OUTCOME_DECLINED` with a known reason, nothing else set | `Declined(reason)` |
//! | `OUTCOME_NOT_PROCESSED` with an error of kind `CONNECT`, `REJECTED` or `UNREPRESENTABLE`, nothing else set | `NotProcessed` of that error |
//! | `OUTCOME_UNKNOWN` | `Unknown` of the plugin's error (`Transport` without one) |
//! | anything else: an unknown or unspecified outcome or enum value, a missing or extra field | `Unknown(Malformed)` |
//!
//! # Queries ([`balance`], [`status`])
//!
//! A query moves no money, so every failure is an error (`Err` for a
//! balance, `TxStatus::Unknown` for a status) and only says why. A balance
//! must be in the requested currency; a status must echo the id, and
//! `ROLLED_BACK` is an answer only for a debit.

use std::fmt;
use std::time::Duration;

use adapter_api::{
    AdapterError, BalanceRequest, Capabilities, DeclineReason, Descriptor, Direction,
    DuplicateHabit, Money, MoneyRequest, Outcome, RollbackRequest, Settlement, StatusRequest,
    TxKind, TxStatus, UnknownRollbackHabit,
};
use hub_proto::adapter::v1 as pb;

/// The dialect name the bridge publishes in its [`Descriptor`]; the
/// plugin's own name is in [`crate::PluginAdapter::plugin_dialect`].
pub const DIALECT: &str = "plugin";

/// Longest `provider_reference` accepted, in bytes.
pub const MAX_PROVIDER_REF_LEN: usize = 128;

/// Longest part of a plugin's free text (`Error.detail`) kept, in bytes.
pub const MAX_DETAIL_LEN: usize = 256;

/// Shortest and longest `default_timeout` a plugin may describe.
const TIMEOUT_RANGE: (Duration, Duration) = (Duration::from_millis(1), Duration::from_secs(600));

// ----------------------------------------------------------------- requests

fn money(m: &Money) -> pb::Money {
    pb::Money {
        currency_code: m.currency.code().to_owned(),
        minor_units: m.minor_units,
    }
}

/// The `Transfer` request for a debit or credit.
pub fn transfer_request(req: &MoneyRequest) -> pb::TransferRequest {
    pb::TransferRequest {
        direction: match req.direction {
            Direction::Debit => pb::Direction::Debit,
            Direction::Credit => pb::Direction::Credit,
        } as i32,
        transaction_id: req.tx_id.as_str().to_owned(),
        account: req.account.as_str().to_owned(),
        amount: Some(money(&req.amount)),
        reference: req.reference.clone().unwrap_or_default(),
    }
}

/// The `Rollback` request.
pub fn rollback_request(req: &RollbackRequest) -> pb::RollbackRequest {
    pb::RollbackRequest {
        transaction_id: req.tx_id.as_str().to_owned(),
        original_transaction_id: req.original_tx_id.as_str().to_owned(),
        account: req.account.as_str().to_owned(),
        amount: req.amount.as_ref().map(money),
    }
}

/// The `GetBalance` request.
pub fn balance_request(req: &BalanceRequest) -> pb::GetBalanceRequest {
    pb::GetBalanceRequest {
        account: req.account.as_str().to_owned(),
        currency_code: req.currency.code().to_owned(),
    }
}

/// The `GetStatus` request.
pub fn status_request(req: &StatusRequest) -> pb::GetStatusRequest {
    pb::GetStatusRequest {
        transaction_id: req.tx_id.as_str().to_owned(),
        kind: match req.kind {
            TxKind::Debit => pb::TransactionKind::Debit,
            TxKind::Credit => pb::TransactionKind::Credit,
            TxKind::Rollback => pb::TransactionKind::Rollback,
        } as i32,
        account: req.account.as_str().to_owned(),
        amount: req.amount.as_ref().map(money),
    }
}

// ------------------------------------------------------------------ errors

/// Why a call to the plugin produced no reply message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallError {
    /// No connection to the plugin could be made: nothing was sent.
    Unreachable(String),
    /// The plugin answered gRPC `UNAUTHENTICATED`: by contract it refused
    /// the call before doing anything.
    Unauthenticated,
    /// Any other failure: a gRPC status from the plugin (or from the client,
    /// for an undecodable or oversized reply), a reset, a protocol error.
    /// The call may have reached the plugin.
    Failed {
        /// The gRPC status code.
        code: i32,
        /// The status message, cut to printable text.
        message: String,
    },
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Unreachable(reason) => f.write_str(reason),
            CallError::Unauthenticated => f.write_str("the plugin refused our token"),
            CallError::Failed { code, message } => {
                write!(
                    f,
                    "the plugin call failed with gRPC status {code}: {message}"
                )
            }
        }
    }
}

impl std::error::Error for CallError {}

/// An answer that breaks the `adapter.v1` contract. Carried as the source
/// of [`AdapterError::Malformed`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OutOfContract {
    /// The reply names another transaction.
    #[error("the reply names another transaction")]
    TransactionIdMismatch,
    /// An enum field holds a value the contract does not define (or its
    /// `UNSPECIFIED` value where one is required).
    #[error("`{field}` holds {value}, which is not an answer")]
    UnknownValue {
        /// The field.
        field: &'static str,
        /// The value received.
        value: i32,
    },
    /// A field this answer needs is missing.
    #[error("the reply lacks `{0}`")]
    Missing(&'static str),
    /// A field set that this answer must not carry.
    #[error("the reply sets `{0}`, which this answer does not carry")]
    Unexpected(&'static str),
    /// A `NOT_PROCESSED` outcome with an error kind that does not prove
    /// nothing happened.
    #[error("error kind {0} does not prove that nothing happened")]
    NotProvablyUnprocessed(i32),
    /// Money in another currency than the request's.
    #[error("the reply is in another currency")]
    CurrencyMismatch,
    /// A `provider_reference` that is too long or holds control characters.
    #[error("the reply's provider_reference is not acceptable")]
    BadProviderRef,
    /// `ROLLED_BACK` for something other than a debit.
    #[error("only a debit can be rolled back")]
    NotReversible,
    /// A `Describe` answer that does not describe a usable adapter.
    #[error("describe: {0}")]
    Descriptor(&'static str),
}

/// What a plugin reported in an `Error` message. Carried as the source of
/// the [`AdapterError`] it maps to.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the plugin reports: {detail}")]
pub struct PluginReported {
    /// The plugin's detail, cut to [`MAX_DETAIL_LEN`] printable bytes.
    pub detail: String,
}

fn malformed(e: OutOfContract) -> AdapterError {
    AdapterError::Malformed(Box::new(e))
}

/// Keeps at most `max` bytes of `text`, cut on a character boundary, with
/// control characters replaced.
pub fn printable(text: &str, max: usize) -> String {
    let mut kept = String::with_capacity(text.len().min(max));
    for c in text.chars() {
        if kept.len() + c.len_utf8() > max {
            break;
        }
        kept.push(if c.is_control() { '?' } else { c });
    }
    kept
}

fn reported(error: &pb::Error) -> Box<PluginReported> {
    Box::new(PluginReported {
        detail: printable(&error.detail, MAX_DETAIL_LEN),
    })
}

/// The [`AdapterError`] a plugin's `Error` stands for. An error without a
/// known kind is a transport failure (the safe reading).
fn adapter_error(error: &pb::Error) -> AdapterError {
    match pb::ErrorKind::try_from(error.kind) {
        Ok(pb::ErrorKind::Connect) => AdapterError::Connect(reported(error)),
        Ok(pb::ErrorKind::HttpStatus) => match u16::try_from(error.http_status) {
            Ok(status) if (100..600).contains(&status) => AdapterError::HttpStatus { status },
            _ => AdapterError::Transport(reported(error)),
        },
        Ok(pb::ErrorKind::Malformed) => AdapterError::Malformed(reported(error)),
        Ok(pb::ErrorKind::BadSignature) => AdapterError::BadSignature,
        Ok(pb::ErrorKind::Rejected) => AdapterError::Rejected {
            code: "PLUGIN_REJECTED",
        },
        Ok(pb::ErrorKind::Unrepresentable) => AdapterError::Unrepresentable(reported(error)),
        Ok(pb::ErrorKind::Unsupported) => AdapterError::Unsupported,
        Ok(pb::ErrorKind::Transport | pb::ErrorKind::Unspecified) | Err(_) => {
            AdapterError::Transport(reported(error))
        }
    }
}

fn decline_reason(value: i32) -> Result<DeclineReason, OutOfContract> {
    let unknown = OutOfContract::UnknownValue {
        field: "decline_reason",
        value,
    };
    Ok(
        match pb::DeclineReason::try_from(value).map_err(|_| unknown.clone())? {
            pb::DeclineReason::Unspecified => return Err(unknown),
            pb::DeclineReason::InsufficientFunds => DeclineReason::InsufficientFunds,
            pb::DeclineReason::AccountBlocked => DeclineReason::AccountBlocked,
            pb::DeclineReason::LimitExceeded => DeclineReason::LimitExceeded,
            pb::DeclineReason::WrongCurrency => DeclineReason::WrongCurrency,
            pb::DeclineReason::UnknownAccount => DeclineReason::UnknownAccount,
            pb::DeclineReason::DuplicateTransaction => DeclineReason::DuplicateTransaction,
            pb::DeclineReason::AlreadyRolledBack => DeclineReason::AlreadyRolledBack,
            pb::DeclineReason::NotReversible => DeclineReason::NotReversible,
            pb::DeclineReason::Other => DeclineReason::Other,
        },
    )
}

/// What a failed money call is.
fn failed_movement(error: CallError) -> Outcome {
    match error {
        CallError::Unreachable(_) => Outcome::NotProcessed(AdapterError::Connect(Box::new(error))),
        CallError::Unauthenticated => Outcome::NotProcessed(AdapterError::Rejected {
            code: "UNAUTHENTICATED",
        }),
        CallError::Failed { .. } => Outcome::Unknown(AdapterError::Transport(Box::new(error))),
    }
}

/// What a failed query is.
fn failed_query(error: CallError) -> AdapterError {
    match error {
        CallError::Unreachable(_) => AdapterError::Connect(Box::new(error)),
        CallError::Unauthenticated => AdapterError::Rejected {
            code: "UNAUTHENTICATED",
        },
        CallError::Failed { .. } => AdapterError::Transport(Box::new(error)),
    }
}

// ------------------------------------------------------------ movements

/// The fields shared by `TransferResponse` and `RollbackResponse`.
struct Movement {
    transaction_id: String,
    outcome: i32,
    decline_reason: i32,
    balance_after: Option<pb::Money>,
    provider_reference: String,
    error: Option<pb::Error>,
}

impl From<pb::TransferResponse> for Movement {
    fn from(r: pb::TransferResponse) -> Self {
        Self {
            transaction_id: r.transaction_id,
            outcome: r.outcome,
            decline_reason: r.decline_reason,
            balance_after: r.balance_after,
            provider_reference: r.provider_reference,
            error: r.error,
        }
    }
}

impl From<pb::RollbackResponse> for Movement {
    fn from(r: pb::RollbackResponse) -> Self {
        Self {
            transaction_id: r.transaction_id,
            outcome: r.outcome,
            decline_reason: r.decline_reason,
            balance_after: r.balance_after,
            provider_reference: r.provider_reference,
            error: r.error,
        }
    }
}

/// Checks a reported balance against the currency it must be in (`None`:
/// the answer must carry no balance).
fn balance_after(
    reported: Option<pb::Money>,
    currency: Option<adapter_api::Currency>,
) -> Result<Option<Money>, OutOfContract> {
    match (reported, currency) {
        (None, _) => Ok(None),
        (Some(_), None) => Err(OutOfContract::Unexpected("balance_after")),
        (Some(m), Some(currency)) if m.currency_code == currency.code() => {
            Ok(Some(Money::new(currency, m.minor_units)))
        }
        (Some(_), Some(_)) => Err(OutOfContract::CurrencyMismatch),
    }
}

fn provider_ref(text: String) -> Result<Option<String>, OutOfContract> {
    if text.is_empty() {
        return Ok(None);
    }
    if text.len() > MAX_PROVIDER_REF_LEN || text.chars().any(char::is_control) {
        return Err(OutOfContract::BadProviderRef);
    }
    Ok(Some(text))
}

fn only(
    m: &Movement,
    decline: bool,
    balance: bool,
    reference: bool,
    error: bool,
) -> Result<(), OutOfContract> {
    if !decline && m.decline_reason != 0 {
        return Err(OutOfContract::Unexpected("decline_reason"));
    }
    if !balance && m.balance_after.is_some() {
        return Err(OutOfContract::Unexpected("balance_after"));
    }
    if !reference && !m.provider_reference.is_empty() {
        return Err(OutOfContract::Unexpected("provider_reference"));
    }
    if !error && m.error.is_some() {
        return Err(OutOfContract::Unexpected("error"));
    }
    Ok(())
}

/// Classifies a movement's answer; `Err` is the out-of-contract reason.
fn movement(
    tx_id: &str,
    currency: Option<adapter_api::Currency>,
    m: Movement,
) -> Result<Outcome, OutOfContract> {
    if m.transaction_id != tx_id {
        return Err(OutOfContract::TransactionIdMismatch);
    }
    let unknown_outcome = OutOfContract::UnknownValue {
        field: "outcome",
        value: m.outcome,
    };
    match pb::Outcome::try_from(m.outcome).map_err(|_| unknown_outcome.clone())? {
        pb::Outcome::Unspecified => Err(unknown_outcome),
        pb::Outcome::Settled => {
            only(&m, false, true, true, false)?;
            Ok(Outcome::Settled(Settlement {
                balance_after: balance_after(m.balance_after, currency)?,
                provider_ref: provider_ref(m.provider_reference)?,
            }))
        }
        pb::Outcome::Declined => {
            only(&m, true, false, false, false)?;
            Ok(Outcome::Declined(decline_reason(m.decline_reason)?))
        }
        pb::Outcome::NotProcessed => {
            only(&m, false, false, false, true)?;
            let error = m.error.ok_or(OutOfContract::Missing("error"))?;
            match pb::ErrorKind::try_from(error.kind) {
                Ok(
                    pb::ErrorKind::Connect
                    | pb::ErrorKind::Rejected
                    | pb::ErrorKind::Unrepresentable,
                ) => Ok(Outcome::NotProcessed(adapter_error(&error))),
                _ => Err(OutOfContract::NotProvablyUnprocessed(error.kind)),
            }
        }
        pb::Outcome::Unknown => Ok(Outcome::Unknown(match &m.error {
            Some(error) => adapter_error(error),
            None => AdapterError::Transport(Box::new(PluginReported {
                detail: "outcome unknown".into(),
            })),
        })),
    }
}

/// Classifies the plugin's answer to a debit or credit (see the module docs
/// for the table). Never panics, whatever the answer holds.
pub fn transfer(req: &MoneyRequest, reply: Result<pb::TransferResponse, CallError>) -> Outcome {
    match reply {
        Ok(r) => movement(req.tx_id.as_str(), Some(req.amount.currency), r.into())
            .unwrap_or_else(|e| Outcome::Unknown(malformed(e))),
        Err(error) => failed_movement(error),
    }
}

/// Classifies the plugin's answer to a rollback (see the module docs for the
/// table). Never panics, whatever the answer holds.
pub fn rollback(req: &RollbackRequest, reply: Result<pb::RollbackResponse, CallError>) -> Outcome {
    match reply {
        Ok(r) => movement(req.tx_id.as_str(), req.amount.map(|a| a.currency), r.into())
            .unwrap_or_else(|e| Outcome::Unknown(malformed(e))),
        Err(error) => failed_movement(error),
    }
}

// ------------------------------------------------------------------ queries

/// Classifies the plugin's answer to a balance query. Never panics,
/// whatever the answer holds.
pub fn balance(
    req: &BalanceRequest,
    reply: Result<pb::GetBalanceResponse, CallError>,
) -> Result<Money, AdapterError> {
    let reply = reply.map_err(failed_query)?;
    match reply.result {
        None => Err(malformed(OutOfContract::Missing("result"))),
        Some(pb::get_balance_response::Result::Balance(m)) => {
            if m.currency_code != req.currency.code() {
                return Err(malformed(OutOfContract::CurrencyMismatch));
            }
            Ok(Money::new(req.currency, m.minor_units))
        }
        Some(pb::get_balance_response::Result::DeclineReason(value)) => Err(
            AdapterError::Declined(decline_reason(value).map_err(malformed)?),
        ),
        Some(pb::get_balance_response::Result::Error(error)) => Err(adapter_error(&error)),
    }
}

/// Classifies the plugin's answer to a status query. Never panics, whatever
/// the answer holds.
pub fn status(req: &StatusRequest, reply: Result<pb::GetStatusResponse, CallError>) -> TxStatus {
    match reply {
        Ok(r) => status_record(req, r).unwrap_or_else(|e| TxStatus::Unknown(malformed(e))),
        Err(error) => TxStatus::Unknown(failed_query(error)),
    }
}

fn status_record(req: &StatusRequest, r: pb::GetStatusResponse) -> Result<TxStatus, OutOfContract> {
    if r.transaction_id != req.tx_id.as_str() {
        return Err(OutOfContract::TransactionIdMismatch);
    }
    let m = Movement {
        transaction_id: r.transaction_id,
        outcome: 0,
        decline_reason: r.decline_reason,
        balance_after: r.balance_after,
        provider_reference: r.provider_reference,
        error: r.error,
    };
    let unknown_status = OutOfContract::UnknownValue {
        field: "status",
        value: r.status,
    };
    match pb::TransactionStatus::try_from(r.status).map_err(|_| unknown_status.clone())? {
        pb::TransactionStatus::Unspecified => Err(unknown_status),
        pb::TransactionStatus::Applied => {
            only(&m, false, true, true, false)?;
            Ok(TxStatus::Applied(Settlement {
                balance_after: balance_after(m.balance_after, req.amount.map(|a| a.currency))?,
                provider_ref: provider_ref(m.provider_reference)?,
            }))
        }
        pb::TransactionStatus::RolledBack => {
            only(&m, false, false, false, false)?;
            if req.kind != TxKind::Debit {
                return Err(OutOfContract::NotReversible);
            }
            Ok(TxStatus::RolledBack)
        }
        pb::TransactionStatus::Declined => {
            only(&m, true, false, false, false)?;
            Ok(TxStatus::Declined(decline_reason(m.decline_reason)?))
        }
        pb::TransactionStatus::NotFound => {
            only(&m, false, false, false, false)?;
            Ok(TxStatus::NotFound)
        }
        pb::TransactionStatus::Unknown => Ok(TxStatus::Unknown(match &m.error {
            Some(error) => adapter_error(error),
            None => AdapterError::Transport(Box::new(PluginReported {
                detail: "status unknown".into(),
            })),
        })),
    }
}

// ----------------------------------------------------------------- describe

/// What a plugin says about itself, checked against the contract.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Described {
    /// The bridge's descriptor for this plugin (dialect [`DIALECT`]).
    pub descriptor: Descriptor,
    /// The plugin's own dialect name.
    pub plugin_dialect: String,
}

/// Checks a `Describe` answer. Never panics, whatever it holds.
pub fn describe(r: pb::DescribeResponse) -> Result<Described, OutOfContract> {
    let name_ok = !r.dialect.is_empty()
        && r.dialect.len() <= 64
        && r.dialect
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if !name_ok {
        return Err(OutOfContract::Descriptor(
            "dialect must be 1 to 64 characters of [a-z0-9._-]",
        ));
    }
    let duplicates = match pb::DuplicateHabit::try_from(r.duplicates) {
        Ok(pb::DuplicateHabit::ReplaysOriginal) => DuplicateHabit::ReplaysOriginal,
        Ok(pb::DuplicateHabit::ReplaysSameRefusesDifferent) => {
            DuplicateHabit::ReplaysSameRefusesDifferent
        }
        _ => return Err(OutOfContract::Descriptor("duplicates is not a known habit")),
    };
    let rollback_of_unknown = match pb::UnknownRollbackHabit::try_from(r.rollback_of_unknown) {
        Ok(pb::UnknownRollbackHabit::NotFoundError) => UnknownRollbackHabit::NotFoundError,
        Ok(pb::UnknownRollbackHabit::AcknowledgesWithTombstone) => {
            UnknownRollbackHabit::AcknowledgesWithTombstone
        }
        _ => {
            return Err(OutOfContract::Descriptor(
                "rollback_of_unknown is not a known habit",
            ));
        }
    };
    let default_timeout = r
        .default_timeout
        // Only the normalized form the protobuf spec defines.
        .filter(|d| d.seconds >= 0 && (0..1_000_000_000).contains(&d.nanos))
        .and_then(|d| Duration::try_from(d).ok())
        .filter(|d| (TIMEOUT_RANGE.0..=TIMEOUT_RANGE.1).contains(d))
        .ok_or(OutOfContract::Descriptor(
            "default_timeout must be between 1 millisecond and 10 minutes",
        ))?;
    Ok(Described {
        descriptor: Descriptor {
            dialect: DIALECT,
            capabilities: Capabilities {
                balance: r.balance,
                status: r.status,
            },
            duplicates,
            rollback_of_unknown,
            default_timeout,
        },
        plugin_dialect: r.dialect,
    })
}

#[cfg(test)]
mod tests;
