"""``delegate.client.Client`` against the real server under uvicorn on 127.0.0.1: every route,
the errors as ServerError, and ``follow`` through dropped connections (no duplicate, no gap).

The runs use a scripted model; a task whose instruction says HOLD waits for the test to open
its gate, so a run can be caught while it is running.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from delegate.client import Client
from delegate.errors import ConfigurationError, ModelRequestError, ServerError, UsageError
from delegate.llm.scripted import ScriptedModel
from delegate.runtime import Runtime

TOKEN = "client-test-token-0123456789"
#: how long a test waits for a thread it started before it calls the test broken
STUCK = 60


@dataclass
class Gate:
    """Holds tasks whose instruction says HOLD until :meth:`open`."""

    opened: threading.Event = field(default_factory=threading.Event)
    held: threading.Event = field(default_factory=threading.Event)

    def open(self) -> None:
        self.opened.set()


def scripted(tasks: int = 2, *, hold: bool = False, fail: bool = False,
             gate: Gate | None = None) -> ScriptedModel:
    """A model that plans ``tasks`` researcher tasks (the first held at ``gate`` when
    ``hold``) and answers each in one line, or fails each for good when ``fail``."""

    async def answer(call: Any) -> Any:
        if isinstance(call.output, dict):
            return {"tasks": [
                {"id": f"t{i}", "worker": "researcher", "depends_on": [],
                 "instruction": f"{'HOLD ' if hold and i == 1 else ''}Find fact {i}."}
                for i in range(1, tasks + 1)]}
        if fail:
            raise ModelRequestError("the scripted model refuses this task")
        if "HOLD" in call.last_user and gate is not None:
            gate.held.set()
            await asyncio.to_thread(gate.opened.wait)
        return "Owls hunt at night and see well in the dark."

    return ScriptedModel(function=answer)


@dataclass
class Live:
    url: str
    store: str
    gate: Gate

    def client(self, **kw: Any) -> Client:
        return Client(self.url, TOKEN, **kw)


@contextlib.contextmanager
def live_server(tmp_path: Any, model: ScriptedModel | None = None,
                gate: Gate | None = None) -> Iterator[Live]:
    """The real app (``delegate.server.create_app``) under uvicorn in a thread, on a socket
    bound here first (so its port is known before the app is made), with ``model`` answering
    ``scripted:demo``; its gate is opened and the server stopped when the block ends."""
    import uvicorn

    from delegate.server import create_app

    gate = gate or Gate()
    runtime = Runtime()
    runtime.add_model("scripted:demo", model or scripted(gate=gate))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    store = str(tmp_path / "server.db")
    app = create_app(store=store, token=TOKEN, port=port, runtime=runtime, max_runs=2)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            thread.join(0.01)
        yield Live(f"http://127.0.0.1:{port}", store, gate)
    finally:
        gate.open()
        server.should_exit = True
        thread.join(STUCK)
        sock.close()
        asyncio.run(runtime.aclose())


def start(client: Client, objective: str = "Write a note about owls") -> str:
    return client.start("general", objective, model="scripted:demo")["run_id"]


def held_run(live: Live, client: Client) -> str:
    run_id = start(client)
    assert live.gate.held.wait(STUCK), "the held task never started"
    return run_id


# the routes
def test_every_route_answers_through_the_client(tmp_path):
    with live_server(tmp_path) as live, live.client() as client:
        health = client.health()
        assert health["status"] == "ok" and health["store"] == "sqlite"
        assert health["max_runs"] == 2
        assert [w["name"] for w in client.workflows()["workflows"]] == [
            "general", "blog", "report", "project", "recommend"]

        started = client.start("general", "Write a note about owls", model="scripted:demo")
        run_id = started["run_id"]
        assert started["status"] in ("queued", "running")
        assert started["url"] == f"/api/runs/{run_id}"
        events = list(client.follow(run_id))
        assert events[-1] == {"kind": "end", "data": {"status": "succeeded"}}
        seqs = [e["seq"] for e in events[:-1]]
        assert seqs == list(range(len(seqs)))
        kinds = [e["kind"] for e in events[:-1]]
        assert kinds[0] == "RunStarted" and kinds[-1] == "RunFinished"
        assert kinds.count("TaskFinished") == 2

        [summary] = client.runs()["runs"]
        assert summary["run_id"] == run_id and summary["status"] == "succeeded"
        assert summary["tasks"]["succeeded"] == 2
        assert client.runs(status="failed")["runs"] == []
        run = client.run(run_id)
        assert [t["id"] for t in run["plan"]["tasks"]] == ["t1", "t2"]
        assert set(run["outcomes"]) == {"t1", "t2"}
        later = client.events(run_id, after=3)
        assert [e["seq"] for e in later["events"]] == seqs[4:]
        assert later["last_seq"] == seqs[-1]
        exported = client.export(run_id)
        assert [(e["seq"], e["kind"]) for e in exported["events"]] == [
            (e["seq"], e["kind"]) for e in events[:-1]]
        assert "<html" in client.report(run_id).lower()
        assert 'data-task="t1"' in client.graph(run_id)["svg"]

        with pytest.raises(ServerError) as info:
            client.cancel(run_id)
        assert (info.value.code, info.value.status) == ("run_not_active", 409)
        with pytest.raises(ServerError) as info:
            client.resume(run_id)
        assert (info.value.code, info.value.status) == ("already_succeeded", 409)
        with pytest.raises(ServerError) as info:
            client.run("f" * 32)
        assert (info.value.code, info.value.status) == ("not_found", 404)
        assert "\n" not in str(info.value)


def test_wait_answers_with_the_ended_run_and_a_key_starts_one_run(tmp_path):
    with live_server(tmp_path) as live, live.client() as client:
        run = client.wait("general", "Write a note about owls", model="scripted:demo")
        assert run["status"] == "succeeded" and set(run["outcomes"]) == {"t1", "t2"}

        first = client.start("general", "About owls", model="scripted:demo",
                             idempotency_key="k-1")
        again = client.start("general", "About owls", model="scripted:demo",
                             idempotency_key="k-1")
        assert again["run_id"] == first["run_id"]
        with pytest.raises(ServerError) as info:
            client.start("general", "About cats", model="scripted:demo",
                         idempotency_key="k-1")
        assert (info.value.code, info.value.status) == ("conflict", 409)
        assert len(client.runs()["runs"]) == 2


def test_cancel_stops_a_running_run(tmp_path):
    gate = Gate()
    with live_server(tmp_path, scripted(hold=True, gate=gate), gate) as live, \
            live.client() as client:
        run_id = held_run(live, client)
        assert client.cancel(run_id) == {"run_id": run_id, "status": "cancelling"}
        assert list(client.follow(run_id))[-1] == {"kind": "end",
                                                   "data": {"status": "cancelled"}}


def test_a_request_the_server_refuses_raises_its_code(tmp_path):
    with live_server(tmp_path) as live:
        with Client(live.url, "wrong-token-0123456789") as client, \
                pytest.raises(ServerError) as info:
            client.health()
        assert (info.value.code, info.value.status) == ("unauthorized", 401)
        with live.client() as client, pytest.raises(ServerError) as info:
            client.start("nosuch", "x")
        assert (info.value.code, info.value.status) == ("invalid_request", 422)


# follow through dropped connections
class Dropping(httpx.HTTPTransport):
    """Real HTTP, but the i-th event stream breaks after ``cuts[i]`` events, in the middle of
    the next message (its first bytes arrive, then a read error), calling ``on_drop`` first;
    streams past the list are left whole. ``forget`` drops the ``Last-Event-ID`` header of
    every stream request after the first, as a server that ignored it would, so the whole
    run is replayed."""

    def __init__(self, cuts: list[int], *, forget: bool = False,
                 on_drop: Callable[[], None] = lambda: None) -> None:
        super().__init__()
        self.cuts, self.forget, self.on_drop = cuts, forget, on_drop
        self.streams: list[str | None] = []  # the Last-Event-ID of each stream request

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith("/stream"):
            return super().handle_request(request)
        self.streams.append(request.headers.get("last-event-id"))
        if self.forget and len(self.streams) > 1:
            del request.headers["last-event-id"]
        response = super().handle_request(request)
        if len(self.streams) > len(self.cuts):
            return response
        cut = _Cut(response.stream, self.cuts[len(self.streams) - 1], self.on_drop)
        return httpx.Response(response.status_code, headers=response.headers, stream=cut,
                              extensions=response.extensions)


class _Cut(httpx.SyncByteStream):
    """``inner``'s bytes up to a few bytes past its ``after``-th event, then a read error."""

    END = re.compile(rb"\r\n\r\n|\n\n|\r\r")

    def __init__(self, inner: Any, after: int, on_drop: Callable[[], None]) -> None:
        self.inner, self.after, self.on_drop = inner, after, on_drop

    def __iter__(self) -> Iterator[bytes]:
        buffer, sent = b"", 0
        try:
            for chunk in self.inner:
                buffer += chunk
                cut = self._cut(buffer)
                if cut is not None and len(buffer) > cut:
                    yield buffer[sent:cut + min(6, len(buffer) - cut)]
                    self.on_drop()
                    raise httpx.ReadError("the connection was dropped")
                yield buffer[sent:]
                sent = len(buffer)
        finally:
            self.inner.close()

    def _cut(self, buffer: bytes) -> int | None:
        """Where the ``after``-th message with an id ends in ``buffer``, if it has."""
        if self.after == 0:
            return 0
        start, seen = 0, 0
        for end in self.END.finditer(buffer):
            if re.search(rb"(?m)^id:", buffer[start:end.start()]):
                seen += 1
                if seen == self.after:
                    return end.end()
            start = end.end()
        return None


