//! The only crate a provider adapter depends on.
//!
//! An adapter turns the hub's canonical requests into one provider's wire
//! dialect and classifies every reply into exactly one [`Outcome`]. Adapters
//! are stateless transformers over a transport: they never retry, never time
//! out on their own and never decide what the partner sees. The hub wraps
//! them in deadlines, retries and breakers, and journals what they report.

mod money;

pub use money::{Currency, Money, MoneyError};

use std::fmt;

/// A boxed error from a transport or codec, kept as the source of an
/// [`AdapterError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The provider-side transaction id. The hub derives it from (partner,
/// idempotency key), so every retry, failover and recovery of one money call
/// presents the same id to the provider.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProviderTxId(String);

impl ProviderTxId {
    /// Wraps an id the hub derived.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The id as sent on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProviderTxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ProviderTxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProviderTxId({})", self.0)
    }
}

/// An account at a provider, as the partner named it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AccountId(String);

impl AccountId {
    /// Wraps an account name the hub has validated.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The account as sent on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which way money moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Money leaves the account.
    Debit,
    /// Money enters the account.
    Credit,
}

/// A debit or credit, in canonical form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MoneyRequest {
    /// Debit or credit.
    pub direction: Direction,
    /// Provider-side id, stable across retries.
    pub tx_id: ProviderTxId,
    /// The account.
    pub account: AccountId,
    /// The amount, always positive.
    pub amount: Money,
    /// The partner's reference (round, order), if any.
    pub reference: Option<String>,
}

/// A rollback of an earlier debit, in canonical form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RollbackRequest {
    /// Provider-side id of the rollback itself.
    pub tx_id: ProviderTxId,
    /// Provider-side id of the debit it reverses.
    pub original_tx_id: ProviderTxId,
    /// The account of the debit.
    pub account: AccountId,
    /// The amount of the debit, when the hub knows it.
    pub amount: Option<Money>,
}

/// A balance query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BalanceRequest {
    /// The account.
    pub account: AccountId,
    /// The currency of the balance.
    pub currency: Currency,
}

/// Why a provider refused. A closed set every dialect maps onto.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeclineReason {
    /// The balance is too low.
    InsufficientFunds,
    /// The account may not transact.
    AccountBlocked,
    /// A provider-side limit was reached.
    LimitExceeded,
    /// The account holds another currency.
    WrongCurrency,
    /// The provider has no such account.
    UnknownAccount,
    /// The provider holds this transaction id with other parameters.
    DuplicateTransaction,
    /// The provider refuses the id because it was rolled back before.
    AlreadyRolledBack,
    /// The transaction cannot be reversed (a rollback of a credit).
    NotReversible,
    /// A definite refusal the dialect does not name.
    Other,
}

/// What a provider did with a money movement (debit, credit or rollback).
/// Every reply, including every failure to get one, is exactly one of these.
#[derive(Debug)]
pub enum Outcome {
    /// The provider confirms the movement. For a rollback: the debit is
    /// reversed, or the provider confirms it never applied it.
    Settled(Settlement),
    /// The provider refused; nothing moved. Never retried.
    Declined(DeclineReason),
    /// Provably nothing happened at the provider (the request never left, or
    /// was refused before processing). Safe to retry with the same id.
    NotProcessed(AdapterError),
    /// The movement may or may not have happened: a timeout after sending, a
    /// 5xx after sending, an unreadable or wrongly signed reply.
    Unknown(AdapterError),
}

impl Outcome {
    /// A short, stable name of the outcome class, for logs and metrics.
    pub fn class(&self) -> &'static str {
        match self {
            Outcome::Settled(_) => "settled",
            Outcome::Declined(_) => "declined",
            Outcome::NotProcessed(_) => "not_processed",
            Outcome::Unknown(_) => "unknown",
        }
    }
}

/// What the provider reported with a settled movement.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settlement {
    /// The account balance after the movement, when the provider gave one.
    pub balance_after: Option<Money>,
    /// The provider's own reference, when it gave one.
    pub provider_ref: Option<String>,
}

/// Why an adapter call did not produce a business answer.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// The request could not be delivered (connection refused, DNS): nothing
    /// reached the provider.
    #[error("could not reach the provider")]
    Connect(#[source] BoxError),
    /// The request was sent but the exchange failed before a full reply.
    #[error("the exchange with the provider failed after sending")]
    Transport(#[source] BoxError),
    /// The provider answered with an HTTP status that carries no business
    /// answer.
    #[error("the provider answered HTTP {status}")]
    HttpStatus {
        /// The HTTP status code.
        status: u16,
    },
    /// The reply could not be understood.
    #[error("the provider's reply is malformed")]
    Malformed(#[source] BoxError),
    /// The reply's signature is missing or wrong.
    #[error("the provider's reply signature does not verify")]
    BadSignature,
    /// The provider rejected our request as malformed or unauthenticated
    /// before processing it: a bug or misconfiguration on our side.
    #[error("the provider rejected the request: {code}")]
    Rejected {
        /// The dialect's error code.
        code: &'static str,
    },
    /// The provider refused a query (balance, status).
    #[error("the provider declined: {0:?}")]
    Declined(DeclineReason),
    /// The canonical request cannot be expressed in the dialect (an amount
    /// that does not convert exactly, an id too long).
    #[error("the request cannot be expressed in this dialect")]
    Unrepresentable(#[source] BoxError),
}

/// What an adapter publishes about itself and its provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Descriptor {
    /// The dialect's name, such as `json-hmac`.
    pub dialect: &'static str,
    /// Whether the provider answers balance queries.
    pub supports_balance: bool,
    /// Whether the provider answers transaction status queries.
    pub supports_status: bool,
}

/// A provider adapter: canonical requests in, classified outcomes out.
///
/// Implementations are stateless apart from configuration and a connection
/// pool; they are shared by every request (`Send + Sync`) and held as
/// `Arc<dyn Adapter>` in the hub's registry.
#[async_trait::async_trait]
pub trait Adapter: Send + Sync + 'static {
    /// What this adapter and its provider can do.
    fn descriptor(&self) -> Descriptor;

    /// Moves money. Never returns an error: every failure is classified.
    async fn transfer(&self, req: &MoneyRequest) -> Outcome;

    /// Reverses an earlier debit. A provider's "not found" for the original
    /// is `Settled` (nothing to reverse); a refusal to reverse a credit is
    /// `Declined(NotReversible)`.
    async fn rollback(&self, req: &RollbackRequest) -> Outcome;

    /// Reads an account's balance.
    async fn balance(&self, req: &BalanceRequest) -> Result<Money, AdapterError>;
}
