"""A Python client of the ``delegate serve`` HTTP API: one method per route.

::

    from delegate.client import Client

    with Client("http://127.0.0.1:8765", token) as server:
        run = server.start("general", "Compare three note-taking apps")
        for event in server.follow(run["run_id"]):
            print(event["kind"], event["data"])

``url`` may be the address ``delegate serve`` prints (``http://HOST:PORT/?token=TOKEN``): the
token is taken from it when none is given. Every answer is the API's JSON as plain data (a
dict), but :meth:`Client.report` (the HTML page, a string).

An error answer raises :class:`~delegate.errors.ServerError` with the server's stable ``code``
(``not_found``, ``unauthorized``, ``run_not_active``, ...), its one-line message and the HTTP
``status``; a server that cannot be reached raises it with the code ``unreachable``, and no
answer in time with ``timeout``. Nothing of httpx escapes raw.

:meth:`Client.follow` reads a run's event stream (server-sent events) and survives dropped
connections: it connects again with ``Last-Event-ID`` set to the last sequence number it
yielded, so the server replays from there, and it drops anything at or below that number, so
no event is yielded twice and none is skipped. It gives up after ``reconnects`` failed
connections in a row (a connection that brings a new event resets the count), or once no
server has answered for ``patience`` seconds; ``on_lost`` and ``on_back`` tell a caller when
the stream is lost and when a connection is made again.

A run id (or an interrupt id) that cannot be one, empty or a path, is a UsageError before any
request; a 404 that is not the API's says the server has no such page.

httpx comes with the ``server`` extra (``pip install 'delegate[server]'``); it is imported when
a client is made, never when this module is.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit, urlunsplit

from .errors import ConfigurationError, ServerError, UsageError

__all__ = ["Client"]

#: the server's keep-alive interval on an event stream, in seconds
KEEPALIVE_SECONDS = 15.0


def _httpx() -> Any:
    try:
        import httpx
    except ImportError:
        raise ConfigurationError(
            "the delegate client needs httpx: pip install 'delegate[server]'") from None
    return httpx


def split_url(url: str) -> tuple[str, str | None]:
    """The server's base URL (scheme, host, port and any path prefix) and the ``token`` of its
    query, if it has one; a URL that is not ``http(s)://HOST...`` is a UsageError."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"not a server URL (http://HOST:PORT expected): {url!r}")
    token = parse_qs(parts.query).get("token", [None])[0]
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", "")), token


def _line(text: object) -> str:
    return " ".join(str(text).split())


