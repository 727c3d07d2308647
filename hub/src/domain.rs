//! The hub's vocabulary: validated ids, transaction kinds and states, and the
//! transaction record the journal keeps. Everything crossing a module border
//! uses these types, never bare strings or integers.

use std::fmt;

use adapter_api::{DeclineReason, Money, ProviderTxId};
use sha2::{Digest, Sha256};

/// Why a value is not an acceptable id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Empty.
    #[error("must not be empty")]
    Empty,
    /// Longer than allowed.
    #[error("must be at most {max} characters")]
    TooLong {
        /// The limit.
        max: usize,
    },
    /// Holds a character outside the allowed set.
    #[error("may only contain {allowed}")]
    BadCharacter {
        /// The allowed set, for the message.
        allowed: &'static str,
    },
}

const MAX_ID: usize = 128;
const KEY_CHARS: &str = "letters, digits and . _ : -";
const ACCOUNT_CHARS: &str = "letters, digits and . _ : @ -";

fn check_id(value: &str, extra: &[u8], allowed: &'static str) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::Empty);
    }
    if value.len() > MAX_ID {
        return Err(IdError::TooLong { max: MAX_ID });
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
    {
        return Err(IdError::BadCharacter { allowed });
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $extra:expr, $allowed:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps `value`.
            pub fn parse(value: &str) -> Result<Self, IdError> {
                check_id(value, $extra, $allowed)?;
                Ok(Self(value.to_owned()))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A partner, as named in the hub's configuration.
    PartnerId, b"._-", "letters, digits and . _ -"
);
id_type!(
    /// A provider, as named in the hub's configuration.
    ProviderId, b"._-", "letters, digits and . _ -"
);
id_type!(
    /// A partner-chosen idempotency key; unique per partner.
    IdempotencyKey, b"._:-", KEY_CHARS
);
id_type!(
    /// A partner's free reference (round, order, invoice).
    Reference, b"._:-", KEY_CHARS
);
id_type!(
    /// An account at a provider.
    Account, b"._:@-", ACCOUNT_CHARS
);

/// A hub transaction id. Derived from (partner, idempotency key), so the
/// same call always gets the same id, and the provider sees it as its
/// transaction id.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct TransactionId(String);

impl TransactionId {
    /// The id of the money call `key` of `partner`.
    pub fn derive(partner: &PartnerId, key: &IdempotencyKey) -> Self {
        let mut name = Vec::with_capacity(partner.0.len() + key.0.len() + 1);
        name.extend_from_slice(partner.0.as_bytes());
        name.push(0);
        name.extend_from_slice(key.0.as_bytes());
        Self(uuid::Uuid::new_v5(&ID_NAMESPACE, &name).to_string())
    }

    /// The provider-side id of the hub's own rollback that compensates the
    /// debit `debit` (stable, so repeated compensations are one at the
    /// provider).
    pub fn compensation_of(debit: &TransactionId) -> Self {
        let mut name = b"compensation\0".to_vec();
        name.extend_from_slice(debit.0.as_bytes());
        Self(uuid::Uuid::new_v5(&ID_NAMESPACE, &name).to_string())
    }

    /// Wraps an id read back from the journal or a partner's request. Only
    /// the hub's own ids (UUIDs) are accepted.
    pub fn parse(value: &str) -> Result<Self, IdError> {
        match uuid::Uuid::try_parse(value) {
            Ok(id) => Ok(Self(id.to_string())),
            Err(_) if value.is_empty() => Err(IdError::Empty),
            Err(_) => Err(IdError::BadCharacter {
                allowed: "a transaction id (UUID)",
            }),
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The same id as the provider sees it.
    pub fn provider_tx_id(&self) -> ProviderTxId {
        ProviderTxId::new(self.0.clone())
    }
}

impl fmt::Display for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Namespace of derived transaction ids (a fixed random UUID).
const ID_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x4f1c_9a3e_2b7d_4e60_9c51_8d2a_6f03_b7e4);

/// What a transaction does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TxKind {
    /// Money taken from the account.
    Debit,
    /// Money given to the account.
    Credit,
    /// Reversal of a debit.
    Rollback,
}

impl TxKind {
    /// The journal's code for the kind.
    pub fn code(self) -> i64 {
        match self {
            TxKind::Debit => 1,
            TxKind::Credit => 2,
            TxKind::Rollback => 3,
        }
    }

    /// The kind for a journal code.
    pub fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            1 => TxKind::Debit,
            2 => TxKind::Credit,
            3 => TxKind::Rollback,
            _ => return None,
        })
    }
}

/// Where a transaction is in its life. `Sent` is internal: partners see it
/// as PENDING.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TxState {
    /// Intent durable, provider call in progress (or interrupted).
    Sent,
    /// Outcome unknown; to be resolved.
    Pending,
    /// Money moved.
    Settled,
    /// Refused; nothing moved.
    Declined,
    /// Reversed, or acknowledged as never applied.
    RolledBack,
    /// Provably nothing moved; the same call may run again.
    Failed,
}

