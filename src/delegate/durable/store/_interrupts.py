"""The store's interrupts: the questions a run puts to a person, and their answers.

An interrupt is one row per question: a run stops to have its plan approved, a task's question
answered or a tool call approved, and carries on once someone answered. The row is the single
record of that exchange, so a run carried on after a stop (in this process or another) asks the
same question under the same id and finds the stored answer instead of a new question.

A record, as :class:`InterruptStore`'s methods return it (a new ``dict`` each time):

- ``run_id``, ``interrupt_id``: the run, and the question's id within it, chosen by the caller
  and deterministic (``plan:1``, ``ask:t3:1:2``);
- ``kind``: ``plan_approval``, ``question`` or ``tool_approval``;
- ``task_id``: the task that asks, ``""`` for the run itself;
- ``payload``: what the person is shown; ``schema``: the JSON Schema of the answer (both JSON);
- ``status``: ``pending``, then ``answered`` or ``expired``;
- ``answer`` (JSON, ``None`` while pending) and ``answered_by`` (``None`` while pending,
  ``"deadline"`` for an expired one);
- ``created_at``, ``answered_at`` (``None`` while pending) and ``deadline`` (``None``: no
  deadline): timezone-aware UTC ``datetime`` objects;
- ``on_timeout``: what the deadline decides, ``reject``, ``approve`` or ``fail`` (``None``
  without a deadline rule); an expired interrupt's answer is :func:`timeout_answer` of it.

The store keeps the answer as given; checking it against ``schema`` is the caller's business.
"""

from __future__ import annotations

import abc
import copy
from datetime import UTC, datetime
from typing import Any

from ...errors import AlreadyAnswered, InterruptNotFound, UsageError

__all__ = ["FIELDS", "INPUT_KEYS", "KINDS", "ON_TIMEOUT", "STATUSES", "InterruptStore",
           "already_answered", "check_answer_status", "new_interrupt", "not_found",
           "timeout_answer", "utc"]

KINDS = ("plan_approval", "question", "tool_approval")
STATUSES = ("pending", "answered", "expired")
ON_TIMEOUT = ("reject", "approve", "fail")
#: What the caller gives :meth:`InterruptStore.add_interrupt` (the first two are required).
INPUT_KEYS = ("interrupt_id", "kind", "task_id", "payload", "schema", "deadline", "on_timeout",
              "created_at")
#: The keys of a stored record, in this order.
FIELDS = ("run_id", "interrupt_id", "kind", "task_id", "payload", "schema", "status", "answer",
          "answered_by", "created_at", "answered_at", "deadline", "on_timeout")


class InterruptStore(abc.ABC):
    """The interrupt half of :class:`~delegate.durable.store.base.RunStore` (see the module).

    Raises:
        InterruptNotFound: no such interrupt in the run.
        AlreadyAnswered: an answer to an interrupt that is no longer pending.
        RunNotFound: :meth:`add_interrupt` to a run that does not exist.
        UsageError: a malformed record, kind, status or ``on_timeout``.
    """

    @abc.abstractmethod
    def add_interrupt(self, run_id: str, record: dict[str, Any]) -> dict[str, Any]:
        """Store a new, pending interrupt of run ``run_id`` (its exact id) and return it.

        ``record`` has ``interrupt_id`` and ``kind``, and may have ``task_id`` (``""``),
        ``payload`` and ``schema`` (``{}``), ``deadline`` (a ``datetime``, naive taken as
        UTC, or epoch seconds), ``on_timeout`` and ``created_at`` (now); nothing else.

        Idempotent: when the run already has an interrupt with this id, that one is returned
        unchanged (answered or not) and ``record``, once checked, is ignored, so a run carried
        on after a stop gets the stored answer, never a second question.
        """

    @abc.abstractmethod
    def interrupts(self, run_id: str, status: str | None = None) -> list[dict[str, Any]]:
        """The run's interrupts in the order they were added, only those with ``status``
        when given. An unknown run has none."""

    @abc.abstractmethod
    def get_interrupt(self, run_id: str, interrupt_id: str) -> dict[str, Any]:
        """One interrupt of the run; ``InterruptNotFound`` when there is none."""

    @abc.abstractmethod
    def answer_interrupt(self, run_id: str, interrupt_id: str, answer: Any, *, by: str,
                         status: str = "answered") -> dict[str, Any]:
        """Answer a pending interrupt, atomically, and return it answered.

        Only a pending interrupt takes an answer: of two answers at once exactly one wins,
        and the other raises ``AlreadyAnswered`` naming who answered first (as does any
        answer to an interrupt answered or expired before).

        Args:
            answer: the answer (JSON), stored as given.
            by: who answered (a user name, ``"cli"``, ``"deadline"``).
            status: ``answered``, or ``expired`` for a caller that applies a deadline itself.
        """

    @abc.abstractmethod
    def expire_interrupts(self, now: datetime) -> list[dict[str, Any]]:
        """Expire the pending interrupts of every run whose ``deadline`` is ``now`` or
        earlier: status ``expired``, answer :func:`timeout_answer` of their ``on_timeout``,
        ``answered_by`` ``"deadline"``, ``answered_at`` ``now``. Returns them in the order
        they were added; an interrupt answered meanwhile is not among them."""


