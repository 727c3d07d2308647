"""The client: connection, credentials, the safe-retry loop and every call."""

from __future__ import annotations

import random
import time
from typing import Callable, Iterable, Iterator, Optional, Sequence, Tuple, TypeVar

import grpc
from google.protobuf import timestamp_pb2
from uuid6 import uuid7

from settlement_sdk._pb.settlement.v1 import settlement_pb2 as pb
from settlement_sdk._pb.settlement.v1 import settlement_pb2_grpc as pb_grpc
from settlement_sdk.errors import (
    DeadlineExceeded,
    InvalidArgument,
    MissingField,
    SdkError,
    StillPending,
    from_rpc_error,
    retry_delay,
)

T = TypeVar("T")

Metadata = Tuple[Tuple[str, str], ...]


def money(currency_code: str, minor_units: int) -> pb.Money:
    """``minor_units`` of ``currency_code``: ``money("EUR", 1250)`` is EUR 12.50."""
    return pb.Money(currency_code=currency_code, minor_units=minor_units)


def new_idempotency_key() -> str:
    """A fresh UUIDv7 (time-ordered, random) as text."""
    return str(uuid7())


def full_jitter(
    attempt: int, base: float, cap: float, hint: float, unit: float
) -> float:
    """Seconds to wait before retry number ``attempt`` (1 for the first):
    a uniform pick in ``[0, min(cap, base * 2**(attempt-1))]`` (``unit`` is
    the draw in ``[0, 1)``), never below the hub's RetryInfo ``hint``."""
    exp = min(max(attempt - 1, 0), 20)
    ceiling = min(cap, base * (1 << exp))
    return max(ceiling * min(max(unit, 0.0), 1.0), hint)


