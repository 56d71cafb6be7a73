"""One call that runs the whole pattern: plan, schedule, synthesise.

:func:`run` validates the objective, asks the :class:`~delegate.core.orchestrator.Orchestrator`
for a plan (or takes the one given), hands it to the :class:`~delegate.core.scheduler.Scheduler`,
and lets the :class:`~delegate.core.synthesis.Synthesizer` write the answer. The run's events go to
every subscriber; its usage counts planning, every worker and synthesis.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterable, Mapping
from typing import Any

from .core.approval import approve_plan, nothing_ran
from .core.asker import ASKER, Asker
from .core.config import RunConfig, config_from
from .core.events import EventBus, PlanCreated, Subscriber
from .core.interrupts import InterruptHandler
from .core.meter import Meter
from .core.orchestrator import FallbackPlan, Orchestrator
from .core.outcomes import PlanningReport, RunResult
from .core.plan import Plan
from .core.replanning import replan_rounds
from .core.retry import RetryPolicy, call_with_retry
from .core.review import Reviewer
from .core.review_rounds import review_rounds
from .core.scheduler import Scheduler
from .core.session import RunSession
from .core.strategies import PlanVersion
from .core.synthesis import Synthesizer
from .core.workers import Worker, WorkerFunction, WorkerRegistry
from .durable.interrupts import stored_answers
from .durable.journal import Journal
from .errors import BudgetExceeded, DelegateError, RunWaiting, UsageError
from .llm.base import Model
from .runtime import Runtime, new_session

__all__ = ["MAX_OBJECTIVE_CHARS", "check_objective", "run"]

#: Longest objective accepted; a longer one is refused before anything runs.
MAX_OBJECTIVE_CHARS = 20_000


def check_objective(
    objective: str, limit: int = MAX_OBJECTIVE_CHARS, what: str = "objective"
) -> str:
    """Return the stripped objective, or raise :class:`UsageError` if empty or too long."""
    if not isinstance(objective, str) or not objective.strip():
        raise UsageError(f"the {what} is empty; say what you want")
    objective = objective.strip()
    if len(objective) > limit:
        raise UsageError(
            f"the {what} is {len(objective):,} characters long; the limit is {limit:,}"
        )
    return objective


async def run(
    objective: str,
    *,
    workers: WorkerRegistry | Iterable[Worker | WorkerFunction],
    model: Model | str | None = None,
    plan: Plan | None = None,
    config: RunConfig | None = None,
    orchestrator: Orchestrator | None = None,
    fallback_plan: FallbackPlan = None,
    synthesizer: Synthesizer | None = None,
    reviewer: Reviewer | None = None,
    shared: Mapping[str, Any] | None = None,
    subscribers: Iterable[Subscriber] = (),
    run_id: str | None = None,
    journal: Journal | None = None,
    runtime: Runtime | None = None,
    on_interrupt: InterruptHandler | None = None,
    **settings: Any,
) -> RunResult:
    """Plan ``objective`` over ``workers``, run the plan, and write the answer.

    Args:
        objective: what the user wants done.
        workers: the workers the plan may use.
        model: the default model (``provider:model`` or a :class:`Model`); ``None`` reads
            ``DELEGATE_MODEL`` and then uses ``local:default``. Not loaded when a ``plan`` is
            given, every worker is a function and ``config.synthesize`` is off.
        plan: a ready plan; skips the orchestrator.
        config: the run's settings (see :class:`~delegate.core.config.RunConfig`):
            concurrency, timeouts, retries, failure policy, plan limits, strategy, replans,
            whether to synthesise, the budget. Default ``RunConfig()``.
        orchestrator: planning settings (default :class:`Orchestrator`).
        fallback_plan: what runs when the model produces no valid plan (recorded as such).
        synthesizer: final-answer settings (default :class:`Synthesizer`).
        reviewer: scores the results and sends failing ones back (``None``: no review).
        shared: read-only context every worker receives.
        subscribers: event subscribers (progress display, logs, stores).
        run_id: an id for the run; a random one by default.
        journal: makes the run durable (see :mod:`delegate.durable.journal`): stored as it goes,
            model calls answered from the store where possible; the run takes its id.
        runtime: where models, rate limiters and prices come from (see
            :mod:`delegate.runtime`); default the current one, else a private runtime that
            the run closes when it ends, with every model it resolved.
        on_interrupt: answers the run's questions to a person (``config.approve_plan``):
            called with each :class:`~delegate.core.interrupts.Interrupt`, returns the
            answer (see :mod:`delegate.core.interrupts`).
        **settings: the settings of ``RunConfig`` as keyword arguments (``max_concurrency=8``),
            as before ``config`` existed: applied over ``config``, with a
            :class:`DeprecationWarning`; they go in the next release.

    Every path ends the same way (see :class:`~delegate.core.session.RunSession`): one
    ``RunStarted``, one ``RunFinished`` (with the error when the run raised), every task with
    one outcome, nothing left running, the journal released and the run's own models closed.

    Raises:
        UsageError: bad input (empty objective, invalid plan or setting, unknown provider);
            nothing ran.
        PlanningError: no valid plan and no fallback.
        DelegateError: any other error that ended the run (a subscriber's, the store's),
            after the run was wound down.
        asyncio.CancelledError: the run was cancelled; the final events were emitted first.
    """
    cfg = config_from(config, settings, caller="run")
    objective = check_objective(objective)
    if on_interrupt is None and journal is not None:
        on_interrupt = stored_answers(journal)  # questions wait in the store
    if (cfg.approve_plan or cfg.approve_extensions) and on_interrupt is None:
        raise UsageError("approve_plan needs someone to ask: pass on_interrupt= (a function "
                         "that returns the person's answer) or a journal (the run then waits "
                         "in the store for the answer)")
    registry = workers if isinstance(workers, WorkerRegistry) else WorkerRegistry(workers)
    orchestrator = orchestrator or Orchestrator(limits=cfg.limits, retry=cfg.retry)
    if cfg.limits is None:
        cfg = cfg.replace(limits=orchestrator.limits)
    session = new_session(objective, subscribers=subscribers, journal=journal, budget=cfg.budget,
                          runtime=runtime, run_id=run_id, call_timeout=cfg.effective_call_timeout)
    try:  # bad configuration is refused before the run starts
        needs_model = (model is not None or plan is None or cfg.synthesize
                       or cfg.strategy != "static" or reviewer is not None
                       or any(w.uses_model for w in registry.values()))
        default_model = session.model(model) if needs_model else None
        session.check_budget(default_model)
        planner_model = (session.model(orchestrator.model) if orchestrator.model is not None
                         else default_model)
    except BaseException:
        await session.close_unstarted()
        raise
    async with session:
        return await _run(
            session, objective, registry, default_model, planner_model, cfg, plan=plan,
            orchestrator=orchestrator, fallback_plan=fallback_plan, synthesizer=synthesizer,
            reviewer=reviewer, shared=shared, on_interrupt=on_interrupt,
        )


async def _run(
    session: RunSession, objective: str, registry: WorkerRegistry,
    default_model: Model | None, planner_model: Model | None, cfg: RunConfig, *,
    plan: Plan | None, orchestrator: Orchestrator, fallback_plan: FallbackPlan,
    synthesizer: Synthesizer | None, reviewer: Reviewer | None,
    shared: Mapping[str, Any] | None, on_interrupt: InterruptHandler | None = None,
) -> RunResult:
    """The body of :func:`run`, inside its session: plan, (approve,) schedule, review,
    synthesise."""
    run_id, bus, meter = session.run_id, session.bus, session.meter
    retry = cfg.retry
    if plan is None:
        assert planner_model is not None
        planner = meter.wrap(planner_model, purpose="plan")
        plan, planning = await orchestrator.plan(
            objective, registry, planner, fallback=fallback_plan, sleep=meter.sleep)
        session.planning = planning
        bus.emit(PlanCreated(run_id=run_id, plan=plan, source=planning.source,
                             reason=planning.reason))
    else:
        planning = session.planning = PlanningReport(source="given")
        bus.emit(PlanCreated(run_id=run_id, plan=plan, source="given"))
    if cfg.approve_plan:
        assert on_interrupt is not None
        try:
            decision = await approve_plan(session, plan, registry, cfg, on_interrupt,
                                          same_shape=planning.source == "given")
        except RunWaiting as exc:  # nobody has answered yet: the run stops, to be carried on
            return nothing_ran(session, plan, planning, "waiting", str(exc))
        if decision.plan is None:
            who = f" by {decision.by}" if decision.by else ""
            return nothing_ran(session, plan, planning, "cancelled",
                                f"the plan was rejected{who}: {decision.reason}")
        if decision.edited:
            plan = decision.plan
            who = f" by {decision.by}" if decision.by else ""
            bus.emit(PlanCreated(run_id=run_id, plan=plan, source="human",
                                 reason=f"edited{who}" + (f": {decision.reason}"
                                                          if decision.reason else "")))

    scheduler = Scheduler(
        registry, model=default_model, max_concurrency=cfg.max_concurrency, retry=retry,
        task_timeout=cfg.task_timeout, failure_policy=cfg.failure_policy, limits=cfg.limits,
        subscribers=bus, resolve=session.model,
    )
    asking = ASKER.set(Asker(on_interrupt, bus, run_id)) if on_interrupt is not None else None
    try:
        return await _work(session, objective, registry, default_model, planner_model, cfg,
                           plan, planning, scheduler, synthesizer, reviewer, shared,
                           orchestrator, on_interrupt)
    finally:
        if asking is not None:
            ASKER.reset(asking)


async def _work(
    session: RunSession, objective: str, registry: WorkerRegistry,
    default_model: Model | None, planner_model: Model | None, cfg: RunConfig, plan: Plan,
    planning: PlanningReport, scheduler: Scheduler, synthesizer: Synthesizer | None,
    reviewer: Reviewer | None, shared: Mapping[str, Any] | None, orchestrator: Orchestrator,
    ask: InterruptHandler | None = None,
) -> RunResult:
    """Schedule the approved plan, then replan, review and synthesise as configured; a task
    (or a plan's extension) waiting for a person's answer stops the run there
    (``waiting``)."""
    run_id, bus, meter = session.run_id, session.bus, session.meter
    strategy, max_replans, retry = cfg.strategy, cfg.max_replans, cfg.retry
    result = await scheduler.run(
        plan, objective=objective, shared=shared, run_id=run_id, meter=meter,
        planning=planning, announce=False,
    )
    notes = session.notes  # the run's own notes; the meter holds the model calls' notes
    if result.status == "waiting":  # carried on once answered: no review, no answer yet
        notes.extend(f"{o.task_id} is waiting: {o.error}" for o in result.outcomes
                     if o.status == "waiting")
        return _stopped(session, result)
    versions = [PlanVersion(plan.version, plan, "initial plan",
                            planning.reason or f"from {planning.source}")]

    async def gate(grown: Plan, before: Plan) -> tuple[Plan, str] | None:
        """The grown plan to run and its source; with ``approve_extensions`` a person
        approves it, edits it (the tasks that ran stay as they were) or rejects it (the
        plan is kept as it was: ``None``)."""
        if not cfg.approve_extensions or ask is None:
            return grown, "model"
        decision = await approve_plan(session, grown, registry, cfg, ask, kept=before.tasks,
                                      version=grown.version)
        if decision.plan is None:
            who = f" by {decision.by}" if decision.by else ""
            notes.append(f"plan v{grown.version} rejected{who}: {decision.reason}")
            return None
        return decision.plan, "human" if decision.edited else "model"

    if strategy != "static" and not meter.budget_reached:
        planner = meter.wrap(planner_model, purpose="plan")
        try:
            result = await replan_rounds(
                strategy, max_replans, orchestrator, registry, planner, scheduler, result,
                objective, shared, meter, bus, versions, notes, gate=gate,
            )
        except RunWaiting as exc:  # the extension waits for its approval
            notes.append(str(exc))
            return _stopped(session, dataclasses.replace(result, status="waiting"))
    if len(versions) > 1:
        result = dataclasses.replace(result, plan_versions=tuple(versions))

    if reviewer is not None and default_model is not None:
        result = await _review_rounds(
            reviewer, scheduler, result, objective, shared, meter.wrap(
                default_model, purpose="review"), meter, bus, retry, notes,
        )
        last = {r.task_id: r for r in result.reviews}
        rejected = [tid for tid, r in last.items() if not r.passed]
        if strategy == "hybrid" and rejected and not meter.budget_reached:
            planner = meter.wrap(planner_model, purpose="plan")
            reviews = result.reviews
            try:
                result = await replan_rounds(
                    strategy, max_replans, orchestrator, registry, planner, scheduler,
                    result, objective, shared, meter, bus, versions, notes,
                    rejected=rejected, gate=gate,
                )
            except RunWaiting as exc:
                notes.append(str(exc))
                return _stopped(session, dataclasses.replace(result, status="waiting"))
            result = dataclasses.replace(result, reviews=reviews,
                                         plan_versions=tuple(versions))

    text, status = "", result.status
    if cfg.synthesize and default_model is not None:
        synthesizer = synthesizer or Synthesizer()
        synth_model = meter.wrap(default_model, purpose="synthesis")
        try:
            text = await call_with_retry(
                lambda: synthesizer.synthesize(objective, result, synth_model), retry,
                meter.sleep,
            )
        except BudgetExceeded as exc:  # the answer from the completed work, without a model
            text = synthesizer.assemble(objective, result, str(exc))
            notes.append(f"the answer was assembled without a model: {exc}")
            status = "partial" if status == "succeeded" else status
        except DelegateError as exc:  # recorded; the completed work is the answer
            why = f"synthesis failed: {type(exc).__name__}: {exc}"
            text = synthesizer.assemble(objective, result, why)
            notes.append(f"{why}; the answer is the completed work, assembled without a model")
            status = "partial" if status == "succeeded" else status
    if meter.budget_reached and status == "succeeded":
        status = "partial"  # the work stopped short of what was asked
    return session.finish(dataclasses.replace(
        result, text=text, status=status, usage=meter.usage,
        notes=(*meter.notes, *notes), wall_seconds=time.perf_counter() - session.started,
        budget_reached=meter.budget_reached,
    ))


def _stopped(session: RunSession, result: RunResult) -> RunResult:
    """Finish a run that stops to wait for an answer, with what it has done so far."""
    meter = session.meter
    return session.finish(dataclasses.replace(
        result, usage=meter.usage, notes=(*meter.notes, *session.notes),
        wall_seconds=time.perf_counter() - session.started))


async def _review_rounds(
    reviewer: Reviewer, scheduler: Scheduler, result: RunResult, objective: str,
    shared: Mapping[str, Any] | None, model: Model, meter: Meter, bus: EventBus,
    retry: RetryPolicy, notes: list[str],
) -> RunResult:
    """Review every succeeded task with :func:`~delegate.core.review_rounds.review_rounds`."""
    outcomes = {o.task_id: o for o in result.outcomes}
    reviews = await review_rounds(
        reviewer, scheduler, result.plan, outcomes, [o.task_id for o in result.outcomes],
        objective=objective, model=model, meter=meter, bus=bus, retry=retry,
        run_id=result.run_id, notes=notes, shared=shared,
        limit=asyncio.Semaphore(scheduler.max_concurrency),
    )
    return dataclasses.replace(
        result, outcomes=tuple(outcomes[t.id] for t in result.plan.tasks if t.id in outcomes),
        reviews=tuple(reviews),
    )
