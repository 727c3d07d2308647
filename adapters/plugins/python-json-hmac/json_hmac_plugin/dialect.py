"""The json-hmac dialect (shared/providers/json-hmac.md) as pure functions.

Requests: canonical adapter.v1 messages to signed JSON bodies. Replies: the
provider's HTTP status and body to one adapter.v1 answer.

Replies are untrusted. They are parsed strictly (one JSON object, exactly the
fields of its shape, no duplicate keys, integers that are integers within
64 bits, strings that are strings), and when in doubt the answer is
OUTCOME_UNKNOWN: the hub resolves that by a status query or a compensation,
whereas a wrong SETTLED or DECLINED loses money.
"""

import hashlib
import hmac
import json
import re

from json_hmac_plugin._pb.adapter.v1 import adapter_pb2 as pb

NAME = "json-hmac"
MAX_PROVIDER_REF = 128
I64 = (-(2**63), 2**63 - 1)
CURRENCY = re.compile(r"^[A-Z]{3}$")

DEBIT, CREDIT, ROLLBACK, BALANCE, STATUS = (
    "/v1/debit",
    "/v1/credit",
    "/v1/rollback",
    "/v1/balance",
    "/v1/status",
)

# Error codes, each valid only with the HTTP status the spec gives it.
DECLINES = {
    (402, "INSUFFICIENT_FUNDS"): pb.DECLINE_REASON_INSUFFICIENT_FUNDS,
    (403, "ACCOUNT_BLOCKED"): pb.DECLINE_REASON_ACCOUNT_BLOCKED,
    (403, "LIMIT_EXCEEDED"): pb.DECLINE_REASON_LIMIT_EXCEEDED,
    (404, "UNKNOWN_ACCOUNT"): pb.DECLINE_REASON_UNKNOWN_ACCOUNT,
    (409, "WRONG_CURRENCY"): pb.DECLINE_REASON_WRONG_CURRENCY,
}
REJECTIONS = {(400, "BAD_REQUEST"), (401, "INVALID_SIGNATURE")}
NOT_FOUND = (404, "TRANSACTION_NOT_FOUND")
NOT_REVERSIBLE = (409, "NOT_REVERSIBLE")

KIND_NAMES = {
    pb.TRANSACTION_KIND_DEBIT: "debit",
    pb.TRANSACTION_KIND_CREDIT: "credit",
    pb.TRANSACTION_KIND_ROLLBACK: "rollback",
}


class Unrepresentable(Exception):
    """The canonical request cannot be expressed in the dialect."""


class Malformed(Exception):
    """The provider's reply is not a valid answer."""


def error(kind, detail="", http_status=0):
    """An adapter.v1 Error."""
    return pb.Error(kind=kind, detail=detail[:200], http_status=http_status)


def sign(secret, body):
    """Lowercase hex HMAC-SHA256 of the exact body bytes."""
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def _body(fields):
    return json.dumps(fields, separators=(",", ":")).encode("utf-8")


def _money(m):
    if m is None or not CURRENCY.match(m.currency_code) or m.minor_units <= 0:
        raise Unrepresentable("the amount must be positive, in an ISO 4217 currency")
    return m.currency_code, m.minor_units


def _id(text):
    if not text:
        raise Unrepresentable("an id or account is empty")
    return text


# ------------------------------------------------------------------ requests


def transfer_request(req):
    """(path, body) of a debit or credit."""
    if req.direction == pb.DIRECTION_DEBIT:
        path = DEBIT
    elif req.direction == pb.DIRECTION_CREDIT:
        path = CREDIT
    else:
        raise Unrepresentable("no direction")
    currency, amount = _money(req.amount if req.HasField("amount") else None)
    fields = {
        "tx_id": _id(req.transaction_id),
        "account": _id(req.account),
        "currency": currency,
        "amount": amount,
    }
    if req.reference:
        fields["round"] = req.reference
    return path, _body(fields)


def rollback_request(req):
    """(path, body) of a rollback; the provider finds the debit by id."""
    fields = {"tx_id": _id(req.transaction_id), "ref_tx_id": _id(req.original_transaction_id)}
    return ROLLBACK, _body(fields)


def balance_request(req):
    """(path, body) of a balance query."""
    if not CURRENCY.match(req.currency_code):
        raise Unrepresentable("not a currency code")
    return BALANCE, _body({"account": _id(req.account), "currency": req.currency_code})


