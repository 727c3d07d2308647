//! Currencies and decimal amounts as this provider writes them.
//!
//! Requests carry amounts as decimal strings with exactly the currency's
//! ISO 4217 exponent (`"2.50"` EUR, `"1250"` JPY, `"1.250"` KWD); the ledger
//! keeps integer minor units; replies write balances back as JSON numbers
//! with that many decimals (`97.50`). Conversions are exact string and
//! integer arithmetic, never floating point.
//!
//! The accepted form is strict, so every amount has exactly one spelling:
//! ASCII digits only, no sign, no leading zero in the integer part (except
//! a lone `0`), a `.` followed by exactly `exponent` digits when the
//! exponent is not zero and no `.` at all when it is, and a value that fits
//! in an `i64` of minor units.

use std::fmt;

/// A currency this provider can hold: an ISO 4217 code that has a minor
/// unit exponent (funds and metals such as `XAU` have none and are refused).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    iso: iso_currency::Currency,
    exponent: u32,
}

impl Currency {
    /// The currency with this upper-case ISO 4217 code, if it has an
    /// exponent.
    pub fn from_code(code: &str) -> Option<Self> {
        let iso = iso_currency::Currency::from_code(code)?;
        let exponent = u32::from(iso.exponent()?);
        Some(Currency { iso, exponent })
    }

    /// The three-letter code, e.g. `"EUR"`.
    pub fn code(self) -> &'static str {
        self.iso.code()
    }

    /// Number of decimals of its minor unit: 2 for EUR, 0 for JPY.
    pub fn exponent(self) -> u32 {
        self.exponent
    }

    /// Parses a request amount in this currency (see [`parse_decimal`]).
    pub fn parse_amount(self, text: &str) -> Result<i64, AmountError> {
        parse_decimal(text, self.exponent)
    }

    /// Writes minor units as this currency's decimal text (see
    /// [`format_decimal`]).
    pub fn format(self, minor_units: i64) -> String {
        format_decimal(minor_units, self.exponent)
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

/// Why an amount string is refused. Every variant is answered with error
/// 120 (bad parameters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// The string is empty.
    #[error("amount is empty")]
    Empty,
    /// It starts with a sign (`-1.00`, `+1.00`).
    #[error("amount must not carry a sign")]
    Signed,
    /// Something other than digits and one `.`.
    #[error("amount is not a decimal number")]
    NotANumber,
    /// The number of decimals is not the currency's exponent.
    #[error("amount must have exactly {expected} decimals")]
    WrongScale {
        /// The currency's exponent.
        expected: u32,
    },
    /// The integer part has a superfluous leading zero (`02.50`).
    #[error("amount has a leading zero")]
    LeadingZero,
    /// The value does not fit in an `i64` of minor units.
    #[error("amount is too large")]
    Overflow,
}

/// `10^exponent` as an `i64`, if it fits.
fn scale(exponent: u32) -> Option<i64> {
    10i64.checked_pow(exponent)
}

/// Parses an unsigned decimal string with exactly `exponent` decimals into
/// minor units (`"97.50"`, 2 -> 9750). Zero is accepted here; whether a
/// zero amount makes sense is the caller's business.
pub fn parse_decimal(text: &str, exponent: u32) -> Result<i64, AmountError> {
    if text.is_empty() {
        return Err(AmountError::Empty);
    }
    if text.starts_with(['-', '+']) {
        return Err(AmountError::Signed);
    }
    if !text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(AmountError::NotANumber);
    }
    let (integer, fraction) = match text.split_once('.') {
        Some((integer, fraction)) => (integer, Some(fraction)),
        None => (text, None),
    };
    if integer.is_empty() || fraction.is_some_and(|f| f.contains('.')) {
        return Err(AmountError::NotANumber);
    }
    let decimals = fraction.map_or(0, str::len);
    if decimals != exponent as usize || (exponent == 0 && fraction.is_some()) {
        return Err(AmountError::WrongScale { expected: exponent });
    }
    if integer.len() > 1 && integer.starts_with('0') {
        return Err(AmountError::LeadingZero);
    }
    let scale = scale(exponent).ok_or(AmountError::Overflow)?;
    let integer: i64 = integer.parse().map_err(|_| AmountError::Overflow)?;
    // Only digits remain, so a parse failure can only be an overflow.
    let fraction: i64 = match fraction {
        Some(f) if !f.is_empty() => f.parse().map_err(|_| AmountError::Overflow)?,
        _ => 0,
    };
    integer
        .checked_mul(scale)
        .and_then(|v| v.checked_add(fraction))
        .ok_or(AmountError::Overflow)
}

