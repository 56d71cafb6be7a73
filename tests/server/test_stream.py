"""The live stream against a real uvicorn on 127.0.0.1 (an in-process transport does not
stream): read some events, drop the connection, reconnect with ``Last-Event-ID``, and what was
read, joined, is exactly the store's events; a run another process writes is followed from
the store; keep-alive and the final ``end``."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

pytest.importorskip("uvicorn")
import httpx

from delegate.durable.store import open_store
from delegate.server import create_app
from tests.server._serve import (
    AUTH,
    TOKEN,
    Gates,
    free_port,
    runtime_with,
    uvicorn_server,
)


def read_sse(lines, limit=None):
    """``(id, event, data)`` per message of an SSE line iterator, at most ``limit``."""
    got, current = [], {}
    for line in lines:
        if line.startswith(":"):
            continue
        if not line:
            if current:
                got.append((current.get("id"), current.get("event"), current.get("data")))
                current = {}
                if limit is not None and len(got) >= limit:
                    break
            continue
        field, _, value = line.partition(":")
        current[field] = value[1:] if value.startswith(" ") else value
    return got


@pytest.fixture
def served(tmp_path):
    gates = Gates()
    port = free_port()
    store = str(tmp_path / "runs.db")
    app = create_app(store, token=TOKEN, port=port, recover=False,
                     runtime=runtime_with(owls=gates.model(tasks=4), held=gates.model(
                         tasks=4, hold=True)))
    with uvicorn_server(app, port):
        yield f"http://127.0.0.1:{port}", gates, store
    gates.open()


def test_a_dropped_stream_resumes_with_last_event_id_with_no_gap_and_no_duplicate(served):
    url, gates, store = served
    with httpx.Client(base_url=url, headers=AUTH, timeout=60) as client:
        run_id = client.post("/api/runs", json={"workflow": "general", "objective": "Owls",
                                                "model": "scripted:held"}).json()["run_id"]
        assert gates.held.wait(60)
        with client.stream("GET", f"/api/runs/{run_id}/stream") as first:
            head = read_sse(first.iter_lines(), limit=3)  # then the connection is dropped
        assert head[0][1] == "RunStarted"
        gates.open()  # the run goes on while nobody listens
        with client.stream("GET", f"/api/runs/{run_id}/stream",
                           headers={"Last-Event-ID": head[-1][0]}) as second:
            rest = read_sse(second.iter_lines())
    assert rest[-1][1] == "end" and json.loads(rest[-1][2]) == {"status": "succeeded"}
    got = head + rest[:-1]
    stored = open_store(store).events(run_id)
    assert [int(i) for i, _, _ in got] == [e["seq"] for e in stored]
    assert [(k, json.loads(d)) for _, k, d in got] == [(e["kind"], e["data"]) for e in stored]


def test_after_query_and_a_finished_run_replay_then_end(served):
    url, _, store = served
    with httpx.Client(base_url=url, headers=AUTH, timeout=60) as client:
        done = client.post("/api/runs/wait", json={"workflow": "general", "objective": "Owls",
                                                   "model": "scripted:owls"}).json()
        with client.stream("GET", f"/api/runs/{done['run_id']}/stream",
                           params={"after": 2}) as answer:
            assert answer.headers["content-type"].startswith("text/event-stream")
            got = read_sse(answer.iter_lines())
    stored = open_store(store).events(done["run_id"])
    assert [int(i) for i, _, _ in got[:-1]] == [e["seq"] for e in stored if e["seq"] > 2]
    assert got[-1][1] == "end"


def test_a_run_written_by_another_process_is_followed_from_the_store(served, tmp_path):
    """A run this server does not run (here another journal on the same store, in a thread
    standing in for a CLI process) streams as its writer commits it."""
    from delegate import Plan, Task, Worker, run
    from delegate.durable.journal import Journal
    from delegate.llm.scripted import ScriptedModel

    url, _, store_url = served
    store = open_store(store_url)
    journal = Journal.start(store, kind="run", request={})
    go = threading.Event()

    def answer(call):
        go.wait(60)
        return "A fact about owls."

    researcher = Worker("researcher", "finds facts", "You find facts.")
    plan = Plan(tasks=(Task(id="a", worker="researcher", instruction="Find a fact."),
                       Task(id="b", worker="researcher", instruction="Find another.",
                            depends_on=("a",))))
    failed = []

    def write():
        try:
            asyncio.run(run("Owls elsewhere", workers=[researcher], plan=plan, journal=journal,
                            model=ScriptedModel(function=answer)))
        except BaseException as exc:
            failed.append(exc)
            raise

    writer = threading.Thread(target=write)
    writer.start()
    try:
        with httpx.Client(base_url=url, headers=AUTH, timeout=60) as client:
            for _ in range(10_000):  # the writer stores the run when it starts
                listed = client.get("/api/runs").json()["runs"]
                if any(r["run_id"] == journal.run_id for r in listed) or not writer.is_alive():
                    break
            assert not failed, failed
            row = next(r for r in listed if r["run_id"] == journal.run_id)
            assert row["local"] is False and row["status"] == "running"
            with client.stream("GET", f"/api/runs/{journal.run_id}/stream") as answer_:
                lines = answer_.iter_lines()
                first = read_sse(lines, limit=1)
                go.set()
                rest = read_sse(lines)
    finally:
        go.set()
        writer.join(60)
    got = first + rest
    assert got[-1][1] == "end" and json.loads(got[-1][2])["status"] == "succeeded"
    assert [int(i) for i, _, _ in got[:-1]] == [e["seq"] for e in store.events(journal.run_id)]
    store.close()


def test_the_stream_needs_the_token(served):
    url, _, _ = served
    with httpx.Client(base_url=url, timeout=30) as client:
        answer = client.get("/api/runs/abcd1234/stream")
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == "unauthorized"
