"""The report's inputs: reading texts and files, profiling CSV tables, drawing charts.

Private to :mod:`delegate.apps.report`. An input is a text, or a path (a :class:`~pathlib.Path`,
or a one-line string that ends in ``.txt``, ``.md`` or ``.csv`` or names an existing file).
Files are read as UTF-8 text; CSV files with the standard :mod:`csv` module, and a column is
numeric when every non-empty cell in it is a finite number. Everything the model is told
about a table (the statistics) and everything a chart shows is computed here from the data.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import UsageError

__all__ = [
    "MATPLOTLIB_NOTE", "Chart", "ReportInput", "Table", "chart_points", "draw_chart",
    "load_inputs", "markdown_table", "slug",
]

MAX_INPUT_BYTES = 5_000_000
MAX_INPUTS = 8
SUFFIXES = (".txt", ".md", ".csv")
MATPLOTLIB_NOTE = "charts need matplotlib: pip install 'delegate[report]'"
MAX_GROUPS = 12  # a column with at most this many distinct values is a category
PREVIEW_ROWS = 5


@dataclass(frozen=True)
class Table:
    """A CSV table: the header, the rows (padded to the header's width), the numeric columns."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: dict[str, tuple[float | None, ...]] = field(default_factory=dict)

    def column(self, name: str) -> tuple[str, ...]:
        i = self.columns.index(name)
        return tuple(row[i] for row in self.rows)


@dataclass(frozen=True)
class ReportInput:
    """One input: its name (the section heading), its text, and its table if it is a CSV."""

    name: str
    text: str
    table: Table | None = None


@dataclass(frozen=True)
class Chart:
    """A chart drawn from a table: what it shows, the plotted values, the PNG bytes."""

    caption: str
    kind: str  # "bar" or "line"
    x_label: str
    y_label: str
    points: tuple[tuple[str, float], ...]
    png: bytes


def load_inputs(inputs: Sequence[str | os.PathLike[str]]) -> list[ReportInput]:
    """Read every input; raise :class:`UsageError` with one sentence for the first bad one."""
    if isinstance(inputs, str | os.PathLike):
        inputs = [inputs]
    if len(inputs) > MAX_INPUTS:
        raise UsageError(f"a report takes at most {MAX_INPUTS} inputs, not {len(inputs)}.")
    loaded, texts = [], 0
    for item in inputs:
        path = _as_path(item)
        if path is None:
            if not isinstance(item, str) or not item.strip():
                raise UsageError(f"input {item!r} is neither a text nor a file path.")
            if len(item) > MAX_INPUT_BYTES:
                raise UsageError("a text input is over 5 MB; pass a shorter text.")
            texts += 1
            loaded.append(ReportInput(_text_name(item, texts), item.strip()))
        else:
            text = _read(path)
            table = _parse_csv(text, path.name) if path.suffix.lower() == ".csv" else None
            loaded.append(ReportInput(path.name, describe(table, path.name) if table else text,
                                      table))
    return loaded


def _as_path(item: str | os.PathLike[str]) -> Path | None:
    if isinstance(item, os.PathLike):
        return Path(item)
    if not isinstance(item, str) or "\n" in item or len(item) > 1024:
        return None
    path = Path(item.strip()).expanduser()
    try:
        return path if path.suffix.lower() in SUFFIXES or path.is_file() else None
    except (OSError, ValueError):
        return None


def _read(path: Path) -> str:
    try:
        if not path.exists():
            raise UsageError(f"input file {path} does not exist.")
        if not path.is_file():
            raise UsageError(f"input {path} is not a file.")
        if path.suffix.lower() not in SUFFIXES:
            raise UsageError(f"input file {path} is not a .txt, .md or .csv file.")
        size = path.stat().st_size
        if size > MAX_INPUT_BYTES:
            raise UsageError(f"input file {path} is {size / 1e6:.1f} MB; the limit is 5 MB.")
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise UsageError(f"input file {path} cannot be read: {exc.strerror or exc}.") from None
    except UnicodeDecodeError:
        raise UsageError(f"input file {path} is not UTF-8 text.") from None
    if not text.strip():
        raise UsageError(f"input file {path} is empty.")
    return text


def _text_name(text: str, n: int) -> str:
    """A short first line (a title) names a text; otherwise it is "Text n"."""
    first, _, rest = text.strip().partition("\n")
    first = first.strip().lstrip("#").strip()
    if rest.strip() and 0 < len(first) <= 60 and not first.endswith("."):
        return first
    return f"Text {n}"


def _parse_csv(text: str, name: str) -> Table:
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(
            text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    try:
        rows = [r for r in csv.reader(io.StringIO(text), dialect) if any(c.strip() for c in r)]
    except csv.Error as exc:
        raise UsageError(f"{name} is not a readable CSV file ({exc}).") from None
    if len(rows) < 2:
        raise UsageError(f"{name} needs a header row and at least one data row.")
    columns: list[str] = []
    for i, header in enumerate(rows[0], 1):
        label = header.strip() or f"column {i}"
        columns.append(label if label not in columns else f"{label} ({i})")
    body = []
    for n, row in enumerate(rows[1:], 2):
        if any(c.strip() for c in row[len(columns):]):  # trailing empty fields are fine
            raise UsageError(f"{name}: row {n} has {len(row)} fields but the header has "
                             f"{len(columns)}.")
        row = [c.strip() for c in row[:len(columns)]]
        body.append((*row, *[""] * (len(columns) - len(row))))
    numeric: dict[str, tuple[float | None, ...]] = {}
    for i, column in enumerate(columns):
        cells = [row[i] for row in body]
        values = tuple(_number(c) if c else None for c in cells)
        if any(cells) and all(v is not None for v, c in zip(values, cells, strict=True) if c):
            numeric[column] = values
    return Table(tuple(columns), tuple(body), numeric)


def _number(cell: str) -> float | None:
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def describe(table: Table, name: str) -> str:
    """What the analyst reads about a table: its shape, statistics and first rows."""
    lines = [f"CSV file {name}: {len(table.rows)} rows; columns: {', '.join(table.columns)}."]
    for column, values in table.numeric.items():
        got = [v for v in values if v is not None]
        lines.append(f"- {column}: min {_fmt(min(got))}, max {_fmt(max(got))}, "
                     f"mean {_fmt(sum(got) / len(got))}, total {_fmt(sum(got))}")
    for column in table.columns:
        if column not in table.numeric:
            values = list(dict.fromkeys(table.column(column)))
            shown = (", ".join(v or "(empty)" for v in values) if len(values) <= MAX_GROUPS
                     else f"from {values[0]} to {values[-1]}")
            lines.append(f"- {column}: {len(values)} distinct values: {shown}")
    spec = chart_points(table)
    if spec is not None and spec[2].startswith("total "):  # totals per category
        _, x_label, y_label, points = spec
        lines.append(f"- {y_label} by {x_label}: "
                     + "; ".join(f"{k} {_fmt(v)}" for k, v in points))
    preview = io.StringIO()
    writer = csv.writer(preview, lineterminator="\n")
    writer.writerows([table.columns, *table.rows[:PREVIEW_ROWS]])
    return "\n".join(lines) + f"\nFirst rows:\n{preview.getvalue()}"


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"


def chart_points(table: Table) -> tuple[str, str, str, tuple[tuple[str, float], ...]] | None:
    """What to plot, as ``(kind, x label, y label, points)``: the first numeric column's
    total per category when a column has a few repeated values (a bar chart), else its values
    row by row (a line, or bars when there are few). ``None`` without a numeric column."""
    if not table.numeric:
        return None
    value = next(iter(table.numeric))
    numbers = table.numeric[value]
    groups = [(len(set(table.column(c))), c) for c in table.columns
              if c not in table.numeric and 2 <= len(set(table.column(c))) <= MAX_GROUPS
              and len(set(table.column(c))) < len(table.rows)]
    if groups:
        _, group = min(groups, key=lambda g: g[0])
        totals: dict[str, float] = {}
        for label, number in zip(table.column(group), numbers, strict=True):
            totals[label] = totals.get(label, 0.0) + (number or 0.0)
        return "bar", group, f"total {value}", tuple(totals.items())
    axis = next((c for c in table.columns if c not in table.numeric), None)
    labels = table.column(axis) if axis else tuple(str(n) for n in range(1, len(numbers) + 1))
    points = tuple((label, n) for label, n in zip(labels, numbers, strict=True) if n is not None)
    return ("bar" if len(points) <= MAX_GROUPS else "line"), axis or "row", value, points


def draw_chart(table: Table, name: str) -> Chart | None:
    """A PNG chart of ``table`` (see :func:`chart_points`), drawn with matplotlib's Agg
    backend and no global state; ``None`` without a numeric column.

    Raises:
        ImportError: matplotlib is not installed.
    """
    spec = chart_points(table)
    if spec is None:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    kind, x_label, y_label, points = spec
    caption = f"{y_label[0].upper()}{y_label[1:]} by {x_label} ({name})"
    labels, values = [p[0] for p in points], [p[1] for p in points]
    figure = Figure(figsize=(6.4, 3.6), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    if kind == "bar":
        axes.bar(range(len(values)), values, color="#4472c4")
    else:
        axes.plot(range(len(values)), values, color="#4472c4", linewidth=1.5)
    step = max(1, len(labels) // MAX_GROUPS)
    axes.set_xticks(range(0, len(labels), step), labels[::step], rotation=30, ha="right",
                    fontsize=8)
    axes.set_xlabel(x_label, fontsize=9)
    axes.set_ylabel(y_label, fontsize=9)
    axes.set_title(caption, fontsize=10)
    figure.tight_layout()
    png = io.BytesIO()
    figure.savefig(png, format="png", metadata={"Software": None})
    return Chart(caption, kind, x_label, y_label, points, png.getvalue())


def markdown_table(chart: Chart) -> str:
    """The charted values as a Markdown table, for readers without the image."""
    rows = "".join(f"\n| {label} | {_fmt(value)} |" for label, value in chart.points)
    return f"| {chart.x_label} | {chart.y_label} |\n|---|---:|{rows}"


def slug(name: str, taken: set[str]) -> str:
    """A task id for an input name, unique among ``taken`` (which it joins)."""
    base = re.sub(r"[^A-Za-z0-9_.\-]+", "-", name).strip("-.")[:40] or "input"
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}-{n}"
    taken.add(candidate)
    return candidate
