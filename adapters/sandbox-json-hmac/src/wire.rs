//! The json-hmac wire format as this provider defines it: request bodies,
//! reply bodies, error codes and the HTTP status each code is sent with.
//!
//! Written from `providers/json-hmac.md` alone; nothing here is shared with
//! the hub's adapter, so a misreading of the spec shows up as a disagreement
//! between the two instead of passing silently on both sides.

use sandbox_kit::{Bytes, StatusCode};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize};

/// A strictly positive amount in the currency's minor units (EUR 12.50 is
/// 1250). Zero, negative, fractional or out-of-range amounts do not
/// deserialize, so a request holding an `Amount` is already valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Amount(i64);

impl Amount {
    /// The amount if it is strictly positive.
    pub fn new(minor_units: i64) -> Option<Self> {
        (minor_units > 0).then_some(Self(minor_units))
    }

    /// The amount in minor units, always > 0.
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

/// `POST /v1/balance` body.
#[derive(Debug, Clone, Deserialize)]
pub struct BalanceRequest {
    /// Account id.
    #[serde(deserialize_with = "non_empty")]
    pub account: String,
    /// ISO 4217 code the caller expects the account to hold.
    #[serde(deserialize_with = "non_empty")]
    pub currency: String,
}

/// `POST /v1/debit` and `POST /v1/credit` body.
#[derive(Debug, Clone, Deserialize)]
pub struct MoneyRequest {
    /// The caller's transaction id; the idempotency key of this provider.
    #[serde(deserialize_with = "non_empty")]
    pub tx_id: String,
    /// Account id.
    #[serde(deserialize_with = "non_empty")]
    pub account: String,
    /// ISO 4217 code; must be the account's currency.
    #[serde(deserialize_with = "non_empty")]
    pub currency: String,
    /// Amount in minor units.
    pub amount: Amount,
    /// Optional round (game or order) reference; recorded, no effect.
    #[serde(default)]
    pub round: Option<String>,
}

/// `POST /v1/rollback` body.
#[derive(Debug, Clone, Deserialize)]
pub struct RollbackRequest {
    /// The rollback's own transaction id.
    #[serde(deserialize_with = "non_empty")]
    pub tx_id: String,
    /// The debit it reverses.
    #[serde(deserialize_with = "non_empty")]
    pub ref_tx_id: String,
}

/// `POST /v1/status` body.
#[derive(Debug, Clone, Deserialize)]
pub struct StatusRequest {
    /// The transaction asked about.
    #[serde(deserialize_with = "non_empty")]
    pub tx_id: String,
}

/// Parses a request body: a JSON object (not an array, which serde would
/// otherwise accept for a struct) with every required field well typed.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ErrorCode> {
    let starts_as_object = body
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{');
    if !starts_as_object {
        return Err(ErrorCode::BadRequest);
    }
    serde_json::from_slice(body).map_err(|_| ErrorCode::BadRequest)
}

/// Reads `tx_id` from a body if it has one, whatever else is wrong with it.
/// Used only to count requests per transaction id.
pub fn peek_tx_id(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Peek {
        tx_id: Option<String>,
    }
    serde_json::from_slice::<Peek>(body).ok()?.tx_id
}

/// `200` reply to a balance query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceReply {
    /// Account id.
    pub account: String,
    /// The account's currency.
    pub currency: String,
    /// Balance in minor units.
    pub balance: i64,
}

/// `200` reply to a debit or credit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoneyReply {
    /// The request's transaction id.
    pub tx_id: String,
    /// Always `"OK"`.
    pub status: String,
    /// Balance after the movement.
    pub balance: i64,
    /// This provider's reference, `hm-000123`.
    pub provider_ref: String,
}

/// `200` reply to a rollback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackReply {
    /// The rollback's transaction id.
    pub tx_id: String,
    /// Always `"OK"`.
    pub status: String,
    /// Balance after the reversal.
    pub balance: i64,
}

/// `200` reply to a status query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReply {
    /// The transaction asked about.
    pub tx_id: String,
    /// `"OK"` or `"ROLLED_BACK"`.
    pub status: String,
    /// `"debit"`, `"credit"` or `"rollback"`.
    pub kind: String,
    /// Amount in minor units.
    pub amount: i64,
    /// ISO 4217 code.
    pub currency: String,
}

/// `"OK"`, the status of every successful reply.
pub const STATUS_OK: &str = "OK";

