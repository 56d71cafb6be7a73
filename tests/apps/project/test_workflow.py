"""The project workflow: the model proposes a breakdown, the tools compute the timeline."""

import asyncio
import random

import jsonschema
import pytest

from delegate import ScriptedModel
from delegate.apps.project import tools as project_tools
from delegate.apps.project.tools import Resource, WorkItem
from delegate.apps.project.workflow import (
    DEFAULT_RESOURCES,
    ESTIMATES,
    EXAMPLE_DESCRIPTION,
    EXAMPLE_RESOURCES,
    ProjectPlan,
    breakdown_schema,
    run_project,
)
from delegate.errors import ModelRequestError, UsageError
from delegate.llm import ScriptedCall

REQUIREMENTS = {"requirements": ["Catalogue of 20 products", "Card payments",
                                 "EU shipping", "Launch campaign"]}
PHASES = {"phases": [{"name": "Build", "goal": "A working shop with products"},
                     {"name": "Launch", "goal": "Customers find and buy from the shop"}]}
# w1 -> w3 -> w4 -> w6 is 3 + 10 + 4 + 5 = 22 days; w1 -> w2 -> w5 -> w6 only 16.
BREAKDOWN = {"items": [
    {"id": "w1", "name": "Brand and shop design", "estimate_days": 3, "depends_on": [],
     "skill": "design"},
    {"id": "w2", "name": "Product photos", "estimate_days": 5, "depends_on": ["w1"],
     "skill": "photography"},
    {"id": "w3", "name": "Build the shop", "estimate_days": 10, "depends_on": ["w1"],
     "skill": "development"},
    {"id": "w4", "name": "Payments and shipping", "estimate_days": 4, "depends_on": ["w3"],
     "skill": "operations"},
    {"id": "w5", "name": "Product texts", "estimate_days": 3, "depends_on": ["w2"],
     "skill": "writing"},
    {"id": "w6", "name": "Launch campaign", "estimate_days": 5, "depends_on": ["w4", "w5"],
     "skill": "marketing"},
]}


def _title(call: ScriptedCall) -> str | None:
    if isinstance(call.output, type):
        return call.output.__name__
    return None if call.output is None else call.output.get("title")


def _scripted(breakdown=BREAKDOWN, summary="Six items; the shop opens after the campaign."):
    answers = {"Requirements": REQUIREMENTS, "Phases": PHASES, "Breakdown": breakdown,
               None: summary}
    return ScriptedModel(function=lambda call: answers[_title(call)])


def _go(model, **options):
    options.setdefault("resources", EXAMPLE_RESOURCES)
    return asyncio.run(run_project(EXAMPLE_DESCRIPTION, model=model, **options))


def _longest_chain(items: list[dict]) -> float:
    """The longest dependency chain of estimates, by plain recursion."""
    by_id = {i["id"]: i for i in items}

    def finish(tid: str) -> float:
        item = by_id[tid]
        return item["estimate_days"] + max((finish(d) for d in item["depends_on"]), default=0)

    return max(finish(tid) for tid in by_id)


def test_the_timeline_is_the_computed_critical_path():
    model = _scripted()
    result = _go(model)
    plan = result.data
    assert isinstance(plan, ProjectPlan) and result.run.status == "succeeded"
    items = [WorkItem.model_validate(i) for i in BREAKDOWN["items"]]
    assert plan.items == items
    expected = project_tools.critical_path(items).length_days
    assert plan.critical_path_days == expected == _longest_chain(BREAKDOWN["items"]) == 22
    assert plan.timeline["critical_path"]["path"] == ["w1", "w3", "w4", "w6"]
    # Mia works at 0.8: the campaign takes 5 / 0.8 = 6.25 days after w4 ends on day 17.
    assert plan.makespan_days == pytest.approx(23.25)
    assert plan.requirements == REQUIREMENTS["requirements"]
    assert [p.name for p in plan.phases] == ["Build", "Launch"]

    md = result.markdown
    assert md.startswith("# Project plan\n")
    assert "Critical path: w1 -> w3 -> w4 -> w6, 22 days; makespan 23.25 days" in md
    assert "| w3 | Build the shop | development | 10 | w1 |" in md
    assert "| w3 | Build the shop | Jonas | 3 | 13 | 10 | 0 |" in md  # the timeline table
    assert "- Card payments" in md and "1. **Build**: A working shop with products" in md
    order = [md.index(h) for h in ("## Requirements", "## Phases", "## Work breakdown",
                                   "## Timeline", "## Summary")]
    assert order == sorted(order)

    summary_call = next(c for c in model.calls if c.output is None)
    prompt = summary_call.last_user  # the computed numbers, not the model's
    assert ("Critical path: Brand and shop design -> Build the shop -> Payments and shipping"
            " -> Launch campaign, 22 days." in prompt)
    assert "the project takes 23.25 days" in prompt
    assert "- Launch campaign: Mia, day 17 to 23.25" in prompt
    assert "1. Build: A working shop with products" in prompt
    breakdown_call = next(c for c in model.calls if _title(c) == "Breakdown")
    assert "Split the project" not in breakdown_call.last_user  # it sees results, not prompts
    assert '"name":"Build"' in breakdown_call.last_user


