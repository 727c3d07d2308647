import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Direction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DIRECTION_UNSPECIFIED: _ClassVar[Direction]
    DIRECTION_DEBIT: _ClassVar[Direction]
    DIRECTION_CREDIT: _ClassVar[Direction]

class Outcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUTCOME_UNSPECIFIED: _ClassVar[Outcome]
    OUTCOME_SETTLED: _ClassVar[Outcome]
    OUTCOME_DECLINED: _ClassVar[Outcome]
    OUTCOME_NOT_PROCESSED: _ClassVar[Outcome]
    OUTCOME_UNKNOWN: _ClassVar[Outcome]

class DeclineReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DECLINE_REASON_UNSPECIFIED: _ClassVar[DeclineReason]
    DECLINE_REASON_INSUFFICIENT_FUNDS: _ClassVar[DeclineReason]
    DECLINE_REASON_ACCOUNT_BLOCKED: _ClassVar[DeclineReason]
    DECLINE_REASON_LIMIT_EXCEEDED: _ClassVar[DeclineReason]
    DECLINE_REASON_WRONG_CURRENCY: _ClassVar[DeclineReason]
    DECLINE_REASON_UNKNOWN_ACCOUNT: _ClassVar[DeclineReason]
    DECLINE_REASON_DUPLICATE_TRANSACTION: _ClassVar[DeclineReason]
    DECLINE_REASON_ALREADY_ROLLED_BACK: _ClassVar[DeclineReason]
    DECLINE_REASON_NOT_REVERSIBLE: _ClassVar[DeclineReason]
    DECLINE_REASON_OTHER: _ClassVar[DeclineReason]

class ErrorKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ERROR_KIND_UNSPECIFIED: _ClassVar[ErrorKind]
    ERROR_KIND_CONNECT: _ClassVar[ErrorKind]
    ERROR_KIND_TRANSPORT: _ClassVar[ErrorKind]
    ERROR_KIND_HTTP_STATUS: _ClassVar[ErrorKind]
    ERROR_KIND_MALFORMED: _ClassVar[ErrorKind]
    ERROR_KIND_BAD_SIGNATURE: _ClassVar[ErrorKind]
    ERROR_KIND_REJECTED: _ClassVar[ErrorKind]
    ERROR_KIND_UNREPRESENTABLE: _ClassVar[ErrorKind]
    ERROR_KIND_UNSUPPORTED: _ClassVar[ErrorKind]

