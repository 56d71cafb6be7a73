"""Bench 1, engine overhead: a planner step fans out N tasks that do no work, one aggregator
gathers them. What remains is what the engine itself costs.

Per subprocess (one system, one N): import the system, warm up with one fan-out of 10 (lazy
imports and first-call caches), take the peak-RSS baseline, then time ``runs`` fan-outs of N
(a full collection before each, outside the timed region) and keep their median. The timed
region is the planner step, the N tasks, the aggregator and handing its result back.

Peak memory is ``ru_maxrss`` of that subprocess: the interpreter, the system's imports and
the run, as a user would see the process (the goal's reference figures, asyncio about 25 MiB
and LangGraph about 84 MiB, are of this kind). The part the run adds over the baseline is
reported beside it. ``ru_maxrss`` rather than ``tracemalloc``: tracemalloc slows allocation
two to three times and does not see memory allocated outside Python's allocator (pydantic's
Rust core among it), so it would understate some systems and distort the timings.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections import defaultdict
from typing import Any

from harness import fmt_stat, markdown_table, peak_rss_mib, stat

__all__ = ["NS", "SYSTEMS", "cases", "measure", "report", "runs_for"]

SYSTEMS = ("delegate", "asyncio", "pocketflow", "langgraph")
NS = (1, 10, 100, 1_000, 10_000)
QUICK_NS = (1, 10, 100, 1_000)


def runs_for(n: int) -> int:
    """Timed fan-outs per subprocess: enough that small N is not lost in timer noise."""
    return max(1, min(200, 3_000 // n))


def cases(quick: bool = False) -> list[dict[str, Any]]:
    """One repetition: every N, and for each N every system in turn (A B C D A B C D ...)."""
    return [{"system": s, "n": n} for n in (QUICK_NS if quick else NS) for s in SYSTEMS]


def measure(system: str, n: int, runs: int | None = None, rep: int = 0) -> dict[str, Any]:
    """Runs in the subprocess; see the module docstring (``rep`` only labels the record)."""
    from systems import load

    module = load(system)
    return asyncio.run(_measure(module, system, n, runs or runs_for(n)))


async def _measure(module: Any, system: str, n: int, runs: int) -> dict[str, Any]:
    imported = peak_rss_mib()
    if await module.fanout(10, 0.0) != 10:
        raise AssertionError(f"{system}: the warm-up fan-out lost results")
    gc.collect()
    baseline = peak_rss_mib()
    walls = []
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        gathered = await module.fanout(n, 0.0)
        walls.append(time.perf_counter() - start)
        if gathered != n:
            raise AssertionError(f"{system}: the aggregator gathered {gathered} of {n}")
    wall = statistics.median(walls)
    peak = peak_rss_mib()
    return {"bench": "overhead", "system": system, "n": n, "runs": runs, "wall_s": wall,
            "us_per_task": wall / n * 1e6, "peak_rss_mib": peak,
            "import_rss_mib": imported, "baseline_rss_mib": baseline,
            "run_rss_mib": peak - baseline}


def summarize(records: list[dict[str, Any]]) -> dict[tuple[str, int], dict[str, Any]]:
    """Per (system, N): statistics of wall (ms), microseconds per task and peak memory."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        groups[(r["system"], r["n"])].append(r)
    return {key: {"wall_ms": stat(r["wall_s"] * 1e3 for r in rs),
                  "us_per_task": stat(r["us_per_task"] for r in rs),
                  "peak_rss_mib": stat(r["peak_rss_mib"] for r in rs),
                  "run_rss_mib": stat(r["run_rss_mib"] for r in rs)}
            for key, rs in groups.items()}


def report(records: list[dict[str, Any]]) -> tuple[str, dict[tuple[str, int], Any]]:
    """The Markdown section and the summary it was made from."""
    summary = summarize(records)
    ns = sorted({n for _, n in summary})
    rows = []
    for n in ns:
        floor = summary.get(("asyncio", n))
        for system in SYSTEMS:
            s = summary.get((system, n))
            if s is None:
                continue
            versus = (f"{s['us_per_task']['median'] / floor['us_per_task']['median']:.1f}x"
                      if floor else "-")
            rows.append([f"{n:,}", system, fmt_stat(s["wall_ms"], ".3f" if n < 100 else ".1f"),
                         fmt_stat(s["us_per_task"]), versus, fmt_stat(s["peak_rss_mib"]),
                         fmt_stat(s["run_rss_mib"])])
    table = markdown_table(
        ["N", "system", "wall, ms", "µs per task", "vs asyncio", "peak RSS, MiB",
         "of which the run, MiB"], rows)
    return table, summary
