//! The unit-conversion scenarios: many generated amounts, in currencies of
//! exponents 0, 2, 3 and 4, moved through the real adapter and its real
//! provider, with the provider's books and the adapter's balance query read
//! back to the exact minor unit. An adapter that rounds, truncates or
//! overflows anywhere between canonical minor units and the provider's own
//! units fails here, whatever its own unit tests say.
//!
//! Amounts come from proptest strategies played by a runner with a fixed
//! seed, so every run tries the same cases and a failure names its case
//! (currency, direction, amount, starting balance). Nothing is shrunk: each
//! case costs real round trips, and the case printed can be replayed as is.
//!
//! What a provider can hold comes from [`SandboxProbe::max_amount`]: every
//! positive amount up to it must settle exactly, every other amount (above
//! it, zero, negative, or in a currency the provider cannot hold) must be
//! refused as `NotProcessed(Unrepresentable)` before anything is sent.
//!
//! [`SandboxProbe::max_amount`]: crate::SandboxProbe::max_amount

use adapter_api::{
    AccountId, AdapterError, BalanceRequest, Currency, Direction, Money, Outcome, StatusRequest,
    TxKind, TxStatus,
};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

use super::{Check, Ctx, balance_after_is, currency_of, describe, settled};

/// One currency per exponent a provider meets: 0, 2, 3 and 4.
const CURRENCIES: &[&str] = &["JPY", "EUR", "KWD", "CLF"];

/// Generated cases per currency that the provider must settle.
const SETTLED_CASES: usize = 64;

/// Generated cases per currency that the adapter must refuse (no round
/// trip, so they are cheap).
const REFUSED_CASES: usize = 64;

/// One movement on a fresh account.
#[derive(Clone, Copy, Debug)]
struct Case {
    direction: Direction,
    /// Minor units moved.
    amount: i64,
    /// The account's balance before the movement, in minor units.
    start: i64,
    /// Whether the settled debit is then rolled back.
    rollback: bool,
}

impl Case {
    fn debit(amount: i64, start: i64) -> Self {
        Self {
            direction: Direction::Debit,
            amount,
            start,
            rollback: false,
        }
    }

    fn credit(amount: i64, start: i64) -> Self {
        Self {
            direction: Direction::Credit,
            amount,
            start,
            rollback: false,
        }
    }

    /// The balance after the movement, when it fits in `max`.
    fn expected(&self, max: i64) -> Option<i64> {
        let after = match self.direction {
            Direction::Debit => self.start.checked_sub(self.amount)?,
            Direction::Credit => self.start.checked_add(self.amount)?,
        };
        (0..=max).contains(&after).then_some(after)
    }

    fn describe(&self, currency: Currency) -> String {
        let (verb, way) = match self.direction {
            Direction::Debit => ("debit", "from"),
            Direction::Credit => ("credit", "to"),
        };
        format!(
            "{currency} {verb} of {} {way} a balance of {}",
            self.amount, self.start
        )
    }
}

/// Positive amounts up to `max`, weighted towards the places conversions
/// break: small values, powers of ten and their neighbours, and the top.
fn amount_within(max: i64) -> impl Strategy<Value = i64> {
    let small = max.min(1_000);
    prop_oneof![
        1..=small,
        (0u32..=18, -1i64..=1).prop_map(move |(k, d)| (10i64.pow(k) + d).clamp(1, max)),
        1..=max,
        (0..small).prop_map(move |back| max - back),
    ]
}

/// A balance between 0 and `room`, often at either end.
fn headroom(room: i64) -> impl Strategy<Value = i64> {
    prop_oneof![Just(0), 0..=room.min(1_000), 0..=room, Just(room)]
}

