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

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from ._client_wire import (
    answer_error,
    event_seq,
    idempotency_headers,
    load_httpx,
    one_line,
    run_path,
    segment,
    sse_messages,
    start_body,
    transport_error,
)
from .errors import ServerError, UsageError

__all__ = ["Client"]

#: the server's keep-alive interval on an event stream, in seconds
KEEPALIVE_SECONDS = 15.0


def split_url(url: str) -> tuple[str, str | None]:
    """The server's base URL (scheme, host, port and any path prefix) and the ``token`` of its
    query, if it has one; a URL that is not ``http(s)://HOST...`` is a UsageError."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"not a server URL (http://HOST:PORT expected): {url!r}")
    token = parse_qs(parts.query).get("token", [None])[0]
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", "")), token


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
        self._httpx = httpx = load_httpx()
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
                          json=start_body(workflow, objective, model, options, budget),
                          headers=idempotency_headers(idempotency_key))

    def wait(self, workflow: str, objective: str, *, model: str | None = None,
             options: Mapping[str, Any] | None = None, budget: Mapping[str, Any] | None = None,
             idempotency_key: str | None = None) -> dict[str, Any]:
        """``POST /api/runs/wait``: start a run as :meth:`start` does and return its run
        object (as :meth:`run` does) once it has ended, however long that takes."""
        timeout = self._httpx.Timeout(self.timeout, read=None)
        return self._json("POST", "/api/runs/wait",
                          json=start_body(workflow, objective, model, options, budget),
                          headers=idempotency_headers(idempotency_key), timeout=timeout)

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
        return self._json("GET", run_path(run_id))

    def events(self, run_id: str, after: int | None = None,
               limit: int | None = None) -> dict[str, Any]:
        """``GET /api/runs/{id}/events``: ``{"events": [{"seq", "kind", "data"}],
        "last_seq"}``, the stored events after ``after``, oldest first."""
        params = {"after": after, "limit": limit}
        return self._json("GET", run_path(run_id, "events"),
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
                with self._http.stream("GET", run_path(run_id, "stream"), headers=headers,
                                       timeout=timeout) as response:
                    if response.status_code >= 400:
                        response.read()
                        raise answer_error(response, self.url)
                    connected = True
                    if lost is not None:
                        lost = None
                        if on_back is not None:
                            on_back()
                    for kind, ident, data in sse_messages(response.iter_lines()):
                        if kind == "end":
                            yield {"kind": "end", "data": data}
                            return
                        seq = event_seq(ident)
                        if last is not None and seq <= last:
                            continue  # replayed from before the reconnection: seen already
                        last, failures = seq, 0
                        yield {"seq": seq, "kind": kind, "data": data}
                reason = "the stream closed before the run's end"
            except httpx.TransportError as exc:
                if not connected:
                    raise transport_error(exc, self.url) from exc
                reason = one_line(exc) or type(exc).__name__
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
        return self._json("GET", run_path(run_id, "interrupts"))

    def answer(self, run_id: str, interrupt_id: str, answer: Mapping[str, Any], *,
               by: str | None = None) -> dict[str, Any]:
        """``POST /api/runs/{id}/interrupts/{iid}``: answer a pending question (``{"action":
        "approve"}`` for a plan); the server carries a waiting run on (``"resumed"``)."""
        body = {**answer, **({"by": by} if by is not None else {})}
        path = f"{run_path(run_id, 'interrupts')}/{segment(interrupt_id, 'an interrupt id')}"
        return self._json("POST", path, json=body)

    def cancel(self, run_id: str) -> dict[str, Any]:
        """``POST /api/runs/{id}/cancel``: ``{"run_id", "status": "cancelling"}``."""
        return self._json("POST", run_path(run_id, "cancel"))

    def resume(self, run_id: str) -> dict[str, Any]:
        """``POST /api/runs/{id}/resume``: ``{"run_id", "status": "queued"|"running"}``."""
        return self._json("POST", run_path(run_id, "resume"))

    def report(self, run_id: str) -> str:
        """``GET /api/runs/{id}/report``: the run's HTML report, one self-contained page."""
        return self._request("GET", run_path(run_id, "report"),
                             headers={"Accept": "text/html"}).text

    def export(self, run_id: str) -> dict[str, Any]:
        """``GET /api/runs/{id}/export``: everything stored about the run."""
        return self._json("GET", run_path(run_id, "export"))

    def graph(self, run_id: str) -> dict[str, Any]:
        """``GET /api/runs/{id}/graph``: ``{"svg", "lanes"}``, the plan drawn as SVG."""
        return self._json("GET", run_path(run_id, "graph"))

    # plumbing
    def _request(self, method: str, path: str, **kw: Any) -> Any:
        try:
            response = self._http.request(method, path, **kw)
        except self._httpx.TransportError as exc:
            raise transport_error(exc, self.url) from exc
        if response.status_code >= 400:
            raise answer_error(response, self.url)
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
