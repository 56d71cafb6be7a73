"""The journal: durable runs, resume without paying twice, the response cache, secrets,
writes off the event loop, one owner per run, and giving the run up on every path."""

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import BaseModel

import delegate.durable.lease as lease_module
from delegate import Plan, ScriptedModel, Task, Worker, run, worker
from delegate.core.events import RunFinished, RunStarted, TaskQueued, TaskStarted
from delegate.durable.journal import Journal, effective_status, redact
from delegate.durable.store import Owner, RunRecord, open_store
from delegate.durable.store.memory import MemoryStore
from delegate.errors import PlanningError, RunLocked, StoreError, UsageError
from delegate.llm import ScriptedCall
from delegate.llm.base import Message, ModelSettings

PLAN = Plan(tasks=(
    Task(id="a", worker="writer", instruction="Write part A."),
    Task(id="b", worker="writer", instruction="Write part B."),
    Task(id="c", worker="writer", instruction="Join the parts.", depends_on=("a", "b")),
))
WRITER = Worker("writer", "writes", "You write.")


def echo_model():
    """Answers each task with its instruction; counts calls per instruction."""
    def answer(call: ScriptedCall):
        task = next((t for t in PLAN.tasks if t.instruction in call.last_user), None)
        return f"done: {task.instruction}" if task else "the final answer"

    return ScriptedModel(function=answer)


def go(model, journal, workers=(WRITER,), **options):
    return asyncio.run(run("Write a thing", workers=list(workers), model=model, plan=PLAN,
                           journal=journal, **options))


def test_a_run_is_stored_with_its_plan_outcomes_calls_and_events():
    store = MemoryStore()
    journal = Journal.start(store, request={"argv": ["run", "x"]})
    result = go(echo_model(), journal)
    assert result.run_id == journal.run_id
    record = store.get_run(journal.run_id)
    assert record.objective == "Write a thing" and record.request == {"argv": ["run", "x"]}
    assert [v["version"] for v in store.plan_versions(journal.run_id)] == [1]
    outcomes = store.outcomes(journal.run_id)
    assert sorted(outcomes) == ["a", "b", "c"]
    assert {o["status"] for o in outcomes.values()} == {"succeeded"}
    assert outcomes["a"]["output"] == "done: Write part A."
    calls = store.model_calls(journal.run_id)
    assert [c.seq for c in calls] == list(range(4))  # three tasks and the synthesis
    assert {c.purpose for c in calls} == {"task", "synthesis"}
    assert all(len(c.request_hash) == 64 and c.source == "model" for c in calls)
    kinds = [e["kind"] for e in store.events(journal.run_id)]
    assert kinds[0] == "RunStarted" and kinds[-1] == "RunFinished"
    assert kinds.count("TaskFinished") == 3
    # the whole result is in the run's row; the final event says how the run ended
    assert record.result["status"] == "succeeded" and len(record.result["outcomes"]) == 3
    finished = store.events(journal.run_id)[-1]["data"]["result"]
    assert finished["status"] == "succeeded" and finished["error"] is None
    assert finished["usage"]["model_calls"] == 4 and "outcomes" not in finished


def test_the_same_temperature_zero_run_costs_no_model_calls_the_second_time():
    store = MemoryStore()
    model = echo_model()
    first = go(model, Journal.start(store))
    calls_after_first = len(model.calls)
    second = go(model, Journal.start(store))
    assert len(model.calls) == calls_after_first  # the model was not asked again
    assert second.usage.model_calls == 0
    assert second.usage.cache_hits == first.usage.model_calls == 4
    assert second.text == first.text
    assert [c.source for c in store.model_calls(second.run_id)] == ["cache"] * 4


def test_without_the_cache_or_above_temperature_zero_the_model_is_asked_again():
    store = MemoryStore()
    model = echo_model()
    go(model, Journal.start(store))
    go(model, Journal.start(store, cache=False))
    assert len(model.calls) == 8
    @worker("writer", description="samples")
    async def warm(ctx):
        answer = await ctx.model.request([Message.user(ctx.task.instruction)],
                                         settings=ModelSettings(temperature=0.7))
        return answer.text

    for _ in range(2):
        asyncio.run(run("Write a thing", workers=[warm], model=model, plan=PLAN,
                        synthesize=False, journal=Journal.start(store)))
    assert len(model.calls) == 8 + 6  # sampled answers are never served from the cache


