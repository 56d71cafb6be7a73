"""Planning: the repair path and the open fallback."""

import asyncio
import json

import pytest

from delegate import (
    EventLog,
    Orchestrator,
    Plan,
    PlanningError,
    ScriptedModel,
    Task,
    Worker,
    WorkerRegistry,
    run,
)
from delegate.core.events import PlanCreated

WORKERS = WorkerRegistry([
    Worker("researcher", "finds facts", "research"),
    Worker("writer", "writes", "write"),
])

CYCLIC = {"tasks": [
    {"id": "t1", "worker": "researcher", "instruction": "dig", "depends_on": ["t2"]},
    {"id": "t2", "worker": "writer", "instruction": "write", "depends_on": ["t1"]},
]}
UNKNOWN_WORKER = {"tasks": [
    {"id": "t1", "worker": "painter", "instruction": "paint", "depends_on": []},
]}
VALID = {"tasks": [
    {"id": "t1", "worker": "researcher", "instruction": "dig", "depends_on": []},
    {"id": "t2", "worker": "writer", "instruction": "write", "depends_on": ["t1"]},
]}
FALLBACK = Plan(tasks=(Task(id="only", worker="writer", instruction="write it all"),))


def test_cyclic_then_unknown_worker_then_valid_plan_runs_the_valid_plan():
    model = ScriptedModel([CYCLIC, UNKNOWN_WORKER, VALID, "dug", "written", "final answer"])
    events = EventLog()
    result = asyncio.run(run("write about owls", workers=WORKERS, model=model,
                             fallback_plan=FALLBACK, subscribers=[events]))
    assert result.planning.source == "repaired" and result.planning.repairs == 2
    assert [t.id for t in result.plan.tasks] == ["t1", "t2"]
    assert result.outputs == {"t1": "dug", "t2": "written"}
    assert result.text == "final answer"
    # each repair sent the problems back to the model
    second, third = model.calls[1].last_user, model.calls[2].last_user
    assert ("dependency cycle: t1 -> t2 -> t1" in second
            or "dependency cycle: t2 -> t1 -> t2" in second)
    assert "painter" in third
    (created,) = events.of(PlanCreated)
    assert created.source == "repaired"


def test_planning_schema_allows_only_registered_workers_and_earlier_dependencies():
    model = ScriptedModel([VALID])
    plan, report = asyncio.run(Orchestrator(max_plan_tasks=3).plan("x", WORKERS, model))
    assert report.source == "model" and plan.tasks[1].depends_on == ("t1",)
    schema = model.calls[0].output
    shapes = schema["properties"]["tasks"]["anyOf"]
    assert [len(s["prefixItems"]) for s in shapes] == [1, 2, 3]
    third = shapes[2]["prefixItems"][2]["properties"]
    assert third["worker"]["enum"] == ["researcher", "writer"]
    assert third["id"] == {"const": "t3"}
    assert third["depends_on"]["items"]["enum"] == ["t1", "t2"]
    assert shapes[2]["prefixItems"][0]["properties"]["depends_on"] == {"const": []}


def test_the_embedded_grammar_accepts_the_planning_schema():
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    from delegate.core.orchestrator import draft_schema

    grammar = json_schema_to_gbnf(json.dumps(draft_schema(["researcher", "writer"], 5)))
    assert '\\"t5\\"' in grammar and "researcher" in grammar


def test_a_model_that_never_plans_validly_runs_the_fallback_and_says_so():
    model = ScriptedModel([CYCLIC, CYCLIC, CYCLIC, "everything", "final"])
    events = EventLog()
    result = asyncio.run(run("write", workers=WORKERS, model=model, fallback_plan=FALLBACK,
                             subscribers=[events]))
    assert result.planning.source == "fallback_plan"
    assert "no valid plan after 2 repairs" in result.planning.reason
    assert "dependency cycle" in result.planning.reason
    assert [t.id for t in result.plan.tasks] == ["only"]
    assert result.outcome("only").output == "everything"
    assert result.to_dict()["planning"]["source"] == "fallback_plan"
    assert events.of(PlanCreated)[0].reason == result.planning.reason


