"""Rendering values into prompt text, with bounded size.

Kept apart from the workers and the orchestrator so that every prompt renders results the
same way, and so that a long result cannot blow a small model's context window: each rendered
value is cut at a character budget and the cut is marked in the text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:
    from .workers import DependencyResult

__all__ = ["MAX_RESULT_CHARS", "render_dependencies", "render_value", "truncate"]

#: How many characters of one result go into another worker's prompt.
MAX_RESULT_CHARS = 6_000


def render_value(value: Any) -> str:
    """Text for a worker result: strings as they are, structures as compact JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(value)


def truncate(text: str, limit: int = MAX_RESULT_CHARS) -> str:
    """``text`` cut to ``limit`` characters, with a marker saying how much was cut."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[... {len(text) - limit} more characters cut]"


def render_dependencies(deps: Iterable[DependencyResult], limit: int = MAX_RESULT_CHARS) -> str:
    """Dependency results as headed sections, in the order given (plan order)."""
    return "\n\n".join(
        f"### {d.task_id} ({d.worker})\n{truncate(render_value(d.output), limit)}" for d in deps
    )