def test_follow_carries_on_after_a_drop_mid_stream_with_no_duplicate_and_no_gap(tmp_path):
    gate = Gate()
    with live_server(tmp_path, scripted(hold=True, gate=gate), gate) as live:
        transport = Dropping([3], on_drop=gate.open)  # the run goes on while cut off
        with live.client() as client:
            run_id = held_run(live, client)
        with live.client(transport=transport) as client:
            events = list(client.follow(run_id))
            stored = client.events(run_id)["events"]
    assert transport.streams == [None, "2"]  # the second stream asked for what follows seq 2
    assert events[-1] == {"kind": "end", "data": {"status": "succeeded"}}
    assert [(e["seq"], e["kind"]) for e in events[:-1]] == [
        (e["seq"], e["kind"]) for e in stored]
    assert [e["seq"] for e in stored] == list(range(len(stored)))
    finished = [e["data"]["task_id"] for e in events if e["kind"] == "TaskFinished"]
    assert sorted(finished) == ["t1", "t2"]  # t1 finished only after the drop


def test_follow_yields_nothing_twice_when_a_reconnection_replays_from_the_start(tmp_path):
    with live_server(tmp_path) as live, live.client() as client:
        run_id = start(client)
        list(client.follow(run_id))
        transport = Dropping([5, 5], forget=True)
        with live.client(transport=transport) as dropping:
            events = list(dropping.follow(run_id))
        stored = client.events(run_id)["events"]
    assert transport.streams == [None, "4", "4"]  # the second drop brought nothing new
    assert [e["seq"] for e in events[:-1]] == [e["seq"] for e in stored]
    assert events[-1]["kind"] == "end"