def new_interrupt(run_id: str, record: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The stored form of a new interrupt from what :meth:`InterruptStore.add_interrupt`
    was given (copied, checked, defaults filled in)."""
    if not isinstance(record, dict):
        raise UsageError(f"an interrupt is a dict, not {type(record).__name__}")
    unknown = sorted(set(record) - set(INPUT_KEYS))
    if unknown:
        raise UsageError(f"unknown interrupt field(s) {', '.join(unknown)}; an interrupt has "
                         f"{', '.join(INPUT_KEYS)}")
    interrupt_id, kind = record.get("interrupt_id"), record.get("kind")
    if not isinstance(interrupt_id, str) or not interrupt_id:
        raise UsageError("an interrupt needs an interrupt_id (a non-empty string)")
    if kind not in KINDS:
        raise UsageError(f"an interrupt's kind is one of {', '.join(KINDS)}, not {kind!r}")
    on_timeout = record.get("on_timeout")
    if on_timeout is not None and on_timeout not in ON_TIMEOUT:
        raise UsageError(f"on_timeout is one of {', '.join(ON_TIMEOUT)} or None, "
                         f"not {on_timeout!r}")
    task_id = record.get("task_id") or ""
    if not isinstance(task_id, str):
        raise UsageError(f"an interrupt's task_id is a string, not {task_id!r}")
    return {
        "run_id": run_id, "interrupt_id": interrupt_id, "kind": kind, "task_id": task_id,
        "payload": copy.deepcopy(record.get("payload", {})),
        "schema": copy.deepcopy(record.get("schema", {})), "status": "pending",
        "answer": None, "answered_by": None,
        "created_at": utc(record.get("created_at")) or now, "answered_at": None,
        "deadline": utc(record.get("deadline")), "on_timeout": on_timeout,
    }


def utc(moment: datetime | float | None) -> datetime | None:
    """``moment`` as a timezone-aware UTC ``datetime`` (naive is UTC; a number is epoch
    seconds); ``None`` stays ``None``."""
    if moment is None:
        return None
    if isinstance(moment, bool) or not isinstance(moment, (datetime, int, float)):
        raise UsageError(f"a time is a datetime or epoch seconds, not {moment!r}")
    if not isinstance(moment, datetime):
        return datetime.fromtimestamp(moment, UTC)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def check_answer_status(status: str) -> None:
    """Raise ``UsageError`` unless ``status`` is one an answer may set."""
    if status not in ("answered", "expired"):
        raise UsageError(f"an answer sets the status answered or expired, not {status!r}")


def timeout_answer(on_timeout: str | None) -> Any:
    """The answer an expired interrupt gets: ``{"action": "reject"}`` or ``{"action":
    "approve"}``, or ``None`` for ``fail`` (the run fails on it) and for no rule."""
    return {"action": on_timeout} if on_timeout in ("reject", "approve") else None


def not_found(run_id: str, interrupt_id: str) -> InterruptNotFound:
    return InterruptNotFound(f"run {run_id} has no interrupt {interrupt_id!r}")


def already_answered(record: dict[str, Any]) -> AlreadyAnswered:
    """The error for an answer to ``record``, which is no longer pending."""
    how = ("expired at its deadline" if record["answered_by"] == "deadline"
           else f"{record['status']} by {record['answered_by']}")
    return AlreadyAnswered(
        f"interrupt {record['interrupt_id']!r} of run {record['run_id']} was already {how}",
        run_id=record["run_id"], interrupt_id=record["interrupt_id"], status=record["status"],
        answered_by=record["answered_by"])
