"""Commit listeners: the writer thread tells them a run's id once a batch of its events (or its
creation, or its release) is committed, and the batch is readable from the store by then."""

from __future__ import annotations

import asyncio
import logging

import pytest

from delegate import Plan, ScriptedModel, Task, Worker, run
from delegate.durable.journal import Journal
from delegate.durable.store import commit_listeners, open_store
from delegate.durable.store._writer import BatchWriter
from delegate.durable.store.memory import MemoryStore

from .contract import ALICE, run_record


@pytest.fixture(params=["memory", "sqlite"])
def stores(request, sqlite_url):
    """``(store, reader)``: where the writer writes, and a second view of it to read from (a
    second connection for SQLite, so what it sees is committed)."""
    if request.param == "memory":
        store = MemoryStore()
        yield store, store
        return
    store, reader = open_store(sqlite_url), open_store(sqlite_url)
    yield store, reader
    store.close()
    reader.close()


@pytest.fixture
def listen():
    """Register listeners for one test; they are removed after it, whatever happened."""
    added = []

    def add(listener):
        commit_listeners.add(listener)
        added.append(listener)
        return listener

    yield add
    for listener in added:
        commit_listeners.discard(listener)


def write(writer: BatchWriter, kind: str, value=None) -> None:
    """Queue one operation and wait until the writer thread has done it."""
    writer.put(kind, value, wait=True).result(timeout=60)  # a bound against a hang only


def event(seq: int) -> dict:
    return {"seq": seq, "kind": "k", "data": {"n": seq}}


def test_a_listener_hears_each_committed_batch_and_can_read_it(stores, listen):
    store, reader = stores
    heard: list[tuple[str, list[int], str]] = []
    listen(lambda run_id: heard.append((run_id, [e["seq"] for e in reader.events(run_id)],
                                        reader.get_run(run_id).status)))
    own: list[str] = []
    writer = BatchWriter(store, "run-heard", ALICE, lambda error: None, on_commit=own.append)
    write(writer, "create", run_record("run-heard"))
    assert heard == [("run-heard", [], "running")] and own == ["run-heard"]
    writer.put("events", event(0))  # no loop: handed to the thread at once
    writer.put("events", event(1))
    write(writer, "flush")
    assert heard[-1] == ("run-heard", [0, 1], "running")  # both readable when it was told
    assert {h[0] for h in heard} == {"run-heard"} and len(own) == len(heard)
    count = len(heard)
    write(writer, "touch")  # a heartbeat writes no events: nobody is told
    write(writer, "plans", {"version": 1, "plan": {}, "change": "initial", "reason": ""})
    assert len(heard) == count
    write(writer, "release", {"status": "partial", "result": {"n": 2}})
    assert heard[-1] == ("run-heard", [0, 1], "partial") and len(own) == count + 1


def test_a_failed_write_is_not_announced(stores, listen):
    store, _ = stores
    heard: list[str] = []
    listen(heard.append)
    writer = BatchWriter(store, "run-never-made", ALICE, lambda error: None)
    with pytest.raises(Exception, match="run-never-made"):
        write(writer, "events", event(0))  # the run does not exist: nothing was committed
    assert heard == []


def test_a_listener_that_raises_is_logged_and_breaks_nothing(stores, listen, caplog):
    store, reader = stores
    heard: list[str] = []

    def broken(run_id: str) -> None:
        raise RuntimeError(f"listener bug for {run_id}")

    listen(broken)
    listen(heard.append)
    failures = []
    writer = BatchWriter(store, "run-robust", ALICE, failures.append, on_commit=broken)
    with caplog.at_level(logging.ERROR, logger="delegate.durable.store"):
        write(writer, "create", run_record("run-robust"))
        write(writer, "events", event(0))
        write(writer, "events", event(1))
    assert heard == ["run-robust"] * 3 and failures == [] and writer.error is None
    assert [e["seq"] for e in reader.events("run-robust")] == [0, 1]
    logged = [r for r in caplog.records if "run-robust" in r.getMessage()]
    assert len(logged) == 6  # twice per batch: on_commit and the registered one
    assert all(r.exc_info and "listener bug" in str(r.exc_info[1]) for r in logged)


def test_a_journaled_run_is_heard_until_its_last_event(listen):
    plan = Plan(tasks=(Task(id="a", worker="w", instruction="Do A."),
                       Task(id="b", worker="w", instruction="Do B.", depends_on=("a",))))
    store = MemoryStore()
    journal = Journal.start(store)
    seen: list[tuple[int | None, str]] = []

    def hear(run_id: str) -> None:
        if run_id == journal.run_id:
            seen.append((store.last_event_seq(run_id), store.get_run(run_id).status))

    listen(hear)
    model = ScriptedModel(function=lambda call: "done")
    result = asyncio.run(run("Do it", workers=[Worker("w", "works", "You work.")],
                             model=model, plan=plan, journal=journal))
    events = store.events(journal.run_id)
    assert seen and seen[-1] == (events[-1]["seq"], result.status)  # the end was heard
    assert events[-1]["kind"] == "RunFinished"
    assert [s for s, _ in seen] == sorted(s for s, _ in seen)
    stats = store.run_stats([journal.run_id])[journal.run_id]
    usage = result.usage
    assert stats["tasks"] == {"succeeded": 2} and stats["model_calls"] == usage.model_calls
    assert (stats["prompt_tokens"], stats["completion_tokens"]) == (
        usage.prompt_tokens, usage.completion_tokens)
    assert stats["cost"] == (None if usage.unpriced_calls else usage.cost_usd)
