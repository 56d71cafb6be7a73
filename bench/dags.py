"""The task graphs the benchmarks run, and the bounds they are judged against.

A :class:`Dag` is a set of tasks in plan order (every task after its dependencies), each with
a duration in seconds (how long its simulated model call sleeps). Three shapes:

* :func:`layered`: ``layers`` layers of ``width`` tasks, each depending on every task of the
  layer before (the parallel-efficiency bench: 5 x 20, 20 ms each).
* :func:`random_dag`: a seeded random DAG with heterogeneous durations (the makespan bench).
* the fan-out of the overhead bench is built by each system itself (a planner step, N tasks,
  one aggregator); its ideal critical path is the duration of one task.

Bounds: :meth:`Dag.critical_path` (the longest chain of durations: no schedule finishes
sooner, whatever the concurrency) and :meth:`Dag.lower_bound` (the larger of the critical
path and the total work divided by the concurrency). :func:`simulate` computes the makespan a
scheduling policy would reach with zero overhead, to tell the policy from the engine's cost.

Standard library only: every system's subprocess imports this module.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["POLICIES", "Dag", "layered", "random_dag", "simulate"]


@dataclass(frozen=True)
class Dag:
    """Tasks in plan order, their dependencies and their durations (seconds)."""

    tasks: tuple[str, ...]
    deps: dict[str, tuple[str, ...]]
    durations: dict[str, float]
    dependents: dict[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        position = {t: n for n, t in enumerate(self.tasks)}
        children: dict[str, list[str]] = {t: [] for t in self.tasks}
        for t in self.tasks:
            for d in self.deps[t]:
                if position.get(d, len(self.tasks)) >= position[t]:
                    raise ValueError(f"{t!r} depends on {d!r}, which does not come before it")
                children[d].append(t)
        object.__setattr__(self, "dependents", {t: tuple(c) for t, c in children.items()})

    def __len__(self) -> int:
        return len(self.tasks)

    @property
    def sinks(self) -> tuple[str, ...]:
        return tuple(t for t in self.tasks if not self.dependents[t])

    def remaining(self, cost: Callable[[str], float] | None = None) -> dict[str, float]:
        """For each task, the longest chain from its start to the end of the graph, itself
        included; ``cost`` gives a task's weight (default: its duration)."""
        cost = cost or self.durations.__getitem__
        out: dict[str, float] = {}
        for t in reversed(self.tasks):
            out[t] = cost(t) + max((out[c] for c in self.dependents[t]), default=0.0)
        return out

    def depth(self) -> int:
        """Tasks on the longest chain."""
        return int(max(self.remaining(lambda _t: 1.0).values(), default=0))

    def critical_path(self) -> float:
        """The longest chain of durations: the makespan with unlimited concurrency."""
        return max(self.remaining().values(), default=0.0)

    def total_work(self) -> float:
        return sum(self.durations.values())

    def lower_bound(self, concurrency: int) -> float:
        """No schedule with ``concurrency`` slots finishes sooner than this."""
        return max(self.critical_path(), self.total_work() / concurrency)

    def to_json(self) -> dict[str, object]:
        return {"tasks": list(self.tasks), "deps": {t: list(d) for t, d in self.deps.items()},
                "durations": self.durations}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Dag:
        deps = {t: tuple(d) for t, d in data["deps"].items()}  # type: ignore[union-attr]
        return cls(tuple(data["tasks"]), deps, dict(data["durations"]))  # type: ignore[arg-type]


def layered(layers: int = 5, width: int = 20, duration: float = 0.02) -> Dag:
    """``layers`` x ``width`` tasks; each depends on every task of the previous layer."""
    tasks: list[str] = []
    deps: dict[str, tuple[str, ...]] = {}
    previous: tuple[str, ...] = ()
    for layer in range(layers):
        current = tuple(f"L{layer}.{i}" for i in range(width))
        for t in current:
            deps[t] = previous
        tasks += current
        previous = current
    return Dag(tuple(tasks), deps, {t: duration for t in tasks})


