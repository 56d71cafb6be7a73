"""Engines for the SQL store: connection settings per dialect, schema migration, error text.

SQLite is tuned for several processes sharing one file (a run in progress, a ``runs list``, a
second ``resume``): WAL journal (readers never block the writer), a busy timeout, foreign keys
on, and transactions that delegate begins itself: ``BEGIN IMMEDIATE`` for writes, so a writer
takes the lock up front and waits its turn instead of failing half-way, plain ``BEGIN`` for
reads. Use :func:`writer` for an engine whose transactions write.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event, exc, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from ...errors import ConfigurationError, StoreError

__all__ = ["connect", "current_revision", "describe_error", "migrate", "translated", "writer"]

MIGRATIONS = Path(__file__).with_name("migrations")
BUSY_TIMEOUT_SECONDS = 30.0
CONNECT_TIMEOUT_SECONDS = 10
_WRITE = "delegate_write"
_MIGRATION_LOCK = 0x64656C65  # pg_advisory_xact_lock key: "dele"
_F = TypeVar("_F", bound=Callable[..., Any])


def connect(url: str) -> Engine:
    """An engine for a normalised store URL (see :mod:`delegate.durable.store._urls`)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite(url, parsed.database)
    try:
        query = parsed.query
        args = {} if "connect_timeout" in query else {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
        if "application_name" not in query:
            args["application_name"] = "delegate"
        return create_engine(parsed, pool_pre_ping=True, connect_args=args)
    except ImportError:
        raise ConfigurationError(
            "a PostgreSQL store needs psycopg: pip install 'delegate[postgres]'") from None


def writer(engine: Engine) -> Engine:
    """``engine`` with transactions that write (``BEGIN IMMEDIATE`` on SQLite)."""
    return engine.execution_options(**{_WRITE: True})


def _sqlite(url: str, database: str | None) -> Engine:
    memory = database in (None, "", ":memory:")
    if memory:  # one shared connection, or every thread would see its own empty database
        engine = create_engine(url, poolclass=StaticPool,
                               connect_args={"check_same_thread": False})
    else:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_SECONDS})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # the driver stops issuing BEGIN/COMMIT itself
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
        if not memory:
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection) -> None:
        immediate = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _alembic_config(connection=None):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _scripts():
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config())


def current_revision(connection) -> str | None:
    """The revision the connected database's schema is at (``None``: no schema yet)."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def migrate(engine: Engine, shown_url: str) -> None:
    """Bring the schema to the head revision; ``StoreError`` if it is newer than this code."""
    from alembic import command

    scripts = _scripts()
    head = scripts.get_current_head()
    known = {script.revision for script in scripts.walk_revisions()}
    with engine.connect() as connection:
        current = current_revision(connection)
    if current == head:
        return
    with writer(engine).begin() as connection:
        if connection.dialect.name == "postgresql":  # one migrator at a time
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                               {"key": _MIGRATION_LOCK})
        current = current_revision(connection)
        if current is not None and current not in known:
            raise StoreError(
                f"the run store {shown_url} was written by a newer delegate (schema revision "
                f"{current!r}, this version knows up to {head!r}): upgrade delegate")
        if current != head:
            command.upgrade(_alembic_config(connection), "head")


def describe_error(error: BaseException, shown_url: str, password: str | None) -> str:
    """One line saying what failed, for a ``StoreError``; never contains ``password``."""
    cause = error.orig if isinstance(error, exc.DBAPIError) and error.orig else error
    detail = re.sub(r"\s+", " ", str(cause)).strip() or type(cause).__name__
    if isinstance(error, exc.SQLAlchemyError) and not isinstance(error, exc.DBAPIError):
        detail = detail.split(" (Background on this error", 1)[0]
    if password:  # wherever it stands apart from letters and digits ("p" leaves "port" be)
        for secret in {password, quote(password, safe=""), quote(password)}:
            detail = re.sub(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])", "***",
                            detail)
    return f"run store {shown_url} failed: {type(cause).__name__}: {detail}"


def translated(method: _F) -> _F:
    """Decorate a method of :class:`~delegate.durable.store.sql.SqlStore`: turn SQLAlchemy's
    errors into ``StoreError`` (the driver's text, no password); on an in-memory database, one
    thread at a time (see ``SqlStore._serial``)."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            with self._serial:
                return method(self, *args, **kwargs)
        except exc.SQLAlchemyError as error:
            raise StoreError(describe_error(error, self.url, self._password)) from None

    return wrapper  # type: ignore[return-value]
