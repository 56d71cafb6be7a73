"""What the API answers about runs: a run's summary (for lists) and its detail, built from the
store and from what this server holds."""

from __future__ import annotations

from typing import Any

from ..durable.export import iso
from ..durable.lease import effective_status

__all__ = ["critical_path_seconds", "run_detail", "run_summary", "summaries"]

_OUTCOMES = ("succeeded", "failed", "skipped", "cancelled", "timed_out", "waiting")


def summaries(store: Any, manager: Any, records: list[Any]) -> list[dict[str, Any]]:
    """One summary per stored run of ``records``, their figures read in one pass."""
    stats = store.run_stats([r.run_id for r in records])
    return [run_summary(r, manager, stats.get(r.run_id)) for r in records]


def run_summary(record: Any, manager: Any, stats: dict[str, Any] | None,
                plan: dict[str, Any] | None = None,
                outcomes: dict[str, Any] | None = None) -> dict[str, Any]:
    """The summary of one stored run (see the API's RunSummary)."""
    local = manager.state(record.run_id)
    stats = stats or {}
    counts = dict(stats.get("tasks") or {})
    result = record.result if isinstance(record.result, dict) else {}
    wall = result.get("wall_seconds")
    total = len((plan or {}).get("tasks") or ()) or sum(counts.values())
    tasks = {"total": total, **{k: counts.get(k, 0) for k in _OUTCOMES}}
    tasks["running"] = max(0, total - sum(tasks[k] for k in _OUTCOMES)) if local == "running" \
        else 0
    return {
        "run_id": record.run_id, "kind": record.kind, "objective": record.objective,
        "status": local or effective_status(record),
        "created_at": iso(record.created_at), "updated_at": iso(record.updated_at),
        "tasks": tasks,
        "tokens": {"prompt": stats.get("prompt_tokens", 0),
                   "completion": stats.get("completion_tokens", 0)},
        "cost": stats.get("cost"),
        "wall_seconds": wall if isinstance(wall, int | float) else None,
        "critical_path_seconds": critical_path_seconds(plan, outcomes)
        if plan is not None and outcomes is not None else result.get("critical_path_seconds"),
        "local": local is not None,
    }


def run_detail(store: Any, manager: Any, run_id: str) -> dict[str, Any]:
    """Everything the run page needs but the model calls and events."""
    record = store.get_run(run_id)
    versions = store.plan_versions(record.run_id)
    outcomes = store.outcomes(record.run_id)
    plan = versions[-1]["plan"] if versions else None
    stats = store.run_stats([record.run_id]).get(record.run_id)
    summary = run_summary(record, manager, stats, plan, outcomes)
    return {**summary,
            "plan": None if plan is None else {**plan, "version": versions[-1]["version"]},
            "plan_versions": versions, "outcomes": outcomes, "result": record.result,
            "request": record.request}


def critical_path_seconds(plan: dict[str, Any] | None,
                          outcomes: dict[str, Any] | None) -> float | None:
    """The longest chain of the plan's dependencies, each task weighed by the seconds it
    took (a task that did not run weighs nothing); ``None`` before any task ran. Wall time
    against it says how much the run lost to waiting (limits, queueing, the engine)."""
    tasks = [t for t in (plan or {}).get("tasks") or () if isinstance(t, dict) and "id" in t]
    took: dict[str, float] = {}
    for tid, o in (outcomes or {}).items():
        start, end = o.get("started"), o.get("finished")
        if isinstance(start, int | float) and isinstance(end, int | float) and end >= start:
            took[tid] = end - start
    if not took:
        return None
    deps = {t["id"]: [d for d in t.get("depends_on") or () if isinstance(d, str)] for t in tasks}
    children: dict[str, list[str]] = {tid: [] for tid in deps}
    waiting = {}
    for tid, ds in deps.items():
        known = [d for d in ds if d in deps]
        waiting[tid] = len(known)
        for d in known:
            children[d].append(tid)
    ready = [tid for tid, n in waiting.items() if n == 0]
    best: dict[str, float] = {}
    while ready:  # Kahn's order: every dependency is weighed before its dependents
        tid = ready.pop()
        best[tid] = took.get(tid, 0.0) + max((best[d] for d in deps[tid] if d in best),
                                             default=0.0)
        for child in children[tid]:
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    return round(max(best.values(), default=0.0), 3)