class Part(BaseModel):
    title: str
    words: int


def test_resume_restores_finished_tasks_and_replays_finished_calls():
    """Cancel the run while c is in flight after its first model call; resume it."""
    store = MemoryStore()
    runs: dict[str, int] = {}
    second_call_started = asyncio.Event()

    @worker("writer", description="writes in two calls")
    async def two_calls(ctx):
        runs[ctx.task.id] = runs.get(ctx.task.id, 0) + 1
        first = await ctx.model.request([Message.user(f"outline {ctx.task.instruction}")],
                                        output=Part)
        if ctx.task.id == "c" and not resumed:
            second_call_started.set()
            await asyncio.Event().wait()  # in flight until the run is cancelled
        second = await ctx.model.request([Message.user(f"write {ctx.task.instruction}")])
        return Part(title=f"{first.data.title} / {second.text}", words=first.data.words)

    def answer(call: ScriptedCall):
        if call.output is not None:
            return {"title": call.last_user[-14:], "words": 100}
        return f"text for {call.last_user}"

    model = ScriptedModel(function=answer)
    journal = Journal.start(store)
    resumed = False

    async def interrupted():
        job = asyncio.ensure_future(run("Write a thing", workers=[two_calls], model=model,
                                        plan=PLAN, synthesize=False, journal=journal))
        await second_call_started.wait()
        job.cancel()
        with pytest.raises(asyncio.CancelledError):
            await job

    asyncio.run(interrupted())
    calls_before = [c.last_user for c in model.calls]
    assert len(calls_before) == 5  # a and b: two each; c: its first
    store.release(journal.run_id, journal.owner, status="cancelled")

    resumed = True
    again = Journal.resume(store, journal.run_id)
    result = asyncio.run(run("Write a thing", workers=[two_calls], model=model, plan=PLAN,
                             synthesize=False, journal=again))
    new_calls = [c.last_user for c in model.calls][len(calls_before):]
    assert new_calls == ["write Join the parts."]  # only the call that never finished
    assert runs == {"a": 1, "b": 1, "c": 2}  # a and b were restored, not run again
    assert sorted(again.restored) == ["a", "b"] and again.replayed == 1
    assert isinstance(result.outcome("a").output, Part)  # outputs come back with their type
    assert result.status == "succeeded" and result.usage.cache_hits == 1
    assert sorted(store.outcomes(journal.run_id)) == ["a", "b", "c"]


def test_a_run_owned_by_a_live_process_cannot_be_resumed_twice():
    store = MemoryStore()
    journal = Journal.start(store)
    refused: list[str] = []

    def resume_at_c(event):
        if isinstance(event, TaskStarted) and event.task_id == "c":
            with pytest.raises(RunLocked, match="is owned by process") as locked:
                Journal.resume(store, journal.run_id)  # this very process still owns it
            refused.append(str(locked.value))
            raise KeyboardInterrupt  # the user stops the run here

    with pytest.raises(KeyboardInterrupt):
        go(echo_model(), journal, subscribers=[resume_at_c])
    assert len(refused) == 1
    stopped = store.get_run(journal.run_id)
    assert (stopped.status, stopped.owner) == ("cancelled", None)  # given up on the way out
    first = Journal.resume(store, journal.run_id)
    with pytest.raises(RunLocked):
        Journal.resume(store, journal.run_id)
    assert store.get_run(journal.run_id).owner == first.owner


def test_a_run_that_succeeded_is_not_resumed():
    store = MemoryStore()
    journal = Journal.start(store)

    async def whole():
        async with journal.running():
            return await run("Write a thing", workers=[WRITER], model=echo_model(),
                             plan=PLAN, journal=journal)

    asyncio.run(whole())
    assert store.get_run(journal.run_id).status == "succeeded"
    assert store.get_run(journal.run_id).owner is None
    with pytest.raises(UsageError, match="already succeeded"):
        Journal.resume(store, journal.run_id)


