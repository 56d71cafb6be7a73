"""The adjacency of a plan's tasks, built in one pass over the edges and kept on the plan.

Validation, the critical path, the run's dependents and its ready roots all read the one
:class:`TaskGraph` a plan builds on first use (a plan is frozen, so it never goes stale).
"""

from __future__ import annotations

import functools
import heapq
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .plan import Task

__all__ = ["TaskGraph"]


class TaskGraph:
    """The tasks of a tuple and the edges between them. Tolerates what validation reports:
    a repeated id (the first task of that id stands), a dependency on an unknown task or on
    the task itself (in :attr:`strays`), a cycle (:meth:`order` leaves its tasks out)."""

    def __init__(self, tasks: tuple[Task, ...]) -> None:
        #: the tasks by id, in plan order
        self.tasks: dict[str, Task] = {}
        #: for each task id, the ids of the tasks that depend on it, in plan order
        self.dependents: dict[str, list[str]] = {}
        #: repeated ids, in plan order
        self.duplicates: list[str] = []
        #: (task id, dependency) pairs naming no task of the plan, or the task itself
        self.strays: list[tuple[str, str]] = []
        #: the ids of the tasks without dependencies, in plan order
        self.roots: list[str] = []
        #: for each task with dependencies, how many it has
        self.indegree: dict[str, int] = {}
        later: list[tuple[str, str]] = []  # a dependency listed after its dependent
        dependents, roots, indegree = self.dependents, self.roots, self.indegree
        for task in tasks:
            tid = task.id
            if tid in dependents:
                self.duplicates.append(tid)
                continue
            deps = task.depends_on
            if deps:
                indegree[tid] = len(deps)
                for dep in deps:
                    children = dependents.get(dep)
                    if children is None:
                        later.append((tid, dep))
                    else:
                        children.append(tid)
            else:
                roots.append(tid)
            self.tasks[tid] = task
            dependents[tid] = []
        #: the names of the workers the tasks name
        self.workers = {t.worker for t in self.tasks.values()}
        #: whether plan order is itself a topological order (every dependency comes first)
        self.forward = not later
        if later:
            touched = set()
            for tid, dep in later:
                if dep == tid or dep not in dependents:
                    self.strays.append((tid, dep))
                if dep in dependents:
                    dependents[dep].append(tid)
                    touched.add(dep)
            for dep in touched:
                dependents[dep].sort(key=self.position.__getitem__)

    @property
    def ids(self) -> list[str]:
        return list(self.tasks)

    @functools.cached_property
    def position(self) -> dict[str, int]:
        """Each task's index in plan order."""
        return {tid: n for n, tid in enumerate(self.tasks)}

    @functools.cached_property
    def deps(self) -> dict[str, list[str]]:
        """For each task id, its dependencies that name a task of the plan."""
        return {tid: [d for d in t.depends_on if d in self.tasks]
                for tid, t in self.tasks.items()}

    def order(self) -> list[str]:
        """Topological order, plan order among equals; omits tasks on or behind a cycle."""
        if self.forward:
            return list(self.tasks)
        return self._kahn

    @functools.cached_property
    def _kahn(self) -> list[str]:
        deps = self.deps
        indegree = {tid: len(d) for tid, d in deps.items()}
        position = self.position
        heap = [(position[tid], tid) for tid, n in indegree.items() if n == 0]
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

    def longest(self, cost: Callable[[str], float | None] | None) -> dict[str, float]:
        """For each task in :meth:`order`, the cost of the longest chain from it to the end,
        itself included; ``cost(task_id)`` is a task's cost, 1 where it answers ``None``
        (every task costs 1 without it)."""
        longest: dict[str, float] = {}
        get = longest.__getitem__
        dependents = self.dependents
        for tid in reversed(self.order()):
            own = 1.0 if cost is None else cost(tid)
            children = dependents[tid]
            longest[tid] = (1.0 if own is None else own) + (
                max(map(get, children)) if children else 0.0)
        return longest

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
