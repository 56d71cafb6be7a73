"""The reviewer: model-scored verdicts, only failing work goes back, bounded rounds."""

import asyncio

from delegate import EventLog, Plan, Reviewer, Rubric, ScriptedModel, Task, Worker, run
from delegate.core.events import TaskEnded, TaskReviewed, TaskRevised
from delegate.llm import ScriptedCall

PLAN = Plan(tasks=(
    Task(id="intro", worker="writer", instruction="Write the introduction."),
    Task(id="body", worker="writer", instruction="Write the body.", depends_on=("intro",)),
    Task(id="outro", worker="writer", instruction="Write the conclusion."),
))
RUBRIC = Rubric(criteria=("coverage", "tone"), pass_mark=3)


def scripted(reject: dict[str, int], scores=(4, 5)):
    """Writers answer with their task and revision count; the reviewer rejects each task id
    in ``reject`` that many times, then passes it."""
    rejected: dict[str, int] = {}
    written: dict[str, int] = {}

    def answer(call: ScriptedCall):
        if call.output is not None and "coverage" in call.output.get("properties", {}):
            task_id = next(t.id for t in PLAN.tasks if t.instruction in call.last_user)
            if rejected.get(task_id, 0) < reject.get(task_id, 0):
                rejected[task_id] = rejected.get(task_id, 0) + 1
                return {"coverage": 2, "tone": 4, "notes": f"{task_id} misses the key point"}
            return {"coverage": scores[0], "tone": scores[1], "notes": "good"}
        task_id = next(t.id for t in PLAN.tasks if t.instruction in call.last_user)
        written[task_id] = written.get(task_id, 0) + 1
        return f"{task_id} draft {written[task_id]}"

    return ScriptedModel(function=answer), written


def go(model, max_rounds=2, events=None):
    return asyncio.run(run(
        "A short essay", workers=[Worker("writer", "writes", "You write.")], model=model,
        plan=PLAN, reviewer=Reviewer(RUBRIC, max_rounds=max_rounds), synthesize=False,
        subscribers=[events] if events else [],
    ))


def test_a_section_rejected_once_is_rewritten_exactly_once():
    model, written = scripted({"body": 1})
    events = EventLog()
    result = go(model, events=events)
    assert written == {"intro": 1, "body": 2, "outro": 1}
    assert result.outcome("body").output == "body draft 2"
    assert [e.task_id for e in events.of(TaskRevised)] == ["body"]
    assert len(events.of(TaskEnded)) == 3  # a rewrite is not a second ending
    rewrite = next(c for c in model.calls if c.output is None and "body draft 1" in c.last_user)
    assert "body misses the key point" in rewrite.last_user  # the notes reached the worker
    rounds = [(r.task_id, r.round, r.passed) for r in result.reviews]
    assert rounds == [("intro", 1, True), ("body", 1, False), ("outro", 1, True),
                      ("body", 2, True)]


def test_scores_come_from_the_model_verdict():
    model, _ = scripted({}, scores=(3, 5))
    result = go(model)
    assert {r.task_id: r.scores for r in result.reviews} == {
        t.id: {"coverage": 3, "tone": 5} for t in PLAN.tasks}
    assert result.to_dict()["reviews"][0]["scores"] == {"coverage": 3, "tone": 5}


def test_rounds_are_bounded():
    model, written = scripted({"outro": 99})
    events = EventLog()
    result = go(model, max_rounds=2, events=events)
    assert written["outro"] == 3  # first draft and two rewrites, no more
    final = [r for r in result.reviews if r.task_id == "outro"][-1]
    assert (final.round, final.passed) == (2, False)  # no round beyond max_rounds
    assert max(r.round for r in result.reviews) == 2
    assert len(events.of(TaskReviewed)) == len(result.reviews)


def test_the_dependent_section_saw_the_reviewed_dependency_it_was_given():
    model, _ = scripted({"intro": 1})
    go(model)
    first_body = next(c for c in model.calls if "Write the body." in c.last_user
                      and c.output is None)
    assert "intro draft 1" in first_body.last_user


def test_a_broken_verdict_keeps_the_work_and_says_so():
    def answer(call: ScriptedCall):
        if call.output is not None:
            return {"coverage": "great"}  # does not match the verdict schema
        return "draft"

    result = go(ScriptedModel(function=answer))
    assert [o.output for o in result.outcomes] == ["draft"] * 3
    assert result.reviews == ()
    assert sum("review 1 of" in n for n in result.notes) == 3


def test_failing_independent_tasks_are_rewritten_at_the_same_time():
    from delegate import worker

    both_rewriting = asyncio.Event()
    rewriting: set[str] = set()

    @worker("writer", description="writes")
    async def writer(ctx):
        if ctx.revision is None:
            return f"{ctx.task.id} draft"
        rewriting.add(ctx.task.id)
        if rewriting >= {"intro", "outro"}:
            both_rewriting.set()
        # one rewrite waits here until the other has started: run one after another, the
        # two would never meet and the guard below would end the test
        await asyncio.wait_for(both_rewriting.wait(), 30)
        return f"{ctx.task.id} rewritten"

    rejected: set[str] = set()

    def verdicts(call: ScriptedCall):
        task_id = next(t.id for t in PLAN.tasks if t.instruction in call.last_user)
        if task_id in ("intro", "outro") and task_id not in rejected:
            rejected.add(task_id)
            return {"notes": "too thin", "coverage": 1, "tone": 4}
        return {"notes": "fine", "coverage": 4, "tone": 4}

    result = asyncio.run(run(
        "A short essay", workers=[writer], model=ScriptedModel(function=verdicts), plan=PLAN,
        reviewer=Reviewer(RUBRIC), synthesize=False))
    assert {o.task_id: o.output for o in result.outcomes} == {
        "intro": "intro rewritten", "body": "body draft", "outro": "outro rewritten"}


def test_a_rewrite_waits_for_the_rewrite_of_its_dependency():
    model, written = scripted({"intro": 1, "body": 1})
    go(model)
    assert written == {"intro": 2, "body": 2, "outro": 1}
    body_rewrite = next(c for c in model.calls
                        if c.output is None and "body draft 1" in c.last_user)
    assert "intro draft 2" in body_rewrite.last_user


def test_the_worker_learns_which_criteria_failed_even_from_empty_notes():
    def answer(call: ScriptedCall):
        if call.output is not None:
            first = not any("draft" in c.last_user and c.output is None and "Below" in c.last_user
                            for c in model.calls)
            return ({"notes": "", "coverage": 2, "tone": 5} if first
                    else {"notes": "ok", "coverage": 4, "tone": 4})
        return "draft"

    model = ScriptedModel(function=answer)
    go(model, max_rounds=1)
    rewrites = [c for c in model.calls if c.output is None and "Below the pass mark" in c.last_user]
    assert rewrites and all("coverage 2/5" in c.last_user and "tone" not in
                            c.last_user.split("Below the pass mark")[1].split(".")[0]
                            for c in rewrites)
