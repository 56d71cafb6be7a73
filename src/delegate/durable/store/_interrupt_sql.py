"""The SQL store's interrupts (:mod:`~delegate.durable.store._interrupts`): a mixin of
:class:`~delegate.durable.store.sql.SqlStore`, over the ``interrupts`` table.

Answering is one conditional ``UPDATE ... WHERE status = 'pending'`` whose row count decides,
so of two answers at once exactly one wins (SQLite serialises writers with ``BEGIN
IMMEDIATE``; PostgreSQL re-checks the condition on the locked row), and the loser learns who
won from the row it then reads. Adding is an ``INSERT ... ON CONFLICT DO NOTHING`` followed by
a read of the row, so a question asked twice, even at once, is stored once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import exc, select, update

from ...errors import RunNotFound, StoreError
from ._engine import describe_error, translated
from ._interrupts import (
    already_answered,
    check_answer_status,
    new_interrupt,
    not_found,
    timeout_answer,
    utc,
)
from ._tables import interrupts, runs, utcnow

__all__ = ["SqlInterrupts"]

#: Interrupts per ``IN (...)`` when many expire at once (well under every driver's limit).
CHUNK = 500
_COLUMNS = [column for column in interrupts.c if column.name != "id"]


class SqlInterrupts:
    """:class:`~delegate.durable.store._interrupts.InterruptStore` for ``SqlStore`` (which
    provides ``_engine``, ``_writer``, ``_upsert``, ``url`` and ``_password``)."""

    @translated
    def add_interrupt(self, run_id: str, record: dict[str, Any]) -> dict[str, Any]:
        row = new_interrupt(run_id, record, utcnow())
        statement = self._upsert(interrupts).values(**row).on_conflict_do_nothing(
            index_elements=["run_id", "interrupt_id"])
        try:
            with self._writer.begin() as conn:
                conn.execute(statement)
                return _one(conn, run_id, row["interrupt_id"])
        except exc.IntegrityError as error:  # the run is not there (the foreign key)
            with self._engine.begin() as conn:
                known = conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first()
            if known is None:
                raise RunNotFound(f"no run has id {run_id!r}") from None
            raise StoreError(f"{describe_error(error, self.url, self._password)} "
                             f"(run {run_id})") from None

    @translated
    def interrupts(self, run_id: str, status: str | None = None) -> list[dict[str, Any]]:
        query = select(*_COLUMNS).where(interrupts.c.run_id == run_id)
        if status is not None:
            query = query.where(interrupts.c.status == status)
        with self._engine.begin() as conn:
            return [dict(row._mapping) for row in conn.execute(query.order_by(interrupts.c.id))]

    @translated
    def get_interrupt(self, run_id: str, interrupt_id: str) -> dict[str, Any]:
        with self._engine.begin() as conn:
            return _one(conn, run_id, interrupt_id)

    @translated
    def answer_interrupt(self, run_id: str, interrupt_id: str, answer: Any, *, by: str,
                         status: str = "answered") -> dict[str, Any]:
        check_answer_status(status)
        with self._writer.begin() as conn:
            answered = conn.execute(
                update(interrupts).where(interrupts.c.run_id == run_id,
                                         interrupts.c.interrupt_id == interrupt_id,
                                         interrupts.c.status == "pending")
                .values(status=status, answer=answer, answered_by=by, answered_at=utcnow()))
            record = _one(conn, run_id, interrupt_id)
            if answered.rowcount != 1:
                raise already_answered(record)
            return record

    @translated
    def expire_interrupts(self, now: datetime) -> list[dict[str, Any]]:
        now = utc(now)
        with self._writer.begin() as conn:
            due = conn.execute(  # locked, so nothing answers them between here and the update
                select(interrupts.c.id, interrupts.c.on_timeout)
                .where(interrupts.c.status == "pending", interrupts.c.deadline <= now)
                .order_by(interrupts.c.id).with_for_update()).all()
            for rule in {row.on_timeout for row in due}:
                ids = [row.id for row in due if row.on_timeout == rule]
                for start in range(0, len(ids), CHUNK):
                    conn.execute(update(interrupts).where(
                        interrupts.c.id.in_(ids[start:start + CHUNK]),
                        interrupts.c.status == "pending").values(
                        status="expired", answer=timeout_answer(rule), answered_by="deadline",
                        answered_at=now))
            expired = []
            for start in range(0, len(due), CHUNK):
                ids = [row.id for row in due[start:start + CHUNK]]
                expired += conn.execute(select(*_COLUMNS).where(interrupts.c.id.in_(ids))
                                        .order_by(interrupts.c.id)).all()
        return [dict(row._mapping) for row in expired]


def _one(conn, run_id: str, interrupt_id: str) -> dict[str, Any]:
    row = conn.execute(select(*_COLUMNS).where(interrupts.c.run_id == run_id,
                                               interrupts.c.interrupt_id == interrupt_id)).first()
    if row is None:
        raise not_found(run_id, interrupt_id)
    return dict(row._mapping)
