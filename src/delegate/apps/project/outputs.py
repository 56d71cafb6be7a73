"""What the project workflow's tasks produce, and the plan it returns.

:class:`Requirements` and :class:`Phases` are the model workers' structured answers;
:func:`breakdown_schema` is the JSON schema of the breakdown (see
:mod:`delegate.apps.project.workflow`); :class:`Scheduled` is the ``schedule`` task's output,
and :class:`ProjectPlan` the typed result of the run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, Field

from ...core.schemas import depends_on_schema, fixed_lists
from .tools import Timeline, WorkItem

__all__ = [
    "ESTIMATES", "ITEM_NAME_CHARS", "MAX_ITEMS", "MIN_ITEMS", "PHASE_NAME_CHARS", "Phase", "Phases",
    "ProjectPlan", "Requirements", "Scheduled", "breakdown_schema",
]

ESTIMATES = (0.5, 1, 1.5, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30)
"""The estimates, in days, a breakdown item may take."""
MIN_ITEMS, MAX_ITEMS = 3, 8
"""Fewest and most items in a breakdown."""
PHASE_NAME_CHARS, ITEM_NAME_CHARS = 40, 60
"""The schemas' bounds on a phase's and a work item's name (a grammar stops the model there)."""
_Line = Annotated[str, Field(min_length=3, max_length=100)]


class Requirements(BaseModel):
    """What the project must deliver, as short statements."""

    requirements: list[_Line] = Field(min_length=2, max_length=6)


class Phase(BaseModel):
    """One stage of the project."""

    name: str = Field(min_length=1, max_length=PHASE_NAME_CHARS,
                      description="two to four words")
    goal: str = Field(min_length=3, max_length=120)


class Phases(BaseModel):
    """The project's stages, in order."""

    phases: list[Phase] = Field(min_length=2, max_length=4)


class ProjectPlan(BaseModel):
    """The typed result of :func:`~delegate.apps.project.workflow.run_project`.

    Attributes:
        requirements, phases: as the model wrote them.
        items: the work breakdown the model wrote (and the tools accepted).
        timeline: :meth:`Timeline.to_dict`: entries, makespan, critical path with CPM times.
        critical_path_days: the longest chain of estimates, computed.
        makespan_days: when the last item finishes with the resources given, computed.
    """

    requirements: list[str]
    phases: list[Phase]
    items: list[WorkItem]
    timeline: dict[str, Any]
    critical_path_days: float
    makespan_days: float


def breakdown_schema(skills: Sequence[str], max_items: int = MAX_ITEMS) -> dict[str, Any]:
    """The JSON schema of a breakdown of ``MIN_ITEMS`` to ``max_items`` items (see module doc).

    Strings and lists are bounded so the answer fits ``max_tokens``. ``depends_on`` is not
    marked unique (llama.cpp grammars cannot enforce that); a repeated id counts once.
    """

    def item(n: int) -> dict[str, Any]:
        depends_on = depends_on_schema([f"w{k}" for k in range(1, n)])
        return {
            "type": "object",
            "properties": {
                "id": {"const": f"w{n}"},
                "name": {"type": "string", "minLength": 3, "maxLength": ITEM_NAME_CHARS},
                "estimate_days": {"enum": list(ESTIMATES)},
                "depends_on": depends_on,
                "skill": {"enum": sorted(set(skills))},
            },
            "required": ["id", "name", "estimate_days", "depends_on", "skill"],
            "additionalProperties": False,
        }

    items = [item(n) for n in range(1, max_items + 1)]
    return {
        "title": "Breakdown",
        "type": "object",
        "properties": {"items": {"anyOf": fixed_lists(items, range(MIN_ITEMS, max_items + 1))}},
        "required": ["items"],
        "additionalProperties": False,
    }


@dataclass(frozen=True)
class Scheduled:
    """The output of ``schedule``: the accepted items and their computed timeline."""

    items: tuple[WorkItem, ...]
    timeline: Timeline

    def summary(self) -> str:
        """What the summary model is shown: the computed timeline in plain lines, days to 0.01."""
        names = {i.id: i.name for i in self.items}
        cp, days = self.timeline.critical_path, self.timeline.makespan_days
        lines = [f"Critical path: {' -> '.join(names[i] for i in cp.path)}, "
                 f"{_num(cp.length_days)} days.", f"With this team the project takes "
                 f"{_num(days)} days.", "Items, in start order:"]
        return "\n".join(lines + [
            f"- {names[e.item_id]}: {e.resource}, day {_num(e.start_day)} to {_num(e.finish_day)}"
            for e in self.timeline.entries])


def _num(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")
