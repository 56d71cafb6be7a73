"""The engine's choices that the scheduler tests do not pin: the critical path in expected
seconds, what a run learns of its workers' times, error information on outcomes, and a stop
that catches tasks started but not yet run. Ordering is forced with one slot; no clocks."""

import asyncio

import pytest

from delegate import (
    EventLog,
    Plan,
    PlanLimits,
    RetryPolicy,
    Scheduler,
    ScriptedModel,
    Task,
    Worker,
)
from delegate.core._execution import BURST
from delegate.core.events import EventBus, TaskStarted
from delegate.errors import ErrorInfo, ModelServerError, UsageError
from delegate.limits.budget import Budget
from delegate.runtime import ModelStack


def _log_worker(name: str, log: list[str]) -> Worker:
    async def fn(ctx):
        log.append(ctx.task.id)
        return ctx.task.id

    return Worker(name, fn=fn)


def test_expected_seconds_weigh_the_critical_path():
    # by count, 'a' (a chain of two) goes first; by expected seconds, 'b' (one long task)
    log: list[str] = []
    plan = Plan(tasks=(Task(id="a", worker="w", expected_seconds=1.0),
                       Task(id="a2", worker="w", depends_on="a", expected_seconds=1.0),
                       Task(id="b", worker="w", expected_seconds=5.0)))
    asyncio.run(Scheduler([_log_worker("w", log)], max_concurrency=1).run(plan))
    assert log == ["b", "a", "a2"]
    log.clear()
    counted = Plan(tasks=tuple(t.model_copy(update={"expected_seconds": None})
                               for t in plan.tasks))
    asyncio.run(Scheduler([_log_worker("w", log)], max_concurrency=1).run(counted))
    assert log == ["a", "a2", "b"]  # then a2 and b tie on one task left: plan order


def test_a_worker_s_observed_time_stands_in_for_a_missing_estimate():
    log: list[str] = []
    scheduler = Scheduler([_log_worker("quick", log), _log_worker("slow", log)],
                          max_concurrency=1)
    scheduler.observed.update({"slow": [30.0, 3], "quick": [2.0, 4]})  # 10 s and 0.5 s
    plan = Plan(tasks=(Task(id="q1", worker="quick"), Task(id="q2", worker="quick",
                                                           depends_on="q1"),
                       Task(id="s", worker="slow"), Task(id="x", worker="other")))
    assert scheduler.expected_seconds(plan) == {"q1": 0.5, "q2": 0.5, "s": 10.0,
                                                "x": (0.5 + 0.5 + 10.0) / 3}
    assert Scheduler([]).expected_seconds(plan) is None  # nothing known: count tasks
    plan = Plan(tasks=plan.tasks[:3])
    asyncio.run(scheduler.run(plan))
    assert log == ["s", "q1", "q2"]
    assert scheduler.observed["quick"][1] == 6 and scheduler.observed["slow"][1] == 4


def test_outcomes_carry_error_info_on_every_path():
    async def fail(ctx):
        if ctx.task.id == "transient":
            raise ModelServerError("busy", status=503)
        raise ValueError("bad\ninput")

    plan = Plan(tasks=(Task(id="plain", worker="w"), Task(id="transient", worker="w"),
                       Task(id="after", worker="w", depends_on="plain")))
    for subscribers in ((), (EventLog(),)):  # awaited directly, and through the attempt loop
        result = asyncio.run(Scheduler(
            [Worker("w", fn=fail)], subscribers=subscribers,
            retry=RetryPolicy(max_attempts=2, base_delay=0, jitter=0)).run(plan))
        plain, transient, after = result.outcomes
        assert plain.error_info == ErrorInfo("ValueError", "bad input")
        assert (plain.error, plain.error_type) == ("ValueError: bad input", "ValueError")
        assert transient.attempts == 2
        assert transient.error_info == ErrorInfo("ModelServerError", "busy", True, 503)
        assert after.status == "skipped" and after.error_info is None


