"""One owner per run: every path ends with one RunFinished, every task with one outcome,
nothing left running, and what the run opened closed."""

import asyncio

import pytest

from delegate import Plan, ScriptedModel, Task, Worker, run, worker
from delegate.core.events import (
    EventLog,
    RunFinished,
    RunStarted,
    TaskEnded,
    TaskFinished,
    TaskStarted,
)
from delegate.core.retry import RetryPolicy
from delegate.core.review import Reviewer, Rubric
from delegate.errors import (
    BudgetExceeded,
    ModelTimeoutError,
    PlanningError,
    RateLimitError,
    StoreError,
)
from delegate.limits.budget import Budget
from delegate.limits.pricing import Price, PriceTable
from delegate.llm import ScriptedCall
from delegate.llm.scripted import Scripted

HANG_GUARD = 30  # seconds: turns a hang into a failure; nothing here waits on the clock


def go(coro):
    async def guarded():
        async with asyncio.timeout(HANG_GUARD):
            return await coro
    return asyncio.run(guarded())


def frame(events: EventLog) -> tuple[int, int]:
    return len(events.of(RunStarted)), len(events.of(RunFinished))


def one_outcome_each(events: EventLog, plan: Plan) -> None:
    ended = [e.task_id for e in events.of(TaskEnded)]
    assert sorted(ended) == sorted(plan.ids), ended


# defect 1: anything raising around an attempt fails the task, never hangs the run

