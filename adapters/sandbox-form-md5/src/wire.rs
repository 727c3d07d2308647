//! The form-md5 wire format as this provider defines it: the endpoints, the
//! parameters each one takes, the numeric error codes, and the JSON reply
//! bodies (written as text here, so balances keep their exact decimals).
//!
//! Written from `providers/form-md5.md` alone; nothing here is shared with
//! the hub's adapter.

use std::fmt::Write as _;

use crate::amount::Currency;
use crate::form::Form;

/// The dialect's endpoints, all `POST`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `/balance.html`: an account's balance.
    Balance,
    /// `/bet.html`: take money from an account (a debit).
    Bet,
    /// `/result.html`: give money to an account (a credit).
    Result,
    /// `/refund.html`: reverse a bet.
    Refund,
}

impl Endpoint {
    /// Every endpoint.
    pub const ALL: [Endpoint; 4] = [
        Endpoint::Balance,
        Endpoint::Bet,
        Endpoint::Result,
        Endpoint::Refund,
    ];

    /// Its path, e.g. `/bet.html`.
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Balance => "/balance.html",
            Endpoint::Bet => "/bet.html",
            Endpoint::Result => "/result.html",
            Endpoint::Refund => "/refund.html",
        }
    }

    /// The endpoint served at `path`.
    pub fn from_path(path: &str) -> Option<Endpoint> {
        Endpoint::ALL.into_iter().find(|e| e.path() == path)
    }

    /// Bet, result and refund move money; balance does not.
    pub fn moves_money(self) -> bool {
        !matches!(self, Endpoint::Balance)
    }
}

/// The numeric `error` of a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 1: the account holds less than the bet.
    InsufficientBalance,
    /// 2: no account with this `userId`.
    PlayerNotFound,
    /// 3: the account is blocked: bets and results are refused.
    Blocked,
    /// 4: the amount is above the account's per-transaction limit, or the
    /// balance would leave the range this provider can hold.
    LimitReached,
    /// 5: `hash` missing or wrong, or an unknown `providerId`.
    InvalidHash,
    /// 6: the account holds another currency.
    WrongCurrency,
    /// 7: a refund names no bet that moved money.
    TransactionNotFound,
    /// 8: a refund names a result, which cannot be reversed.
    AlreadySettled,
    /// 100: this provider failed; the outcome of a money call is unknown.
    Internal,
    /// 120: a parameter is missing, duplicated or malformed.
    BadParameters,
}

impl ErrorCode {
    /// Its number on the wire.
    pub fn number(self) -> u16 {
        match self {
            ErrorCode::InsufficientBalance => 1,
            ErrorCode::PlayerNotFound => 2,
            ErrorCode::Blocked => 3,
            ErrorCode::LimitReached => 4,
            ErrorCode::InvalidHash => 5,
            ErrorCode::WrongCurrency => 6,
            ErrorCode::TransactionNotFound => 7,
            ErrorCode::AlreadySettled => 8,
            ErrorCode::Internal => 100,
            ErrorCode::BadParameters => 120,
        }
    }

    /// Its `description` on the wire.
    pub fn description(self) -> &'static str {
        match self {
            ErrorCode::InsufficientBalance => "insufficient balance",
            ErrorCode::PlayerNotFound => "player not found",
            ErrorCode::Blocked => "bet not allowed",
            ErrorCode::LimitReached => "limit reached",
            ErrorCode::InvalidHash => "invalid hash",
            ErrorCode::WrongCurrency => "wrong currency",
            ErrorCode::TransactionNotFound => "transaction not found",
            ErrorCode::AlreadySettled => "already settled",
            ErrorCode::Internal => "internal error",
            ErrorCode::BadParameters => "bad parameters",
        }
    }
}

/// A parameter that must be present and not empty.
fn required<'a>(form: &'a Form, name: &str) -> Result<&'a str, ErrorCode> {
    form.get(name)
        .filter(|v| !v.is_empty())
        .ok_or(ErrorCode::BadParameters)
}

fn currency(form: &Form) -> Result<Currency, ErrorCode> {
    Currency::from_code(required(form, "currency")?).ok_or(ErrorCode::BadParameters)
}

