"""Bench 3, makespan under a concurrency limit: seeded random DAGs with heterogeneous task
durations, run with ``max_concurrency`` 4 and 16.

The figure is the makespan (wall time of the run) divided by the lower bound: the larger of
the critical path (longest chain of durations) and the total work divided by the
concurrency. No schedule can beat 1.00. Three systems:

* delegate: each task carries its duration as ``Task.expected_seconds``; the scheduler orders
  ready tasks by priority (none here), then by the longest remaining chain of expected
  seconds, then plan order.
* fifo: the same push-based engine shape with a first come, first served ready queue.
* langgraph: supersteps; a step starts when every node of the previous one has finished.
* delegate-counts (for information, not a goal's figure): delegate told nothing about
  durations, so its critical path counts tasks.

Beside each measured ratio, the ratio its policy reaches with zero overhead
(:func:`dags.simulate`), which tells the policy's share from the engine's.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections import defaultdict
from typing import Any

from dags import random_dag, simulate
from harness import fmt_stat, markdown_table, stat

__all__ = ["CONCURRENCY", "POLICY", "SEEDS", "SYSTEMS", "cases", "measure", "report"]

SYSTEMS = ("delegate", "fifo", "langgraph", "delegate-counts")
POLICY = {"delegate": "seconds", "fifo": "fifo", "langgraph": "supersteps",
          "delegate-counts": "tasks"}
SEEDS = (1, 2, 3, 4, 5, 6)
QUICK_SEEDS = (1, 2)
CONCURRENCY = (4, 16)


def cases(quick: bool = False) -> list[dict[str, Any]]:
    return [{"system": s, "seed": seed, "concurrency": c}
            for c in CONCURRENCY for seed in (QUICK_SEEDS if quick else SEEDS) for s in SYSTEMS]


def measure(system: str, seed: int, concurrency: int, rep: int = 0) -> dict[str, Any]:
    """Runs in the subprocess: one timed run of DAG ``seed`` after a warm-up on a tiny one
    (``rep`` only labels the record)."""
    from systems import load

    module = load(system)
    return asyncio.run(_measure(module, system, seed, concurrency))


async def _measure(module: Any, system: str, seed: int, concurrency: int) -> dict[str, Any]:
    dag = random_dag(seed)
    await module.build(random_dag(seed + 1_000, n=8, scale=0.05), concurrency)()
    runner = module.build(dag, concurrency)
    gc.collect()
    start = time.perf_counter()
    done = await runner()
    wall = time.perf_counter() - start
    if done != len(dag):
        raise AssertionError(f"{system}: {done} of {len(dag)} tasks ran")
    bound = dag.lower_bound(concurrency)
    return {"bench": "makespan", "system": system, "seed": seed, "concurrency": concurrency,
            "tasks": len(dag), "depth": dag.depth(), "makespan_s": wall,
            "critical_path_s": dag.critical_path(), "work_s": dag.total_work(),
            "lower_bound_s": bound, "ratio": wall / bound,
            "policy_ratio": simulate(dag, concurrency, POLICY[system]) / bound}


def report(records: list[dict[str, Any]]) -> tuple[str, str, dict[str, Any]]:
    """The per-concurrency table, the per-DAG table, and the summary."""
    groups: dict[tuple[int, int, str], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        groups[(r["concurrency"], r["seed"], r["system"])].append(r)
    per_dag = {key: {"ratio": stat(r["ratio"] for r in rs),
                     "policy_ratio": rs[0]["policy_ratio"], "record": rs[0]}
               for key, rs in groups.items()}
    summary: dict[str, Any] = {"per_dag": per_dag, "per_system": {}}
    rows = []
    for c in sorted({k[0] for k in per_dag}):
        for system in SYSTEMS:
            mine = [v for k, v in per_dag.items() if k[0] == c and k[2] == system]
            if not mine:
                continue
            everything = [r["ratio"] for k, rs in groups.items() if k[0] == c and k[2] == system
                          for r in rs]
            medians = [v["ratio"]["median"] for v in mine]
            s = {"all": stat(everything), "worst_dag_median": max(medians),
                 "mean_of_dag_medians": sum(medians) / len(medians),
                 "policy_mean": sum(v["policy_ratio"] for v in mine) / len(mine)}
            summary["per_system"][(c, system)] = s
            rows.append([c, system, fmt_stat(s["all"], ".3f"), f"{s['mean_of_dag_medians']:.3f}",
                         f"{s['worst_dag_median']:.3f}", f"{s['policy_mean']:.3f}"])
    table = markdown_table(
        ["max_concurrency", "system", "makespan / bound, all runs", "mean over DAGs",
         "worst DAG", "policy alone (simulated, mean)"], rows)
    detail_rows = []
    for (c, seed, system), v in sorted(per_dag.items()):
        r = v["record"]
        detail_rows.append([c, seed, f"{r['tasks']} / {r['depth']}",
                            f"{r['critical_path_s'] * 1e3:.0f}", f"{r['work_s'] * 1e3:.0f}",
                            f"{r['lower_bound_s'] * 1e3:.0f}", system,
                            fmt_stat(v["ratio"], ".3f"), f"{v['policy_ratio']:.3f}"])
    detail = markdown_table(
        ["max_concurrency", "seed", "tasks / depth", "critical path, ms", "work, ms",
         "bound, ms", "system", "makespan / bound", "policy alone"], detail_rows)
    return table, detail, summary
