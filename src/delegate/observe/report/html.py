"""A stored run as one self-contained HTML page: ``delegate runs report RUN_ID``.

:func:`render_report` takes what :func:`delegate.durable.export.export` returns and writes a page
with no external references (inline CSS, inline SVG, one small inline script under a
Content-Security-Policy that allows nothing else): the run's header, the plan as a graph, a
timeline of the tasks (attempts, review rewrites, model calls, review verdicts), each task's
prompts and output, the review verdicts, the plan versions, usage and cost, and the notes.
The drawings are SVG laid out in Python (:mod:`delegate.observe.report.svg`), so they render with
scripts off. Everything that came from a user or a model is escaped: a model's output is
hostile input. Texts over :data:`MAX_TEXT` characters are cut, saying how much was left out.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shlex
from collections.abc import Mapping
from datetime import datetime
from html import escape
from typing import Any

from .svg import COLOURS, CSS, Mark, Row, Segment, plan_graph, timeline

__all__ = ["MAX_TEXT", "render_report"]

#: The most characters of one prompt, answer or output the page shows.
MAX_TEXT = 20_000
_ENDED = {"TaskFinished": "succeeded", "TaskFailed": "failed", "TaskSkipped": "skipped",
          "TaskCancelled": "cancelled"}
_SCRIPT = ("for(const b of document.querySelectorAll('button[data-open]'))b.addEventListener("
           "'click',()=>{for(const d of document.querySelectorAll('details'))"
           "d.open=b.dataset.open==='1';});")


def render_report(export: Mapping[str, Any]) -> str:
    """The HTML page for one run, from :func:`delegate.durable.export.export`'s dict."""
    result = export.get("result") if isinstance(export.get("result"), dict) else {}
    versions = list(export.get("plan_versions") or ())
    plan = versions[-1].get("plan") or {} if versions else result.get("plan") or {}
    outcomes: dict[str, dict[str, Any]] = dict(export.get("outcomes") or {})
    tasks = [dict(t) for t in plan.get("tasks") or () if isinstance(t, dict) and "id" in t]
    tasks += [{"id": tid, "worker": o.get("worker", ""), "depends_on": [],
               "instruction": "(from an earlier plan version)"}
              for tid, o in outcomes.items() if tid not in {t["id"] for t in tasks}]
    calls = list(export.get("model_calls") or ())
    rows, start, end, status = _timeline(tasks, list(export.get("events") or ()), outcomes)
    by_id = {r.task_id: r for r in rows}
    reviews = _reviews(export, result)
    wall = result.get("wall_seconds", end - start if end > start else None)
    wall = wall if isinstance(wall, int | float) else None
    counts = ", ".join(f"{sum(s == k for s in status.values())} {k}" for k in COLOURS
                       if k in status.values())
    argv = (export.get("request") or {}).get("argv")
    head = [("objective", _esc(export.get("objective", ""))),
            ("status", _badge(str(export.get("status", "unknown")))),
            ("kind", _esc(export.get("kind", ""))),
            ("created", _esc(_when(export.get("created_at")))),
            ("updated", _esc(_when(export.get("updated_at")))),
            ("wall time", "-" if wall is None else f"{wall:.2f}s"),
            ("tasks", f"{len(tasks)} ({counts})" if tasks else "none yet")]
    if isinstance(argv, list):
        head.append(("command", f"<code>delegate {_esc(shlex.join(map(str, argv)))}</code>"))
    legend = "".join(f'<span><i style="background:{c}"></i>{k}</span>'
                     for k, c in COLOURS.items())
    graph = plan_graph(tasks, status) if tasks else '<p class="muted">No plan stored yet.</p>'
    gantt = (timeline(rows, start, end) if rows and end > start
             else '<p class="muted">No task has started yet.</p>')
    version = f" v{plan.get('version')} ({_esc(plan.get('strategy', ''))})" if plan else ""
    body = [
        f"<header><h1>Run {_esc(export.get('run_id', ''))}</h1><dl>"
        + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in head) + "</dl>"
        '<button data-open="1">expand all</button><button data-open="0">collapse all</button>'
        "</header>",
        f'<h2 id="plan">Plan{version}</h2><div class="figure">{graph}</div>'
        f'<p class="legend">{legend}</p>',
        '<h2 id="timeline">Timeline</h2><div class="figure">' + gantt + "</div>"
        '<p class="muted">Bars: attempts (yellow: retried; dashed: review rewrites). Thin bands: '
        "model calls (orchestrator: blue review, teal synthesis, indigo planning). Diamonds: "
        "review verdicts. Seconds from the start of the run.</p>",
        '<h2 id="tasks">Tasks</h2>' + "".join(
            _task(t, outcomes.get(t["id"]), by_id[t["id"]], status[t["id"]], calls, reviews)
            for t in tasks),
        '<h2 id="reviews">Reviews</h2>' + _review_table(reviews),
        '<h2 id="versions">Plan versions</h2>' + _versions(versions),
        '<h2 id="usage">Usage and cost</h2>' + _usage(calls),
        '<h2 id="calls">Planning, review and synthesis calls</h2>'
        + ("".join(_call(c) for c in calls if not c.get("task_id")) or _none("none")),
        '<h2 id="answer">Answer and notes</h2>'
        + (_pre(result["text"]) if result.get("text") else _none("no final answer"))
        + "".join(f"<p>{_esc(n)}</p>" for n in result.get("notes") or ()),
    ]
    digest = base64.b64encode(hashlib.sha256(_SCRIPT.encode()).digest()).decode()
    policy = f"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{digest}'"
    return ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>delegate run {_esc(str(export.get('run_id', ''))[:12])}</title>"
            f"<style>{CSS}</style></head><body><main>{''.join(body)}</main>"
            f"<script>{_SCRIPT}</script></body></html>\n")


