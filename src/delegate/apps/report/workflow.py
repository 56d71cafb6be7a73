"""The report workflow: one analysis per input, an executive summary, charts from the data.

Inputs are texts or files (``.txt``, ``.md``, ``.csv``). The plan is::

    analysis of input 1, analysis of input 2, ...  ->  summary

The analyses run at the same time, each reading its own input (bounded in size; a CSV file is
shown as statistics computed from all its rows, then its first rows). The reviewer scores the
analyses and sends back only the failing ones; the summary then reads every analysis. With no
inputs, two analyses (background, implications) work from the topic alone. Each CSV file with
a numeric column gets a chart drawn with matplotlib from the data itself, never from the
model. Use :func:`run_report`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ...core.config import RunConfig
from ...core.events import Subscriber
from ...core.outcomes import PlanningReport
from ...core.plan import Plan, PlanLimits, Strategy, Task
from ...core.render import truncate
from ...core.review import CheckResult, Reviewer, Rubric
from ...core.workers import WorkerRegistry
from ...durable.journal import Journal
from ...llm.base import Model
from ...runner import check_objective
from .._common import feedback
from .._common.content import Artifact, WorkflowResult
from .._common.prompts import prompts
from .._common.prose import PROSE_SETTINGS, TextWorker, section_body
from .._common.settings import ENGINE_SETTINGS, workflow_config
from .._common.staged import MAX_NEW_TASKS, MAX_REPLANS, StagedRun
from .data import (
    MATPLOTLIB_NOTE,
    Chart,
    ReportInput,
    draw_chart,
    load_inputs,
    markdown_table,
    slug,
)

__all__ = [
    "SETTINGS",
    "EXAMPLE_INPUTS",
    "EXAMPLE_TOPIC",
    "Report",
    "analysis_check",
    "ReportSection",
    "report_plan",
    "report_reviewer",
    "report_workers",
    "run_report",
]

#: The settings of a RunConfig the report applies (the summary waits on every analysis, so
#: the failure policy does not apply; the inputs set the plan's size).
SETTINGS = (*ENGINE_SETTINGS, "strategy")

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"
EXAMPLE_TOPIC = "Regional sales in the first quarter of 2024"
EXAMPLE_INPUTS: tuple[str, ...] = (str(SAMPLES / "sales.csv"), str(SAMPLES / "sales_notes.md"))
#: How much of one input an analyst reads.
INPUT_CHARS = 3_000

PROMPTS = prompts("report")  # the workers' prompts, as data in prompts/report.toml
REVIEW_GUIDANCE = (
    "You judge one analysis written for a report. Accuracy: every number and claim matches "
    "the input shown in the task. Coverage: the input's main facts and patterns are there. "
    "Clarity: plain, short and well organised."
)
NO_INPUT_TASKS = (
    ("background", "Background",
     "Explain the background of {topic}: what it is, the key facts and the context."),
    ("implications", "Implications",
     "Explain the implications of {topic}: consequences, risks and opportunities."),
)


class ReportSection(BaseModel):
    """One analysed input: its name, the analysis, and its chart's file name if any."""

    name: str
    text: str
    chart: str | None = None


class Report(BaseModel):
    """The typed result of the report workflow."""

    title: str
    summary: str
    sections: list[ReportSection]


def report_workers() -> WorkerRegistry:
    """The report's two workers: ``analyst`` and ``summarizer``."""
    return WorkerRegistry([
        TextWorker("analyst", "Analyses one input of a report: facts, patterns, what stands "
                   "out.", PROMPTS["analyst"].instructions(), max_tokens=400,
                   settings=PROSE_SETTINGS),
        TextWorker("summarizer", "Writes the executive summary from every analysis.",
                   PROMPTS["summarizer"].instructions(), max_tokens=300, excerpt_chars=1_200,
                   settings=PROSE_SETTINGS),
    ])


