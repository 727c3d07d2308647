import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TransactionKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRANSACTION_KIND_UNSPECIFIED: _ClassVar[TransactionKind]
    TRANSACTION_KIND_DEBIT: _ClassVar[TransactionKind]
    TRANSACTION_KIND_CREDIT: _ClassVar[TransactionKind]
    TRANSACTION_KIND_ROLLBACK: _ClassVar[TransactionKind]

class TransactionState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRANSACTION_STATE_UNSPECIFIED: _ClassVar[TransactionState]
    TRANSACTION_STATE_PENDING: _ClassVar[TransactionState]
    TRANSACTION_STATE_SETTLED: _ClassVar[TransactionState]
    TRANSACTION_STATE_DECLINED: _ClassVar[TransactionState]
    TRANSACTION_STATE_ROLLED_BACK: _ClassVar[TransactionState]
    TRANSACTION_STATE_FAILED: _ClassVar[TransactionState]

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
    DECLINE_REASON_PROVIDER_REJECTED: _ClassVar[DeclineReason]
TRANSACTION_KIND_UNSPECIFIED: TransactionKind
TRANSACTION_KIND_DEBIT: TransactionKind
TRANSACTION_KIND_CREDIT: TransactionKind
TRANSACTION_KIND_ROLLBACK: TransactionKind
TRANSACTION_STATE_UNSPECIFIED: TransactionState
TRANSACTION_STATE_PENDING: TransactionState
TRANSACTION_STATE_SETTLED: TransactionState
TRANSACTION_STATE_DECLINED: TransactionState
TRANSACTION_STATE_ROLLED_BACK: TransactionState
TRANSACTION_STATE_FAILED: TransactionState
DECLINE_REASON_UNSPECIFIED: DeclineReason
DECLINE_REASON_INSUFFICIENT_FUNDS: DeclineReason
DECLINE_REASON_ACCOUNT_BLOCKED: DeclineReason
DECLINE_REASON_LIMIT_EXCEEDED: DeclineReason
DECLINE_REASON_WRONG_CURRENCY: DeclineReason
DECLINE_REASON_UNKNOWN_ACCOUNT: DeclineReason
DECLINE_REASON_DUPLICATE_TRANSACTION: DeclineReason
DECLINE_REASON_ALREADY_ROLLED_BACK: DeclineReason
DECLINE_REASON_PROVIDER_REJECTED: DeclineReason

class Money(_message.Message):
    __slots__ = ("currency_code", "minor_units")
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    MINOR_UNITS_FIELD_NUMBER: _ClassVar[int]
    currency_code: str
    minor_units: int
    def __init__(self, currency_code: _Optional[str] = ..., minor_units: _Optional[int] = ...) -> None: ...

class Transaction(_message.Message):
    __slots__ = ("transaction_id", "idempotency_key", "kind", "state", "decline_reason", "provider", "account", "amount", "balance_after", "provider_reference", "reference", "reverses_transaction_id", "create_time", "update_time", "replay")
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DECLINE_REASON_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    BALANCE_AFTER_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    REVERSES_TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    REPLAY_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    idempotency_key: str
    kind: TransactionKind
    state: TransactionState
    decline_reason: DeclineReason
    provider: str
    account: str
    amount: Money
    balance_after: Money
    provider_reference: str
    reference: str
    reverses_transaction_id: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    replay: bool
    def __init__(self, transaction_id: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., kind: _Optional[_Union[TransactionKind, str]] = ..., state: _Optional[_Union[TransactionState, str]] = ..., decline_reason: _Optional[_Union[DeclineReason, str]] = ..., provider: _Optional[str] = ..., account: _Optional[str] = ..., amount: _Optional[_Union[Money, _Mapping]] = ..., balance_after: _Optional[_Union[Money, _Mapping]] = ..., provider_reference: _Optional[str] = ..., reference: _Optional[str] = ..., reverses_transaction_id: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., replay: _Optional[bool] = ...) -> None: ...

