"""A run's usage split by purpose: the reviewer's verdicts and the rewrites they asked for are
counted apart from the tasks' own work, the parts add up to the run's usage, and the end
summary shows what reviewing cost."""

import asyncio
import dataclasses

import pytest

from delegate import Plan, Reviewer, Rubric, ScriptedModel, Task, Worker, run
from delegate.durable.journal import Journal
from delegate.durable.store.memory import MemoryStore
from delegate.limits.pricing import Price, PriceTable
from delegate.llm import ScriptedCall
from delegate.llm.base import ModelResponse, Usage, WrapperModel
from delegate.llm.scripted import Scripted
from delegate.observe.progress_lines import summary_rows
from delegate.runtime import Runtime

PLAN = Plan(tasks=(
    Task(id="intro", worker="writer", instruction="Write the introduction."),
    Task(id="body", worker="writer", instruction="Write the body.", depends_on=("intro",)),
))
RUBRIC = Rubric(criteria=("coverage", "tone"), pass_mark=3)
WRITER = Worker("writer", "writes", "You write.")
# tokens (in, out) each kind of call is scripted to use, distinct so a call counted under the
# wrong purpose changes the figures
TOKENS = {"task": (20, 5), "review": (100, 10), "revision": (40, 9), "synthesis": (60, 30)}


class Timed(WrapperModel):
    """Gives each answer a latency of a hundredth of a second per completion token."""

    async def request(self, messages, *, output=None, settings=None) -> ModelResponse:
        response = await self.wrapped.request(messages, output=output, settings=settings)
        usage = dataclasses.replace(response.usage,
                                    latency_seconds=response.usage.completion_tokens / 100)
        return dataclasses.replace(response, usage=usage)


def scripted():
    """Writers answer with their task and draft number; the reviewer sends ``body`` back once;
    ``answered`` counts the calls of each kind the model answered."""
    answered = {kind: 0 for kind in TOKENS}
    drafts: dict[str, int] = {}

    def answer(call: ScriptedCall):
        if call.last_user.startswith("Objective:") and "Results:" in call.last_user:
            kind, value = "synthesis", "The whole essay."
        elif call.output is not None and "coverage" in call.output.get("properties", {}):
            task_id = next(t.id for t in PLAN.tasks if t.instruction in call.last_user)
            failing = task_id == "body" and answered["revision"] == 0
            kind, value = "review", ({"coverage": 2, "tone": 4, "notes": "body is thin"}
                                     if failing else {"coverage": 4, "tone": 4, "notes": "ok"})
        else:
            task_id = next(t.id for t in PLAN.tasks if t.instruction in call.last_user)
            drafts[task_id] = drafts.get(task_id, 0) + 1
            kind = "task" if drafts[task_id] == 1 else "revision"
            value = f"{task_id} draft {drafts[task_id]}"
        answered[kind] += 1
        return Scripted(value, *TOKENS[kind])

    return Timed(ScriptedModel(function=answer)), answered


def go(model, **options):
    async def main():
        async with Runtime(prices=PriceTable({"scripted": Price(input=2.0, output=10.0)})):
            return await run("A short essay", workers=[WRITER], model=model, plan=PLAN,
                             reviewer=Reviewer(RUBRIC, max_rounds=2), **options)
    return asyncio.run(main())


def total(parts) -> Usage:
    whole = Usage()
    for part in parts:
        whole += part
    return whole


def test_review_and_revision_calls_are_counted_apart_from_the_tasks():
    model, answered = scripted()
    result = go(model)
    assert answered == {"task": 2, "review": 3, "revision": 1, "synthesis": 1}
    by = result.usage_by_purpose
    assert {p: u.model_calls for p, u in by.items()} == answered
    for purpose, (tokens_in, tokens_out) in TOKENS.items():
        calls = answered[purpose]
        assert (by[purpose].prompt_tokens, by[purpose].completion_tokens) == (
            calls * tokens_in, calls * tokens_out)
        assert by[purpose].latency_seconds == pytest.approx(calls * tokens_out / 100)
        assert by[purpose].cost_usd == pytest.approx(calls * (tokens_in * 2 + tokens_out * 10)
                                                     / 1e6)


def test_the_parts_add_up_to_the_runs_usage_and_reach_the_json():
    model, _ = scripted()
    result = go(model)
    whole = total(result.usage_by_purpose.values())
    assert whole.as_dict() == result.usage.as_dict()
    assert whole.latency_seconds == pytest.approx(result.usage.latency_seconds)
    data = result.to_dict()["usage_by_purpose"]
    assert data["review"]["model_calls"] == 3 and data["revision"]["model_calls"] == 1
    assert data["revision"]["latency_seconds"] == pytest.approx(0.09)
    assert sum(p["model_calls"] for p in data.values()) == result.usage.model_calls


def test_the_summary_shows_what_reviewing_cost():
    model, _ = scripted()
    rows = dict(summary_rows(go(model)))
    # 3 verdicts of 110 tokens and 1 rewrite of 49; 0.1 s per verdict and 0.09 s for the rewrite
    assert rows["review"] == "4 calls (3 verdicts + 1 rewrites), 379 tokens, 0.4s"


def test_a_run_without_a_reviewer_has_no_review_cost():
    model, answered = scripted()

    async def main():
        return await run("A short essay", workers=[WRITER], model=model, plan=PLAN)
    result = asyncio.run(main())
    assert {p: u.model_calls for p, u in result.usage_by_purpose.items()} == {
        "task": 2, "synthesis": 1}
    assert "review" not in dict(summary_rows(result))
    assert answered["review"] == 0


def test_a_durable_run_stores_the_split_and_each_calls_purpose():
    store = MemoryStore()
    model, _ = scripted()
    result = go(model, journal=Journal.start(store))
    purposes = [c.purpose for c in store.model_calls(result.run_id)]
    assert sorted(set(purposes)) == ["review", "revision", "synthesis", "task"]
    assert purposes.count("revision") == 1 and purposes.count("task") == 2
    stored = store.get_run(result.run_id).result
    assert stored["usage_by_purpose"]["revision"]["model_calls"] == 1
    assert stored["usage_by_purpose"]["review"]["model_calls"] == 3


def test_a_result_built_without_a_meter_has_an_empty_split():
    from delegate.core.outcomes import RunResult

    bare = RunResult("r", PLAN, (), "failed")
    assert bare.usage_by_purpose == {} and bare.to_dict()["usage_by_purpose"] == {}
    assert "review" not in dict(summary_rows(bare))


def test_a_run_answered_from_the_store_splits_its_cache_hits_by_purpose_too():
    store = MemoryStore()
    first, _ = scripted()
    go(first, journal=Journal.start(store))
    again, answered = scripted()
    result = go(again, journal=Journal.start(store))  # every request answered before
    assert sum(answered.values()) == 0 and result.usage.model_calls == 0
    by = result.usage_by_purpose
    assert {p: (u.cache_hits, u.model_calls) for p, u in by.items()} == {
        "task": (2, 0), "review": (3, 0), "revision": (1, 0), "synthesis": (1, 0)}
    assert total(by.values()).as_dict() == result.usage.as_dict()
    assert "review" not in dict(summary_rows(result))  # nothing was paid for reviewing
