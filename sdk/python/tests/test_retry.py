"""The retry rules without a hub: which statuses are retried, with which
delays, drawn from an injected random source."""

from __future__ import annotations

import random
from typing import List, Optional

import grpc
import pytest
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

import settlement_sdk as sdk
from settlement_sdk import pb


class FakeError(grpc.RpcError, grpc.Call):
    """A failed call as grpcio raises it: code, message and trailers with
    the rich status details."""

    def __init__(
        self,
        code: grpc.StatusCode,
        reason: Optional[str] = None,
        retry_after: Optional[float] = None,
        violations: Optional[List[tuple]] = None,
    ) -> None:
        self._code = code
        details = []
        if reason is not None:
            details.append(error_details_pb2.ErrorInfo(reason=reason, domain="hub.settlement.v1"))
        if retry_after is not None:
            d = duration_pb2.Duration()
            d.FromNanoseconds(int(retry_after * 1e9))
            details.append(error_details_pb2.RetryInfo(retry_delay=d))
        if violations:
            details.append(error_details_pb2.BadRequest(field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=f, description=m)
                for f, m in violations
            ]))
        self._trailers: tuple = ()
        if details:
            status = status_pb2.Status(code=code.value[0], message="m")
            for msg in details:
                a = any_pb2.Any()
                a.Pack(msg)
                status.details.append(a)
            self._trailers = (("grpc-status-details-bin", status.SerializeToString()),)

    def code(self):
        return self._code

    def details(self):
        return "m"

    def trailing_metadata(self):
        return self._trailers

    def initial_metadata(self):
        return ()

    def is_active(self):
        return False

    def time_remaining(self):
        return None

    def cancel(self):
        return False

    def add_callback(self, callback):
        return False


U = grpc.StatusCode


@pytest.mark.parametrize(
    "error,delay",
    [
        (FakeError(U.UNAVAILABLE, "PROVIDER_UNAVAILABLE", 0.5), 0.5),
        (FakeError(U.UNAVAILABLE, "SHUTTING_DOWN", 1.0), 1.0),
        (FakeError(U.UNAVAILABLE), 0.0),  # no answer at all: a transport failure
        (FakeError(U.ABORTED, "IN_PROGRESS", 0.2), 0.2),
        (FakeError(U.RESOURCE_EXHAUSTED, "RATE_LIMITED", 1.0), 1.0),
        (FakeError(U.RESOURCE_EXHAUSTED, "PROVIDER_OVERLOADED", 0.1), 0.1),
        (FakeError(U.RESOURCE_EXHAUSTED, "HUB_OVERLOADED", 0.1), 0.1),
        (FakeError(U.UNAVAILABLE, "SOMETHING_ELSE"), None),
        (FakeError(U.ABORTED, "OTHER"), None),
        (FakeError(U.DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED"), None),
        (FakeError(U.INVALID_ARGUMENT, "INVALID_ARGUMENT"), None),
        (FakeError(U.INTERNAL), None),
    ],
)
def test_only_provably_safe_failures_are_retried(error, delay):
    got = sdk.errors.retry_delay(error)
    assert got == (pytest.approx(delay) if delay is not None else None)


def test_statuses_become_typed_errors_with_details():
    e = sdk.errors.from_rpc_error(
        FakeError(U.INVALID_ARGUMENT, "INVALID_ARGUMENT", violations=[("account", "empty")])
    )
    assert isinstance(e, sdk.InvalidArgument)
    assert e.violations == [sdk.FieldViolation("account", "empty")]
    e = sdk.errors.from_rpc_error(FakeError(U.RESOURCE_EXHAUSTED, "RATE_LIMITED", 2.0))
    assert isinstance(e, sdk.RateLimited) and e.retry_after == pytest.approx(2.0)
    assert isinstance(sdk.errors.from_rpc_error(FakeError(U.ABORTED, "IN_PROGRESS")), sdk.InProgress)
    assert isinstance(sdk.errors.from_rpc_error(FakeError(U.ALREADY_EXISTS, "IDEMPOTENCY_CONFLICT")), sdk.Conflict)
    assert isinstance(sdk.errors.from_rpc_error(FakeError(U.DATA_LOSS)), sdk.OtherStatus)


def test_full_jitter_grows_caps_and_respects_the_hint():
    assert sdk.full_jitter(1, 0.1, 1.0, 0.0, 1.0) == pytest.approx(0.1)
    assert sdk.full_jitter(3, 0.1, 1.0, 0.0, 1.0) == pytest.approx(0.4)
    assert sdk.full_jitter(10, 0.1, 1.0, 0.0, 1.0) == pytest.approx(1.0)
    assert sdk.full_jitter(3, 0.1, 1.0, 0.0, 0.5) == pytest.approx(0.2)
    assert sdk.full_jitter(3, 0.1, 1.0, 0.5, 0.1) == pytest.approx(0.5)


class ScriptedStub:
    """Answers Debit from a script of errors, then succeeds; records the
    requests it saw."""

    def __init__(self, errors):
        self.errors = list(errors)
        self.requests = []

    def Debit(self, request, metadata=None, timeout=None):
        self.requests.append(request)
        if self.errors:
            raise self.errors.pop(0)
        return pb.DebitResponse(transaction=pb.Transaction(
            idempotency_key=request.idempotency_key, state=pb.TRANSACTION_STATE_SETTLED))


def scripted_client(errors, seed, **kw):
    c = sdk.Client("127.0.0.1:1", rng=random.Random(seed), sleep=kw.pop("sleep"), **kw)
    c._stub = ScriptedStub(errors)
    return c


def test_retries_reuse_the_key_and_draw_backoff_from_the_injected_source():
    def run(seed):
        waits = []
        c = scripted_client(
            [FakeError(U.UNAVAILABLE, "PROVIDER_UNAVAILABLE"), FakeError(U.ABORTED, "IN_PROGRESS"),
             FakeError(U.UNAVAILABLE)],
            seed, sleep=waits.append, backoff_base=0.1, backoff_max=5.0,
        )
        tx = c.debit("p", "a", sdk.money("EUR", 1))
        keys = {r.idempotency_key for r in c._stub.requests}
        c.close()
        return tx, keys, waits

    tx, keys, waits = run(7)
    assert tx.state == pb.TRANSACTION_STATE_SETTLED
    assert keys == {tx.idempotency_key}, "every attempt carries the same key"
    assert len(waits) == 3
    # Full jitter below each attempt's cap, reproducible from the seed.
    assert all(0 <= w <= 0.1 * 2**i for i, w in enumerate(waits))
    assert run(7)[2] == waits
    assert run(8)[2] != waits


def test_an_unsafe_failure_is_not_retried():
    waits = []
    c = scripted_client([FakeError(U.UNAVAILABLE, "PROVIDER_TIMEOUT")], 1, sleep=waits.append)
    with pytest.raises(sdk.Unavailable) as err:
        c.debit("p", "a", sdk.money("EUR", 1))
    assert err.value.reason == "PROVIDER_TIMEOUT"
    assert len(c._stub.requests) == 1 and waits == []


def test_attempts_stop_at_max_attempts():
    waits = []
    errs = [FakeError(U.UNAVAILABLE, "PROVIDER_UNAVAILABLE") for _ in range(5)]
    c = scripted_client(errs, 1, sleep=waits.append, max_attempts=3)
    with pytest.raises(sdk.Unavailable):
        c.debit("p", "a", sdk.money("EUR", 1))
    assert len(c._stub.requests) == 3 and len(waits) == 2