def test_secrets_from_the_environment_never_reach_the_store(monkeypatch):
    canary = "sk-canary-9f8e7d6c5b4a"
    monkeypatch.setenv("OPENAI_API_KEY", canary)
    store = MemoryStore()

    def leaky(call: ScriptedCall):  # a model that repeats the key it was shown
        return f"the key is {canary}"

    journal = Journal.start(store, request={"argv": ["run", f"use {canary}"]})
    asyncio.run(run(f"Write a thing with {canary}", workers=[WRITER],
                    model=ScriptedModel(function=leaky), plan=PLAN, journal=journal))
    from delegate.durable.export import export

    dumped = json.dumps(export(store, journal.run_id), default=str)
    assert "[redacted]" in dumped and canary not in dumped


@pytest.mark.parametrize("canary", ["sk-canary-9f8e7d6c5b4a", 'sk"quote\\back\nline-42'])
def test_secrets_in_nested_values_are_found_whether_json_escapes_them_or_not(monkeypatch,
                                                                              canary):
    monkeypatch.setenv("SERVICE_TOKEN", canary)
    journal = Journal.start(MemoryStore())
    value = {"outer": [{"text": f"see {canary} here", "n": 1}], "k": "plain"}
    cleaned = journal._clean(value)
    assert canary not in json.dumps(cleaned) and canary not in str(cleaned)
    assert cleaned["outer"][0]["text"] == "see [redacted] here"
    clean = {"outer": [{"text": "nothing to hide", "n": 1}]}
    assert journal._clean(clean) is clean  # no copy when there is nothing to replace


def test_request_keys_cover_messages_schema_and_settings():
    from delegate.durable.journal import request_key

    model = echo_model()
    base = request_key(model, [Message.user("hi")], None, None)[0]
    assert base == request_key(model, [Message.user("hi")], None, ModelSettings())[0]
    assert base != request_key(model, [Message.user("hi!")], None, None)[0]
    assert base != request_key(model, [Message.user("hi")], Part, None)[0]
    assert base != request_key(model, [Message.user("hi")], None,
                               ModelSettings(max_tokens=5))[0]


# -- writes off the event loop, in batches ----------------------------------------------------

