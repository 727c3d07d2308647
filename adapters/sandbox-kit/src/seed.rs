//! Accounts to seed: the argument of `POST /control/seed`, of
//! [`Sandbox::seed_account`](crate::Sandbox::seed_account), and of a
//! sandbox binary's `--seed ACCOUNT:CURRENCY:BALANCE`.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One account to create or replace. The balance (and limit) are in the
/// provider's own units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSeed {
    /// Account id.
    pub account: String,
    /// ISO 4217 code of the only currency it holds.
    pub currency: String,
    /// Opening balance, in the provider's own units.
    pub balance: i64,
    /// Refuses every debit and credit.
    #[serde(default)]
    pub blocked: bool,
    /// Largest amount of one debit or credit, if limited.
    #[serde(default)]
    pub limit: Option<i64>,
}

impl AccountSeed {
    /// An account that is not blocked and has no limit.
    pub fn new(account: impl Into<String>, currency: impl Into<String>, balance: i64) -> Self {
        AccountSeed {
            account: account.into(),
            currency: currency.into(),
            balance,
            blocked: false,
            limit: None,
        }
    }
}

/// Why an `ACCOUNT:CURRENCY:BALANCE` seed does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeedParseError {
    /// Fewer than three `:`-separated parts, or an empty one.
    #[error("expected ACCOUNT:CURRENCY:BALANCE")]
    Shape,
    /// The balance is not an integer.
    #[error("balance must be an integer in the provider's units")]
    Balance(#[from] std::num::ParseIntError),
}

impl FromStr for AccountSeed {
    type Err = SeedParseError;

    /// `ACCOUNT:CURRENCY:BALANCE`, split from the right (so the account may
    /// itself contain `:`); not blocked, no limit.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.rsplitn(3, ':');
        let (Some(balance), Some(currency), Some(account)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(SeedParseError::Shape);
        };
        if account.is_empty() || currency.is_empty() {
            return Err(SeedParseError::Shape);
        }
        Ok(AccountSeed::new(account, currency, balance.parse()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_argument_parses_from_the_right() {
        assert_eq!(
            "acc-1:EUR:100000".parse(),
            Ok(AccountSeed::new("acc-1", "EUR", 100_000))
        );
        assert_eq!(
            "ns:acc:USD:-5".parse::<AccountSeed>().map(|s| s.account),
            Ok("ns:acc".into())
        );
        assert_eq!("acc:EUR".parse::<AccountSeed>(), Err(SeedParseError::Shape));
        assert_eq!(":EUR:5".parse::<AccountSeed>(), Err(SeedParseError::Shape));
        assert!(matches!(
            "acc:EUR:1.5".parse::<AccountSeed>(),
            Err(SeedParseError::Balance(_))
        ));
    }

    #[test]
    fn json_defaults_blocked_and_limit() {
        let seed: AccountSeed =
            serde_json::from_str(r#"{"account":"a","currency":"EUR","balance":5}"#)
                .expect("valid seed json");
        assert_eq!(seed, AccountSeed::new("a", "EUR", 5));
        let seed: AccountSeed = serde_json::from_str(
            r#"{"account":"a","currency":"EUR","balance":5,"blocked":true,"limit":3}"#,
        )
        .expect("valid seed json");
        assert!(seed.blocked);
        assert_eq!(seed.limit, Some(3));
    }
}
