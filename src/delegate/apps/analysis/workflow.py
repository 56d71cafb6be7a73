"""The analysis workflow: a CSV file in, a Markdown report out. Python computes, the model explains.

The plan is fixed::

    preprocess ──┬── statistics ──┬── interpretation
                 └── model ───────┘

``preprocess``, ``statistics`` and ``model`` are function workers over
:mod:`delegate.apps.analysis.tools`; the cleaned DataFrame travels between them as a task output
(an in-process object). ``interpretation``, the only model call, is shown the computed results as
bounded JSON (6 significant digits) and told to use only those numbers. The tables are rendered
(:mod:`delegate.apps.analysis.report`) from the same results (6 significant digits too), so
every number outside the ``Interpretation`` section comes from the tools; numbers in the
interpretation that match nothing it was shown are listed in
``AnalysisReport.unsupported_numbers`` and under it. Data that cannot be analysed raises
:class:`~delegate.apps.analysis.tools.DataError` with its one-line message.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ...core.config import RunConfig
from ...core.events import Subscriber
from ...core.plan import Plan, Task
from ...core.render import truncate
from ...core.workers import TaskContext, Worker, WorkerRegistry
from ...durable.journal import Journal
from ...errors import ConfigurationError, UsageError
from ...llm.base import Model
from ...runner import run
from .._common.content import WorkflowResult
from .._common.settings import ENGINE_SETTINGS, workflow_config
from . import _stats as st
from . import tools
from .report import AnalysisReport, render_report

__all__ = ["EXAMPLE_CSV", "SETTINGS", "AnalysisReport", "analysis_plan", "analysis_workers",
           "run_analysis", "unsupported_numbers"]

#: The settings of a RunConfig the analysis applies (its plan is fixed: no strategy, no
#: limits; the report, not a synthesis, ends it).
SETTINGS = (*ENGINE_SETTINGS, "failure_policy")

EXAMPLE_CSV: Path = Path(str(
    resources.files("delegate.apps.data").joinpath("samples").joinpath("sales.csv")))
"""A small shipped sales table (date, region, units, price, revenue) to try the workflow on."""

MAX_GROUPINGS, MAX_GROUPS, MAX_GROUP_VALUES = 2, 12, 6
"""Categorical columns grouped by, most groups one may have, numeric columns summarised."""
MAX_PROMPT_ITEMS, MAX_PROMPT_CHARS = 12, 4_000
"""Longest list, and most characters per task, the interpretation model is shown."""

INTERPRETATION_INSTRUCTIONS = """\
You explain the results of a data analysis to a reader who is not a statistician. Every number \
was computed by code and is given to you as JSON. Use only those numbers, copied exactly; never \
compute, estimate or invent a number. In 4 to 6 short sentences say what the data holds, which \
averages and spreads stand out, which correlations are strongest (correlation is not \
causation), and how well the linear fit explains its target. If a question is given, answer it \
from the numbers, or say that they cannot answer it."""


@dataclass(frozen=True)
class Prepared:
    """The output of ``preprocess``: the cleaned frame, for the other function workers."""

    file: str
    frame: Any  # pandas.DataFrame
    steps: tuple[str, ...]

    def summary(self) -> dict[str, Any]:
        """What a model is shown instead of the frame."""
        names = [str(c) for c in self.frame.columns]
        return {"file": self.file, "rows": len(self.frame), "columns": len(names),
                "column_names": names[:MAX_PROMPT_ITEMS * 2], "steps": list(self.steps)}


def analysis_workers(csv_path: str | Path, *, loaded: Any = None) -> WorkerRegistry:
    """The four workers; ``preprocess`` reads ``csv_path``, or cleans ``loaded`` when given
    (the frame :func:`~delegate.apps.analysis.tools.load_csv` already read from it)."""
    path = Path(csv_path)

    def prepare() -> Prepared:
        frame, steps = tools.preprocess(loaded if loaded is not None else tools.load_csv(path))
        return Prepared(path.name, frame, tuple(steps))

    async def preprocess(ctx: TaskContext) -> Prepared:
        return await asyncio.to_thread(prepare)

    async def statistics(ctx: TaskContext) -> dict[str, Any]:
        return await asyncio.to_thread(_statistics, ctx.result_of("preprocess").frame)

    async def model(ctx: TaskContext) -> dict[str, Any]:
        return await asyncio.to_thread(_model, ctx.result_of("preprocess").frame)

    return WorkerRegistry([
        Worker("preprocess", "Loads and cleans the CSV file.", fn=preprocess),
        Worker("statistics", "Profiles every column and summarises groups.", fn=statistics),
        Worker("model", "Correlates numeric columns and fits a linear model.", fn=model),
        _Interpreter("interpretation", "Explains the computed results in plain language.",
                     INTERPRETATION_INSTRUCTIONS, max_tokens=300),
    ])


def analysis_plan(file_name: str, question: str = "") -> Plan:
    """The fixed plan (see the module docstring)."""
    ask = f" Answer the question: {question}" if question else ""
    return Plan(tasks=(
        Task(id="preprocess", worker="preprocess", instruction=f"Load and clean {file_name}."),
        Task(id="statistics", worker="statistics", depends_on=("preprocess",),
             instruction="Profile every column; summarise numeric columns per category."),
        Task(id="model", worker="model", depends_on=("preprocess",),
             instruction="Correlate the numeric columns and fit the last one on the others."),
        Task(id="interpretation", worker="interpretation",
             depends_on=("preprocess", "statistics", "model"),
             instruction=f"Interpret the computed results of {file_name} in plain language.{ask}"),
    ))


class _Interpreter(Worker):
    """A model worker shown its dependencies' computed results as bounded, rounded JSON."""

    def user_prompt(self, ctx: TaskContext) -> str:
        parts = [f"Your task: {ctx.task.instruction}", "Computed results (JSON):"]
        parts += [f"### {d.task_id}\n{_shown(d.output)}" for d in ctx.dependencies]
        parts.append("Write the interpretation now, using only the numbers above.")
        return "\n\n".join(parts)


