//! The money calls' request types: what the caller chooses, with the
//! idempotency key optional.

use crate::pb;

/// `amount` in `currency_code` minor units: `money("EUR", 1250)` is EUR 12.50.
pub fn money(currency_code: impl Into<String>, minor_units: i64) -> pb::Money {
    pb::Money {
        currency_code: currency_code.into(),
        minor_units,
    }
}

/// A debit or credit: `amount` from or to `account` at `provider`.
#[derive(Debug, Clone, PartialEq)]
pub struct Movement {
    /// Provider name, as configured in the hub.
    pub provider: String,
    /// Account at the provider.
    pub account: String,
    /// Amount; must be positive.
    pub amount: pb::Money,
    /// Optional partner reference (round, order or invoice id).
    pub reference: Option<String>,
    /// The idempotency key; a fresh UUIDv7 when `None`.
    pub idempotency_key: Option<String>,
}

/// A debit request.
pub type Debit = Movement;
/// A credit request.
pub type Credit = Movement;

impl Movement {
    /// A movement of `amount` for `account` at `provider`, with a generated
    /// idempotency key and no reference.
    pub fn new(provider: impl Into<String>, account: impl Into<String>, amount: pb::Money) -> Self {
        Movement {
            provider: provider.into(),
            account: account.into(),
            amount,
            reference: None,
            idempotency_key: None,
        }
    }

    /// Sets the partner reference.
    pub fn reference(mut self, reference: impl Into<String>) -> Self {
        self.reference = Some(reference.into());
        self
    }

    /// Sets the idempotency key instead of generating one.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }
}

/// Which debit a rollback reverses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollbackTarget {
    /// The debit's transaction id.
    TransactionId(String),
    /// The debit's idempotency key.
    IdempotencyKey(String),
}

/// A rollback of an earlier debit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollback {
    /// The debit to reverse.
    pub target: RollbackTarget,
    /// The debit's provider; needed with a key the hub never saw.
    pub provider: Option<String>,
    /// The rollback's own idempotency key; a fresh UUIDv7 when `None`.
    pub idempotency_key: Option<String>,
}

impl Rollback {
    /// Reverses the debit with this transaction id.
    pub fn of_transaction(transaction_id: impl Into<String>) -> Self {
        Rollback {
            target: RollbackTarget::TransactionId(transaction_id.into()),
            provider: None,
            idempotency_key: None,
        }
    }

    /// Reverses the debit made with this idempotency key at `provider`
    /// (recording a tombstone if the hub never saw it).
    pub fn of_idempotency_key(key: impl Into<String>, provider: impl Into<String>) -> Self {
        Rollback {
            target: RollbackTarget::IdempotencyKey(key.into()),
            provider: Some(provider.into()),
            idempotency_key: None,
        }
    }

    /// Sets the rollback's own idempotency key instead of generating one.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }
}