/// Movements the provider can hold when its books go up to `max`: a debit
/// never exceeds the balance, a credit never takes it past `max`.
fn within(max: i64) -> impl Strategy<Value = Case> {
    (
        any::<bool>(),
        amount_within(max),
        proptest::bool::weighted(0.25),
    )
        .prop_flat_map(move |(debit, amount, rollback)| {
            headroom(max - amount).prop_map(move |h| Case {
                rollback: debit && rollback,
                ..if debit {
                    Case::debit(amount, amount + h)
                } else {
                    Case::credit(amount, h)
                }
            })
        })
}

/// Amounts no provider of ours may be sent: zero and negative ones, and
/// positive ones above `max`.
fn beyond(max: i64) -> BoxedStrategy<i64> {
    let non_positive = prop_oneof![Just(0i64), Just(-1), Just(i64::MIN), i64::MIN..=0];
    match max.checked_add(1) {
        Some(over) => prop_oneof![
            1 => non_positive,
            3 => prop_oneof![
                Just(over),
                Just(i64::MAX),
                (0..1_000i64).prop_map(move |d| over.saturating_add(d)),
                over..=i64::MAX,
            ],
        ]
        .boxed(),
        None => non_positive.boxed(),
    }
}

/// `count` values of `strategy` from `runner`.
fn generate<S: Strategy>(
    runner: &mut TestRunner,
    strategy: &S,
    count: usize,
) -> Result<Vec<S::Value>, String> {
    (0..count)
        .map(|_| {
            strategy
                .new_tree(runner)
                .map(|tree| tree.current())
                .map_err(|e| format!("generating cases: {e}"))
        })
        .collect()
}

/// The kit's currencies with what the provider can hold of each (`None`:
/// nothing).
fn currencies(c: &Ctx<'_>) -> Result<Vec<(Currency, Option<i64>)>, String> {
    CURRENCIES
        .iter()
        .map(|code| {
            let currency = currency_of(code)?;
            Ok((currency, c.sandbox().max_amount(currency)))
        })
        .collect()
}

impl Ctx<'_> {
    /// The adapter's balance query agrees with `expected`, when the
    /// provider offers one.
    async fn expect_adapter_balance(&self, account: &str, expected: Money) -> Check {
        if !self.adapter().descriptor().capabilities.balance {
            return Ok(());
        }
        let got = self
            .adapter()
            .balance(&BalanceRequest {
                account: AccountId::new(account),
                currency: expected.currency,
            })
            .await;
        match got {
            Ok(m) if m == expected => Ok(()),
            other => Err(format!(
                "the adapter's balance is {other:?}, expected {expected}"
            )),
        }
    }

    /// Plays `case` in `currency` on a fresh account and checks that it
    /// settled to the exact minor unit: the reply's balance, the provider's
    /// books, the adapter's balance query, the status query where there is
    /// one, and the rollback when the case asks for it.
    async fn settles_exactly(&self, n: usize, currency: Currency, case: Case, max: i64) -> Check {
        let what = case.describe(currency);
        let expected = case
            .expected(max)
            .map(|m| Money::new(currency, m))
            .ok_or_else(|| format!("{what}: the kit generated a case out of range"))?;
        let account = self.account(&format!("conv{n}"));
        self.sandbox()
            .seed(&account, Money::new(currency, case.start));
        let id = self.id("conv");
        let amount = Money::new(currency, case.amount);
        let o = self.transfer(case.direction, &id, &account, amount).await;
        let after = settled(&o, &what)?;
        balance_after_is(after, expected).map_err(|e| format!("{what}: {e}"))?;
        self.expect_balance(&account, expected)
            .map_err(|e| format!("{what}: {e}"))?;
        self.expect_adapter_balance(&account, expected)
            .await
            .map_err(|e| format!("{what}: {e}"))?;
        if self.adapter().descriptor().capabilities.status {
            let status = self
                .adapter()
                .status(&StatusRequest {
                    tx_id: id.clone(),
                    kind: match case.direction {
                        Direction::Debit => TxKind::Debit,
                        Direction::Credit => TxKind::Credit,
                    },
                    account: AccountId::new(account.clone()),
                    amount: Some(amount),
                })
                .await;
            if !matches!(status, TxStatus::Applied(_)) {
                return Err(format!(
                    "{what}: status query says {status:?}, expected Applied"
                ));
            }
        }
        if case.rollback {
            let start = Money::new(currency, case.start);
            let r = self.id("conv-rollback");
            let o = self.rollback(&r, &id, &account, amount).await;
            let after = settled(&o, &format!("rollback of the {what}"))?;
            balance_after_is(after, start).map_err(|e| format!("rollback of the {what}: {e}"))?;
            self.expect_balance(&account, start)
                .map_err(|e| format!("rollback of the {what}: {e}"))?;
        }
        Ok(())
    }

    /// Sends `case` in `currency` and checks that the adapter refused it
    /// before sending anything, and that nothing moved. `case.start` is
    /// seeded first unless the provider cannot hold the currency.
    async fn refused(&self, n: usize, currency: Currency, case: Case, holds: bool) -> Check {
        let what = case.describe(currency);
        let account = self.account(&format!("refused{n}"));
        if holds {
            self.sandbox()
                .seed(&account, Money::new(currency, case.start));
        }
        let id = self.id("refused");
        let o = self
            .transfer(
                case.direction,
                &id,
                &account,
                Money::new(currency, case.amount),
            )
            .await;
        if !matches!(o, Outcome::NotProcessed(AdapterError::Unrepresentable(_))) {
            return Err(format!(
                "{what}: expected NotProcessed(Unrepresentable), got {}",
                describe(&o)
            ));
        }
        if holds {
            self.expect_balance(&account, Money::new(currency, case.start))
                .map_err(|e| format!("{what}: {e}"))?;
        }
        match self.sandbox().requests_for(id.as_str()) {
            0 => Ok(()),
            sent => Err(format!(
                "{what}: refused, yet the provider received it {sent} times"
            )),
        }
    }
}

