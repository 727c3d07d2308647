//! The operation mix: which settlement calls the generator makes, in which
//! proportions, written `debit=40,credit=20,rollback=10,balance=15,get=15`.

use std::fmt;
use std::str::FromStr;

use rand::Rng;
use serde::Serialize;

/// One kind of settlement call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// `Debit`: a money call with a fresh idempotency key.
    Debit,
    /// `Credit`: a money call with a fresh idempotency key.
    Credit,
    /// `Rollback` of a debit this generator saw settle (a debit when there
    /// is none yet).
    Rollback,
    /// `GetBalance` of a seeded account.
    GetBalance,
    /// `GetTransaction` of a key this generator used (or an unknown one).
    GetTransaction,
}

impl Op {
    /// Every operation, in a fixed order (the index of [`Op::index`]).
    pub const ALL: [Op; 5] = [
        Op::Debit,
        Op::Credit,
        Op::Rollback,
        Op::GetBalance,
        Op::GetTransaction,
    ];

    /// Its position in [`Op::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The name used in mixes, reports and the progress line.
    pub fn name(self) -> &'static str {
        match self {
            Op::Debit => "debit",
            Op::Credit => "credit",
            Op::Rollback => "rollback",
            Op::GetBalance => "balance",
            Op::GetTransaction => "get",
        }
    }

    /// Moves money (needs an idempotency key, is journaled).
    pub fn is_money(self) -> bool {
        matches!(self, Op::Debit | Op::Credit | Op::Rollback)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Relative weights of the operations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mix {
    weights: [u32; 5],
    total: u32,
}

impl Mix {
    /// Only debits (the ceiling comparison).
    pub fn debits_only() -> Self {
        Self::new([1, 0, 0, 0, 0]).unwrap_or_else(|_| unreachable!())
    }

    /// The default mix: 40 debit, 20 credit, 10 rollback, 15 balance, 15 get.
    pub fn standard() -> Self {
        Self::new([40, 20, 10, 15, 15]).unwrap_or_else(|_| unreachable!())
    }

    /// A mix of these weights, in the order of [`Op::ALL`]; at least one
    /// must be positive.
    pub fn new(weights: [u32; 5]) -> Result<Self, MixError> {
        let total = weights.iter().sum();
        if total == 0 {
            return Err(MixError::Empty);
        }
        Ok(Self { weights, total })
    }

    /// Draws an operation.
    pub fn pick(&self, rng: &mut impl Rng) -> Op {
        let mut n = rng.random_range(0..self.total);
        for op in Op::ALL {
            let w = self.weights[op.index()];
            if n < w {
                return op;
            }
            n -= w;
        }
        Op::Debit
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = Op::ALL
            .iter()
            .filter(|op| self.weights[op.index()] > 0)
            .map(|op| format!("{}={}", op.name(), self.weights[op.index()]))
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// A mix that does not parse.
#[derive(Debug, PartialEq, Eq)]
pub enum MixError {
    /// Every weight is zero.
    Empty,
    /// `name=weight` with an unknown name or a weight that is not a number.
    Bad(String),
}

impl fmt::Display for MixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MixError::Empty => f.write_str("every weight is zero"),
            MixError::Bad(part) => write!(
                f,
                "{part:?}: expected NAME=WEIGHT with NAME one of debit, credit, rollback, balance, get"
            ),
        }
    }
}

impl std::error::Error for MixError {}

impl FromStr for Mix {
    type Err = MixError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut weights = [0u32; 5];
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let bad = || MixError::Bad(part.to_owned());
            let (name, weight) = part.split_once('=').ok_or_else(bad)?;
            let op = Op::ALL
                .into_iter()
                .find(|op| op.name() == name.trim())
                .ok_or_else(bad)?;
            weights[op.index()] = weight.trim().parse().map_err(|_| bad())?;
        }
        Self::new(weights)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn a_mix_parses_prints_and_draws_its_proportions() {
        let mix: Mix = "debit=3, get=1".parse().unwrap();
        assert_eq!(mix.to_string(), "debit=3,get=1");
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut counts = [0u32; 5];
        for _ in 0..4000 {
            counts[mix.pick(&mut rng).index()] += 1;
        }
        assert_eq!(counts[Op::Credit.index()], 0);
        assert!(counts[Op::Debit.index()] > 2 * counts[Op::GetTransaction.index()]);
        assert!(counts[Op::GetTransaction.index()] > 0);
    }

    #[test]
    fn bad_mixes_are_refused() {
        assert_eq!("debit=0".parse::<Mix>(), Err(MixError::Empty));
        assert!(matches!("withdraw=1".parse::<Mix>(), Err(MixError::Bad(_))));
        assert!(matches!("debit=x".parse::<Mix>(), Err(MixError::Bad(_))));
    }
}
