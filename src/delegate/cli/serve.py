"""``delegate serve``: the HTTP API and live dashboard over the run store, under uvicorn.

Everything is checked before anything listens: the port (1 to 65535), ``--max-runs`` (at
least 1), a token for any address that is not a loopback one (``--token`` or
``DELEGATE_TOKEN``: a server reachable from other machines runs only with a token its owner
chose), the ``server`` extra (fastapi, uvicorn, sse-starlette), and that the address can be
listened on (not taken by another server). A failed check is one line and exit code 2.

The token is ``--token``, else ``DELEGATE_TOKEN``, else a new random one. The address to open
(with the token, which the page turns into a cookie) is printed once on standard error; the
server itself is :func:`delegate.server.create_app`.
"""

from __future__ import annotations

import argparse
import importlib
import ipaddress
import os
import secrets
import socket
import sys
from typing import Any

from ..errors import ConfigurationError, UsageError

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "add_serve_parser", "serve_command"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
#: the modules the ``server`` extra brings, by the name they are imported as
SERVER_MODULES = ("fastapi", "uvicorn", "sse_starlette")


def add_serve_parser(sub: Any) -> None:
    serve = sub.add_parser("serve", help="an HTTP API and live dashboard over the run store")
    serve.add_argument("--host", default=DEFAULT_HOST,
                       help=f"address to listen on (default {DEFAULT_HOST}; any other than a "
                            "loopback address needs --token or $DELEGATE_TOKEN)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT,
                       help=f"port to listen on (default {DEFAULT_PORT})")
    serve.add_argument("--store", metavar="URL", default=None,
                       help="run store: a SQLite file or postgresql:// URL "
                            "(default: $DELEGATE_STORE, else delegate.db in the data dir)")
    serve.add_argument("--max-runs", type=int, default=None, metavar="N",
                       help="runs at once; more wait in a queue (default: the CPU cores)")
    serve.add_argument("--token", default=None,
                       help="the token clients must send (default: $DELEGATE_TOKEN, else a new "
                            "random one, printed with the address)")
    serve.add_argument("--no-recover", dest="recover", action="store_false",
                       help="leave runs whose owner died alone (default: carry them on here)")


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only: ``localhost`` or a loopback address."""
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def missing_modules() -> list[str]:
    """The modules of the ``server`` extra that cannot be imported here (the server imports
    them next anyway)."""
    missing = []
    for name in SERVER_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing


def check(args: argparse.Namespace) -> str:
    """Check the command line and the environment; return the token to serve with.

    Raises:
        UsageError: a bad port or ``--max-runs``, or an address other than a loopback one
            without a chosen token.
        ConfigurationError: the ``server`` extra is not installed.
    """
    if not 1 <= args.port <= 65535:
        raise UsageError(f"--port must be between 1 and 65535, not {args.port}")
    if args.max_runs is not None and args.max_runs < 1:
        raise UsageError(f"--max-runs must be at least 1, not {args.max_runs}")
    if args.token is not None and not args.token.strip():
        raise UsageError("--token must not be empty")
    chosen = args.token or os.environ.get("DELEGATE_TOKEN") or None
    if not is_loopback(args.host) and chosen is None:
        raise UsageError(f"--host {args.host} is reachable from other machines: give a token "
                         "with --token (or DELEGATE_TOKEN)")
    missing = missing_modules()
    if missing:
        raise ConfigurationError(f"delegate serve needs the server extra ({', '.join(missing)} "
                                 "missing): pip install 'delegate[server]'")
    check_free(args.host, args.port)
    return chosen or secrets.token_urlsafe(24)


def check_free(host: str, port: int) -> None:
    """Fail now, in one line, if ``host:port`` cannot be listened on (taken, or not an
    address of this machine), rather than after the address was printed.

    Raises:
        UsageError: the address cannot be bound.
    """
    host = host.strip("[]")
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        socket.create_server((host, port), family=family).close()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise UsageError(f"cannot listen on {url_host(host)}:{port}: {reason}") from None


def url_host(host: str) -> str:
    """``host`` as it is written in a URL (an IPv6 address in brackets)."""
    host = host.strip("[]")
    return f"[{host}]" if ":" in host else host


def serve_command(args: argparse.Namespace) -> int:
    """Check, print the address once, and serve until interrupted."""
    token = check(args)
    import uvicorn

    from ..durable.store import open_store
    from ..server import create_app

    store = open_store(args.store)  # a bad store is one line, before any address is printed
    try:
        app = create_app(store=store, token=token, host=args.host, port=args.port,
                         max_runs=args.max_runs, recover=args.recover)
        print(f"delegate: serving on http://{url_host(args.host)}:{args.port}/?token={token}",
              file=sys.stderr, flush=True)
        uvicorn.run(app, host=args.host.strip("[]"), port=args.port, log_level="warning")
    finally:
        store.close()
    return 0