class GatedStore(MemoryStore):
    """A store whose writes wait until ``gate`` is set, and that notes where they ran."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.threads: set[int] = set()
        self.batches: list[int] = []  # events per batch

    def _held(self) -> None:
        self.threads.add(threading.get_ident())
        if not self.gate.wait(timeout=20):
            raise AssertionError("the run waited on the store: the gate never opened")

    def write(self, run_id, owner, batch):
        self._held()
        self.batches.append(len(batch.events))
        super().write(run_id, owner, batch)

    def create_run(self, run, owner):
        self._held()
        super().create_run(run, owner)

    def add_event(self, run_id, seq, kind, data):
        self._held()
        super().add_event(run_id, seq, kind, data)

    def save_outcome(self, run_id, task_id, outcome):
        self._held()
        super().save_outcome(run_id, task_id, outcome)


def fan_out(n: int) -> Plan:
    return Plan(tasks=tuple(Task(id=f"t{i}", worker="noop", instruction="x") for i in range(n)))


@worker("noop", description="does nothing")
async def noop(ctx):
    return ctx.task.id


def test_the_store_is_written_off_the_event_loop_in_batches():
    """The whole run happens while the store is stuck: the loop never waits for a write."""
    store = GatedStore()
    journal = Journal.start(store)

    def open_the_gate(event):
        if isinstance(event, RunFinished):
            store.gate.set()

    result = asyncio.run(run("Fan out", workers=[noop], plan=fan_out(20), synthesize=False,
                             journal=journal, subscribers=[open_the_gate]))
    assert result.status == "succeeded"
    assert threading.get_ident() not in store.threads  # no write ran on the loop's thread
    stored = store.events(journal.run_id)
    assert stored[-1]["kind"] == "RunFinished" and len(stored) == 1 + 1 + 20 * 3 + 1
    assert sum(store.batches) == len(stored)
    assert len(store.batches) <= 4  # the create, then everything queued meanwhile, the release
    assert len(store.outcomes(journal.run_id)) == 20
    record = store.get_run(journal.run_id)
    assert (record.status, record.owner) == ("succeeded", None)


class CountingStore(MemoryStore):
    """Counts cache reads and whether they counted a hit."""

    def __init__(self) -> None:
        super().__init__()
        self.cache_reads: list[bool] = []

    def cache_get(self, key, *, count=True):
        self.cache_reads.append(count)
        return super().cache_get(key, count=count)


def test_a_cache_miss_writes_nothing():
    store = CountingStore()
    model = echo_model()
    go(model, Journal.start(store))
    assert store.cache_reads == [False] * 4  # four misses, read without counting a hit
    second = go(model, Journal.start(store))
    assert second.usage.cache_hits == 4
    assert store.cache_reads.count(False) == 8  # the hits are counted with the run's writes


# -- one owner per run ------------------------------------------------------------------------

def test_a_run_taken_over_by_another_process_is_not_written_by_its_old_owner(tmp_path,
                                                                               monkeypatch):
    """Two journals on one SQLite file: the second takes the run over while the first still
    runs it; the first one's next write fails and ends its run."""
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    first_store, second_store = open_store(url), open_store(url)
    journal = Journal.start(first_store)
    taken: list[Journal] = []

    @worker("writer", description="is taken over while it writes c")
    async def taken_over_at_c(ctx):
        if ctx.task.id == "c":
            await ctx.model.request([Message.user("written before")])  # committed on return
            monkeypatch.setattr(lease_module, "STALE_AFTER", 0.0)  # the first owner looks stale
            taken.append(Journal.resume(second_store, journal.run_id))
            await ctx.model.request([Message.user("written after the takeover")])
        return ctx.task.id

    try:
        with pytest.raises(StoreError, match=r"taken over by process \d+ on ") as error:
            go(ScriptedModel(), journal, workers=[taken_over_at_c], synthesize=False)
        assert "\n" not in str(error.value)
        record = second_store.get_run(journal.run_id)
        assert (record.owner, record.status) == (taken[0].owner, "running")
        kinds = [e["kind"] for e in second_store.events(journal.run_id)]
        assert "RunFinished" not in kinds and "TaskFailed" not in kinds
        calls = [c.request["messages"][0]["content"]
                 for c in second_store.model_calls(journal.run_id)]
        assert calls == ["written before"]  # the call after the takeover was refused
        assert sorted(second_store.outcomes(journal.run_id)) == ["a", "b"]
    finally:
        first_store.close()
        second_store.close()


class FailingStore(MemoryStore):
    """A store whose writes fail once ``fail`` holds a message (or, with ``beats_only``, whose
    heartbeats do); it notes the releases it was asked for."""

    def __init__(self, fail: str | None = None, *, beats_only: bool = False) -> None:
        super().__init__()
        self.fail, self.beats_only = fail, beats_only
        self.releases: list[str] = []

    def write(self, run_id, owner, batch):
        if batch.release is not None:
            self.releases.append(batch.release["status"])
        if self.fail and not (self.beats_only and batch):
            raise StoreError(self.fail)
        super().write(run_id, owner, batch)


def test_a_failing_heartbeat_fails_the_journal_instead_of_dying_silently():
    store = FailingStore("the disk is full", beats_only=True)
    journal = Journal.start(store)
    journal.heartbeat_every = 0.0

    async def main():
        await journal.open()
        journal(RunStarted(run_id=journal.run_id, objective="Beat"))
        await asyncio.wait_for(journal.lease._beat, timeout=20)  # ends, having failed the journal
        assert isinstance(journal.error, StoreError)
        with pytest.raises(StoreError, match="the disk is full"):  # the next event
            journal(TaskQueued(run_id=journal.run_id, task_id="a", worker="w"))
        with pytest.raises(StoreError, match="the disk is full"):  # every model call
            await journal.replay.lookup("k" * 64, None, None)
        with pytest.raises(StoreError, match="the disk is full"):
            await journal.close("succeeded")

    asyncio.run(main())
    assert store.releases == ["succeeded"]  # tried anyway, and it went through
    assert store.get_run(journal.run_id).status == "succeeded"


