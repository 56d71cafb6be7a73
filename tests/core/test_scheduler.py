"""Scheduling order, concurrency bound, context propagation, retries, timeouts, policies,
cancellation. No wall-clock sleeps: ordering is forced with events and counters."""

import asyncio

import pytest

from delegate import (
    EventLog,
    Plan,
    PlanError,
    PlanLimits,
    RetryPolicy,
    Scheduler,
    ScriptedModel,
    Task,
    Worker,
)
from delegate.core.events import RunFinished, TaskEnded, TaskQueued, TaskRetried, TaskStarted
from delegate.errors import ModelRequestError, RateLimitError

NO_WAIT = RetryPolicy(max_attempts=3, base_delay=0, jitter=0)


def tasks(*specs) -> Plan:
    """specs: (id, depends_on=(), priority=0) tuples, all for worker 'w'."""
    out = []
    for spec in specs:
        spec = spec if isinstance(spec, tuple) else (spec,)
        tid, deps, prio = spec[0], spec[1] if len(spec) > 1 else (), spec[2] if len(spec) > 2 else 0
        out.append(Task(id=tid, worker="w", depends_on=deps, priority=prio))
    return Plan(tasks=tuple(out))


def recording_worker(log: list[str]):
    async def w(ctx):
        log.append(ctx.task.id)
        return ctx.task.id

    return w


def run(plan, workers, **kw):
    return asyncio.run(Scheduler(workers, **kw).run(plan))


def test_dependencies_start_after_they_finish():
    log: list[str] = []
    plan = tasks(("c", ("b",)), ("b", ("a",)), "a")
    result = run(plan, [Worker("w", fn=recording_worker(log))], max_concurrency=4)
    assert log == ["a", "b", "c"]
    assert result.status == "succeeded"
    assert [o.task_id for o in result.outcomes] == ["c", "b", "a"]  # plan order


def test_priority_then_critical_path_then_plan_order():
    log: list[str] = []
    # with one slot: 'hi' has top priority; 'head' starts a chain of 3, 'lone' is alone
    plan = tasks("lone", "head", ("mid", ("head",)), ("tail", ("mid",)), ("hi", (), 5), "lone2")
    run(plan, [Worker("w", fn=recording_worker(log))], max_concurrency=1)
    # after mid, lone, tail and lone2 all have one task left: plan order decides
    assert log == ["hi", "head", "mid", "lone", "tail", "lone2"]


def test_concurrency_never_exceeds_the_limit_and_reaches_it():
    running = peak = 0
    events = EventLog()

    async def w(ctx):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        for _ in range(3):  # yield to the loop so that others can start
            await asyncio.sleep(0)
        running -= 1

    plan = tasks(*[f"t{i}" for i in range(12)])
    run(plan, [Worker("w", fn=w)], max_concurrency=3, subscribers=[events])
    assert peak == 3
    live = max_live = 0
    for e in events.events:
        if isinstance(e, TaskStarted):
            live += 1
        elif isinstance(e, TaskEnded):
            live -= 1
        max_live = max(max_live, live)
    assert max_live == 3


def test_dependents_get_results_in_plan_order_not_completion_order():
    b_done = asyncio.Event()
    seen = {}

    async def w(ctx):
        if ctx.task.id == "a":
            await b_done.wait()  # 'a' finishes after 'b'
        if ctx.task.id == "b":
            b_done.set()
        seen[ctx.task.id] = [(d.task_id, d.output) for d in ctx.dependencies]
        return f"out-{ctx.task.id}"

    async def main():
        plan = tasks("a", "b", ("c", ("b", "a")))
        events = EventLog()
        await Scheduler([Worker("w", fn=w)], subscribers=[events]).run(plan)
        return [e.task_id for e in events.of(TaskEnded)]

    finish_order = asyncio.run(main())
    assert finish_order.index("b") < finish_order.index("a")
    assert seen["c"] == [("a", "out-a"), ("b", "out-b")]