def test_follow_after_a_seq_starts_after_it(tmp_path):
    with live_server(tmp_path) as live, live.client() as client:
        run_id = start(client)
        every = list(client.follow(run_id))
        later = list(client.follow(run_id, after=5))
    assert later == every[6:]


def test_follow_gives_up_after_its_reconnections(tmp_path):
    with live_server(tmp_path) as live, live.client() as client:
        run_id = start(client)
        list(client.follow(run_id))
        transport = Dropping([1, 1, 0, 0, 0])
        with live.client(transport=transport) as dropping, \
                pytest.raises(ServerError) as info:
            list(dropping.follow(run_id, reconnects=1))
    assert info.value.code == "connection_lost" and info.value.status is None
    # the second stream brought seq 1, so the count started again; the third brought nothing
    assert transport.streams == [None, "0", "1"]
    assert "lost 2 times in a row" in str(info.value)
    assert "\n" not in str(info.value)


# no server, or not the API
def refusing_port() -> tuple[socket.socket, int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # bound but not listening: connections are refused
    return sock, sock.getsockname()[1]


def test_an_unreachable_server_is_one_line_with_the_code_unreachable():
    sock, port = refusing_port()
    with sock, Client(f"http://127.0.0.1:{port}", TOKEN) as client:
        for call in (client.health, lambda: list(client.follow("abc"))):
            with pytest.raises(ServerError) as info:
                call()
            assert (info.value.code, info.value.status) == ("unreachable", None)
            message = str(info.value)
            assert message.startswith(f"cannot reach the delegate server at http://127.0.0.1:"
                                      f"{port}: ") and "\n" not in message


def _mock(handler: Callable[[httpx.Request], httpx.Response]) -> Client:
    return Client("http://127.0.0.1:8765/?token=" + TOKEN,
                  transport=httpx.MockTransport(handler))


def test_an_answer_that_is_not_the_apis_is_a_bad_response():
    with _mock(lambda r: httpx.Response(502, text="<html>Bad Gateway</html>")) as client, \
            pytest.raises(ServerError) as info:
        client.health()
    assert (info.value.code, info.value.status) == ("bad_response", 502)
    assert str(info.value) == "the server answered 502 Bad Gateway"
    with _mock(lambda r: httpx.Response(200, text="[1, 2]")) as client, \
            pytest.raises(ServerError) as info:
        client.health()
    assert info.value.code == "bad_response"


def test_requests_carry_the_token_of_the_url_and_the_body_of_the_workflow():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202, json={"run_id": "r", "status": "queued", "url": "/u"})

    with _mock(handler) as client:
        client.start("recommend", "a warm jacket", options={"top_k": 2},
                     idempotency_key="key-1")
        client.start("blog", "owls", model="openai:gpt-4o-mini",
                     budget={"tokens": 1000})
        client.cancel("a?b")
    first, second, third = seen
    assert first.headers["authorization"] == f"Bearer {TOKEN}"
    assert first.headers["idempotency-key"] == "key-1"
    assert first.url.path == "/api/runs"
    assert json.loads(first.content) == {"workflow": "recommend", "query": "a warm jacket",
                                         "options": {"top_k": 2}}
    assert json.loads(second.content) == {"workflow": "blog", "objective": "owls",
                                          "model": "openai:gpt-4o-mini",
                                          "budget": {"tokens": 1000}}
    assert "idempotency-key" not in second.headers
    assert third.url.raw_path == b"/api/runs/a%3Fb/cancel"