def _shown(output: Any) -> str:
    """JSON text of one result as the model sees it: summaries, short lists, 6 digits."""
    value = output.summary() if isinstance(output, Prepared) else output
    return truncate(json.dumps(st.round_sig(_bounded(value)), ensure_ascii=False, default=str),
                    MAX_PROMPT_CHARS)


def _bounded(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _bounded(v) for k, v in value.items()}
    return [_bounded(v) for v in value[:MAX_PROMPT_ITEMS]] if isinstance(value, list) else value


def _statistics(df: Any) -> dict[str, Any]:
    profiles = [p.to_dict() for p in tools.profile_columns(df)]
    numeric = [p["name"] for p in profiles if p["kind"] == "numeric"][:MAX_GROUP_VALUES]
    groupable = [p["name"] for p in profiles
                 if p["kind"] == "categorical" and p["unique"] <= MAX_GROUPS][:MAX_GROUPINGS]
    groups = []
    for by in groupable if numeric else ():
        sizes = df.groupby(by, dropna=False, sort=True).size()
        rows = [{by: st.plain_value(key), "rows": int(n)} for key, n in sizes.items()]
        for value in numeric:
            for row, stat in zip(rows, tools.group_summary(df, by, value), strict=True):
                row[value] = stat["mean"]
        groups.append({"by": by, "agg": "mean", "values": numeric, "rows": rows})
    return {"columns": profiles, "groups": groups}


def _model(df: Any) -> dict[str, Any]:
    found = [c.to_dict() for c in tools.correlations(df)]
    numeric = [c for c in df.columns if st.column_kind(df[c]) == "numeric"]
    if len(numeric) < 2:
        why = f"{len(numeric)} numeric column{'s' * (len(numeric) != 1)}; a fit needs two"
        return {"correlations": found, "fit": {"sensible": False, "reason": why}}
    try:
        fit = {"sensible": True, **tools.linear_fit(df, numeric[-1], numeric[:-1]).to_dict()}
    except tools.DataError as exc:
        fit = {"sensible": False, "reason": str(exc)}
    return {"correlations": found, "fit": fit}


