"""A :class:`~delegate.durable.store.base.Batch` written inside the caller's transaction, the
part of :meth:`SqlStore.write <delegate.durable.store.sql.SqlStore.write>` after the fence.

Plan versions and the cache go through SQLAlchemy upserts; outcomes, model calls and events
with one ``executemany`` per table (:func:`insert_rows`), which on SQLite hands the rows straight
to the driver's cursor; a release gives the run up in the same transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from sqlalchemy import bindparam, exc, update

from ._rows import CALL_FIELDS
from ._tables import events, model_calls, outcomes, plan_versions, response_cache, runs
from .base import Batch

__all__ = ["insert_rows", "write_batch"]


def write_batch(conn, upsert: Callable[..., Any], run_id: str, batch: Batch, now) -> None:
    """Write ``batch`` for ``run_id`` in ``conn``'s transaction; ``upsert`` is the dialect's
    ``insert`` (``sqlite.insert`` or ``postgresql.insert``), ``now`` the batch's time."""
    if batch.plans:
        statement = upsert(plan_versions)
        conn.execute(statement.on_conflict_do_update(
            index_elements=["run_id", "version"],
            set_=dict(plan=statement.excluded.plan, change=statement.excluded.change,
                      reason=statement.excluded.reason)),
            [{"run_id": run_id, **plan} for plan in batch.plans])
    if batch.outcomes:
        latest = dict(batch.outcomes)  # a later outcome of a task replaces an earlier one
        insert_rows(conn, upsert, outcomes, [
            {"run_id": run_id, "task_id": task_id, "outcome": outcome, "updated_at": now}
            for task_id, outcome in latest.items()], replace=("outcome", "updated_at"))
    if batch.calls:
        insert_rows(conn, upsert, model_calls, [
            {"run_id": run_id, "created_at": now,
             **{name: getattr(call, name) for name in CALL_FIELDS}}
            for call in batch.calls])
    if batch.events:
        insert_rows(conn, upsert, events, [{"run_id": run_id, **event} for event in batch.events])
    if batch.cache:
        conn.execute(upsert(response_cache).on_conflict_do_nothing(
            index_elements=["key"]),
            [{**entry, "created_at": now, "hits": 0} for entry in batch.cache])
    if batch.cache_hits:
        conn.execute(update(response_cache).where(response_cache.c.key == bindparam("k"))
                     .values(hits=response_cache.c.hits + 1),
                     [{"k": key} for key in batch.cache_hits])
    if batch.release is not None:
        values: dict[str, Any] = dict(status=batch.release["status"], updated_at=now,
                                      owner_token=None, owner_host=None, owner_pid=None,
                                      heartbeat_at=None)
        if batch.release.get("result") is not None:
            values["result"] = batch.release["result"]
        conn.execute(update(runs).where(runs.c.id == run_id).values(**values))


def insert_rows(conn, upsert: Callable[..., Any], table, rows: list[dict[str, Any]],
                replace: tuple[str, ...] = ()) -> None:
    """Insert ``rows`` (every row with the same columns) with one ``executemany``; with
    ``replace``, a row whose primary key exists updates those columns instead.

    On SQLite the rows go straight to the driver's cursor, each value through its
    column's own bind processor (what SQLAlchemy would do, without its per-row work,
    which costs more than the insert); elsewhere through SQLAlchemy Core.
    """
    columns = list(rows[0])
    if conn.dialect.name != "sqlite":
        statement: Any = table.insert()
        if replace:
            statement = upsert(table)
            statement = statement.on_conflict_do_update(
                index_elements=[c.name for c in table.primary_key],
                set_={name: statement.excluded[name] for name in replace})
        conn.execute(statement, rows)
        return
    dialect = conn.dialect
    processors = [(name, table.c[name].type.bind_processor(dialect)) for name in columns]
    sql = (f"INSERT INTO {table.name} ({', '.join(columns)}) "
           f"VALUES ({', '.join('?' * len(columns))})")
    if replace:
        keys = ", ".join(c.name for c in table.primary_key)
        sql += (f" ON CONFLICT ({keys}) DO UPDATE SET "
                + ", ".join(f"{name} = excluded.{name}" for name in replace))
    values = [tuple(row[name] if process is None else process(row[name])
                    for name, process in processors) for row in rows]
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.executemany(sql, values)
    except sqlite3.Error as error:  # said as SQLAlchemy would, for the callers' handlers
        raise exc.DBAPIError.instance(sql, None, error, sqlite3.Error) from None
    finally:
        cursor.close()
