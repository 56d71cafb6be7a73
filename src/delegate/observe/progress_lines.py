"""Progress as plain lines, one per event, for the CLI (stderr) and logs.

A subscriber like any other: it only reads events. Richer terminal displays subscribe the
same way.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from ..core.events import (
    BudgetReached,
    Event,
    ModelCalled,
    PlanCreated,
    RunFinished,
    RunStarted,
    TaskEnded,
    TaskRetried,
    TaskReviewed,
    TaskRevised,
    TaskStarted,
)
from ..core.outcomes import RunResult

__all__ = ["LineProgress", "summary_rows"]


class LineProgress:
    """Writes one line per significant event to ``stream`` (stderr by default)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.start = time.perf_counter()
        self.last_result = None

    def _say(self, text: str) -> None:
        self.stream.write(f"[{time.perf_counter() - self.start:6.1f}s] {text}\n")
        self.stream.flush()

    def __call__(self, event: Event) -> None:
        match event:
            case RunStarted():
                self._say(f"run {event.run_id[:8]} started")
            case PlanCreated(plan=plan, source=source, reason=reason):
                self._say(f"plan v{plan.version} ({source}, {len(plan.tasks)} tasks)"
                          + (f": {reason}" if reason else ""))
                for t in plan.tasks:
                    after = f" after {', '.join(t.depends_on)}" if t.depends_on else ""
                    first_line = (t.instruction.splitlines() or [""])[0]
                    self._say(f"  {t.id} [{t.worker}]{after}: {first_line[:90]}")
            case TaskStarted(task_id=tid, worker=w, attempt=a):
                self._say(f"{tid} [{w}] started" + (f" (attempt {a})" if a > 1 else ""))
            case TaskRetried(task_id=tid, error=err, delay=delay):
                self._say(f"{tid} will retry in {delay:.1f}s: {err}")
            case ModelCalled(task_id=tid, purpose=purpose, source=source) if source != "model":
                self._say(f"{tid or purpose} model call answered from the store ({source})")
            case ModelCalled(task_id=tid, purpose=purpose, prompt_tokens=p,
                             completion_tokens=c, latency_seconds=s):
                self._say(f"{tid or purpose} model call: {p}+{c} tokens, {s:.1f}s")
            case TaskReviewed(task_id=tid, review=r):
                verdict = "passed" if r.passed else "sent back"
                scores = ", ".join(f"{k} {v}" for k, v in r.scores.items())
                why = "; ".join(r.problems) or r.notes
                self._say(f"{tid} review round {r.round}: {verdict} ({scores})"
                          + (f": {why[:120]}" if not r.passed and why else ""))
            case TaskRevised(task_id=tid, round=n, outcome=o, kept=kept, note=note):
                self._say(f"{tid} revised (round {n}): {o.status}" if kept
                          else f"{tid} rewrite {n} not kept: {note}")
            case TaskEnded(task_id=tid, outcome=o):
                self._say(f"{tid} {o.status}" + (f": {o.error}" if o.error else ""))
            case RunFinished(result=r):
                self.last_result = r
                ok = sum(o.ok for o in r.outcomes)
                u = r.usage
                self._say(
                    f"run {r.status}: {ok}/{len(r.outcomes)} tasks succeeded, "
                    f"{u.model_calls} model calls"
                    + (f" ({u.cache_hits} more from the store)" if u.cache_hits else "")
                    + f", {u.prompt_tokens}+{u.completion_tokens} tokens, "
                    f"{r.wall_seconds:.1f}s"
                )
                for label, value in summary_rows(r)[4:]:  # cost, times, budget
                    self._say(f"  {label}: {value}")
            case BudgetReached(reason=reason):
                self._say(f"budget reached: {reason}; no new work starts")


def summary_rows(result: RunResult) -> list[tuple[str, str]]:
    """The end-of-run summary as (label, value) rows, shared by both progress displays."""
    counts: dict[str, int] = {}
    for o in result.outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    u = result.usage
    cost = f"${u.cost_usd:.4f}" + (f" (+{u.unpriced_calls} unpriced calls)"
                                   if u.unpriced_calls else "")
    critical = result.critical_path_seconds()
    rows = [
        ("status", result.status),
        ("tasks", ", ".join(f"{n} {s}" for s, n in counts.items()) or "none"),
        ("model calls", f"{u.model_calls}"
         + (f" (+{u.cache_hits} answered from the store)" if u.cache_hits else "")),
        ("tokens", f"{u.prompt_tokens:,} in, {u.completion_tokens:,} out"),
        ("cost", cost),
        ("wall time", f"{result.wall_seconds:.1f}s"),
        ("critical path", f"{critical:.1f}s of task time"
         + (f" (wall time {result.wall_seconds / critical:.2f}x)" if critical > 0 else "")),
    ]
    verdicts, rewrites = result.review_usage()
    if verdicts.model_calls or rewrites.model_calls:
        rows.append(("review", f"{verdicts.model_calls + rewrites.model_calls} calls "
                     f"({verdicts.model_calls} verdicts + {rewrites.model_calls} rewrites), "
                     f"{verdicts.total_tokens + rewrites.total_tokens:,} tokens, "
                     f"{verdicts.latency_seconds + rewrites.latency_seconds:.1f}s"))
    if result.budget_reached:
        rows.append(("budget", result.budget_reached))
    return rows
