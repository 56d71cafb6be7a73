"""The wire side of :class:`delegate.client.Client`: the paths and request bodies it sends,
the :class:`~delegate.errors.ServerError` it raises for an error answer or a failed connection,
and the parsing of a run's event stream (server-sent events).

httpx is imported by :func:`load_httpx`, when a client is made, never when this module is.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote

from .errors import ConfigurationError, ServerError, UsageError

__all__ = [
    "answer_error",
    "event_seq",
    "idempotency_headers",
    "load_httpx",
    "one_line",
    "run_path",
    "segment",
    "sse_messages",
    "start_body",
    "transport_error",
]


def load_httpx() -> Any:
    """The httpx module; a ConfigurationError naming the ``server`` extra without it."""
    try:
        import httpx
    except ImportError:
        raise ConfigurationError(
            "the delegate client needs httpx: pip install 'delegate[server]'") from None
    return httpx


def one_line(text: object) -> str:
    """``text`` with its whitespace, newlines included, collapsed to single spaces."""
    return " ".join(str(text).split())


def run_path(run_id: str, *rest: str) -> str:
    """``/api/runs/{id}`` and the segments of ``rest``, the id checked by :func:`segment`."""
    return "/".join(("/api/runs", segment(run_id, "a run id"), *rest))


def segment(ident: str, what: str) -> str:
    """``ident`` quoted for a path; one that is blank, or that no id could be (a path, a
    control character), is a UsageError, before any request."""
    if not ident.strip():
        raise UsageError(f"{what} is needed, not {ident!r}")
    if ident in (".", "..") or any(c in "/\\" or not c.isprintable() for c in ident):
        raise UsageError(f"not {what}: {ident!r}")
    return quote(ident, safe="")


def start_body(workflow: str, objective: str, model: str | None,
               options: Mapping[str, Any] | None,
               budget: Mapping[str, Any] | None) -> dict[str, Any]:
    """The body of ``POST /api/runs``: the objective is sent as ``query`` for ``recommend``;
    a part that is ``None`` is left out."""
    body: dict[str, Any] = {"workflow": workflow,
                            "query" if workflow == "recommend" else "objective": objective}
    for name, value in (("model", model), ("options", options), ("budget", budget)):
        if value is not None:
            body[name] = dict(value) if isinstance(value, Mapping) else value
    return body


def idempotency_headers(key: str | None) -> dict[str, str] | None:
    """The ``Idempotency-Key`` header of ``key``; ``None`` when there is no key."""
    return {"Idempotency-Key": key} if key else None


def answer_error(response: Any, url: str) -> ServerError:
    """The ServerError of an error answer: its ``{"error": {"code", "message"}}`` when it has
    one, else a ``bad_response`` naming the status. A 404 that is not the API's (not its
    JSON, or the bare ``Not Found`` of a route the server does not have) is a ``not_found``
    saying the server at ``url`` has no such page."""
    status = response.status_code
    try:
        error = response.json()["error"]
        code, message = error["code"], error["message"]
        if isinstance(code, str) and isinstance(message, str) and not (
                status == 404 and message == "Not Found"):
            return ServerError(one_line(message) or code, code=code, status=status)
    except (ValueError, KeyError, TypeError):
        pass
    if status == 404:
        return ServerError(f"the server at {url} has no such page (is it a delegate server?)",
                           code="not_found", status=status)
    return ServerError(f"the server answered {status} {response.reason_phrase}".rstrip(),
                       code="bad_response", status=status)


def transport_error(exc: Exception, url: str) -> ServerError:
    """The ServerError of an httpx transport error: ``unreachable`` (the connection was
    refused or failed), ``timeout`` (no answer in time) or ``connection_lost``."""
    httpx = load_httpx()
    reason = one_line(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return ServerError(f"cannot reach the delegate server at {url}: {reason}",
                           code="unreachable")
    if isinstance(exc, httpx.TimeoutException):
        return ServerError(f"the delegate server at {url} did not answer in time",
                           code="timeout")
    return ServerError(f"the connection to the delegate server at {url} failed: {reason}",
                       code="connection_lost")


def event_seq(ident: str | None) -> int:
    """An event's sequence number, its SSE ``id``; a ``bad_response`` when it has none."""
    try:
        return int(ident or "")
    except ValueError:
        raise ServerError(f"an event stream message has no sequence number: id {ident!r}",
                          code="bad_response") from None


def sse_messages(lines: Iterable[str]) -> Iterator[tuple[str, str | None, Any]]:
    """The server-sent events of ``lines``: ``(event, id, data parsed as JSON)`` each, in the
    format of the HTML standard (comments and ``retry:`` skipped, multi-line ``data``
    joined); a message with no data is not dispatched."""
    kind, ident, data = "message", None, []
    for line in lines:
        if not line:
            if data:
                text = "\n".join(data)
                try:
                    value = json.loads(text)
                except ValueError:
                    raise ServerError(f"an event's data is not JSON: {text[:80]!r}",
                                      code="bad_response") from None
                yield kind, ident, value
            kind, ident, data = "message", None, []
            continue
        if line.startswith(":"):
            continue  # a comment: the server's keep-alive
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            kind = value
        elif name == "data":
            data.append(value)
        elif name == "id" and "\0" not in value:
            ident = value
