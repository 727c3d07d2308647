//! The SDK's typed errors, built once from a gRPC status and its
//! `google.rpc` details (ErrorInfo, RetryInfo, BadRequest).

use std::time::Duration;

use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::pb;

/// ErrorInfo reasons of UNAVAILABLE that prove nothing moved, so a retry with
/// the same idempotency key is safe.
const NOTHING_MOVED: &[&str] = &[
    "PROVIDER_UNAVAILABLE",
    "SHUTTING_DOWN",
    "PROVIDER_RECOVERING",
    "JOURNAL_UNAVAILABLE",
];

/// ErrorInfo reasons of RESOURCE_EXHAUSTED: the hub refused before any
/// journal write or provider call, so a retry after its delay is safe.
const REFUSED_BEFORE_ANYTHING: &[&str] = &["RATE_LIMITED", "PROVIDER_OVERLOADED", "HUB_OVERLOADED"];

/// One bad field of a request, from the status's BadRequest details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// Field path in the request, such as `amount.minor_units`.
    pub field: String,
    /// What is wrong with it.
    pub description: String,
}

/// Everything a call can fail with.
///
/// Variants are named by what the caller should do; `reason` fields carry the
/// hub's ErrorInfo reason (such as `IDEMPOTENCY_CONFLICT`) when it sent one.
#[derive(Debug, thiserror::Error)]
pub enum SdkError {
    /// The request is malformed; nothing was journaled or sent. Do not retry.
    #[error("invalid request: {message}")]
    InvalidArgument {
        /// The bad fields.
        violations: Vec<FieldViolation>,
        /// The hub's message.
        message: String,
    },
    /// The idempotency key was already used for a different request.
    #[error("idempotency conflict ({reason})")]
    Conflict {
        /// ErrorInfo reason, `IDEMPOTENCY_CONFLICT` from the hub.
        reason: String,
    },
    /// The call is not allowed in the current state (a rolled-back key, a
    /// credit rollback, an amount limit, a provider refusal). Do not retry.
    #[error("failed precondition ({reason}): {message}")]
    FailedPrecondition {
        /// ErrorInfo reason, such as `NOT_REVERSIBLE`.
        reason: String,
        /// The hub's message.
        message: String,
    },
    /// No such transaction for this partner.
    #[error("not found")]
    NotFound,
    /// The credentials are valid but do not allow this call.
    #[error("permission denied ({reason})")]
    PermissionDenied {
        /// ErrorInfo reason, such as `PROVIDER_NOT_ALLOWED`.
        reason: String,
    },
    /// Missing or invalid credentials.
    #[error("unauthenticated: {message}")]
    Unauthenticated {
        /// The hub's message.
        message: String,
    },
    /// Over a rate or concurrency limit; nothing was sent. Returned after the
    /// SDK's retries, or when the hub's delay does not fit the deadline.
    #[error("rate limited ({reason}), retry after {retry_after:?}")]
    RateLimited {
        /// ErrorInfo reason: `RATE_LIMITED`, `PROVIDER_OVERLOADED` or
        /// `HUB_OVERLOADED`.
        reason: String,
        /// When a call will be admitted again, if the hub said.
        retry_after: Option<Duration>,
    },
    /// The hub or provider is unavailable. Returned after the SDK's safe
    /// retries are exhausted, or at once when a retry was not provably safe.
    #[error("unavailable ({reason:?}), retry after {retry_after:?}")]
    Unavailable {
        /// ErrorInfo reason, absent for transport failures.
        reason: Option<String>,
        /// The hub's RetryInfo delay, if any.
        retry_after: Option<Duration>,
    },
    /// A call with the same idempotency key is still in flight.
    #[error("a call with this idempotency key is in progress")]
    InProgress {
        /// The hub's RetryInfo delay, if any.
        retry_after: Option<Duration>,
    },
    /// The call's deadline passed.
    #[error("deadline exceeded")]
    DeadlineExceeded,
    /// [`Client::wait_final`](crate::Client::wait_final) timed out while the
    /// transaction was still PENDING.
    #[error("transaction {} still pending", transaction.transaction_id)]
    StillPending {
        /// The transaction as last seen.
        transaction: Box<pb::Transaction>,
    },
    /// The endpoint is not a valid URI.
    #[error("invalid endpoint: {0}")]
    InvalidEndpoint(String),
    /// The credentials cannot be sent as gRPC metadata.
    #[error("credentials are not valid ASCII metadata")]
    InvalidCredentials,
    /// Connecting failed.
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The hub answered OK without the expected message field.
    #[error("the hub's answer lacks {0}")]
    MissingField(&'static str),
    /// Any other status.
    #[error("{0}")]
    Other(Status),
}

/// What the SDK may do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Not safe: give up.
    No,
    /// Safe with the same key, after at least this delay if given.
    After(Option<Duration>),
}

