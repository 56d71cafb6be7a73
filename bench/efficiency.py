"""Bench 2, parallel efficiency: the same work with a simulated 20 ms model call per task
(``await asyncio.sleep(0.02)``), against the ideal critical path.

* fan-out: a planner step, N tasks of 20 ms, one aggregator; ideal 20 ms (planner and
  aggregator do no work), whatever N, since nothing limits concurrency.
* layered: 5 layers of 20 tasks, each depending on every task of the previous layer; ideal
  5 x 20 ms = 100 ms.

The figure is wall time divided by the ideal: 1.00 means no overhead at all. Per subprocess
(one system, one shape): warm up on a small instance of the shape, then ``runs`` timed runs,
median kept. A DAG is prepared (plan, graph, flow) before the timed region; the fan-out's
planner step is inside it.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections import defaultdict
from typing import Any

from dags import layered
from harness import fmt_stat, markdown_table, stat

__all__ = ["SYSTEMS", "TASK_SECONDS", "cases", "measure", "report"]

SYSTEMS = ("delegate", "asyncio", "pocketflow", "langgraph")
TASK_SECONDS = 0.02
FANOUT_NS = (10, 100, 1_000, 10_000)
QUICK_NS = (10, 100, 1_000)
LAYERS, WIDTH = 5, 20


def cases(quick: bool = False) -> list[dict[str, Any]]:
    """One repetition, systems interleaved within each shape."""
    shapes = [{"shape": "fanout", "n": n} for n in (QUICK_NS if quick else FANOUT_NS)]
    shapes.append({"shape": "layered", "n": LAYERS * WIDTH})
    return [{**shape, "system": s} for shape in shapes for s in SYSTEMS]


def measure(system: str, shape: str, n: int, runs: int | None = None,
            rep: int = 0) -> dict[str, Any]:
    """Runs in the subprocess; see the module docstring (``rep`` only labels the record)."""
    runs = runs or (3 if n <= 1_000 else 1)
    from systems import load

    module = load(system)
    return asyncio.run(_measure(module, system, shape, n, runs))


async def _measure(module: Any, system: str, shape: str, n: int, runs: int) -> dict[str, Any]:
    if shape == "fanout":
        ideal = TASK_SECONDS
        await module.fanout(10, 0.001)

        async def once() -> int:
            return await module.fanout(n, TASK_SECONDS)
    elif shape == "layered":
        dag = layered(LAYERS, WIDTH, TASK_SECONDS)
        if n != len(dag):
            raise ValueError(f"the layered DAG has {len(dag)} tasks, not {n}")
        ideal = dag.critical_path()
        await module.build(layered(2, 3, 0.001), None)()
        once = module.build(dag, None)
    else:
        raise ValueError(f"unknown shape {shape!r}")
    walls = []
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        done = await once()
        walls.append(time.perf_counter() - start)
        if done != n:
            raise AssertionError(f"{system} {shape}: {done} of {n} tasks ran")
    wall = statistics.median(walls)
    return {"bench": "efficiency", "system": system, "shape": shape, "n": n, "runs": runs,
            "wall_s": wall, "ideal_s": ideal, "ratio": wall / ideal}


def report(records: list[dict[str, Any]]) -> tuple[str, dict[tuple[str, str, int], Any]]:
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        groups[(r["shape"], r["system"], r["n"])].append(r)
    summary = {key: {"ratio": stat(r["ratio"] for r in rs),
                     "wall_ms": stat(r["wall_s"] * 1e3 for r in rs),
                     "ideal_ms": rs[0]["ideal_s"] * 1e3}
               for key, rs in groups.items()}
    rows = []
    for shape, n in sorted({(k[0], k[2]) for k in summary}, key=lambda k: (k[0] != "fanout",
                                                                             k[1])):
        label = f"fan-out, N = {n:,}" if shape == "fanout" else f"layered {LAYERS} x {WIDTH}"
        for system in SYSTEMS:
            s = summary.get((shape, system, n))
            if s is not None:
                rows.append([label, system, f"{s['ideal_ms']:.0f}", fmt_stat(s["wall_ms"]),
                             fmt_stat(s["ratio"], ".3f")])
    table = markdown_table(["shape", "system", "ideal, ms", "wall, ms", "wall / ideal"], rows)
    return table, summary
