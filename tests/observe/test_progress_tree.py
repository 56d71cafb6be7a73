"""The progress displays: the live tree on a terminal, plain lines elsewhere, one summary."""

import asyncio
import io

from rich.console import Console

from delegate import Plan, ScriptedModel, Task, Worker, run
from delegate.core.retry import RetryPolicy
from delegate.errors import ModelServerError
from delegate.limits.budget import Budget
from delegate.llm import ScriptedCall
from delegate.llm.scripted import Scripted
from delegate.observe.progress_lines import LineProgress
from delegate.observe.progress_tree import LiveProgress

PLAN = Plan(tasks=(
    Task(id="facts", worker="writer", instruction="Gather the facts."),
    Task(id="uses", worker="writer", instruction="List the uses."),
    Task(id="draft", worker="writer", instruction="Write the draft.", depends_on=("facts",
                                                                                 "uses")),
))


def model_failing_once():
    failed = []

    def answer(call: ScriptedCall):
        if "List the uses." in call.last_user and not failed:
            failed.append(1)
            return ModelServerError("overloaded", provider="scripted", model="scripted")
        return Scripted("done", prompt_tokens=120, completion_tokens=30)

    return ScriptedModel(function=answer)


def go(subscriber, **options):
    return asyncio.run(run("Write about knots", workers=[Worker("writer", "writes", "Write.")],
                           model=model_failing_once(), plan=PLAN, subscribers=[subscriber],
                           retry=RetryPolicy(base_delay=0, max_delay=0), **options))


def test_the_live_tree_shows_every_task_its_retry_and_the_summary():
    console = Console(record=True, width=110, force_terminal=True, file=io.StringIO())
    result = go(LiveProgress(console))
    text = console.export_text()
    for tid in ("facts", "uses", "draft"):
        assert f"✔ {tid} [writer]" in text
    assert "120→30 tok" in text  # tokens in and out per task
    assert "↻ uses retries" in text  # the retry appeared as it happened
    assert "also after uses" in text  # the draft waits for both
    for label in ("tasks", "3 succeeded", "model calls", "tokens", "480 in, 120 out", "cost",
                  "$0.0000", "wall time", "critical path"):
        assert label in text
    assert result.status == "succeeded"


def test_a_task_an_edited_plan_removes_leaves_the_tree():
    from delegate.core.events import PlanCreated, RunStarted, TaskStarted

    console = Console(record=True, width=110, force_terminal=True, file=io.StringIO())
    tree = LiveProgress(console)
    tree(RunStarted(run_id="r", objective="Write about knots"))
    tree(PlanCreated(run_id="r", plan=PLAN, source="model"))
    tree(TaskStarted(run_id="r", task_id="uses", worker="writer", attempt=1))
    edited = Plan(tasks=(PLAN.tasks[1], PLAN.tasks[0]), version=2)  # the draft is left out
    tree(PlanCreated(run_id="r", plan=edited, source="human"))
    assert list(tree.run.tasks) == ["facts", "uses"]  # 'draft' never started: gone
    tree.live.stop()


def test_plain_lines_end_with_the_same_summary_and_the_budget():
    stream = io.StringIO()
    result = go(LineProgress(stream), budget=Budget(tokens=400), max_concurrency=1)
    text = stream.getvalue()
    assert "budget reached: token budget of 400 reached" in text
    assert f"run {result.status}:" in text
    assert "  cost: $0.0000" in text and "  critical path:" in text
    assert "  budget: token budget of 400 reached" in text
