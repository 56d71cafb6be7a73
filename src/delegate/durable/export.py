"""Everything stored about one run, as one JSON-ready dict: what ``delegate runs export``
prints, what the HTML report is drawn from and what the server's export route answers.
Its interrupts (the questions put to a person, with their answers) come in the order they were
asked, their times in ISO 8601."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .lease import effective_status
from .store.base import RunStore

__all__ = ["export", "iso"]


def export(store: RunStore, run_id: str) -> dict[str, Any]:
    """Everything stored about one run, JSON-ready (``run_id`` may be a prefix).

    Raises:
        RunNotFound: no run, or several, match ``run_id``.
    """
    run = store.get_run(run_id)
    return {
        "run_id": run.run_id, "kind": run.kind, "objective": run.objective,
        "status": effective_status(run), "request": run.request,
        "created_at": iso(run.created_at), "updated_at": iso(run.updated_at),
        "result": run.result, "plan_versions": store.plan_versions(run.run_id),
        "outcomes": store.outcomes(run.run_id),
        "model_calls": [{
            "seq": c.seq, "task_id": c.task_id, "purpose": c.purpose, "provider": c.provider,
            "model": c.model, "request_hash": c.request_hash, "request": c.request,
            "response": c.response, "prompt_tokens": c.prompt_tokens,
            "completion_tokens": c.completion_tokens, "latency_seconds": c.latency_seconds,
            "cost": c.cost, "source": c.source,
        } for c in store.model_calls(run.run_id)],
        "events": store.events(run.run_id),
        "interrupts": [{
            **record, "created_at": iso(record["created_at"]),
            "answered_at": iso(record["answered_at"]), "deadline": iso(record["deadline"]),
        } for record in store.interrupts(run.run_id)],
    }


def iso(moment: datetime | None) -> str | None:
    """``moment`` in ISO 8601, or ``None``."""
    return moment.isoformat() if moment else None
