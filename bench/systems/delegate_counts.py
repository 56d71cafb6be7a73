"""delegate told nothing about how long tasks take: the critical path counts tasks.

For information beside delegate's own row, which gives each task its ``expected_seconds``:
the same engine without estimates orders ready tasks by priority (none here), then by the
longest remaining chain counted in tasks, then plan order. Fan-out is the same as delegate's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from dags import Dag

from systems.delegate_system import build as build_with_estimates
from systems.delegate_system import fanout

__all__ = ["build", "fanout"]


def build(dag: Dag, concurrency: int | None,
          trace: list[tuple[str, float, float]] | None = None) -> Callable[[], Awaitable[int]]:
    return build_with_estimates(dag, concurrency, trace, estimates=False)
