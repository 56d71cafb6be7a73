"""The issue's goals, checked against the summaries of a bench run.

Each :class:`Goal` names the figure it reads, its limit, and whether lower is better. A goal
whose figure is missing (a partial run, ``--only``) is reported as not measured. Where a goal
is missed, the results print how far off it is and the note below: why, and what would close
it (from the investigation recorded in ``bench/README.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["GOALS", "NOTES", "Goal", "evaluate"]

Summaries = dict[str, Any]


@dataclass(frozen=True)
class Goal:
    key: str
    text: str
    limit: float
    unit: str
    read: Callable[[Summaries], float | None]
    context: Callable[[Summaries], str] = lambda _s: ""
    strict: bool = False  # the figure must be below the limit, not merely at it
    why: str = ""
    close: str = ""
    bench: str = ""  # the bench the figure comes from (default: from the key)


def _get(s: Summaries, *path: Any) -> Any:
    for key in path:
        if s is None:
            return None
        s = s.get(key) if isinstance(s, dict) else None
    return s


def _median(s: Summaries, *path: Any) -> float | None:
    found = _get(s, *path)
    return None if found is None else found["median"]


def _peers(s: Summaries, n: int, field: str, spec: str, unit: str) -> str:
    parts = []
    for system in ("asyncio", "pocketflow", "langgraph"):
        value = _median(s, "overhead", (system, n), field)
        if value is not None:
            parts.append(f"{system} {value:{spec}}{unit}")
    return ", ".join(parts)


def _versus_asyncio(s: Summaries, n: int) -> float | None:
    """delegate's µs per task at ``n`` as a multiple of plain asyncio's, from the same run."""
    mine = _median(s, "overhead", ("delegate", n), "us_per_task")
    floor = _median(s, "overhead", ("asyncio", n), "us_per_task")
    return None if mine is None or not floor else mine / floor


def _overhead_context(s: Summaries, n: int) -> str:
    floor = _median(s, "overhead", ("asyncio", n), "us_per_task")
    parts = []
    for system in ("delegate", "asyncio", "pocketflow", "langgraph"):
        value = _median(s, "overhead", (system, n), "us_per_task")
        if value is not None:
            parts.append(f"{system} {value:.1f} µs"
                         + (f" ({value / floor:.2f}x)" if floor and system != "asyncio" else ""))
    return ", ".join(parts)


def _efficiency_versus(s: Summaries, shape: str, n: int, how: str) -> float | None:
    """delegate's wall / ideal against asyncio's from the same run: their ratio, or their
    difference."""
    mine = _median(s, "efficiency", (shape, "delegate", n), "ratio")
    floor = _median(s, "efficiency", (shape, "asyncio", n), "ratio")
    if mine is None or floor is None:
        return None
    return mine / floor if how == "ratio" else mine - floor


def _efficiency_context(s: Summaries, shape: str, n: int) -> str:
    mine = _median(s, "efficiency", (shape, "delegate", n), "ratio")
    peers = _efficiency_peers(s, shape, n)
    return f"wall / ideal: delegate {mine:.3f}, {peers}" if mine is not None else peers


def _efficiency_peers(s: Summaries, shape: str, n: int) -> str:
    parts = []
    for system in ("asyncio", "pocketflow", "langgraph"):
        value = _median(s, "efficiency", (shape, system, n), "ratio")
        if value is not None:
            parts.append(f"{system} {value:.3f}")
    return ", ".join(parts)


def _makespan(s: Summaries, c: int, system: str, field: str) -> float | None:
    return _get(s, "makespan", "per_system", (c, system), field)


def _versus_fifo(s: Summaries, c: int) -> float | None:
    mine, fifo = _makespan(s, c, "delegate", "mean_of_dag_medians"), _makespan(
        s, c, "fifo", "mean_of_dag_medians")
    return None if mine is None or fifo is None else mine / fifo


def _makespan_context(s: Summaries, c: int) -> str:
    parts = [f"{name} {value:.3f}" for name in ("fifo", "langgraph", "delegate-counts")
             if (value := _makespan(s, c, name, "worst_dag_median")) is not None]
    policy = _makespan(s, c, "delegate", "policy_mean")
    if policy is not None:
        parts.append(f"delegate's policy alone {policy:.3f} (mean)")
    return "worst DAG: " + ", ".join(parts) if parts else ""


def _fifo_context(s: Summaries, c: int) -> str:
    mine, fifo = _makespan(s, c, "delegate", "mean_of_dag_medians"), _makespan(
        s, c, "fifo", "mean_of_dag_medians")
    if mine is None or fifo is None:
        return ""
    return (f"mean makespan / bound: delegate {mine:.3f}, FIFO {fifo:.3f}; policies alone: "
            f"{_makespan(s, c, 'delegate', 'policy_mean'):.3f} vs "
            f"{_makespan(s, c, 'fifo', 'policy_mean'):.3f}")


GOALS: tuple[Goal, ...] = (
    Goal("per_task", "Engine overhead at N = 1,000 no-op tasks: µs per task as a multiple of "
         "plain asyncio's (same run)", 2.0, "x",
         lambda s: _versus_asyncio(s, 1_000), lambda s: _overhead_context(s, 1_000),
         bench="overhead"),
    Goal("fixed_cost", "Fixed cost per plan (a fan-out of one task: planner, task, "
         "aggregator), ms", 0.5, " ms",
         lambda s: _median(s, "overhead", ("delegate", 1), "wall_ms"),
         lambda s: _peers(s, 1, "wall_ms", ".3f", " ms"), strict=True),
    Goal("memory", "Peak memory (RSS of the process) at N = 1,000, MiB", 45, " MiB",
         lambda s: _median(s, "overhead", ("delegate", 1_000), "peak_rss_mib"),
         lambda s: _peers(s, 1_000, "peak_rss_mib", ".1f", " MiB"), strict=True),
    Goal("efficiency_100", "Wall / ideal critical path, fan-out of 100 x 20 ms", 1.12, "",
         lambda s: _median(s, "efficiency", ("fanout", "delegate", 100), "ratio"),
         lambda s: _efficiency_peers(s, "fanout", 100)),
    Goal("efficiency_1000", "Fan-out of 1,000 x 20 ms: wall / ideal critical path as a "
         "multiple of asyncio's own (same run)", 1.15, "x",
         lambda s: _efficiency_versus(s, "fanout", 1_000, "ratio"),
         lambda s: _efficiency_context(s, "fanout", 1_000)),
    Goal("efficiency_layered", "Layered DAG 5 x 20 x 20 ms: wall / ideal critical path minus "
         "asyncio's (same run)", 0.02, "",
         lambda s: _efficiency_versus(s, "layered", 100, "difference"),
         lambda s: _efficiency_context(s, "layered", 100)),
    Goal("makespan_4", "Makespan / lower bound, random DAGs, max_concurrency 4 (worst DAG)",
         1.07, "", lambda s: _makespan(s, 4, "delegate", "worst_dag_median"),
         lambda s: _makespan_context(s, 4)),
    Goal("makespan_16", "Makespan / lower bound, random DAGs, max_concurrency 16 (worst DAG)",
         1.10, "", lambda s: _makespan(s, 16, "delegate", "worst_dag_median"),
         lambda s: _makespan_context(s, 16)),
    Goal("fifo_4", "Better than FIFO, max_concurrency 4 (delegate's mean ratio / FIFO's)", 1.0,
         "", lambda s: _versus_fifo(s, 4), lambda s: _fifo_context(s, 4), strict=True),
    Goal("fifo_16", "Better than FIFO, max_concurrency 16 (delegate's mean ratio / FIFO's)",
         1.0, "", lambda s: _versus_fifo(s, 16), lambda s: _fifo_context(s, 16), strict=True),
    Goal("embedded", "Embedded model: 4 concurrent requests' throughput / one request's", 1.5,
         "x", lambda s: _median(s, "embedded", "ratio"),
         lambda s: (f"one request {_median(s, 'embedded', 'single'):.1f} tokens/s, four "
                    f"{_median(s, 'embedded', 'concurrent'):.1f} tokens/s"
                    if _get(s, "embedded", "single") else "")),
    Goal("e2e_recommend", "End to end, recommend: wall / critical path of the model calls",
         1.10, "", lambda s: _median(s, "end_to_end", "recommend", "ratio"),
         lambda s: (f"wall {_median(s, 'end_to_end', 'recommend', 'wall_s'):.1f} s"
                    if _get(s, "end_to_end", "recommend") else "")),
    Goal("e2e_blog", "End to end, blog: wall / critical path of the model calls", 1.10, "",
         lambda s: _median(s, "end_to_end", "blog", "ratio"),
         lambda s: (f"wall {_median(s, 'end_to_end', 'blog', 'wall_s'):.1f} s"
                    if _get(s, "end_to_end", "blog") else "")),
)

#: the bench each goal's figure comes from, by the first word of its key
_BENCH = {"per": "overhead", "fixed": "overhead", "memory": "overhead",
          "efficiency": "efficiency", "makespan": "makespan", "fifo": "makespan",
          "embedded": "embedded", "e2e": "end_to_end"}

#: goals where higher is better
_AT_LEAST = {"embedded"}


def _margin(value: float, limit: float, higher: bool) -> str:
    if higher:
        return f"{value / limit:.0%} of the limit"
    if value >= 1.5 * limit:
        return f"{value / limit:.2f}x the limit"
    return f"{(value / limit - 1) * 100:.2g}% over the limit"


def evaluate(summaries: Summaries, notes: dict[str, tuple[str, str]] | None = None,
             ) -> list[dict[str, Any]]:
    """One row per goal: the figure, the limit, met or missed and by how much, and the
    note (why, what would close it) for a missed goal."""
    notes = notes or {}
    rows = []
    for goal in GOALS:
        value = goal.read(summaries)
        higher = goal.key in _AT_LEAST
        if value is None:
            status, margin = "not measured", ""
        else:
            if higher:
                met = value >= goal.limit
            else:
                met = value < goal.limit if goal.strict else value <= goal.limit
            status = "met" if met else "missed"
            margin = "" if met else _margin(value, goal.limit, higher)
        why, close = notes.get(goal.key, NOTES.get(goal.key, (goal.why, goal.close)))
        rows.append({"key": goal.key, "goal": goal.text, "bench": goal.bench or _BENCH.get(
                         goal.key.split("_")[0], goal.key),
                     "limit": f"{'≥' if higher else '<' if goal.strict else '≤'} "
                              f"{goal.limit:g}{goal.unit}",
                     "value": value, "unit": goal.unit, "status": status, "margin": margin,
                     "context": goal.context(summaries) if value is not None else "",
                     "why": why if status == "missed" else "",
                     "close": close if status == "missed" else ""})
    return rows


#: Why a goal is missed and what would close it, from the investigation in bench/README.md
#: ("What the engine changes bought"); printed only when the goal is missed. Figures from the
#: runs of 2026-12-01 and 2026-12-02 on the 2-core machine (commits 16028d0, 7a44181, ce66330
#: and b50fbec).
NOTES: dict[str, tuple[str, str]] = {
    "efficiency_100": (
        "The limit sits a whisker above plain asyncio's own ratio (1.114 to 1.154 over the "
        "runs of 2026-11-22 to 2026-12-02). delegate's cost per task before the last task "
        "starts, about 6 µs in a fresh process (half of it building the plan's validated "
        "pydantic Tasks), is paid serially; the run-to-run spread is of the same size (1.105 "
        "to 1.184 over the runs of 2026-12-01).",
        "Only cost per task before the last start moves it: at 100 tasks the bursts of 64 "
        "that brought the fan-out of 1,000 under its limit save little, and what is left is "
        "mostly the typed plan (a Task that is not a pydantic model would change the public "
        "API); the limit leaves no room above asyncio on this machine."),
    "efficiency_1000": (
        "The wall is the time the last task starts plus its 20 ms: the planner step's 1,001 "
        "validated pydantic Tasks (about 3 µs each in a fresh process), validation, and each "
        "task's creation and first step. Since b9d4dad a large ready set starts in bursts of "
        "64, so the first tasks begin their 20 ms while the rest are created (1.17x at "
        "ce66330, 1.10x at b50fbec); the run-to-run spread is about 0.03.",
        "Cost per task before the last start: the typed plan is the largest part (building "
        "the tasks from dicts inside one Plan validation costs about a third less, which "
        "would change what the bench's planner step does; a Task that is not a pydantic "
        "model would change the public API)."),
    "fifo_16": (
        "With 16 slots both orderings are optimal (1.000 each, simulated); what remains is "
        "engine cost per completion, 0.1% of the makespan here, inside the run-to-run spread "
        "of either system.",
        "A tie rather than a loss: nothing in the ordering can win it, and the engine's cost "
        "per completion is already below the timer's overshoot per task (about 0.5 ms)."),
}
