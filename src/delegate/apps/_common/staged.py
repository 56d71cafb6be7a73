"""A run carried out in stages: the shared machinery of the blog and report workflows.

:func:`delegate.run` plans once and runs the plan; a content workflow needs more control. The
blog learns its sections from an outline task, so its plan grows from version 1 (the outline)
to version 2 (one task per section); both workflows hold back their last task (the editor, the
executive summary) until the reviewer has passed or sent back the content tasks, so that the
last task reads the reviewed work. :class:`StagedRun` gives them one run id, one event bus and
one meter over several scheduler passes, so that subscribers see a single run: one
``RunStarted``, a ``PlanCreated`` per plan version, each task ending once, and one
``RunFinished``. Tasks that finished in an earlier pass are never run again.

Used as an async context manager over a :class:`~delegate.core.session.RunSession`: when the
workflow is cancelled or fails part way, the session records every task that never ran,
emits ``RunFinished`` with what it has and the error, closes what it opened, and re-raises.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any

from ...core.approval import approve_plan, nothing_ran
from ...core.config import RunConfig
from ...core.events import PlanCreated, Subscriber, TaskRevised
from ...core.interrupts import InterruptHandler
from ...core.orchestrator import Orchestrator
from ...core.outcomes import PlanningReport, RunResult, TaskOutcome, run_status
from ...core.plan import Plan, PlanLimits, Strategy, Task
from ...core.review import Reviewer, TaskReview
from ...core.review_rounds import review_rounds
from ...core.scheduler import Scheduler
from ...core.strategies import PlanVersion, propose_extension
from ...core.workers import Revision, WorkerRegistry
from ...durable.interrupts import stored_answers
from ...durable.journal import Journal
from ...errors import RunWaiting, UsageError
from ...llm.base import Model
from ...runtime import Runtime, new_session

__all__ = ["MAX_NEW_TASKS", "MAX_REPLANS", "StagedRun"]

#: Rounds of replanning under ``dynamic`` or ``hybrid``, and tasks each round may add.
MAX_REPLANS = 2
MAX_NEW_TASKS = 2


class StagedRun:
    """One run of a content workflow, made of several scheduler passes, framed by one
    :class:`~delegate.core.session.RunSession` (the same owner :func:`delegate.run` has).

    Args:
        objective: what the run serves (the topic).
        workers: every worker the run's plans use.
        model: the run's model, a :class:`Model` or a ``provider:model`` string (each call
            is metered under the run; a string is resolved, and closed, by the run).
        config: the run's settings: concurrency (rewrites and verdicts included), the task
            and call timeouts, retries, the failure policy, the budget. Its plan limits and
            strategy are the workflow's to apply (``limits`` below; :meth:`replan`).
        subscribers: event subscribers.
        limits: plan limits for every version.
        planning: how the first plan came about, for the result.
        journal: makes the run durable (see :mod:`delegate.durable.journal`).
        runtime: where models come from (see :mod:`delegate.runtime`).
    """

    def __init__(
        self, objective: str, workers: WorkerRegistry, model: Model | str | None, *,
        config: RunConfig, subscribers: Iterable[Subscriber], limits: PlanLimits,
        planning: PlanningReport, journal: Journal | None = None, runtime: Runtime | None = None,
        on_interrupt: InterruptHandler | None = None,
    ) -> None:
        self.objective = objective
        self.workers = workers
        self.config = config
        self.session = new_session(objective, subscribers=subscribers, journal=journal,
                                   budget=config.budget, runtime=runtime,
                                   call_timeout=config.effective_call_timeout)
        self.session.planning = planning
        self.model_spec = model
        self.model: Model | None = None
        self.run_id = self.session.run_id
        self.bus = self.session.bus
        self.meter = self.session.meter
        self.retry = config.retry
        self.limits = limits
        self.planning = planning
        self.max_concurrency = config.max_concurrency
        self.scheduler: Scheduler | None = None
        self.plan: Plan | None = None
        self.outcomes: dict[str, TaskOutcome] = {}
        self.versions: list[PlanVersion] = []
        self.reviews: list[TaskReview] = []
        self.notes = self.session.notes
        self._limit = asyncio.Semaphore(config.max_concurrency)
        self.on_interrupt = on_interrupt or (stored_answers(journal) if journal else None)
        if config.approve_plan and self.on_interrupt is None:
            raise UsageError("approve_plan needs someone to ask: pass on_interrupt= or a "
                             "journal (the run then waits in the store for the answer)")

    async def __aenter__(self) -> StagedRun:
        try:  # bad configuration is refused before the run starts
            self.model = self.session.model(self.model_spec)
            self.session.check_budget(self.model)
        except BaseException:
            await self.session.close_unstarted()
            raise
        self.scheduler = Scheduler(
            self.workers, model=self.model, max_concurrency=self.max_concurrency,
            retry=self.retry, task_timeout=self.config.task_timeout,
            failure_policy=self.config.failure_policy, limits=self.limits, subscribers=self.bus,
            resolve=self.session.model)
        await self.session.__aenter__()
        return self

    async def __aexit__(self, kind: Any, error: Any, tb: Any) -> bool:
        """End the run on every path: the session accounts for the tasks never started
        (held back), announces the failed or cancelled run, and closes what it opened."""
        return await self.session.__aexit__(kind, error, tb)

    @property
    def outputs(self) -> dict[str, Any]:
        """Outputs of the tasks that succeeded so far, by task id."""
        return {tid: o.output for tid, o in self.outcomes.items() if o.ok}

    def propose(self, plan: Plan, change: str, reason: str) -> None:
        """Make ``plan`` the current version, record what changed and announce it."""
        self.plan = plan
        self.versions.append(PlanVersion(plan.version, plan, change, reason))
        self.bus.emit(PlanCreated(run_id=self.run_id, plan=plan, source="given", reason=reason))

    async def approve(self) -> RunResult | None:
        """With ``approve_plan``, ask a person to approve the current plan before any worker
        starts: approved, or edited (the workflow reads its tasks' results, so only their
        instructions may change: a new plan version from ``human``); the run's result when
        it stops here (rejected: ``cancelled``; nobody answered yet: ``waiting``), else
        ``None``."""
        if not self.config.approve_plan:
            return None
        assert self.plan is not None and self.on_interrupt is not None
        try:
            decision = await approve_plan(self.session, self.plan, self.workers, self.config,
                                          self.on_interrupt, same_shape=True)
        except RunWaiting as exc:
            return nothing_ran(self.session, self.plan, self.planning, "waiting", str(exc))
        if decision.plan is None:
            who = f" by {decision.by}" if decision.by else ""
            return nothing_ran(self.session, self.plan, self.planning, "cancelled",
                               f"the plan was rejected{who}: {decision.reason}")
        if decision.edited:
            who = f" by {decision.by}" if decision.by else ""
            self.plan = decision.plan
            self.versions.append(PlanVersion(decision.plan.version, decision.plan,
                                             f"edited{who}", decision.reason))
            self.bus.emit(PlanCreated(run_id=self.run_id, plan=decision.plan, source="human",
                                      reason=f"edited{who}" + (f": {decision.reason}"
                                                               if decision.reason else "")))
        return None

    async def execute(self, *, hold: Collection[str] = ()) -> None:
        """Run the current plan's tasks that have not run yet, except those in ``hold``
        (kept for a later pass; they must be sinks of the plan)."""
        plan = self._without(hold)
        assert self.scheduler is not None, "use the StagedRun as an async context manager"
        try:
            result = await self.scheduler.run(
                plan, objective=self.objective, run_id=self.run_id, meter=self.meter,
                planning=self.planning, announce=False, done=self.outcomes,
            )
        except asyncio.CancelledError:  # keep the cancelled outcomes for the final event
            if self.scheduler.last_result is not None:
                self.outcomes.update((o.task_id, o) for o in self.scheduler.last_result.outcomes)
            raise
        self.outcomes.update((o.task_id, o) for o in result.outcomes)

    async def review(self, reviewer: Reviewer, targets: Sequence[str]) -> None:
        """Review ``targets`` with :func:`~delegate.core.review_rounds.review_rounds`;
        rewrites share the run's concurrency limit."""
        assert self.plan is not None and self.scheduler is not None and self.model is not None
        self.reviews += await review_rounds(
            reviewer, self.scheduler, self.plan, self.outcomes, targets,
            objective=self.objective, model=self.meter.wrap(self.model, purpose="review"),
            meter=self.meter, bus=self.bus, retry=self.retry, run_id=self.run_id,
            notes=self.notes, limit=self._limit,
        )

    async def revise(self, task_id: str, notes: str, round_no: int,
                     accept: Callable[[Any], str]) -> bool:
        """Run ``task_id`` again with ``notes`` (what to fix); the new output stands when
        ``accept(output)`` returns ``""``, else that reason is noted and the earlier output
        kept. Announces :class:`~delegate.core.events.TaskRevised` with the outcome that stands;
        returns whether the new output stands."""
        assert self.plan is not None and self.scheduler is not None
        earlier = self.outcomes[task_id]
        outcome = await self.scheduler.revise(
            self.plan, task_id, self.outputs, Revision(notes, earlier.output, round_no),
            objective=self.objective, run_id=self.run_id, meter=self.meter)
        why = (accept(outcome.output) if outcome.ok
               else f"revision of {task_id} failed: {outcome.error}")
        if why:
            self.notes.append(f"{task_id} asked again, earlier output kept: {why}")
        else:
            self.outcomes[task_id] = outcome
        self.bus.emit(TaskRevised(run_id=self.run_id, task_id=task_id, round=round_no,
                                  outcome=self.outcomes[task_id], kept=not why, note=why))
        return not why

    async def extend(
        self, strategy: Strategy, content: WorkerRegistry, hold: Sequence[str]
    ) -> list[str]:
        """Under ``dynamic`` or ``hybrid``, let the model add content tasks (see
        :mod:`delegate.core.strategies`) and run them; the held tasks are re-declared to wait for
        the new tasks instead of failed ones. Returns the ids of the tasks added."""
        if strategy == "static" or self.meter.budget_reached:
            return []
        assert self.plan is not None and self.model is not None
        planner = self.meter.wrap(self.model, purpose="plan")
        room = PlanLimits(max_tasks=self.limits.max_tasks - len(hold),  # the held tasks
                          max_depth=self.limits.max_depth - 1)          # come back after
        orchestrator = Orchestrator(limits=room, retry=self.retry)
        added: list[str] = []
        handled: set[str] = set()
        for _ in range(MAX_REPLANS):
            stage = self._without(hold)
            failed = [t.id for t in stage.tasks if t.id not in handled
                      and self.outcomes[t.id].status in ("failed", "timed_out")]
            if strategy == "hybrid" and not failed:
                break
            handled.update(failed)
            outcomes = tuple(self.outcomes[t.id] for t in stage.tasks)
            so_far = RunResult(self.run_id, stage, outcomes, run_status(outcomes))
            grown, why = await propose_extension(
                orchestrator, self.objective, content, planner, so_far, strategy,
                max_new=MAX_NEW_TASKS, failed=failed)
            if grown is None:
                self.notes.append(f"plan v{self.plan.version} kept: {why}")
                break
            new = [t.id for t in grown.tasks[len(stage.tasks):]]
            held = [self._wait_for(self.plan.task(h), new, handled) for h in hold]
            self.propose(Plan(tasks=(*grown.tasks, *held), version=grown.version,
                              strategy=strategy), "added " + ", ".join(new), why)
            added += new
            await self.execute(hold=hold)
        return added

    def result(self, text: str = "") -> RunResult:
        """The run so far, as one :class:`RunResult` over the current plan version."""
        assert self.plan is not None
        outcomes = tuple(self.outcomes[t.id] for t in self.plan.tasks if t.id in self.outcomes)
        return self.session.snapshot(
            text=text, status=run_status(outcomes), outcomes=outcomes,
            reviews=tuple(self.reviews),
            plan_versions=tuple(self.versions) if len(self.versions) > 1 else ())

    def finish(self, text: str) -> RunResult:
        """The final result, announced with ``RunFinished``."""
        return self.session.finish(self.result(text))

    def _without(self, hold: Collection[str]) -> Plan:
        assert self.plan is not None
        if not hold:
            return self.plan
        return Plan(tasks=tuple(t for t in self.plan.tasks if t.id not in hold),
                    version=self.plan.version, strategy=self.plan.strategy)

    @staticmethod
    def _wait_for(task: Task, new: Sequence[str], failed: Collection[str]) -> Task:
        """``task`` waiting for the ``new`` tasks too, and no longer for ``failed`` ones."""
        depends = [d for d in task.depends_on if d not in failed]
        return Task.model_validate({**task.model_dump(), "depends_on": (*depends, *new)})