def analysis_check(task: Task, output: Any, outputs: Mapping[str, Any]) -> CheckResult | None:
    """The reviewer's checks on an analysis (see
    :func:`~delegate.apps._common.feedback.check_text`), against the other analyses and the
    analyst's example (which a small model may copy)."""
    if task.worker != "analyst":
        return None
    others = [section_body(v) for k, v in outputs.items() if k != task.id and isinstance(v, str)]
    found = feedback.check_text(section_body(str(output)),
                              others=[*others, PROMPTS["analyst"].example])
    return CheckResult(found.problems, found.score)


def report_plan(
    topic: str, inputs: Sequence[ReportInput], strategy: Strategy = "static"
) -> tuple[Plan, dict[str, str]]:
    """One analysis per input (two from the topic alone when there is none), then the
    summary after every analysis. Returns the plan and each analysis task's section name."""
    names: dict[str, str] = {}
    tasks: list[Task] = []
    taken = {"summary"}
    for n, item in enumerate(inputs, 1):
        tid = slug(item.name, taken)
        names[tid] = item.name
        tasks.append(Task(id=tid, worker="analyst", instruction=(
            f"Analyse input {n} of {len(inputs)}, \"{item.name}\", for a report on {topic}."
            f"\n\nInput \"{item.name}\":\n{truncate(item.text, INPUT_CHARS)}\n\n"
            f"Write your analysis of \"{item.name}\": its main facts, patterns and what stands "
            "out, using only this input.")))
    if not inputs:
        for tid, name, instruction in NO_INPUT_TASKS:
            names[tid] = name
            tasks.append(Task(id=tid, worker="analyst",
                              instruction=instruction.format(topic=topic)))
    tasks.append(Task(id="summary", worker="summarizer", depends_on=tuple(names),
                      instruction=f"Write the executive summary of the report on {topic}."))
    return Plan(tasks=tuple(tasks), strategy=strategy), names


def report_reviewer(*, model_verdict: bool = False) -> Reviewer:
    """The report's reviewer: :func:`analysis_check` names each analysis's problems, and a analysis
    with any is rewritten (at most two rounds; a rewrite stands only if its checks score
    higher). With ``model_verdict`` the model's verdict on a rubric adds to the checks, at a
    model call per analysis and round; on the embedded default model it cost about twice the
    time for little (``bench/README.md``), so it is off unless asked for."""
    return Reviewer(Rubric(criteria=("accuracy", "coverage", "clarity"), guidance=REVIEW_GUIDANCE),
                    max_rounds=2, checks=analysis_check, model_verdict=model_verdict)


