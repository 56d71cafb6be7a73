"""Live progress in the terminal with rich: the plan as a tree of tasks, updated as it runs.

:class:`LiveProgress` is an event subscriber like
:class:`~delegate.observe.progress_lines.LineProgress`.
Each task shows its state, worker, elapsed time, tokens in and out and attempts; retries,
failures and budget stops are printed above the tree as they happen; when the run finishes
the tree is left in place and a summary follows (see
:func:`~delegate.observe.progress_lines.summary_rows`). The CLI uses it
when stderr is a terminal, plain lines otherwise, and nothing with ``--quiet``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

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
from ..core.plan import Plan
from .progress_lines import summary_rows

__all__ = ["LiveProgress", "summary_table"]

STYLE = {"queued": "dim", "running": "bold yellow", "succeeded": "green", "failed": "bold red",
         "timed_out": "bold red", "skipped": "magenta", "cancelled": "magenta",
         "waiting": "bold cyan"}
ICON = {"queued": "·", "running": "▶", "succeeded": "✔", "failed": "✘", "timed_out": "⌛",
        "skipped": "↷", "cancelled": "■", "waiting": "?"}


@dataclass
class _Task:
    worker: str
    depends_on: tuple[str, ...]
    state: str = "queued"
    started: float | None = None
    ended: float | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    attempts: int = 0
    note: str = ""


@dataclass
class _Run:
    run_id: str = ""
    plan: Plan | None = None
    tasks: dict[str, _Task] = field(default_factory=dict)


class LiveProgress:
    """A rich live display of one run on ``console`` (stderr by default)."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.run = _Run()
        self.live: Live | None = None
        self.last_result: RunResult | None = None
        self._start = time.perf_counter()

    def __rich__(self) -> Tree:
        run = self.run
        label = Text(f"run {run.run_id[:8]}", style="bold")
        if run.plan is not None:
            label.append(f" · plan v{run.plan.version}, {len(run.plan.tasks)} tasks", "dim")
        root = Tree(label)
        nodes: dict[str, Tree] = {}
        for tid, task in run.tasks.items():
            parent = next((nodes[d] for d in task.depends_on if d in nodes), root)
            nodes[tid] = parent.add(self._line(tid, task))
        return root

    def _line(self, tid: str, task: _Task) -> Text:
        line = Text(f"{ICON[task.state]} {tid} ", style=STYLE[task.state])
        line.append(f"[{task.worker}]", "cyan")
        if task.started is not None:
            line.append(f"  {(task.ended or time.perf_counter()) - task.started:5.1f}s", "dim")
        if task.tokens_in or task.tokens_out:
            line.append(f"  {task.tokens_in:,}→{task.tokens_out:,} tok", "dim")
        if task.attempts > 1:
            line.append(f"  attempt {task.attempts}", "yellow")
        others = task.depends_on[1:]
        if others:
            line.append(f"  also after {', '.join(others)}", "dim")
        if task.note:
            line.append(f"  {task.note[:100]}", STYLE[task.state])
        return line

    def _print(self, text: Text) -> None:
        (self.live.console if self.live else self.console).print(text)

    def __call__(self, event: Event) -> None:
        run = self.run
        now = time.perf_counter()
        match event:
            case RunStarted(run_id=run_id):
                self.run = _Run(run_id=run_id)
                self._start = now
                self.live = Live(self, console=self.console, refresh_per_second=4,
                                 transient=False)
                self.live.start()
            case PlanCreated(plan=plan):
                run.plan = plan
                ids = set(plan.ids)  # a task a new version left out before it started goes
                for gone in [tid for tid, t in run.tasks.items()  # (an edit removed it)
                             if tid not in ids and t.state == "queued"]:
                    del run.tasks[gone]
                for t in plan.tasks:
                    run.tasks.setdefault(t.id, _Task(t.worker, t.depends_on))
            case TaskStarted(task_id=tid, attempt=attempt) if tid in run.tasks:
                task = run.tasks[tid]
                task.state, task.attempts, task.ended = "running", attempt, None
                task.started = task.started or now
            case TaskRetried(task_id=tid, error=error, delay=delay):
                self._print(Text(f"↻ {tid} retries in {delay:.1f}s: {error}", "yellow"))
            case ModelCalled(task_id=tid, prompt_tokens=p, completion_tokens=c) \
                    if tid in run.tasks:
                run.tasks[tid].tokens_in += p
                run.tasks[tid].tokens_out += c
            case TaskReviewed(task_id=tid, review=review) if not review.passed:
                self._print(Text(f"✎ {tid} sent back by the reviewer (round {review.round})",
                                 "yellow"))
            case TaskRevised(task_id=tid, round=n, outcome=outcome, kept=kept) \
                    if tid in run.tasks:
                task = run.tasks[tid]  # the outcome that stands after the rewrite
                task.state, task.ended = outcome.status, now
                task.note = f"revised (round {n})" if kept else f"rewrite {n} not kept"
            case TaskEnded(task_id=tid, outcome=outcome) if tid in run.tasks:
                task = run.tasks[tid]
                task.state, task.ended = outcome.status, now
                task.note = outcome.error or ""
                if outcome.status in ("failed", "timed_out"):
                    self._print(Text(f"✘ {tid} {outcome.status}: {outcome.error}", "bold red"))
            case BudgetReached(reason=reason):
                self._print(Text(f"⚠ {reason}: no new work starts", "bold magenta"))
            case RunFinished(result=result):
                self.last_result = result
                if self.live is not None:
                    self.live.stop()
                    self.live = None
                if result is not None:
                    self.console.print(summary_table(result))


def summary_table(result: RunResult) -> Group:
    table = Table(show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    for label, value in summary_rows(result):
        table.add_row(label, value)
    return Group(Text(f"run {result.run_id[:8]} {result.status}", "bold"), table)
