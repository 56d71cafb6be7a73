"""How ``delegate runs list`` and ``runs show`` print runs, from plain data: the same lines
(and the same ``--json`` objects) whether the runs come from a store or from a server."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

__all__ = ["print_run", "print_runs", "when"]


def print_runs(runs: Sequence[dict[str, Any]], *, as_json: bool = False) -> None:
    """Print ``runs list``: a table, or ``{"runs": [...]}`` with ``--json``; each run a dict
    with ``run_id``, ``kind``, ``status``, ``objective``, ``created_at`` and ``updated_at``
    (ISO 8601)."""
    if as_json:
        print(json.dumps({"runs": [{key: run.get(key) for key in _LISTED} for run in runs]},
                         indent=2, ensure_ascii=False))
        return
    if not runs:
        print("no runs stored yet")
        return
    print(f"{'run':<12}  {'started':<19}  {'kind':<9}  {'status':<11}  objective")
    for run in runs:
        objective = " ".join(run["objective"].split())
        objective = objective if len(objective) <= 60 else objective[:59] + "…"
        print(f"{run['run_id'][:12]:<12}  {when(run['created_at']):<19}  {run['kind']:<9}  "
              f"{run['status']:<11}  {objective}")


_LISTED = ("run_id", "kind", "status", "objective", "created_at", "updated_at")


def print_run(run: dict[str, Any], *, as_json: bool = False) -> None:
    """Print ``runs show`` from a run as :func:`~delegate.durable.export.export` gives it
    (``run_id``, ``kind``, ``status``, ``objective``, ``created_at``, ``updated_at``,
    ``plan_versions``, ``outcomes``, ``model_calls``; nothing else is read)."""
    versions, outcomes = run["plan_versions"], run["outcomes"]
    real = [c for c in run["model_calls"] if c["source"] == "model"]
    seconds = sum(c["latency_seconds"] for c in real)
    usage = {"model_calls": len(real),
             "prompt_tokens": sum(c["prompt_tokens"] for c in real),
             "completion_tokens": sum(c["completion_tokens"] for c in real),
             "model_seconds": round(seconds, 3),
             "from_store": len(run["model_calls"]) - len(real)}
    if as_json:
        plan = versions[-1] if versions else None
        print(json.dumps({
            **{key: run[key] for key in _LISTED},
            "plan": plan["plan"] if plan else None,
            "plan_version": plan["version"] if plan else None,
            "outcomes": [{"task_id": tid, "status": o.get("status"),
                          "attempts": o.get("attempts", 0), "error": o.get("error"),
                          "started": o.get("started"), "finished": o.get("finished")}
                         for tid, o in outcomes.items()],
            "usage": usage,
        }, indent=2, ensure_ascii=False, default=str))
        return
    print(f"run {run['run_id']}  ({run['kind']}, {run['status']})")
    print(f"objective: {run['objective']}")
    print(f"started {when(run['created_at'])}, last update {when(run['updated_at'])}")
    if versions:
        plan = versions[-1]
        print(f"\nplan v{plan['version']} ({plan['change'] or 'given'}"
              + (f": {plan['reason']}" if plan.get("reason") else "") + ")")
        for task in plan["plan"].get("tasks", []):
            after = f" after {', '.join(task['depends_on'])}" if task.get("depends_on") else ""
            print(f"  {task['id']} [{task['worker']}]{after}: {task.get('instruction', '')}")
    if outcomes:
        print("\noutcomes")
        for tid, o in outcomes.items():
            took = ""
            if o.get("started") and o.get("finished"):
                took = f", {o['finished'] - o['started']:.1f}s"
            error = f": {o['error']}" if o.get("error") else ""
            print(f"  {tid}: {o['status']} ({o.get('attempts', 0)} attempt(s){took}){error}")
    print(f"\nusage: {usage['model_calls']} model calls, "
          f"{usage['prompt_tokens']:,}+{usage['completion_tokens']:,} "
          f"tokens, {seconds:.1f}s in models; "
          f"{usage['from_store']} answered from the store")


def when(moment: datetime | str | None) -> str:
    """``moment`` (a datetime or ISO 8601) in local time, to the second; ``-`` if unknown."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else "-"
