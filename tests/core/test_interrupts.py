"""Plan approval through ``run(..., config=RunConfig(approve_plan=True), on_interrupt=...)``:
approve, reject and edit on a scripted model; an edit that breaks the plan is refused with
the validator's message and nothing runs; a handler that fails or a cancelled wait ends the
run with one RunFinished."""

from __future__ import annotations

import asyncio

import pytest

from delegate import RunConfig, Worker, run
from delegate.core.events import EventLog, InterruptAnswered, InterruptRaised, PlanCreated
from delegate.errors import UsageError
from delegate.llm.scripted import ScriptedModel

RESEARCHER = Worker("researcher", "finds facts", "You find facts.")
WRITER = Worker("writer", "writes", "You write.")
PLAN = {"tasks": [  # as the planner's schema has it: ids t1, t2, ...
    {"id": "t1", "worker": "researcher", "instruction": "Find facts about owls.",
     "depends_on": []},
    {"id": "t2", "worker": "researcher", "instruction": "Find owls' habits.",
     "depends_on": []},
    {"id": "t3", "worker": "writer", "instruction": "Write a note.",
     "depends_on": ["t1", "t2"]},
]}


class Model:
    """Plans :data:`PLAN`, answers every other call in one line, and keeps those calls."""

    def __init__(self) -> None:
        self.tasks: list[str] = []

        def answer(call):
            if isinstance(call.output, dict):
                return PLAN
            self.tasks.append(call.last_user)  # a worker's call (or the synthesis)
            return "Owls hunt at night."

        self.model = ScriptedModel(function=answer)


def go(answers, *, model=None, log=None):
    """Run with plan approval, answering each interrupt with the next of ``answers`` (a
    value, or a function of the interrupt); return the result and the interrupts seen."""
    model = model or Model()
    seen = []
    answers = list(answers)

    async def ask(interrupt):
        seen.append(interrupt)
        step = answers.pop(0)
        return step(interrupt) if callable(step) else step

    result = asyncio.run(run("Tell me about owls", workers=[RESEARCHER, WRITER],
                             model=model.model, config=RunConfig(approve_plan=True),
                             on_interrupt=ask, subscribers=[log] if log else ()))
    return result, seen, model


def test_approve_runs_the_plan_after_one_question():
    log = EventLog()
    result, seen, model = go([{"action": "approve", "by": "ana"}], log=log)
    assert result.status == "succeeded"
    assert [i.id for i in seen] == ["plan:1"] and seen[0].kind == "plan_approval"
    assert [t["id"] for t in seen[0].payload["plan"]["tasks"]] == ["t1", "t2", "t3"]
    raised = log.of(InterruptRaised)
    answered = log.of(InterruptAnswered)
    assert len(raised) == 1 and answered[0].by == "ana"
    kinds = [e.kind for e in log.events]
    assert kinds.index("InterruptAnswered") < kinds.index("TaskStarted")
    assert [o.status for o in result.outcomes] == ["succeeded"] * 3
    assert len(model.tasks) == 4  # three workers and the synthesis, all after the answer


def test_reject_runs_nothing_and_ends_cancelled_with_the_reason():
    log = EventLog()
    result, _, model = go([{"action": "reject", "reason": "too broad", "by": "ana"}], log=log)
    assert result.status == "cancelled"
    assert [o.status for o in result.outcomes] == ["skipped"] * 3
    assert all("rejected by ana: too broad" in o.error for o in result.outcomes)
    assert any("too broad" in n for n in result.notes)
    assert model.tasks == []  # no worker was asked
    assert not [e for e in log.events if e.kind == "TaskStarted"]
    assert [e.kind for e in log.events].count("RunFinished") == 1
    assert [e.kind for e in log.events].count("TaskSkipped") == 3


def test_an_edit_becomes_plan_version_two_from_a_person_and_runs():
    edited = {"tasks": [
        {"id": "facts", "worker": "researcher", "instruction": "Find facts about owls."},
        {"id": "note", "worker": "writer", "instruction": "Write a short note.",
         "depends_on": ["facts"]},
    ]}
    log = EventLog()
    result, _, _ = go([{"action": "edit", "plan": edited, "reason": "less work",
                        "by": "ana"}], log=log)
    assert result.status == "succeeded"
    assert result.plan.version == 2 and result.plan.ids == ("facts", "note")
    created = log.of(PlanCreated)
    assert [(p.plan.version, p.source) for p in created] == [(1, "model"), (2, "human")]
    assert created[-1].reason == "edited by ana: less work"
    started = [e.task_id for e in log.events if e.kind == "TaskStarted"]
    assert sorted(started) == ["facts", "note"]


