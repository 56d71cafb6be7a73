"""Plans: typed, validated, frozen task graphs, and the graph helpers the scheduler uses.

A :class:`Plan` is a tuple of :class:`Task` objects. Building one checks only the shape of each
field; :func:`validate_plan` checks the graph against the registered workers and the
:class:`PlanLimits`, and raises one :class:`~delegate.errors.PlanError` that lists every
problem at once: duplicate ids, unknown workers, unknown dependencies, cycles (naming the tasks
in each), and limits exceeded. Both models are frozen, so a validated plan cannot change under
the scheduler; a new version of a plan is a new object.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..errors import PlanError

__all__ = [
    "HARD_MAX_DEPTH",
    "HARD_MAX_TASKS",
    "Plan",
    "PlanLimits",
    "Strategy",
    "Task",
    "merge_repeated_tasks",
    "validate_plan",
]

Strategy = Literal["static", "dynamic", "hybrid"]

#: No configuration can raise the limits past these.
HARD_MAX_TASKS = 100_000
HARD_MAX_DEPTH = 1_000


class Task(BaseModel):
    """One subtask of a plan.

    Attributes:
        id: unique within the plan; letters, digits, ``_``, ``-`` and ``.``.
        worker: the name of the registered worker that carries it out.
        instruction: what the worker is asked to do.
        depends_on: ids of tasks whose results this task needs; it starts after they finish.
        priority: higher runs first among ready tasks.
        output_schema: an optional JSON schema the worker's output must match.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    worker: str = Field(min_length=1)
    instruction: str = ""
    depends_on: tuple[str, ...] = ()
    priority: int = 0
    output_schema: dict[str, Any] | None = None

    @field_validator("depends_on", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        if isinstance(value, str):
            return (value,)
        try:
            return tuple(dict.fromkeys(value))  # a repeated dependency means the same once
        except TypeError:
            return value


class Plan(BaseModel):
    """A versioned set of tasks. Frozen; helpers are computed from the tasks on demand."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tasks: tuple[Task, ...]
    version: int = Field(default=1, ge=1)
    strategy: Strategy = "static"

    def task(self, task_id: str) -> Task:
        """The task with ``task_id``; ``KeyError`` if absent."""
        for task in self.tasks:
            if task.id == task_id:
                return task
        raise KeyError(task_id)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(t.id for t in self.tasks)

    def topological_order(self) -> list[str]:
        """Task ids so that every task comes after its dependencies; ties keep plan order."""
        graph = _Graph(self.tasks)
        order = graph.kahn()
        if len(order) != len(self.tasks):
            raise PlanError([_cycle_message(c) for c in graph.cycles()])
        return order

    def ready(self, done: Collection[str]) -> list[str]:
        """Ids of tasks not in ``done`` whose dependencies are all in ``done``, in plan order."""
        return [
            t.id for t in self.tasks
            if t.id not in done and all(d in done for d in t.depends_on)
        ]

    def critical_path(self, cost: dict[str, float] | None = None) -> dict[str, float]:
        """For each task, the cost of the longest chain from it to the end of the plan.

        The chain includes the task itself; ``cost`` gives each task's cost (default 1).
        """
        if cost is None:
            return self._unit_critical_path
        return remaining_critical_path(self.tasks, cost, self._graph)

    @functools.cached_property
    def _graph(self) -> _Graph:
        """The plan's adjacency, built once (a plan is frozen)."""
        return _Graph(self.tasks)

    @functools.cached_property
    def _unit_critical_path(self) -> dict[str, float]:
        return remaining_critical_path(self.tasks, None, self._graph)

    def depth(self) -> int:
        """The number of tasks on the longest dependency chain."""
        return int(max(self.critical_path().values(), default=0))

    def dependents(self) -> dict[str, list[str]]:
        """For each task id, the ids of tasks that depend on it, in plan order."""
        out: dict[str, list[str]] = {t.id: [] for t in self.tasks}
        for t in self.tasks:
            for dep in t.depends_on:
                if dep in out:
                    out[dep].append(t.id)
        return out


@dataclass(frozen=True)
class PlanLimits:
    """How big a plan may be. Defaults suit a model-written plan; code may raise them up to
    :data:`HARD_MAX_TASKS` and :data:`HARD_MAX_DEPTH`."""

    max_tasks: int = 20
    max_depth: int = 5

    def __post_init__(self) -> None:
        if not 1 <= self.max_tasks <= HARD_MAX_TASKS:
            raise ValueError(f"max_tasks must be between 1 and {HARD_MAX_TASKS}")
        if not 1 <= self.max_depth <= HARD_MAX_DEPTH:
            raise ValueError(f"max_depth must be between 1 and {HARD_MAX_DEPTH}")


def validate_plan(
    plan: Plan, workers: Collection[str] | None = None, limits: PlanLimits | None = None
) -> Plan:
    """Check ``plan`` against the worker names and limits; return it unchanged if valid.

    Raises:
        PlanError: listing every problem found.
    """
    limits = limits or PlanLimits()
    problems: list[str] = []
    if not plan.tasks:
        problems.append("the plan has no tasks")
    if len(plan.tasks) > limits.max_tasks:
        problems.append(f"the plan has {len(plan.tasks)} tasks; the limit is {limits.max_tasks}")
    seen: set[str] = set()
    for task in plan.tasks:
        if task.id in seen:
            problems.append(f"duplicate task id {task.id!r}")
        seen.add(task.id)
    if workers is not None:
        known = ", ".join(sorted(workers)) or "none"
        for task in plan.tasks:
            if task.worker not in workers:
                problems.append(
                    f"task {task.id!r} names unknown worker {task.worker!r} (known: {known})"
                )
    for task in plan.tasks:
        for dep in task.depends_on:
            if dep not in seen:
                problems.append(f"task {task.id!r} depends on unknown task {dep!r}")
            elif dep == task.id:
                problems.append(f"task {task.id!r} depends on itself")
    graph = plan._graph
    if len(graph.kahn()) != len(graph.ids):
        problems.extend(_cycle_message(c) for c in graph.cycles() if len(c) > 1)
    elif plan.tasks:
        depth = plan.depth()
        if depth > limits.max_depth:
            problems.append(f"the plan is {depth} tasks deep; the limit is {limits.max_depth}")
    if problems:
        raise PlanError(problems)
    return plan


def merge_repeated_tasks(plan: Plan) -> tuple[Plan, dict[str, str]]:
    """Merge the tasks that repeat an earlier one: the same worker and the same instruction
    (case and spacing aside) would do the same work twice. A small planning model writes
    such repeats ("critic" three times over the objective's own words).

    The first of the repeats stays; it takes on the dependencies of the others, and a task
    that depended on a dropped one depends on the kept one. Returns the plan (``plan`` itself
    when nothing repeats) and a map of each dropped id to the id it was merged into. A plan
    whose merge would leave a cycle comes back unchanged, for :func:`validate_plan` to judge.
    """
    kept: dict[tuple[str, str], str] = {}
    merged: dict[str, str] = {}
    for task in plan.tasks:
        key = (task.worker, " ".join(task.instruction.lower().split()))
        if key in kept and key[1]:
            merged[task.id] = kept[key]
        else:
            kept.setdefault(key, task.id)
    if not merged:
        return plan, {}
    deps: dict[str, list[str]] = {t.id: [] for t in plan.tasks if t.id not in merged}
    for task in plan.tasks:
        into = merged.get(task.id, task.id)
        for dep in task.depends_on:
            dep = merged.get(dep, dep)
            if dep != into and dep not in deps[into]:
                deps[into].append(dep)
    tasks = tuple(t.model_copy(update={"depends_on": tuple(deps[t.id])})
                  for t in plan.tasks if t.id not in merged)
    candidate = Plan(tasks=tasks, version=plan.version, strategy=plan.strategy)
    if len(candidate._graph.kahn()) != len(candidate._graph.ids):
        return plan, {}
    return candidate, merged


def remaining_critical_path(
    tasks: Iterable[Task], cost: dict[str, float] | None = None, graph: _Graph | None = None
) -> dict[str, float]:
    """Longest cost from each task to a sink, itself included (tasks must form a DAG)."""
    graph = graph or _Graph(tuple(tasks))
    order = graph.kahn()
    longest: dict[str, float] = {}
    for tid in reversed(order):
        tail = max((longest[d] for d in graph.dependents[tid]), default=0.0)
        longest[tid] = (cost.get(tid, 1.0) if cost else 1.0) + tail
    return longest


def _cycle_message(cycle: list[str]) -> str:
    return "dependency cycle: " + " -> ".join(cycle + cycle[:1])


class _Graph:
    """Adjacency of a task tuple that tolerates duplicates and unknown ids (for validation)."""

    def __init__(self, tasks: tuple[Task, ...]) -> None:
        self.ids: list[str] = list(dict.fromkeys(t.id for t in tasks))
        self.deps: dict[str, list[str]] = {i: [] for i in self.ids}
        self.dependents: dict[str, list[str]] = {i: [] for i in self.ids}
        for t in tasks:
            seen: set[str] = set()
            for d in t.depends_on:
                if d in self.deps and d not in seen:
                    seen.add(d)
                    self.deps[t.id].append(d)
                    self.dependents[d].append(t.id)

    def kahn(self) -> list[str]:
        """Topological order, plan order among equals; omits tasks on or behind a cycle."""
        indegree = {i: len(self.deps[i]) for i in self.ids}
        position = {i: n for n, i in enumerate(self.ids)}
        import heapq

        heap = [(position[i], i) for i in self.ids if indegree[i] == 0]
        heapq.heapify(heap)
        order: list[str] = []
        while heap:
            _, tid = heapq.heappop(heap)
            order.append(tid)
            for nxt in self.dependents[tid]:
                indegree[nxt] -= 1
                if indegree[nxt] == 0:
                    heapq.heappush(heap, (position[nxt], nxt))
        return order

    def cycles(self) -> list[list[str]]:
        """One cycle per strongly connected component that has one (Tarjan, iterative)."""
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        on_stack: set[str] = set()
        stack: list[str] = []
        found: list[list[str]] = []
        counter = 0
        for root in self.ids:
            if root in index:
                continue
            work = [(root, iter(self.deps[root]))]
            index[root] = low[root] = counter
            counter += 1
            stack.append(root)
            on_stack.add(root)
            while work:
                node, children = work[-1]
                child = next(children, None)
                if child is not None:
                    if child not in index:
                        index[child] = low[child] = counter
                        counter += 1
                        stack.append(child)
                        on_stack.add(child)
                        work.append((child, iter(self.deps[child])))
                    elif child in on_stack:
                        low[node] = min(low[node], index[child])
                    continue
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1 or node in self.deps[node]:
                        found.append(self._cycle_within(set(component)))
        return found

    def _cycle_within(self, members: set[str]) -> list[str]:
        """A concrete cycle inside a strongly connected component, in dependency order."""
        start = next(i for i in self.ids if i in members)
        path, seen = [start], {start}
        node = start
        while True:
            nxt = next(d for d in self.dependents[node] if d in members)
            if nxt in seen:
                return path[path.index(nxt):]
            path.append(nxt)
            seen.add(nxt)
            node = nxt