async def run_analysis(
    csv_path: str | Path,
    *,
    question: str = "",
    model: Model | str | None = None,
    config: RunConfig | None = None,
    subscribers: Iterable[Subscriber] = (),
    journal: Journal | None = None,
    on_interrupt: Any = None,
    **settings: Any,
) -> WorkflowResult:
    """Analyse a CSV file: clean it, describe it, model it, and have a model interpret it.

    Args:
        csv_path: the CSV file (see :data:`EXAMPLE_CSV`).
        question: what the reader wants to know; the interpretation answers it.
        model: the interpreting model (``None``: ``DELEGATE_MODEL``, then ``local:default``).
        config: the run's settings (:data:`SETTINGS` apply).
        subscribers: run event subscribers. journal: makes the run durable.

    Raises:
        DataError: the file cannot be read or analysed; the message says why, in one line.
            A file that cannot be read (missing, not a regular file, over the size limit,
            binary, not CSV) is refused before the run starts: nothing is stored, no model is
            called.
        UsageError: a bad argument or model name.
    """
    cfg = workflow_config(config, settings, workflow="analysis", supported=SETTINGS,
                          caller="run_analysis")
    name = Path(csv_path).name
    question = " ".join(question.split())
    # read and parsed before the run is stored or a model is called: a file that cannot be
    # analysed is refused here, in one line
    loaded = await asyncio.to_thread(tools.load_csv, Path(csv_path))
    result = await run(
        question or f"Analyse {name}", workers=analysis_workers(csv_path, loaded=loaded),
        model=model,
        plan=analysis_plan(name, question),
        config=cfg.replace(synthesize=False),
        subscribers=subscribers, journal=journal, on_interrupt=on_interrupt,
    )
    for o in result.outcomes:
        if o.ok or o.worker == "interpretation":
            continue
        info = o.error_info
        if info is not None and info.type in _PROPAGATED:
            # the tools' refusals reach the caller as they were raised
            raise info.exception(*_PROPAGATED.values())
        return WorkflowResult("analysis", f"Analysis of {name}", f"# Analysis of {name}\n\n"
                              f"The analysis did not finish: {o.task_id} {o.status}: {o.error}\n",
                              result)
    out = result.outputs
    prepared, stats, fitted = out["preprocess"], out["statistics"], out["model"]
    text = out.get("interpretation", "")
    shown = "\n".join(_shown(out[t]) for t in ("preprocess", "statistics", "model"))
    report = AnalysisReport(
        file=name, rows=len(prepared.frame), columns=prepared.frame.shape[1],
        steps=list(prepared.steps), statistics=stats["columns"], groups=stats["groups"],
        correlations=fitted["correlations"], fit=fitted["fit"], interpretation=text,
        unsupported_numbers=unsupported_numbers(text, shown),
    )
    failed = "" if text else result.outcome("interpretation").error or "no text"
    return WorkflowResult("analysis", f"Analysis of {name}",
                          render_report(report, question, failed), result, report)


_PROPAGATED = {"DataError": tools.DataError, "UsageError": UsageError,
               "ConfigurationError": ConfigurationError}
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:,\d{3})*(?:\.\d+)?(?:[eE][-+]?\d+)?%?")


def unsupported_numbers(text: str, source: str) -> list[str]:
    """Numbers written in ``text`` that match no number in ``source`` at the precision written.

    A written number matches a source number when it equals it rounded to the written number's
    last digit, or equals it times 100 (a percentage). Whole numbers 0 to 10 always match.
    """
    known = [float(m.replace(",", "").rstrip("%")) for m in _NUMBER.findall(source)]
    odd = []
    for token in dict.fromkeys(_NUMBER.findall(text)):
        number = float(token.replace(",", "").rstrip("%"))
        mantissa, _, exp = token.rstrip("%").lower().partition("e")
        half = 0.5 * 10.0 ** (int(exp or 0) - len(mantissa.partition(".")[2])) * (1 + 1e-9)
        small = number.is_integer() and 0 <= number <= 10
        if not small and all(min(abs(number - k), abs(number - 100 * k)) > half for k in known):
            odd.append(token)
    return odd