impl TxState {
    /// The journal's code for the state.
    pub fn code(self) -> i64 {
        match self {
            TxState::Sent => 0,
            TxState::Pending => 1,
            TxState::Settled => 2,
            TxState::Declined => 3,
            TxState::RolledBack => 4,
            TxState::Failed => 5,
        }
    }

    /// The state for a journal code.
    pub fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            0 => TxState::Sent,
            1 => TxState::Pending,
            2 => TxState::Settled,
            3 => TxState::Declined,
            4 => TxState::RolledBack,
            5 => TxState::Failed,
            _ => return None,
        })
    }

    /// Whether the state can still change through the provider.
    pub fn is_open(self) -> bool {
        matches!(self, TxState::Sent | TxState::Pending)
    }
}

/// The journal's code for a decline reason.
pub fn decline_code(reason: DeclineReason) -> i64 {
    match reason {
        DeclineReason::InsufficientFunds => 1,
        DeclineReason::AccountBlocked => 2,
        DeclineReason::LimitExceeded => 3,
        DeclineReason::WrongCurrency => 4,
        DeclineReason::UnknownAccount => 5,
        DeclineReason::DuplicateTransaction => 6,
        DeclineReason::AlreadyRolledBack => 7,
        DeclineReason::Other => 8,
        DeclineReason::NotReversible => 9,
    }
}

/// The decline reason for a journal code.
pub fn decline_from_code(code: i64) -> Option<DeclineReason> {
    Some(match code {
        1 => DeclineReason::InsufficientFunds,
        2 => DeclineReason::AccountBlocked,
        3 => DeclineReason::LimitExceeded,
        4 => DeclineReason::WrongCurrency,
        5 => DeclineReason::UnknownAccount,
        6 => DeclineReason::DuplicateTransaction,
        7 => DeclineReason::AlreadyRolledBack,
        8 => DeclineReason::Other,
        9 => DeclineReason::NotReversible,
        _ => return None,
    })
}

/// Fingerprint of a money call: a hash of every field that changes the money
/// movement. Two calls with one idempotency key must have equal fingerprints.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// Hashes length-prefixed fields, so no two field lists collide.
    pub fn of(fields: &[&[u8]]) -> Self {
        let mut h = Sha256::new();
        for f in fields {
            h.update((f.len() as u64).to_be_bytes());
            h.update(f);
        }
        Self(h.finalize().into())
    }
}

/// A transaction as the journal holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxRecord {
    /// Position in the journal: the order of `ListTransactions`.
    pub seq: i64,
    /// Hub (and provider-side) id.
    pub id: TransactionId,
    /// Owner.
    pub partner: PartnerId,
    /// The partner's key for the call.
    pub key: IdempotencyKey,
    /// What it does.
    pub kind: TxKind,
    /// Where it is.
    pub state: TxState,
    /// Why it was declined.
    pub decline_reason: Option<DeclineReason>,
    /// Provider it went to.
    pub provider: ProviderId,
    /// Account at the provider (empty for a tombstone).
    pub account: String,
    /// Amount; `None` for a rollback that reverses a debit the hub never
    /// saw.
    pub amount: Option<Money>,
    /// The partner's reference.
    pub reference: Option<String>,
    /// For a rollback: the debit it reverses.
    pub reverses: Option<TransactionId>,
    /// Balance after, when the provider reported it.
    pub balance_after: Option<Money>,
    /// The provider's reference.
    pub provider_ref: Option<String>,
    /// Microseconds since the Unix epoch when first received.
    pub created_us: i64,
    /// Microseconds since the Unix epoch of the last state change.
    pub updated_us: i64,
    /// Whether this record stands for a debit key the hub never saw, closed
    /// by a rollback (a tombstone refuses a later debit with that key).
    pub tombstone: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!(IdempotencyKey::parse("order-1:a.b_c").is_ok());
        assert_eq!(IdempotencyKey::parse(""), Err(IdError::Empty));
        assert_eq!(
            IdempotencyKey::parse(&"k".repeat(129)),
            Err(IdError::TooLong { max: 128 })
        );
        assert!(matches!(
            IdempotencyKey::parse("a b"),
            Err(IdError::BadCharacter { .. })
        ));
        assert!(Account::parse("player@site").is_ok());
        assert!(IdempotencyKey::parse("player@site").is_err());
    }

    #[test]
    fn transaction_ids_derive_per_partner_and_key() {
        let p = PartnerId::parse("p1").unwrap();
        let q = PartnerId::parse("p2").unwrap();
        let k = IdempotencyKey::parse("k1").unwrap();
        let a = TransactionId::derive(&p, &k);
        assert_eq!(a, TransactionId::derive(&p, &k));
        assert_ne!(a, TransactionId::derive(&q, &k));
        assert_eq!(TransactionId::parse(a.as_str()), Ok(a));
        assert!(TransactionId::parse("not-a-uuid").is_err());
    }

    #[test]
    fn fingerprints_do_not_collide_on_field_boundaries() {
        assert_ne!(
            Fingerprint::of(&[b"ab", b"c"]),
            Fingerprint::of(&[b"a", b"bc"])
        );
        assert_eq!(Fingerprint::of(&[b"a"]), Fingerprint::of(&[b"a"]));
    }
}
