"""Ctrl-C (SIGINT) of ``delegate serve`` while clients read streams, with a real process: the
server cancels its runs, each open stream of one of its runs sends what is left of it in the
store, up to its ``RunFinished`` and the final ``end``, and closes cleanly; a stream of a run
another process writes closes cleanly at once (no ``end``: that run goes on); then the server
exits. The model is the durable CLI tests' server, its last task held at its gate."""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time

import pytest

pytest.importorskip("uvicorn")
import httpx

from delegate.durable.journal import Journal
from delegate.durable.store import open_store
from tests.cli.test_durable_cli import OBJECTIVE, ModelServer, env_for
from tests.server._serve import AUTH, free_port
from tests.server.test_recovery import BOUND, Serve, sse


class Follower(threading.Thread):
    """Reads one stream, once, to its end; keeps each event, the ``end`` and how it ended."""

    def __init__(self, url: str, run_id: str) -> None:
        super().__init__(daemon=True)
        self.url, self.run_id = url, run_id
        self.events: list[tuple[int, str, dict]] = []
        self.end: dict | None = None
        self.error: str | None = None
        self.first = threading.Event()  # an event came: the stream is open
        self.done = threading.Event()

    def run(self) -> None:
        try:
            timeout = httpx.Timeout(10.0, read=BOUND)
            with httpx.Client(base_url=self.url, headers=AUTH, timeout=timeout) as http, \
                    http.stream("GET", f"/api/runs/{self.run_id}/stream") as response:
                assert response.status_code == 200
                for ident, kind, data in sse(response.iter_lines()):
                    if kind == "end":
                        self.end = json.loads(data)
                    else:
                        self.events.append((int(ident), kind, json.loads(data)))
                    self.first.set()
        except Exception as exc:  # a stream cut off: reported by the test
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.first.set()
            self.done.set()


@pytest.fixture
def model(tmp_path):
    server = ModelServer(tmp_path / "calls.jsonl")
    server.gate.clear()  # the last task's answer waits
    yield server
    server.close()


def test_ctrl_c_ends_every_open_stream_cleanly_with_what_the_store_holds(model, tmp_path):
    store_path = tmp_path / "runs.db"
    serve = Serve(free_port(), store_path, env_for(model), tmp_path / "serve.log")
    store = open_store(str(store_path))
    # a run this test process writes, held at its first model call: the server only follows it
    other = Journal.start(store, kind="run", request={})
    release = threading.Event()
    writer = threading.Thread(target=_write_elsewhere, args=(other, release), daemon=True)
    writer.start()
    serve.start()
    try:
        with httpx.Client(base_url=serve.url, headers=AUTH, timeout=BOUND) as client:
            run_id = client.post("/api/runs", json={
                "workflow": "general", "objective": OBJECTIVE,
                "model": "openai:test-model"}).json()["run_id"]
            assert model.held.wait(BOUND)  # its last task is in flight
        ours, theirs = Follower(serve.url, run_id), Follower(serve.url, other.run_id)
        for follower in (ours, theirs):
            follower.start()
            assert follower.first.wait(BOUND) and follower.error is None, follower.error
        began = time.monotonic()
        serve.proc.send_signal(signal.SIGINT)
        code = serve.proc.wait(BOUND)
        took = time.monotonic() - began
        for follower in (ours, theirs):
            assert follower.done.wait(BOUND), "a stream stayed open after the server exited"
    finally:
        serve.stop()
        release.set()
        writer.join(BOUND)
    log = (tmp_path / "serve.log").read_text()
    assert "without completing response" not in log and "Traceback" not in log, log

    assert ours.error is None, ours.error
    stored = [(e["seq"], e["kind"], e["data"]) for e in store.events(run_id)]
    assert ours.events == stored  # everything, to the run's last event
    assert stored[-1][1] == "RunFinished" and stored[-1][2]["result"]["status"] == "cancelled"
    assert ours.end == {"status": "cancelled"}
    assert store.get_run(run_id).status == "cancelled"

    assert theirs.error is None, theirs.error
    assert theirs.end is None  # that run did not end: a client reconnects elsewhere
    assert theirs.events == [(e["seq"], e["kind"], e["data"])
                             for e in store.events(other.run_id)][:len(theirs.events)]
    store.close()
    print(f"exited {took:.2f} s after SIGINT (code {code}); {len(ours.events)} events and "
          f"the end on the server's run's stream, {len(theirs.events)} on the other's")


