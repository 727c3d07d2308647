//! form-md5's decimal amounts, converted exactly to and from integer minor
//! units. Pure functions over `(minor units, exponent)`, no currency table.
//!
//! - Requests carry amounts as decimal strings with EXACTLY the currency's
//!   exponent: `250` minor units of EUR (exponent 2) is `"2.50"`, `1250` JPY
//!   (exponent 0) is `"1250"`, `-5` EUR is `"-0.05"` ([`format_minor`]).
//! - Replies carry balances as JSON numbers with that many decimals. They are
//!   parsed from the number's raw text, never through a float
//!   ([`parse_minor`]): `97.50` is 9750 minor units, exactly.
//!
//! What [`parse_minor`] accepts, for exponent `e`: an optional `-`, an
//!   integer part without leading zeros (JSON's grammar), and optionally a
//!   `.` followed by 1 to `e` digits. Fewer decimals than `e` are exact
//!   (`"97.5"` is 9750 for EUR) and accepted; more decimals than `e` are
//!   refused even when they are zeros (`"97.500"`): the spec says the
//!   provider writes exactly `e` decimals, so more means a misread
//!   currency, and guessing is how money gets rounded. Exponent notation
//!   (`1e2`), `+`, whitespace, and anything outside `i64` minor units are
//!   refused too. `-0` is zero. Whether a negative value is a plausible
//!   balance is the classifier's business, not this module's.

/// The largest exponent handled. ISO 4217 minor units go up to 4; the limit
/// only keeps `10^exponent` inside `u64`.
pub const MAX_EXPONENT: u8 = 18;

/// Why a decimal text is not an exact amount, or an amount has no decimal
/// form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AmountError {
    /// Not a plain decimal number (empty, exponent notation, `+`, leading
    /// zeros, stray characters, a `.` without digits).
    #[error("not a plain decimal number")]
    NotDecimal,
    /// More decimals than the currency's exponent.
    #[error("more decimals than the currency has")]
    TooManyDecimals,
    /// Outside the 64-bit range of minor units.
    #[error("amount out of range")]
    Overflow,
    /// The exponent is above [`MAX_EXPONENT`].
    #[error("unsupported exponent")]
    Exponent,
}

fn scale(exponent: u8) -> Result<u64, AmountError> {
    if exponent > MAX_EXPONENT {
        return Err(AmountError::Exponent);
    }
    Ok(10u64.pow(u32::from(exponent)))
}

/// `minor_units` as a decimal string with exactly `exponent` decimals:
/// `(250, 2)` is `"2.50"`, `(1250, 0)` is `"1250"`, `(-5, 2)` is `"-0.05"`.
/// Every `i64` has one; the only error is an exponent above
/// [`MAX_EXPONENT`].
pub fn format_minor(minor_units: i64, exponent: u8) -> Result<String, AmountError> {
    let scale = scale(exponent)?;
    let sign = if minor_units < 0 { "-" } else { "" };
    let magnitude = minor_units.unsigned_abs();
    let whole = magnitude / scale;
    if exponent == 0 {
        return Ok(format!("{sign}{whole}"));
    }
    let fraction = magnitude % scale;
    let width = usize::from(exponent);
    Ok(format!("{sign}{whole}.{fraction:0width$}"))
}