def test_a_cancelling_stop_catches_tasks_started_but_not_yet_run():
    ran: list[str] = []
    bus = EventBus()
    meter = ModelStack("run", bus, budget=Budget(tokens=10, on_exceed="cancel"))

    async def fn(ctx):
        ran.append(ctx.task.id)
        if ctx.task.id == "first":  # all three were started; the stop comes before 2 and 3 run
            meter.guard.stop("token budget reached")
        return "ok"

    plan = Plan(tasks=tuple(Task(id=t, worker="w") for t in ("first", "second", "third")))
    events = EventLog()
    bus.subscribe(events)
    result = asyncio.run(Scheduler([Worker("w", fn=fn)], subscribers=bus).run(
        plan, meter=meter))
    assert ran == ["first"]
    assert [e.task_id for e in events.of(TaskStarted)] == ["first"]
    status = {o.task_id: (o.status, o.error) for o in result.outcomes}
    assert status == {"first": ("succeeded", None),
                      "second": ("cancelled", "cancelled before it started"),
                      "third": ("cancelled", "cancelled before it started")}


def test_the_scheduler_resolves_no_model_string_itself():
    with pytest.raises(UsageError, match="cannot resolve the model 'openai:gpt'"):
        Scheduler([], model="openai:gpt")
    model = ScriptedModel(["hi"])
    assert Scheduler([], model="scripted:x", resolve=lambda spec: model).model is model
    result = asyncio.run(Scheduler([Worker("w", "d", "x", model="openai:gpt")]).run(
        Plan(tasks=(Task(id="a", worker="w"),))))
    assert result.outcome("a").error_info.type == "UsageError"


def test_the_hot_path_builds_the_same_records_as_their_constructors():
    """A plain function worker with no model is awaited directly, its context, dependencies
    and outcome built field by field (core/_builders.py): each must equal the record the
    dataclass's own constructor makes, every field set (a field added to the dataclass but
    not to the hot path would fail here), and stay frozen."""
    import dataclasses

    from delegate import DependencyResult, TaskContext, TaskOutcome

    seen: list[TaskContext] = []

    async def fn(ctx):
        seen.append(ctx)
        return f"out-{ctx.task.id}"

    plan = Plan(tasks=(Task(id="a", worker="w"), Task(id="b", worker="w", depends_on=("a",))))
    result = asyncio.run(Scheduler([Worker("w", fn=fn)]).run(
        plan, objective="obj", shared={"k": 1}, run_id="r1"))
    for ctx in seen:
        assert type(ctx) is TaskContext
        assert ctx == TaskContext(**{f.name: getattr(ctx, f.name)
                                     for f in dataclasses.fields(TaskContext)})
        with pytest.raises(dataclasses.FrozenInstanceError):
            ctx.attempt = 2  # type: ignore[misc]
    second = seen[1]
    assert second.dependencies == (DependencyResult("a", "w", "out-a"),)
    assert (second.run_id, second.objective, dict(second.shared), second.model,
            second.attempt, second.revision) == ("r1", "obj", {"k": 1}, None, 1, None)
    for outcome in result.outcomes:
        assert type(outcome) is TaskOutcome
        fields = {f.name: getattr(outcome, f.name) for f in dataclasses.fields(TaskOutcome)}
        assert outcome == TaskOutcome(**fields)
        assert (outcome.status, outcome.attempts, outcome.error, outcome.error_type,
                outcome.error_info) == ("succeeded", 1, None, None, None)
    assert result.outputs == {"a": "out-a", "b": "out-b"}


def _wide(n: int) -> Plan:
    return Plan(tasks=tuple(Task(id=f"t{i}", worker="w") for i in range(n)))


_WIDE_LIMITS = PlanLimits(max_tasks=1_000)


