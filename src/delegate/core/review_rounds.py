"""Review rounds: judge finished work, send back only what fails, keep only what improves.

:func:`review_rounds` is shared by :func:`delegate.run` and the staged content workflows.
Each round judges its pending tasks: first the reviewer's deterministic checks, which name the
exact problems and score the output, then the model's verdict, concurrently within the run's
concurrency limit. The failing ones go back to their workers with the problems and notes,
concurrently too, except that a task whose dependency is also being rewritten waits for it, so
that it builds on the new version.

With checks, a rewrite stands only when the checks score it higher than the version it would
replace; otherwise the earlier version is kept and the task leaves the review. A task whose
checks find nothing to improve is not sent back on the model's word alone (no rewrite could be
kept). Without checks, a successful rewrite stands. Only rewrites that stand are judged in the
next round, and there are at most ``reviewer.max_rounds`` rounds (one round that only
judges when it is 0). A verdict or a rewrite that
fails keeps the earlier output and adds a note. Every rewrite is announced with one
:class:`~delegate.core.events.TaskRevised` carrying the outcome that stands.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Coroutine, Iterable, Mapping, MutableMapping, Sequence
from typing import Any, TypeVar

from ..errors import DelegateError
from ..llm.base import Model
from .events import EventBus, TaskReviewed, TaskRevised
from .hooks import CallGateway
from .outcomes import TaskOutcome
from .plan import Plan
from .retry import RetryPolicy, call_with_retry
from .review import CheckResult, Reviewer, TaskReview
from .scheduler import Scheduler
from .workers import Revision

__all__ = ["review_rounds"]

T = TypeVar("T")


async def review_rounds(
    reviewer: Reviewer, scheduler: Scheduler, plan: Plan,
    outcomes: MutableMapping[str, TaskOutcome], targets: Sequence[str], *,
    objective: str, model: Model, meter: CallGateway, bus: EventBus, retry: RetryPolicy,
    run_id: str, notes: list[str], shared: Mapping[str, Any] | None = None,
    limit: asyncio.Semaphore | None = None,
) -> list[TaskReview]:
    """Review the succeeded ``targets`` in at most ``reviewer.max_rounds`` rounds (see the
    module docstring). ``outcomes`` is updated in place with each rewrite that stands;
    ``limit`` caps the verdicts and rewrites running at once. Returns every verdict, in the
    order they were given."""
    reviews: list[TaskReview] = []
    pending = [t for t in targets if t in outcomes and outcomes[t].ok]
    limit = limit or asyncio.Semaphore(scheduler.max_concurrency)

    async def verdict(tid: str, round_no: int, check: CheckResult | None) -> TaskReview:
        async with limit:  # verdicts share the run's concurrency limit with the rewrites
            return await call_with_retry(functools.partial(
                reviewer.review, objective, plan.task(tid), outcomes[tid].output, model,
                round_no, check), retry, meter.sleep)

    for round_no in range(1, max(reviewer.max_rounds, 1) + 1):
        if not pending:
            break
        if meter.budget_reached:
            notes.append(f"review round {round_no} not started: {meter.budget_reached}")
            break
        outputs = _outputs(outcomes)
        checks = {tid: reviewer.check(plan.task(tid), outputs[tid], outputs) for tid in pending}
        if not reviewer.model_verdict:  # the checks alone judge: only what they have a say on
            pending = [tid for tid in pending if checks[tid] is not None]
        answers = await _gather([verdict(tid, round_no, checks[tid]) for tid in pending])
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
            check = checks[tid]
            if answer.passed:
                continue
            if check is not None and not check.problems and check.score >= 1.0:
                notes.append(f"review {round_no} of {tid}: not sent back, the checks find "
                             "nothing a rewrite could improve")
                continue
            failing.append(answer)
        if not failing or round_no > reviewer.max_rounds:  # max_rounds=0: judge only
            break
        pending = await _rewrite(
            reviewer, scheduler, plan, outcomes, failing, round_no, objective=objective,
            meter=meter, bus=bus, run_id=run_id, notes=notes, shared=shared, limit=limit)
    return reviews


def _outputs(outcomes: Mapping[str, TaskOutcome]) -> dict[str, Any]:
    return {k: o.output for k, o in outcomes.items() if o.ok}


async def _rewrite(
    reviewer: Reviewer, scheduler: Scheduler, plan: Plan,
    outcomes: MutableMapping[str, TaskOutcome], failing: list[TaskReview], round_no: int, *,
    objective: str, meter: CallGateway, bus: EventBus, run_id: str, notes: list[str],
    shared: Mapping[str, Any] | None, limit: asyncio.Semaphore,
) -> list[str]:
    """Send ``failing`` back; returns the ids whose rewrite stands."""
    order = {tid: n for n, tid in enumerate(plan.topological_order())}
    jobs: dict[str, asyncio.Task[bool]] = {}

    async def rewrite(verdict: TaskReview) -> bool:
        tid = verdict.task_id
        await asyncio.gather(*(jobs[d] for d in plan.task(tid).depends_on if d in jobs))
        earlier = outcomes[tid]
        try:
            async with limit:
                outcome = await scheduler.revise(
                    plan, tid, _outputs(outcomes),
                    Revision(reviewer.feedback(verdict), earlier.output, round_no),
                    objective=objective, shared=shared, run_id=run_id, meter=meter,
                )
        except asyncio.CancelledError:  # the rewrite that started ends too: the earlier stands
            bus.emit(TaskRevised(run_id=run_id, task_id=tid, round=round_no, outcome=earlier,
                                 kept=False, note=f"revision {round_no} of {tid} cancelled, "
                                 "earlier output kept"))
            raise
        why = ""
        if not outcome.ok:
            why = f"revision {round_no} of {tid} failed, earlier output kept: {outcome.error}"
        else:
            why = _worse(reviewer, plan, tid, earlier, outcome, outcomes, round_no)
        kept = not why
        if kept:
            outcomes[tid] = outcome
        else:
            notes.append(why)
        bus.emit(TaskRevised(run_id=run_id, task_id=tid, round=round_no,
                             outcome=outcomes[tid], kept=kept, note=why))
        return kept

    for verdict in sorted(failing, key=lambda v: order[v.task_id]):
        jobs[verdict.task_id] = asyncio.ensure_future(rewrite(verdict))
    try:
        done = await asyncio.gather(*jobs.values())
    except BaseException:
        await _cancel(jobs.values())
        raise
    return [tid for tid, ok in zip(jobs, done, strict=True) if ok]


def _worse(reviewer: Reviewer, plan: Plan, tid: str, earlier: TaskOutcome, new: TaskOutcome,
           outcomes: Mapping[str, TaskOutcome], round_no: int) -> str:
    """Why the rewrite ``new`` does not stand ("" when it does): with checks, both versions
    are scored against the run's current outputs and the rewrite must score higher."""
    if reviewer.checks is None:
        return ""
    outputs = _outputs(outcomes)
    task = plan.task(tid)
    before = reviewer.check(task, earlier.output, {**outputs, tid: earlier.output})
    after = reviewer.check(task, new.output, {**outputs, tid: new.output})
    if before is None or after is None or after.score > before.score:
        return ""
    return (f"revision {round_no} of {tid} discarded, earlier output kept: the checks score it "
            f"{after.score:.2f}, the earlier version {before.score:.2f}")


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
