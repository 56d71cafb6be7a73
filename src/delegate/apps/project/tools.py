"""Project-planning arithmetic: check a work breakdown, find its critical path, schedule it.

In the ``project`` workflow a model proposes the breakdown (items, estimates, dependencies,
skills) and this module computes everything that follows from it, so a timeline's length is the
critical path the numbers imply, never a figure the model wrote down:

* :func:`validate_breakdown` raises one :class:`~delegate.errors.PlanError` listing every
  problem: duplicate ids, unknown dependencies, cycles (naming their items), an item needing a
  skill no resource has, a resource name used twice.
* :func:`critical_path` runs the classic CPM forward and backward passes.
* :func:`schedule` is a serial list schedule against the resources given: items are taken in
  order of (least slack, earliest start, input order) once their dependencies are placed; each
  goes to the suitable resource on which it finishes first, starting when its dependencies are
  done and that resource is free. A resource of capacity ``c`` takes ``estimate / c`` days.
* :func:`to_markdown` renders a timeline; the results' ``to_dict`` gives JSON-ready data.

Days are plain floats counted from day 0. Nothing here calls a model or does I/O.

The items, the resources and :func:`validate_breakdown` are in
:mod:`delegate.apps.project.breakdown`; this module re-exports them.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from .breakdown import Resource, WorkItem, as_plan, validate_breakdown

__all__ = [
    "CriticalPath",
    "Resource",
    "Timeline",
    "TimelineEntry",
    "WorkItem",
    "critical_path",
    "schedule",
    "to_markdown",
    "validate_breakdown",
]

_REL_TOL = 1e-9  # float noise allowed when comparing days (relative to the project length)


@dataclass(frozen=True)
class CriticalPath:
    """The CPM result for a breakdown; the mappings are keyed by item id, in input order.

    Attributes:
        length_days: the longest chain of estimates, the shortest possible project.
        path: the item ids along that chain, first to last; ties go to the earlier input item.
        slack: how far each item can slip without delaying the project (0 on the path).
    """

    length_days: float
    path: tuple[str, ...]
    earliest_start: Mapping[str, float]
    earliest_finish: Mapping[str, float]
    latest_start: Mapping[str, float]
    latest_finish: Mapping[str, float]
    slack: Mapping[str, float]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data: the length, the path, and each item's CPM times."""
        fields = ("earliest_start", "earliest_finish", "latest_start", "latest_finish", "slack")
        return {
            "length_days": self.length_days,
            "path": list(self.path),
            "items": {t: {f: getattr(self, f)[t] for f in fields} for t in self.slack},
        }


@dataclass(frozen=True)
class TimelineEntry:
    """One item placed on the timeline; ``resource`` is ``None`` when none were given."""

    item_id: str
    resource: str | None
    start_day: float
    finish_day: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data."""
        return asdict(self)


@dataclass(frozen=True)
class Timeline:
    """A schedule: entries by start day (then input order), and how long it all takes.

    Attributes:
        resource_bound: True when the resources made the project longer than its critical path.
    """

    entries: tuple[TimelineEntry, ...]
    makespan_days: float
    critical_path: CriticalPath
    resource_bound: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data."""
        return {
            "entries": [e.to_dict() for e in self.entries],
            "makespan_days": self.makespan_days,
            "critical_path": self.critical_path.to_dict(),
            "resource_bound": self.resource_bound,
        }


def critical_path(items: Iterable[WorkItem]) -> CriticalPath:
    """CPM forward and backward passes over a valid breakdown.

    Raises:
        PlanError: if the breakdown is invalid (see :func:`validate_breakdown`).
    """
    items = tuple(items)
    validate_breakdown(items)
    return _cpm(items)


def schedule(items: Iterable[WorkItem], resources: Iterable[Resource] = ()) -> Timeline:
    """Allocate each item to one resource with its skill and place it in time.

    With no resources, every item gets its own lane and starts at its earliest start, so the
    makespan equals the critical path length.

    Raises:
        PlanError: if the breakdown or the resources are invalid.
    """
    items, resources = tuple(items), tuple(resources)
    validate_breakdown(items, resources)
    cp = _cpm(items)
    position = {item.id: n for n, item in enumerate(items)}
    entries = (
        _list_schedule(items, resources, cp)
        if resources
        else [
            TimelineEntry(i.id, None, cp.earliest_start[i.id], cp.earliest_finish[i.id])
            for i in items
        ]
    )
    entries.sort(key=lambda e: (e.start_day, position[e.item_id]))
    makespan = max(e.finish_day for e in entries)
    bound = makespan > cp.length_days + _REL_TOL * max(1.0, cp.length_days)
    return Timeline(tuple(entries), makespan, cp, bound)