def _timeline(tasks: list[dict[str, Any]], events: list[dict[str, Any]],
              outcomes: Mapping[str, Mapping[str, Any]],
              ) -> tuple[list[Row], float, float, dict[str, str]]:
    """Rows of the timeline from the events, the run's start and end, each task's status."""
    rows = {t["id"]: Row(t["id"], t["id"]) for t in tasks}
    boss = Row("", "orchestrator")
    running: dict[str, tuple[float, str, bool]] = {}
    ended: dict[str, int] = {}  # task id: review rewrites started since it ended
    times = [e["data"]["at"] for e in events
             if isinstance(e.get("data"), dict) and isinstance(e["data"].get("at"), int | float)]
    for o in outcomes.values():
        times += [o[k] for k in ("started", "finished") if isinstance(o.get(k), int | float)]
    start = next((e["data"]["at"] for e in events if e.get("kind") == "RunStarted"
                  and e["data"]["at"] in times), min(times, default=0.0))
    end = max(times, default=start)
    for event in events:
        kind, data = event.get("kind"), event.get("data") or {}
        tid, at = data.get("task_id") or "", data.get("at")
        row = rows.get(tid)
        if not isinstance(at, int | float) or (tid and row is None):
            continue
        if kind == "TaskStarted" and row is not None:
            if tid in ended:
                ended[tid] += 1
            step = (f"review rewrite {ended[tid]}" if tid in ended
                    else f"attempt {data.get('attempt', 1)}")
            running[tid] = (at, step, tid in ended)
        elif kind == "ModelCalled":
            (row or boss).marks.append(Mark(at, "call", _call_title(data),
                                            float(data.get("latency_seconds") or 0),
                                            str(data.get("purpose", ""))))
        elif kind == "TaskReviewed":
            review = data.get("review") or {}
            verdict = "passed" if review.get("passed") else "rejected"
            if tid in rows:
                rows[tid].marks.append(Mark(at, verdict, f"review round {review.get('round')}: "
                                            f"{verdict} {review.get('scores')}"))
        elif tid in running and kind in ("TaskRetried", "TaskRevised", *_ENDED):
            began, step, again = running.pop(tid)
            state = ("retried" if kind == "TaskRetried" else
                     (data.get("outcome") or {}).get("status") or _ENDED.get(kind, "succeeded"))
            error = f": {data['error']}" if data.get("error") else ""
            rows[tid].segments.append(Segment(began, at, state, f"{tid}, {step}: {state}, "
                                              f"{at - began:.2f}s{error}", again))
        if kind in _ENDED:
            ended.setdefault(tid, 0)
    for tid, (began, step, again) in running.items():
        rows[tid].segments.append(Segment(began, end, "running", f"{tid}, {step}: running",
                                          again))
    status: dict[str, str] = {}
    for tid, row in rows.items():
        o = outcomes.get(tid) or {}
        if (not row.segments and isinstance(o.get("started"), int | float)
                and isinstance(o.get("finished"), int | float)):
            row.segments.append(Segment(o["started"], o["finished"], o.get("status", ""),
                                        f"{tid}: {o.get('status')}"))
        status[tid] = o.get("status") or ("running" if tid in running else "not started")
        row.note = "" if row.segments else status[tid]
    return [*rows.values(), *([boss] if boss.marks else [])], start, end, status