def test_the_event_stream_is_read_as_the_html_standard_says():
    body = (": keep-alive\r\n\r\n"
            "retry: 1000\r\nid: 0\r\nevent: RunStarted\r\ndata: {\"a\":\r\ndata:  1}\r\n\r\n"
            "id: 1\nevent: PlanCreated\ndata:{\"b\": 2}\n\n"
            "event: nothing\n\n"  # no data: not dispatched
            "event: end\ndata: {\"status\": \"failed\"}\n\n")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body.encode(),
                              headers={"content-type": "text/event-stream"})

    with _mock(handler) as client:
        assert list(client.follow("r")) == [
            {"seq": 0, "kind": "RunStarted", "data": {"a": 1}},
            {"seq": 1, "kind": "PlanCreated", "data": {"b": 2}},
            {"kind": "end", "data": {"status": "failed"}},
        ]


def test_a_stream_the_server_refuses_raises_without_retrying():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(404, json={"error": {"code": "not_found",
                                                   "message": "no run 'r'"}})

    with _mock(handler) as client, pytest.raises(ServerError) as info:
        list(client.follow("r"))
    assert (info.value.code, info.value.status, str(info.value)) == (
        "not_found", 404, "no run 'r'")
    assert len(calls) == 1


def test_a_url_that_is_not_a_servers_is_a_usage_error():
    for url in ("127.0.0.1:8765", "ftp://host", "http://"):
        with pytest.raises(UsageError, match="not a server URL"):
            Client(url)


def test_without_httpx_the_client_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "httpx", None)
    with pytest.raises(ConfigurationError) as info:
        Client("http://127.0.0.1:8765")
    assert str(info.value) == "the delegate client needs httpx: pip install 'delegate[server]'"
