"""The run store over SQLAlchemy: SQLite (the default, a file per user) and PostgreSQL.

Each method runs one short transaction and commits before it returns. :meth:`SqlStore.write`
applies a whole :class:`~delegate.durable.store.base.Batch` in one transaction that first
updates the run's row only where the writer still owns it (the fence), then inserts with one
``executemany`` per table. :meth:`SqlStore.claim`
is a single conditional ``UPDATE`` whose row count decides, so two processes claiming one run
at once cannot both win (SQLite serialises writers with ``BEGIN IMMEDIATE``; PostgreSQL
re-checks the condition on the locked row). Database errors leave as
:class:`~delegate.errors.StoreError`, with the URL's password hidden.

Beside it: :mod:`~delegate.durable.store._engine` makes the engines and migrates the schema,
:mod:`~delegate.durable.store._batch` writes a batch's rows,
:mod:`~delegate.durable.store._queries` builds the paged and grouped reads a server makes,
:mod:`~delegate.durable.store._rows` turns rows into records and back, and
:mod:`~delegate.durable.store._interrupt_sql` keeps the interrupts.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exc, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

from ...errors import ConfigurationError, RunLocked, RunNotFound, StoreError
from . import _engine
from ._batch import write_batch
from ._interrupt_sql import SqlInterrupts
from ._queries import event_page, run_page, stats_of_runs
from ._rows import CALL_FIELDS, locked_message, new_run_row, run_record
from ._tables import events, model_calls, outcomes, plan_versions, response_cache, runs, utcnow
from ._urls import redact_url
from .base import (
    JSON,
    Batch,
    ModelCallRecord,
    Owner,
    RunRecord,
    RunStore,
    check_limit,
    check_owner,
)

__all__ = ["SqlStore"]

MIN_PREFIX = 4
_translated = _engine.translated


class SqlStore(SqlInterrupts, RunStore):
    """A :class:`RunStore` in a SQL database; opening it migrates the schema to head.

    Args:
        url: a SQLAlchemy URL as :func:`delegate.durable.store._urls.normalize_url` spells it.

    Attributes:
        url: the URL with its password hidden, safe to show.
    """

    def __init__(self, url: str) -> None:
        self.url = redact_url(url)
        self._password: str | None = None
        try:
            self._password = make_url(url).password
            self._engine = _engine.connect(url)
        except (exc.ArgumentError, ValueError) as error:
            raise self._bad_url(error) from None
        self._writer = _engine.writer(self._engine)
        #: an in-memory SQLite database is one connection: two threads' transactions on it
        #: (a server reading while the journal's writer writes) would fail, so they take turns
        memory = self._engine.dialect.name == "sqlite" and self._engine.url.database in (
            None, "", ":memory:")
        self._serial = threading.RLock() if memory else contextlib.nullcontext()
        self._upsert = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}[
            self._engine.dialect.name]
        try:
            _engine.migrate(self._engine, self.url)
        except exc.ArgumentError as error:  # found on connecting, e.g. sqlite://host/x
            self._engine.dispose()
            raise self._bad_url(error) from None
        except exc.SQLAlchemyError as error:
            self._engine.dispose()
            raise StoreError(_engine.describe_error(error, self.url, self._password)) from None
        except BaseException:
            self._engine.dispose()
            raise

    def _bad_url(self, error: Exception) -> ConfigurationError:
        detail = (str(error).strip().splitlines() or [type(error).__name__])[0]
        if self._password:
            detail = detail.replace(self._password, "***")
        return ConfigurationError(f"bad store URL {self.url!r}: {detail}")

    def __repr__(self) -> str:
        return f"SqlStore({self.url!r})"

    def close(self) -> None:
        self._engine.dispose()

    # runs
    @_translated
    def create_run(self, run: RunRecord, owner: Owner) -> None:
        try:
            with self._writer.begin() as conn:
                conn.execute(runs.insert().values(**new_run_row(run, owner)))
        except exc.IntegrityError:
            raise StoreError(f"a run with id {run.run_id!r} already exists") from None

    @_translated
    def get_run(self, run_id: str) -> RunRecord:
        with self._engine.begin() as conn:
            row = conn.execute(select(runs).where(runs.c.id == run_id)).first()
            if row is not None:
                return run_record(row)
            if len(run_id) < MIN_PREFIX:
                raise RunNotFound(f"no run has id {run_id!r} (a prefix needs at least "
                                  f"{MIN_PREFIX} characters)")
            prefixed = func.substr(runs.c.id, 1, len(run_id)) == run_id
            rows = conn.execute(select(runs).where(prefixed).order_by(runs.c.id).limit(3)).all()
        if not rows:
            raise RunNotFound(f"no run has an id starting with {run_id!r}")
        if len(rows) > 1:
            some = ", ".join(row.id for row in rows[:2]) + (", ..." if len(rows) > 2 else "")
            raise RunNotFound(f"{run_id!r} starts several run ids ({some}): give more of it")
        return run_record(rows[0])

    @_translated
    def list_runs(self, limit: int = 20, *, status: str | None = None,
                  before: tuple[datetime, str] | None = None) -> list[RunRecord]:
        check_limit(limit)
        with self._engine.begin() as conn:
            return [run_record(row) for row in conn.execute(run_page(limit, status, before))]

    @_translated
    def claim(self, run_id: str, owner: Owner, *, stale_after: float,
              dead: Owner | None = None) -> RunRecord:
        now = utcnow()
        free = [runs.c.owner_token.is_(None), runs.c.owner_token == owner.token,
                runs.c.heartbeat_at <= now - timedelta(seconds=stale_after)]
        if dead is not None:
            free.append(runs.c.owner_token == dead.token)
        with self._writer.begin() as conn:
            row = conn.execute(
                select(runs).where(runs.c.id == run_id).with_for_update()).first()
            if row is None:
                raise RunNotFound(f"no run has id {run_id!r}")
            claimed = conn.execute(
                update(runs).where(and_(runs.c.id == run_id, or_(*free))).values(
                    owner_token=owner.token, owner_host=owner.host, owner_pid=owner.pid,
                    heartbeat_at=now, updated_at=now, status="running"))
            if claimed.rowcount != 1:
                raise RunLocked(locked_message(row))
        return run_record(row)

    @_translated
    def heartbeat(self, run_id: str, owner: Owner) -> None:
        with self._writer.begin() as conn:
            conn.execute(update(runs).where(runs.c.id == run_id,
                                            runs.c.owner_token == owner.token)
                         .values(heartbeat_at=utcnow()))

    @_translated
    def release(self, run_id: str, owner: Owner, *, status: str, result: JSON = None) -> None:
        values: dict[str, Any] = dict(status=status, updated_at=utcnow(), owner_token=None,
                                      owner_host=None, owner_pid=None, heartbeat_at=None)
        if result is not None:
            values["result"] = result
        with self._writer.begin() as conn:
            conn.execute(update(runs).where(runs.c.id == run_id,
                                            runs.c.owner_token == owner.token).values(**values))

    # what a run is made of
    @_translated
    def add_plan_version(self, run_id: str, version: int, plan: JSON, change: str,
                         reason: str) -> None:
        statement = self._upsert(plan_versions).values(
            run_id=run_id, version=version, plan=plan, change=change, reason=reason)
        self._write_child(run_id, statement.on_conflict_do_update(
            index_elements=["run_id", "version"],
            set_=dict(plan=statement.excluded.plan, change=statement.excluded.change,
                      reason=statement.excluded.reason)))

    @_translated
    def plan_versions(self, run_id: str) -> list[dict[str, Any]]:
        query = (select(plan_versions.c.version, plan_versions.c.plan, plan_versions.c.change,
                        plan_versions.c.reason)
                 .where(plan_versions.c.run_id == run_id).order_by(plan_versions.c.version))
        with self._engine.begin() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    @_translated
    def save_outcome(self, run_id: str, task_id: str, outcome: JSON) -> None:
        statement = self._upsert(outcomes).values(run_id=run_id, task_id=task_id,
                                                  outcome=outcome, updated_at=utcnow())
        self._write_child(run_id, statement.on_conflict_do_update(
            index_elements=["run_id", "task_id"],
            set_=dict(outcome=statement.excluded.outcome,
                      updated_at=statement.excluded.updated_at)))

    @_translated
    def outcomes(self, run_id: str) -> dict[str, JSON]:
        query = (select(outcomes.c.task_id, outcomes.c.outcome)
                 .where(outcomes.c.run_id == run_id).order_by(outcomes.c.task_id))
        with self._engine.begin() as conn:
            return {row.task_id: row.outcome for row in conn.execute(query)}

    @_translated
    def add_model_call(self, run_id: str, call: ModelCallRecord) -> None:
        values = {name: getattr(call, name) for name in CALL_FIELDS}
        self._write_child(run_id, model_calls.insert().values(
            run_id=run_id, created_at=utcnow(), **values))

    @_translated
    def model_calls(self, run_id: str) -> list[ModelCallRecord]:
        columns = [model_calls.c[name] for name in CALL_FIELDS]
        query = (select(*columns).where(model_calls.c.run_id == run_id)
                 .order_by(model_calls.c.seq, model_calls.c.id))
        with self._engine.begin() as conn:
            return [ModelCallRecord(**row._mapping) for row in conn.execute(query)]

    @_translated
    def add_event(self, run_id: str, seq: int, kind: str, data: JSON) -> None:
        self._write_child(run_id, events.insert().values(run_id=run_id, seq=seq, kind=kind,
                                                         data=data))

    @_translated
    def events(self, run_id: str, after: int | None = None,
               limit: int | None = None) -> list[dict[str, Any]]:
        check_limit(limit)
        with self._engine.begin() as conn:
            return [dict(row._mapping) for row in conn.execute(event_page(run_id, after, limit))]

    @_translated
    def last_event_seq(self, run_id: str) -> int | None:
        query = select(func.max(events.c.seq)).where(events.c.run_id == run_id)
        with self._engine.begin() as conn:
            return conn.execute(query).scalar_one_or_none()

    @_translated
    def run_stats(self, run_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        with self._engine.begin() as conn:
            return stats_of_runs(conn, run_ids)

    # the owner's writes
    @_translated
    def write(self, run_id: str, owner: Owner, batch: Batch) -> None:
        now = utcnow()
        alive: dict[str, Any] = dict(heartbeat_at=now)
        if batch:
            alive["updated_at"] = now
        try:
            with self._writer.begin() as conn:
                if batch.create is not None:
                    conn.execute(runs.insert().values(**new_run_row(batch.create, owner)))
                fenced = conn.execute(update(runs).where(
                    runs.c.id == run_id, runs.c.owner_token == owner.token).values(**alive))
                if fenced.rowcount != 1:
                    row = conn.execute(select(runs).where(runs.c.id == run_id)).first()
                    if row is None:
                        raise RunNotFound(f"no run has id {run_id!r}")
                    check_owner(run_record(row), owner)
                write_batch(conn, self._upsert, run_id, batch, now)
        except exc.IntegrityError as error:
            if batch.create is not None and self._has_run(batch.create.run_id):
                raise StoreError(f"a run with id {run_id!r} already exists") from None
            detail = _engine.describe_error(error, self.url, self._password)
            raise StoreError(f"{detail} (run {run_id})") from None

    def _has_run(self, run_id: str) -> bool:
        with self._engine.begin() as conn:
            return conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is not None

    # across runs
    @_translated
    def cache_get(self, key: str, *, count: bool = True) -> JSON | None:
        query = select(response_cache.c.response).where(response_cache.c.key == key)
        with self._engine.begin() as conn:  # a read: a miss takes no write lock
            response = conn.execute(query).scalar_one_or_none()
        if response is not None and count:
            with self._writer.begin() as conn:
                conn.execute(update(response_cache).where(response_cache.c.key == key)
                             .values(hits=response_cache.c.hits + 1))
        return response

    @_translated
    def cache_put(self, key: str, provider: str, model: str, response: JSON) -> None:
        statement = self._upsert(response_cache).values(
            key=key, provider=provider, model=model, response=response, created_at=utcnow(),
            hits=0).on_conflict_do_nothing(index_elements=["key"])
        with self._writer.begin() as conn:
            conn.execute(statement)

    @_translated
    def schema_version(self) -> str:
        with self._engine.begin() as conn:
            return _engine.current_revision(conn) or ""

    # helpers
    def _write_child(self, run_id: str, statement) -> None:
        """Run an insert into a table under ``runs``; an unknown run is ``RunNotFound``."""
        try:
            with self._writer.begin() as conn:
                conn.execute(statement)
        except exc.IntegrityError as error:
            with self._engine.begin() as conn:
                known = conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first()
            if known is None:
                raise RunNotFound(f"no run has id {run_id!r}") from None
            detail = _engine.describe_error(error, self.url, self._password)
            raise StoreError(f"{detail} (run {run_id})") from None
