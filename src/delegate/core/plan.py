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
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..errors import PlanError
from .graph import TaskGraph

__all__ = [
    "HARD_MAX_DEPTH",
    "HARD_MAX_TASKS",
    "Plan",
    "PlanLimits",
    "Strategy",
    "Task",
    "merge_repeated_tasks",
    "without_tasks",
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
        expected_seconds: how long the task is expected to take, if known. Among ready tasks
            of equal priority the scheduler starts the one with the longest remaining chain
            of expected seconds first; a task without an estimate weighs its worker's mean
            observed time (or the plan's mean estimate). Left out of the task's JSON when
            not set.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    worker: str = Field(min_length=1)
    instruction: str = ""
    depends_on: tuple[str, ...] = ()
    priority: int = 0
    output_schema: dict[str, Any] | None = None
    expected_seconds: float | None = Field(default=None, gt=0,
                                           exclude_if=lambda value: value is None)

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
        graph = self._graph
        order = graph.order()
        if len(order) != len(graph.tasks):
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
        return self._graph.longest(cost.get)

    @functools.cached_property
    def _graph(self) -> TaskGraph:
        """The plan's adjacency, built once (a plan is frozen)."""
        return TaskGraph(self.tasks)

    @functools.cached_property
    def _unit_critical_path(self) -> dict[str, float]:
        return self._graph.longest(None)

    def __getstate__(self) -> dict[Any, Any]:
        """The pickled state leaves out the graph and paths cached on the plan (rebuilt on
        demand), so a plan pickles the same whether or not it was validated."""
        state = super().__getstate__()
        cached = ("_graph", "_unit_critical_path")
        if any(name in state["__dict__"] for name in cached):
            state = {**state, "__dict__": {k: v for k, v in state["__dict__"].items()
                                           if k not in cached}}
        return state

    def depth(self) -> int:
        """The number of tasks on the longest dependency chain."""
        return int(max(self.critical_path().values(), default=0))

    def dependents(self) -> dict[str, list[str]]:
        """For each task id, the ids of tasks that depend on it, in plan order."""
        return {tid: list(children) for tid, children in self._graph.dependents.items()}


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
    graph = plan._graph  # one pass over the tasks and their edges, kept for the run
    problems.extend(f"duplicate task id {tid!r}" for tid in graph.duplicates)
    if workers is not None:
        named = graph.workers if not graph.duplicates else {t.worker for t in plan.tasks}
        unknown = named.difference(workers)
        if unknown:
            known = ", ".join(sorted(workers)) or "none"
            problems.extend(
                f"task {task.id!r} names unknown worker {task.worker!r} (known: {known})"
                for task in plan.tasks if task.worker in unknown)
    for tid, dep in graph.strays:
        problems.append(f"task {tid!r} depends on itself" if dep == tid
                        else f"task {tid!r} depends on unknown task {dep!r}")
    if len(graph.order()) != len(graph.tasks):
        problems.extend(_cycle_message(c) for c in graph.cycles() if len(c) > 1)
    elif len(graph.indegree) >= limits.max_depth:  # a chain of n tasks has n - 1 with deps
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
    candidate = without_tasks(plan, merged)
    if len(candidate._graph.order()) != len(candidate._graph.tasks):
        return plan, {}
    return candidate, merged


def without_tasks(plan: Plan, dropped: Mapping[str, str | None]) -> Plan:
    """``plan`` without the tasks ``dropped`` names. A dropped task mapped to another id is
    merged into it: the kept task takes on its dependencies, and a dependency on the dropped
    task becomes one on the kept task. A task mapped to ``None`` is left out, and a
    dependency on it goes with it. The result is not validated."""
    deps: dict[str, list[str]] = {t.id: [] for t in plan.tasks if t.id not in dropped}
    for task in plan.tasks:
        owner = dropped.get(task.id, task.id)
        if owner is None:
            continue
        for dep in task.depends_on:
            dep = dropped.get(dep, dep)
            if dep is not None and dep != owner and dep not in deps[owner]:
                deps[owner].append(dep)
    tasks = tuple(t.model_copy(update={"depends_on": tuple(deps[t.id])})
                  for t in plan.tasks if t.id not in dropped)
    return Plan(tasks=tasks, version=plan.version, strategy=plan.strategy)


def remaining_critical_path(
    tasks: Iterable[Task], cost: dict[str, float] | None = None, graph: TaskGraph | None = None
) -> dict[str, float]:
    """Longest cost from each task to a sink, itself included (tasks must form a DAG)."""
    graph = graph or TaskGraph(tuple(tasks))
    return graph.longest(cost.get if cost else None)


def _cycle_message(cycle: list[str]) -> str:
    return "dependency cycle: " + " -> ".join(cycle + cycle[:1])
