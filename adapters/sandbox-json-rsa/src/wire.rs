//! The json-rsa wire format as this provider defines it: endpoints, request
//! bodies, reply bodies (field order as in the spec) and status strings.
//!
//! Written from `providers/json-rsa.md` alone; nothing here is shared with
//! the hub's adapter, so a misreading of the spec shows up as a disagreement
//! between the two instead of passing silently on both sides.
//!
//! Amounts and balances are integers of 1e-5 of the currency unit
//! (EUR 12.50 is `1250000`). This provider accepts any strictly positive
//! integer amount: it keeps its books in those units and has no notion of
//! the caller's minor units.

use bytes::Bytes;
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize};

/// The dialect's endpoints, all `POST` with a JSON body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST /api/user/balance`.
    Balance,
    /// `POST /api/transaction/bet`: a debit.
    Bet,
    /// `POST /api/transaction/win`: a credit.
    Win,
    /// `POST /api/transaction/rollback`: reversal of a bet.
    Rollback,
    /// `POST /api/transaction/lookup`: where a transaction stands.
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

    /// The endpoint's path.
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Balance => "/api/user/balance",
            Endpoint::Bet => "/api/transaction/bet",
            Endpoint::Win => "/api/transaction/win",
            Endpoint::Rollback => "/api/transaction/rollback",
            Endpoint::Lookup => "/api/transaction/lookup",
        }
    }

    /// The endpoint served at `path`, if any.
    pub fn from_path(path: &str) -> Option<Endpoint> {
        Endpoint::ALL.into_iter().find(|e| e.path() == path)
    }

    /// Whether requests to it move money (bet, win, rollback).
    pub fn moves_money(self) -> bool {
        matches!(self, Endpoint::Bet | Endpoint::Win | Endpoint::Rollback)
    }
}

/// Every `status` string this provider answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Status {
    /// Done (or, for a replay, done before).
    #[serde(rename = "RS_OK")]
    Ok,
    /// The balance is too low for the bet.
    #[serde(rename = "RS_ERROR_NOT_ENOUGH_MONEY")]
    NotEnoughMoney,
    /// The user may not bet or win.
    #[serde(rename = "RS_ERROR_USER_DISABLED")]
    UserDisabled,
    /// A per-transaction limit, or the balance ceiling (a balance that would
    /// not fit in an `i64`).
    #[serde(rename = "RS_ERROR_LIMIT_REACHED")]
    LimitReached,
    /// The user holds another currency.
    #[serde(rename = "RS_ERROR_WRONG_CURRENCY")]
    WrongCurrency,
    /// No such user.
    #[serde(rename = "RS_ERROR_UNKNOWN_USER")]
    UnknownUser,
    /// The `transaction_uuid` was used before with other parameters.
    #[serde(rename = "RS_ERROR_DUPLICATE_TRANSACTION")]
    DuplicateTransaction,
    /// Lookup of a transaction this provider never made.
    #[serde(rename = "RS_ERROR_TRANSACTION_DOES_NOT_EXIST")]
    TransactionDoesNotExist,
    /// A bet or win whose `transaction_uuid` was rolled back.
    #[serde(rename = "RS_ERROR_TRANSACTION_ROLLED_BACK")]
    TransactionRolledBack,
    /// Rollback of something other than a bet.
    #[serde(rename = "RS_ERROR_NOT_REVERSIBLE")]
    NotReversible,
    /// `X-Signature` missing or not the operator's signature of the body.
    #[serde(rename = "RS_ERROR_INVALID_SIGNATURE")]
    InvalidSignature,
    /// Provider trouble, or a request it cannot read.
    #[serde(rename = "RS_ERROR_UNKNOWN")]
    Unknown,
}

impl Status {
    /// The status string, e.g. `"RS_ERROR_NOT_ENOUGH_MONEY"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "RS_OK",
            Status::NotEnoughMoney => "RS_ERROR_NOT_ENOUGH_MONEY",
            Status::UserDisabled => "RS_ERROR_USER_DISABLED",
            Status::LimitReached => "RS_ERROR_LIMIT_REACHED",
            Status::WrongCurrency => "RS_ERROR_WRONG_CURRENCY",
            Status::UnknownUser => "RS_ERROR_UNKNOWN_USER",
            Status::DuplicateTransaction => "RS_ERROR_DUPLICATE_TRANSACTION",
            Status::TransactionDoesNotExist => "RS_ERROR_TRANSACTION_DOES_NOT_EXIST",
            Status::TransactionRolledBack => "RS_ERROR_TRANSACTION_ROLLED_BACK",
            Status::NotReversible => "RS_ERROR_NOT_REVERSIBLE",
            Status::InvalidSignature => "RS_ERROR_INVALID_SIGNATURE",
            Status::Unknown => "RS_ERROR_UNKNOWN",
        }
    }
}