// ---- scenarios ----------------------------------------------------------

/// Generated debits (some rolled back) and credits anywhere in the range the
/// provider holds, in every currency it holds.
pub(super) async fn generated_amounts_settle_exactly(c: &Ctx<'_>) -> Check {
    let mut runner = TestRunner::deterministic();
    let mut n = 0;
    for (currency, max) in currencies(c)? {
        let Some(max) = max else { continue };
        for case in generate(&mut runner, &within(max), SETTLED_CASES)? {
            c.settles_exactly(n, currency, case, max).await?;
            n += 1;
        }
    }
    Ok(())
}

/// Fixed movements at the top of what the provider holds (`i64::MAX` minor
/// units for a provider counting in minor units) and at the bottom, and a
/// credit past the top, which must not settle nor move anything.
pub(super) async fn limits_settle_exactly(c: &Ctx<'_>) -> Check {
    let mut n = 0;
    for (currency, max) in currencies(c)? {
        let Some(max) = max else { continue };
        let edges = [
            Case::debit(max, max),
            Case::debit(1, max),
            Case::debit(max - 1, max),
            Case::credit(max, 0),
            Case::credit(1, max - 1),
            Case::credit(1, 0),
            Case {
                rollback: true,
                ..Case::debit(max, max)
            },
        ];
        for case in edges {
            c.settles_exactly(n, currency, case, max).await?;
            n += 1;
        }
        // Past the top of the books: refused by the provider (or the
        // adapter), never settled, nothing moved.
        for case in [Case::credit(1, max), Case::credit(max, 1)] {
            let what = case.describe(currency);
            let account = c.account(&format!("ceiling{n}"));
            n += 1;
            c.sandbox().seed(&account, Money::new(currency, case.start));
            let o = c
                .transfer(
                    case.direction,
                    &c.id("ceiling"),
                    &account,
                    Money::new(currency, case.amount),
                )
                .await;
            if let Outcome::Settled(_) = o {
                return Err(format!(
                    "{what}: the balance cannot hold it, got {}",
                    describe(&o)
                ));
            }
            c.expect_balance(&account, Money::new(currency, case.start))
                .map_err(|e| format!("{what}: {e}"))?;
        }
    }
    Ok(())
}