def random_dag(seed: int, n: int = 60, *, window: int = 12, max_parents: int = 3,
               scale: float = 1.0) -> Dag:
    """A reproducible random DAG: ``n`` tasks in plan order, each with 0 to ``max_parents``
    dependencies drawn among the ``window`` tasks before it, and heterogeneous durations:
    two thirds short (10 to 40 ms), one third long (60 to 150 ms), times ``scale``."""
    rng = random.Random(seed)
    tasks = tuple(f"t{i:03d}" for i in range(n))
    deps: dict[str, tuple[str, ...]] = {}
    durations: dict[str, float] = {}
    for i, t in enumerate(tasks):
        earlier = tasks[max(0, i - window):i]
        k = min(len(earlier), rng.choice((0, 1, 1, 2, 2, max_parents)))
        deps[t] = tuple(sorted(rng.sample(earlier, k)))
        ms = rng.uniform(10, 40) if rng.random() < 2 / 3 else rng.uniform(60, 150)
        durations[t] = round(ms * scale) / 1000
    return Dag(tasks, deps, durations)


def _list_schedule(dag: Dag, tasks: tuple[str, ...], concurrency: int,
                   key: Callable[[str], tuple], start: float) -> dict[str, float]:
    """Greedy list scheduling of ``tasks`` (a dependency-closed part of ``dag``) from time
    ``start``: whenever a slot is free, the ready task with the smallest ``key`` starts.
    Returns each task's finish time."""
    inside = set(tasks)
    waiting = {t: sum(d in inside for d in dag.deps[t]) for t in tasks}
    ready = [(key(t), t) for t in tasks if waiting[t] == 0]
    heapq.heapify(ready)
    running: list[tuple[float, int, str]] = []  # (finish, tiebreak, task)
    finish: dict[str, float] = {}
    now, seq = start, 0
    while ready or running:
        while ready and len(running) < concurrency:
            _, t = heapq.heappop(ready)
            heapq.heappush(running, (now + dag.durations[t], seq, t))
            seq += 1
        now, _, t = heapq.heappop(running)
        finish[t] = now
        done = [t]
        while running and running[0][0] == now:  # everything ending at the same instant
            done.append(heapq.heappop(running)[2])
            finish[done[-1]] = now
        for d in done:
            for c in dag.dependents[d]:
                if c in inside:
                    waiting[c] -= 1
                    if waiting[c] == 0:
                        heapq.heappush(ready, (key(c), c))
    return finish


def simulate(dag: Dag, concurrency: int, policy: str) -> float:
    """The makespan ``policy`` reaches on ``dag`` with ``concurrency`` slots and no overhead.

    Policies (see :data:`POLICIES`): ``fifo`` starts ready tasks in the order they became
    ready; ``seconds`` orders them as delegate's scheduler does when tasks carry their
    expected seconds (priority, none here, then the longest remaining chain of durations from
    the task, itself included, then plan order); ``tasks`` is delegate's order without
    estimates (the longest remaining chain counted in tasks); ``supersteps`` runs the graph in
    LangGraph's supersteps: a task runs in the step after the last of its dependencies ran,
    each step is list-scheduled in plan order, and a step starts when the previous one has
    finished.
    """
    position = {t: n for n, t in enumerate(dag.tasks)}
    if policy == "fifo":
        counter = iter(range(10**9))
        became_ready: dict[str, int] = {}

        def fifo_key(t: str) -> tuple:
            became_ready.setdefault(t, next(counter))
            return (became_ready[t],)

        return max(_list_schedule(dag, dag.tasks, concurrency, fifo_key, 0.0).values())
    if policy in ("tasks", "seconds"):
        remaining = dag.remaining(lambda _t: 1.0) if policy == "tasks" else dag.remaining()
        return max(_list_schedule(dag, dag.tasks, concurrency,
                                  lambda t: (-remaining[t], position[t]), 0.0).values())
    if policy == "supersteps":
        step: dict[str, int] = {}
        for t in dag.tasks:
            step[t] = 1 + max((step[d] for d in dag.deps[t]), default=0)
        now = 0.0
        for s in range(1, max(step.values(), default=0) + 1):
            members = tuple(t for t in dag.tasks if step[t] == s)
            flat = Dag(members, {t: () for t in members}, {t: dag.durations[t] for t in members})
            now = max(_list_schedule(flat, members, concurrency,
                                     lambda t: (position[t],), now).values())
        return now
    raise ValueError(f"unknown policy {policy!r}; use one of {', '.join(POLICIES)}")


POLICIES = ("fifo", "tasks", "seconds", "supersteps")