def _reviews(export: Mapping[str, Any], result: Mapping[str, Any]) -> list[dict[str, Any]]:
    found = [e["data"]["review"] for e in export.get("events") or ()
             if e.get("kind") == "TaskReviewed" and isinstance(e.get("data"), dict)
             and isinstance(e["data"].get("review"), dict)]
    return found or [r for r in result.get("reviews") or () if isinstance(r, dict)]


def _task(task: Mapping[str, Any], outcome: Mapping[str, Any] | None, row: Row, state: str,
          calls: list[dict[str, Any]], reviews: list[dict[str, Any]]) -> str:
    tid, o = task["id"], outcome or {}
    mine = [c for c in calls if c.get("task_id") == tid]
    rewrites = sum(s.revision for s in row.segments)
    took = (f", {rewrites} review rewrite(s)" if rewrites else "") + (
        f", {sum(s.end - s.start for s in row.segments):.2f}s running" if row.segments else "")
    after = ", ".join(task.get("depends_on") or ()) or "nothing"
    verdicts = [r for r in reviews if r.get("task_id") == tid]
    output = _pre(_shown(o["output"])) if o.get("output") is not None else _none("none")
    return (f'<section class="task" id="task-{_esc(tid)}" data-task="{_esc(tid)}">'
            f"<h3>{_esc(tid)} {_badge(state)}</h3><p class=\"muted\">worker "
            f"{_esc(task.get('worker', ''))} · after {_esc(after)} · "
            f"{o.get('attempts', 0)} attempt(s){took}</p>{_pre(task.get('instruction', ''))}"
            + (f"<p>error: {_esc(o['error'])}</p>" if o.get("error") else "")
            + (_review_table(verdicts, per_task=True) if verdicts else "")
            + f"<details><summary>Prompts and answers ({len(mine)} model call(s))</summary>"
            + ("".join(_call(c) for c in mine) or _none("no model calls")) + "</details>"
            + f"<details open><summary>Output</summary>{output}</details></section>")


def _call(call: Mapping[str, Any]) -> str:
    request, response = call.get("request") or {}, call.get("response") or {}
    cost = "cost unknown" if call.get("cost") is None else f"${call['cost']:.4f}"
    head = (f"#{call.get('seq')} {call.get('purpose', '')} · {call.get('provider', '')}:"
            f"{call.get('model', '')} · {call.get('source', '')} · {call.get('prompt_tokens', 0)}"
            f"+{call.get('completion_tokens', 0)} tokens · "
            f"{call.get('latency_seconds') or 0:.2f}s · {cost}")
    parts = [f'<div class="role">{_esc(m.get("role", ""))}</div>{_pre(m.get("content", ""))}'
             for m in request.get("messages") or ()]
    if request.get("output") is not None:
        parts.append('<div class="role">output schema</div>' + _pre(_shown(request["output"])))
    answer = response.get("text") or _shown(response.get("data"))
    parts.append('<div class="role">answer</div>' + _pre(answer))
    return f'<details class="call"><summary>{_esc(head)}</summary>{"".join(parts)}</details>'


def _review_table(reviews: list[dict[str, Any]], per_task: bool = False) -> str:
    if not reviews:
        return _none("no reviews")
    cells = "".join(
        "<tr>" + ("" if per_task else f"<td>{_esc(r.get('task_id', ''))}</td>")
        + f"<td class=n>{_esc(r.get('round', ''))}</td>"
        f"<td>{_esc(', '.join(f'{k} {v}' for k, v in (r.get('scores') or {}).items()))}</td>"
        f"<td>{'passed' if r.get('passed') else '<b>rejected</b>'}</td>"
        f"<td>{_esc(_cut(str(r.get('notes') or '')))}</td></tr>" for r in reviews)
    return (f"<table><tr>{'' if per_task else '<th>task</th>'}<th>round</th><th>scores</th>"
            f"<th>verdict</th><th>notes</th></tr>{cells}</table>")