class DuplicateHabit(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DUPLICATE_HABIT_UNSPECIFIED: _ClassVar[DuplicateHabit]
    DUPLICATE_HABIT_REPLAYS_ORIGINAL: _ClassVar[DuplicateHabit]
    DUPLICATE_HABIT_REPLAYS_SAME_REFUSES_DIFFERENT: _ClassVar[DuplicateHabit]

class UnknownRollbackHabit(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    UNKNOWN_ROLLBACK_HABIT_UNSPECIFIED: _ClassVar[UnknownRollbackHabit]
    UNKNOWN_ROLLBACK_HABIT_NOT_FOUND_ERROR: _ClassVar[UnknownRollbackHabit]
    UNKNOWN_ROLLBACK_HABIT_ACKNOWLEDGES_WITH_TOMBSTONE: _ClassVar[UnknownRollbackHabit]

class TransactionKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRANSACTION_KIND_UNSPECIFIED: _ClassVar[TransactionKind]
    TRANSACTION_KIND_DEBIT: _ClassVar[TransactionKind]
    TRANSACTION_KIND_CREDIT: _ClassVar[TransactionKind]
    TRANSACTION_KIND_ROLLBACK: _ClassVar[TransactionKind]

class TransactionStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRANSACTION_STATUS_UNSPECIFIED: _ClassVar[TransactionStatus]
    TRANSACTION_STATUS_APPLIED: _ClassVar[TransactionStatus]
    TRANSACTION_STATUS_ROLLED_BACK: _ClassVar[TransactionStatus]
    TRANSACTION_STATUS_DECLINED: _ClassVar[TransactionStatus]
    TRANSACTION_STATUS_NOT_FOUND: _ClassVar[TransactionStatus]
    TRANSACTION_STATUS_UNKNOWN: _ClassVar[TransactionStatus]
DIRECTION_UNSPECIFIED: Direction
DIRECTION_DEBIT: Direction
DIRECTION_CREDIT: Direction
OUTCOME_UNSPECIFIED: Outcome
OUTCOME_SETTLED: Outcome
OUTCOME_DECLINED: Outcome
OUTCOME_NOT_PROCESSED: Outcome
OUTCOME_UNKNOWN: Outcome
DECLINE_REASON_UNSPECIFIED: DeclineReason
DECLINE_REASON_INSUFFICIENT_FUNDS: DeclineReason
DECLINE_REASON_ACCOUNT_BLOCKED: DeclineReason
DECLINE_REASON_LIMIT_EXCEEDED: DeclineReason
DECLINE_REASON_WRONG_CURRENCY: DeclineReason
DECLINE_REASON_UNKNOWN_ACCOUNT: DeclineReason
DECLINE_REASON_DUPLICATE_TRANSACTION: DeclineReason
DECLINE_REASON_ALREADY_ROLLED_BACK: DeclineReason
DECLINE_REASON_NOT_REVERSIBLE: DeclineReason
DECLINE_REASON_OTHER: DeclineReason
ERROR_KIND_UNSPECIFIED: ErrorKind
ERROR_KIND_CONNECT: ErrorKind
ERROR_KIND_TRANSPORT: ErrorKind
ERROR_KIND_HTTP_STATUS: ErrorKind
ERROR_KIND_MALFORMED: ErrorKind
ERROR_KIND_BAD_SIGNATURE: ErrorKind
ERROR_KIND_REJECTED: ErrorKind
ERROR_KIND_UNREPRESENTABLE: ErrorKind
ERROR_KIND_UNSUPPORTED: ErrorKind
DUPLICATE_HABIT_UNSPECIFIED: DuplicateHabit
DUPLICATE_HABIT_REPLAYS_ORIGINAL: DuplicateHabit
DUPLICATE_HABIT_REPLAYS_SAME_REFUSES_DIFFERENT: DuplicateHabit
UNKNOWN_ROLLBACK_HABIT_UNSPECIFIED: UnknownRollbackHabit
UNKNOWN_ROLLBACK_HABIT_NOT_FOUND_ERROR: UnknownRollbackHabit
UNKNOWN_ROLLBACK_HABIT_ACKNOWLEDGES_WITH_TOMBSTONE: UnknownRollbackHabit
TRANSACTION_KIND_UNSPECIFIED: TransactionKind
TRANSACTION_KIND_DEBIT: TransactionKind
TRANSACTION_KIND_CREDIT: TransactionKind
TRANSACTION_KIND_ROLLBACK: TransactionKind
TRANSACTION_STATUS_UNSPECIFIED: TransactionStatus
TRANSACTION_STATUS_APPLIED: TransactionStatus
TRANSACTION_STATUS_ROLLED_BACK: TransactionStatus
TRANSACTION_STATUS_DECLINED: TransactionStatus
TRANSACTION_STATUS_NOT_FOUND: TransactionStatus
TRANSACTION_STATUS_UNKNOWN: TransactionStatus

class Money(_message.Message):
    __slots__ = ("currency_code", "minor_units")
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    MINOR_UNITS_FIELD_NUMBER: _ClassVar[int]
    currency_code: str
    minor_units: int
    def __init__(self, currency_code: _Optional[str] = ..., minor_units: _Optional[int] = ...) -> None: ...

class Error(_message.Message):
    __slots__ = ("kind", "http_status", "detail")
    KIND_FIELD_NUMBER: _ClassVar[int]
    HTTP_STATUS_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    kind: ErrorKind
    http_status: int
    detail: str
    def __init__(self, kind: _Optional[_Union[ErrorKind, str]] = ..., http_status: _Optional[int] = ..., detail: _Optional[str] = ...) -> None: ...

class DescribeRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DescribeResponse(_message.Message):
    __slots__ = ("dialect", "balance", "status", "duplicates", "rollback_of_unknown", "default_timeout")
    DIALECT_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    ROLLBACK_OF_UNKNOWN_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    dialect: str
    balance: bool
    status: bool
    duplicates: DuplicateHabit
    rollback_of_unknown: UnknownRollbackHabit
    default_timeout: _duration_pb2.Duration
    def __init__(self, dialect: _Optional[str] = ..., balance: _Optional[bool] = ..., status: _Optional[bool] = ..., duplicates: _Optional[_Union[DuplicateHabit, str]] = ..., rollback_of_unknown: _Optional[_Union[UnknownRollbackHabit, str]] = ..., default_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class TransferRequest(_message.Message):
    __slots__ = ("direction", "transaction_id", "account", "amount", "reference")
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    direction: Direction
    transaction_id: str
    account: str
    amount: Money
    reference: str
    def __init__(self, direction: _Optional[_Union[Direction, str]] = ..., transaction_id: _Optional[str] = ..., account: _Optional[str] = ..., amount: _Optional[_Union[Money, _Mapping]] = ..., reference: _Optional[str] = ...) -> None: ...

class TransferResponse(_message.Message):
    __slots__ = ("transaction_id", "outcome", "decline_reason", "balance_after", "provider_reference", "error")
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    DECLINE_REASON_FIELD_NUMBER: _ClassVar[int]
    BALANCE_AFTER_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    outcome: Outcome
    decline_reason: DeclineReason
    balance_after: Money
    provider_reference: str
    error: Error
    def __init__(self, transaction_id: _Optional[str] = ..., outcome: _Optional[_Union[Outcome, str]] = ..., decline_reason: _Optional[_Union[DeclineReason, str]] = ..., balance_after: _Optional[_Union[Money, _Mapping]] = ..., provider_reference: _Optional[str] = ..., error: _Optional[_Union[Error, _Mapping]] = ...) -> None: ...

class RollbackRequest(_message.Message):
    __slots__ = ("transaction_id", "original_transaction_id", "account", "amount")
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    original_transaction_id: str
    account: str
    amount: Money
    def __init__(self, transaction_id: _Optional[str] = ..., original_transaction_id: _Optional[str] = ..., account: _Optional[str] = ..., amount: _Optional[_Union[Money, _Mapping]] = ...) -> None: ...

class RollbackResponse(_message.Message):
    __slots__ = ("transaction_id", "outcome", "decline_reason", "balance_after", "provider_reference", "error")
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    DECLINE_REASON_FIELD_NUMBER: _ClassVar[int]
    BALANCE_AFTER_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    outcome: Outcome
    decline_reason: DeclineReason
    balance_after: Money
    provider_reference: str
    error: Error
    def __init__(self, transaction_id: _Optional[str] = ..., outcome: _Optional[_Union[Outcome, str]] = ..., decline_reason: _Optional[_Union[DeclineReason, str]] = ..., balance_after: _Optional[_Union[Money, _Mapping]] = ..., provider_reference: _Optional[str] = ..., error: _Optional[_Union[Error, _Mapping]] = ...) -> None: ...

class GetBalanceRequest(_message.Message):
    __slots__ = ("account", "currency_code")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    account: str
    currency_code: str
    def __init__(self, account: _Optional[str] = ..., currency_code: _Optional[str] = ...) -> None: ...

class GetBalanceResponse(_message.Message):
    __slots__ = ("balance", "decline_reason", "error")
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    DECLINE_REASON_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    balance: Money
    decline_reason: DeclineReason
    error: Error
    def __init__(self, balance: _Optional[_Union[Money, _Mapping]] = ..., decline_reason: _Optional[_Union[DeclineReason, str]] = ..., error: _Optional[_Union[Error, _Mapping]] = ...) -> None: ...

class GetStatusRequest(_message.Message):
    __slots__ = ("transaction_id", "kind", "account", "amount")
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    kind: TransactionKind
    account: str
    amount: Money
    def __init__(self, transaction_id: _Optional[str] = ..., kind: _Optional[_Union[TransactionKind, str]] = ..., account: _Optional[str] = ..., amount: _Optional[_Union[Money, _Mapping]] = ...) -> None: ...

class GetStatusResponse(_message.Message):
    __slots__ = ("transaction_id", "status", "decline_reason", "balance_after", "provider_reference", "error")
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DECLINE_REASON_FIELD_NUMBER: _ClassVar[int]
    BALANCE_AFTER_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    status: TransactionStatus
    decline_reason: DeclineReason
    balance_after: Money
    provider_reference: str
    error: Error
    def __init__(self, transaction_id: _Optional[str] = ..., status: _Optional[_Union[TransactionStatus, str]] = ..., decline_reason: _Optional[_Union[DeclineReason, str]] = ..., balance_after: _Optional[_Union[Money, _Mapping]] = ..., provider_reference: _Optional[str] = ..., error: _Optional[_Union[Error, _Mapping]] = ...) -> None: ...
