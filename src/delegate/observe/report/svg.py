"""The two drawings of the run report (:mod:`delegate.observe.report.html`), as inline SVG strings.

Both are laid out here, in Python, so that they render without scripts: :func:`plan_graph`
draws the plan as a layered DAG (a task's layer is the longest path to it from a task with no
dependencies), :func:`timeline` draws a Gantt chart of what ran when. Every task gets an
element with ``data-task="<id>"`` in each drawing; every piece of text is escaped here.
:data:`CSS` styles them and the rest of the page.

The live dashboard (``delegate serve``) asks :func:`graph_svg` for its plan drawing: the same
graph up to :data:`LANES_ABOVE` tasks, above that :func:`plan_lanes`, one lane per worker,
which stays readable and cheap at a thousand tasks. Each task's element carries its status as
a class (:func:`status_class`), so the page recolours it from the run's events with a style
sheet rule instead of asking for a new drawing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

__all__ = ["COLOURS", "CSS", "LANES_ABOVE", "Mark", "Row", "Segment", "graph_svg", "layers",
           "plan_graph", "plan_lanes", "status_class", "timeline"]

#: Fill colour of each status; the report's legend and CSS use the same table.
COLOURS = {
    "succeeded": "#2f9e5b", "failed": "#d64545", "timed_out": "#e0792b",
    "skipped": "#9aa3ad", "cancelled": "#8a6fb0", "running": "#3b82f6", "waiting": "#0ea5a4",
    "retried": "#f0b429", "not started": "#e5e7eb",
}

#: The page's style sheet, drawings included.
CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:#111827;margin:0;
background:#f8fafc}main{max-width:1080px;margin:0 auto;padding:20px 24px 60px}
h1{font-size:22px;margin:0 0 6px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid
#e5e7eb;padding-bottom:4px}h3{font-size:15px;margin:0 0 4px}section.task{background:#fff;
border:1px solid #e5e7eb;border-radius:8px;padding:10px 14px;margin:10px 0}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:8px 0}dt{color:#6b7280}
dd{margin:0}pre{white-space:pre-wrap;word-break:break-word;background:#f3f4f6;padding:8px;
border-radius:6px;margin:4px 0;max-height:420px;overflow:auto;font-size:12.5px}
summary{cursor:pointer;color:#1f2937;margin:4px 0}.badge{display:inline-block;padding:0 7px;
border-radius:9px;font-size:12px;color:#fff}.muted,.cut{color:#6b7280;font-size:12px}
table{border-collapse:collapse;margin:6px 0}td,th{border-bottom:1px solid #e5e7eb;padding:3px 10px;
text-align:left;vertical-align:top}th{font-weight:600;color:#374151}td.n{text-align:right}
.figure{overflow-x:auto;background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:8px}
.legend span{margin-right:12px;font-size:12px}.legend i{display:inline-block;width:11px;
height:11px;border-radius:3px;margin-right:4px;vertical-align:-1px}.role{font-size:12px;
color:#6b7280;text-transform:uppercase;margin-top:6px}svg text{font-family:inherit}
.edge{fill:none;stroke:#9ca3af;stroke-width:1.6}.node text.id{font-size:13px;font-weight:600}
.node text.sub{font-size:11px}.node rect{stroke:#00000030}.tick{stroke:#eef0f3}
.axis{font-size:11px;fill:#6b7280;text-anchor:middle}.label{font-size:12px;text-anchor:end}
.note{font-size:11px;fill:#6b7280;font-style:italic}.seg{stroke:#00000040}
.call{fill:#0f172a;opacity:.4}.call.plan{fill:#6366f1}
.call.review{fill:#0ea5e9}.call.synthesis{fill:#14b8a6}g[data-row] .call{opacity:.85}
.verdict{stroke:#fff;stroke-width:1}.passed{fill:#166534}
.rejected{fill:#b91c1c}button{font:inherit;font-size:12px;margin-right:6px}
"""

_NODE_W, _NODE_H, _GAP_X, _GAP_Y, _PAD = 170, 46, 64, 18, 12
_LABEL_W, _PLOT_W, _ROW_H, _BAR_H, _AXIS_H = 170, 760, 28, 18, 26


@dataclass(frozen=True)
class Segment:
    """A stretch of time a task spent running: one attempt or one review rewrite."""

    start: float
    end: float
    status: str
    title: str
    revision: bool = False


@dataclass(frozen=True)
class Mark:
    """A moment on a row: a model call (from ``at - latency`` to ``at``) or a verdict."""

    at: float
    kind: str  # "call", "passed" or "rejected"
    title: str
    latency: float = 0.0
    purpose: str = ""  # of a call: plan, task, review or synthesis