/// Generated and fixed amounts the provider cannot be sent (zero, negative,
/// above what it holds, or in a currency it does not hold), both ways.
pub(super) async fn inexpressible_amounts_are_refused(c: &Ctx<'_>) -> Check {
    let mut runner = TestRunner::deterministic();
    let mut n = 0;
    for (currency, max) in currencies(c)? {
        let cases = refused_cases(&mut runner, max)?;
        for case in cases {
            c.refused(n, currency, case, max.is_some()).await?;
            n += 1;
        }
    }
    Ok(())
}

/// Generated and fixed cases that must be refused for a currency the
/// provider holds up to `max` (`None`: not at all).
fn refused_cases(runner: &mut TestRunner, max: Option<i64>) -> Result<Vec<Case>, String> {
    let strategy = match max {
        Some(max) => (any::<bool>(), beyond(max), headroom(max))
            .prop_map(|(debit, amount, start)| {
                if debit {
                    Case::debit(amount, start)
                } else {
                    Case::credit(amount, start)
                }
            })
            .boxed(),
        // Not even a positive amount of it can be sent.
        None => (any::<bool>(), 1i64..=i64::MAX)
            .prop_map(|(debit, amount)| {
                if debit {
                    Case::debit(amount, 0)
                } else {
                    Case::credit(amount, 0)
                }
            })
            .boxed(),
    };
    let mut cases = generate(runner, &strategy, REFUSED_CASES)?;
    let fixed = [0, -1, i64::MIN]
        .into_iter()
        .chain(max.and_then(|m| m.checked_add(1)))
        .chain(max.filter(|m| *m < i64::MAX).map(|_| i64::MAX))
        .chain(max.is_none().then_some(1));
    for amount in fixed {
        let start = max.unwrap_or(0);
        cases.push(Case::debit(amount, start));
        cases.push(Case::credit(amount, 0));
    }
    Ok(cases)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAXES: [i64; 3] = [i64::MAX, i64::MAX / 1_000, i64::MAX / 100_000];

    #[test]
    fn settled_cases_stay_in_range_and_reach_both_ends() {
        let mut runner = TestRunner::deterministic();
        for max in MAXES {
            let cases = generate(&mut runner, &within(max), SETTLED_CASES).unwrap();
            for case in &cases {
                assert!((1..=max).contains(&case.amount), "{case:?}");
                assert!(case.expected(max).is_some(), "{case:?}");
                assert!(!case.rollback || case.direction == Direction::Debit);
            }
            let any = |f: &dyn Fn(&Case) -> bool| cases.iter().any(f);
            assert!(any(&|c| c.amount <= 1_000), "small amounts, max {max}");
            assert!(any(&|c| c.amount > max - 1_000), "top amounts, max {max}");
            assert!(any(&|c| c.start == 0 || c.expected(max) == Some(0)));
            assert!(any(&|c| c.start == max || c.expected(max) == Some(max)));
            assert!(any(&|c| c.direction == Direction::Credit));
            assert!(any(&|c| c.rollback));
        }
    }

    #[test]
    fn refused_cases_are_never_expressible() {
        let mut runner = TestRunner::deterministic();
        for max in MAXES {
            let cases = refused_cases(&mut runner, Some(max)).unwrap();
            assert!(cases.iter().all(|c| c.amount <= 0 || c.amount > max));
            assert!(cases.iter().all(|c| (0..=max).contains(&c.start)));
            assert!(cases.iter().any(|c| c.amount == i64::MIN));
            if max < i64::MAX {
                assert!(cases.iter().any(|c| c.amount == max + 1));
                assert!(cases.iter().filter(|c| c.amount > max).count() > cases.len() / 2);
            }
        }
        let cases = refused_cases(&mut runner, None).unwrap();
        assert!(cases.iter().any(|c| c.amount > 0));
    }
}
