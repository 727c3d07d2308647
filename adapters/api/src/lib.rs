//! The only crate a provider adapter depends on.
//!
//! An adapter turns the hub's canonical requests into one provider's wire
//! dialect and classifies every reply into exactly one [`Outcome`]. Adapters
//! are stateless transformers over a transport: they never retry, never time
//! out on their own and never decide what the partner sees. The hub wraps
//! them in deadlines, retries and breakers, and journals what they report.

pub mod exchange;
mod money;

pub use money::{Currency, Money, MoneyError};

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

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
    /// The provider does not offer this operation.
    #[error("the provider does not offer this operation")]
    Unsupported,
}

/// What an adapter publishes about itself and its provider: what it can
/// do, and the provider habits the hub must know to normalize behaviour.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Descriptor {
    /// The dialect's name, such as `json-hmac`.
    pub dialect: &'static str,
    /// Optional operations the provider offers.
    pub capabilities: Capabilities,
    /// What the provider does with a transaction id it has seen before.
    pub duplicates: DuplicateHabit,
    /// What the provider answers to a rollback of a transaction it never
    /// applied (the adapter maps it to `Settled` either way).
    pub rollback_of_unknown: UnknownRollbackHabit,
    /// A sensible per-call timeout for this provider when the configuration
    /// gives none.
    pub default_timeout: Duration,
}

/// Optional operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// The provider answers balance queries ([`Adapter::balance`]).
    pub balance: bool,
    /// The provider answers transaction status queries ([`Adapter::status`]);
    /// without it an unknown outcome can only be resolved by compensation.
    pub status: bool,
}

/// How a provider treats a transaction id it has seen before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DuplicateHabit {
    /// Any repeat gets the original answer; nothing moves.
    ReplaysOriginal,
    /// A repeat with the same parameters gets the original answer; with
    /// other parameters it is refused as a duplicate.
    ReplaysSameRefusesDifferent,
}

/// How a provider answers a rollback of a transaction it never applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnknownRollbackHabit {
    /// A "not found" error.
    NotFoundError,
    /// Success, and a tombstone that refuses the transaction if it arrives
    /// later.
    AcknowledgesWithTombstone,
}

/// A status query for a transaction the hub sent earlier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusRequest {
    /// Provider-side id of the transaction.
    pub tx_id: ProviderTxId,
    /// What the hub sent under that id.
    pub kind: TxKind,
    /// The account it was sent for.
    pub account: AccountId,
    /// The amount it was sent with, when it moves money; a provider record
    /// with another amount or currency is not ours and is reported Unknown.
    pub amount: Option<Money>,
}

/// What a transaction was, as the hub sent it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TxKind {
    /// A debit.
    Debit,
    /// A credit.
    Credit,
    /// A rollback.
    Rollback,
}

/// What a provider says it did with a transaction.
#[derive(Debug)]
pub enum TxStatus {
    /// Applied, and it stands.
    Applied(Settlement),
    /// Applied, then reversed.
    RolledBack,
    /// Refused; nothing moved.
    Declined(DeclineReason),
    /// The provider has no record of the id.
    NotFound,
    /// The status could not be learned (transport failure, malformed or
    /// untrusted reply, or the provider has no status query).
    Unknown(AdapterError),
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

    /// Reads an account's balance. Providers without balance queries keep
    /// this default.
    async fn balance(&self, req: &BalanceRequest) -> Result<Money, AdapterError> {
        let _ = req;
        Err(AdapterError::Unsupported)
    }

    /// Asks the provider what became of a transaction. Read-only, so safe to
    /// repeat. Providers without status queries keep this default.
    async fn status(&self, req: &StatusRequest) -> TxStatus {
        let _ = req;
        TxStatus::Unknown(AdapterError::Unsupported)
    }
}

/// Builds adapters of one dialect from a provider's configuration. The hub
/// keeps one factory per dialect; a provider entry names its dialect, and
/// everything else in the entry (endpoints, keys, secrets) is handed to the
/// factory as `settings`.
pub trait AdapterFactory: Send + Sync + 'static {
    /// The dialect this factory builds, as named in configuration.
    fn dialect(&self) -> &'static str;

    /// Builds an adapter from the provider's settings (a JSON object). Any
    /// missing, unknown or invalid setting is an error naming it.
    fn build(&self, settings: &serde_json::Value) -> Result<Arc<dyn Adapter>, SettingsError>;
}

/// A provider setting that is missing, unknown or invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct SettingsError {
    /// The setting's name (empty when the whole entry is wrong).
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl SettingsError {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Turns a serde error from deserializing the settings into one naming
    /// the field where serde could tell it.
    pub fn from_serde(e: &serde_json::Error) -> Self {
        let text = e.to_string();
        let field = ["unknown field `", "missing field `", "duplicate field `"]
            .iter()
            .find_map(|p| text.split(p).nth(1))
            .and_then(|rest| rest.split('`').next())
            .unwrap_or("")
            .to_owned();
        Self {
            field,
            reason: text,
        }
    }
}