/// A strictly positive amount in 1e-5 of the currency unit. Zero, negative,
/// fractional, quoted or out-of-range amounts do not deserialize.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Amount(i64);

impl Amount {
    /// The amount if it is strictly positive.
    pub fn new(units: i64) -> Option<Self> {
        (units > 0).then_some(Self(units))
    }

    /// The amount in 1e-5 units, always > 0.
    pub fn get(self) -> i64 {
        self.0
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = i64::deserialize(deserializer)?;
        Amount::new(value).ok_or_else(|| D::Error::custom("amount must be a positive integer"))
    }
}

fn non_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let value = String::deserialize(deserializer)?;
    if value.is_empty() {
        return Err(D::Error::custom("must not be empty"));
    }
    Ok(value)
}

/// `POST /api/user/balance` body.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BalanceRequest {
    /// Unique per HTTP call; echoed back.
    #[serde(deserialize_with = "non_empty")]
    pub request_uuid: String,
    /// The user (account) id.
    #[serde(deserialize_with = "non_empty")]
    pub user: String,
    /// ISO 4217 code the caller expects the user to hold.
    #[serde(deserialize_with = "non_empty")]
    pub currency: String,
}

/// `POST /api/transaction/bet` and `POST /api/transaction/win` body.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TransferRequest {
    /// Unique per HTTP call; echoed back.
    #[serde(deserialize_with = "non_empty")]
    pub request_uuid: String,
    /// The business id, stable across retries; the idempotency key.
    #[serde(deserialize_with = "non_empty")]
    pub transaction_uuid: String,
    /// The user (account) id.
    #[serde(deserialize_with = "non_empty")]
    pub user: String,
    /// ISO 4217 code; must be the user's currency.
    #[serde(deserialize_with = "non_empty")]
    pub currency: String,
    /// Amount in 1e-5 units.
    pub amount: Amount,
    /// Round (game) reference; part of the parameters a retry must repeat.
    /// Absent and `null` are the same.
    #[serde(default)]
    pub round: Option<String>,
}

/// `POST /api/transaction/rollback` body.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RollbackRequest {
    /// Unique per HTTP call; echoed back.
    #[serde(deserialize_with = "non_empty")]
    pub request_uuid: String,
    /// The rollback's own business id.
    #[serde(deserialize_with = "non_empty")]
    pub transaction_uuid: String,
    /// The bet it reverses.
    #[serde(deserialize_with = "non_empty")]
    pub reference_transaction_uuid: String,
}

/// `POST /api/transaction/lookup` body.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LookupRequest {
    /// Unique per HTTP call; echoed back.
    #[serde(deserialize_with = "non_empty")]
    pub request_uuid: String,
    /// The transaction asked about.
    #[serde(deserialize_with = "non_empty")]
    pub transaction_uuid: String,
}

/// A request body this provider cannot read: not a JSON object, a field
/// missing, empty or mistyped, an amount that is not a positive integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed request body")]
pub struct Malformed;

/// Parses a request body: a JSON object (not an array, which serde would
/// otherwise accept for a struct) with every required field well typed.
/// Unknown fields are ignored.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Malformed> {
    let starts_as_object = body
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{');
    if !starts_as_object {
        return Err(Malformed);
    }
    serde_json::from_slice(body).map_err(|_| Malformed)
}

/// Reads `transaction_uuid` from a body if it has one, whatever else is
/// wrong with it (signature unchecked). Used only to count requests.
pub fn peek_transaction_uuid(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Peek {
        transaction_uuid: Option<String>,
    }
    serde_json::from_slice::<Peek>(body).ok()?.transaction_uuid
}

/// Lookup `state` of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TxStateName {
    /// Applied: the money moved.
    #[serde(rename = "TS_SUCCESS")]
    Success,
    /// A bet that moved money and was then rolled back.
    #[serde(rename = "TS_ROLLED_BACK")]
    RolledBack,
    /// Refused; nothing moved.
    #[serde(rename = "TS_DECLINED")]
    Declined,
}

/// `RS_OK` reply to a balance query.
#[derive(Debug, Serialize)]
pub(crate) struct BalanceReply<'a> {
    pub request_uuid: &'a str,
    pub user: &'a str,
    pub currency: &'a str,
    pub balance: i64,
    pub status: Status,
}

/// `RS_OK` reply to a bet or win.
#[derive(Debug, Serialize)]
pub(crate) struct TransferReply<'a> {
    pub request_uuid: &'a str,
    pub transaction_uuid: &'a str,
    pub balance: i64,
    pub currency: &'a str,
    pub status: Status,
}

/// `RS_OK` reply to a rollback.
#[derive(Debug, Serialize)]
pub(crate) struct RollbackReply<'a> {
    pub request_uuid: &'a str,
    pub transaction_uuid: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balance: Option<i64>,
    pub status: Status,
}