@dataclass
class Row:
    """One row of the timeline; ``task_id`` is empty for the orchestrator's row."""

    task_id: str
    label: str
    note: str = ""
    segments: list[Segment] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)


def layers(tasks: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Each task's layer: 0 without dependencies, else one more than its deepest dependency.
    Dependencies on unknown tasks are ignored; a cycle (never in a valid plan) is cut."""
    deps = {t["id"]: [d for d in t.get("depends_on") or () if d != t["id"]] for t in tasks}
    found: dict[str, int] = {}

    def depth(tid: str, seen: frozenset[str]) -> int:
        if tid not in found:
            below = [depth(d, seen | {tid}) for d in deps[tid] if d in deps and d not in seen]
            found[tid] = 1 + max(below) if below else 0
        return found[tid]

    for tid in deps:
        depth(tid, frozenset())
    return found


def plan_graph(tasks: Sequence[Mapping[str, Any]], status: Mapping[str, str]) -> str:
    """The plan as an SVG DAG, left to right, nodes coloured by ``status`` (linked to
    ``#task-<id>``), edges from each dependency to its dependent."""
    layer = layers(tasks)
    columns: list[list[str]] = [[] for _ in range(max(layer.values(), default=-1) + 1)]
    for t in tasks:  # barycentre ordering: a task sits near the tasks it depends on
        columns[layer[t["id"]]].append(t["id"])
    by_id = {t["id"]: t for t in tasks}
    tallest = max((len(c) for c in columns), default=0)
    row: dict[str, float] = {}  # a task's vertical slot, columns centred on each other
    for col in columns:
        first = {tid: i for i, tid in enumerate(col)}
        ys = {tid: [row[d] for d in by_id[tid].get("depends_on") or () if d in row]
              for tid in col}
        col.sort(key=lambda tid: (sum(ys[tid]) / len(ys[tid]) if ys[tid] else first[tid],
                                  first[tid]))
        row.update((tid, (tallest - len(col)) / 2 + i) for i, tid in enumerate(col))
    width = len(columns) * (_NODE_W + _GAP_X) - _GAP_X + 2 * _PAD
    height = tallest * (_NODE_H + _GAP_Y) - _GAP_Y + 2 * _PAD
    pos = {tid: (_PAD + layer[tid] * (_NODE_W + _GAP_X), _PAD + r * (_NODE_H + _GAP_Y))
           for tid, r in row.items()}
    out = [f'<svg class="graph" xmlns="http://www.w3.org/2000/svg" width="{width}" '
           f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
           'aria-label="the plan as a graph"><defs><marker id="arrow" viewBox="0 0 10 10" '
           'refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
           '<path d="M0,0L10,5L0,10z" fill="#6b7280"/></marker></defs>']
    for t in tasks:
        for dep in t.get("depends_on") or ():
            if dep in pos and dep != t["id"]:
                out.append(f'<path class="edge" d="{_edge(dep, t["id"], pos, columns)}" '
                           'marker-end="url(#arrow)"/>')
    for t in tasks:
        tid, (x, y) = t["id"], pos[t["id"]]
        state = status.get(tid, "not started")
        ink = "#111827" if state in ("not started", "retried", "skipped") else "#ffffff"
        worker = str(t.get("worker", ""))
        tip = f"{tid} [{worker}] {state}\n{_cut(str(t.get('instruction', '')), 400)}"
        out.append(
            f'<a href="#task-{escape(tid)}"><g class="node {status_class(state)}" '
            f'data-task="{escape(tid)}" '
            f'data-status="{escape(state)}"><title>{escape(tip)}</title>'
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{_NODE_W}" height="{_NODE_H}" rx="7" '
            f'fill="{COLOURS.get(state, "#cbd5e1")}"/>'
            f'<text x="{x + 10:.1f}" y="{y + 19:.1f}" fill="{ink}" class="id">'
            f'{escape(_cut(tid, 20))}</text><text x="{x + 10:.1f}" y="{y + 36:.1f}" '
            f'fill="{ink}" class="sub">{escape(_cut(f"{worker} · {state}", 26))}'
            '</text></g></a>')
    return "".join(out) + "</svg>"


def _edge(source: str, target: str, pos: Mapping[str, tuple[float, float]],
          columns: Sequence[Sequence[str]]) -> str:
    """An edge's SVG path: curves between columns; through the columns it crosses, it runs
    level in the gap between two nodes nearest to the straight line."""
    (x1, y1), (x2, y2) = pos[source], pos[target]
    y1, y2 = y1 + _NODE_H / 2, y2 + _NODE_H / 2
    first, last = round((x1 - _PAD) / (_NODE_W + _GAP_X)), round((x2 - _PAD) / (_NODE_W + _GAP_X))
    points = [(x1 + _NODE_W, y1)]
    for c in range(first + 1, last):
        y = y1 + (y2 - y1) * (c - first) / (last - first)
        for tid in columns[c]:
            top = pos[tid][1]
            if top - _GAP_Y / 3 < y < top + _NODE_H + _GAP_Y / 3:
                above, below = top - _GAP_Y / 2, top + _NODE_H + _GAP_Y / 2
                y = above if y - above < below - y else below
        x = _PAD + c * (_NODE_W + _GAP_X)
        points += [(x, y), (x + _NODE_W, y)]
    points.append((x2 - 2, y2))
    path = [f"M{points[0][0]:.1f},{points[0][1]:.1f}"]
    for i in range(1, len(points)):
        (ax, ay), (bx, by) = points[i - 1], points[i]
        if i % 2:  # from a column's right side to the next column's left side
            mid = (ax + bx) / 2
            path.append(f"C{mid:.1f},{ay:.1f} {mid:.1f},{by:.1f} {bx:.1f},{by:.1f}")
        else:
            path.append(f"L{bx:.1f},{by:.1f}")
    return " ".join(path)


#: Above this many tasks :func:`graph_svg` draws lanes instead of the node graph.
LANES_ABOVE = 300
_CELL, _CELL_GAP, _LANE_COLS, _LANE_LABEL_W = 12, 3, 64, 150


def graph_svg(tasks: list[dict], status: dict[str, str]) -> tuple[str, bool]:
    """The plan drawing of the live dashboard, and whether it is lanes.

    Up to :data:`LANES_ABOVE` tasks this is :func:`plan_graph`, the report's graph; above it,
    :func:`plan_lanes`. A plan with no tasks is a small drawing that says so. ``status`` maps
    task ids to statuses (keys of :data:`COLOURS`; a task not in it has not started)."""
    if not tasks:
        return ('<svg class="graph empty" xmlns="http://www.w3.org/2000/svg" width="240" '
                'height="30" viewBox="0 0 240 30" role="img" aria-label="no plan yet">'
                '<text class="note" x="6" y="19">No plan stored yet.</text></svg>', False)
    if len(tasks) > LANES_ABOVE:
        return plan_lanes(tasks, status), True
    return plan_graph(tasks, status), False


def plan_lanes(tasks: Sequence[Mapping[str, Any]], status: Mapping[str, str]) -> str:
    """The plan as one lane per worker (in order of first appearance), each task a small
    square coloured by ``status``, in order of layer then plan order, wrapped every
    :data:`_LANE_COLS` squares. No edges: at this size they would be ink, not information;
    a task's dependencies are in its tooltip and the dashboard's task drawer."""
    layer = layers(_dependencies_first(tasks))
    lanes: dict[str, list[tuple[int, int, Mapping[str, Any]]]] = {}
    for i, t in enumerate(tasks):
        lanes.setdefault(str(t.get("worker", "")), []).append((layer[t["id"]], i, t))
    step = _CELL + _CELL_GAP
    width = _LANE_LABEL_W + _LANE_COLS * step + _PAD
    out, y = [], _PAD
    for worker, members in lanes.items():
        members.sort(key=lambda m: (m[0], m[1]))
        lines = -(-len(members) // _LANE_COLS)
        out.append(f'<g class="lane" data-worker="{escape(worker)}"><text class="label" '
                   f'x="{_LANE_LABEL_W - 10}" y="{y + _CELL - 1}">'
                   f'{escape(_cut(worker, 18))} ({len(members)})</text>')
        for n, (_, _, t) in enumerate(members):
            tid = t["id"]
            state = status.get(tid, "not started")
            deps = ", ".join(map(str, t.get("depends_on") or ())) or "none"
            tip = (f"{tid} [{worker}] {state}\ndepends on: {_cut(deps, 120)}\n"
                   f"{_cut(str(t.get('instruction', '')), 160)}")
            x = _LANE_LABEL_W + (n % _LANE_COLS) * step
            cy = y + (n // _LANE_COLS) * step
            out.append(f'<g class="node cell {status_class(state)}" data-task="{escape(tid)}" '
                       f'data-status="{escape(state)}"><title>{escape(tip)}</title>'
                       f'<rect x="{x}" y="{cy}" width="{_CELL}" height="{_CELL}" rx="2" '
                       f'fill="{COLOURS.get(state, "#cbd5e1")}"/></g>')
        out.append("</g>")
        y += lines * step + 2 * _CELL_GAP + 6
    height = y + _PAD
    return (f'<svg class="graph lanes" xmlns="http://www.w3.org/2000/svg" width="{width}" '
            f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
            'aria-label="the plan, one lane per worker">' + "".join(out) + "</svg>")


def status_class(state: str) -> str:
    """The class a task's element carries for ``state``: ``st-`` then the status in lower
    case, each run of characters other than ASCII letters and digits one hyphen
    (``st-not-started``, ``st-timed-out``)."""
    return "st-" + (re.sub(r"[^a-z0-9]+", "-", state.lower()).strip("-") or "unknown")


def _dependencies_first(tasks: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """``tasks`` reordered so that each comes after the tasks it depends on (plan order
    otherwise; tasks on a cycle last), so that :func:`layers` never recurses deeply."""
    ids = {t["id"] for t in tasks}
    waiting = {t["id"]: {d for d in t.get("depends_on") or () if d in ids and d != t["id"]}
               for t in tasks}
    needed_by: dict[str, list[str]] = {}
    for tid, deps in waiting.items():
        for d in deps:
            needed_by.setdefault(d, []).append(tid)
    ready = [t["id"] for t in tasks if not waiting[t["id"]]]
    order: list[str] = []
    while ready:
        tid = ready.pop()
        order.append(tid)
        for later in needed_by.get(tid, ()):
            waiting[later].discard(tid)
            if not waiting[later]:
                ready.append(later)
    placed = set(order)
    by_id = {t["id"]: t for t in tasks}
    return [by_id[tid] for tid in order] + [t for t in tasks if t["id"] not in placed]


def timeline(rows: Sequence[Row], start: float, end: float) -> str:
    """A Gantt chart of ``rows`` over ``start``..``end`` (epoch seconds), ticks in seconds
    from the start; overlapping bars are tasks that ran at the same time."""
    span = max(end - start, 1e-3)
    step = _tick_step(span)
    scale = _PLOT_W / span
    width, height = _LABEL_W + _PLOT_W + 30, _AXIS_H + len(rows) * _ROW_H + 6

    def x(t: float) -> float:
        return _LABEL_W + (min(max(t, start), end) - start) * scale

    digits = max(0, -math.floor(math.log10(step)))
    out = [f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="{width}" '
           f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
           'aria-label="task timeline">']
    for i in range(int(span / step + 1e-9) + 1):
        tx = _LABEL_W + i * step * scale
        out.append(f'<line class="tick" x1="{tx:.1f}" y1="{_AXIS_H - 4}" x2="{tx:.1f}" '
                   f'y2="{height}"/><text class="axis" x="{tx:.1f}" y="{_AXIS_H - 9}">'
                   f'{i * step:.{digits}f}s</text>')
    for r, row in enumerate(rows):
        top = _AXIS_H + r * _ROW_H
        bar_y = top + (_ROW_H - _BAR_H) / 2
        attr = f'data-task="{escape(row.task_id)}"' if row.task_id else 'data-row="orchestrator"'
        out.append(f'<g class="row" {attr}><text class="label" x="{_LABEL_W - 8}" '
                   f'y="{top + _ROW_H / 2 + 4:.1f}">{escape(_cut(row.label, 22))}</text>')
        if row.note:
            out.append(f'<text class="note" x="{_LABEL_W + 6}" y="{top + _ROW_H / 2 + 4:.1f}">'
                       f'{escape(row.note)}</text>')
        for s in row.segments:
            dash = (' stroke-dasharray="4 2" stroke="#1f2937" fill-opacity=".6"'
                    if s.revision else "")
            out.append(f'<rect class="seg" x="{x(s.start):.1f}" y="{bar_y:.1f}" '
                       f'width="{max(x(s.end) - x(s.start), 3):.1f}" height="{_BAR_H}" rx="3" '
                       f'fill="{COLOURS.get(s.status, "#cbd5e1")}"{dash}>'
                       f'<title>{escape(s.title)}</title></rect>')
        for m in row.marks:
            if m.kind == "call":
                left = x(m.at - m.latency)
                out.append(f'<rect class="call {escape(m.purpose)}" x="{left:.1f}" '
                           f'y="{bar_y + _BAR_H - 6:.1f}" width="{max(x(m.at) - left, 2):.1f}" '
                           'height="4">'
                           f'<title>{escape(m.title)}</title></rect>')
            else:
                cx, cy = x(m.at), bar_y + _BAR_H / 2
                out.append(f'<path class="verdict {m.kind}" d="M{cx:.1f},{cy - 7:.1f} '
                           f'l6,7 l-6,7 l-6,-7z"><title>{escape(m.title)}</title></path>')
        out.append("</g>")
    return "".join(out) + "</svg>"


def _tick_step(span: float) -> float:
    raw = span / 10
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 5, 10) if raw <= m * magnitude)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
