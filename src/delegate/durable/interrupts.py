"""The durable asker: a run's questions to a person kept in its store, so that nobody has to
be there when the run asks.

:func:`stored_answers` gives a run (``run(..., journal=j)`` with
``RunConfig(approve_plan=True)`` and no ``on_interrupt``) its way to ask: each
:class:`~delegate.core.interrupts.Interrupt` is added to the store under its deterministic id;
when it already has an answer there (given with ``delegate runs answer``, the server's API or
its dashboard) that answer is returned, and otherwise the run stops: ``RunWaiting`` is raised,
the run ends ``waiting`` and the journal gives it up, so that ``delegate runs resume`` (or the
server, by itself) carries it on once someone answered. Carried on, the run replays its
earlier model calls from the journal, reaches the same question under the same id, and gets
the stored answer.

An interrupt whose deadline passed is settled by its ``on_timeout`` (``approve``, ``reject``;
``fail`` fails the run) the next time the run asks it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..core.interrupts import Interrupt, InterruptHandler
from ..errors import RunError, RunWaiting
from .journal import Journal

__all__ = ["stored_answers"]


def stored_answers(journal: Journal) -> InterruptHandler:
    """The handler that asks through ``journal``'s store (see the module docstring)."""

    async def ask(interrupt: Interrupt) -> Any:
        store, run_id = journal.store, journal.run_id
        await journal.lease.flush()  # the run is in the store before its question
        record = store.add_interrupt(run_id, {
            "interrupt_id": interrupt.id, "kind": interrupt.kind,
            "task_id": interrupt.task_id, "payload": _with_error(interrupt),
            "schema": interrupt.schema, "deadline": interrupt.deadline,
            "on_timeout": interrupt.on_timeout,
        })
        if record["status"] == "pending" and record["deadline"] is not None \
                and record["deadline"] <= datetime.now(UTC):
            expired = [r for r in store.expire_interrupts(datetime.now(UTC))
                       if r["run_id"] == run_id and r["interrupt_id"] == interrupt.id]
            record = expired[0] if expired else store.get_interrupt(run_id, interrupt.id)
        if record["status"] == "pending":
            raise RunWaiting(f"waiting for an answer to {interrupt.id} ({interrupt.kind})",
                             interrupt_id=interrupt.id)
        answer = record["answer"]
        if record["status"] == "expired" and answer is None:
            raise RunError(f"{interrupt.id} was not answered before its deadline")
        if isinstance(answer, dict) and record.get("answered_by") and "by" not in answer:
            answer = {**answer, "by": record["answered_by"]}
        return answer

    return ask


def _with_error(interrupt: Interrupt) -> dict[str, Any]:
    payload = dict(interrupt.payload)
    if interrupt.error:
        payload["error"] = interrupt.error  # why the earlier answer was refused
    return payload
