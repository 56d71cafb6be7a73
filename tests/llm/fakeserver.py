"""A scripted HTTP server on 127.0.0.1 for provider tests; no test reaches the network.

``FakeServer`` answers each POST with the next scripted reply, in order, and records every
request it received (path, headers, JSON body). It speaks HTTP/1.1 and keeps connections alive,
as real endpoints do, and counts the connections it was given and those still open. A reply can
be cut short: ``cut=N`` sends the first N bytes of the body under the full ``Content-Length``,
then hangs up. The ``*_chat``/``*_message``/``*_error``
helpers build bodies in the shapes the real OpenAI and Anthropic APIs return. ``ASK``, ``City``
and :func:`request_once` are the conversation, output type and request runner both provider test
modules share.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pydantic import BaseModel

from delegate.llm.base import Message, Model, ModelResponse
from delegate.llm.guard import allow_model_requests

ASK = [Message.system("Be brief."), Message.user("Name a city.")]


class City(BaseModel):
    """A structured output type for the provider tests."""

    name: str
    population: int


def request_once(model: Model, messages: list[Message], **kw: Any) -> ModelResponse:
    """Make one request with ``model`` (model requests allowed) and close its client."""

    async def go() -> ModelResponse:
        try:
            return await model.request(messages, **kw)
        finally:
            await model.aclose()

    with allow_model_requests():
        return asyncio.run(go())


@dataclass
class Reply:
    """One scripted answer."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    cut: int | None = None


@dataclass
class Received:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


class FakeServer:
    """A threaded HTTP server replaying scripted replies. Use as a context manager."""

    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        #: when set, answers each request from its body instead of the scripted queue (for
        #: concurrent requests, whose order of arrival is not the test's to choose)
        self.responder: Callable[[Any], Reply] | None = None
        self.requests: list[Received] = []
        self.connections = 0  # accepted so far
        self.open_connections = 0  # not yet closed by either side
        self._changed = threading.Condition()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like real endpoints

            def handle(self) -> None:
                with server._changed:
                    server.connections += 1
                    server.open_connections += 1
                try:
                    super().handle()
                except OSError:
                    pass
                finally:
                    with server._changed:
                        server.open_connections -= 1
                        server._changed.notify_all()

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                server.requests.append(Received(
                    "POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                if server.responder is not None:
                    reply = server.responder(body)
                else:
                    reply = server.replies.popleft() if server.replies else Reply(
                        500, {"error": {"message": "fake server: no scripted reply left"}})
                if reply.delay:
                    time.sleep(reply.delay)
                payload = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
                data = payload.encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data if reply.cut is None else data[:reply.cut])
                except OSError:  # the client gave up (a timeout test)
                    pass
                if reply.cut is not None:
                    self.close_connection = True

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def push(self, body: Any = None, *, status: int = 200, headers: dict[str, str] | None = None,
             delay: float = 0.0, cut: int | None = None) -> FakeServer:
        """Script the next reply; ``cut`` sends only that many bytes of its body."""
        self.replies.append(Reply(status, body, dict(headers or {}), delay, cut))
        return self

    def wait_until_closed(self, timeout: float = 5.0) -> bool:
        """Wait until every connection is closed; whether that happened within ``timeout``."""
        with self._changed:
            return self._changed.wait_for(lambda: self.open_connections == 0, timeout)

    def __enter__(self) -> FakeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def openai_chat(content: str, *, prompt_tokens: int = 11, completion_tokens: int = 7,
                model: str = "gpt-test") -> dict[str, Any]:
    """A chat.completions response body."""
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content, "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
        "system_fingerprint": "fp_test",
    }


def openai_error(message: str, *, type_: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None) -> dict[str, Any]:
    """An OpenAI error body."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def anthropic_message(content: list[dict[str, Any]], *, input_tokens: int = 13,
                      output_tokens: int = 5, stop_reason: str = "end_turn",
                      model: str = "claude-test") -> dict[str, Any]:
    """A Messages API response body with the given content blocks."""
    return {
        "id": "msg_test",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
    }


def anthropic_text(text: str, **kw: Any) -> dict[str, Any]:
    """A Messages API response holding one text block."""
    return anthropic_message([{"type": "text", "text": text}], **kw)


def anthropic_tool(value: Any, *, tool_id: str = "toolu_01", **kw: Any) -> dict[str, Any]:
    """A Messages API response holding one ``respond`` tool call with input ``value``."""
    block = {"type": "tool_use", "id": tool_id, "name": "respond", "input": value}
    return anthropic_message([block], stop_reason="tool_use", **kw)


def anthropic_error(message: str, *, type_: str = "invalid_request_error") -> dict[str, Any]:
    """An Anthropic error body."""
    return {"type": "error", "error": {"type": type_, "message": message}}