async def run_report(
    topic: str,
    *,
    inputs: Sequence[str | os.PathLike[str]] = (),
    model: Model | str | None = None,
    config: RunConfig | None = None,
    reviewer: Reviewer | bool | None = True,
    subscribers: Iterable[Subscriber] = (),
    journal: Journal | None = None,
    on_interrupt: Any = None,
    **settings: Any,
) -> WorkflowResult:
    """Write a report on ``topic`` from ``inputs``.

    Args:
        topic: what the report is about.
        inputs: texts, or paths of ``.txt``, ``.md`` and ``.csv`` files (at most 8, 5 MB each).
        model: ``provider:model`` or a :class:`Model` (default: ``DELEGATE_MODEL``, then
            ``local:default``).
        config: the run's settings (:data:`SETTINGS` apply). Its ``strategy``: ``static``;
            ``dynamic`` or ``hybrid`` also let the model add analyses (see
            :mod:`delegate.core.strategies`).
        reviewer: ``True`` for the default reviewer (accuracy, coverage, clarity; two
            rounds), a :class:`Reviewer`, or ``False``/``None`` for no review.
        subscribers: event subscribers (progress display, stores).
        journal: makes the run durable (see :mod:`delegate.durable.journal`).
        **settings: ``RunConfig`` settings as keywords (deprecated; see ``config``).

    Returns:
        The report (``markdown``, with charts as ``report_chart_<n>.png`` artifacts), the
        typed :class:`Report` (``data``) and the run.

    Raises:
        UsageError: an empty topic, a missing, unreadable, unsupported or oversized input
            file, a bad option or model name; nothing has run.
    """
    cfg = workflow_config(config, settings, workflow="report", supported=SETTINGS,
                          caller="run_report")
    strategy = cfg.strategy
    topic = check_objective(topic, what="topic")
    items = load_inputs(inputs)
    if reviewer is True:
        reviewer = report_reviewer()
    plan, names = report_plan(topic, items, strategy)
    workers = report_workers()
    room = MAX_REPLANS * MAX_NEW_TASKS
    staged = StagedRun(topic, workers, model, config=cfg, subscribers=subscribers,
                       journal=journal, on_interrupt=on_interrupt, limits=PlanLimits(
                           max_tasks=len(plan.tasks) + room, max_depth=2 + room),
                       planning=PlanningReport("given", reason="one analysis per input"))
    async with staged:
        staged.propose(plan, "initial plan", f"{len(names)} analyses, then the summary")
        stopped = await staged.approve()
        if stopped is not None:  # rejected, or waiting for a person's answer
            return WorkflowResult("report", topic, f"# {topic}\n\n{stopped.notes[-1]}\n",
                                  stopped)
        await staged.execute(hold=("summary",))
        if reviewer:
            await staged.review(reviewer, list(names))
        added = await staged.extend(strategy, WorkerRegistry([workers["analyst"]]),
                                    hold=("summary",))
        await staged.execute()
        charts = await asyncio.to_thread(_draw_charts, items)
        if None in charts.values():
            staged.notes.append(MATPLOTLIB_NOTE)
        assert staged.plan is not None
        for tid in added:
            names[tid] = "Further analysis: " + staged.plan.task(tid).instruction[:60]
        files = {position: f"report_chart_{n}.png" for n, position in enumerate(
            (p for p, chart in charts.items() if chart is not None), 1)}
        markdown, report = _assemble(topic, staged, names, charts, files)
        artifacts = tuple(Artifact(files[p], chart.png) for p, chart in charts.items()
                          if chart is not None)
        return WorkflowResult("report", topic, markdown, staged.finish(markdown), report,
                              artifacts)


def _draw_charts(items: Sequence[ReportInput]) -> dict[int, Chart | None]:
    """Charts by input position, in order; ``None`` where matplotlib is missing."""
    charts: dict[int, Chart | None] = {}
    for n, item in enumerate(items):
        if item.table is None or not item.table.numeric:
            continue
        try:
            charts[n] = draw_chart(item.table, item.name)
        except ImportError:
            charts[n] = None
    return charts


def _assemble(
    title: str, staged: StagedRun, names: dict[str, str], charts: dict[int, Chart | None],
    files: dict[int, str],
) -> tuple[str, Report]:
    """The Markdown and the typed report: the summary, then each input's section in order,
    with its chart (the values from the data) under it."""
    outputs = {tid: section_body(text) for tid, text in staged.outputs.items()}
    summary = outputs.get("summary", "")
    parts = [f"# {title}", "## Executive summary", summary or _missing(staged, "summary")]
    sections = []
    for position, (tid, name) in enumerate(names.items()):
        text = outputs.get(tid)
        parts += [f"## {name}", text or _missing(staged, tid)]
        chart = charts.get(position)
        if position in charts and chart is None:
            parts.append(f"*({MATPLOTLIB_NOTE})*")
        elif chart is not None:
            parts.append(f"![{chart.caption}]({files[position]})")
            if len(chart.points) <= 12:
                parts.append(markdown_table(chart))
        if text:
            sections.append(ReportSection(name=name, text=text, chart=files.get(position)))
    report = Report(title=title, summary=summary, sections=sections)
    return "\n\n".join(parts) + "\n", report


def _missing(staged: StagedRun, tid: str) -> str:
    outcome = staged.outcomes.get(tid)
    why = ("the answer was empty" if outcome is not None and outcome.ok
           else (outcome.error or outcome.status) if outcome else "it did not run")
    return f"*This part was not written: {why}.*"
