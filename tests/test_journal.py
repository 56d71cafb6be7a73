"""The journal: durable runs, resume without paying twice, the response cache, secrets."""

import asyncio
import json

import pytest
from pydantic import BaseModel

from delegate import Plan, ScriptedModel, Task, Worker, run, worker
from delegate.errors import RunLocked, UsageError
from delegate.events import TaskStarted
from delegate.journal import Journal
from delegate.llm import ScriptedCall
from delegate.llm.base import Message, ModelSettings
from delegate.store.memory import MemoryStore

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


def go(model, journal, **options):
    return asyncio.run(run("Write a thing", workers=[WRITER], model=model, plan=PLAN,
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

    def stop_at_c(event):
        if isinstance(event, TaskStarted) and event.task_id == "c":
            raise KeyboardInterrupt  # the process dies here, still owning the run

    with pytest.raises(KeyboardInterrupt):
        go(echo_model(), journal, subscribers=[stop_at_c])
    with pytest.raises(RunLocked, match="is owned by process"):  # this very process still owns it
        Journal.resume(store, journal.run_id)
    store.release(journal.run_id, journal.owner, status="cancelled")
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
    from delegate.cli_runs import export

    dumped = json.dumps(export(store, journal.run_id), default=str)
    assert "[redacted]" in dumped and canary not in dumped


def test_request_keys_cover_messages_schema_and_settings():
    from delegate.journal import request_key

    model = echo_model()
    base = request_key(model, [Message.user("hi")], None, None)[0]
    assert base == request_key(model, [Message.user("hi")], None, ModelSettings())[0]
    assert base != request_key(model, [Message.user("hi!")], None, None)[0]
    assert base != request_key(model, [Message.user("hi")], Part, None)[0]
    assert base != request_key(model, [Message.user("hi")], None,
                               ModelSettings(max_tokens=5))[0]