def test_the_plan_runs_in_order_with_one_function_step():
    result = _go(_scripted())
    tasks = {t.id: t.depends_on for t in result.run.plan.tasks}
    assert tasks == {"requirements": (), "phases": ("requirements",), "breakdown": ("phases",),
                     "schedule": ("breakdown",), "summary": ("phases", "schedule")}
    assert result.run.usage.model_calls == 4  # the schedule is computed, not asked for


def test_default_resources_are_two_generalists():
    generalist = {"items": [dict(i, skill="general") for i in BREAKDOWN["items"]]}
    model = _scripted(breakdown=generalist)
    result = _go(model, resources=None)
    schema = next(c.output for c in model.calls if _title(c) == "Breakdown")
    item = schema["properties"]["items"]["anyOf"][0]["prefixItems"][0]
    assert item["properties"]["skill"] == {"enum": ["general"]}
    used = {e["resource"] for e in result.data.timeline["entries"]}
    assert used == {r.name for r in DEFAULT_RESOURCES}
    assert result.data.critical_path_days == 22
    # Two people for six items: w2 and w3 run side by side, so nothing waits on a lane here.
    assert result.data.makespan_days == pytest.approx(22)


@pytest.mark.parametrize("bad", [
    {"id": "w1", "depends_on": ["w2"]},  # a cycle w1 -> w2 -> w1
    {"id": "w2", "estimate_days": 0},
    {"id": "w3", "skill": "juggling"},
    {"id": "w4", "depends_on": ["w9"]},
])
def test_an_invalid_breakdown_fails_its_task_not_the_program(bad):
    items = [dict(i, **bad) if i["id"] == bad["id"] else i for i in BREAKDOWN["items"]]
    result = _go(_scripted(breakdown={"items": items}))
    outcome = result.run.outcome("breakdown")
    assert outcome.status == "failed" and outcome.error_type == "OutputValidationError"
    assert [result.run.outcome(t).status for t in ("schedule", "summary")] == ["skipped"] * 2
    assert result.run.status == "partial" and result.data is None
    assert f"- breakdown failed: {outcome.error}" in result.markdown
    assert "## Requirements" in result.markdown and "Critical path" not in result.markdown


def test_every_breakdown_the_schema_allows_is_valid():
    skills = sorted({s for r in EXAMPLE_RESOURCES for s in r.skills})
    schema = breakdown_schema(skills)
    validator = jsonschema.Draft202012Validator(schema)
    rng = random.Random(5)
    for _ in range(200):
        n = rng.randint(3, 8)
        items = [{"id": f"w{k}", "name": f"item {k}", "estimate_days": rng.choice(ESTIMATES),
                  "depends_on": rng.sample([f"w{j}" for j in range(1, k)], rng.randint(0, k - 1)),
                  "skill": rng.choice(skills)} for k in range(1, n + 1)]
        assert validator.is_valid({"items": items})
        work = [WorkItem.model_validate(i) for i in items]
        project_tools.validate_breakdown(work, EXAMPLE_RESOURCES)
        assert project_tools.critical_path(work).length_days == _longest_chain(items)
    too_long = [dict(BREAKDOWN["items"][0], id=f"w{k}") for k in range(1, 10)]
    assert not validator.is_valid({"items": too_long})


def test_a_failed_summary_keeps_the_computed_plan():
    result = _go(_scripted(summary=ModelRequestError("refused", provider="s", model="m")))
    assert result.run.status == "partial"
    assert result.data.critical_path_days == 22
    assert "- summary failed: ModelRequestError: refused" in result.markdown


def test_bad_input_is_refused_before_any_model_call():
    model = _scripted()
    with pytest.raises(UsageError, match="project description is empty"):
        asyncio.run(run_project("  ", model=model))
    twins = [Resource(name="Ana"), Resource(name="Ana")]
    with pytest.raises(UsageError, match="unique"):
        asyncio.run(run_project("Build a shed", resources=twins, model=model))
    assert model.calls == []


def test_the_example_team_has_every_skill_the_scripted_breakdown_needs():
    skills = {s for r in EXAMPLE_RESOURCES for s in r.skills}
    assert {i["skill"] for i in BREAKDOWN["items"]} <= skills
    assert len({r.name for r in EXAMPLE_RESOURCES}) == len(EXAMPLE_RESOURCES) == 3