class Client:
    """A connection to a ``delegate serve`` server; use it as a context manager (or call
    :meth:`close`) so its connections are closed.

    Args:
        url: the server's address, ``http://HOST:PORT`` (a ``?token=`` in it is used when
            ``token`` is not given).
        token: the server's token, sent as ``Authorization: Bearer``.
        timeout: seconds to wait for a connection and for each answer (:meth:`wait` waits
            for its run as long as it takes; :meth:`follow` allows at least three keep-alive
            intervals between events).
        transport: an httpx transport to send requests through (a test's
            ``httpx.MockTransport``, a proxy's); httpx's default when ``None``.
    """

    def __init__(self, url: str, token: str | None = None, *, timeout: float = 30.0,
                 transport: Any = None) -> None:
        self._httpx = httpx = _httpx()
        self.url, from_url = split_url(url)
        token = token or from_url
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.timeout = timeout
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout,
                                  transport=transport)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the client's connections."""
        self._http.close()

    # the routes
    def health(self) -> dict[str, Any]:
        """``GET /api/health``: the server's version, store, and runs active and queued."""
        return self._json("GET", "/api/health")

    def workflows(self) -> dict[str, Any]:
        """``GET /api/workflows``: ``{"workflows": [{"name", "summary", "input_schema"}]}``."""
        return self._json("GET", "/api/workflows")

    def start(self, workflow: str, objective: str, *, model: str | None = None,
              options: Mapping[str, Any] | None = None, budget: Mapping[str, Any] | None = None,
              idempotency_key: str | None = None) -> dict[str, Any]:
        """``POST /api/runs``: start a run; returns ``{"run_id", "status", "url"}`` at once.

        Args:
            workflow: ``general``, ``blog``, ``report``, ``project`` or ``recommend``.
            objective: what to do (sent as ``query`` for ``recommend``).
            model: ``provider:model``; the server's default when ``None``.
            options: the workflow's options (``max_concurrency``, ``strategy``, ...;
                ``top_k``, ``max_price`` for ``recommend``); omitted when ``None``.
            budget: ``{"tokens", "usd", "seconds", "on_budget"}``; omitted when ``None``.
            idempotency_key: sent as ``Idempotency-Key``: the same key with the same request
                returns the same run instead of starting another.
        """
        return self._json("POST", "/api/runs",
                          json=_body(workflow, objective, model, options, budget),
                          headers=_idempotency(idempotency_key))

    def wait(self, workflow: str, objective: str, *, model: str | None = None,
             options: Mapping[str, Any] | None = None, budget: Mapping[str, Any] | None = None,
             idempotency_key: str | None = None) -> dict[str, Any]:
        """``POST /api/runs/wait``: start a run as :meth:`start` does and return its run
        object (as :meth:`run` does) once it has ended, however long that takes."""
        timeout = self._httpx.Timeout(self.timeout, read=None)
        return self._json("POST", "/api/runs/wait",
                          json=_body(workflow, objective, model, options, budget),
                          headers=_idempotency(idempotency_key), timeout=timeout)

    def runs(self, status: str | None = None, limit: int = 20,
             cursor: str | None = None) -> dict[str, Any]:
        """``GET /api/runs``: ``{"runs": [summary, ...], "next_cursor"}``, newest first; pass
        ``next_cursor`` back as ``cursor`` for the next page."""
        params = {"status": status, "limit": limit, "cursor": cursor}
        return self._json("GET", "/api/runs",
                          params={k: v for k, v in params.items() if v is not None})

    def run(self, run_id: str) -> dict[str, Any]:
        """``GET /api/runs/{id}``: the run's summary, plan, plan versions, outcomes, result
        and stored request."""
        return self._json("GET", _path(run_id))

    def events(self, run_id: str, after: int | None = None,
               limit: int | None = None) -> dict[str, Any]:
        """``GET /api/runs/{id}/events``: ``{"events": [{"seq", "kind", "data"}],
        "last_seq"}``, the stored events after ``after``, oldest first."""
        params = {"after": after, "limit": limit}
        return self._json("GET", _path(run_id, "events"),
                          params={k: v for k, v in params.items() if v is not None})

    def follow(self, run_id: str, after: int | None = None, *, reconnects: int = 40,
               patience: float | None = None, on_lost: Callable[[str], Any] | None = None,
               on_back: Callable[[], Any] | None = None) -> Iterator[dict[str, Any]]:
        """``GET /api/runs/{id}/stream``: yield each event after ``after`` as it happens,
        ``{"seq", "kind", "data"}``, and last ``{"kind": "end", "data": {"status": ...}}``
        once the run has ended.

        A dropped connection, or a stream closed before its end, is opened again with
        ``Last-Event-ID`` set to the last sequence number yielded: no event is yielded twice
        and none is skipped. The first connection is not retried (an unreachable server
        raises at once). Waits between attempts grow from none to 4 s.
        :class:`~delegate.errors.ServerError` ``connection_lost`` is raised after
        ``reconnects`` failed connections in a row without a new event (the default 40 ride
        out a server that is restarted: about two and a half minutes), or once ``patience``
        seconds have passed since the stream was lost with no connection made again (no
        limit but ``reconnects`` when ``None``).

        Args:
            on_lost: called with the reason when the stream is lost (once until a
                connection is made again).
            on_back: called when a connection is made again after ``on_lost``.
        """
        httpx = self._httpx
        read = None if self.timeout is None else max(self.timeout, 3 * KEEPALIVE_SECONDS)
        timeout = httpx.Timeout(self.timeout, read=read)
        last, failures, connected = after, 0, False
        lost: float | None = None  # when the stream was lost, until a connection is made
        while True:
            headers = {"Accept": "text/event-stream"}
            if last is not None:
                headers["Last-Event-ID"] = str(last)
            try:
                with self._http.stream("GET", _path(run_id, "stream"), headers=headers,
                                       timeout=timeout) as response:
                    if response.status_code >= 400:
                        response.read()
                        raise _answer_error(response, self.url)
                    connected = True
                    if lost is not None:
                        lost = None
                        if on_back is not None:
                            on_back()
                    for kind, ident, data in _messages(response.iter_lines()):
                        if kind == "end":
                            yield {"kind": "end", "data": data}
                            return
                        seq = _seq(ident)
                        if last is not None and seq <= last:
                            continue  # replayed from before the reconnection: seen already
                        last, failures = seq, 0
                        yield {"seq": seq, "kind": kind, "data": data}
                reason = "the stream closed before the run's end"
            except httpx.TransportError as exc:
                if not connected:
                    raise _transport_error(exc, self.url) from exc
                reason = _line(exc) or type(exc).__name__
            now = time.monotonic()
            if lost is None:
                lost = now
                if on_lost is not None:
                    on_lost(reason)
            failures += 1
            if failures > reconnects:
                raise ServerError(f"the event stream of run {run_id} was lost {failures} times "
                                  f"in a row; last: {reason}", code="connection_lost")
            if patience is not None and now - lost >= patience:
                raise ServerError(f"no delegate server answered at {self.url} for "
                                  f"{now - lost:.0f} s while following run {run_id}; last: "
                                  f"{reason}", code="connection_lost")
            wait = min(0.5 * 2 ** (failures - 2), 4.0) if failures > 1 else 0.0
            if patience is not None:  # one last try when the patience runs out
                wait = min(wait, lost + patience - now)
            if wait > 0:
                time.sleep(wait)

    def interrupts(self, run_id: str) -> dict[str, Any]:
        """``GET /api/runs/{id}/interrupts``: ``{"interrupts": [...]}``, the questions the
        run put to a person (``interrupt_id``, ``kind``, ``status``, ``schema``, ...)."""
        return self._json("GET", _path(run_id, "interrupts"))

    def answer(self, run_id: str, interrupt_id: str, answer: Mapping[str, Any], *,
               by: str | None = None) -> dict[str, Any]:
        """``POST /api/runs/{id}/interrupts/{iid}``: answer a pending question (``{"action":
        "approve"}`` for a plan); the server carries a waiting run on (``"resumed"``)."""
        body = {**answer, **({"by": by} if by is not None else {})}
        path = f"{_path(run_id, 'interrupts')}/{_segment(interrupt_id, 'an interrupt id')}"
        return self._json("POST", path, json=body)

    def cancel(self, run_id: str) -> dict[str, Any]:
        """``POST /api/runs/{id}/cancel``: ``{"run_id", "status": "cancelling"}``."""
        return self._json("POST", _path(run_id, "cancel"))

    def resume(self, run_id: str) -> dict[str, Any]:
        """``POST /api/runs/{id}/resume``: ``{"run_id", "status": "queued"|"running"}``."""
        return self._json("POST", _path(run_id, "resume"))

    def report(self, run_id: str) -> str:
        """``GET /api/runs/{id}/report``: the run's HTML report, one self-contained page."""
        return self._request("GET", _path(run_id, "report"),
                             headers={"Accept": "text/html"}).text

    def export(self, run_id: str) -> dict[str, Any]:
        """``GET /api/runs/{id}/export``: everything stored about the run."""
        return self._json("GET", _path(run_id, "export"))

    def graph(self, run_id: str) -> dict[str, Any]:
        """``GET /api/runs/{id}/graph``: ``{"svg", "lanes"}``, the plan drawn as SVG."""
        return self._json("GET", _path(run_id, "graph"))

    # plumbing
    def _request(self, method: str, path: str, **kw: Any) -> Any:
        try:
            response = self._http.request(method, path, **kw)
        except self._httpx.TransportError as exc:
            raise _transport_error(exc, self.url) from exc
        if response.status_code >= 400:
            raise _answer_error(response, self.url)
        return response

    def _json(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        response = self._request(method, path, **kw)
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise ServerError(f"{method} {path} answered {response.status_code} with no JSON "
                              "object", code="bad_response", status=response.status_code)
        return data


def _path(run_id: str, *rest: str) -> str:
    return "/".join(("/api/runs", _segment(run_id, "a run id"), *rest))


def _segment(ident: str, what: str) -> str:
    """``ident`` quoted for a path; one that is blank, or that no id could be (a path, a
    control character), is a UsageError, before any request."""
    if not ident.strip():
        raise UsageError(f"{what} is needed, not {ident!r}")
    if ident in (".", "..") or any(c in "/\\" or not c.isprintable() for c in ident):
        raise UsageError(f"not {what}: {ident!r}")
    return quote(ident, safe="")


def _body(workflow: str, objective: str, model: str | None, options: Mapping[str, Any] | None,
          budget: Mapping[str, Any] | None) -> dict[str, Any]:
    body: dict[str, Any] = {"workflow": workflow,
                            "query" if workflow == "recommend" else "objective": objective}
    for name, value in (("model", model), ("options", options), ("budget", budget)):
        if value is not None:
            body[name] = dict(value) if isinstance(value, Mapping) else value
    return body


def _idempotency(key: str | None) -> dict[str, str] | None:
    return {"Idempotency-Key": key} if key else None


def _answer_error(response: Any, url: str) -> ServerError:
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
            return ServerError(_line(message) or code, code=code, status=status)
    except (ValueError, KeyError, TypeError):
        pass
    if status == 404:
        return ServerError(f"the server at {url} has no such page (is it a delegate server?)",
                           code="not_found", status=status)
    return ServerError(f"the server answered {status} {response.reason_phrase}".rstrip(),
                       code="bad_response", status=status)


def _transport_error(exc: Exception, url: str) -> ServerError:
    httpx = _httpx()
    reason = _line(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return ServerError(f"cannot reach the delegate server at {url}: {reason}",
                           code="unreachable")
    if isinstance(exc, httpx.TimeoutException):
        return ServerError(f"the delegate server at {url} did not answer in time",
                           code="timeout")
    return ServerError(f"the connection to the delegate server at {url} failed: {reason}",
                       code="connection_lost")


def _seq(ident: str | None) -> int:
    try:
        return int(ident or "")
    except ValueError:
        raise ServerError(f"an event stream message has no sequence number: id {ident!r}",
                          code="bad_response") from None


def _messages(lines: Iterable[str]) -> Iterator[tuple[str, str | None, Any]]:
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
