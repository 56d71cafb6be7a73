"""Typed run events, and the bus that hands them to subscribers.

The scheduler and the orchestrator emit events; everything that watches a run (the CLI's
progress display, later the run store, the server and tracing) subscribes to them instead of
being called from inside the engine. Each task ends with exactly one :class:`TaskEnded` event
(:class:`TaskFinished` for success, :class:`TaskFailed` for failure or timeout,
:class:`TaskSkipped`, :class:`TaskCancelled`), so an event log accounts for every task once.

Subscribers are plain callables ``f(event) -> None`` called synchronously, in order of
subscription, on the event loop. They must be quick and must not raise: an exception from a
subscriber propagates into the run and ends it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..llm.base import Message, ModelResponse, ModelSettings
    from .interrupts import Interrupt
    from .outcomes import RunResult, TaskOutcome
    from .plan import Plan

__all__ = [
    "BudgetReached",
    "Event",
    "EventBus",
    "EventLog",
    "InterruptAnswered",
    "InterruptRaised",
    "ModelCalled",
    "PlanCreated",
    "RunFinished",
    "RunStarted",
    "Subscriber",
    "TaskCancelled",
    "TaskEnded",
    "TaskFailed",
    "TaskFinished",
    "TaskQueued",
    "TaskRetried",
    "TaskReviewed",
    "TaskRevised",
    "TaskSkipped",
    "TaskStarted",
    "TaskWaiting",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of every event: the run it belongs to and when it happened (epoch seconds)."""

    run_id: str
    at: float = field(default_factory=time.time)

    @property
    def kind(self) -> str:
        return type(self).__name__


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStarted(Event):
    objective: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanCreated(Event):
    """A plan is ready to run. ``source`` is ``model``, ``repaired``, ``fallback_plan`` or
    ``given``; ``reason`` says why a fallback was used."""

    plan: Plan
    source: str = "given"
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class InterruptRaised(Event):
    """The run asks a person (see :mod:`delegate.core.interrupts`); what asked waits."""

    interrupt: Interrupt


@dataclass(frozen=True, slots=True, kw_only=True)
class InterruptAnswered(Event):
    """A person answered interrupt ``interrupt_id`` with ``answer``."""

    interrupt_id: str
    answer: Any
    by: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskQueued(Event):
    task_id: str
    worker: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskStarted(Event):
    task_id: str
    worker: str
    attempt: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskRetried(Event):
    """An attempt failed transiently; the next starts after ``delay`` seconds."""

    task_id: str
    attempt: int
    error: str
    delay: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelCalled(Event):
    """One model call finished. ``purpose`` is ``plan``, ``task``, ``review`` or
    ``synthesis``; ``task_id`` is empty unless it is ``task``. ``source`` is ``model`` for a
    real call, ``cache`` or ``journal`` when a run store answered it (no tokens spent)."""

    task_id: str
    purpose: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    latency_seconds: float
    notes: tuple[str, ...] = ()
    source: str = "model"
    cost_usd: float | None = 0.0
    #: the request and the answer, for subscribers that record content (traces, reports)
    messages: tuple[Message, ...] = field(default=(), repr=False)
    response: ModelResponse | None = field(default=None, repr=False)
    settings: ModelSettings | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class BudgetReached(Event):
    """The run reached its budget: it starts no more work (see :mod:`delegate.limits.budget`)."""

    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskEnded(Event):
    """Base of the four terminal task events; exactly one per task."""

    task_id: str
    outcome: TaskOutcome


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskFinished(TaskEnded):
    """The task succeeded."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskFailed(TaskEnded):
    """The task failed or timed out for good."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskSkipped(TaskEnded):
    """The task never ran: a dependency failed, or the policy stopped the run."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskWaiting(TaskEnded):
    """The task asked a person (``ctx.ask``) and stopped until someone answers; the run
    carries it on then."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskCancelled(TaskEnded):
    """The run was cancelled while the task was running or waiting."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskReviewed(Event):
    """The reviewer judged a task's output (a :class:`~delegate.core.review.TaskReview`)."""

    task_id: str
    review: Any


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskRevised(Event):
    """A task sent back by the reviewer was run again. ``outcome`` is the task's outcome
    that stands after it: the rewrite when ``kept``, else the earlier one (the rewrite failed,
    or the checks did not score it higher); ``note`` says why a rewrite was not kept."""

    task_id: str
    round: int
    outcome: TaskOutcome
    kept: bool = True
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFinished(Event):
    """The run ended, on every path: exactly one per run, after every task's last event.
    ``result.status`` is ``failed`` or ``cancelled`` and ``result.error`` says why when it
    ended by an exception or a cancellation."""

    result: RunResult


Subscriber = Callable[[Event], Any]


class EventBus:
    """Delivers events to subscribers in order of subscription."""

    __slots__ = ("_quiet", "_subscribers", "active", "tracked")

    def __init__(self, subscribers: list[Subscriber] | tuple[Subscriber, ...] = (), *,
                 trackers: tuple[Subscriber, ...] = ()) -> None:
        """``trackers`` are called first with every event, but need only the plans, the
        task endings and the run's frame: with nobody else listening, emitters may skip
        the other events (see :attr:`active`)."""
        self._subscribers: list[Subscriber] = [*trackers, *subscribers]
        self._quiet = len(trackers)
        #: Whether anyone listens to every event (emitters may skip building the others
        #: when nobody does). A plain attribute, kept up to date by :meth:`subscribe`: the
        #: engine reads it per task.
        self.active = False
        #: Whether anyone listens to task endings and plans (a tracker, or a subscriber).
        self.tracked = False
        self._listened()

    def _listened(self) -> None:
        self.active = len(self._subscribers) > self._quiet
        self.tracked = bool(self._subscribers)

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Add ``subscriber``; returns a function that removes it."""
        self._subscribers.append(subscriber)
        self._listened()

        def unsubscribe() -> None:
            self._subscribers.remove(subscriber)
            self._listened()

        return unsubscribe

    def emit(self, event: Event) -> None:
        for subscriber in self._subscribers:
            subscriber(event)


class EventLog:
    """A subscriber that keeps every event, for tests and reports."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def of(self, kind: type[Event]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]
