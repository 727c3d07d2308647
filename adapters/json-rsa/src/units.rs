//! json-rsa amounts: integers of 1e-5 of the currency unit, converted to and
//! from the hub's integer minor units without ever rounding.
//!
//! A currency with exponent `e` (2 for EUR) has `10^(5 - e)` provider units
//! per minor unit (1000 for EUR: EUR 12.50 = 1250 cents = 1 250 000 units).
//!
//! | direction | rule | refused as |
//! |---|---|---|
//! | minor units -> provider units | multiply by `10^(5 - e)`, checked | [`UnitsError::Overflow`] past `i64`; [`UnitsError::ExponentTooLarge`] when `e > 5` (finer than the wire can say) |
//! | provider units -> minor units | divide by `10^(5 - e)` only when it divides exactly | [`UnitsError::Inexact`] when the value is not a whole number of minor units; [`UnitsError::ExponentTooLarge`] when `e > 5` |
//!
//! ISO 4217 has no exponent above 4 today, so the last row exists for
//! completeness: nothing is ever sent that the provider would have to round.

use adapter_api::{Currency, Money};

/// The wire's decimal places: amounts are integers of 1e-5 of the unit.
pub const WIRE_EXPONENT: u8 = 5;

/// Why an amount does not convert exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UnitsError {
    /// The currency's minor unit is finer than 1e-5: the wire cannot carry it.
    #[error("the currency has {exponent} decimal places, more than the wire's 5")]
    ExponentTooLarge {
        /// The currency's exponent.
        exponent: u8,
    },
    /// The converted value does not fit in a signed 64-bit integer.
    #[error("the amount does not fit in 64 bits after conversion")]
    Overflow,
    /// The provider's value is not a whole number of minor units.
    #[error("the amount is not a whole number of minor units")]
    Inexact,
}

/// Provider units per minor unit for a currency of `exponent` decimal places.
pub fn units_per_minor(exponent: u8) -> Result<i64, UnitsError> {
    let places = WIRE_EXPONENT
        .checked_sub(exponent)
        .ok_or(UnitsError::ExponentTooLarge { exponent })?;
    10i64
        .checked_pow(u32::from(places))
        .ok_or(UnitsError::Overflow)
}

/// `minor_units` of a currency with `exponent` decimal places, in 1e-5
/// units.
pub fn minor_to_units(minor_units: i64, exponent: u8) -> Result<i64, UnitsError> {
    minor_units
        .checked_mul(units_per_minor(exponent)?)
        .ok_or(UnitsError::Overflow)
}

/// `units` (1e-5 of the unit) in minor units of a currency with `exponent`
/// decimal places, only when exact.
pub fn units_to_minor(units: i64, exponent: u8) -> Result<i64, UnitsError> {
    let factor = units_per_minor(exponent)?;
    // `factor` is at least 1, so neither operation can overflow or divide
    // by zero; `checked_*` only keeps that from being an assumption.
    match units.checked_rem(factor) {
        Some(0) => units.checked_div(factor).ok_or(UnitsError::Overflow),
        Some(_) => Err(UnitsError::Inexact),
        None => Err(UnitsError::Overflow),
    }
}

/// `money` as the wire's integer of 1e-5 units.
pub fn to_wire(money: Money) -> Result<i64, UnitsError> {
    minor_to_units(money.minor_units, money.currency.exponent())
}

