"""Fixtures for the live suite: the hub and sandbox that hub/tests/python_sdk.rs
started, passed in the environment, and a small client of the sandbox's
test-only /control surface (seed accounts, switch faults, read counters)."""

from __future__ import annotations

import itertools
import json
import os
import urllib.request
from typing import Any, Iterator, Optional

import pytest

import settlement_sdk


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(
            f"{name} is not set: run this suite through "
            "`cargo test -p hub --test python_sdk`, which starts the hub and sandbox"
        )
    return value


class Sandbox:
    """The json-hmac sandbox behind the hub, driven over HTTP."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._accounts = itertools.count(1)

    def _request(self, method: str, path: str, body: Optional[Any] = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.base_url + path,
            data=data,
            method=method,
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read() or b"null")

    def account(self, balance: int = 100_000, currency: str = "EUR") -> str:
        """A fresh account holding ``balance`` minor units."""
        name = f"py-{os.getpid()}-{next(self._accounts)}"
        self._request(
            "POST",
            "/control/seed",
            {"account": name, "currency": currency, "balance": balance},
        )
        return name

    def fault(self, kind: Any, path: str, remaining: Optional[int] = None) -> None:
        """Switches on a fault (``"drop_after_commit"``, ``{"error_rate": 1.0}``,
        ``{"latency": "1s"}``...) for requests to ``path``."""
        body: dict = {"kind": kind, "path": path}
        if remaining is not None:
            body["remaining"] = remaining
        self._request("POST", "/control/faults", body)

    def clear_faults(self) -> None:
        self._request("DELETE", "/control/faults")

    def money_requests_for(self, transaction_id: str) -> int:
        """How many money requests with this transaction id reached it."""
        return self._request("GET", "/control/stats")["by_tx_id"].get(transaction_id, 0)


@pytest.fixture(scope="session")
def target() -> str:
    return _env("SETTLEMENT_TARGET")


@pytest.fixture(scope="session")
def provider() -> str:
    return _env("SETTLEMENT_PROVIDER")


@pytest.fixture(scope="session")
def keys() -> dict:
    return {
        "p1": _env("SETTLEMENT_KEY_P1"),
        "p3": _env("SETTLEMENT_KEY_P3"),
        "limited": _env("SETTLEMENT_KEY_LIMITED"),
    }


@pytest.fixture()
def sandbox() -> Iterator[Sandbox]:
    sb = Sandbox(_env("SANDBOX_URL"))
    sb.clear_faults()
    yield sb
    sb.clear_faults()


@pytest.fixture()
def client(target: str, keys: dict) -> Iterator[settlement_sdk.Client]:
    with settlement_sdk.Client(target, api_key=keys["p1"]) as c:
        yield c