/// The exact number of minor units `text` stands for, with `exponent`
/// decimals per unit (see the module docs for the accepted grammar).
pub fn parse_minor(text: &str, exponent: u8) -> Result<i64, AmountError> {
    let scale = scale(exponent)?;
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || (whole.len() > 1 && whole.starts_with('0')) {
        return Err(AmountError::NotDecimal);
    }
    let fraction = fraction.unwrap_or("");
    if (!fraction.is_empty() && !all_digits(fraction)) || unsigned.ends_with('.') {
        return Err(AmountError::NotDecimal);
    }
    if fraction.len() > usize::from(exponent) {
        return Err(AmountError::TooManyDecimals);
    }

    // Magnitudes are built in u128 from at most 20 significant digits of
    // whole units times 10^18, so the products below cannot overflow it;
    // longer texts are out of range anyway.
    let digits = |s: &str| -> Result<u128, AmountError> {
        let significant = s.trim_start_matches('0');
        if significant.len() > 20 {
            return Err(AmountError::Overflow);
        }
        Ok(significant
            .bytes()
            .fold(0u128, |acc, b| acc * 10 + u128::from(b - b'0')))
    };
    let whole = digits(whole)?;
    // "97.5" with exponent 2 is 9750: pad the fraction to the exponent.
    let fraction =
        (fraction.len()..usize::from(exponent)).fold(digits(fraction)?, |acc, _| acc * 10);
    let magnitude = whole
        .checked_mul(u128::from(scale))
        .and_then(|m| m.checked_add(fraction))
        .ok_or(AmountError::Overflow)?;
    if negative {
        // i64::MIN's magnitude is one more than i64::MAX.
        let min = u128::from(i64::MIN.unsigned_abs());
        if magnitude > min {
            return Err(AmountError::Overflow);
        }
        return Ok(i64::try_from(magnitude).map(|m| -m).unwrap_or(i64::MIN));
    }
    i64::try_from(magnitude).map_err(|_| AmountError::Overflow)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formats_with_exactly_the_exponent() {
        assert_eq!(format_minor(250, 2).unwrap(), "2.50");
        assert_eq!(format_minor(1250, 0).unwrap(), "1250");
        assert_eq!(format_minor(1250, 2).unwrap(), "12.50");
        assert_eq!(format_minor(5, 2).unwrap(), "0.05");
        assert_eq!(format_minor(0, 2).unwrap(), "0.00");
        assert_eq!(format_minor(0, 0).unwrap(), "0");
        assert_eq!(format_minor(1, 3).unwrap(), "0.001");
        assert_eq!(format_minor(12345, 1).unwrap(), "1234.5");
        assert_eq!(format_minor(-5, 2).unwrap(), "-0.05");
        assert_eq!(format_minor(-250, 0).unwrap(), "-250");
        assert_eq!(format_minor(i64::MAX, 2).unwrap(), "92233720368547758.07");
        assert_eq!(format_minor(i64::MIN, 2).unwrap(), "-92233720368547758.08");
        assert_eq!(format_minor(i64::MIN, 0).unwrap(), "-9223372036854775808");
        assert_eq!(format_minor(1, 18).unwrap(), "0.000000000000000001");
        assert_eq!(format_minor(1, 19), Err(AmountError::Exponent));
    }

    #[test]
    fn parses_exactly() {
        assert_eq!(parse_minor("97.50", 2), Ok(9750));
        assert_eq!(parse_minor("97.5", 2), Ok(9750));
        assert_eq!(parse_minor("97", 2), Ok(9700));
        assert_eq!(parse_minor("0.01", 2), Ok(1));
        assert_eq!(parse_minor("0", 2), Ok(0));
        assert_eq!(parse_minor("-0", 2), Ok(0));
        assert_eq!(parse_minor("-0.00", 2), Ok(0));
        assert_eq!(parse_minor("-2.50", 2), Ok(-250));
        assert_eq!(parse_minor("1250", 0), Ok(1250));
        assert_eq!(parse_minor("1.234", 3), Ok(1234));
        assert_eq!(parse_minor("0.1", 1), Ok(1));
        // 0.1 + 0.2 is not 0.30000000000000004 here.
        assert_eq!(parse_minor("0.30", 2), Ok(30));
        assert_eq!(parse_minor("92233720368547758.07", 2), Ok(i64::MAX));
        assert_eq!(parse_minor("-92233720368547758.08", 2), Ok(i64::MIN));
        assert_eq!(parse_minor("9223372036854775807", 0), Ok(i64::MAX));
        assert_eq!(parse_minor("-9223372036854775808", 0), Ok(i64::MIN));
    }

    #[test]
    fn refuses_more_decimals_than_the_exponent() {
        assert_eq!(parse_minor("97.505", 2), Err(AmountError::TooManyDecimals));
        assert_eq!(parse_minor("97.500", 2), Err(AmountError::TooManyDecimals));
        assert_eq!(parse_minor("1250.0", 0), Err(AmountError::TooManyDecimals));
        assert_eq!(parse_minor("0.0001", 3), Err(AmountError::TooManyDecimals));
        assert_eq!(parse_minor("-0.001", 2), Err(AmountError::TooManyDecimals));
    }

    #[test]
    fn refuses_out_of_range() {
        assert_eq!(
            parse_minor("92233720368547758.08", 2),
            Err(AmountError::Overflow)
        );
        assert_eq!(
            parse_minor("-92233720368547758.09", 2),
            Err(AmountError::Overflow)
        );
        assert_eq!(
            parse_minor("9223372036854775808", 0),
            Err(AmountError::Overflow)
        );
        assert_eq!(
            parse_minor("123456789012345678901234567890", 2),
            Err(AmountError::Overflow)
        );
        assert_eq!(
            parse_minor(&"9".repeat(10_000), 2),
            Err(AmountError::Overflow)
        );
        assert_eq!(parse_minor("1", 19), Err(AmountError::Exponent));
    }

    #[test]
    fn refuses_what_is_not_a_plain_decimal() {
        for text in [
            "", "-", ".", "-.", ".5", "5.", "-5.", "+5", "05", "00.5", "-05", "1e2", "1E2",
            "1.5e1", " 1", "1 ", "1,50", "1.5.0", "0x10", "NaN", "inf", "--1", "1-", "١",
            "\"1.50\"", "null", "1.-5", "1._5",
        ] {
            assert_eq!(
                parse_minor(text, 2),
                Err(AmountError::NotDecimal),
                "{text:?}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn format_then_parse_is_the_identity(minor in any::<i64>(), exponent in 0u8..=3) {
            let text = format_minor(minor, exponent).unwrap();
            prop_assert_eq!(parse_minor(&text, exponent), Ok(minor));
        }

        #[test]
        fn formatted_amounts_have_exactly_the_exponents_decimals(
            minor in any::<i64>(),
            exponent in 0u8..=3,
        ) {
            let text = format_minor(minor, exponent).unwrap();
            let decimals = text.split_once('.').map_or(0, |(_, f)| f.len());
            prop_assert_eq!(decimals, usize::from(exponent));
            prop_assert_eq!(text.starts_with('-'), minor < 0);
        }

        #[test]
        fn one_decimal_too_many_is_refused(
            minor in any::<i64>(),
            exponent in 0u8..=3,
            digit in 0u8..=9,
        ) {
            let mut text = format_minor(minor, exponent).unwrap();
            if exponent == 0 {
                text.push('.');
            }
            text.push(char::from(b'0' + digit));
            prop_assert_eq!(parse_minor(&text, exponent), Err(AmountError::TooManyDecimals));
        }

        #[test]
        fn beyond_i64_is_refused(extra in 1u64..=u64::MAX, exponent in 0u8..=3) {
            // |i64::MIN| + extra and i64::MAX + extra minor units, in decimal.
            let scale = 10u128.pow(u32::from(exponent));
            for (sign, magnitude) in [
                ("", u128::from(i64::MAX.unsigned_abs()) + u128::from(extra)),
                ("-", u128::from(i64::MIN.unsigned_abs()) + u128::from(extra)),
            ] {
                let whole = magnitude / scale;
                let text = if exponent == 0 {
                    format!("{sign}{whole}")
                } else {
                    let width = usize::from(exponent);
                    format!("{sign}{whole}.{:0width$}", magnitude % scale)
                };
                prop_assert_eq!(parse_minor(&text, exponent), Err(AmountError::Overflow));
            }
        }

        #[test]
        fn parsing_agrees_with_an_independent_reading(
            text in "-?[0-9]{1,22}(\\.[0-9]{0,5})?",
            exponent in 0u8..=3,
        ) {
            // Independently: a big-integer reading through u128 string math.
            let parsed = parse_minor(&text, exponent);
            let (negative, unsigned) = match text.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, text.as_str()),
            };
            let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
            let malformed = (whole.len() > 1 && whole.starts_with('0')) || unsigned.ends_with('.');
            if malformed {
                prop_assert_eq!(parsed, Err(AmountError::NotDecimal));
            } else if fraction.len() > usize::from(exponent) {
                prop_assert_eq!(parsed, Err(AmountError::TooManyDecimals));
            } else {
                let padded = format!("{whole}{fraction:0<width$}", width = usize::from(exponent));
                let magnitude: u128 = padded.parse().unwrap();
                let value = if negative { -(magnitude as i128) } else { magnitude as i128 };
                match i64::try_from(value) {
                    Ok(v) => prop_assert_eq!(parsed, Ok(v)),
                    Err(_) => prop_assert_eq!(parsed, Err(AmountError::Overflow)),
                }
            }
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,40}", exponent in 0u8..=20) {
            let _ = parse_minor(&text, exponent);
        }
    }
}