class Client:
    """A settlement hub client. Thread-safe; share one per process.

    Money calls get a fresh UUIDv7 idempotency key unless the caller gives
    one, and are retried, with that same key, only when the hub proves
    nothing moved (UNAVAILABLE with a nothing-moved reason or a connection
    that never got an answer, ABORTED while the same key is in progress, a
    rate limit refused before anything was recorded). Backoff is full
    jitter, bounded by the call's deadline.

    >>> client = Client("127.0.0.1:50051", api_key="hk_...")  # doctest: +SKIP
    >>> tx = client.debit("sandbox", "acc-1", money("EUR", 1250))  # doctest: +SKIP
    """

    def __init__(
        self,
        target: str,
        *,
        api_key: Optional[str] = None,
        bearer_token: Optional[str] = None,
        channel_credentials: Optional[grpc.ChannelCredentials] = None,
        channel: Optional[grpc.Channel] = None,
        deadline: float = 10.0,
        max_attempts: int = 5,
        backoff_base: float = 0.1,
        backoff_max: float = 2.0,
        rng: Optional[random.Random] = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Connects to the hub at ``target`` (``host:port``).

        ``channel_credentials`` (``grpc.ssl_channel_credentials(...)``, with a
        client certificate for mTLS) makes the channel TLS; without it the
        channel is plaintext, for the local demo. ``api_key`` is sent as
        ``x-api-key``, ``bearer_token`` as ``authorization: Bearer``; give at
        most one. ``channel`` replaces the whole connection (tests, custom
        options). ``deadline`` bounds each call, retries included.
        ``rng`` is the jitter's randomness (seed it for reproducible
        backoff), ``sleep`` the wait between attempts.
        """
        if api_key is not None and bearer_token is not None:
            raise ValueError("give api_key or bearer_token, not both")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if deadline <= 0:
            raise ValueError("deadline must be positive")
        for name, value in (("api_key", api_key), ("bearer_token", bearer_token)):
            if value is not None and (not value.isascii() or any(c in value for c in "\r\n")):
                raise ValueError(f"{name} must be printable ASCII without line breaks")
        if channel is None:
            if channel_credentials is not None:
                channel = grpc.secure_channel(target, channel_credentials)
            else:
                channel = grpc.insecure_channel(target)
        self._channel = channel
        self._stub = pb_grpc.SettlementServiceStub(channel)
        if api_key is not None:
            self._metadata: Metadata = (("x-api-key", api_key),)
        elif bearer_token is not None:
            self._metadata = (("authorization", f"Bearer {bearer_token}"),)
        else:
            self._metadata = ()
        self.deadline = deadline
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._rng = rng if rng is not None else random.Random()
        self._sleep = sleep
        self.attempts_of_last_call = 0
        """How many attempts the last unary call took (for logging)."""

    def close(self) -> None:
        """Closes the channel."""
        self._channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Money calls.

    def debit(
        self,
        provider: str,
        account: str,
        amount: pb.Money,
        *,
        reference: str = "",
        idempotency_key: Optional[str] = None,
    ) -> pb.Transaction:
        """Takes ``amount`` from ``account`` at ``provider``.

        The idempotency key is a fresh UUIDv7 unless given; safe retries reuse
        it. The answer may be PENDING (see :meth:`wait_final`).
        """
        return self._move(
            self._stub.Debit, pb.DebitRequest, provider, account, amount, reference, idempotency_key
        )

    def credit(
        self,
        provider: str,
        account: str,
        amount: pb.Money,
        *,
        reference: str = "",
        idempotency_key: Optional[str] = None,
    ) -> pb.Transaction:
        """Gives ``amount`` to ``account`` at ``provider``, with the same key
        rules as :meth:`debit`."""
        return self._move(
            self._stub.Credit, pb.CreditRequest, provider, account, amount, reference, idempotency_key
        )

    def rollback(
        self,
        *,
        transaction_id: Optional[str] = None,
        original_idempotency_key: Optional[str] = None,
        provider: str = "",
        idempotency_key: Optional[str] = None,
    ) -> pb.Transaction:
        """Reverses an earlier debit, named by exactly one of
        ``transaction_id`` or ``original_idempotency_key`` (then ``provider``
        is needed if the hub never saw that key)."""
        if (transaction_id is None) == (original_idempotency_key is None):
            raise InvalidArgument(
                "name the debit by exactly one of transaction_id or original_idempotency_key"
            )
        req = pb.RollbackRequest(
            idempotency_key=idempotency_key or new_idempotency_key(), provider=provider
        )
        if transaction_id is not None:
            req.transaction_id = transaction_id
        else:
            req.original_idempotency_key = original_idempotency_key or ""
        return self._transaction(self._call(self._stub.Rollback, req))

    def _move(self, rpc, request_type, provider, account, amount, reference, key):  # type: ignore[no-untyped-def]
        """A debit or credit: the two requests have the same fields."""
        req = request_type(
            idempotency_key=key or new_idempotency_key(),
            provider=provider,
            account=account,
            amount=amount,
            reference=reference,
        )
        return self._transaction(self._call(rpc, req))

    # Reads.

    def get_balance(self, provider: str, account: str, currency_code: str) -> pb.Money:
        """The balance of ``account`` at ``provider``."""
        resp = self._call(
            self._stub.GetBalance,
            pb.GetBalanceRequest(
                provider=provider, account=account, currency_code=currency_code
            ),
        )
        if not resp.HasField("balance"):
            raise MissingField("the hub's answer lacks balance")
        return resp.balance

    def get_transaction(self, transaction_id: str) -> pb.Transaction:
        """One of the partner's transactions by transaction id."""
        return self._transaction(
            self._call(
                self._stub.GetTransaction,
                pb.GetTransactionRequest(transaction_id=transaction_id),
            )
        )

    def get_transaction_by_key(self, idempotency_key: str) -> pb.Transaction:
        """One of the partner's transactions by the idempotency key that
        created it."""
        return self._transaction(
            self._call(
                self._stub.GetTransaction,
                pb.GetTransactionRequest(idempotency_key=idempotency_key),
            )
        )

    def list_transactions(
        self,
        *,
        page_size: int = 0,
        page_token: str = "",
        provider: str = "",
        states: Sequence["pb.TransactionState.ValueType"] = (),
        start_time: Optional[timestamp_pb2.Timestamp] = None,
        end_time: Optional[timestamp_pb2.Timestamp] = None,
    ) -> pb.ListTransactionsResponse:
        """One page of the partner's transactions, oldest first; pass the
        answer's ``next_page_token`` for the next page."""
        req = pb.ListTransactionsRequest(
            page_size=page_size,
            page_token=page_token,
            provider=provider,
            states=list(states),
        )
        if start_time is not None:
            req.start_time.CopyFrom(start_time)
        if end_time is not None:
            req.end_time.CopyFrom(end_time)
        return self._call(self._stub.ListTransactions, req)

    def iter_transactions(self, **filters: object) -> Iterator[pb.Transaction]:
        """Every transaction matching ``filters`` (as :meth:`list_transactions`),
        across pages."""
        token = ""
        while True:
            page = self.list_transactions(page_token=token, **filters)  # type: ignore[arg-type]
            yield from page.transactions
            token = page.next_page_token
            if not token:
                return

    def watch_transactions(
        self, cursor: str = "", provider: str = "", timeout: Optional[float] = None
    ) -> Iterator[pb.WatchTransactionsResponse]:
        """The change feed of the partner's transactions after ``cursor``
        (empty: from the beginning). Not retried and, unless ``timeout`` is
        given, without a deadline: resume with the last message's cursor.
        Errors surface as :class:`SdkError` while iterating; call
        ``cancel()`` on the iterator to stop."""
        stream = self._stub.WatchTransactions(
            pb.WatchTransactionsRequest(cursor=cursor, provider=provider),
            metadata=self._metadata,
            timeout=timeout,
        )
        return _Feed(stream)

    def wait_final(
        self, transaction_id: str, timeout: float, poll: float = 0.05
    ) -> pb.Transaction:
        """Polls the transaction until it is no longer PENDING, for at most
        ``timeout`` seconds; raises :class:`StillPending` with it if it still
        is."""
        end = time.monotonic() + timeout
        interval = poll
        while True:
            tx = self.get_transaction(transaction_id)
            if tx.state != pb.TRANSACTION_STATE_PENDING:
                return tx
            if time.monotonic() + interval >= end:
                raise StillPending(tx)
            self._sleep(interval)
            interval = min(interval * 2, 0.5)

    # The retry loop.

    def _call(self, rpc: Callable[..., T], request: object) -> T:
        """Runs one unary call with safe retries: the same request (so the
        same idempotency key) each time, full-jitter backoff, within the
        deadline."""
        end = time.monotonic() + self.deadline
        attempt = 0
        while True:
            attempt += 1
            self.attempts_of_last_call = attempt
            remaining = end - time.monotonic()
            if remaining <= 0:
                raise DeadlineExceeded("the call's deadline passed before an answer")
            try:
                return rpc(request, metadata=self._metadata, timeout=remaining)
            except grpc.RpcError as err:
                hint = retry_delay(err)
                if hint is None or attempt >= self.max_attempts:
                    raise from_rpc_error(err) from None
                wait = full_jitter(
                    attempt, self.backoff_base, self.backoff_max, hint, self._rng.random()
                )
                if time.monotonic() + wait >= end:
                    raise from_rpc_error(err) from None
                self._sleep(wait)

    @staticmethod
    def _transaction(resp: object) -> pb.Transaction:
        if not resp.HasField("transaction"):  # type: ignore[attr-defined]
            raise MissingField("the hub's answer lacks transaction")
        return resp.transaction  # type: ignore[attr-defined]


class _Feed(Iterator[pb.WatchTransactionsResponse]):
    """A watch stream whose errors are :class:`SdkError`."""

    def __init__(self, stream: Iterable[pb.WatchTransactionsResponse]) -> None:
        self._stream = stream
        self._iter = iter(stream)

    def __next__(self) -> pb.WatchTransactionsResponse:
        try:
            return next(self._iter)
        except grpc.RpcError as err:
            if err.code() == grpc.StatusCode.CANCELLED:  # type: ignore[attr-defined]
                raise StopIteration from None
            raise from_rpc_error(err) from None

    def cancel(self) -> None:
        """Ends the stream."""
        self._stream.cancel()  # type: ignore[attr-defined]


__all__ = ["Client", "money", "new_idempotency_key", "full_jitter", "SdkError"]
