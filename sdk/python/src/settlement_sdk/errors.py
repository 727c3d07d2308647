"""The SDK's typed errors, built once from a gRPC status and its
``google.rpc`` details (ErrorInfo, RetryInfo, BadRequest).

Every error a call raises is a :class:`SdkError`; the subclass says what the
caller should do, ``reason`` carries the hub's ErrorInfo reason (such as
``IDEMPOTENCY_CONFLICT``) when it sent one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from settlement_sdk._pb.settlement.v1 import settlement_pb2 as pb

# ErrorInfo reasons of UNAVAILABLE that prove nothing moved, so a retry with
# the same idempotency key is safe.
NOTHING_MOVED = frozenset(
    {"PROVIDER_UNAVAILABLE", "SHUTTING_DOWN", "PROVIDER_RECOVERING", "JOURNAL_UNAVAILABLE"}
)
# ErrorInfo reasons of RESOURCE_EXHAUSTED: refused before any journal write or
# provider call, so a retry after the hub's RetryInfo delay is safe.
REFUSED_BEFORE_ANYTHING = frozenset({"RATE_LIMITED", "PROVIDER_OVERLOADED", "HUB_OVERLOADED"})


@dataclass(frozen=True)
class FieldViolation:
    """One bad field of a request, from the status's BadRequest details."""

    field: str
    """Field path in the request, such as ``amount.minor_units``."""
    description: str
    """What is wrong with it."""


class SdkError(Exception):
    """Base of every error the SDK raises."""

    def __init__(
        self,
        message: str,
        *,
        code: Optional[grpc.StatusCode] = None,
        reason: Optional[str] = None,
        retry_after: Optional[float] = None,
        violations: Optional[List[FieldViolation]] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        """The gRPC status code, when the error came from the hub."""
        self.reason = reason
        """The hub's ErrorInfo reason, if it sent one."""
        self.retry_after = retry_after
        """The hub's RetryInfo delay in seconds, if it sent one."""
        self.violations = violations or []
        """The bad fields (InvalidArgument only)."""

    def __str__(self) -> str:
        parts = [self.message]
        if self.reason:
            parts.append(f"reason={self.reason}")
        if self.retry_after is not None:
            parts.append(f"retry_after={self.retry_after:.3f}s")
        return " ".join(parts)


class InvalidArgument(SdkError):
    """The request is malformed; nothing was journaled or sent. Do not retry."""


class Conflict(SdkError):
    """The idempotency key was already used for a different request."""


class FailedPrecondition(SdkError):
    """Not allowed in the current state (a credit rollback, an amount limit,
    a rolled-back key). Do not retry."""


class NotFound(SdkError):
    """No such transaction for this partner."""


class PermissionDenied(SdkError):
    """The credentials are valid but do not allow this call."""


class Unauthenticated(SdkError):
    """Missing or invalid credentials."""


class RateLimited(SdkError):
    """Over a rate or concurrency limit; nothing was sent. Raised after the
    SDK's retries, or when the hub's delay does not fit the deadline."""


class Unavailable(SdkError):
    """The hub or provider is unavailable. Raised after the SDK's safe retries
    are exhausted, or at once when a retry was not provably safe."""


class InProgress(SdkError):
    """A call with the same idempotency key is still in flight."""


class DeadlineExceeded(SdkError):
    """The call's deadline passed."""


class StillPending(SdkError):
    """:meth:`Client.wait_final` timed out while the transaction was PENDING."""

    def __init__(self, transaction: pb.Transaction) -> None:
        super().__init__(f"transaction {transaction.transaction_id} still pending")
        self.transaction = transaction
        """The transaction as last seen."""


class MissingField(SdkError):
    """The hub answered OK without the expected message field."""


class OtherStatus(SdkError):
    """Any other gRPC status."""


_BY_CODE = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.ALREADY_EXISTS: Conflict,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.RESOURCE_EXHAUSTED: RateLimited,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
}


@dataclass(frozen=True)
class _Details:
    reason: Optional[str]
    retry_after: Optional[float]
    violations: List[FieldViolation]
    has_trailers: bool


def _details(err: grpc.RpcError) -> _Details:
    """Unpacks ErrorInfo, RetryInfo and BadRequest from the status details."""
    reason = None
    retry_after = None
    violations: List[FieldViolation] = []
    status = None
    try:
        status = rpc_status.from_call(err)  # type: ignore[arg-type]
    except (ValueError, AttributeError):
        # Details that contradict the status line, or no call at all: treat
        # as no details rather than trusting half of them.
        status = None
    if status is not None:
        for any_msg in status.details:
            if any_msg.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                any_msg.Unpack(info)
                reason = info.reason or None
            elif any_msg.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                retry = error_details_pb2.RetryInfo()
                any_msg.Unpack(retry)
                retry_after = retry.retry_delay.ToTimedelta().total_seconds()
            elif any_msg.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                any_msg.Unpack(bad)
                violations = [
                    FieldViolation(v.field, v.description) for v in bad.field_violations
                ]
    trailers = getattr(err, "trailing_metadata", lambda: None)() or ()
    return _Details(reason, retry_after, violations, len(tuple(trailers)) > 0)


def retry_delay(err: grpc.RpcError) -> Optional[float]:
    """Whether ``err`` may be retried with the same idempotency key: the
    hub's RetryInfo delay in seconds (0.0 without one), or ``None`` if a
    retry is not provably safe.

    UNAVAILABLE only when nothing moved: a hub reason in ``NOTHING_MOVED``, or
    a transport failure before any response (no details, no trailers).
    ABORTED only with reason ``IN_PROGRESS``; RESOURCE_EXHAUSTED only with a
    reason the hub gives before anything is journaled.
    """
    d = _details(err)
    code = err.code()  # type: ignore[attr-defined]
    delay = d.retry_after if d.retry_after is not None else 0.0
    if code == grpc.StatusCode.UNAVAILABLE:
        if d.reason in NOTHING_MOVED:
            return delay
        if d.reason is None and not d.has_trailers:
            return delay
        return None
    if code == grpc.StatusCode.ABORTED and d.reason == "IN_PROGRESS":
        return delay
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED and d.reason in REFUSED_BEFORE_ANYTHING:
        return delay
    return None


def from_rpc_error(err: grpc.RpcError) -> SdkError:
    """The typed error for a failed call."""
    d = _details(err)
    code = err.code()  # type: ignore[attr-defined]
    message = err.details() or code.name  # type: ignore[attr-defined]
    if code == grpc.StatusCode.ABORTED and d.reason == "IN_PROGRESS":
        cls = InProgress
    else:
        cls = _BY_CODE.get(code, OtherStatus)
    return cls(
        message,
        code=code,
        reason=d.reason,
        retry_after=d.retry_after,
        violations=d.violations,
    )
