"""The reviewer's deterministic checks: they run first and name the problem, a rewrite that
does not score higher is discarded, rounds stop when nothing improves, and every display and
record shows the outcome that stands."""

import asyncio
import contextlib
import io

from rich.console import Console

from delegate import EventLog, Plan, Reviewer, Rubric, ScriptedModel, Task, Worker, run
from delegate.core.events import TaskReviewed, TaskRevised
from delegate.core.review import CheckResult
from delegate.llm import ScriptedCall
from delegate.observe.progress_tree import LiveProgress

PLAN = Plan(tasks=(
    Task(id="intro", worker="writer", instruction="Write the introduction."),
    Task(id="body", worker="writer", instruction="Write the body."),
))
RUBRIC = Rubric(criteria=("coverage",), pass_mark=3)
REPEATED = "Choose a good pair.\nChoose a good pair.\nChoose a good pair."


def repeats(task, output, outputs):
    """Names repeated lines; the score is the share of distinct lines."""
    lines = [line for line in str(output).splitlines() if line.strip()]
    problems = ()
    if len(set(lines)) < len(lines):
        problems = (f"lines 2-{len(lines)} repeat line 1",)
    return CheckResult(problems, len(set(lines)) / len(lines) if lines else 0.0)


def writer_model(drafts, verdict=None):
    """The writer answers ``drafts[task][n]`` for its n-th draft (the last one again after
    that); the reviewer's model passes everything unless ``verdict`` says otherwise."""
    written: dict[str, int] = {}

    def answer(call: ScriptedCall):
        task_id = next(t.id for t in PLAN.tasks if t.instruction in call.last_user)
        if call.output is not None:
            return verdict(task_id) if verdict else {"notes": "fine", "coverage": 5}
        n = written.get(task_id, 0)
        written[task_id] = n + 1
        texts = drafts[task_id]
        return texts[min(n, len(texts) - 1)]

    return ScriptedModel(function=answer), written


def go(model, reviewer, subscribers=()):
    return asyncio.run(run(
        "A short guide", workers=[Worker("writer", "writes", "You write.")], model=model,
        plan=PLAN, reviewer=reviewer, synthesize=False, subscribers=list(subscribers)))


def test_the_checks_name_the_problem_and_it_reaches_the_writer_even_when_the_model_passes():
    model, written = writer_model({"intro": ["Fine intro."],
                                   "body": [REPEATED, "Choose a pair.\nThen lace it well."]})
    result = go(model, Reviewer(RUBRIC, checks=repeats))
    first = next(r for r in result.reviews if r.task_id == "body")
    assert first.problems == ("lines 2-3 repeat line 1",)
    assert first.scores == {"coverage": 5} and first.passed is False
    rewrite = next(c for c in model.calls if c.output is None and REPEATED in c.last_user)
    assert "lines 2-3 repeat line 1" in rewrite.last_user
    assert result.outcome("body").output == "Choose a pair.\nThen lace it well."
    assert written == {"intro": 1, "body": 2}
    last = [r for r in result.reviews if r.task_id == "body"][-1]
    assert (last.round, last.passed, last.check_score) == (2, True, 1.0)


def test_a_rewrite_that_does_not_score_higher_is_discarded_and_the_task_leaves_the_review():
    worse = "Pair.\nPair.\nPair.\nPair."
    model, written = writer_model({"intro": ["Fine intro."], "body": [REPEATED, worse]})
    events = EventLog()
    result = go(model, Reviewer(RUBRIC, checks=repeats, max_rounds=5), [events])
    assert result.outcome("body").output == REPEATED  # the better version is kept
    assert written["body"] == 2  # nothing improved: no second rewrite despite 5 rounds
    revised = events.of(TaskRevised)
    assert [(e.task_id, e.kept, e.outcome.output) for e in revised] == [
        ("body", False, REPEATED)]
    assert "discarded" in revised[0].note and "0.25" in revised[0].note
    assert any("revision 1 of body discarded" in n for n in result.notes)
    assert [(r.task_id, r.round) for r in result.reviews] == [("intro", 1), ("body", 1)]
    assert result.outcome("body").status == "succeeded"


