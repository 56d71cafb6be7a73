"""An OpenAI-compatible server on 127.0.0.1 that answers well by default and injects faults.

:class:`FaultServer` answers ``POST .../chat/completions`` in OpenAI's shape. Without a fault:

- a planning request (a ``Plan`` schema with a ``tasks`` list, as the orchestrator sends) gets
  a valid plan of up to four tasks with dependencies, each instruction tagged ``PLAN-<hash>``;
- any other structured request (``response_format`` ``json_schema`` or ``json_object``, or a
  schema written into the system message) gets :func:`~delegate.llm.scripted.minimal_instance`
  of its schema;
- a text request gets one line, ``ANSWER-<hash>: ...``, where the hash is that of the request
  body, so that a test can trace which answer reached which later prompt.

With probability ``rate`` a request gets a fault instead, drawn from ``faults`` (the kinds in
:data:`FAULTS` that apply to the request: plan faults only to planning requests, schema faults
only to structured ones). The draw is a function of the seed, the body's hash and how many times
that same body arrived before, so a run's faults do not depend on the order in which its
concurrent requests happen to arrive.

Every request is logged as a :class:`Record`: arrival time (``time.monotonic``), the body's
hash, its kind, the fault it got, the ``Retry-After`` sent, and the answer sent when it was a
good one. :meth:`FaultServer.good_answers` is the set of texts the server sent as successful.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from delegate.llm.scripted import minimal_instance
from tests.llm.fakeserver import openai_chat, openai_error

__all__ = [
    "FAULTS",
    "PLAN_FAULTS",
    "SCHEMA_FAULTS",
    "FaultServer",
    "Record",
    "request_kind",
    "schema_of",
]

#: Faults any request may get.
TRANSPORT_FAULTS = (
    "rate_limit",  # 429 with Retry-After
    "server_500",
    "server_503",
    "reset",  # the connection is reset (SO_LINGER 0), no response
    "hang",  # held past the client's timeout, then dropped
    "truncated",  # a Content-Length larger than the bytes sent, then the connection closes
    "cut_json",  # a complete HTTP response whose JSON body is cut short
    "empty",  # a completion whose content is ""
    "bad_request",  # HTTP 400: permanent, never to be retried with the same body
)
#: Faults only a planning request gets: answers that are not a valid plan.
PLAN_FAULTS = ("plan_not_json", "plan_missing_fields", "plan_unknown_worker", "plan_cycle")
#: Faults only a structured (non-planning) request gets.
SCHEMA_FAULTS = ("schema_violation",)
FAULTS = TRANSPORT_FAULTS + PLAN_FAULTS + SCHEMA_FAULTS

_SCHEMA_MARK = "matches this JSON schema, and no other text:\n"


@dataclass
class Record:
    """One request the server received and what it did with it."""

    at: float  # time.monotonic() on arrival
    body_hash: str
    kind: str  # "plan", "structured" or "text"
    fault: str | None  # None: a good answer
    retry_after: float | None
    status: int | None  # HTTP status sent; None when no complete response was sent
    answer: str | None  # the content sent as a good answer
    body: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages") or [])

    @property
    def user_text(self) -> str:
        return "\n".join(str(m.get("content") or "") for m in self.messages
                         if m.get("role") == "user")


def schema_of(body: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema a request asks its answer to match, on any rung of the ladder."""
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        return (fmt.get("json_schema") or {}).get("schema") or {}
    if isinstance(fmt.get("schema"), dict):
        return fmt["schema"]
    for message in body.get("messages") or []:
        content = str(message.get("content") or "")
        if message.get("role") == "system" and _SCHEMA_MARK in content:
            try:
                return json.loads(content.split(_SCHEMA_MARK, 1)[1])
            except ValueError:
                return None
    if fmt.get("type") == "json_object":
        return {}
    return None


def request_kind(body: dict[str, Any]) -> str:
    """``plan`` for the orchestrator's planning request, ``structured`` for any other request
    with a schema, ``text`` otherwise."""
    schema = schema_of(body)
    if schema is None:
        return "text"
    if schema.get("title") == "Plan" and "tasks" in (schema.get("properties") or {}):
        return "plan"
    return "structured"


def _worker_names(schema: dict[str, Any]) -> tuple[list[str], int]:
    """The worker names a plan schema allows and the most tasks it allows."""
    lists = schema["properties"]["tasks"]["anyOf"]
    first = lists[0]["prefixItems"][0]
    return list(first["properties"]["worker"]["enum"]), len(lists)


def good_plan(schema: dict[str, Any], tag: str) -> dict[str, Any]:
    """A plan valid under ``schema``: t1; t2 and t3 after t1; t4 after t2 and t3."""
    names, most = _worker_names(schema)
    shape = [[], ["t1"], ["t1"], ["t2", "t3"]][:max(1, min(4, most))]
    return {"tasks": [
        {"id": f"t{n}", "worker": names[(n - 1) % len(names)],
         "instruction": f"Step {n} of the work, PLAN-{tag}-{n}.", "depends_on": deps}
        for n, deps in enumerate(shape, 1)
    ]}


def good_instance(schema: dict[str, Any]) -> Any:
    """A small value valid under ``schema``; a routing decision picks the products topic (a
    decision with no topic at all is not one)."""
    value = minimal_instance(schema)
    if schema.get("title") == "Routing" and isinstance(value, dict):
        value["products"] = True
    return value