def status_request(req):
    """(path, body) of a status query."""
    return STATUS, _body({"tx_id": _id(req.transaction_id)})


# ------------------------------------------------------------------- replies


def _no_duplicates(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise Malformed(f"duplicate field {key!r}")
        seen[key] = value
    return seen


def _reject_constant(name):
    raise Malformed(f"{name} is not JSON")


def parse_object(body, required, optional=()):
    """One JSON object with every `required` field, optional ones, nothing else."""
    try:
        value = json.loads(
            body.decode("utf-8"),
            object_pairs_hook=_no_duplicates,
            parse_constant=_reject_constant,
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise Malformed(f"not JSON: {e}") from None
    if not isinstance(value, dict):
        raise Malformed("not a JSON object")
    keys = set(value)
    if not set(required) <= keys or not keys <= set(required) | set(optional):
        raise Malformed("not the expected fields")
    return value


def _int(value):
    if type(value) is not int or not I64[0] <= value <= I64[1]:
        raise Malformed("not a 64-bit integer")
    return value


def _str(value):
    if type(value) is not str:
        raise Malformed("not a string")
    if any(0xD800 <= ord(c) <= 0xDFFF for c in value):
        raise Malformed("a lone surrogate is not text")
    return value


def _provider_ref(value):
    ref = _str(value)
    if not ref or len(ref.encode("utf-8")) > MAX_PROVIDER_REF or any(ord(c) < 32 or ord(c) == 127 for c in ref):
        raise Malformed("unacceptable provider_ref")
    return ref


def _error_code(status, body):
    """(status, code) of a 4xx reply, or None when the body is no error reply."""
    try:
        reply = parse_object(body, ["code"])
        return status, _str(reply["code"])
    except Malformed:
        return None


def _unknown(kind, detail="", http_status=0):
    return dict(outcome=pb.OUTCOME_UNKNOWN, error=error(kind, detail, http_status))


def _movement_error(status, body, for_rollback):
    """The answer to a non-200 reply of a debit, credit or rollback."""
    if not 400 <= status < 500:
        return _unknown(pb.ERROR_KIND_HTTP_STATUS, "no business answer", status)
    code = _error_code(status, body)
    if code is None:
        return _unknown(pb.ERROR_KIND_HTTP_STATUS, "unreadable error reply", status)
    if code in DECLINES:
        return dict(outcome=pb.OUTCOME_DECLINED, decline_reason=DECLINES[code])
    if code in REJECTIONS:
        return dict(outcome=pb.OUTCOME_NOT_PROCESSED, error=error(pb.ERROR_KIND_REJECTED, code[1]))
    if for_rollback and code == NOT_FOUND:
        # The provider never applied the debit: nothing to reverse.
        return dict(outcome=pb.OUTCOME_SETTLED)
    if for_rollback and code == NOT_REVERSIBLE:
        return dict(outcome=pb.OUTCOME_DECLINED, decline_reason=pb.DECLINE_REASON_NOT_REVERSIBLE)
    return _unknown(pb.ERROR_KIND_MALFORMED, f"unexpected code {code[1][:64]!r}")


def classify_transfer(req, status, body):
    """The TransferResponse fields for the provider's reply to a debit or credit."""
    if status != 200:
        return _movement_error(status, body, for_rollback=False)
    try:
        reply = parse_object(body, ["tx_id", "status", "balance", "provider_ref"])
        if _str(reply["tx_id"]) != req.transaction_id:
            raise Malformed("another transaction")
        if _str(reply["status"]) != "OK":
            raise Malformed("status is not OK")
        balance = _int(reply["balance"])
        if balance < 0:
            raise Malformed("negative balance")
        if req.direction == pb.DIRECTION_CREDIT and balance < req.amount.minor_units:
            raise Malformed("a credit's balance below its amount")
        ref = _provider_ref(reply["provider_ref"])
    except Malformed as e:
        return _unknown(pb.ERROR_KIND_MALFORMED, str(e))
    return dict(
        outcome=pb.OUTCOME_SETTLED,
        balance_after=pb.Money(currency_code=req.amount.currency_code, minor_units=balance),
        provider_reference=ref,
    )


def classify_rollback(req, status, body):
    """The RollbackResponse fields for the provider's reply to a rollback."""
    if status != 200:
        return _movement_error(status, body, for_rollback=True)
    try:
        reply = parse_object(body, ["tx_id", "status", "balance"], ["provider_ref"])
        tx_id = _str(reply["tx_id"])
        if not tx_id:
            raise Malformed("empty tx_id")
        if _str(reply["status"]) != "OK":
            raise Malformed("status is not OK")
        balance = _int(reply["balance"])
        if balance < 0:
            raise Malformed("negative balance")
        ref = _provider_ref(reply["provider_ref"]) if "provider_ref" in reply else ""
    except Malformed as e:
        return _unknown(pb.ERROR_KIND_MALFORMED, str(e))
    answer = dict(outcome=pb.OUTCOME_SETTLED, provider_reference=ref)
    # Another rollback id: the spec replays the first rollback of this debit,
    # whose balance is stale. Ours: the balance counts when the amount is known.
    if tx_id == req.transaction_id and req.HasField("amount"):
        if balance < req.amount.minor_units:
            return _unknown(pb.ERROR_KIND_MALFORMED, "balance below the amount given back")
        answer["balance_after"] = pb.Money(
            currency_code=req.amount.currency_code, minor_units=balance
        )
    return answer


def classify_balance(req, status, body):
    """The GetBalanceResponse fields for the provider's reply to a balance query."""
    if status == 200:
        try:
            reply = parse_object(body, ["account", "currency", "balance"])
            if _str(reply["account"]) != req.account or _str(reply["currency"]) != req.currency_code:
                raise Malformed("another account or currency")
            balance = _int(reply["balance"])
            if balance < 0:
                raise Malformed("negative balance")
        except Malformed as e:
            return dict(error=error(pb.ERROR_KIND_MALFORMED, str(e)))
        return dict(balance=pb.Money(currency_code=req.currency_code, minor_units=balance))
    if not 400 <= status < 500:
        return dict(error=error(pb.ERROR_KIND_HTTP_STATUS, "no business answer", status))
    code = _error_code(status, body)
    if code is None:
        return dict(error=error(pb.ERROR_KIND_HTTP_STATUS, "unreadable error reply", status))
    if code in DECLINES:
        return dict(decline_reason=DECLINES[code])
    if code in REJECTIONS:
        return dict(error=error(pb.ERROR_KIND_REJECTED, code[1]))
    return dict(error=error(pb.ERROR_KIND_MALFORMED, f"unexpected code {code[1][:64]!r}"))


def classify_status(req, status, body):
    """The GetStatusResponse fields for the provider's reply to a status query."""
    unknown = pb.TRANSACTION_STATUS_UNKNOWN
    if status == 200:
        try:
            reply = parse_object(body, ["tx_id", "status", "kind", "amount", "currency"])
            if _str(reply["tx_id"]) != req.transaction_id:
                raise Malformed("another transaction")
            if _str(reply["kind"]) != KIND_NAMES.get(req.kind):
                raise Malformed("another kind")
            amount = _int(reply["amount"])
            currency = _str(reply["currency"])
            if amount <= 0:
                raise Malformed("non-positive amount")
            if req.HasField("amount") and (
                currency != req.amount.currency_code or amount != req.amount.minor_units
            ):
                raise Malformed("another amount or currency")
            state = _str(reply["status"])
        except Malformed as e:
            return dict(status=unknown, error=error(pb.ERROR_KIND_MALFORMED, str(e)))
        if state == "OK":
            return dict(status=pb.TRANSACTION_STATUS_APPLIED)
        if state == "ROLLED_BACK" and req.kind == pb.TRANSACTION_KIND_DEBIT:
            return dict(status=pb.TRANSACTION_STATUS_ROLLED_BACK)
        return dict(status=unknown, error=error(pb.ERROR_KIND_MALFORMED, "unexpected status"))
    if not 400 <= status < 500:
        return dict(status=unknown, error=error(pb.ERROR_KIND_HTTP_STATUS, "", status))
    code = _error_code(status, body)
    if code == NOT_FOUND:
        return dict(status=pb.TRANSACTION_STATUS_NOT_FOUND)
    if code in REJECTIONS:
        return dict(status=unknown, error=error(pb.ERROR_KIND_REJECTED, code[1]))
    return dict(status=unknown, error=error(pb.ERROR_KIND_MALFORMED, "unexpected reply"))
