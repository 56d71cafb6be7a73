"""Dynamic and hybrid strategies: plans grow in versions, with what changed and why."""

import asyncio

from delegate import EventLog, ScriptedModel, Worker, run
from delegate.core.events import PlanCreated, TaskEnded
from delegate.core.strategies import extension_schema, new_task_ids
from delegate.errors import ModelRequestError
from delegate.llm import ScriptedCall

WORKERS = [Worker("researcher", "finds facts", "research"), Worker("writer", "writes", "write")]
V1 = {"tasks": [
    {"id": "t1", "worker": "researcher", "instruction": "dig", "depends_on": []},
    {"id": "t2", "worker": "writer", "instruction": "draft", "depends_on": ["t1"]},
]}


def planner(extensions, fail=()):
    """Plan v1, then answer extension requests from ``extensions`` in order; workers answer
    with their instruction, failing permanently for instructions in ``fail``."""
    steps = iter(extensions)
    ran: list[str] = []

    def answer(call: ScriptedCall):
        title = (call.output or {}).get("title") if isinstance(call.output, dict) else None
        if title == "Plan":
            return V1
        if title == "PlanExtension":
            return next(steps)
        instruction = call.last_user.split("Your task: ", 1)[-1].split("\n", 1)[0]
        if "Objective:" in call.last_user and "Your task:" not in call.last_user:
            return "final answer"
        ran.append(instruction)
        if instruction in fail:
            return ModelRequestError(f"{instruction} refused", status=400)
        return f"done: {instruction}"

    return ScriptedModel(function=answer), ran


def go(model, strategy, **kw):
    events = EventLog()
    result = asyncio.run(run("Write about owls", workers=WORKERS, model=model,
                             strategy=strategy, subscribers=[events], **kw))
    return result, events


def test_dynamic_adds_tasks_that_build_on_results_and_records_versions():
    more = {"reason": "the draft needs a fact check", "tasks": [
        {"id": "t3", "worker": "researcher", "instruction": "check facts",
         "depends_on": ["t2"]}]}
    model, ran = planner([more, {"reason": "complete", "tasks": []}])
    result, events = go(model, "dynamic")
    assert ran == ["dig", "draft", "check facts"]  # earlier tasks did not run again
    assert result.plan.version == 2 and [t.id for t in result.plan.tasks] == ["t1", "t2", "t3"]
    versions = [(v.version, v.change, v.reason) for v in result.plan_versions]
    assert versions == [(1, "initial plan", "from model"),
                        (2, "added t3", "the draft needs a fact check")]
    check = next(c for c in model.calls if "Your task: check facts" in c.last_user)
    assert "done: draft" in check.last_user  # it received the result it depends on
    assert [e.plan.version for e in events.of(PlanCreated)] == [1, 2]
    assert sorted(e.task_id for e in events.of(TaskEnded)) == ["t1", "t2", "t3"]
    assert "plan v2 kept: complete" in result.notes
    assert result.to_dict()["plan_versions"][1]["tasks"] == ["t1", "t2", "t3"]


def test_added_tasks_that_repeat_work_are_left_out_and_a_round_of_only_repeats_ends_it():
    more = {"reason": "more", "tasks": [
        {"id": "t3", "worker": "writer", "instruction": "Draft.", "depends_on": []},
        {"id": "t4", "worker": "writer", "instruction": "write about  OWLS", "depends_on": []},
        {"id": "t5", "worker": "researcher", "instruction": "check facts",
         "depends_on": ["t3"]}]}
    again = {"reason": "more", "tasks": [
        {"id": "t4", "worker": "researcher", "instruction": "Check facts.", "depends_on": []}]}
    model, ran = planner([more, again])
    result, _ = go(model, "dynamic")
    assert ran == ["dig", "draft", "check facts"]  # no work done twice
    assert [(t.id, t.depends_on) for t in result.plan.tasks] == [
        ("t1", ()), ("t2", ("t1",)), ("t5", ("t2",))]  # t5 waits for the draft t3 repeated
    (_, added) = result.plan_versions
    assert added.reason == ("more; left out as repeats: t3 repeated t2, t4 only restated the "
                            "objective")
    assert ("plan v2 kept: the model only repeated work the plan has (left out as repeats: "
            "t4 repeated t5)") in result.notes


