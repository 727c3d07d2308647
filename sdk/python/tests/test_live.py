"""The SDK against a live hub and json-hmac sandbox: every RPC, automatic
idempotency keys, safe retries that move money once, PENDING resolved, and
each error type with its details."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid

import grpc
import pytest

import settlement_sdk as sdk
from settlement_sdk import pb

from conftest import Sandbox


def test_every_rpc_with_automatic_idempotency_keys(client, provider, sandbox):
    acc = sandbox.account(100_000)
    other = sandbox.account(1_000)

    d = client.debit(provider, acc, sdk.money("EUR", 700), reference="round-1")
    assert d.state == pb.TRANSACTION_STATE_SETTLED
    assert uuid.UUID(d.idempotency_key).version == 7
    assert d.reference == "round-1"
    assert d.kind == pb.TRANSACTION_KIND_DEBIT

    # Two calls without keys are two movements.
    d2 = client.debit(provider, acc, sdk.money("EUR", 300))
    assert d2.idempotency_key != d.idempotency_key
    assert client.get_balance(provider, acc, "EUR").minor_units == 100_000 - 1_000

    # The caller's key; repeating the call is a replay that moves nothing.
    key = f"win-{uuid.uuid4()}"
    cr = client.credit(provider, other, sdk.money("EUR", 250), idempotency_key=key)
    assert cr.idempotency_key == key and not cr.replay
    again = client.credit(provider, other, sdk.money("EUR", 250), idempotency_key=key)
    assert again.replay and again.transaction_id == cr.transaction_id
    balance = client.get_balance(provider, other, "EUR")
    assert (balance.currency_code, balance.minor_units) == ("EUR", 1_250)

    assert client.get_transaction(d.transaction_id).idempotency_key == d.idempotency_key
    assert client.get_transaction_by_key(key).transaction_id == cr.transaction_id

    rb = client.rollback(transaction_id=d.transaction_id)
    assert rb.state == pb.TRANSACTION_STATE_ROLLED_BACK
    assert rb.reverses_transaction_id == d.transaction_id
    assert uuid.UUID(rb.idempotency_key).version == 7
    assert client.get_balance(provider, acc, "EUR").minor_units == 100_000 - 300

    # A rollback named by the debit's key.
    rb2 = client.rollback(original_idempotency_key=d2.idempotency_key, provider=provider)
    assert rb2.reverses_transaction_id == d2.transaction_id
    assert client.get_balance(provider, acc, "EUR").minor_units == 100_000

    # Listing, across pages of two.
    mine = {d.transaction_id, d2.transaction_id, cr.transaction_id, rb.transaction_id}
    seen = {t.transaction_id for t in client.iter_transactions(page_size=2, provider=provider)}
    assert mine <= seen
    first = client.list_transactions(page_size=2)
    assert len(first.transactions) == 2 and first.next_page_token
    settled = client.list_transactions(states=[pb.TRANSACTION_STATE_ROLLED_BACK])
    assert all(t.state == pb.TRANSACTION_STATE_ROLLED_BACK for t in settled.transactions)
    assert rb.transaction_id in {t.transaction_id for t in client.iter_transactions(
        states=[pb.TRANSACTION_STATE_ROLLED_BACK])}

    # The change feed from the beginning carries the debit, and resumes
    # after a cursor.
    feed = client.watch_transactions(timeout=10)
    cursor = None
    for change in feed:
        if change.transaction.transaction_id == d.transaction_id:
            cursor = change.cursor
            break
    feed.cancel()
    assert cursor
    resumed = client.watch_transactions(cursor=cursor, timeout=10)
    after = next(resumed)
    resumed.cancel()
    assert after.transaction.transaction_id != d.transaction_id or after.cursor != cursor


def test_an_unavailable_provider_is_retried_with_the_same_key_and_moves_money_once(
    target, keys
):
    provider = os.environ["LATE_PROVIDER"]
    late = Sandbox(os.environ["LATE_SANDBOX_URL"])

    # The provider is down: nothing listens on its port.
    with sdk.Client(target, api_key=keys["p1"], max_attempts=1) as once:
        with pytest.raises(sdk.Unavailable) as err:
            once.debit(provider, "acc-late", sdk.money("EUR", 900), idempotency_key="probe")
    assert err.value.reason == "PROVIDER_UNAVAILABLE"
    assert err.value.retry_after is not None and err.value.retry_after > 0
    assert err.value.code == grpc.StatusCode.UNAVAILABLE

    # It comes up while the SDK backs off after its first attempt.
    waits = []

    def sleep_and_start_provider(seconds: float) -> None:
        if not waits:
            with socket.create_connection(os.environ["LATE_SWITCH"].rsplit(":", 1)) as s:
                assert s.makefile().readline().strip() == "up"
        waits.append(seconds)
        time.sleep(seconds)

    with sdk.Client(
        target, api_key=keys["p1"], backoff_base=0.02, backoff_max=0.1,
        sleep=sleep_and_start_provider,
    ) as c:
        tx = c.debit(provider, "acc-late", sdk.money("EUR", 900), idempotency_key="retry-1")
        assert c.attempts_of_last_call == 2 and len(waits) == 1
        # At least the hub's RetryInfo delay.
        assert waits[0] >= err.value.retry_after
        assert tx.state == pb.TRANSACTION_STATE_SETTLED
        assert tx.idempotency_key == "retry-1"
        assert late.money_requests_for(tx.transaction_id) == 1
        assert c.get_balance(provider, "acc-late", "EUR").minor_units == 100_000 - 900
        # The probe's key never reached the provider and moved nothing.
        probe = c.get_transaction_by_key("probe")
        assert probe.state == pb.TRANSACTION_STATE_FAILED
        assert late.money_requests_for(probe.transaction_id) == 0


def test_a_pending_debit_is_resolved_by_wait_final(client, provider, sandbox):
    acc = sandbox.account(100_000)
    # The debit lands but its reply is lost, and the first status queries
    # fail: the call answers PENDING and the hub's resolver settles it.
    sandbox.fault("drop_after_commit", "/v1/debit", remaining=1)
    sandbox.fault({"error_rate": 1.0}, "/v1/status", remaining=3)

    tx = client.debit(provider, acc, sdk.money("EUR", 700))
    assert tx.state == pb.TRANSACTION_STATE_PENDING

    with pytest.raises(sdk.StillPending) as err:
        client.wait_final(tx.transaction_id, timeout=0)
    assert err.value.transaction.transaction_id == tx.transaction_id

    done = client.wait_final(tx.transaction_id, timeout=20)
    assert done.state == pb.TRANSACTION_STATE_SETTLED
    assert client.get_balance(provider, acc, "EUR").minor_units == 100_000 - 700
    assert sandbox.money_requests_for(tx.transaction_id) == 1


def test_a_rate_limit_is_waited_out_and_retried(target, keys, provider, sandbox):
    acc = sandbox.account(10_000)
    # One call per second, burst one.
    with sdk.Client(target, api_key=keys["limited"], max_attempts=1) as once:
        once.get_balance(provider, acc, "EUR")
        with pytest.raises(sdk.RateLimited) as err:
            once.get_balance(provider, acc, "EUR")
    assert err.value.reason == "RATE_LIMITED"
    assert err.value.retry_after is not None and err.value.retry_after > 0

    with sdk.Client(target, api_key=keys["limited"], deadline=10) as c:
        first = c.debit(provider, acc, sdk.money("EUR", 100))
        second = c.debit(provider, acc, sdk.money("EUR", 100))
        # The second was refused before anything was recorded, waited the
        # hub's delay, and went through on a later attempt.
        assert c.attempts_of_last_call >= 2
        assert first.state == second.state == pb.TRANSACTION_STATE_SETTLED
        assert sandbox.money_requests_for(second.transaction_id) == 1


def test_a_duplicate_in_flight_is_in_progress_and_moves_nothing(
    target, keys, provider, sandbox
):
    acc = sandbox.account(10_000)
    sandbox.fault({"latency": "1500ms"}, "/v1/debit", remaining=1)
    key = f"slow-{acc}"
    results = {}

    def leader():
        with sdk.Client(target, api_key=keys["p1"]) as c:
            results["leader"] = c.debit(provider, acc, sdk.money("EUR", 400), idempotency_key=key)

    t = threading.Thread(target=leader)
    t.start()
    with sdk.Client(target, api_key=keys["p1"], deadline=0.6) as c:
        # Wait until the hub has journaled the leader's call...
        for _ in range(200):
            try:
                c.get_transaction_by_key(key)
                break
            except sdk.NotFound:
                time.sleep(0.01)
        # ...then the same key while it is at the provider: the hub holds the
        # duplicate until its deadline, then says IN_PROGRESS.
        with pytest.raises(sdk.InProgress) as err:
            c.debit(provider, acc, sdk.money("EUR", 400), idempotency_key=key)
    t.join(10)
    assert err.value.reason == "IN_PROGRESS"
    assert err.value.code == grpc.StatusCode.ABORTED
    leader_tx = results["leader"]
    assert leader_tx.state == pb.TRANSACTION_STATE_SETTLED

    with sdk.Client(target, api_key=keys["p1"]) as c:
        replay = c.debit(provider, acc, sdk.money("EUR", 400), idempotency_key=key)
        assert replay.replay and replay.transaction_id == leader_tx.transaction_id
        assert c.get_balance(provider, acc, "EUR").minor_units == 10_000 - 400
    assert sandbox.money_requests_for(leader_tx.transaction_id) == 1


def test_each_error_type_carries_its_details(target, keys, client, provider, sandbox):
    acc = sandbox.account(10_000)

    with pytest.raises(sdk.InvalidArgument) as err:
        client.debit(provider, "", sdk.money("EUR", -5))
    fields = {v.field for v in err.value.violations}
    assert {"account", "amount.minor_units"} <= fields, fields
    assert all(v.description for v in err.value.violations)

    key = f"conflict-{acc}"
    client.debit(provider, acc, sdk.money("EUR", 100), idempotency_key=key)
    with pytest.raises(sdk.Conflict) as err:
        client.debit(provider, acc, sdk.money("EUR", 200), idempotency_key=key)
    assert err.value.reason == "IDEMPOTENCY_CONFLICT"
    assert client.get_balance(provider, acc, "EUR").minor_units == 10_000 - 100

    cr = client.credit(provider, acc, sdk.money("EUR", 10))
    with pytest.raises(sdk.FailedPrecondition) as err:
        client.rollback(transaction_id=cr.transaction_id)
    assert err.value.reason == "NOT_REVERSIBLE"

    with pytest.raises(sdk.NotFound):
        client.get_transaction_by_key("never-seen")

    with sdk.Client(target, api_key=keys["p3"]) as p3:
        with pytest.raises(sdk.PermissionDenied) as err:
            p3.debit(provider, acc, sdk.money("EUR", 100))
    assert err.value.reason == "PROVIDER_NOT_ALLOWED"

    for creds in ({"api_key": "hk_wrong"}, {}, {"bearer_token": "not.a.jwt"}):
        with sdk.Client(target, **creds) as bad:
            with pytest.raises(sdk.Unauthenticated) as err:
                bad.get_balance(provider, acc, "EUR")
        assert err.value.message

    # Refused on the client, before any call.
    with pytest.raises(ValueError):
        sdk.Client(target, api_key="line\nbreak")
    with pytest.raises(ValueError):
        sdk.Client(target, api_key="a", bearer_token="b")
    with pytest.raises(sdk.InvalidArgument):
        client.rollback()