/// `/balance.html`: `providerId`, `userId`, `currency`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceRequest {
    /// The account.
    pub user_id: String,
    /// The currency the caller expects it to hold.
    pub currency: Currency,
}

impl BalanceRequest {
    /// Reads the parameters (120 if one is missing or malformed).
    pub fn parse(form: &Form) -> Result<Self, ErrorCode> {
        Ok(BalanceRequest {
            user_id: required(form, "userId")?.to_owned(),
            currency: currency(form)?,
        })
    }
}

/// `/bet.html` and `/result.html`: `providerId`, `userId`, `reference`,
/// `amount`, `currency`, and optionally `roundId` and `timestamp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoneyRequest {
    /// The account.
    pub user_id: String,
    /// The caller's transaction id: this provider's idempotency key.
    pub reference: String,
    /// Strictly positive amount in minor units of `currency`.
    pub amount: i64,
    /// Must be the account's currency.
    pub currency: Currency,
    /// Game round; recorded, no effect.
    pub round_id: Option<String>,
    /// Caller's clock in milliseconds; informational, recorded as given,
    /// never validated.
    pub timestamp: Option<String>,
}

impl MoneyRequest {
    /// Reads the parameters (120 if one is missing or malformed, or the
    /// amount is not a positive decimal with the currency's exponent).
    pub fn parse(form: &Form) -> Result<Self, ErrorCode> {
        let currency = currency(form)?;
        let amount = currency
            .parse_amount(required(form, "amount")?)
            .map_err(|_| ErrorCode::BadParameters)?;
        if amount == 0 {
            return Err(ErrorCode::BadParameters);
        }
        Ok(MoneyRequest {
            user_id: required(form, "userId")?.to_owned(),
            reference: required(form, "reference")?.to_owned(),
            amount,
            currency,
            round_id: form.get("roundId").map(str::to_owned),
            timestamp: form.get("timestamp").map(str::to_owned),
        })
    }
}

/// `/refund.html`: `providerId`, `userId`, `reference` (the bet's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    /// The bet's account.
    pub user_id: String,
    /// The bet's reference.
    pub reference: String,
}

impl RefundRequest {
    /// Reads the parameters (120 if one is missing).
    pub fn parse(form: &Form) -> Result<Self, ErrorCode> {
        Ok(RefundRequest {
            user_id: required(form, "userId")?.to_owned(),
            reference: required(form, "reference")?.to_owned(),
        })
    }
}

/// A JSON string literal. Everything this provider writes into a reply is
/// its own text or a validated currency code, but escape anyway.
fn json_string(out: &mut String, value: &str) {
    match serde_json::to_string(value) {
        Ok(quoted) => out.push_str(&quoted),
        // Serializing a &str cannot fail; keep the JSON valid regardless.
        Err(_) => out.push_str("\"\""),
    }
}

/// `{"error":N,"description":"..."}`.
pub fn error_body(code: ErrorCode) -> String {
    let mut out = String::new();
    let _ = write!(out, "{{\"error\":{},\"description\":", code.number());
    json_string(&mut out, code.description());
    out.push('}');
    out
}

/// `{"error":0,"currency":"EUR","cash":100.00}`.
pub fn balance_body(currency: Currency, cash: i64) -> String {
    let mut out = String::from("{\"error\":0,\"currency\":");
    json_string(&mut out, currency.code());
    let _ = write!(out, ",\"cash\":{}}}", currency.format(cash));
    out
}

/// `{"error":0,"transactionId":"fm-5521","currency":"EUR","cash":97.50}`.
pub fn money_body(transaction_id: &str, currency: Currency, cash: i64) -> String {
    let mut out = String::from("{\"error\":0,\"transactionId\":");
    json_string(&mut out, transaction_id);
    out.push_str(",\"currency\":");
    json_string(&mut out, currency.code());
    let _ = write!(out, ",\"cash\":{}}}", currency.format(cash));
    out
}