def test_dynamic_rounds_are_bounded():
    def more(n):
        return {"reason": "more", "tasks": [
            {"id": f"t{n}", "worker": "writer", "instruction": f"extra {n}", "depends_on": []}]}

    model, ran = planner([more(3), more(4), more(5)])
    result, _ = go(model, "dynamic", max_replans=2)
    assert result.plan.version == 3 and ran[-2:] == ["extra 3", "extra 4"]


def test_hybrid_replans_only_after_a_failure():
    model, _ = planner([])
    result, _ = go(model, "hybrid")
    assert result.plan.version == 1 and result.plan_versions == ()
    assert not any(isinstance(c.output, dict) and c.output.get("title") == "PlanExtension"
                   for c in model.calls)


def test_hybrid_makes_up_for_a_failed_task_and_keeps_its_failure_on_record():
    recover = {"reason": "research another way", "tasks": [
        {"id": "t3", "worker": "researcher", "instruction": "dig elsewhere", "depends_on": []},
        {"id": "t4", "worker": "writer", "instruction": "draft again", "depends_on": ["t3"]}]}
    model, ran = planner([recover], fail=("dig",))
    result, _ = go(model, "hybrid")
    status = {o.task_id: o.status for o in result.outcomes}
    assert status == {"t1": "failed", "t2": "skipped", "t3": "succeeded", "t4": "succeeded"}
    assert ran == ["dig", "dig elsewhere", "draft again"]
    ask = next(c for c in model.calls
               if isinstance(c.output, dict) and c.output.get("title") == "PlanExtension")
    assert "to make up for: t1" in ask.last_user
    assert [v.change for v in result.plan_versions] == ["initial plan", "added t3, t4"]


def test_extension_schema_only_admits_well_formed_additions():
    schema = extension_schema(["a", "b"], ["t1"], new_task_ids({"t1", "t2"}, 2))
    shapes = schema["properties"]["tasks"]["anyOf"]
    assert shapes[0] == {"const": []}
    second = shapes[2]["prefixItems"][1]["properties"]
    assert second["id"] == {"const": "t4"}
    assert second["depends_on"]["items"]["enum"] == ["t1", "t3"]  # not the failed t2


def test_the_embedded_grammar_accepts_the_extension_schema():
    import json

    from llama_cpp.llama_grammar import json_schema_to_gbnf

    grammar = json_schema_to_gbnf(json.dumps(extension_schema(["a"], ["t1"], ["t2", "t3"])))
    assert "t3" in grammar


def test_hybrid_replans_when_the_reviewer_rejects_work_for_good():
    from delegate import Reviewer, Rubric

    recover = {"reason": "the draft was rejected", "tasks": [
        {"id": "t3", "worker": "writer", "instruction": "draft anew", "depends_on": ["t1"]}]}
    base, ran = planner([recover])

    def answer(call: ScriptedCall):
        if isinstance(call.output, dict) and call.output.get("title") == "Verdict":
            bad = "Task (writer): draft\n" in call.last_user
            return {"coverage": 1 if bad else 5, "notes": "off topic" if bad else "fine"}
        return base._function(call)

    result, _ = go(ScriptedModel(function=answer), "hybrid",
                   reviewer=Reviewer(Rubric(criteria=("coverage",)), max_rounds=0))
    assert ran == ["dig", "draft", "draft anew"]
    assert [v.change for v in result.plan_versions] == ["initial plan", "added t3"]
    assert [(r.task_id, r.passed) for r in result.reviews] == [("t1", True), ("t2", False)]