def test_a_result_is_handed_to_all_its_dependents_as_one_record():
    seen = {}

    async def w(ctx):
        seen[ctx.task.id] = ctx.dependencies
        return f"out-{ctx.task.id}"

    run(tasks("a", ("b", ("a",)), ("c", ("a",)), ("d", ("c", "a"))), [Worker("w", fn=w)])
    (b_a,), (c_a,), (d_a, d_c) = seen["b"], seen["c"], seen["d"]
    assert (d_a.task_id, d_a.output, d_c.task_id, d_c.output) == ("a", "out-a", "c", "out-c")
    assert b_a is c_a is d_a  # built once, when 'a' succeeded; frozen, so shared


def test_outcomes_of_an_earlier_version_are_handed_to_their_dependents():
    from delegate.core.outcomes import TaskOutcome

    seen = {}

    async def w(ctx):
        seen[ctx.task.id] = [(d.task_id, d.worker, d.output) for d in ctx.dependencies]
        return f"out-{ctx.task.id}"

    plan = tasks("a", "b", ("c", ("b", "a")))
    done = {"a": TaskOutcome("a", "w", "succeeded", 1, 0.0, 1.0, output="earlier-a")}
    result = asyncio.run(Scheduler([Worker("w", fn=w)]).run(plan, done=done))
    assert seen == {"b": [], "c": [("a", "w", "earlier-a"), ("b", "w", "out-b")]}
    assert result.outcome("a").output == "earlier-a"


def test_shared_context_reaches_workers_and_is_read_only():
    async def w(ctx):
        with pytest.raises(TypeError):
            ctx.shared["x"] = 2
        return ctx.shared["x"] * 10

    result = asyncio.run(Scheduler([Worker("w", fn=w)]).run(tasks("a"), shared={"x": 4}))
    assert result.outcome("a").output == 40


def test_transient_model_errors_are_retried_honouring_retry_after():
    model = ScriptedModel([
        RateLimitError("slow down", retry_after=7),
        RateLimitError("slow down", retry_after=7),
        "fine",
    ])
    delays: list[float] = []

    async def sleep(d):
        delays.append(d)

    events = EventLog()
    result = run(tasks("a"), [Worker("w", "d", "be useful")], model=model, retry=NO_WAIT,
                 sleep=sleep, subscribers=[events])
    outcome = result.outcome("a")
    assert (outcome.status, outcome.attempts, outcome.output) == ("succeeded", 3, "fine")
    assert delays == [7, 7]
    assert [e.attempt for e in events.of(TaskRetried)] == [1, 2]
    assert len(model.calls) == 3


def test_permanent_errors_are_not_retried():
    model = ScriptedModel([ModelRequestError("bad request", status=400), "never reached"])
    result = run(tasks("a"), [Worker("w", "d", "x")], model=model, retry=NO_WAIT)
    outcome = result.outcome("a")
    assert (outcome.status, outcome.attempts) == ("failed", 1)
    assert outcome.error.startswith("ModelRequestError: bad request")
    assert len(model.calls) == 1


def test_retries_stop_at_max_attempts():
    model = ScriptedModel([RateLimitError("429")] * 3)
    result = run(tasks("a"), [Worker("w", "d", "x")], model=model, retry=NO_WAIT)
    assert (result.outcome("a").status, result.outcome("a").attempts) == ("failed", 3)


def test_timeout_marks_the_task_timed_out():
    never = asyncio.Event()

    async def hang(ctx):
        await never.wait()

    result = run(tasks("a"), [Worker("w", fn=hang)], task_timeout=0.01,
                 retry=RetryPolicy(max_attempts=1))
    outcome = result.outcome("a")
    assert outcome.status == "timed_out" and "timed out" in outcome.error


def test_a_timed_out_attempt_is_retried():
    async def hang_once(ctx):
        if ctx.attempt == 1:
            await asyncio.Event().wait()
        return "second time"

    result = run(tasks("a"), [Worker("w", fn=hang_once)], task_timeout=0.01, retry=NO_WAIT)
    assert (result.outcome("a").status, result.outcome("a").attempts) == ("succeeded", 2)