/// `{"error":0,"transactionId":"fm-5522"}`.
pub fn refund_body(transaction_id: &str) -> String {
    let mut out = String::from("{\"error\":0,\"transactionId\":");
    json_string(&mut out, transaction_id);
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur() -> Currency {
        Currency::from_code("EUR").expect("EUR")
    }

    #[test]
    fn bodies_are_the_spec_shapes() {
        assert_eq!(
            error_body(ErrorCode::InvalidHash),
            r#"{"error":5,"description":"invalid hash"}"#
        );
        assert_eq!(
            error_body(ErrorCode::TransactionNotFound),
            r#"{"error":7,"description":"transaction not found"}"#
        );
        assert_eq!(
            error_body(ErrorCode::AlreadySettled),
            r#"{"error":8,"description":"already settled"}"#
        );
        assert_eq!(
            balance_body(eur(), 10_000),
            r#"{"error":0,"currency":"EUR","cash":100.00}"#
        );
        assert_eq!(
            money_body("fm-5521", eur(), 9_750),
            r#"{"error":0,"transactionId":"fm-5521","currency":"EUR","cash":97.50}"#
        );
        assert_eq!(
            refund_body("fm-5522"),
            r#"{"error":0,"transactionId":"fm-5522"}"#
        );
        let jpy = Currency::from_code("JPY").expect("JPY");
        assert_eq!(
            balance_body(jpy, 1250),
            r#"{"error":0,"currency":"JPY","cash":1250}"#
        );
    }

    #[test]
    fn every_body_is_json() {
        let codes = [
            ErrorCode::InsufficientBalance,
            ErrorCode::PlayerNotFound,
            ErrorCode::Blocked,
            ErrorCode::LimitReached,
            ErrorCode::InvalidHash,
            ErrorCode::WrongCurrency,
            ErrorCode::TransactionNotFound,
            ErrorCode::AlreadySettled,
            ErrorCode::Internal,
            ErrorCode::BadParameters,
        ];
        let numbers: Vec<u16> = codes.iter().map(|c| c.number()).collect();
        assert_eq!(numbers, [1, 2, 3, 4, 5, 6, 7, 8, 100, 120]);
        for code in codes {
            let v: serde_json::Value = serde_json::from_str(&error_body(code)).expect("JSON");
            assert_eq!(v["error"], code.number());
        }
        let v: serde_json::Value =
            serde_json::from_str(&money_body("a\"b", eur(), -1)).expect("JSON");
        assert_eq!(v["transactionId"], "a\"b");
    }

    #[test]
    fn endpoints_by_path() {
        for endpoint in Endpoint::ALL {
            assert_eq!(Endpoint::from_path(endpoint.path()), Some(endpoint));
        }
        assert_eq!(Endpoint::from_path("/status.html"), None);
        assert!(!Endpoint::Balance.moves_money());
        assert!(Endpoint::Refund.moves_money());
    }

    #[test]
    fn money_request_needs_every_parameter_and_a_positive_exact_amount() {
        let full = "providerId=op1&userId=acc-1&reference=t1&amount=2.50&currency=EUR";
        let parse = |body: &str| MoneyRequest::parse(&Form::parse(body.as_bytes()).expect("form"));
        let request = parse(full).expect("valid");
        assert_eq!(request.amount, 250);
        assert_eq!(request.round_id, None);
        assert_eq!(request.timestamp, None);
        let with_extras = format!("{full}&roundId=r-9&timestamp=whenever");
        let request = parse(&with_extras).expect("valid");
        assert_eq!(request.round_id.as_deref(), Some("r-9"));
        assert_eq!(request.timestamp.as_deref(), Some("whenever"));

        for bad in [
            "providerId=op1&reference=t1&amount=2.50&currency=EUR",
            "providerId=op1&userId=acc-1&amount=2.50&currency=EUR",
            "providerId=op1&userId=acc-1&reference=&amount=2.50&currency=EUR",
            "providerId=op1&userId=acc-1&reference=t1&currency=EUR",
            "providerId=op1&userId=acc-1&reference=t1&amount=2.50",
            "providerId=op1&userId=acc-1&reference=t1&amount=2.50&currency=XAU",
            "providerId=op1&userId=acc-1&reference=t1&amount=2.5&currency=EUR",
            "providerId=op1&userId=acc-1&reference=t1&amount=0.00&currency=EUR",
            "providerId=op1&userId=acc-1&reference=t1&amount=-2.50&currency=EUR",
            "providerId=op1&userId=acc-1&reference=t1&amount=2.50&currency=JPY",
        ] {
            assert_eq!(parse(bad), Err(ErrorCode::BadParameters), "{bad}");
        }
    }
}