def test_a_worker_model_that_cannot_be_resolved_fails_its_task_instead_of_hanging(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    plan = Plan(tasks=(Task(id="a", worker="w", instruction="do it"),))
    events = EventLog()
    result = go(run("x", plan=plan, workers=[Worker("w", "d", model="openai:gpt-4o-mini")],
                    model=ScriptedModel(), synthesize=False, subscribers=[events]))
    outcome = result.outcome("a")
    assert outcome.status == "failed" and outcome.error_type == "ConfigurationError"
    assert "OPENAI_API_KEY" in outcome.error
    assert frame(events) == (1, 1)
    one_outcome_each(events, plan)


def test_a_subscriber_raising_on_task_started_fails_that_task_and_the_run_ends():
    plan = Plan(tasks=(Task(id="a", worker="w", instruction="x"),
                       Task(id="b", worker="w", instruction="y")))

    @worker()
    async def w(ctx):
        return ctx.task.id

    def angry(event):
        if isinstance(event, TaskStarted) and event.task_id == "a":
            raise ValueError("subscriber broke")

    events = EventLog()
    result = go(run("x", plan=plan, workers=[w], synthesize=False,
                    subscribers=[angry, events]))
    assert result.outcome("a").status == "failed"
    assert "subscriber broke" in result.outcome("a").error
    assert result.outcome("b").status == "succeeded"
    assert frame(events) == (1, 1)


# defect 2: an engine error cancels the running siblings, records them, then re-raises

def test_a_subscriber_error_cancels_running_siblings_records_them_and_is_raised():
    plan = Plan(tasks=(Task(id="quick", worker="w", instruction="x"),
                       Task(id="slow", worker="w", instruction="y"),
                       Task(id="after", worker="w", instruction="z", depends_on=("quick",))))
    slow_started = asyncio.Event
    state = {"slow_cancelled": False, "started": None}

    @worker()
    async def w(ctx):
        if ctx.task.id == "slow":
            state["started"].set()
            try:
                await asyncio.Event().wait()  # runs until cancelled
            except asyncio.CancelledError:
                state["slow_cancelled"] = True
                raise
        else:
            await state["started"].wait()
        return ctx.task.id

    def store(event):
        if isinstance(event, TaskFinished) and event.task_id == "quick":
            raise StoreError("the store went away")

    events = EventLog()

    async def main():
        state["started"] = slow_started()
        return await run("x", plan=plan, workers=[w], synthesize=False,
                         subscribers=[store, events], max_concurrency=2)

    with pytest.raises(StoreError, match="went away"):
        go(main())
    assert state["slow_cancelled"]
    assert frame(events) == (1, 1)
    finished = events.of(RunFinished)[0].result
    assert finished.status == "failed" and "StoreError" in finished.error
    assert {o.task_id: o.status for o in finished.outcomes} == {
        "quick": "succeeded", "slow": "cancelled", "after": "cancelled"}


# defect 3: budgets reserve on admission, so concurrent calls cannot overshoot

def four_parallel_tasks(max_tokens: int = 400):
    plan = Plan(tasks=tuple(Task(id=f"t{n}", worker="writer", instruction="go")
                            for n in range(4)))
    return plan, Worker("writer", "writes", "You write.", max_tokens=max_tokens)


async def slow_answer(call: ScriptedCall):
    for _ in range(5):  # every admitted call is in flight before any answers
        await asyncio.sleep(0)
    return Scripted("done", prompt_tokens=10, completion_tokens=400)


def test_a_token_budget_holds_under_concurrency():
    plan, writer = four_parallel_tasks()
    model = ScriptedModel(function=slow_answer)
    result = go(run("x", plan=plan, workers=[writer], model=model, synthesize=False,
                    max_concurrency=4, budget=Budget(tokens=1000)))
    assert result.usage.total_tokens <= 1000
    assert len(model.calls) == 2  # two reservations of prompt + 400 fit; a third does not
    assert result.budget_reached is not None and "held by calls in flight" in \
        result.budget_reached
    assert sorted(o.status for o in result.outcomes) == ["failed", "failed", "succeeded",
                                                         "succeeded"]


def test_a_dollar_budget_holds_under_concurrency_with_the_runtime_prices():
    from delegate.runtime import Runtime

    plan, writer = four_parallel_tasks()
    model = ScriptedModel(function=slow_answer)
    prices = PriceTable({"scripted": Price(input=1000.0, output=1000.0)})  # $0.001 a token

    async def main():
        async with Runtime(prices=prices):
            return await run("x", plan=plan, workers=[writer], model=model,
                             synthesize=False, max_concurrency=4, budget=Budget(usd=1.0))

    result = go(main())
    assert result.usage.cost_usd <= 1.0
    assert len(model.calls) == 2 and result.budget_reached.startswith("dollar budget")


def test_the_time_budget_interrupts_a_retry_wait():
    plan = Plan(tasks=(Task(id="a", worker="writer", instruction="go"),))
    model = ScriptedModel([RateLimitError("slow down", retry_after=50)])
    result = go(run("x", plan=plan, workers=[Worker("writer", "w", "You write.")],
                    model=model, synthesize=False, budget=Budget(seconds=0.05)))
    outcome = result.outcome("a")
    assert outcome.status == "failed" and outcome.error_type == "BudgetExceeded"
    assert result.budget_reached.startswith("time budget")


# defect 5: one RunStarted and one RunFinished on every path, with the error

def test_a_planning_failure_still_finishes_the_run_with_its_error():
    events = EventLog()
    bad = ScriptedModel(function=lambda call: "not a plan")
    with pytest.raises(PlanningError):
        go(run("x", workers=[Worker("w", "d")], model=bad, subscribers=[events]))
    assert frame(events) == (1, 1)
    result = events.of(RunFinished)[0].result
    assert result.status == "failed" and result.error.startswith("PlanningError")
    assert result.to_dict()["error"] == result.error


def test_a_budget_stop_during_planning_finishes_the_run():
    events = EventLog()
    with pytest.raises(BudgetExceeded):
        go(run("x", workers=[Worker("w", "d")], model=ScriptedModel(), subscribers=[events],
               budget=Budget(tokens=5)))
    assert frame(events) == (1, 1)
    assert events.of(RunFinished)[0].result.status == "failed"


@pytest.mark.parametrize("stage", ["review", "synthesis"])
def test_cancelling_during_review_or_synthesis_finishes_the_run_cancelled(stage):
    plan = Plan(tasks=(Task(id="a", worker="w", instruction="x"),))
    entered = {}

    async def answer(call: ScriptedCall):
        is_review = "criteria" in call.messages[0].content.lower() or call.output is not None
        if (stage == "review" and is_review) or (stage == "synthesis" and not is_review
                                                 and len(entered) == 0
                                                 and "Objective" in call.prompt):
            entered["at"] = True
            await asyncio.Event().wait()
        if call.output is not None:
            return {"notes": "fine", "scores": {"coverage": 5}, "passed": True}
        return "text"

    @worker()
    async def w(ctx):
        return "work"

    events = EventLog()

    async def main():
        task = asyncio.ensure_future(run(
            "x", plan=plan, workers=[w], model=ScriptedModel(function=answer),
            reviewer=Reviewer(Rubric(criteria=("coverage",))) if stage == "review" else None,
            subscribers=[events]))
        while not entered:
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    go(main())
    assert frame(events) == (1, 1)
    result = events.of(RunFinished)[0].result
    assert result.status == "cancelled" and result.outcome("a").status == "succeeded"


# defect 6: a model the caller named reaches a worker that overrides run()

class Asker(Worker):
    async def run(self, ctx):
        return ctx.model.name if ctx.model is not None else None


def test_a_named_model_reaches_a_worker_that_overrides_run(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    plan = Plan(tasks=(Task(id="a", worker="asker", instruction="x"),))
    result = go(run("x", plan=plan, workers=[Asker("asker", "d")], model="openai:m1",
                    synthesize=False))
    assert result.outcome("a").output == "openai:m1"


# defect 8: verdicts share the concurrency limit; Retry-After has a ceiling; every model
# call is under a timeout, planning included

def test_review_verdicts_respect_max_concurrency():
    plan = Plan(tasks=tuple(Task(id=f"t{n}", worker="w", instruction="x") for n in range(12)))
    live = {"now": 0, "most": 0}

    async def answer(call: ScriptedCall):
        live["now"] += 1
        live["most"] = max(live["most"], live["now"])
        for _ in range(5):
            await asyncio.sleep(0)
        live["now"] -= 1
        return {"notes": "ok", "scores": {"coverage": 5}, "passed": True}

    @worker()
    async def w(ctx):
        return "work"

    go(run("x", plan=plan, workers=[w], model=ScriptedModel(function=answer),
           synthesize=False, max_concurrency=2,
           reviewer=Reviewer(Rubric(criteria=("coverage",)))))
    assert live["most"] == 2


def test_a_retry_after_over_the_ceiling_is_not_waited_for():
    waits: list[float] = []
    policy = RetryPolicy(max_retry_after=60)
    assert not policy.should_retry(RateLimitError("x", retry_after=600), 1)
    assert policy.should_retry(RateLimitError("x", retry_after=30), 1)
    plan = Plan(tasks=(Task(id="a", worker="writer", instruction="go"),))
    model = ScriptedModel([RateLimitError("slow down", retry_after=600)])
    from delegate.core.scheduler import Scheduler

    async def record(seconds):
        waits.append(seconds)

    result = go(Scheduler([Worker("writer", "w", "You write.")], model=model, retry=policy,
                          sleep=record).run(plan))
    assert result.outcome("a").status == "failed" and waits == []
    assert len(model.calls) == 1


def test_a_hung_planner_times_out_and_the_fallback_plan_runs():
    fallback = Plan(tasks=(Task(id="f", worker="w", instruction="fallback"),))

    async def hang(call: ScriptedCall):
        if call.output is not None:  # the planning call
            await asyncio.Event().wait()
        return "answer"

    @worker()
    async def w(ctx):
        return "done"

    result = go(run("x", workers=[w], model=ScriptedModel(function=hang),
                    fallback_plan=fallback, call_timeout=0.01,
                    retry=RetryPolicy(max_attempts=2, base_delay=0, jitter=0)))
    assert result.planning.source == "fallback_plan"
    assert "ModelTimeoutError" in result.planning.reason
    assert result.outcome("f").status == "succeeded" and result.text == "answer"


def test_a_hung_synthesis_is_cut_by_the_task_timeout():
    plan = Plan(tasks=(Task(id="a", worker="w", instruction="x"),))

    async def hang(call: ScriptedCall):
        await asyncio.Event().wait()

    @worker()
    async def w(ctx):
        return "work"

    result = go(run("x", plan=plan, workers=[w], model=ScriptedModel(function=hang),
                    task_timeout=0.01, retry=RetryPolicy(max_attempts=1)))
    assert result.status == "partial"
    assert any("synthesis failed: ModelTimeoutError" in n for n in result.notes)
    assert "work" in result.text  # the completed work is still the answer, marked as such
    assert ModelTimeoutError.__name__ in " ".join(result.notes)


# defect 9: what a run resolves, it closes; a runtime shares nothing with another

def test_a_run_closes_the_models_it_resolved(monkeypatch):
    from delegate.llm.openai_compat import OpenAICompatModel

    closed = []

    async def aclose(self):
        closed.append(self.name)

    monkeypatch.setattr(OpenAICompatModel, "aclose", aclose)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    plan = Plan(tasks=(Task(id="a", worker="asker", instruction="x"),))
    go(run("x", plan=plan, workers=[Asker("asker", "d")], model="openai:m1",
           synthesize=False))
    assert closed == ["openai:m1"]


def test_runtimes_share_nothing_and_close_what_they_resolved(monkeypatch):
    from delegate.limits.ratelimit import RateLimit
    from delegate.runtime import Runtime

    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    limit = {"openai": RateLimit(requests_per_minute=10)}
    one, two = Runtime(rate_limits=limit), Runtime(rate_limits=limit)
    a, b = one.model("openai:m"), two.model("openai:m")
    assert a is not b and one.model("openai:m") is a  # one instance per name, per runtime
    held_a, held_b = one.limiters.wrap(a), two.limiters.wrap(b)  # as a run's stack holds them
    assert held_a.limiter is not held_b.limiter
    assert one.limiters.wrap(one.model("openai:m")).limiter is held_a.limiter
    asyncio.run(one.aclose())
    with pytest.raises(Exception, match="closed"):
        one.model("openai:m")


def innermost(model):
    while hasattr(model, "wrapped"):
        model = model.wrapped
    return model


def test_runs_inside_a_runtime_share_its_models_and_leave_closing_to_it(monkeypatch):
    from delegate.llm.openai_compat import OpenAICompatModel
    from delegate.runtime import Runtime, current_runtime

    closed = []

    async def aclose(self):
        closed.append(self.name)

    monkeypatch.setattr(OpenAICompatModel, "aclose", aclose)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    plan = Plan(tasks=(Task(id="a", worker="asker", instruction="x"),))
    seen = []

    class Recorder(Worker):
        async def run(self, ctx):
            seen.append(innermost(ctx.model))  # the provider under the run's model stack
            return "ok"

    async def main():
        async with Runtime() as rt:
            for _ in range(2):
                await run("x", plan=plan, workers=[Recorder("asker", "d")],
                          model="openai:m1", synthesize=False)
            assert closed == [] and current_runtime() is rt  # still open between runs
        assert current_runtime() is None

    go(main())
    assert len(seen) == 2 and seen[0] is seen[1]  # one instance per name in the runtime
    assert closed == ["openai:m1"]  # closed once, by the runtime


def test_with_only_the_session_listening_the_engine_builds_only_the_events_it_needs():
    from delegate.core.events import EventBus, PlanCreated, TaskQueued
    from delegate.core.scheduler import Scheduler

    seen = []
    bus = EventBus(trackers=(seen.append,))
    assert not bus.active and bus.tracked
    plan = Plan(tasks=(Task(id="a", worker="w", instruction="x"),
                       Task(id="b", worker="w", instruction="y", depends_on=("a",))))

    @worker()
    async def w(ctx):
        return ctx.task.id

    go(Scheduler([w], subscribers=bus).run(plan, announce=False))
    assert [type(e).__name__ for e in seen] == ["TaskFinished", "TaskFinished"]
    assert not any(isinstance(e, TaskStarted | TaskQueued | PlanCreated) for e in seen)
    full = EventLog()
    go(Scheduler([w], subscribers=EventBus((full,), trackers=(seen.append,))).run(
        plan, announce=False))
    assert len(full.of(TaskQueued)) == 2 and len(full.of(TaskStarted)) == 2


# the session is given what the run is made of; the engine sees only core protocols

def test_a_bare_session_counts_usage_and_resolves_only_model_objects():
    from delegate.core.hooks import CallGateway
    from delegate.core.session import Meter, RunSession
    from delegate.errors import UsageError
    from delegate.llm.base import Message

    events = EventLog()
    closed: list[str] = []

    async def close():
        closed.append("closed")

    async def main():
        model = ScriptedModel(["hello there"])
        async with RunSession("x", subscribers=[events], close=close) as session:
            assert isinstance(session.meter, Meter) and isinstance(session.meter, CallGateway)
            assert session.model(model) is model
            with pytest.raises(UsageError, match="cannot resolve"):
                session.model("openai:gpt-4o-mini")
            await session.meter.wrap(model, "a").request([Message.user("hi")])
            return session.finish(session.snapshot(status="succeeded"))

    result = go(main())
    assert closed == ["closed"] and frame(events) == (1, 1)
    assert result.usage.model_calls == 1 and result.usage.unpriced_calls == 1  # no prices
    assert result.usage_by_purpose["task"].model_calls == 1


def test_the_runs_stack_and_journal_fit_the_engines_protocols():
    from delegate.core.events import EventBus
    from delegate.core.hooks import CallGateway, Recorder
    from delegate.durable.journal import Journal
    from delegate.durable.store.memory import MemoryStore
    from delegate.runtime import ModelStack

    assert isinstance(ModelStack("r", EventBus(), budget=Budget(tokens=10)), CallGateway)
    assert isinstance(Journal.start(MemoryStore()), Recorder)