/// `RS_OK` reply to a lookup.
#[derive(Debug, Serialize)]
pub(crate) struct LookupReply<'a> {
    pub request_uuid: &'a str,
    pub transaction_uuid: &'a str,
    pub state: TxStateName,
    pub amount: i64,
    pub currency: &'a str,
    pub status: Status,
}

/// Any other reply: the ids the request carried (when it could be read)
/// and the status.
#[derive(Debug, Serialize)]
pub(crate) struct ErrorReply<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_uuid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_uuid: Option<&'a str>,
    pub status: Status,
}

/// JSON text of a reply body. The reply structs hold only strings,
/// integers and enums, so this cannot fail in practice; should it, the
/// answer is the catch-all status rather than a panic.
pub(crate) fn encode<T: Serialize>(body: &T) -> Bytes {
    match serde_json::to_vec(body) {
        Ok(bytes) => Bytes::from(bytes),
        Err(_) => Bytes::from_static(br#"{"status":"RS_ERROR_UNKNOWN"}"#),
    }
}

/// The bare `{"status":"..."}` body.
pub(crate) fn bare(status: Status) -> Bytes {
    encode(&ErrorReply {
        request_uuid: None,
        transaction_uuid: None,
        status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bet(amount: &str) -> String {
        format!(
            r#"{{"request_uuid":"q","transaction_uuid":"t","user":"u","currency":"EUR","amount":{amount},"round":"r"}}"#
        )
    }

    #[test]
    fn amount_must_be_a_positive_integer() {
        for amount in ["0", "-5", "2.5", "\"250\"", "9223372036854775808", "null"] {
            assert_eq!(
                parse::<TransferRequest>(bet(amount).as_bytes()),
                Err(Malformed),
                "{amount}"
            );
        }
        let ok: TransferRequest = parse(bet("1").as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ok.amount.get(), 1);
        assert_eq!(ok.round.as_deref(), Some("r"));
    }

    #[test]
    fn arrays_empty_ids_missing_and_duplicate_fields_are_malformed() {
        assert!(parse::<LookupRequest>(br#"["q","t"]"#).is_err());
        assert!(parse::<LookupRequest>(br#"{"request_uuid":"q","transaction_uuid":""}"#).is_err());
        assert!(parse::<LookupRequest>(br#"{"request_uuid":"q"}"#).is_err());
        assert!(
            parse::<LookupRequest>(
                br#"{"request_uuid":"q","transaction_uuid":"a","transaction_uuid":"b"}"#
            )
            .is_err()
        );
        assert!(parse::<LookupRequest>(b"").is_err());
        assert!(
            parse::<LookupRequest>(br#" {"request_uuid":"q","transaction_uuid":"a","x":1}"#)
                .is_ok()
        );
    }

    #[test]
    fn round_may_be_absent_or_null() {
        let body = br#"{"request_uuid":"q","transaction_uuid":"t","user":"u","currency":"EUR","amount":5}"#;
        let req: TransferRequest = parse(body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(req.round, None);
        let body = br#"{"request_uuid":"q","transaction_uuid":"t","user":"u","currency":"EUR","amount":5,"round":null}"#;
        let req: TransferRequest = parse(body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(req.round, None);
    }

    #[test]
    fn status_strings_match_serde() {
        for status in [
            Status::Ok,
            Status::NotEnoughMoney,
            Status::UserDisabled,
            Status::LimitReached,
            Status::WrongCurrency,
            Status::UnknownUser,
            Status::DuplicateTransaction,
            Status::TransactionDoesNotExist,
            Status::TransactionRolledBack,
            Status::NotReversible,
            Status::InvalidSignature,
            Status::Unknown,
        ] {
            assert_eq!(
                serde_json::to_string(&status).unwrap_or_default(),
                format!("\"{}\"", status.as_str())
            );
        }
    }

    #[test]
    fn reply_field_order_is_the_specs() {
        let body = encode(&TransferReply {
            request_uuid: "q",
            transaction_uuid: "t",
            balance: 975000000,
            currency: "EUR",
            status: Status::Ok,
        });
        assert_eq!(
            &body[..],
            br#"{"request_uuid":"q","transaction_uuid":"t","balance":975000000,"currency":"EUR","status":"RS_OK"}"#
        );
        assert_eq!(
            &bare(Status::InvalidSignature)[..],
            br#"{"status":"RS_ERROR_INVALID_SIGNATURE"}"#
        );
    }

    #[test]
    fn endpoints_round_trip_their_paths() {
        for endpoint in Endpoint::ALL {
            assert_eq!(Endpoint::from_path(endpoint.path()), Some(endpoint));
        }
        assert_eq!(Endpoint::from_path("/api/transaction"), None);
    }

    #[test]
    fn peek_finds_transaction_uuid_in_otherwise_invalid_bodies() {
        assert_eq!(
            peek_transaction_uuid(br#"{"transaction_uuid":"x","amount":-1}"#).as_deref(),
            Some("x")
        );
        assert_eq!(peek_transaction_uuid(b"nope"), None);
    }
}
