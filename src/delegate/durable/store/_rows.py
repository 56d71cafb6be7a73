"""The runs table's rows and the store's records: what :class:`~delegate.durable.store.sql.SqlStore`
writes for a new run, how it reads a row back, and the columns of a model call.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from ._tables import utcnow
from .base import Owner, RunRecord

__all__ = ["CALL_FIELDS", "locked_message", "new_run_row", "run_record"]

#: The columns of ``model_calls`` that a :class:`~delegate.durable.store.base.ModelCallRecord`
#: holds, in its field order.
CALL_FIELDS = ("seq", "task_id", "purpose", "provider", "model", "request_hash", "request",
               "response", "prompt_tokens", "completion_tokens", "latency_seconds", "cost",
               "source")


def new_run_row(run: RunRecord, owner: Owner) -> dict[str, Any]:
    """The ``runs`` row of a new run, held by ``owner`` from now on (its first heartbeat)."""
    now = utcnow()
    created = run.created_at or now
    return dict(id=run.run_id, kind=run.kind, objective=run.objective, request=run.request,
                status="running", created_at=created, updated_at=run.updated_at or created,
                result=run.result, owner_token=owner.token, owner_host=owner.host,
                owner_pid=owner.pid, heartbeat_at=now)


def locked_message(row: Row) -> str:
    """Why the run of ``row`` cannot be claimed: who holds it, and its last heartbeat."""
    beat = f"{row.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC" if row.heartbeat_at else "never"
    return (f"run {row.id} is owned by process {row.owner_pid} on {row.owner_host} (last "
            f"heartbeat {beat}); wait for it to finish, or stop that process first")


def run_record(row: Row) -> RunRecord:
    """The record of a ``runs`` row; its ``owner`` is ``None`` when nobody holds the run."""
    owner = (Owner(token=row.owner_token, host=row.owner_host or "", pid=row.owner_pid or 0)
             if row.owner_token is not None else None)
    return RunRecord(run_id=row.id, kind=row.kind, objective=row.objective, request=row.request,
                     status=row.status, created_at=row.created_at, updated_at=row.updated_at,
                     result=row.result, owner=owner, heartbeat_at=row.heartbeat_at)
