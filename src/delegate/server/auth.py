"""The server's gate, in front of every route (the dashboard, its files, the API and the
stream): one ASGI middleware, so that no route can forget it.

In order, for each HTTP request:

1. the ``Host`` header must name an allowed host and port (loopback names and the ``--host``
   the server binds), else 421: a DNS-rebinding page cannot reach the server under another name;
2. ``GET /?token=T`` with the right token sets the ``delegate_token`` cookie (HttpOnly,
   SameSite=Strict, so the browser's EventSource carries it) and redirects to ``/``; the token
   leaves the address bar;
3. the token, from ``Authorization: Bearer T`` or the cookie, must match (compared in constant
   time), else 401;
4. a body larger than :data:`MAX_BODY` is refused (413): at once when its ``Content-Length``
   says so, else (a chunked body) as soon as more than that has been received, and nothing
   more of it is read;
5. a request that may change something (not GET, HEAD or OPTIONS) that carries an ``Origin``
   must come from the server's own origin, else 403: another site's page cannot post to it.
   (A client that is not a browser sends no Origin; the token still applies.)

No CORS headers are ever sent, and the token is never written into a page or an answer. An
answer given before the request's body was read to its end (any refusal above, or a route that
reads no body) closes the connection, so that a client cannot keep the server reading an
endless body after the answer.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterable
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

from .errors import error_body

__all__ = ["COOKIE", "MAX_BODY", "Gate", "allowed_hosts"]

COOKIE = "delegate_token"
#: The largest request body the server reads, in bytes.
MAX_BODY = 1024 * 1024
_SAFE = {"GET", "HEAD", "OPTIONS"}
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


def allowed_hosts(host: str, port: int, extra: Iterable[str] = ()) -> set[str]:
    """The ``Host`` values the server answers: loopback names and ``host``, with the port."""
    bound = f"[{host}]" if ":" in host and not host.startswith("[") else host
    names = {*_LOOPBACK, bound, *extra}
    names.discard("0.0.0.0")
    names.discard("[::]")
    return {f"{name}:{port}" for name in names}


class Gate:
    """The ASGI middleware of the module docstring."""

    def __init__(self, app: Any, *, token: str, hosts: set[str]) -> None:
        self.app = app
        self.token = token.encode()
        self.hosts = {h.lower() for h in hosts}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", ())}
        length = headers.get("content-length", "")
        body = "transfer-encoding" in headers or length not in ("", "0")
        refuse = _closing(send) if body else send  # a refusal reads no body: it closes
        host = headers.get("host", "").lower()
        if host not in self.hosts:
            await _deny(refuse, 421, "misdirected_host",
                        f"this server does not answer for host {host[:100]!r}")
            return
        method, path = scope["method"], scope["path"]
        if path == "/" and method == "GET":
            given = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
            if given:
                if self._ok(given[0]):
                    await _login(refuse, given[0])
                else:
                    await _deny(refuse, 401, "unauthorized", "the token is wrong", html=True)
                return
        given = _token(headers)
        if not self._ok(given):
            why = ("the token is wrong" if given else "a token is needed") + (
                ": open the URL `delegate serve` printed, or send Authorization: Bearer TOKEN")
            await _deny(refuse, 401, "unauthorized", why, html=not path.startswith("/api/"))
            return
        if length.isdigit() and int(length) > MAX_BODY:
            await _too_large(refuse)
            return
        origin = headers.get("origin")
        if method not in _SAFE and origin is not None and \
                origin.lower().removeprefix("http://") not in self.hosts:
            await _deny(refuse, 403, "forbidden_origin",
                        f"requests from origin {origin[:100]!r} are refused")
            return
        await _limited(self.app, scope, receive, send, body=body)

    def _ok(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.token)


def _token(headers: dict[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    cookie = SimpleCookie()
    try:
        cookie.load(headers.get("cookie", ""))
    except Exception:
        return None
    morsel = cookie.get(COOKIE)
    return morsel.value if morsel is not None else None


async def _limited(app: Any, scope: dict[str, Any], receive: Any, send: Any, *,
                   body: bool) -> None:
    """Run ``app`` on a ``receive`` that counts the body's bytes as they arrive: past
    :data:`MAX_BODY` it answers 413 itself (unless the app already began its answer), tells the
    app the client went away, and drops whatever the app sends after that. ``body``: the request
    has one (chunked, or a ``Content-Length`` above 0)."""
    received = 0
    refused = started = False
    unread = body  # the body has bytes the app has not asked for yet

    async def counted() -> dict[str, Any]:
        nonlocal received, refused, unread
        if refused:
            return {"type": "http.disconnect"}
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            unread = message.get("more_body", False)
            if received > MAX_BODY:
                refused = True
                if not started:
                    await _too_large(_closing(send))
                return {"type": "http.disconnect"}
        return message

    async def guarded(message: dict[str, Any]) -> None:
        nonlocal started
        if refused:
            return  # the app's answer to a body it never got: the 413 was the answer
        if message["type"] == "http.response.start":
            started = True
            if unread:
                message = _closed(message)
        await send(message)

    try:
        await app(scope, counted, guarded)
    except Exception:
        if not refused:
            raise
        # the app failed on a body cut short; the client has its 413 already


async def _too_large(send: Any) -> None:
    await _deny(send, 413, "too_large", f"a request body is at most {MAX_BODY // 1024} KiB")


def _closing(send: Any) -> Any:
    """``send`` with ``Connection: close`` added to the answer's headers: the server (uvicorn)
    then closes the connection after the answer instead of reading the rest of the body."""

    async def closing(message: dict[str, Any]) -> None:
        await send(_closed(message) if message["type"] == "http.response.start" else message)

    return closing


def _closed(start: dict[str, Any]) -> dict[str, Any]:
    return {**start, "headers": [*start.get("headers", ()), (b"connection", b"close")]}


async def _login(send: Any, token: str) -> None:
    await send({"type": "http.response.start", "status": 303, "headers": [
        (b"location", b"/"), (b"cache-control", b"no-store"),
        (b"set-cookie", f"{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/".encode()),
        (b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


async def _deny(send: Any, status: int, code: str, message: str, *, html: bool = False) -> None:
    if html:
        body = (f"<!doctype html><meta charset=utf-8><title>delegate</title>"
                f"<p>{status}: {message.replace('<', '&lt;')}</p>").encode()
        kind = b"text/html; charset=utf-8"
    else:
        body = json.dumps(error_body(code, message)).encode()
        kind = b"application/json"
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", kind), (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body})