/// A wire amount of `currency` as [`Money`], only when exact.
pub fn from_wire(units: i64, currency: Currency) -> Result<Money, UnitsError> {
    Ok(Money::new(
        currency,
        units_to_minor(units, currency.exponent())?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn currency(code: &str) -> Currency {
        Currency::from_code(code).unwrap()
    }

    #[test]
    fn known_answers() {
        // The spec's own example: EUR 12.50 = 1250000.
        assert_eq!(to_wire(Money::new(currency("EUR"), 1250)), Ok(1_250_000));
        assert_eq!(
            from_wire(1_250_000, currency("EUR")),
            Ok(Money::new(currency("EUR"), 1250))
        );
        assert_eq!(to_wire(Money::new(currency("JPY"), 7)), Ok(700_000));
        assert_eq!(to_wire(Money::new(currency("BHD"), 1)), Ok(100));
        assert_eq!(to_wire(Money::new(currency("CLF"), 1)), Ok(10));
        assert_eq!(units_per_minor(5), Ok(1));
        assert_eq!(minor_to_units(-3, 2), Ok(-3000));
        assert_eq!(units_to_minor(-3000, 2), Ok(-3));
        assert_eq!(units_to_minor(0, 0), Ok(0));
    }

    #[test]
    fn inexact_values_are_refused() {
        assert_eq!(
            from_wire(1_250_001, currency("EUR")),
            Err(UnitsError::Inexact)
        );
        assert_eq!(units_to_minor(999, 2), Err(UnitsError::Inexact));
        assert_eq!(units_to_minor(-1, 2), Err(UnitsError::Inexact));
        assert_eq!(units_to_minor(1, 4), Err(UnitsError::Inexact));
        assert_eq!(units_to_minor(i64::MAX, 2), Err(UnitsError::Inexact));
        assert_eq!(units_to_minor(i64::MIN, 2), Err(UnitsError::Inexact));
        assert_eq!(units_to_minor(i64::MIN, 5), Ok(i64::MIN));
    }

    #[test]
    fn overflow_is_refused() {
        assert_eq!(minor_to_units(i64::MAX, 2), Err(UnitsError::Overflow));
        assert_eq!(minor_to_units(i64::MIN, 0), Err(UnitsError::Overflow));
        assert_eq!(
            minor_to_units(i64::MAX / 1000 + 1, 2),
            Err(UnitsError::Overflow)
        );
        assert_eq!(
            minor_to_units(i64::MAX / 1000, 2),
            Ok(i64::MAX / 1000 * 1000)
        );
        assert_eq!(minor_to_units(i64::MAX, 5), Ok(i64::MAX));
    }

    #[test]
    fn exponents_finer_than_the_wire_are_refused() {
        for exponent in [6u8, 7, 18, u8::MAX] {
            assert_eq!(
                minor_to_units(1, exponent),
                Err(UnitsError::ExponentTooLarge { exponent })
            );
            assert_eq!(
                units_to_minor(0, exponent),
                Err(UnitsError::ExponentTooLarge { exponent })
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Every amount that converts comes back exactly, for every exponent
        /// ISO 4217 uses, and its wire value is a whole number of minor units.
        #[test]
        fn round_trip_is_exact(minor in any::<i64>(), exponent in 0u8..=4) {
            match minor_to_units(minor, exponent) {
                Ok(units) => {
                    prop_assert_eq!(units_to_minor(units, exponent), Ok(minor));
                    prop_assert_eq!(
                        i128::from(units),
                        i128::from(minor) * 10i128.pow(u32::from(5 - exponent))
                    );
                }
                Err(e) => {
                    prop_assert_eq!(e, UnitsError::Overflow);
                    let exact = i128::from(minor) * 10i128.pow(u32::from(5 - exponent));
                    prop_assert!(i64::try_from(exact).is_err());
                }
            }
        }

        /// Amounts that fit convert; the conversion is monotone.
        #[test]
        fn amounts_in_range_convert(minor in -92_233_720_368_547i64..=92_233_720_368_547, exponent in 0u8..=5) {
            let units = minor_to_units(minor, exponent);
            let bigger = minor_to_units(minor + 1, exponent);
            prop_assert!(matches!((units, bigger), (Ok(a), Ok(b)) if b > a));
        }

        /// Overflow is refused, never wrapped.
        #[test]
        fn overflow_is_never_wrapped(minor in any::<i64>(), exponent in 0u8..=4) {
            let factor = 10i64.pow(u32::from(5 - exponent));
            let fits = minor.checked_mul(factor).is_some();
            prop_assert_eq!(minor_to_units(minor, exponent).is_ok(), fits);
        }

        /// A wire value that is not a whole number of minor units is refused,
        /// whatever it is; one that is converts exactly.
        #[test]
        fn inexact_is_refused(units in any::<i64>(), exponent in 0u8..=5) {
            let factor = 10i64.pow(u32::from(5 - exponent));
            match units_to_minor(units, exponent) {
                Ok(minor) => {
                    prop_assert_eq!(units % factor, 0);
                    prop_assert_eq!(i128::from(minor) * i128::from(factor), i128::from(units));
                }
                Err(e) => {
                    prop_assert_eq!(e, UnitsError::Inexact);
                    prop_assert_ne!(units % factor, 0);
                }
            }
        }

        /// Near-misses of a whole number of minor units are always refused.
        #[test]
        fn off_by_less_than_a_minor_unit(minor in -1_000_000_000i64..1_000_000_000, exponent in 0u8..=4, off in 1i64..10) {
            let factor = 10i64.pow(u32::from(5 - exponent));
            // `factor` is at least 10 here, so `off` is a fraction of a minor unit.
            prop_assert!(off < factor);
            prop_assert_eq!(units_to_minor(minor * factor + off, exponent), Err(UnitsError::Inexact));
            prop_assert_eq!(units_to_minor(minor * factor - off, exponent), Err(UnitsError::Inexact));
        }
    }
}