def test_continue_policy_skips_dependents_and_runs_the_rest():
    calls: list[str] = []

    async def w(ctx):
        calls.append(ctx.task.id)
        if ctx.task.id == "a":
            raise ValueError("broken input")
        return "ok"

    plan = tasks("a", ("b", ("a",)), ("c", ("b",)), "d")
    result = run(plan, [Worker("w", fn=w)], retry=NO_WAIT)
    status = {o.task_id: o.status for o in result.outcomes}
    assert status == {"a": "failed", "b": "skipped", "c": "skipped", "d": "succeeded"}
    assert "b" not in calls and "c" not in calls  # a failure never flows on as content
    assert result.outcome("b").error == "dependency 'a' did not succeed"
    assert result.outcome("a").attempts == 1  # ValueError is not transient
    assert result.status == "partial"


def test_fail_fast_cancels_running_work_and_skips_the_rest():
    d_started = asyncio.Event()
    d_cleaned = []

    async def w(ctx):
        if ctx.task.id == "d":
            d_started.set()
            try:
                await asyncio.Event().wait()
            finally:
                d_cleaned.append(True)
        if ctx.task.id == "a":
            await d_started.wait()
            raise ValueError("boom")
        return "ok"

    plan = tasks("a", "d", ("b", ("a",)), ("e", ("d",)))
    result = run(plan, [Worker("w", fn=w)], failure_policy="fail_fast", retry=NO_WAIT)
    status = {o.task_id: o.status for o in result.outcomes}
    assert status == {"a": "failed", "d": "cancelled", "b": "skipped", "e": "skipped"}
    d = result.outcome("d")  # it ran one attempt before it was cancelled, and says so
    assert (d.attempts, d.started_at is not None, d.finished_at is not None) == (1, True, True)
    assert d_cleaned == [True]
    assert result.status == "failed"


def test_cancelling_the_run_cancels_workers_and_accounts_for_every_task():
    started = asyncio.Event()
    cleaned = []
    events = EventLog()

    async def w(ctx):
        if ctx.task.id == "slow":
            started.set()
            try:
                await asyncio.Event().wait()
            finally:
                cleaned.append(ctx.task.id)
        return "ok"

    async def main():
        plan = tasks("quick", "slow", ("later", ("slow",)))
        run_task = asyncio.create_task(
            Scheduler([Worker("w", fn=w)], subscribers=[events]).run(plan)
        )
        await started.wait()
        run_task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run_task

    asyncio.run(main())
    assert cleaned == ["slow"]
    (finished,) = events.of(RunFinished)
    status = {o.task_id: o.status for o in finished.result.outcomes}
    assert status == {"quick": "succeeded", "slow": "cancelled", "later": "cancelled"}
    slow, later = finished.result.outcome("slow"), finished.result.outcome("later")
    assert (slow.attempts, slow.started_at is not None) == (1, True)
    assert (later.attempts, later.started_at) == (0, None)  # it never started
    assert finished.result.status == "cancelled"
    assert sorted(e.task_id for e in events.of(TaskEnded)) == ["later", "quick", "slow"]


def test_invalid_plan_runs_nothing():
    calls = []

    async def w(ctx):
        calls.append(ctx.task.id)

    plan = Plan(tasks=(Task(id="a", worker="w"), Task(id="b", worker="ghost")))
    with pytest.raises(PlanError):
        run(plan, [Worker("w", fn=w)])
    assert calls == []


def test_thousand_function_tasks_each_accounted_for_exactly_once():
    async def leaf(ctx):
        return int(ctx.task.id[1:])

    async def total(ctx):
        return sum(d.output for d in ctx.dependencies), [d.task_id for d in ctx.dependencies]

    leaves = [Task(id=f"t{i}", worker="leaf") for i in range(999)]
    plan = Plan(tasks=(*leaves, Task(id="sum", worker="total",
                                     depends_on=tuple(t.id for t in reversed(leaves)))))
    events = EventLog()
    result = asyncio.run(Scheduler(
        [leaf, total], max_concurrency=64, limits=PlanLimits(max_tasks=1000),
        subscribers=[events],
    ).run(plan))
    assert result.status == "succeeded"
    value, order = result.outcome("sum").output
    assert value == sum(range(999))
    assert order == [f"t{i}" for i in range(999)]  # plan order, whatever depends_on says
    for kind in (TaskQueued, TaskStarted, TaskEnded):
        ids = [e.task_id for e in events.of(kind)]
        assert len(ids) == 1000 and len(set(ids)) == 1000, kind
