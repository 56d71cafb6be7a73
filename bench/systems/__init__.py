"""The systems under test, one module each, imported only by the subprocess that measures
that system (so that its peak memory counts nothing else).

Each module offers the same two entry points:

* ``async fanout(n, work) -> int``: a planner step fans out ``n`` tasks that each sleep
  ``work`` seconds (0: no work at all) and one aggregator gathers them; returns how many
  results the aggregator received. The planner step runs inside the timed region.
* ``build(dag, concurrency, trace=None) -> runner``: prepares a run of a :class:`~dags.Dag`
  (each task sleeps its duration) outside the timed region; ``await runner()`` runs it with
  at most ``concurrency`` tasks at once (``None``: no limit) and returns how many tasks ran.
  With a ``trace`` list, each task appends ``(task, start, end)`` (``time.perf_counter``).
  ``None`` where the system cannot express a general DAG.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["SYSTEMS", "load"]

#: name shown in the results -> module
SYSTEMS = {
    "delegate": "systems.delegate_system",
    "delegate-counts": "systems.delegate_counts",
    "asyncio": "systems.asyncio_floor",
    "fifo": "systems.fifo_queue",
    "langgraph": "systems.langgraph_graph",
    "pocketflow": "systems.pocketflow_flow",
}


def load(name: str) -> ModuleType:
    """The module of system ``name``."""
    try:
        return importlib.import_module(SYSTEMS[name])
    except KeyError:
        raise ValueError(f"unknown system {name!r}; known: {', '.join(SYSTEMS)}") from None