class DebitRequest(_message.Message):
    __slots__ = ("idempotency_key", "provider", "account", "amount", "reference")
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    provider: str
    account: str
    amount: Money
    reference: str
    def __init__(self, idempotency_key: _Optional[str] = ..., provider: _Optional[str] = ..., account: _Optional[str] = ..., amount: _Optional[_Union[Money, _Mapping]] = ..., reference: _Optional[str] = ...) -> None: ...

class DebitResponse(_message.Message):
    __slots__ = ("transaction",)
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    transaction: Transaction
    def __init__(self, transaction: _Optional[_Union[Transaction, _Mapping]] = ...) -> None: ...

class CreditRequest(_message.Message):
    __slots__ = ("idempotency_key", "provider", "account", "amount", "reference")
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    provider: str
    account: str
    amount: Money
    reference: str
    def __init__(self, idempotency_key: _Optional[str] = ..., provider: _Optional[str] = ..., account: _Optional[str] = ..., amount: _Optional[_Union[Money, _Mapping]] = ..., reference: _Optional[str] = ...) -> None: ...

class CreditResponse(_message.Message):
    __slots__ = ("transaction",)
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    transaction: Transaction
    def __init__(self, transaction: _Optional[_Union[Transaction, _Mapping]] = ...) -> None: ...

class RollbackRequest(_message.Message):
    __slots__ = ("idempotency_key", "transaction_id", "original_idempotency_key", "provider")
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    transaction_id: str
    original_idempotency_key: str
    provider: str
    def __init__(self, idempotency_key: _Optional[str] = ..., transaction_id: _Optional[str] = ..., original_idempotency_key: _Optional[str] = ..., provider: _Optional[str] = ...) -> None: ...

class RollbackResponse(_message.Message):
    __slots__ = ("transaction",)
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    transaction: Transaction
    def __init__(self, transaction: _Optional[_Union[Transaction, _Mapping]] = ...) -> None: ...

class GetBalanceRequest(_message.Message):
    __slots__ = ("provider", "account", "currency_code")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    provider: str
    account: str
    currency_code: str
    def __init__(self, provider: _Optional[str] = ..., account: _Optional[str] = ..., currency_code: _Optional[str] = ...) -> None: ...

class GetBalanceResponse(_message.Message):
    __slots__ = ("balance",)
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    balance: Money
    def __init__(self, balance: _Optional[_Union[Money, _Mapping]] = ...) -> None: ...

class GetTransactionRequest(_message.Message):
    __slots__ = ("idempotency_key", "transaction_id")
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    transaction_id: str
    def __init__(self, idempotency_key: _Optional[str] = ..., transaction_id: _Optional[str] = ...) -> None: ...

class GetTransactionResponse(_message.Message):
    __slots__ = ("transaction",)
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    transaction: Transaction
    def __init__(self, transaction: _Optional[_Union[Transaction, _Mapping]] = ...) -> None: ...

class ListTransactionsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "provider", "states", "start_time", "end_time")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    provider: str
    states: _containers.RepeatedScalarFieldContainer[TransactionState]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., provider: _Optional[str] = ..., states: _Optional[_Iterable[_Union[TransactionState, str]]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListTransactionsResponse(_message.Message):
    __slots__ = ("transactions", "next_page_token")
    TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    transactions: _containers.RepeatedCompositeFieldContainer[Transaction]
    next_page_token: str
    def __init__(self, transactions: _Optional[_Iterable[_Union[Transaction, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class WatchTransactionsRequest(_message.Message):
    __slots__ = ("cursor", "provider")
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    cursor: str
    provider: str
    def __init__(self, cursor: _Optional[str] = ..., provider: _Optional[str] = ...) -> None: ...

class WatchTransactionsResponse(_message.Message):
    __slots__ = ("transaction", "cursor")
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    transaction: Transaction
    cursor: str
    def __init__(self, transaction: _Optional[_Union[Transaction, _Mapping]] = ..., cursor: _Optional[str] = ...) -> None: ...
