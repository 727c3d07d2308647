"""The adapter.v1 service for one json-hmac provider, and its token check."""

import hmac
import http.client
import ipaddress
import socket
import urllib.parse
from datetime import timedelta

import grpc

from json_hmac_plugin import dialect
from json_hmac_plugin._pb.adapter.v1 import adapter_pb2 as pb
from json_hmac_plugin._pb.adapter.v1 import adapter_pb2_grpc as pb_grpc

MAX_REPLY = 64 * 1024


class Provider:
    """Where the provider is and how to sign for it."""

    def __init__(self, base_url, secret, operator, timeout):
        url = urllib.parse.urlsplit(base_url)
        if url.scheme != "http" or not url.hostname:
            raise ValueError("base_url must be http://host:port[/prefix]")
        self.host = url.hostname
        self.port = url.port or 80
        self.prefix = url.path.rstrip("/")
        self.secret = secret
        self.operator = operator
        self.timeout = timeout

    def post(self, path, body):
        """POSTs a signed body: (status, reply bytes), or an outcome dict.

        A failure to connect means the request never left (NOT_PROCESSED);
        any failure after that may have reached the provider (UNKNOWN).
        """
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            try:
                conn.connect()
            except OSError as e:
                return None, dict(
                    outcome=pb.OUTCOME_NOT_PROCESSED,
                    error=dialect.error(pb.ERROR_KIND_CONNECT, type(e).__name__),
                )
            try:
                conn.request(
                    "POST",
                    self.prefix + path,
                    body=body,
                    headers={
                        "Content-Type": "application/json",
                        "X-Signature": dialect.sign(self.secret, body),
                        "X-Operator": self.operator,
                    },
                )
                response = conn.getresponse()
                reply = response.read(MAX_REPLY + 1)
            except (OSError, http.client.HTTPException) as e:
                return None, dict(
                    outcome=pb.OUTCOME_UNKNOWN,
                    error=dialect.error(pb.ERROR_KIND_TRANSPORT, type(e).__name__),
                )
            if len(reply) > MAX_REPLY:
                return None, dict(
                    outcome=pb.OUTCOME_UNKNOWN,
                    error=dialect.error(pb.ERROR_KIND_MALFORMED, "reply too large"),
                )
            return (response.status, reply), None
        finally:
            conn.close()


def _unrepresentable(e):
    return dict(
        outcome=pb.OUTCOME_NOT_PROCESSED,
        error=dialect.error(pb.ERROR_KIND_UNREPRESENTABLE, str(e)),
    )


class JsonHmacAdapter(pb_grpc.AdapterServiceServicer):
    """adapter.v1 over one json-hmac provider."""

    def __init__(self, provider):
        self.provider = provider

    def Describe(self, request, context):
        timeout = pb.DescribeResponse().default_timeout
        timeout.FromTimedelta(timedelta(seconds=2))
        return pb.DescribeResponse(
            dialect=dialect.NAME,
            balance=True,
            status=True,
            duplicates=pb.DUPLICATE_HABIT_REPLAYS_ORIGINAL,
            rollback_of_unknown=pb.UNKNOWN_ROLLBACK_HABIT_NOT_FOUND_ERROR,
            default_timeout=timeout,
        )

    def _movement(self, encode, classify, request, response_type):
        try:
            path, body = encode(request)
        except dialect.Unrepresentable as e:
            return response_type(transaction_id=request.transaction_id, **_unrepresentable(e))
        reply, failure = self.provider.post(path, body)
        fields = failure if failure is not None else classify(request, *reply)
        return response_type(transaction_id=request.transaction_id, **fields)

    def Transfer(self, request, context):
        return self._movement(
            dialect.transfer_request, dialect.classify_transfer, request, pb.TransferResponse
        )

    def Rollback(self, request, context):
        return self._movement(
            dialect.rollback_request, dialect.classify_rollback, request, pb.RollbackResponse
        )

    def GetBalance(self, request, context):
        try:
            path, body = dialect.balance_request(request)
        except dialect.Unrepresentable as e:
            return pb.GetBalanceResponse(error=_unrepresentable(e)["error"])
        reply, failure = self.provider.post(path, body)
        if failure is not None:
            return pb.GetBalanceResponse(error=failure["error"])
        return pb.GetBalanceResponse(**dialect.classify_balance(request, *reply))

    def GetStatus(self, request, context):
        unknown = pb.TRANSACTION_STATUS_UNKNOWN
        try:
            path, body = dialect.status_request(request)
        except dialect.Unrepresentable as e:
            return pb.GetStatusResponse(
                transaction_id=request.transaction_id,
                status=unknown,
                error=_unrepresentable(e)["error"],
            )
        reply, failure = self.provider.post(path, body)
        if failure is not None:
            return pb.GetStatusResponse(
                transaction_id=request.transaction_id, status=unknown, error=failure["error"]
            )
        return pb.GetStatusResponse(
            transaction_id=request.transaction_id,
            **dialect.classify_status(request, *reply),
        )


class TokenCheck(grpc.ServerInterceptor):
    """Refuses every call without `authorization: Bearer <token>` before any
    handler runs (UNAUTHENTICATED: the hub then knows nothing happened)."""

    def __init__(self, token):
        self.expected = f"Bearer {token}".encode("utf-8")

        def refuse(request, context):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong token")

        self.refusal = grpc.unary_unary_rpc_method_handler(refuse)

    def intercept_service(self, continuation, handler_call_details):
        given = b""
        for key, value in handler_call_details.invocation_metadata or ():
            if key == "authorization":
                given = value.encode("utf-8") if isinstance(value, str) else value
        if hmac.compare_digest(given, self.expected):
            return continuation(handler_call_details)
        return self.refusal


def loopback_only(address):
    """Refuses a TCP address off the loopback interface (the channel is not
    encrypted)."""
    if address.startswith("unix:"):
        return address
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    if not port.isdigit():
        raise ValueError("listen on unix:/path or 127.0.0.1:port")
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    if not infos or not all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos):
        raise ValueError("a TCP plugin listens on a loopback address only")
    return address
