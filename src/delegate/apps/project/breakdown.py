"""A project's work breakdown: its items, the resources that do them, and the check of both.

:func:`validate_breakdown` raises one :class:`~delegate.errors.PlanError` listing every
problem: duplicate ids, unknown dependencies, cycles (naming their items), an item needing a
skill no resource has, a resource name used twice. The arithmetic that follows from a valid
breakdown is in :mod:`delegate.apps.project.tools`, which re-exports these names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ...core.plan import HARD_MAX_DEPTH, HARD_MAX_TASKS, Plan, PlanLimits, Task, validate_plan
from ...errors import PlanError

__all__ = ["Resource", "WorkItem", "as_plan", "validate_breakdown"]


def _as_tuple(value: Any) -> Any:
    if isinstance(value, str):
        return (value,)
    try:
        return tuple(dict.fromkeys(value))  # a repeated entry means the same once
    except TypeError:
        return value


class WorkItem(BaseModel):
    """One item of a task breakdown.

    Attributes:
        id: unique within the breakdown; letters, digits, ``_``, ``-`` and ``.``.
        name: what the item is, for people.
        estimate_days: days of work at full capacity; more than 0, at most 365.
        depends_on: ids of items that must finish before this one starts.
        skill: the skill a resource needs to work on it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    name: str
    estimate_days: float = Field(gt=0, le=365)
    depends_on: tuple[str, ...] = ()
    skill: str = Field(default="general", min_length=1)

    @field_validator("depends_on", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return _as_tuple(value)


class Resource(BaseModel):
    """A person or team items can be allocated to.

    Attributes:
        name: unique among the resources given.
        skills: the skills it has; it may work on items needing any of them.
        capacity: days of work done per calendar day, more than 0 and at most 1.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    skills: tuple[str, ...] = Field(default=("general",), min_length=1)
    capacity: float = Field(default=1.0, gt=0, le=1)

    @field_validator("skills", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return _as_tuple(value)


def validate_breakdown(items: Iterable[WorkItem], resources: Iterable[Resource] = ()) -> None:
    """Check a breakdown (and, when given, the resources it must be done with).

    Raises:
        PlanError: listing every problem found; skills are checked only if resources are given.
    """
    items, resources = tuple(items), tuple(resources)
    problems: list[str] = []
    try:
        limits = PlanLimits(max_tasks=HARD_MAX_TASKS, max_depth=HARD_MAX_DEPTH)
        validate_plan(as_plan(items), None, limits)
    except PlanError as err:
        problems.extend(_reword(p) for p in err.problems)
    if resources:
        names: set[str] = set()
        for resource in resources:
            if resource.name in names:
                problems.append(f"duplicate resource name {resource.name!r}")
            names.add(resource.name)
        skills = {s for r in resources for s in r.skills}
        known = ", ".join(sorted(skills))
        problems.extend(
            f"item {i.id!r} needs skill {i.skill!r}, which no resource has (skills: {known})"
            for i in items
            if i.skill not in skills
        )
    if problems:
        raise PlanError(problems)


def as_plan(items: tuple[WorkItem, ...]) -> Plan:
    """The breakdown as a plan (each item a task, its skill as the worker), for the plan's
    checks and its topological order."""
    return Plan(tasks=tuple(Task(id=i.id, worker=i.skill, depends_on=i.depends_on) for i in items))


def _reword(problem: str) -> str:
    """Say 'item' and 'breakdown' where :func:`validate_plan` says 'task' and 'plan'."""
    if problem.startswith("dependency cycle:"):
        return problem  # ids only, unquoted: nothing to reword
    parts = problem.split("'")  # ids cannot contain quotes, so even parts are our wording
    for n in range(0, len(parts), 2):
        text = parts[n].replace("the plan", "the breakdown")
        parts[n] = re.sub(r"\btask(s?)\b", r"item\1", text)
    return "'".join(parts)