@pytest.mark.parametrize(("tasks", "message"), [
    ([{"id": "a", "worker": "researcher", "depends_on": ["b"]},
      {"id": "b", "worker": "researcher", "depends_on": ["a"]}], "cycle"),
    ([{"id": "a", "worker": "poet"}], "unknown worker 'poet'"),
    ([{"id": "a", "worker": "researcher", "depends_on": ["ghost"]}], "unknown task 'ghost'"),
    ([], "no tasks"),
    ([{"id": "a b", "worker": "researcher"}], "tasks.0.id"),
])
def test_a_broken_edit_is_refused_with_the_validators_message_and_nothing_runs(tasks, message):
    def check_then_approve(interrupt):
        assert message in interrupt.error  # the refusal goes back with the question
        assert model.tasks == []  # nothing ran on the broken plan
        return {"action": "approve"}

    model = Model()
    result, seen, _ = go([{"action": "edit", "plan": {"tasks": tasks}}, check_then_approve],
                         model=model)
    assert [i.id for i in seen] == ["plan:1", "plan:1"]
    assert result.status == "succeeded" and result.plan.version == 1
    assert any("answer was refused" in n and message in n for n in result.notes)


def test_answers_refused_again_and_again_end_the_run_with_one_line():
    with pytest.raises(UsageError, match="answers to the plan's approval were refused"):
        go([{"action": "maybe"}] * 5)


def test_approval_without_anyone_to_ask_is_refused_before_anything_runs():
    model = Model()
    with pytest.raises(UsageError, match="on_interrupt"):
        asyncio.run(run("Owls", workers=[RESEARCHER, WRITER], model=model.model,
                        config=RunConfig(approve_plan=True)))
    assert model.model.calls == []


def test_a_handler_that_fails_ends_the_run_with_one_finish():
    def boom(interrupt):
        raise RuntimeError("the form crashed")

    log = EventLog()
    with pytest.raises(RuntimeError, match="the form crashed"):
        go([boom], log=log)
    kinds = [e.kind for e in log.events]
    assert kinds.count("RunFinished") == 1 and "TaskStarted" not in kinds


def test_a_run_cancelled_while_it_waits_for_approval_ends_with_one_finish():
    log = EventLog()
    waiting = asyncio.Event()

    async def never(interrupt):
        waiting.set()
        await asyncio.Event().wait()

    async def main():
        job = asyncio.ensure_future(run(
            "Owls", workers=[RESEARCHER, WRITER], model=Model().model,
            config=RunConfig(approve_plan=True), on_interrupt=never, subscribers=[log]))
        await waiting.wait()
        job.cancel()
        with pytest.raises(asyncio.CancelledError):
            await job

    asyncio.run(main())
    kinds = [e.kind for e in log.events]
    assert kinds.count("RunFinished") == 1 and "TaskStarted" not in kinds


def test_a_journaled_run_stores_the_question_the_answer_and_the_persons_plan():
    from delegate.durable.journal import Journal
    from delegate.durable.store.memory import MemoryStore

    store = MemoryStore()
    journal = Journal.start(store)
    edited = {"tasks": [{"id": "a", "worker": "writer", "instruction": "Write."}]}

    async def ask(interrupt):
        return {"action": "edit", "plan": edited, "by": "ana", "reason": "one task"}

    result = asyncio.run(run("Owls", workers=[RESEARCHER, WRITER], model=Model().model,
                             config=RunConfig(approve_plan=True), on_interrupt=ask,
                             journal=journal))
    assert result.status == "succeeded"
    events = {e["kind"]: e["data"] for e in store.events(journal.run_id)}
    raised = events["InterruptRaised"]["interrupt"]
    assert raised["id"] == "plan:1" and raised["kind"] == "plan_approval"
    assert raised["payload"]["plan"]["tasks"][0]["id"] == "t1"
    assert events["InterruptAnswered"]["answer"]["plan"] == edited
    versions = store.plan_versions(journal.run_id)
    assert [(v["version"], v["change"], v["reason"]) for v in versions] == [
        (1, "model", ""), (2, "human", "edited by ana: one task")]