def test_a_store_that_fails_during_the_run_ends_it_with_a_store_error():
    store = FailingStore()

    @worker("noop", description="breaks the store after the first task")
    async def breaks(ctx):
        if ctx.task.id == "t0":
            store.fail = "database is locked"
        return ctx.task.id

    journal = Journal.start(store)
    with pytest.raises(StoreError, match="database is locked"):
        asyncio.run(run("Fan out", workers=[breaks], plan=fan_out(20), synthesize=False,
                        journal=journal, max_concurrency=1))
    assert journal.error is not None and store.releases  # it tried to give the run up


# -- giving the run up on every path ----------------------------------------------------------

def test_the_library_recipe_gives_the_run_up_with_its_final_status():
    store = MemoryStore()
    succeeded = Journal.start(store)
    go(echo_model(), succeeded)
    assert (store.get_run(succeeded.run_id).status, store.get_run(succeeded.run_id).owner) == (
        "succeeded", None)
    assert store.get_run(succeeded.run_id).result["status"] == "succeeded"

    failed = Journal.start(store)
    with pytest.raises(PlanningError):  # never a valid plan, and no fallback
        asyncio.run(run("Write a thing", workers=[WRITER], journal=failed,
                        model=ScriptedModel(function=lambda call: "not a plan")))
    record = store.get_run(failed.run_id)
    assert (record.status, record.owner) == ("failed", None)
    assert record.result["error"].startswith("PlanningError: no valid plan")

    cancelled = Journal.start(store)
    started = asyncio.Event()

    @worker("writer", description="never finishes")
    async def hangs(ctx):
        started.set()
        await asyncio.Event().wait()

    async def cancel_it():
        job = asyncio.ensure_future(run("Write a thing", workers=[hangs], plan=PLAN,
                                        synthesize=False, journal=cancelled))
        await started.wait()
        job.cancel()
        with pytest.raises(asyncio.CancelledError):
            await job

    asyncio.run(cancel_it())
    record = store.get_run(cancelled.run_id)
    assert (record.status, record.owner) == ("cancelled", None)


def test_open_and_close_directly():
    store = MemoryStore()
    journal = Journal.start(store)

    async def main():
        await journal.open()
        await journal.open()  # idempotent
        journal(RunStarted(run_id=journal.run_id, objective="By hand"))
        await journal.close("partial", {"done": 1}, "RuntimeError: one task failed")
        await journal.close("succeeded")  # idempotent: the first status counts
        journal(TaskQueued(run_id=journal.run_id, task_id="late", worker="w"))  # ignored

    asyncio.run(main())
    record = store.get_run(journal.run_id)
    assert (record.status, record.owner) == ("partial", None)
    assert record.result == {"done": 1, "error": "RuntimeError: one task failed"}
    assert [e["kind"] for e in store.events(journal.run_id)] == ["RunStarted"]


def test_running_gives_up_a_block_that_raised_as_failed():
    store = MemoryStore()
    journal = Journal.start(store)

    async def main():
        async with journal.running():
            journal(RunStarted(run_id=journal.run_id, objective="Raises"))
            raise ValueError("bad input")

    with pytest.raises(ValueError):
        asyncio.run(main())
    record = store.get_run(journal.run_id)
    assert (record.status, record.owner) == ("failed", None)
    assert record.result["error"] == "ValueError: bad input"


def test_a_run_whose_owner_died_reads_as_interrupted():
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid of this host that no longer runs
    now = datetime.now(UTC)
    alive = RunRecord("r1", "run", "x", owner=Owner("t", socket.gethostname(), os.getpid()),
                      heartbeat_at=now)
    assert effective_status(alive) == "running"
    assert Journal.effective_status(replace(alive, owner=Owner("t", socket.gethostname(),
                                                               gone.pid))) == "interrupted"
    assert effective_status(replace(alive, heartbeat_at=now - timedelta(hours=1))) == (
        "interrupted")
    assert effective_status(replace(alive, owner=None)) == "interrupted"
    for status in ("succeeded", "partial", "failed", "cancelled"):
        assert effective_status(replace(alive, status=status, owner=None)) == status


