"""The store's tables as SQLAlchemy Core objects, for queries.

The schema itself is created and changed by the Alembic migrations in ``migrations/versions``;
these definitions must describe the head revision (the contract suite compares the two). Every
child table references ``runs.id`` (``ON DELETE CASCADE``). JSON columns use SQLAlchemy's
generic ``JSON`` type; times are timezone-aware UTC (:class:`UtcDateTime`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

__all__ = ["events", "interrupts", "metadata", "model_calls", "outcomes", "plan_versions",
           "response_cache", "runs", "utcnow"]

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator):
    """A timezone-aware UTC ``datetime`` on every dialect (naive values are taken as UTC).

    PostgreSQL stores ``timestamptz``; SQLite stores fixed-width UTC text, which sorts and
    compares in time order.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData(naming_convention=NAMING)


def _run_id() -> Column:
    return Column("run_id", String, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False,
                  primary_key=True)


runs = Table(
    "runs", metadata,
    Column("id", String, primary_key=True),
    Column("kind", String, nullable=False),
    Column("objective", Text, nullable=False),
    Column("request", JSON, nullable=False),
    Column("status", String, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("result", JSON(none_as_null=True), nullable=True),
    Column("owner_token", String, nullable=True),
    Column("owner_host", String, nullable=True),
    Column("owner_pid", Integer, nullable=True),
    Column("heartbeat_at", UtcDateTime, nullable=True),
    Index(None, "created_at"),
)

plan_versions = Table(
    "plan_versions", metadata,
    _run_id(),
    Column("version", Integer, primary_key=True),
    Column("plan", JSON, nullable=False),
    Column("change", Text, nullable=False),
    Column("reason", Text, nullable=False),
)

outcomes = Table(
    "outcomes", metadata,
    _run_id(),
    Column("task_id", String, primary_key=True),
    Column("outcome", JSON, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

model_calls = Table(
    "model_calls", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("task_id", String, nullable=False),
    Column("purpose", String, nullable=False),
    Column("provider", String, nullable=False),
    Column("model", String, nullable=False),
    Column("request_hash", String, nullable=False, index=True),
    Column("request", JSON, nullable=False),
    Column("response", JSON, nullable=False),
    Column("prompt_tokens", Integer, nullable=False),
    Column("completion_tokens", Integer, nullable=False),
    Column("latency_seconds", Float, nullable=False),
    Column("cost", Float, nullable=True),
    Column("source", String, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index(None, "run_id", "seq"),
)

events = Table(
    "events", metadata,
    _run_id(),
    Column("seq", Integer, primary_key=True),
    Column("kind", String, nullable=False),
    Column("data", JSON, nullable=False),
)

response_cache = Table(
    "response_cache", metadata,
    Column("key", String, primary_key=True),
    Column("provider", String, nullable=False),
    Column("model", String, nullable=False),
    Column("response", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("hits", Integer, nullable=False, server_default="0"),
)

#: One row per question a run puts to a person (see
#: :mod:`~delegate.durable.store._interrupts`); ``id`` keeps the order they were added in.
interrupts = Table(
    "interrupts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("interrupt_id", String, nullable=False),
    Column("kind", String, nullable=False),
    Column("task_id", String, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("schema", JSON, nullable=False),
    Column("status", String, nullable=False),
    Column("answer", JSON(none_as_null=True), nullable=True),
    Column("answered_by", String, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("answered_at", UtcDateTime, nullable=True),
    Column("deadline", UtcDateTime, nullable=True),
    Column("on_timeout", String, nullable=True),
    UniqueConstraint("run_id", "interrupt_id"),
    Index(None, "status", "deadline"),
)