/// Whether `status` may be retried with the same idempotency key.
///
/// UNAVAILABLE only when nothing moved: a hub reason in [`NOTHING_MOVED`], or
/// a transport failure before any response (no ErrorInfo, no response
/// metadata). ABORTED only with reason `IN_PROGRESS`. RESOURCE_EXHAUSTED only
/// with a reason in [`REFUSED_BEFORE_ANYTHING`].
pub(crate) fn classify(status: &Status) -> Retry {
    let details = status.get_error_details();
    let reason = details.error_info().as_ref().map(|i| i.reason.as_str());
    let delay = details.retry_info().as_ref().and_then(|r| r.retry_delay);
    match (status.code(), reason) {
        (Code::Unavailable, Some(r)) if NOTHING_MOVED.contains(&r) => Retry::After(delay),
        (Code::Unavailable, None) if status.metadata().is_empty() => Retry::After(delay),
        (Code::Aborted, Some("IN_PROGRESS")) => Retry::After(delay),
        (Code::ResourceExhausted, Some(r)) if REFUSED_BEFORE_ANYTHING.contains(&r) => {
            Retry::After(delay)
        }
        _ => Retry::No,
    }
}

impl From<Status> for SdkError {
    fn from(status: Status) -> Self {
        let details = status.get_error_details();
        let reason = details.error_info().as_ref().map(|i| i.reason.clone());
        let retry_after = details.retry_info().as_ref().and_then(|r| r.retry_delay);
        let reason_or = |d: &str| reason.clone().unwrap_or_else(|| d.to_owned());
        match status.code() {
            Code::InvalidArgument => SdkError::InvalidArgument {
                violations: details
                    .bad_request()
                    .as_ref()
                    .map(|b| {
                        b.field_violations
                            .iter()
                            .map(|v| FieldViolation {
                                field: v.field.clone(),
                                description: v.description.clone(),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                message: status.message().to_owned(),
            },
            Code::AlreadyExists => SdkError::Conflict {
                reason: reason_or("ALREADY_EXISTS"),
            },
            Code::FailedPrecondition => SdkError::FailedPrecondition {
                reason: reason_or("FAILED_PRECONDITION"),
                message: status.message().to_owned(),
            },
            Code::NotFound => SdkError::NotFound,
            Code::PermissionDenied => SdkError::PermissionDenied {
                reason: reason_or("PERMISSION_DENIED"),
            },
            Code::Unauthenticated => SdkError::Unauthenticated {
                message: status.message().to_owned(),
            },
            Code::ResourceExhausted => SdkError::RateLimited {
                reason: reason_or("RESOURCE_EXHAUSTED"),
                retry_after,
            },
            Code::Unavailable => SdkError::Unavailable {
                reason,
                retry_after,
            },
            Code::Aborted if reason.as_deref() == Some("IN_PROGRESS") => {
                SdkError::InProgress { retry_after }
            }
            Code::DeadlineExceeded => SdkError::DeadlineExceeded,
            _ => SdkError::Other(status),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use tonic_types::ErrorDetails;

    fn with_reason(code: Code, reason: &str, delay: Option<Duration>) -> Status {
        let mut d = ErrorDetails::with_error_info(reason, "hub.settlement.v1", HashMap::new());
        if delay.is_some() {
            d.set_retry_info(delay);
        }
        Status::with_error_details(code, "m", d)
    }

    #[test]
    fn only_nothing_moved_unavailable_and_in_progress_are_retried() {
        let ms = Some(Duration::from_millis(500));
        assert_eq!(
            classify(&with_reason(Code::Unavailable, "PROVIDER_UNAVAILABLE", ms)),
            Retry::After(ms)
        );
        assert_eq!(
            classify(&with_reason(Code::Aborted, "IN_PROGRESS", None)),
            Retry::After(None)
        );
        assert_eq!(
            classify(&with_reason(Code::Unavailable, "SOMETHING_ELSE", None)),
            Retry::No
        );
        assert_eq!(
            classify(&with_reason(Code::ResourceExhausted, "RATE_LIMITED", ms)),
            Retry::After(ms)
        );
        assert_eq!(
            classify(&with_reason(Code::ResourceExhausted, "HUB_OVERLOADED", ms)),
            Retry::After(ms)
        );
        assert_eq!(
            classify(&with_reason(Code::ResourceExhausted, "SOMETHING_ELSE", ms)),
            Retry::No
        );
        assert_eq!(
            classify(&Status::unavailable("connection refused")),
            Retry::After(None)
        );
        assert_eq!(classify(&Status::aborted("other abort")), Retry::No);
    }

    #[test]
    fn statuses_map_to_typed_errors_with_details() {
        let e = SdkError::from(with_reason(
            Code::ResourceExhausted,
            "RATE_LIMITED",
            Some(Duration::from_secs(2)),
        ));
        assert!(matches!(
            e,
            SdkError::RateLimited { ref reason, retry_after: Some(d) }
                if reason == "RATE_LIMITED" && d == Duration::from_secs(2)
        ));
        let e = SdkError::from(with_reason(
            Code::AlreadyExists,
            "IDEMPOTENCY_CONFLICT",
            None,
        ));
        assert!(matches!(e, SdkError::Conflict { ref reason } if reason == "IDEMPOTENCY_CONFLICT"));
    }
}