def test_repeated_requirements_are_asked_for_again_and_the_phases_build_on_the_mended_list():
    looped = {"requirements": ["Card payments"] * 4}
    answers = {"Requirements": [looped, REQUIREMENTS], "Phases": [PHASES],
               "Breakdown": [BREAKDOWN], None: ["Six items; the shop opens after the campaign."]}
    seen: dict[str, int] = {}

    def answer(call):
        title = _title(call)
        n = seen[title] = seen.get(title, 0) + 1
        return answers[title][min(n, len(answers[title])) - 1]

    model = ScriptedModel(function=answer)
    result = _go(model)
    asked = [c for c in model.calls if _title(c) == "Requirements"]
    assert len(asked) == 2 and "lines 2-4 repeat line 1 ('- Card payments')" in asked[1].last_user
    assert result.data.requirements == REQUIREMENTS["requirements"]
    phases = next(c for c in model.calls if _title(c) == "Phases")
    assert "EU shipping" in phases.last_user  # built on the mended list, not the looped one
    # the reviewer judges the overview only, by its checks, without a model verdict
    assert [(r.task_id, r.scores) for r in result.run.reviews] == [("summary", {})]


def test_a_list_asked_again_that_is_no_better_keeps_the_first():
    items = [dict(i, name="Lawn and furniture") for i in BREAKDOWN["items"]]
    model = _scripted(breakdown={"items": items})
    result = _go(model)
    assert len([c for c in model.calls if _title(c) == "Breakdown"]) == 2
    assert [i.name for i in result.data.items] == ["Lawn and furniture"] * 6


def test_without_a_reviewer_the_project_is_not_reviewed():
    result = _go(_scripted(), reviewer=False)
    assert result.run.reviews == ()


def test_a_requirement_still_repeated_is_left_out_of_the_plan_and_the_notes_say_so():
    repeated = {"requirements": ["Card payments", "EU shipping", "card payments!"]}
    answers = {"Requirements": repeated, "Phases": PHASES, "Breakdown": BREAKDOWN,
               None: "Six items; the shop opens after the campaign."}
    result = _go(ScriptedModel(function=lambda call: answers[_title(call)]))
    assert result.data.requirements == ["Card payments", "EU shipping"]
    assert "requirements: 1 repeated requirements left out of the plan" in result.run.notes
    assert result.markdown.count("Card payments") == 1


def test_the_json_list_workers_ask_for_a_repeat_penalty_and_the_overview_for_the_ban():
    model = _scripted()
    _go(model)
    asked = {_title(c): (c.settings.repeat_penalty, c.settings.no_repeat_ngram)
             for c in model.calls}
    assert asked == {"Requirements": (1.1, None), "Phases": (1.1, None),
                     "Breakdown": (1.1, None), None: (None, 4)}


def test_a_phase_goal_that_copies_a_requirement_is_shown_as_a_reference_to_it():
    copying = {"phases": [
        {"name": "Launch a small online shop for hand-m",  # stopped by the grammar at 40
         "goal": "Card payments and EU shipping"},  # requirement 2 and 3's words, not one's
        {"name": "Launch", "goal": "EU shipping"},  # requirement 3, word for word
        {"name": "Grow", "goal": "Run the launch campaign for the first month"}]}
    answers = {"Requirements": REQUIREMENTS, "Phases": copying, "Breakdown": BREAKDOWN,
               None: "Six items; the shop opens after the campaign."}
    result = _go(ScriptedModel(function=lambda call: answers[_title(call)]))
    phases = result.markdown.split("## Phases\n\n")[1].split("\n\n")[0].splitlines()
    assert phases == [
        "1. **Launch a small online shop**: Card payments and EU shipping",
        "2. **Launch**: meets requirement 3",
        "3. **Grow**: Run the launch campaign for the first month"]
    assert "phases: 1 phase goal(s) copy a requirement, shown as a reference to it" in (
        result.run.notes)
    assert result.data.phases[1].goal == "EU shipping"  # the data keeps the model's words


def test_copied_requirement_needs_most_of_the_goals_words_in_one_requirement():
    from delegate.apps.project.workflow import copied_requirement

    wanted = ["Build a mobile app that lets members renew books",
              "Send due-date reminders by email"]
    assert copied_requirement("Build a mobile app that lets members renew books.", wanted) == 1
    assert copied_requirement("send due date reminders by email to members", wanted) == 2
    assert copied_requirement("Test the reminders with ten members", wanted) is None
    assert copied_requirement("Email", ["email"]) == 1
    assert copied_requirement("Email", []) is None


def test_a_list_that_only_echoes_the_description_is_not_asked_again():
    description = "Open an online shop for hand-made hiking gear"
    echo = {"requirements": [description, "Card payments", "EU shipping"]}
    answers = {"Requirements": echo, "Phases": PHASES, "Breakdown": BREAKDOWN,
               None: "Six items; the shop opens after the campaign."}
    model = ScriptedModel(function=lambda call: answers[_title(call)])
    result = asyncio.run(run_project(description, model=model, resources=EXAMPLE_RESOURCES))
    assert len([c for c in model.calls if _title(c) == "Requirements"]) == 1
    assert result.data.requirements[1:] == ["Card payments", "EU shipping"]