def bad_plan(fault: str, schema: dict[str, Any], tag: str) -> str:
    """The content of a planning answer that is not a valid plan."""
    if fault == "plan_not_json":
        return "Sure! First research the topic, then write it up."
    if fault == "plan_missing_fields":
        return json.dumps({"tasks": [{"id": "t1"}, {"worker": "writer"}]})
    plan = good_plan(schema, tag)
    if fault == "plan_unknown_worker":
        plan["tasks"][0]["worker"] = "wizard"
    elif fault == "plan_cycle":
        plan["tasks"] = plan["tasks"][:2]
        plan["tasks"][0]["depends_on"] = ["t2"]
    return json.dumps(plan)


class FaultServer:
    """A threaded OpenAI-compatible server that injects faults. Use as a context manager.

    Args:
        seed: seeds every draw.
        rate: the probability that a request gets a fault.
        faults: the kinds to draw from (each request draws among those that apply to it).
        retry_after: the ``Retry-After`` (seconds) sent with a 429.
        hang_seconds: how long a ``hang`` holds the request before dropping the connection.
    """

    def __init__(self, *, seed: int, rate: float, faults: tuple[str, ...] = FAULTS,
                 retry_after: float = 1.0, hang_seconds: float = 3.0) -> None:
        unknown = set(faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults: {sorted(unknown)}")
        self.seed, self.rate, self.faults = seed, rate, tuple(faults)
        self.retry_after, self.hang_seconds = retry_after, hang_seconds
        self.records: list[Record] = []
        self._lock = threading.Lock()
        self._seen: Counter[str] = Counter()
        self._closing = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle(self) -> None:
                with contextlib.suppress(OSError):  # the client hung up
                    super().handle()

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                server._answer(self, raw)

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def url(self) -> str:
        """The base URL, up to and including ``/v1``."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def good_answers(self) -> set[str]:
        """Every content the server sent as a good answer."""
        with self._lock:
            return {r.answer for r in self.records if r.answer is not None}

    def log(self) -> list[Record]:
        """The requests so far, in arrival order."""
        with self._lock:
            return list(self.records)

    def _draw(self, body_hash: str, kind: str) -> str | None:
        with self._lock:
            seen = self._seen[body_hash]
            self._seen[body_hash] += 1
        rng = random.Random(f"{self.seed}:{body_hash}:{seen}")
        if rng.random() >= self.rate:
            return None
        menu = [f for f in self.faults if f in TRANSPORT_FAULTS
                or (kind == "plan" and f in PLAN_FAULTS)
                or (kind == "structured" and f in SCHEMA_FAULTS)]
        return rng.choice(menu) if menu else None

    def _answer(self, handler: BaseHTTPRequestHandler, raw: bytes) -> None:
        arrived = time.monotonic()
        body_hash = hashlib.sha256(raw).hexdigest()[:16]
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        kind = request_kind(body)
        fault = self._draw(body_hash, kind)
        record = Record(arrived, body_hash, kind, fault, None, None, None, body)
        with self._lock:
            self.records.append(record)
        tag = body_hash[:10]
        schema = schema_of(body) or {}

        if fault == "rate_limit":
            record.retry_after = self.retry_after
            self._send(handler, record, 429, openai_error(
                "Rate limit reached for requests", type_="requests", code="rate_limit_exceeded"),
                {"retry-after": f"{self.retry_after:g}"})
        elif fault in ("server_500", "server_503"):
            status = int(fault[-3:])
            self._send(handler, record, status, openai_error(
                "The server had an error while processing your request.", type_="server_error"))
        elif fault == "bad_request":
            self._send(handler, record, 400, openai_error(
                "Invalid value for 'messages': this request is not accepted.",
                param="messages", code="invalid_value"))
        elif fault == "reset":
            _reset(handler)
        elif fault == "hang":
            self._closing.wait(self.hang_seconds)
            _reset(handler)
        elif fault in ("truncated", "cut_json"):
            data = json.dumps(openai_chat(f"ANSWER-{tag}: cut short")).encode()
            cut = data[: len(data) // 2]
            announced = len(data) if fault == "truncated" else len(cut)
            try:
                handler.send_response(200)
                handler.send_header("content-type", "application/json")
                handler.send_header("content-length", str(announced))
                handler.end_headers()
                handler.wfile.write(cut)
                handler.wfile.flush()
            except OSError:
                pass
            handler.close_connection = True
            record.status = 200 if fault == "cut_json" else None
        elif fault == "empty":
            self._send(handler, record, 200, openai_chat(""))
        elif fault in PLAN_FAULTS:
            self._send(handler, record, 200, openai_chat(bad_plan(fault, schema, tag)))
        elif fault == "schema_violation":
            self._send(handler, record, 200, openai_chat(json.dumps({"unexpected": [1, 2]})))
        else:
            if kind == "plan":
                content = json.dumps(good_plan(schema, tag))
            elif kind == "structured":
                content = json.dumps(good_instance(schema))
            else:
                content = f"ANSWER-{tag}: a short finding for this part of the work."
            record.answer = content
            self._send(handler, record, 200, openai_chat(content))

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, record: Record, status: int, body: Any,
              headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        record.status = status
        try:
            handler.send_response(status)
            handler.send_header("content-type", "application/json")
            handler.send_header("content-length", str(len(data)))
            for key, value in (headers or {}).items():
                handler.send_header(key, value)
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:
            pass

    def __enter__(self) -> FaultServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def _reset(handler: BaseHTTPRequestHandler) -> None:
    """Drop the connection with a TCP reset and no response."""
    sock = handler.connection
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    except OSError:
        pass
    handler.close_connection = True