/// Every error code this provider answers with. The first nine are the
/// spec's; the last two are the bodies of the 5xx replies fault injection
/// produces (the spec only says "any 5xx").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// 402: balance too low.
    InsufficientFunds,
    /// 403: account may not transact.
    AccountBlocked,
    /// 403: a provider-side limit (per-transaction limit, balance ceiling).
    LimitExceeded,
    /// 409: the account holds another currency.
    WrongCurrency,
    /// 404: no such account.
    UnknownAccount,
    /// 404: status or rollback of an unknown id.
    TransactionNotFound,
    /// 409: rollback of something other than a debit.
    NotReversible,
    /// 401: signature (or operator) missing or wrong.
    InvalidSignature,
    /// 400: malformed body, missing field, non-positive amount, no operator.
    BadRequest,
    /// 503: provider overloaded; nothing was processed.
    ServiceUnavailable,
    /// 500: provider trouble; the request may or may not have been applied.
    InternalError,
}

impl ErrorCode {
    /// The HTTP status this code is always sent with.
    pub fn http_status(self) -> StatusCode {
        match self {
            ErrorCode::InsufficientFunds => StatusCode::PAYMENT_REQUIRED,
            ErrorCode::AccountBlocked | ErrorCode::LimitExceeded => StatusCode::FORBIDDEN,
            ErrorCode::WrongCurrency | ErrorCode::NotReversible => StatusCode::CONFLICT,
            ErrorCode::UnknownAccount | ErrorCode::TransactionNotFound => StatusCode::NOT_FOUND,
            ErrorCode::InvalidSignature => StatusCode::UNAUTHORIZED,
            ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
            ErrorCode::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// One reply as it goes on the wire: HTTP status and exact body bytes.
/// Recorded per transaction so that a replay is byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub status: StatusCode,
    /// JSON body bytes.
    pub body: Bytes,
}

impl Reply {
    /// Encodes a successful (`200`) reply.
    pub fn ok<T: Serialize>(body: &T) -> Reply {
        Self::encode(StatusCode::OK, body)
    }

    /// The `{"code":"..."}` reply for an error code, with its status.
    pub fn error(code: ErrorCode) -> Reply {
        #[derive(Serialize)]
        struct ErrorBody {
            code: ErrorCode,
        }
        Self::encode(code.http_status(), &ErrorBody { code })
    }

    fn encode<T: Serialize>(status: StatusCode, body: &T) -> Reply {
        match serde_json::to_vec(body) {
            Ok(bytes) => Reply {
                status,
                body: Bytes::from(bytes),
            },
            // Cannot happen for the plain structs above; answer like a
            // provider in trouble rather than panic.
            Err(_) => Reply {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                body: Bytes::from_static(br#"{"code":"INTERNAL_ERROR"}"#),
            },
        }
    }
}

impl From<Reply> for sandbox_kit::Reply {
    /// Every json-hmac reply is JSON.
    fn from(reply: Reply) -> Self {
        sandbox_kit::Reply::json(reply.status, reply.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amount_must_be_a_positive_integer() {
        for body in [
            r#"{"tx_id":"t","account":"a","currency":"EUR","amount":0}"#,
            r#"{"tx_id":"t","account":"a","currency":"EUR","amount":-5}"#,
            r#"{"tx_id":"t","account":"a","currency":"EUR","amount":2.5}"#,
            r#"{"tx_id":"t","account":"a","currency":"EUR","amount":"250"}"#,
            r#"{"tx_id":"t","account":"a","currency":"EUR","amount":9223372036854775808}"#,
            r#"{"tx_id":"t","account":"a","currency":"EUR"}"#,
        ] {
            assert_eq!(
                parse::<MoneyRequest>(body.as_bytes()).err(),
                Some(ErrorCode::BadRequest),
                "{body}"
            );
        }
        let ok: MoneyRequest =
            parse(br#"{"tx_id":"t","account":"a","currency":"EUR","amount":250}"#)
                .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(ok.amount.get(), 250);
    }

    #[test]
    fn arrays_empty_ids_and_duplicate_fields_are_bad_requests() {
        assert!(parse::<StatusRequest>(br#"["t"]"#).is_err());
        assert!(parse::<StatusRequest>(br#"{"tx_id":""}"#).is_err());
        assert!(parse::<StatusRequest>(br#"{"tx_id":"a","tx_id":"b"}"#).is_err());
        assert!(parse::<StatusRequest>(b"").is_err());
        assert!(parse::<StatusRequest>(br#" {"tx_id":"a"}"#).is_ok());
    }

    #[test]
    fn error_reply_is_the_bare_code_with_its_status() {
        let reply = Reply::error(ErrorCode::InsufficientFunds);
        assert_eq!(reply.status, StatusCode::PAYMENT_REQUIRED);
        assert_eq!(&reply.body[..], br#"{"code":"INSUFFICIENT_FUNDS"}"#);
    }

    #[test]
    fn peek_finds_tx_id_in_otherwise_invalid_bodies() {
        assert_eq!(
            peek_tx_id(br#"{"tx_id":"x","amount":-1}"#).as_deref(),
            Some("x")
        );
        assert_eq!(peek_tx_id(b"nope"), None);
    }
}
