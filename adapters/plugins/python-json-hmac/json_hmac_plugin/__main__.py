"""Runs the plugin: python -m json_hmac_plugin --listen ADDRESS ...

Prints one line `listening on ADDRESS` to stdout once it accepts calls, and
serves until SIGTERM or SIGINT.
"""

import argparse
import signal
import sys
import threading
from concurrent import futures

import grpc

from json_hmac_plugin import server
from json_hmac_plugin._pb.adapter.v1 import adapter_pb2_grpc as pb_grpc


def read_secret(path):
    with open(path, "rb") as f:
        value = f.read().strip()
    if not value:
        raise SystemExit(f"{path} is empty")
    return value


def main(argv=None):
    p = argparse.ArgumentParser(prog="json_hmac_plugin", description=__doc__)
    p.add_argument("--listen", required=True, help="unix:/path/to.sock or 127.0.0.1:PORT")
    p.add_argument("--token-file", required=True, help="file holding the hub's shared token")
    p.add_argument("--base-url", required=True, help="the provider, http://host:port[/prefix]")
    p.add_argument("--secret-file", required=True, help="file holding the provider's HMAC secret")
    p.add_argument("--operator", required=True, help="our operator id at the provider")
    p.add_argument("--timeout", type=float, default=10.0, help="provider call timeout, seconds")
    p.add_argument("--workers", type=int, default=16, help="calls served at once")
    args = p.parse_args(argv)

    token = read_secret(args.token_file).decode("ascii")
    provider = server.Provider(
        args.base_url, read_secret(args.secret_file), args.operator, args.timeout
    )
    address = server.loopback_only(args.listen)

    grpc_server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=args.workers),
        interceptors=[server.TokenCheck(token)],
        options=[("grpc.max_receive_message_length", 64 * 1024)],
    )
    pb_grpc.add_AdapterServiceServicer_to_server(server.JsonHmacAdapter(provider), grpc_server)
    port = grpc_server.add_insecure_port(address)
    if port == 0 and not address.startswith("unix:"):
        raise SystemExit(f"cannot listen on {address}")
    grpc_server.start()
    if not address.startswith("unix:") and address.endswith(":0"):
        address = f"{address.rsplit(':', 1)[0]}:{port}"
    print(f"listening on {address}", flush=True)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    grpc_server.stop(grace=2).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
