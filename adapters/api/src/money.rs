//! Money as the hub and every adapter see it: an ISO 4217 currency and a
//! signed 64-bit amount in the currency's minor units.

use std::fmt;

/// An ISO 4217 currency with a defined minor-unit exponent.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    inner: iso_currency::Currency,
    exponent: u8,
}

impl Currency {
    /// Parses an alphabetic ISO 4217 code such as `EUR`. Codes without a
    /// minor-unit exponent (precious metals, testing codes) are refused: the
    /// hub only moves money it can count exactly.
    pub fn from_code(code: &str) -> Result<Self, MoneyError> {
        let inner = iso_currency::Currency::from_code(code).ok_or(MoneyError::UnknownCurrency)?;
        let exponent = inner
            .exponent()
            .and_then(|e| u8::try_from(e).ok())
            .ok_or(MoneyError::UnknownCurrency)?;
        Ok(Self { inner, exponent })
    }

    /// The three-letter code.
    pub fn code(&self) -> &'static str {
        self.inner.code()
    }

    /// Number of decimal digits of the minor unit (2 for EUR, 0 for JPY).
    pub fn exponent(&self) -> u8 {
        self.exponent
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An amount in a currency's minor units.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Money {
    /// The currency.
    pub currency: Currency,
    /// The amount in minor units; may be negative for balances.
    pub minor_units: i64,
}

impl Money {
    /// An amount in minor units of `currency`.
    pub fn new(currency: Currency, minor_units: i64) -> Self {
        Self {
            currency,
            minor_units,
        }
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.minor_units, self.currency)
    }
}

/// Why a value is not money the hub can handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Not an ISO 4217 code with a minor-unit exponent.
    #[error("not an ISO 4217 currency code with minor units")]
    UnknownCurrency,
    /// The value does not fit in 64 bits after conversion.
    #[error("amount out of range")]
    Overflow,
    /// The value is not a whole number of minor units.
    #[error("amount is not a whole number of minor units")]
    Inexact,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currencies_carry_their_exponent() {
        assert_eq!(Currency::from_code("EUR").map(|c| c.exponent()), Ok(2));
        assert_eq!(Currency::from_code("JPY").map(|c| c.exponent()), Ok(0));
        assert_eq!(Currency::from_code("BHD").map(|c| c.exponent()), Ok(3));
    }

    #[test]
    fn unknown_and_unitless_codes_are_refused() {
        assert_eq!(
            Currency::from_code("EURO"),
            Err(MoneyError::UnknownCurrency)
        );
        assert_eq!(Currency::from_code("eur"), Err(MoneyError::UnknownCurrency));
        assert_eq!(Currency::from_code("XAU"), Err(MoneyError::UnknownCurrency));
    }
}
