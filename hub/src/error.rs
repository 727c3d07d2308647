//! The hub's error model and the one place it becomes a gRPC status.
//!
//! Every error says, as data, whose fault it is and whether a retry with the
//! same idempotency key is safe; [`HubError::into_status`] turns that into a
//! status code with `google.rpc` details (ErrorInfo, RetryInfo, BadRequest).
//! Messages never echo secrets or internals.

use std::collections::HashMap;
use std::time::Duration;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

use crate::domain::ProviderId;
use crate::journal::JournalError;

/// The `ErrorInfo.domain` of every hub error.
pub const ERROR_DOMAIN: &str = "hub.settlement.v1";

/// One bad field of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Field path in the request, such as `amount.minor_units`.
    pub field: &'static str,
    /// What is wrong with it.
    pub description: String,
}

/// Everything that can go wrong with a partner's call.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The request is malformed; nothing was journaled or sent.
    #[error("invalid request")]
    InvalidArgument(Vec<Violation>),
    /// No valid credentials.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// The caller's roles do not include what the RPC requires.
    #[error("this call requires the {0:?} permission")]
    PermissionDenied(crate::auth::Permission),
    /// The partner may not use this provider.
    #[error("this partner may not use provider {0}")]
    ProviderNotAllowed(ProviderId),
    /// No such transaction for this partner.
    #[error("transaction not found")]
    NotFound,
    /// The idempotency key belongs to a different request.
    #[error("the idempotency key was used for a different request")]
    IdempotencyConflict,
    /// The debit key was closed by an earlier rollback.
    #[error("a rollback closed this idempotency key before the debit arrived")]
    KeyRolledBack,
    /// The transaction cannot be rolled back.
    #[error("only debits can be rolled back; correct a credit with a debit")]
    NotReversible,
    /// A call with the same key is still in flight.
    #[error("a call with this idempotency key is in progress")]
    InProgress,
    /// The provider could not be reached and nothing moved.
    #[error("provider {provider} is unavailable; nothing moved")]
    ProviderUnavailable {
        /// The provider.
        provider: ProviderId,
        /// When trying again makes sense, if known (an open breaker).
        retry_after: Option<Duration>,
    },
    /// The hub is still resuming the provider's unfinished transactions
    /// after a start; nothing moved.
    #[error("provider {provider} is resuming unfinished transactions; nothing moved")]
    ProviderRecovering {
        /// The provider.
        provider: ProviderId,
    },
    /// Too many calls are in flight to the provider; nothing moved.
    #[error("provider {provider} is at its concurrency limit; nothing moved")]
    ProviderOverloaded {
        /// The provider.
        provider: ProviderId,
    },
    /// The hub is working on as many money calls as it may
    /// (`server.max_money_calls_in_flight`); nothing was journaled or sent.
    #[error("the hub is at its limit of {limit} money calls in flight; nothing moved")]
    HubOverloaded {
        /// The limit.
        limit: usize,
    },
    /// The provider refused a query.
    #[error("provider {provider} refused: {reason}")]
    ProviderRefused {
        /// The provider.
        provider: ProviderId,
        /// Stable reason code.
        reason: &'static str,
    },
    /// The journal cannot be written or read: fail closed.
    #[error("the journal is unavailable")]
    Journal(#[from] JournalError),
    /// The amount is over one of the partner's amount limits; nothing was
    /// journaled or sent.
    #[error("amount over the partner's {} limit of {limit} {currency} minor units", if *daily { "daily" } else { "per-transaction" })]
    AmountLimit {
        /// Currency code.
        currency: &'static str,
        /// The limit, in minor units.
        limit: i64,
        /// Whether it is the daily limit (else per transaction).
        daily: bool,
    },
    /// The partner is over a rate limit; nothing was journaled or sent.
    #[error("rate limit exceeded ({scope}); retry in {retry_after:?}")]
    RateLimited {
        /// `partner` or `partner+provider`.
        scope: &'static str,
        /// The quota's subject, such as `partner:p1/provider:acme`.
        subject: String,
        /// When a call will be admitted again.
        retry_after: Duration,
    },
    /// The hub is shutting down.
    #[error("the hub is shutting down")]
    ShuttingDown,
    /// The deadline passed before anything was sent.
    #[error("deadline exceeded before the call was sent")]
    DeadlineExceeded,
    /// A new configuration was refused; the running one stays.
    #[error("configuration refused: {field}: {reason}")]
    ConfigRefused {
        /// The field path at fault.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A bug.
    #[error("internal error")]
    Internal,
}

impl HubError {
    /// A single-field validation error.
    pub fn field(field: &'static str, description: impl Into<String>) -> Self {
        HubError::InvalidArgument(vec![Violation {
            field,
            description: description.into(),
        }])
    }

    /// The gRPC status for this error, with its details.
    pub fn into_status(self) -> Status {
        let msg = self.to_string();
        let info = |reason: &str, meta: HashMap<String, String>| {
            ErrorDetails::with_error_info(reason, ERROR_DOMAIN, meta)
        };
        let none = HashMap::new;
        let provider_meta = |p: &ProviderId| HashMap::from([("provider".into(), p.to_string())]);
        let (code, details) = match &self {
            HubError::InvalidArgument(v) => {
                let violations: Vec<FieldViolation> = v
                    .iter()
                    .map(|v| FieldViolation::new(v.field, v.description.clone()))
                    .collect();
                let msg = v
                    .iter()
                    .map(|v| format!("{}: {}", v.field, v.description))
                    .collect::<Vec<_>>()
                    .join("; ");
                return Status::with_error_details(
                    Code::InvalidArgument,
                    format!("invalid request: {msg}"),
                    ErrorDetails::with_bad_request(violations),
                );
            }
            HubError::Unauthenticated(_) => {
                (Code::Unauthenticated, info("UNAUTHENTICATED", none()))
            }
            HubError::PermissionDenied(p) => (
                Code::PermissionDenied,
                info(
                    "PERMISSION_DENIED",
                    HashMap::from([("permission".into(), p.scope().to_string())]),
                ),
            ),
            HubError::ProviderNotAllowed(p) => (
                Code::PermissionDenied,
                info("PROVIDER_NOT_ALLOWED", provider_meta(p)),
            ),
            HubError::NotFound => (Code::NotFound, info("NOT_FOUND", none())),
            HubError::IdempotencyConflict => {
                (Code::AlreadyExists, info("IDEMPOTENCY_CONFLICT", none()))
            }
            HubError::KeyRolledBack => (
                Code::FailedPrecondition,
                info("ALREADY_ROLLED_BACK", none()),
            ),
            HubError::NotReversible => (Code::FailedPrecondition, info("NOT_REVERSIBLE", none())),
            HubError::InProgress => {
                let mut d = info("IN_PROGRESS", none());
                d.set_retry_info(Some(Duration::from_millis(200)));
                (Code::Aborted, d)
            }
            HubError::ProviderUnavailable {
                provider,
                retry_after,
            } => {
                let mut d = info("PROVIDER_UNAVAILABLE", provider_meta(provider));
                d.set_retry_info(Some(retry_after.unwrap_or(Duration::from_millis(500))));
                (Code::Unavailable, d)
            }
            HubError::ProviderRecovering { provider } => {
                let mut d = info("PROVIDER_RECOVERING", provider_meta(provider));
                d.set_retry_info(Some(Duration::from_millis(500)));
                (Code::Unavailable, d)
            }
            HubError::ProviderOverloaded { provider } => {
                let mut d = info("PROVIDER_OVERLOADED", provider_meta(provider));
                d.set_retry_info(Some(Duration::from_millis(100)));
                (Code::ResourceExhausted, d)
            }
            HubError::HubOverloaded { .. } => {
                let mut d = info("HUB_OVERLOADED", none());
                d.set_retry_info(Some(Duration::from_millis(100)));
                (Code::ResourceExhausted, d)
            }
            HubError::ProviderRefused { provider, reason } => (
                Code::FailedPrecondition,
                info(reason, provider_meta(provider)),
            ),
            HubError::Journal(e) => {
                tracing::error!(error = %e, source = ?std::error::Error::source(e), "journal failure");
                let mut d = info("JOURNAL_UNAVAILABLE", none());
                d.set_retry_info(Some(Duration::from_secs(1)));
                (Code::Unavailable, d)
            }
            HubError::AmountLimit {
                currency,
                limit,
                daily,
            } => {
                let reason = if *daily {
                    "DAILY_LIMIT_EXCEEDED"
                } else {
                    "AMOUNT_LIMIT_EXCEEDED"
                };
                let mut d = info(
                    reason,
                    HashMap::from([
                        ("currency".into(), currency.to_string()),
                        ("limit".into(), limit.to_string()),
                    ]),
                );
                d.add_precondition_failure_violation(
                    reason,
                    format!("currency:{currency}"),
                    format!("the limit is {limit} minor units"),
                );
                (Code::FailedPrecondition, d)
            }
            HubError::RateLimited {
                scope,
                subject,
                retry_after,
            } => {
                let mut d = info(
                    "RATE_LIMITED",
                    HashMap::from([("scope".into(), scope.to_string())]),
                );
                d.set_retry_info(Some(*retry_after));
                d.add_quota_failure_violation(
                    subject.clone(),
                    format!("{scope} request rate exceeded"),
                );
                (Code::ResourceExhausted, d)
            }
            HubError::ShuttingDown => {
                let mut d = info("SHUTTING_DOWN", none());
                d.set_retry_info(Some(Duration::from_secs(1)));
                (Code::Unavailable, d)
            }
            HubError::DeadlineExceeded => {
                (Code::DeadlineExceeded, info("DEADLINE_EXCEEDED", none()))
            }
            HubError::ConfigRefused { field, reason } => {
                let mut d = info("CONFIG_REFUSED", none());
                d.add_precondition_failure_violation("CONFIG", field.clone(), reason.clone());
                (Code::FailedPrecondition, d)
            }
            HubError::Internal => (Code::Internal, info("INTERNAL", none())),
        };
        Status::with_error_details(code, msg, details)
    }
}

impl From<HubError> for Status {
    fn from(e: HubError) -> Self {
        e.into_status()
    }
}