def test_a_task_with_nothing_to_improve_is_not_sent_back_on_the_models_word_alone():
    model, written = writer_model(
        {"intro": ["Fine intro."], "body": ["A clean body."]},
        verdict=lambda tid: {"notes": "weak", "coverage": 1})
    result = go(model, Reviewer(RUBRIC, checks=repeats))
    assert written == {"intro": 1, "body": 1}
    assert all(not r.passed for r in result.reviews)  # the verdicts are recorded as given
    assert any("not sent back" in n for n in result.notes)


def test_without_a_model_verdict_only_the_checks_judge():
    model, _ = writer_model({"intro": ["Fine intro."],
                             "body": [REPEATED, "Choose a pair.\nLace it."]})
    result = go(model, Reviewer(RUBRIC, checks=repeats, model_verdict=False))
    assert not [c for c in model.calls if c.output is not None]  # no verdict was asked for
    assert result.outcome("body").output == "Choose a pair.\nLace it."
    assert all(r.scores == {} for r in result.reviews)


def test_the_live_tree_shows_a_revised_task_as_succeeded_not_running():
    model, _ = writer_model({"intro": ["Fine intro."],
                             "body": [REPEATED, "Choose a pair.\nLace it.", REPEATED]})
    console = Console(record=True, width=100, force_terminal=True, file=io.StringIO())
    progress = LiveProgress(console)
    go(model, Reviewer(RUBRIC, checks=repeats, max_rounds=3), [progress])
    assert {tid: t.state for tid, t in progress.run.tasks.items()} == {
        "intro": "succeeded", "body": "succeeded"}
    console.print(progress)
    tree = console.export_text()
    assert "✔ body" in tree and "▶" not in tree.split("✔ body")[-1]


def test_every_round_is_announced_with_the_round_number_at_most_max_rounds():
    model, _ = writer_model({"intro": ["Fine intro."], "body": [REPEATED] + [
        "\n".join(f"Line {k} of draft {n}." for k in range(n)) + "\nSame.\nSame."
        for n in range(2, 9)]})
    events = EventLog()
    result = go(model, Reviewer(RUBRIC, checks=repeats, max_rounds=3), [events])
    rounds = [e.review.round for e in events.of(TaskReviewed)]
    assert max(rounds) == 3 and len(events.of(TaskRevised)) == 3
    assert all(e.kept for e in events.of(TaskRevised))  # each draft scored higher
    assert [r.round for r in result.reviews if r.task_id == "body"] == [1, 2, 3]


def test_a_rewrite_cancelled_with_its_run_still_ends_its_task_in_the_log():
    """Cancelled while a rewrite runs: the rewrite's start has an end (TaskRevised, the
    earlier output kept), so no display shows the task running after the run ended."""
    log = EventLog()
    rewriting = asyncio.Event()
    drafts = {"intro": REPEATED, "body": "A fine body."}
    written: dict[str, int] = {}

    async def answer(call: ScriptedCall):
        task_id = next(t.id for t in PLAN.tasks if t.instruction in call.last_user)
        if call.output is not None:
            return {"notes": "fine", "coverage": 5}
        written[task_id] = written.get(task_id, 0) + 1
        if written[task_id] > 1:  # the rewrite: hold it until the run is cancelled
            rewriting.set()
            await asyncio.Event().wait()
        return drafts[task_id]

    async def main():
        job = asyncio.ensure_future(run(
            "Write a guide", workers=[Worker("writer", "writes", "You write.")], plan=PLAN,
            model=ScriptedModel(function=answer), synthesize=False, subscribers=[log],
            reviewer=Reviewer(RUBRIC, checks=repeats, model_verdict=False)))
        await rewriting.wait()
        job.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await job

    asyncio.run(main())
    starts = [e for e in log.events if e.kind == "TaskStarted" and e.task_id == "intro"]
    assert len(starts) == 2  # the first draft and the rewrite
    revised = log.of(TaskRevised)
    assert [(r.task_id, r.kept) for r in revised] == [("intro", False)]
    assert "cancelled" in revised[0].note and revised[0].outcome.output == REPEATED
    assert [e.kind for e in log.events].count("RunFinished") == 1
