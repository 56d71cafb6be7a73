"""A task asks a person (``ctx.ask``): only that branch waits, parallel questions never
collide, and a durable run waits in the store and carries on with no model call made twice."""

from __future__ import annotations

import asyncio

from delegate import Plan, Task, Worker, run, worker
from delegate.core.events import EventLog, InterruptRaised, TaskWaiting
from delegate.durable.journal import Journal
from delegate.durable.store import open_store
from delegate.llm.base import Message
from delegate.llm.scripted import ScriptedModel


@worker(description="Asks which colour, then answers with it.")
async def chooser(ctx):
    colour = await ctx.ask(f"Which colour for {ctx.task.id}?", choices=["red", "blue"])
    return f"{ctx.task.id}: {colour}"


@worker(description="Reports what it depends on.")
async def joiner(ctx):
    return " + ".join(str(d.output) for d in ctx.dependencies)


PLAN = Plan(tasks=(
    Task(id="a", worker="chooser"), Task(id="b", worker="chooser"),
    Task(id="joined", worker="joiner", depends_on=("a", "b")),
))


def test_two_parallel_questions_answered_in_reverse_order_each_unblock_their_own_branch():
    log = EventLog()
    asked: dict[str, asyncio.Future] = {}
    both = asyncio.Event()
    order: list[str] = []

    async def handler(interrupt):
        future = asked[interrupt.task_id] = asyncio.get_running_loop().create_future()
        if len(asked) == 2:
            both.set()
        answer = await future
        order.append(interrupt.task_id)
        return answer

    async def main():
        job = asyncio.ensure_future(run("Pick colours", workers=[chooser, joiner], plan=PLAN,
                                        synthesize=False, on_interrupt=handler,
                                        subscribers=[log]))
        asking = asyncio.ensure_future(both.wait())  # both tasks ask at once
        await asyncio.wait((asking, job), return_when=asyncio.FIRST_COMPLETED)
        assert not job.done(), job.exception()  # a run that ended early fails, never hangs
        assert {i.interrupt.id for i in log.of(InterruptRaised)} == {"ask:a:1:1", "ask:b:1:1"}
        asked["b"].set_result("blue")  # the second question first
        while "b" not in order:
            await asyncio.sleep(0)
        assert not asked["a"].done()
        asked["a"].set_result("red")
        return await job

    result = asyncio.run(main())
    assert result.status == "succeeded"
    assert order == ["b", "a"]
    assert result.outcomes[2].output == "a: red + b: blue"


def test_an_answer_outside_the_choices_fails_only_that_task():
    async def handler(interrupt):
        return "green" if interrupt.task_id == "a" else "red"

    result = asyncio.run(run("Pick colours", workers=[chooser, joiner], plan=PLAN,
                             synthesize=False, on_interrupt=handler))
    by_id = {o.task_id: o for o in result.outcomes}
    assert by_id["a"].status == "failed" and "not one of: red, blue" in by_id["a"].error
    assert by_id["b"].status == "succeeded" and by_id["joined"].status == "skipped"


def test_asking_with_nobody_to_ask_fails_the_task_with_one_line():
    result = asyncio.run(run("Pick colours", workers=[chooser, joiner], plan=PLAN,
                             synthesize=False))
    assert {o.task_id: o.status for o in result.outcomes} == {
        "a": "failed", "b": "failed", "joined": "skipped"}
    assert "nobody to ask" in result.outcomes[0].error


RESEARCH = Worker("researcher", "finds facts", "You find facts.")


@worker(description="Drafts with the model, asks the person which draft, then finishes.")
async def drafter(ctx):
    draft = await ctx.model.request([Message.user("Draft a title.")])
    pick = await ctx.ask(f"Keep the draft {draft.text!r}?", choices=["keep", "drop"])
    return f"{draft.text} ({pick})"


def test_a_durable_run_waits_for_a_question_and_carries_on_with_no_call_made_twice(tmp_path):
    store = open_store(str(tmp_path / "runs.db"))
    calls: list[str] = []

    def answer(call):
        calls.append(call.last_user)
        return f"Answer {len(calls)}"

    model = ScriptedModel(function=answer)
    plan = Plan(tasks=(
        Task(id="draft", worker="drafter"),
        Task(id="facts", worker="researcher", instruction="Find facts about owls."),
        Task(id="after", worker="researcher", instruction="Use the draft.",
             depends_on=("draft",)),
    ))
    log = EventLog()

    def go(journal):
        return asyncio.run(run("Owls", workers=[drafter, RESEARCH], plan=plan, model=model,
                               synthesize=False, journal=journal, subscribers=[log]))

    first = go(Journal.start(store))
    by_id = {o.task_id: o for o in first.outcomes}
    assert first.status == "waiting"
    assert by_id["draft"].status == "waiting" and by_id["facts"].status == "succeeded"
    assert by_id["after"].status == "skipped" and "waiting" in by_id["after"].error
    assert len(log.of(TaskWaiting)) == 1
    run_id = first.run_id
    assert store.get_run(run_id).status == "waiting"
    [pending] = store.interrupts(run_id, status="pending")
    assert pending["interrupt_id"] == "ask:draft:1:1"
    assert pending["payload"] == {"question": "Keep the draft 'Answer 1'?",
                                  "choices": ["keep", "drop"]}
    made = len(calls)  # the draft's call and the facts' call

    store.answer_interrupt(run_id, "ask:draft:1:1", "keep", by="ana")
    again = go(Journal.resume(store, run_id))
    assert again.status == "succeeded"
    by_id = {o.task_id: o for o in again.outcomes}
    assert by_id["draft"].output == "Answer 1 (keep)"  # the same draft, from the journal
    assert len(calls) - made == 1  # only the task that never ran called the model
    assert store.get_run(run_id).status == "succeeded"


def test_a_question_past_its_deadline_takes_its_rule():
    @worker(description="Asks with a deadline.")
    async def hurried(ctx):
        return await ctx.ask("Go ahead?", timeout=0.01, on_timeout="approve")

    async def never(interrupt):
        await asyncio.Event().wait()

    result = asyncio.run(run("Hurry", workers=[hurried], synthesize=False, on_interrupt=never,
                             plan=Plan(tasks=(Task(id="h", worker="hurried"),))))
    assert result.outcomes[0].output == {"action": "approve", "by": "deadline"}