# -- the planner's repair loop on resume ------------------------------------------------------

VALID_PLAN = {"tasks": [{"id": "t1", "worker": "writer", "instruction": "Write it.",
                         "depends_on": []}]}


def test_resume_replays_an_answered_but_invalid_planning_call_as_the_same_failure():
    """The first plan is invalid; the run dies while the repair is asked for; on resume the
    invalid answer comes from the store and only the repair is asked again."""
    store = MemoryStore()
    repair_asked = asyncio.Event()
    state = {"resumed": False}

    async def answer(call: ScriptedCall):
        if call.output is None:
            return "text"
        if "That plan is invalid" not in call.last_user:
            return "this is not a plan"  # answered, but not JSON
        if not state["resumed"]:
            repair_asked.set()
            await asyncio.Event().wait()  # the process dies during the repair
        return VALID_PLAN

    model = ScriptedModel(function=answer)
    journal = Journal.start(store)

    async def killed():
        job = asyncio.ensure_future(run("Write a thing", workers=[WRITER], model=model,
                                        journal=journal))
        await repair_asked.wait()
        job.cancel()
        with pytest.raises(asyncio.CancelledError):
            await job

    asyncio.run(killed())
    assert len(model.calls) == 2
    calls = store.model_calls(journal.run_id)
    assert [(c.purpose, c.source) for c in calls] == [("plan", "model")]
    assert "error" in calls[0].response and calls[0].response["text"] == "this is not a plan"
    assert store.cache_get(calls[0].request_hash) is None  # a failed answer is never cached

    state["resumed"] = True
    again = Journal.resume(store, journal.run_id)
    result = asyncio.run(run("Write a thing", workers=[WRITER], model=model, journal=again))
    first = model.calls[0].messages
    assert all(c.messages != first for c in model.calls[2:])  # the answered call: not again
    assert "That plan is invalid" in model.calls[2].last_user  # the repair: asked again
    assert again.replayed == 1 and result.planning.source == "repaired"
    assert result.status == "succeeded"
    sources = [c.source for c in store.model_calls(journal.run_id)]
    assert sources[:2] == ["model", "journal"] and sources.count("journal") == 1


# -- secrets ----------------------------------------------------------------------------------

def test_urls_with_passwords_and_tokens_never_reach_the_store():
    password, token = "pg-Pa55word-9", "tok-4f3e2d1c0b"
    store_url = f"postgresql://delegate:{password}@db.example.com:5432/runs"
    base_url = f"https://llm.example.com/v1?api_key={token}&model=small"
    store = MemoryStore()

    def leaky(call: ScriptedCall):
        return f"connect to {store_url} or {base_url}"

    journal = Journal.start(store, request={"argv": ["run", "--store", store_url,
                                                     "--base-url", base_url, "Write"]})
    asyncio.run(run(f"Write a thing about {base_url}", workers=[WRITER],
                    model=ScriptedModel(function=leaky), plan=PLAN, journal=journal))
    from delegate.durable.export import export

    dumped = json.dumps(export(store, journal.run_id), default=str)
    assert password not in dumped and token not in dumped
    assert "postgresql://[redacted]@db.example.com:5432/runs" in dumped
    assert "?api_key=[redacted]&model=small" in dumped


@pytest.mark.parametrize(("text", "shown"), [
    ("https://u:p@h/x?token=abc&a=1", "https://[redacted]@h/x?token=[redacted]&a=1"),
    ("see http://h/p?access_token=a1&sig=zz;x-api-key=k", "see http://h/p?access_token=[redacted]"
     "&sig=[redacted];x-api-key=[redacted]"),
    ("?password=hunter2#frag", "?password=[redacted]#frag"),
    ("a monkey=1 and ?keyword=2 and mail bob@example.com", "a monkey=1 and ?keyword=2 and mail "
     "bob@example.com"),
])
def test_redact(text, shown):
    assert redact(text) == shown
