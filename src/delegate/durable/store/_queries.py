"""The SQL store's reads for a server: a page of a run's events, a page of runs, and the
task and usage figures of many runs in two grouped queries.

Each read is one indexed query: ``events`` by its primary key ``(run_id, seq)``; ``runs`` by
``created_at`` (the order of a page; the cursor is ``(created_at, id)``); ``outcomes`` by its
primary key ``(run_id, task_id)`` and ``model_calls`` by ``(run_id, seq)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, or_, select

from ._reads import run_stats_of
from ._tables import events, model_calls, outcomes, runs

__all__ = ["event_page", "run_page", "stats_of_runs"]

#: Run ids per ``IN (...)`` of :func:`stats_of_runs` (well under every driver's limit).
CHUNK = 500


def event_page(run_id: str, after: int | None, limit: int | None) -> Select:
    """The run's events with ``seq > after``, oldest first, at most ``limit``."""
    query = select(events.c.seq, events.c.kind, events.c.data).where(events.c.run_id == run_id)
    if after is not None:
        query = query.where(events.c.seq > after)
    return query.order_by(events.c.seq).limit(limit)


def run_page(limit: int, status: str | None, before: tuple[datetime, str] | None) -> Select:
    """Runs newest first (ties by id), with ``status``, after the cursor ``before``."""
    query = select(runs)
    if status is not None:
        query = query.where(runs.c.status == status)
    if before is not None:
        at, run_id = before
        # (created_at, id) < (at, run_id), said so that created_at <= at bounds the index scan
        query = query.where(and_(runs.c.created_at <= at,
                                 or_(runs.c.created_at < at, runs.c.id < run_id)))
    return query.order_by(runs.c.created_at.desc(), runs.c.id.desc()).limit(limit)


def stats_of_runs(conn, run_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """:meth:`RunStore.run_stats <delegate.durable.store.base.RunStore.run_stats>`: the
    outcomes counted by status, and the real calls' usage, grouped by run in the database."""
    ids = list(dict.fromkeys(run_ids))
    stats = {run_id: run_stats_of((), ()) for run_id in ids}
    status = outcomes.c.outcome["status"].as_string()
    real = model_calls.c.source == "model"
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        counted = (select(outcomes.c.run_id, status, func.count())
                   .where(outcomes.c.run_id.in_(chunk)).group_by(outcomes.c.run_id, status))
        for run_id, name, count in conn.execute(counted):
            if isinstance(name, str):
                stats[run_id]["tasks"][name] = count
        used = (select(model_calls.c.run_id, func.sum(model_calls.c.prompt_tokens),
                       func.sum(model_calls.c.completion_tokens), func.sum(model_calls.c.cost),
                       func.count(), func.count(model_calls.c.cost))
                .where(model_calls.c.run_id.in_(chunk), real).group_by(model_calls.c.run_id))
        for run_id, prompt, completion, cost, calls, priced in conn.execute(used):
            stats[run_id].update(
                prompt_tokens=int(prompt or 0), completion_tokens=int(completion or 0),
                cost=float(cost or 0.0) if priced == calls else None, model_calls=calls)
    return stats