/// Writes minor units as a decimal with exactly `exponent` decimals
/// (9750, 2 -> `"97.50"`; -5, 2 -> `"-0.05"`; 1250, 0 -> `"1250"`). The
/// result is valid JSON number text. Exact for every `i64`.
pub fn format_decimal(minor_units: i64, exponent: u32) -> String {
    let sign = if minor_units < 0 { "-" } else { "" };
    let magnitude = u128::from(minor_units.unsigned_abs());
    if exponent == 0 {
        return format!("{sign}{magnitude}");
    }
    // 10^exponent may not fit even a u128 for absurd exponents; then the
    // whole magnitude is fraction.
    let (integer, fraction) = match 10u128.checked_pow(exponent) {
        Some(scale) => (magnitude / scale, magnitude % scale),
        None => (0, magnitude),
    };
    let width = exponent as usize;
    format!("{sign}{integer}.{fraction:0width$}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn currencies_know_their_exponents() {
        let eur = Currency::from_code("EUR").expect("EUR");
        assert_eq!((eur.code(), eur.exponent()), ("EUR", 2));
        assert_eq!(Currency::from_code("JPY").map(Currency::exponent), Some(0));
        assert_eq!(Currency::from_code("KWD").map(Currency::exponent), Some(3));
        assert_eq!(Currency::from_code("XAU"), None, "no exponent");
        assert_eq!(Currency::from_code("eur"), None);
        assert_eq!(Currency::from_code("EURO"), None);
        assert_eq!(format!("{eur:?}/{eur}"), "EUR/EUR");
    }

    #[test]
    fn parses_exactly_the_exponent() {
        assert_eq!(parse_decimal("2.50", 2), Ok(250));
        assert_eq!(parse_decimal("0.01", 2), Ok(1));
        assert_eq!(parse_decimal("0.00", 2), Ok(0));
        assert_eq!(parse_decimal("1250", 0), Ok(1250));
        assert_eq!(parse_decimal("0", 0), Ok(0));
        assert_eq!(parse_decimal("1.250", 3), Ok(1250));
        assert_eq!(parse_decimal("7.5", 1), Ok(75));
    }

    #[test]
    fn refuses_everything_else() {
        use AmountError::*;
        let cases: &[(&str, u32, AmountError)] = &[
            ("", 2, Empty),
            ("2.5", 2, WrongScale { expected: 2 }),
            ("2.500", 2, WrongScale { expected: 2 }),
            ("2", 2, WrongScale { expected: 2 }),
            ("2.", 2, WrongScale { expected: 2 }),
            ("1250.", 0, WrongScale { expected: 0 }),
            ("12.50", 0, WrongScale { expected: 0 }),
            (".50", 2, NotANumber),
            ("1.2.3", 2, NotANumber),
            ("-2.50", 2, Signed),
            ("+2.50", 2, Signed),
            ("abc", 2, NotANumber),
            ("2,50", 2, NotANumber),
            (" 2.50", 2, NotANumber),
            ("2.50 ", 2, NotANumber),
            ("1e3", 0, NotANumber),
            ("NaN", 2, NotANumber),
            ("02.50", 2, LeadingZero),
            ("00", 0, LeadingZero),
            ("92233720368547758.08", 2, Overflow),
            ("9223372036854775808", 0, Overflow),
            ("99999999999999999999999.00", 2, Overflow),
        ];
        for &(text, exponent, expected) in cases {
            assert_eq!(parse_decimal(text, exponent), Err(expected), "{text:?}");
        }
        assert_eq!(parse_decimal("92233720368547758.07", 2), Ok(i64::MAX));
    }

    #[test]
    fn formats_with_the_exponent() {
        assert_eq!(format_decimal(9750, 2), "97.50");
        assert_eq!(format_decimal(10000, 2), "100.00");
        assert_eq!(format_decimal(5, 2), "0.05");
        assert_eq!(format_decimal(0, 2), "0.00");
        assert_eq!(format_decimal(-5, 2), "-0.05");
        assert_eq!(format_decimal(-1250, 0), "-1250");
        assert_eq!(format_decimal(1250, 0), "1250");
        assert_eq!(format_decimal(1250, 3), "1.250");
        assert_eq!(format_decimal(i64::MIN, 2), "-92233720368547758.08");
        assert_eq!(format_decimal(i64::MAX, 0), "9223372036854775807");
        assert_eq!(format_decimal(7, 40), format!("0.{}7", "0".repeat(39)));
    }

    #[test]
    fn formatted_balances_are_json_numbers() {
        for (minor, exponent) in [(9750, 2), (-5, 2), (0, 0), (i64::MIN, 3)] {
            let text = format_decimal(minor, exponent);
            let value: serde_json::Value = serde_json::from_str(&text).expect("JSON");
            assert!(value.is_number(), "{text}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Minor units -> text -> minor units is the identity for every
        /// non-negative amount and every exponent 0..=3.
        #[test]
        fn minor_units_round_trip(minor in 0i64..=i64::MAX, exponent in 0u32..=3) {
            let text = format_decimal(minor, exponent);
            prop_assert_eq!(parse_decimal(&text, exponent), Ok(minor));
        }

        /// Every accepted spelling is the canonical one: text -> minor units
        /// -> text is the identity.
        #[test]
        fn accepted_text_round_trips(
            integer in "0|[1-9][0-9]{0,14}",
            fraction in "[0-9]{3}",
            exponent in 0u32..=3,
        ) {
            let text = if exponent == 0 {
                integer
            } else {
                format!("{integer}.{}", &fraction[..exponent as usize])
            };
            let minor = parse_decimal(&text, exponent);
            prop_assert!(minor.is_ok(), "{} refused", text);
            prop_assert_eq!(format_decimal(minor.unwrap_or_default(), exponent), text);
        }

        /// A negative balance is written as the minus sign and the
        /// magnitude's text.
        #[test]
        fn negative_balances_format_as_minus_magnitude(minor in 1i64..=i64::MAX, exponent in 0u32..=3) {
            prop_assert_eq!(
                format_decimal(-minor, exponent),
                format!("-{}", format_decimal(minor, exponent))
            );
        }

        /// Any other number of decimals is refused.
        #[test]
        fn other_scales_are_refused(minor in 0i64..1_000_000_000, exponent in 0u32..=3, other in 0u32..=4) {
            prop_assume!(other != exponent);
            let text = format_decimal(minor, other);
            prop_assert_eq!(
                parse_decimal(&text, exponent),
                Err(AmountError::WrongScale { expected: exponent })
            );
        }
    }
}
