"""What the evaluations share: running their cases and formatting their reports' cells.

:func:`run_cases` is the loop both :mod:`delegate.apps.recommend.eval` and
:mod:`delegate.apps.evals.content` run their cases with; :func:`fmt` and :func:`mean` write
and aggregate their numbers; :func:`checked` checks a field read back from a saved report;
:func:`write_report` writes a report's JSON and Markdown.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["checked", "fmt", "mean", "run_cases", "write_report"]

C = TypeVar("C")
R = TypeVar("R")


def mean(values: Sequence[float]) -> float | None:
    """The arithmetic mean, or ``None`` for no values."""
    return sum(values) / len(values) if values else None


def fmt(value: Any) -> str:
    """A report cell: ``n/a`` for ``None``, ``yes``/``no`` for booleans, floats to three
    decimals without trailing zeros, anything else as ``str``."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".")
    return str(value)


def checked(case: str, name: str, value: Any, annotation: str) -> Any:
    """``value`` (a field ``name`` of a saved report's ``case``) if it is of the kind
    ``annotation`` names (``int``, ``float | None``, ``bool | None``, ``str``,
    ``tuple[str, ...]`` as a JSON list), else ValueError naming the case and the field."""
    kinds = {k.strip() for k in annotation.split("|")}
    if value is None and "None" in kinds:
        return value
    number = isinstance(value, int | float) and not isinstance(value, bool)
    ok = (("int" in kinds and number and float(value).is_integer())
          or ("float" in kinds and number)
          or ("bool" in kinds and isinstance(value, bool))
          or ("str" in kinds and isinstance(value, str))
          or (annotation.startswith("tuple") and isinstance(value, list)
              and all(isinstance(x, str) for x in value)))
    if not ok:
        raise ValueError(f"case {case}: {name} is {value!r}, not {annotation}")
    return int(value) if "int" in kinds else value


async def run_cases(one: Callable[[C], Awaitable[R]], cases: Sequence[C], *, concurrency: int,
                    on_case: Callable[[R], None] | None = None) -> tuple[list[R], float]:
    """Await ``one(case)`` for every case, at most ``concurrency`` at once.

    Args:
        one: measures one case; it runs while holding one of the ``concurrency`` places.
        cases: the cases, in the order their rows are returned.
        concurrency: most cases running at once (at least 1; the callers check it).
        on_case: called with each row as its case ends (in completion order), for progress.

    Returns:
        The rows in the order of ``cases``, and the elapsed seconds of the whole loop.

    Raises:
        Whatever ``one`` or ``on_case`` raises: the other cases are cancelled and awaited
        before it propagates, so nothing is left running.
    """
    gate = asyncio.Semaphore(concurrency)

    async def guarded(case: C) -> R:
        async with gate:
            row = await one(case)
        if on_case is not None:
            on_case(row)
        return row

    start = time.perf_counter()
    tasks = [asyncio.ensure_future(guarded(case)) for case in cases]
    try:
        rows = await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    return list(rows), time.perf_counter() - start


def write_report(out: str | Path, stem: str, model_name: str, report: Any, title: str,
                 command: str) -> None:
    """Write ``report`` (with ``to_dict()`` and ``to_markdown(title, command, model)``) as
    ``out/<stem>.json`` (the model's name first) and ``out/<stem>.md``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = {"model": model_name, **report.to_dict()}
    (out / f"{stem}.json").write_text(json.dumps(data, indent=2) + "\n", "utf-8")
    (out / f"{stem}.md").write_text(report.to_markdown(title, command, model_name), "utf-8")
