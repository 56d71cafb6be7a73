"""The executor seam: a plan run through the in-process default and through a process pool
ends the same way, task by task; a worker process that raises or dies fails its task."""

import asyncio
import concurrent.futures
import multiprocessing
import pickle

import pytest

from delegate import Plan, RetryPolicy, Scheduler, Task
from delegate.backends.base import AttemptResult, AttemptSpec, Executor
from delegate.backends.local import LocalExecutor
from delegate.core.workers import DependencyResult, Revision
from delegate.errors import ErrorInfo

from ._pool import WORKERS, PoolExecutor, run_in_child

PLAN = Plan(tasks=(
    Task(id="a", worker="double"),
    Task(id="b", worker="flaky"),
    Task(id="c", worker="collect", depends_on=("b", "a")),
    Task(id="d", worker="broken", instruction="on purpose"),
    Task(id="e", worker="collect", depends_on=("d", "a")),
    Task(id="f", worker="collect", depends_on=("c",)),
))


async def _no_wait(seconds: float) -> None:
    return None


def _scheduler(executor: Executor | None) -> Scheduler:
    return Scheduler(WORKERS, max_concurrency=2, executor=executor, sleep=_no_wait,
                     retry=RetryPolicy(max_attempts=2, base_delay=0, jitter=0))


def _summary(result):
    return [(o.task_id, o.status, o.output, o.attempts, o.error, o.error_info)
            for o in result.outcomes]


@pytest.fixture
def pool():
    # fork where there is one: the child has this module already (spawn imports it again)
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with concurrent.futures.ProcessPoolExecutor(
            2, mp_context=multiprocessing.get_context(method)) as pool:
        yield pool


def test_a_plan_ends_the_same_in_process_and_in_a_process_pool(pool):
    local = asyncio.run(_scheduler(None).run(PLAN, shared={"x": 21}))
    remote_executor = PoolExecutor(pool)
    remote = asyncio.run(_scheduler(remote_executor).run(PLAN, shared={"x": 21}))
    assert _summary(remote) == _summary(local)
    by_id = {o.task_id: o for o in remote.outcomes}
    assert by_id["a"].output == 42
    assert (by_id["b"].status, by_id["b"].attempts) == ("succeeded", 2)  # retried once
    assert by_id["c"].output == [("a", "double", 42), ("b", "flaky", "ok on attempt 2")]
    assert by_id["d"].status == "failed"
    assert by_id["d"].error_info == ErrorInfo("ValueError", "no good: on purpose")
    assert by_id["e"].status == "skipped" and by_id["e"].attempts == 0
    assert by_id["f"].output == [("c", "collect", by_id["c"].output)]
    # every attempt crossed to the pool (the skipped task never did), the retry included
    assert sorted(remote_executor.sent) == [("a", 1), ("b", 1), ("b", 2), ("c", 1), ("d", 1),
                                            ("f", 1)]


def test_a_crashed_worker_process_fails_its_task_and_the_run_ends(pool):
    plan = Plan(tasks=(Task(id="boom", worker="crash"), Task(id="after", worker="double",
                                                             depends_on=("boom",))))
    result = asyncio.run(_scheduler(PoolExecutor(pool)).run(plan, shared={"x": 1}))
    boom, after = result.outcomes
    assert boom.status == "failed" and boom.error_info.type == "BrokenProcessPool"
    assert not boom.error_info.transient and boom.attempts == 1
    assert after.status == "skipped"


def test_the_in_process_executor_builds_no_spec():
    class Refuses(LocalExecutor):
        async def run_attempt(self, spec: AttemptSpec) -> AttemptResult:
            raise AssertionError("the scheduler runs in-process attempts itself")

    scheduler = _scheduler(Refuses())
    result = asyncio.run(scheduler.run(PLAN, shared={"x": 21}))
    assert _summary(result) == _summary(asyncio.run(_scheduler(None).run(PLAN,
                                                                         shared={"x": 21})))


def test_the_local_executor_runs_a_spec_with_its_own_registry():
    dep = DependencyResult("a", "double", 42)
    spec = AttemptSpec("run", "goal", Task(id="c", worker="collect", depends_on=("a",)),
                       (dep,), {"x": 1}, "collect", None, 1,
                       Revision("more", previous_output=[], round=1))
    spec = pickle.loads(pickle.dumps(spec))  # a spec crosses a process boundary intact
    assert run_in_child(spec) == AttemptResult(output=[("a", "double", 42)])
    failed = asyncio.run(LocalExecutor(WORKERS).run_attempt(
        AttemptSpec("run", "", Task(id="d", worker="broken"), (), {}, "broken", None)))
    assert failed == AttemptResult(error=ErrorInfo("ValueError", "no good:"))
    unknown = asyncio.run(LocalExecutor().run_attempt(
        AttemptSpec("run", "", Task(id="d", worker="nobody"), (), {}, "nobody", None)))
    assert unknown.error is not None and unknown.error.type == "KeyError"
    assert isinstance(LocalExecutor(), Executor)