def _write_elsewhere(journal: Journal, release: threading.Event) -> None:
    """Run a one-task plan on ``journal``, its model call waiting for ``release``."""
    from delegate import Plan, Task, Worker, run
    from delegate.llm.scripted import ScriptedModel

    def answer(call):
        release.wait(BOUND)
        return "A fact about owls."

    researcher = Worker("researcher", "finds facts", "You find facts.")
    plan = Plan(tasks=(Task(id="a", worker="researcher", instruction="Find a fact."),))
    asyncio.run(run("Owls elsewhere", workers=[researcher], plan=plan, journal=journal,
                    model=ScriptedModel(function=answer)))


class StandIn:
    """What the shutdown code knows of uvicorn: its signal handler is a method of the server,
    which sets ``should_exit``."""

    should_exit = False

    def handle_exit(self, sig, frame) -> None:
        self.should_exit = True


@pytest.fixture
def uvicorn_stand_in():
    server = StandIn()
    previous = signal.signal(signal.SIGTERM, server.handle_exit)  # as uvicorn installs it
    yield server
    signal.signal(signal.SIGTERM, previous)


def test_a_run_not_ended_in_time_closes_its_stream_without_end(uvicorn_stand_in, tmp_path,
                                                                monkeypatch):
    """The run's model takes its time to stop when cancelled: its stream waits
    ``SHUTDOWN_GRACE`` seconds, then closes with no ``end``; the run still ends cancelled. And
    sse-starlette's own drain is off while the application runs, back on after."""
    from fastapi.testclient import TestClient
    from sse_starlette.sse import AppStatus

    from delegate.llm.scripted import ScriptedModel
    from delegate.server import create_app, stream
    from tests.server._serve import TOKEN, runtime_with

    monkeypatch.setattr(stream, "SHUTDOWN_GRACE", 0.2)
    held, finish = threading.Event(), threading.Event()
    cancelled = threading.Event()

    async def answer(call):
        if isinstance(call.output, dict):
            return {"tasks": [{"id": "t1", "worker": "researcher", "depends_on": [],
                               "instruction": "Find one fact."}]}
        held.set()
        try:
            while not finish.is_set():
                await asyncio.sleep(0.005)
            return "Owls hunt at night."
        except asyncio.CancelledError:
            cancelled.set()
            while not finish.is_set():  # stopping takes a while
                await asyncio.sleep(0.005)
            raise

    assert AppStatus.enable_automatic_graceful_drain
    app = create_app(str(tmp_path / "runs.db"), token=TOKEN, recover=False,
                     runtime=runtime_with(slow=ScriptedModel(function=answer)))
    with TestClient(app, base_url="http://127.0.0.1:8765", headers=AUTH) as client:
        assert not AppStatus.enable_automatic_graceful_drain
        run_id = client.post("/api/runs", json={"workflow": "general", "objective": "Owls",
                                                "model": "scripted:slow"}).json()["run_id"]
        assert held.wait(BOUND)
        bound = threading.Timer(BOUND, finish.set)  # a stream that waits for the run fails
        bound.start()
        try:
            with client.stream("GET", f"/api/runs/{run_id}/stream") as response:
                lines = response.iter_lines()
                got = [next(lines)]  # the stream is open
                uvicorn_stand_in.handle_exit(signal.SIGINT, None)  # Ctrl-C
                got += list(lines)  # to its end: the stream closes by itself
            assert "event: end" not in got and "event: RunFinished" not in got
            assert cancelled.wait(BOUND)  # cancelled by the exit, not by the lifespan's end
        finally:
            bound.cancel()
            finish.set()
    assert AppStatus.enable_automatic_graceful_drain and not AppStatus.should_exit
    store = open_store(str(tmp_path / "runs.db"))
    assert store.get_run(run_id).status == "cancelled"
    assert store.events(run_id)[-1]["kind"] == "RunFinished"
    store.close()