def _versions(versions: list[dict[str, Any]]) -> str:
    if not versions:
        return _none("no plan stored")
    cells, before = [], set()
    for v in versions:
        ids = {t.get("id") for t in (v.get("plan") or {}).get("tasks") or ()}
        delta = f"+{len(ids - before)} -{len(before - ids)}" if before else ""
        cells.append(f"<tr><td class=n>{_esc(v.get('version', ''))}</td>"
                     f"<td>{_esc(v.get('change') or '')}</td><td class=n>{len(ids)}</td>"
                     f"<td>{delta}</td><td>{_esc(v.get('reason') or '')}</td></tr>")
        before = ids
    return ("<table><tr><th>version</th><th>change</th><th>tasks</th><th>added/removed</th>"
            f"<th>reason</th></tr>{''.join(cells)}</table>")


def _usage(calls: list[dict[str, Any]]) -> str:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for c in calls:
        groups.setdefault((f"{c.get('provider', '')}:{c.get('model', '')}",
                           str(c.get("purpose", ""))), []).append(c)
    lines = [("all calls", "", calls), *((m, p, g) for (m, p), g in sorted(groups.items()))]
    cells = []
    for model, purpose, group in lines:
        real = [c for c in group if c.get("source") == "model"]
        costs = [c.get("cost") for c in real]
        known = sum(c for c in costs if c is not None)
        cost = ("unknown" if real and all(c is None for c in costs) else f"${known:.4f}"
                + (f" + unknown ({costs.count(None)} calls)" if None in costs else ""))
        cells.append(
            f"<tr><td>{_esc(model)}</td><td>{_esc(purpose)}</td><td class=n>{len(real)}</td>"
            f"<td class=n>{len(group) - len(real)}</td>"
            f"<td class=n>{sum(c.get('prompt_tokens') or 0 for c in real):,}</td>"
            f"<td class=n>{sum(c.get('completion_tokens') or 0 for c in real):,}</td>"
            f"<td class=n>{sum(c.get('latency_seconds') or 0 for c in real):.2f}s</td>"
            f"<td class=n>{_esc(cost)}</td></tr>")
    return ("<table><tr><th>model</th><th>purpose</th><th>model calls</th><th>from the store"
            "</th><th>tokens in</th><th>tokens out</th><th>latency</th><th>cost</th></tr>"
            + "".join(cells) + "</table><p class=\"muted\">Calls answered from the store "
            "(response cache or a resumed run's journal) spend no tokens and cost nothing.</p>")


def _shown(value: Any) -> str:
    """An output as text: strings as they are, typed values as their type and JSON data."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "$type" in value and "$data" in value:
        return f"{value['$type']}\n" + json.dumps(value["$data"], indent=2, ensure_ascii=False)
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def _pre(text: Any) -> str:
    text = str(text)
    more = len(text) - MAX_TEXT
    note = (f'<p class="cut">… {more:,} more characters not shown (the full text is in '
            "<code>delegate runs export</code>)</p>") if more > 0 else ""
    return f"<pre>{_esc(text[:MAX_TEXT])}</pre>{note}"


def _call_title(data: Mapping[str, Any]) -> str:
    return (f"{data.get('purpose', '')} call · {data.get('model', '')} · "
            f"{data.get('prompt_tokens', 0)}+{data.get('completion_tokens', 0)} tokens · "
            f"{float(data.get('latency_seconds') or 0):.2f}s · {data.get('source', '')}")


def _badge(state: str) -> str:
    colour = COLOURS.get(state, "#6b7280")
    ink = "#111827" if state in ("not started", "retried") else "#fff"
    return f'<span class="badge" style="background:{colour};color:{ink}">{_esc(state)}</span>'


def _when(iso: Any) -> str:
    try:
        return datetime.fromisoformat(str(iso)).strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    except ValueError:
        return str(iso or "-")


def _cut(text: str, limit: int = 2_000) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _none(text: str) -> str:
    return f'<p class="muted">{text}</p>'


def _esc(value: Any) -> str:
    return escape(str(value), quote=True)
