"""Python client of the settlement hub's ``settlement.v1`` contract.

The contract's safety rules are the defaults: every money call gets a fresh
UUIDv7 idempotency key unless the caller gives one, only provably safe
failures are retried (with that same key, full-jitter backoff, inside the
deadline), PENDING is resolved on request (:meth:`Client.wait_final`), and
failures are typed (:mod:`settlement_sdk.errors`).

The generated messages and stubs are :mod:`settlement_sdk.pb` and
:mod:`settlement_sdk.pb_grpc`; ``scripts/generate.sh`` regenerates them from
``proto/``.
"""

from settlement_sdk._pb.settlement.v1 import settlement_pb2 as pb
from settlement_sdk._pb.settlement.v1 import settlement_pb2_grpc as pb_grpc
from settlement_sdk.client import Client, full_jitter, money, new_idempotency_key
from settlement_sdk.errors import (
    Conflict,
    DeadlineExceeded,
    FailedPrecondition,
    FieldViolation,
    InProgress,
    InvalidArgument,
    MissingField,
    NotFound,
    OtherStatus,
    PermissionDenied,
    RateLimited,
    SdkError,
    StillPending,
    Unauthenticated,
    Unavailable,
)

__all__ = [
    "Client",
    "money",
    "new_idempotency_key",
    "full_jitter",
    "pb",
    "pb_grpc",
    "SdkError",
    "FieldViolation",
    "InvalidArgument",
    "Conflict",
    "FailedPrecondition",
    "NotFound",
    "PermissionDenied",
    "Unauthenticated",
    "RateLimited",
    "Unavailable",
    "InProgress",
    "DeadlineExceeded",
    "StillPending",
    "MissingField",
    "OtherStatus",
]