@pytest.mark.parametrize("subscribers", [(), (EventLog(),)], ids=["direct", "attempts"])
def test_a_large_ready_set_starts_in_bursts_in_plan_order(subscribers):
    # the first task runs once a burst of BURST exists, not after all 300 were created
    n = 3 * BURST + 10
    entered: list[str] = []
    alive_at_first: list[int] = []

    async def fn(ctx):
        if not entered:
            alive_at_first.append(len(asyncio.all_tasks()) - 1)  # the run's own task aside
        entered.append(ctx.task.id)
        await asyncio.sleep(0)
        return ctx.task.id

    result = asyncio.run(Scheduler([Worker("w", fn=fn)], max_concurrency=1_000,
                                   limits=_WIDE_LIMITS, subscribers=subscribers).run(_wide(n)))
    assert alive_at_first == [BURST]
    assert entered == [f"t{i}" for i in range(n)]  # bursts keep plan order
    assert [o.status for o in result.outcomes] == ["succeeded"] * n


def test_a_fail_fast_failure_in_the_first_burst_starts_no_later_burst():
    entered: list[str] = []

    async def fn(ctx):
        entered.append(ctx.task.id)
        if ctx.task.id == "t0":
            raise ValueError("broken")
        await asyncio.sleep(0)
        return "ok"

    n = 2 * BURST + 5
    result = asyncio.run(Scheduler([Worker("w", fn=fn)], max_concurrency=1_000,
                                   limits=_WIDE_LIMITS, failure_policy="fail_fast").run(
        _wide(n)))
    assert len(entered) == BURST  # the first burst ran; the failure stopped the rest
    statuses = [o.status for o in result.outcomes]
    assert statuses[0] == "failed" and len(statuses) == n
    assert statuses[BURST:] == ["skipped"] * (n - BURST)
    assert all(o.error.startswith("the run stopped after a failure")
               for o in result.outcomes[BURST:])


def test_a_run_cancelled_between_bursts_gives_every_task_one_outcome():
    entered: list[str] = []
    gate = asyncio.Event  # made inside the loop below
    n = 3 * BURST

    async def main():
        release = gate()

        async def fn(ctx):
            entered.append(ctx.task.id)
            await release.wait()
            return "ok"

        scheduler = Scheduler([Worker("w", fn=fn)], max_concurrency=1_000,
                              limits=_WIDE_LIMITS)
        run = asyncio.create_task(scheduler.run(_wide(n)))
        for _ in range(100):  # until the first burst is in its workers (a pass or two)
            if len(entered) >= BURST or run.done():
                break
            await asyncio.sleep(0)
        assert len(entered) == BURST and not run.done()
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
        assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
        return scheduler.last_result

    result = asyncio.run(main())
    assert len(result.outcomes) == n and len(entered) < n
    started = {tid for tid in entered}
    for outcome in result.outcomes:
        assert outcome.status == "cancelled"
        assert (outcome.error == "cancelled while running") == (outcome.task_id in started)


def test_bursts_from_the_ready_heap_keep_priority_order_and_the_limit():
    # more ready tasks than slots, and more slots than a burst: the best first, each burst
    # from the heap, never more running than the limit
    n, limit = 3 * BURST, 2 * BURST + 3
    entered: list[str] = []

    async def main():
        release = asyncio.Event()

        async def fn(ctx):
            entered.append(ctx.task.id)
            await release.wait()
            return "ok"

        plan = Plan(tasks=tuple(Task(id=f"t{i}", worker="w", priority=i) for i in range(n)))
        run = asyncio.create_task(Scheduler([Worker("w", fn=fn)], max_concurrency=limit,
                                            limits=_WIDE_LIMITS).run(plan))
        for _ in range(100):  # a few passes of the loop start every burst that fits
            await asyncio.sleep(0)
        held = list(entered)
        release.set()
        return held, await run

    held, result = asyncio.run(main())
    assert held == [f"t{i}" for i in range(n - 1, n - 1 - limit, -1)]  # the best, in order
    assert all(o.ok for o in result.outcomes) and len(entered) == n
