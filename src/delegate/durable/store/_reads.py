"""Helpers of the store's reads for a server (re-exported by :mod:`~delegate.durable.store.base`):
the cursor that pages :meth:`RunStore.list_runs <delegate.durable.store.base.RunStore.list_runs>`,
one run's usage figures, and the check of a ``limit``.

A cursor is the ``(created_at, run_id)`` of the last run of a page, as URL-safe base64 of a
JSON pair: opaque to its users, who only hand it back.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ...errors import UsageError

if TYPE_CHECKING:
    from .base import ModelCallRecord, RunRecord

__all__ = ["check_limit", "decode_cursor", "encode_cursor", "run_stats_of"]


def check_limit(limit: int | None) -> None:
    """Raise ``UsageError`` for a negative ``limit`` (``None`` is no limit)."""
    if limit is not None and limit < 0:
        raise UsageError(f"a limit must be 0 or more, not {limit}")


def run_stats_of(outcomes: Iterable[Any], calls: Iterable[ModelCallRecord]) -> dict[str, Any]:
    """One run's entry of :meth:`RunStore.run_stats`, from its outcomes and model calls."""
    tasks: dict[str, int] = {}
    for outcome in outcomes:
        status = outcome.get("status") if isinstance(outcome, dict) else None
        if isinstance(status, str):
            tasks[status] = tasks.get(status, 0) + 1
    real = [call for call in calls if call.source == "model"]
    unpriced = any(call.cost is None for call in real)
    return {"tasks": tasks, "prompt_tokens": sum(call.prompt_tokens for call in real),
            "completion_tokens": sum(call.completion_tokens for call in real),
            "cost": None if unpriced else float(sum(call.cost or 0.0 for call in real)),
            "model_calls": len(real)}


def encode_cursor(record: RunRecord) -> str:
    """An opaque cursor for the page of :meth:`RunStore.list_runs` after ``record`` (the last
    run of a page); :func:`decode_cursor` reads it back. URL-safe."""
    if record.created_at is None:
        raise ValueError(f"run {record.run_id} has no created_at to page from")
    moment = record.created_at.astimezone(UTC).isoformat()
    text = json.dumps([moment, record.run_id], separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(text.encode()).decode("ascii").rstrip("=")


def decode_cursor(text: str) -> tuple[datetime, str]:
    """``(created_at, run_id)`` of a cursor from :func:`encode_cursor`, for ``before=``.

    Raises:
        UsageError: ``text`` is not such a cursor.
    """
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
        moment, run_id = json.loads(raw)
        created = datetime.fromisoformat(moment)
        if created.tzinfo is None or not isinstance(run_id, str) or not run_id:
            raise ValueError(text)
    except (TypeError, ValueError, binascii.Error):
        shown = text if isinstance(text, str) and len(text) <= 40 else f"{str(text)[:40]}..."
        raise UsageError(f"invalid cursor {shown!r}: give the next_cursor of an earlier "
                         "page") from None
    return created.astimezone(UTC), run_id
