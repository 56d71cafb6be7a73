"""--approve-plan on every workflow: each asks before any worker starts; a rejection runs
nothing and ends the run cancelled, a workflow's own plan is approved or rejected (not
edited), and a durable run waits in the store."""

from __future__ import annotations

import asyncio

import pytest

from delegate import RunConfig
from delegate.apps.workflows import run_workflow
from delegate.llm.scripted import ScriptedModel

CASES = [("general", "Explain owls"), ("blog", "Owls at night"),
         ("report", "Owl sightings this year"), ("project", "Build an owl box in two weeks")]


def _run(name, objective, handler, **options):
    model = ScriptedModel()
    result = asyncio.run(run_workflow(name, objective, model=model, on_interrupt=handler,
                                      config=RunConfig(approve_plan=True), **options))
    return result, model


@pytest.mark.parametrize(("name", "objective"), CASES)
def test_every_workflow_asks_first_and_a_rejection_runs_nothing(name, objective):
    asked = []

    async def reject(interrupt):
        asked.append(interrupt)
        return {"action": "reject", "reason": "not now"}

    result, model = _run(name, objective, reject)
    assert [i.kind for i in asked] == ["plan_approval"]
    assert result.run.status == "cancelled"
    assert all(o.status == "skipped" for o in result.run.outcomes)
    planning = len(model.calls)
    assert planning == (0 if name != "general" else planning)  # only general plans by model
    assert "not now" in result.run.notes[-1]


@pytest.mark.parametrize(("name", "objective"), CASES[1:])
def test_a_refused_edit_is_asked_again_and_can_then_be_approved(name, objective):
    answers = [{"action": "edit", "plan": {"tasks": [{"id": "x", "worker": "w"}]}},
               {"action": "approve"}]
    seen = []

    async def handler(interrupt):
        seen.append(interrupt)
        return answers.pop(0)

    result, _ = _run(name, objective, handler)
    assert "unknown worker 'w'" in seen[1].error
    assert result.run.status != "cancelled" and result.run.plan.version >= 1
    assert any(o.status == "succeeded" for o in result.run.outcomes)


def test_recommend_asks_too():
    from delegate.apps.recommend.workflow import recommend

    async def reject(interrupt):
        return {"action": "reject", "reason": "no"}

    rec = asyncio.run(recommend("A rain jacket under $200", model=ScriptedModel(),
                                on_interrupt=reject, config=RunConfig(approve_plan=True)))
    assert rec.result.status == "cancelled"


@pytest.mark.parametrize(("name", "objective"), CASES)
def test_a_durable_run_of_any_workflow_waits_for_the_answer(name, objective, tmp_path):
    from delegate.durable.journal import Journal
    from delegate.durable.store import open_store

    store = open_store(str(tmp_path / "runs.db"))
    journal = Journal.start(store)
    result = asyncio.run(run_workflow(name, objective, model=ScriptedModel(), journal=journal,
                                      config=RunConfig(approve_plan=True)))
    assert result.run.status == "waiting"
    assert store.get_run(journal.run_id).status == "waiting"
    assert [r["kind"] for r in store.interrupts(journal.run_id)] == ["plan_approval"]


@pytest.mark.parametrize(("name", "objective"), CASES[1:])
def test_a_workflows_own_plan_takes_edited_instructions_but_keeps_its_shape(name, objective):
    seen = []

    async def handler(interrupt):
        seen.append(interrupt)
        plan = interrupt.payload["plan"]
        if len(seen) == 1:  # a structural edit: refused
            extra = {"id": "extra", "worker": plan["tasks"][0]["worker"]}
            return {"action": "edit", "plan": {"tasks": [*plan["tasks"][:1], extra]}}
        tasks = [{**t, "instruction": t["instruction"] + " Be brief."} for t in plan["tasks"]]
        return {"action": "edit", "plan": {"tasks": tasks}, "by": "ana"}

    result, model = _run(name, objective, handler)
    assert "only the instructions can be edited" in seen[1].error
    assert result.run.status != "cancelled"
    first = result.run.plan_versions or ()
    assert any("Be brief." in c.last_user for c in model.calls)  # the edit reached a worker
    assert first == () or first[1].change.startswith("edited")