MORE = {"reason": "the draft needs a fact check", "tasks": [
    {"id": "t3", "worker": "researcher", "instruction": "check facts", "depends_on": ["t2"]}]}


def test_approve_extensions_asks_before_a_grown_plan_runs_and_a_rejection_keeps_the_plan():
    from delegate import RunConfig

    model, ran = planner([MORE, {"reason": "complete", "tasks": []}])
    asked = []

    async def reject(interrupt):
        asked.append(interrupt)
        assert ran == ["dig", "draft"]  # the first version ran; the new task waits
        return {"action": "reject", "reason": "enough", "by": "ana"}

    events = EventLog()
    result = asyncio.run(run("Write about owls", workers=WORKERS, model=model,
                             config=RunConfig(strategy="dynamic", approve_extensions=True),
                             on_interrupt=reject, subscribers=[events]))
    assert [i.id for i in asked] == ["plan:2"]
    assert [t["id"] for t in asked[0].payload["plan"]["tasks"]] == ["t1", "t2", "t3"]
    assert ran == ["dig", "draft"] and result.plan.version == 1
    assert result.status == "succeeded"
    assert "plan v2 rejected by ana: enough" in result.notes


def test_an_approved_extension_runs_and_a_durable_one_waits(tmp_path):
    from delegate import RunConfig
    from delegate.durable.journal import Journal
    from delegate.durable.store import open_store

    model, ran = planner([MORE, {"reason": "complete", "tasks": []}])

    async def approve(interrupt):
        return {"action": "approve"}

    config = RunConfig(strategy="dynamic", approve_extensions=True)
    result = asyncio.run(run("Write about owls", workers=WORKERS, model=model, config=config,
                             on_interrupt=approve))
    assert ran == ["dig", "draft", "check facts"] and result.plan.version == 2

    store = open_store(str(tmp_path / "runs.db"))
    model, ran = planner([MORE, {"reason": "complete", "tasks": []}])
    first = asyncio.run(run("Write about owls", workers=WORKERS, model=model, config=config,
                            journal=Journal.start(store)))
    assert first.status == "waiting" and ran == ["dig", "draft"]
    assert store.get_interrupt(first.run_id, "plan:2")["status"] == "pending"
    store.answer_interrupt(first.run_id, "plan:2", {"action": "approve"}, by="ana")
    model, ran = planner([MORE, {"reason": "complete", "tasks": []}])
    again = asyncio.run(run("Write about owls", workers=WORKERS, model=model, config=config,
                            journal=Journal.resume(store, first.run_id)))
    assert again.status == "succeeded" and again.plan.version == 2
    assert ran == ["check facts"]  # dig and draft restored from the store, not run again


def test_an_extension_can_be_edited_but_not_the_tasks_that_ran():
    from delegate import RunConfig

    model, ran = planner([MORE, {"reason": "complete", "tasks": []}])
    seen = []

    async def edit(interrupt):
        seen.append(interrupt)
        tasks = interrupt.payload["plan"]["tasks"]
        if len(seen) == 1:  # rewrites a task that already ran: refused
            return {"action": "edit", "plan": {"tasks": [
                {**tasks[0], "instruction": "dig deeper"}, *tasks[1:]]}}
        return {"action": "edit", "by": "ana", "plan": {"tasks": [
            *tasks[:2], {"id": "t3", "worker": "writer", "instruction": "polish",
                         "depends_on": ["t2"]}]}}

    events = EventLog()
    result = asyncio.run(run("Write about owls", workers=WORKERS, model=model,
                             config=RunConfig(strategy="dynamic", approve_extensions=True),
                             on_interrupt=edit, subscribers=[events]))
    assert "keeps the tasks that already ran as they were: t1" in seen[1].error
    assert ran == ["dig", "draft", "polish"] and result.plan.version == 2
    assert [(e.plan.version, e.source) for e in events.of(PlanCreated)] == [
        (1, "model"), (2, "human")]
