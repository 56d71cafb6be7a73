"""The general workflow's planner: a critic with no draft to review is left out."""

import asyncio

from delegate import Plan, RetryPolicy, RunConfig, ScriptedModel, Task
from delegate.apps.general import GeneralOrchestrator, run_general
from delegate.core.events import EventLog, PlanCreated

WROTE = {"tasks": [
    {"id": "t1", "worker": "researcher", "instruction": "Find facts about owls.",
     "depends_on": []},
    {"id": "t2", "worker": "critic", "instruction": "Review the guide.", "depends_on": []},
    {"id": "t3", "worker": "writer", "instruction": "Write the guide.", "depends_on": ["t1"]},
    {"id": "t4", "worker": "critic", "instruction": "Check the draft.", "depends_on": ["t3"]},
]}


def test_a_critic_with_nothing_to_review_is_left_out_and_the_report_says_so():
    model = ScriptedModel([WROTE, "owls hunt at night", "A guide to owls.", "Add a source.",
                           "Owls hunt at night."])
    events = EventLog()
    result = asyncio.run(run_general("a short guide to owls", model=model,
                                     subscribers=[events]))
    assert [t.id for t in result.plan.tasks] == ["t1", "t3", "t4"]  # t4 reviews t3: kept
    assert result.outputs == {"t1": "owls hunt at night", "t3": "A guide to owls.",
                              "t4": "Add a source."}
    assert len(model.calls) == 5  # plan, three tasks, synthesis: t2 never ran
    assert "t2 (critic) had no draft to review and was left out" in result.planning.reason
    (created,) = events.of(PlanCreated)
    assert created.reason == result.planning.reason


def test_a_plan_of_critics_alone_is_kept_and_repeats_are_still_merged():
    orchestrator = GeneralOrchestrator()
    alone = Plan(tasks=(Task(id="c", worker="critic", instruction="Review it."),))
    assert orchestrator.tidy(alone) == (alone, [])
    repeated = Plan(tasks=(
        Task(id="a", worker="writer", instruction="Write it."),
        Task(id="b", worker="writer", instruction="write it."),
        Task(id="c", worker="critic", instruction="Review it.", depends_on=("b",)),
    ))
    tidy, notes = orchestrator.tidy(repeated)
    assert [(t.id, t.depends_on) for t in tidy.tasks] == [("a", ()), ("c", ("a",))]
    assert notes == ["b repeated a (same worker and instruction) and was merged into it"]


def test_the_planner_is_asked_for_one_task_per_worker_at_most():
    model = ScriptedModel([WROTE, "owls hunt at night", "A guide to owls.", "Add a source.",
                           "Owls hunt at night."])
    asyncio.run(run_general("a short guide to owls", model=model))
    planning = model.calls[0]
    assert "at most 4 tasks" in planning.messages[0].content
    lengths = [option["minItems"] for option in planning.output["properties"]["tasks"]["anyOf"]]
    assert max(lengths) == 4  # the four general workers; a fifth task could only repeat one


ANSWERS = [WROTE, "owls hunt at night", "A guide to owls.", "Add a source."]
NO_WAIT = RunConfig(retry=RetryPolicy(max_attempts=2, base_delay=0, jitter=0))


def test_an_answer_of_only_the_prompts_labels_is_asked_again():
    model = ScriptedModel([*ANSWERS, "### t2 (critic)", "Owls hunt at night, mostly."])
    result = asyncio.run(run_general("a short guide to owls", model=model, config=NO_WAIT))
    assert result.text == "Owls hunt at night, mostly." and result.status == "succeeded"


def test_when_it_stays_labels_the_answer_is_the_completed_work_and_says_so():
    model = ScriptedModel([*ANSWERS, "### t2 (critic)", "### t4 (critic)\nBest regards,"])
    result = asyncio.run(run_general("a short guide to owls", model=model, config=NO_WAIT))
    assert result.status == "partial"  # not passed off as a written answer
    assert result.text.startswith('The answer to "a short guide to owls" was not written by '
                                  "a model: synthesis failed: IncompleteResponseError")
    assert "A guide to owls." in result.text and "owls hunt at night" in result.text
    assert "### t2 (critic)" not in result.text.splitlines()
    assert any("assembled without a model" in note for note in result.notes)
