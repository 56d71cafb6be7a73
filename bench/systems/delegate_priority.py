"""delegate told how long each task will take, through the public ``Task.priority``.

The scheduler orders ready tasks by priority before its own critical-path key, which counts
tasks, not seconds. Here each task's priority is its remaining work in milliseconds (its
duration plus the longest chain of durations after it), so the scheduler follows the
critical path by duration. Not one of the goal's figures: it shows what duration estimates
would add (bench/README.md, "what would close it"). Fan-out is the same as delegate's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from dags import Dag

from systems.delegate_system import build as build_plain
from systems.delegate_system import fanout

__all__ = ["build", "fanout"]


def build(dag: Dag, concurrency: int | None,
          trace: list[tuple[str, float, float]] | None = None) -> Callable[[], Awaitable[int]]:
    remaining = dag.remaining()
    return build_plain(dag, concurrency, trace,
                       priorities={t: round(remaining[t] * 1000) for t in dag.tasks})
