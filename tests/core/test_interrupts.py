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
    assert [i.id for i in seen] == ["plan:1", "plan:1:2"]  # asked again, under its own id
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


def durable_go(store, journal, model):
    return asyncio.run(run("Tell me about owls", workers=[RESEARCHER, WRITER],
                           model=model.model, config=RunConfig(approve_plan=True),
                           journal=journal))


def test_with_nobody_to_ask_a_durable_run_waits_in_the_store_and_carries_on_once_answered(
        tmp_path):
    from delegate.durable.journal import Journal
    from delegate.durable.store import open_store

    store = open_store(str(tmp_path / "runs.db"))
    model = Model()
    first = durable_go(store, Journal.start(store), model)
    assert first.status == "waiting"
    assert [o.status for o in first.outcomes] == ["skipped"] * 3
    assert all("waiting for an answer to plan:1" in o.error for o in first.outcomes)
    assert model.tasks == []
    run_id = first.run_id
    record = store.get_run(run_id)
    assert record.status == "waiting" and record.owner is None  # nobody holds it
    [pending] = store.interrupts(run_id, status="pending")
    assert pending["interrupt_id"] == "plan:1" and pending["kind"] == "plan_approval"
    assert [t["id"] for t in pending["payload"]["plan"]["tasks"]] == ["t1", "t2", "t3"]
    planning_calls = len(model.model.calls)

    store.answer_interrupt(run_id, "plan:1", {"action": "approve"}, by="ana")
    again = durable_go(store, Journal.resume(store, run_id), model)
    assert again.status == "succeeded" and again.run_id == run_id
    assert len(model.model.calls) - planning_calls == 4  # the workers and the synthesis only
    assert store.get_run(run_id).status == "succeeded"


def test_a_stored_edit_the_run_cannot_take_is_refused_and_asked_again(tmp_path):
    from delegate.core.interrupts import check_answer
    from delegate.durable.journal import Journal
    from delegate.durable.store import open_store

    store = open_store(str(tmp_path / "runs.db"))
    model = Model()
    run_id = durable_go(store, Journal.start(store), model).run_id
    pending = store.get_interrupt(run_id, "plan:1")
    poet = {"action": "edit", "plan": {"tasks": [{"id": "a", "worker": "poet"}]}}
    with pytest.raises(UsageError, match="unknown worker 'poet'"):
        check_answer(pending, poet)  # the question carries the run's workers and limits
    with pytest.raises(UsageError) as caught:  # every problem at once
        check_answer(pending, {"action": "edit", "plan": {"tasks": [
            {"id": "a", "worker": "wizard"}, {"id": "b", "worker": "w", "depends_on": ["b"]}]}})
    assert "unknown worker 'wizard'" in str(caught.value)
    assert "'b' depends on itself" in str(caught.value)
    with pytest.raises(UsageError, match="cycle"):
        check_answer(pending, {"action": "edit", "plan": {"tasks": [
            {"id": "a", "worker": "w", "depends_on": ["b"]},
            {"id": "b", "worker": "w", "depends_on": ["a"]}]}})
    store.answer_interrupt(run_id, "plan:1", poet, by="ana")  # stored past the check
    again = durable_go(store, Journal.resume(store, run_id), model)
    assert again.status == "waiting" and model.tasks == []
    asked = store.get_interrupt(run_id, "plan:1:2")
    assert asked["status"] == "pending" and "unknown worker 'poet'" in asked["payload"]["error"]


@pytest.mark.parametrize(("rule", "status"), [("reject", "cancelled"),
                                              ("approve", "succeeded")])
def test_a_deadline_with_no_answer_applies_its_rule(rule, status):
    async def never(interrupt):
        assert interrupt.on_timeout == rule and interrupt.deadline is not None
        await asyncio.Event().wait()

    log = EventLog()
    result = asyncio.run(run(
        "Owls", workers=[RESEARCHER, WRITER], model=Model().model, on_interrupt=never,
        subscribers=[log], config=RunConfig(approve_plan=True, approval_timeout=0.01,
                                            on_approval_timeout=rule)))
    assert result.status == status
    assert log.of(InterruptAnswered)[0].by == "deadline"


def test_a_deadline_that_fails_fails_the_run_with_one_finish():
    from delegate.errors import RunError

    async def never(interrupt):
        await asyncio.Event().wait()

    log = EventLog()
    with pytest.raises(RunError, match="not answered before its deadline"):
        asyncio.run(run("Owls", workers=[RESEARCHER, WRITER], model=Model().model,
                        on_interrupt=never, subscribers=[log],
                        config=RunConfig(approve_plan=True, approval_timeout=0.01,
                                         on_approval_timeout="fail")))
    assert [e.kind for e in log.events].count("RunFinished") == 1
    with pytest.raises(UsageError, match="approval_timeout"):
        RunConfig(approval_timeout=-1)


def test_a_stored_question_past_its_deadline_is_settled_by_its_rule_when_carried_on(tmp_path):
    import time

    from delegate.durable.journal import Journal
    from delegate.durable.store import open_store

    store = open_store(str(tmp_path / "runs.db"))
    config = RunConfig(approve_plan=True, approval_timeout=0.05, on_approval_timeout="reject")

    def go(journal):
        return asyncio.run(run("Owls", workers=[RESEARCHER, WRITER], model=Model().model,
                               config=config, journal=journal))

    first = go(Journal.start(store))
    assert first.status == "waiting"
    assert store.get_interrupt(first.run_id, "plan:1")["deadline"] is not None
    time.sleep(0.1)  # nobody answers before the deadline
    again = go(Journal.resume(store, first.run_id))
    assert again.status == "cancelled"
    record = store.get_interrupt(first.run_id, "plan:1")
    assert record["status"] == "expired" and record["answered_by"] == "deadline"
