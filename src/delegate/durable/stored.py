"""What the journal stores of a model call's answer, a task's outcome and a run's end: JSON-ready
data built from the engine's objects.

The journal cleans what these return (see :class:`~delegate.durable.redact.Redactor`) before it
queues it; :mod:`delegate.durable.replay` reads the answers and outcomes back. A successful
outcome's output goes through :func:`~delegate.durable.codec.encode`, so that a resumed run can
restore the task; an output with no faithful JSON form is stored as its ``repr`` and marked not
restorable, so the task runs again instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..core.outcomes import RunResult, TaskOutcome
from ..core.plan import Task
from ..errors import DelegateError
from ..llm.base import ModelResponse
from .codec import NotStorable, encode, jsonable
from .replay import fingerprint

__all__ = ["call_response", "outcome_data", "run_summary"]


def call_response(response: ModelResponse, error: DelegateError | None = None) -> dict[str, Any]:
    """The stored answer of one model call (text, data, model, notes, tokens and latency);
    with ``error``, the validation failure the answer met (its type, message, provider and
    model), so that a resumed run replays the same failure."""
    stored: dict[str, Any] = {
        "text": response.text, "data": jsonable(response.data), "model": response.model,
        "notes": list(response.notes),
        "usage": {"prompt_tokens": response.usage.prompt_tokens,
                  "completion_tokens": response.usage.completion_tokens,
                  "latency_seconds": response.usage.latency_seconds},
    }
    if error is not None:
        stored["error"] = {"type": type(error).__name__, "message": error.message,
                           "provider": getattr(error, "provider", ""),
                           "model": getattr(error, "model", "")}
    return stored


def outcome_data(outcome: TaskOutcome, public: dict[str, Any], task: Task | None,
                 clean: Callable[[Any], Any]) -> dict[str, Any]:
    """The stored outcome: ``public`` (``outcome.to_dict()``, cleaned) and what resume
    needs to restore the task (``task``, the definition it ran, is fingerprinted); ``clean``
    cleans the output that is added."""
    data = {**public, "error_type": outcome.error_type, "started": outcome.started_at,
            "finished": outcome.finished_at,
            "task": fingerprint(task) if task else None, "output": None,
            "restorable": False}
    if outcome.ok:
        try:
            data["output"], data["restorable"] = clean(encode(outcome.output)), True
        except NotStorable as exc:
            data["output"] = clean(repr(outcome.output)[:2000])
            data["why_not_restorable"] = str(exc)
    return data


def run_summary(result: RunResult) -> dict[str, Any]:
    """How a run ended, as its ``RunFinished`` event is stored (the whole result goes to the
    run's row): status, error, whether the budget was reached, usage and wall time."""
    return {"status": result.status, "error": result.error,
            "budget_reached": result.budget_reached, "usage": result.usage.as_dict(),
            "wall_seconds": round(result.wall_seconds, 3)}
