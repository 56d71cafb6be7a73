"""Review rounds: score finished work, send back only what fails, in bounded rounds.

:func:`review_rounds` is shared by :func:`delegate.run` and the staged content workflows.
Each round reviews its targets concurrently, within the run's concurrency limit; the failing
ones go back to their workers with the reviewer's feedback, concurrently too, except that a
task whose dependency is also being rewritten waits for it, so that it builds on the new
version. Only rewritten tasks are
reviewed again. A verdict or a rewrite that fails keeps the earlier output and adds a note.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Coroutine, Iterable, Mapping, MutableMapping, Sequence
from typing import Any, TypeVar

from .errors import DelegateError
from .events import EventBus, TaskReviewed
from .llm.base import Model
from .metering import Meter
from .outcomes import TaskOutcome
from .plan import Plan
from .retry import RetryPolicy, call_with_retry
from .review import Reviewer, TaskReview
from .scheduler import Scheduler
from .workers import Revision

__all__ = ["review_rounds"]

T = TypeVar("T")


async def review_rounds(
    reviewer: Reviewer, scheduler: Scheduler, plan: Plan,
    outcomes: MutableMapping[str, TaskOutcome], targets: Sequence[str], *,
    objective: str, model: Model, meter: Meter, bus: EventBus, retry: RetryPolicy,
    run_id: str, notes: list[str], shared: Mapping[str, Any] | None = None,
    limit: asyncio.Semaphore | None = None,
) -> list[TaskReview]:
    """Review the succeeded ``targets``; rewrite failing ones at most ``reviewer.max_rounds``
    times. ``outcomes`` is updated in place with each successful rewrite; ``limit`` caps the
    rewrites running at once. Returns every verdict, in the order they were given."""
    reviews: list[TaskReview] = []
    pending = [t for t in targets if t in outcomes and outcomes[t].ok]
    limit = limit or asyncio.Semaphore(scheduler.max_concurrency)

    async def verdict(tid: str, round_no: int) -> TaskReview:
        async with limit:  # verdicts share the run's concurrency limit with the rewrites
            return await call_with_retry(functools.partial(
                reviewer.review, objective, plan.task(tid), outcomes[tid].output, model,
                round_no), retry, meter.sleep)

    for round_no in range(1, reviewer.max_rounds + 2):
        if meter.budget_reached:
            notes.append(f"review round {round_no} not started: {meter.budget_reached}")
            break
        answers = await _gather([verdict(tid, round_no) for tid in pending])
        failing: list[TaskReview] = []
        for tid, answer in zip(pending, answers, strict=True):
            if isinstance(answer, DelegateError):
                notes.append(f"review {round_no} of {tid} failed, output kept unreviewed: "
                             f"{type(answer).__name__}: {answer}")
                continue
            if isinstance(answer, BaseException):
                raise answer
            reviews.append(answer)
            bus.emit(TaskReviewed(run_id=run_id, task_id=tid, review=answer))
            if not answer.passed:
                failing.append(answer)
        if not failing or round_no > reviewer.max_rounds:
            break
        pending = await _rewrite(
            reviewer, scheduler, plan, outcomes, failing, round_no, objective=objective,
            meter=meter, run_id=run_id, notes=notes, shared=shared, limit=limit)
    return reviews


async def _rewrite(
    reviewer: Reviewer, scheduler: Scheduler, plan: Plan,
    outcomes: MutableMapping[str, TaskOutcome], failing: list[TaskReview], round_no: int, *,
    objective: str, meter: Meter, run_id: str, notes: list[str],
    shared: Mapping[str, Any] | None, limit: asyncio.Semaphore,
) -> list[str]:
    order = {tid: n for n, tid in enumerate(plan.topological_order())}
    jobs: dict[str, asyncio.Task[bool]] = {}

    async def rewrite(verdict: TaskReview) -> bool:
        tid = verdict.task_id
        await asyncio.gather(*(jobs[d] for d in plan.task(tid).depends_on if d in jobs))
        async with limit:
            outputs = {k: o.output for k, o in outcomes.items() if o.ok}
            outcome = await scheduler.revise(
                plan, tid, outputs,
                Revision(reviewer.feedback(verdict), outcomes[tid].output, round_no),
                objective=objective, shared=shared, run_id=run_id, meter=meter,
            )
        if not outcome.ok:
            notes.append(f"revision {round_no} of {tid} failed, earlier output kept: "
                         f"{outcome.error}")
            return False
        outcomes[tid] = outcome
        return True

    for verdict in sorted(failing, key=lambda v: order[v.task_id]):
        jobs[verdict.task_id] = asyncio.ensure_future(rewrite(verdict))
    try:
        done = await asyncio.gather(*jobs.values())
    except BaseException:
        await _cancel(jobs.values())
        raise
    return [tid for tid, ok in zip(jobs, done, strict=True) if ok]


async def _gather(coros: list[Coroutine[Any, Any, T]]) -> list[T | BaseException]:
    """Await every one of ``coros``, errors returned in place; when the caller is cancelled
    (or anything else ends the wait) they are cancelled and waited for: none outlives it."""
    jobs = [asyncio.ensure_future(c) for c in coros]
    try:
        return await asyncio.gather(*jobs, return_exceptions=True)
    except BaseException:
        await _cancel(jobs)
        raise


async def _cancel(jobs: Iterable[asyncio.Future[Any]]) -> None:
    jobs = list(jobs)
    for job in jobs:
        job.cancel()
    await asyncio.shield(asyncio.gather(*jobs, return_exceptions=True))