def test_no_fallback_means_a_planning_error():
    model = ScriptedModel(["not json at all"] * 3)
    with pytest.raises(PlanningError, match="not valid JSON"):
        asyncio.run(Orchestrator().plan("x", WORKERS, model))
    assert len(model.calls) == 3


def test_repairs_are_bounded_by_max_repairs():
    model = ScriptedModel([CYCLIC] * 5)
    with pytest.raises(PlanningError):
        asyncio.run(Orchestrator(max_repairs=4).plan("x", WORKERS, model))
    assert len(model.calls) == 5


def test_a_plan_of_placeholder_instructions_is_sent_back_then_falls_back():
    empty = {"tasks": [
        {"id": "t1", "worker": "researcher", "instruction": "...", "depends_on": []},
        {"id": "t2", "worker": "writer", "instruction": "-", "depends_on": ["t1"]}]}
    model = ScriptedModel([empty, empty, empty, "dug", "written", "final answer"])
    result = asyncio.run(run("write about owls", workers=WORKERS, model=model,
                             fallback_plan=FALLBACK))
    repair = model.calls[1].last_user
    assert "task t1: the instruction '...' says nothing" in repair
    assert "task t2: the instruction '-' says nothing" in repair
    assert result.planning.source == "fallback_plan"
    assert "says nothing" in result.planning.reason
    assert all(t.instruction != "..." for t in result.plan.tasks)


REPEATS = {"tasks": [
    {"id": "t1", "worker": "researcher", "instruction": "Plan a walking trip.", "depends_on": []},
    {"id": "t2", "worker": "writer", "instruction": "Plan a walking trip.", "depends_on": []},
    {"id": "t3", "worker": "writer", "instruction": "plan a  walking trip.", "depends_on": ["t1"]},
    {"id": "t4", "worker": "researcher", "instruction": "Plan a walking trip.", "depends_on": []},
    {"id": "t5", "worker": "writer", "instruction": "Polish it.", "depends_on": ["t3", "t4"]},
]}


def test_a_task_that_repeats_another_is_merged_into_it_and_the_plan_says_so():
    model = ScriptedModel([REPEATS, "facts", "trip", "polished", "final answer"])
    events = EventLog()
    result = asyncio.run(run("plan a trip", workers=WORKERS, model=model,
                             subscribers=[events]))
    # t3 repeats t2 (same worker, instruction up to case and spacing), t4 repeats t1
    assert [t.id for t in result.plan.tasks] == ["t1", "t2", "t5"]
    # the kept task takes the repeats' dependencies; dependents point at the kept task
    assert result.plan.task("t2").depends_on == ("t1",)
    assert result.plan.task("t5").depends_on == ("t2", "t1")
    assert result.outputs == {"t1": "facts", "t2": "trip", "t5": "polished"}
    assert len(model.calls) == 5  # plan, three tasks, synthesis: the repeats never ran
    assert result.planning.source == "model"
    assert "t3 repeated t2" in result.planning.reason
    assert "t4 repeated t1" in result.planning.reason
    (created,) = events.of(PlanCreated)
    assert created.reason == result.planning.reason


def test_a_merge_that_would_close_a_cycle_leaves_the_plan_as_written():
    from delegate.core.plan import merge_repeated_tasks

    plan = Plan(tasks=(
        Task(id="a", worker="writer", instruction="draft"),
        Task(id="b", worker="researcher", instruction="check", depends_on=("a",)),
        Task(id="c", worker="writer", instruction="Draft", depends_on=("b",)),
    ))
    # merging c into a would make a depend on b, which depends on a
    assert merge_repeated_tasks(plan) == (plan, {})
    same, merged = merge_repeated_tasks(Plan(tasks=(
        Task(id="a", worker="writer", instruction=""),
        Task(id="b", worker="writer", instruction=""),
    )))
    assert merged == {} and len(same.tasks) == 2  # empty instructions are not repeats