def to_markdown(timeline: Timeline, items: Iterable[WorkItem]) -> str:
    """A Markdown table of the timeline and a one-line summary of path and makespan."""
    names = {i.id: i.name for i in items}
    slack = timeline.critical_path.slack
    lines = [
        "| Item | Name | Resource | Start day | Finish day | Days | Slack |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for e in timeline.entries:
        cells = [
            e.item_id,
            names.get(e.item_id, ""),
            e.resource or "-",
            _num(e.start_day),
            _num(e.finish_day),
            _num(e.finish_day - e.start_day),
            _num(slack[e.item_id]),
        ]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    cp = timeline.critical_path
    summary = (
        f"Critical path: {' -> '.join(cp.path)}, {_days(cp.length_days)}; "
        f"makespan {_days(timeline.makespan_days)}"
    )
    if timeline.resource_bound:
        summary += " (resource-bound)"
    return "\n".join([*lines, "", summary])


def _dependents(items: tuple[WorkItem, ...]) -> dict[str, list[str]]:
    """For each item id, the ids of the items depending on it, in input order."""
    out: dict[str, list[str]] = {i.id: [] for i in items}
    for item in items:
        for dep in item.depends_on:
            out[dep].append(item.id)
    return out


def _cpm(items: tuple[WorkItem, ...]) -> CriticalPath:
    by_id, dependents = {i.id: i for i in items}, _dependents(items)
    order = as_plan(items).topological_order()
    es: dict[str, float] = {}
    ef: dict[str, float] = {}
    for tid in order:
        es[tid] = max((ef[d] for d in by_id[tid].depends_on), default=0.0)
        ef[tid] = es[tid] + by_id[tid].estimate_days
    length = max(ef.values())
    tol = _REL_TOL * max(1.0, length)
    ls: dict[str, float] = {}
    lf: dict[str, float] = {}
    for tid in reversed(order):
        lf[tid] = min((ls[d] for d in dependents[tid]), default=length)
        ls[tid] = lf[tid] - by_id[tid].estimate_days
    slack = {i.id: (s if (s := ls[i.id] - es[i.id]) > tol else 0.0) for i in items}
    current = next(i.id for i in items if slack[i.id] == 0.0 and es[i.id] <= tol)
    path = [current]
    while dependents[current]:  # a critical item always has a critical successor, if any
        current = next(
            d
            for d in dependents[current]
            if slack[d] == 0.0 and math.isclose(es[d], ef[current], abs_tol=tol)
        )
        path.append(current)
    in_order = [{t: times[t] for t in slack} for times in (es, ef, ls, lf)]
    return CriticalPath(length, tuple(path), *in_order, slack)


def _list_schedule(
    items: tuple[WorkItem, ...], resources: tuple[Resource, ...], cp: CriticalPath
) -> list[TimelineEntry]:
    """Serial list scheduling; each resource works on one item at a time, in placement order."""
    by_id, dependents = {i.id: i for i in items}, _dependents(items)
    waiting = {i.id: len(i.depends_on) for i in items}
    position = {i.id: n for n, i in enumerate(items)}

    def key(tid: str) -> tuple[float, float, int, str]:
        return (round(cp.slack[tid], 9), round(cp.earliest_start[tid], 9), position[tid], tid)

    ready = [key(i.id) for i in items if not i.depends_on]
    heapq.heapify(ready)
    free_at = {r.name: 0.0 for r in resources}
    finish: dict[str, float] = {}
    entries: list[TimelineEntry] = []
    while ready:
        item = by_id[heapq.heappop(ready)[-1]]
        deps_done = max((finish[d] for d in item.depends_on), default=0.0)
        best: tuple[float, float, str] | None = None
        for r in resources:
            if item.skill in r.skills:
                start = max(deps_done, free_at[r.name])
                end = start + item.estimate_days / r.capacity
                if best is None or end < best[1]:
                    best = (start, end, r.name)
        assert best is not None  # validate_breakdown checked every skill has a resource
        start, end, name = best
        free_at[name] = finish[item.id] = end
        entries.append(TimelineEntry(item.id, name, start, end))
        for nxt in dependents[item.id]:
            waiting[nxt] -= 1
            if waiting[nxt] == 0:
                heapq.heappush(ready, key(nxt))
    return entries


def _num(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _days(value: float) -> str:
    return f"{_num(value)} day" + ("" if value == 1 else "s")
