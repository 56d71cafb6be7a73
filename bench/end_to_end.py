"""Bench 5, end to end: the recommend and blog workflows on the embedded default model.

Reported per workflow: wall time of the whole call, model calls, tokens, and the wall time
against the critical path of its model calls.

**The critical path of the model calls.** Calls do not name the calls they waited for, so
the path is built from what the run declares. A ``ModelCalled`` event carries the call's
purpose (``plan``, ``task``, ``review``, ``synthesis``), its task and its latency. In the
order the events arrive, consecutive calls of the same purpose form a *phase*; phases run one
after another (planning, then the plan's tasks, then a review round, then the rewrites it
asked for, then the next round, the held-back tasks, synthesis), as both workflows run
them. A phase lasts:

* tasks (first passes, or rewrites): the longest chain through the plan's dependencies
  (``result.plan``), each task weighing the sum of its calls in that phase (a task without a
  call weighs nothing);
* a review round: its longest call (a round reviews its tasks concurrently);
* planning, synthesis: the sum of their calls (they are sequential).

The critical path is the sum of the phases. Two weights are reported: a call's latency as
the ``ModelCalled`` event gives it (``[at - latency, at]``, the brief's definition, which
includes any wait for a free model instance: the pool has ``min(2, cores)``), and its service
time, the time a llama.cpp instance spent on it (measured by a subclass of
:class:`~delegate.llm.local.LocalModel` that only records when its inference thread starts
and ends). The second path is what unlimited model capacity would allow; the gap between
the two is the machine's capacity, not the orchestrator.

Per subprocess (one workflow, one repetition): load every model instance and the catalog
(one-time costs of a process), then time one call of the workflow.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness import fmt_stat, markdown_table, stat

__all__ = ["BLOG_TOPIC", "RECOMMEND_QUERY", "Phase", "cases", "call_critical_path",
           "match_service", "measure", "phases_of", "report"]

RECOMMEND_QUERY = ("I need a warm waterproof jacket for winter hiking under $250; show me "
                   "some alternatives too. Does your lifetime repair guarantee cover a torn "
                   "zipper?")
BLOG_TOPIC = "Getting started with trail running"
WORKFLOWS = ("recommend", "blog")


def cases(quick: bool = False) -> list[dict[str, Any]]:
    return [{"workflow": w} for w in WORKFLOWS]


@dataclass
class Phase:
    """Consecutive model calls of one purpose."""

    kind: str
    calls: list[Any] = field(default_factory=list)


def phases_of(calls: Sequence[Any]) -> list[Phase]:
    """Split ``ModelCalled`` events, in the order they arrived, into phases."""
    phases: list[Phase] = []
    for call in calls:
        if not phases or phases[-1].kind != call.purpose:
            phases.append(Phase(call.purpose))
        phases[-1].calls.append(call)
    return phases


def phase_length(phase: Phase, plan: Any, weight: Callable[[Any], float]) -> float:
    """How long ``phase`` takes at least; see the module docstring."""
    if phase.kind == "task":
        cost = {t.id: 0.0 for t in plan.tasks}
        loose = 0.0  # calls of tasks the final plan does not hold (none in these workflows)
        for call in phase.calls:
            if call.task_id in cost:
                cost[call.task_id] += weight(call)
            else:
                loose = max(loose, weight(call))
        return max(max(plan.critical_path(cost).values(), default=0.0), loose)
    if phase.kind == "review":
        return max(weight(c) for c in phase.calls)
    return sum(weight(c) for c in phase.calls)


def call_critical_path(calls: Sequence[Any], plan: Any,
                       weight: Callable[[Any], float] | None = None) -> float:
    """The critical path of the model calls (seconds); ``weight`` defaults to latency."""
    weight = weight or (lambda c: c.latency_seconds)
    return sum(phase_length(p, plan, weight) for p in phases_of(calls))


def match_service(calls: Sequence[Any], spans: Sequence[tuple[float, float]]) -> dict[int, float]:
    """Pair each call (by ``id``) with the inference span that ended last before its event
    (``at``); returns the span's length per call. Spans are ``(start, end)`` epoch seconds."""
    left = sorted(spans, key=lambda s: s[1])
    out: dict[int, float] = {}
    for call in sorted(calls, key=lambda c: c.at):
        best = None
        for i, (_, end) in enumerate(left):
            if end <= call.at + 1e-3:
                best = i
            else:
                break
        if best is None:
            raise ValueError(f"no inference span ends before the call at {call.at}")
        start, end = left.pop(best)
        out[id(call)] = end - start
    return out


def _timed_model() -> Any:
    """``local:default`` exactly as the registry builds it, recording inference spans."""
    from delegate.llm.local import LocalModel, default_model_path, default_pool_size

    class TimedLocalModel(LocalModel):
        spans: list[tuple[float, float]]

        def _complete(self, kwargs: dict[str, Any], cancel: Any) -> dict[str, Any]:
            start = time.time()
            try:
                return super()._complete(kwargs, cancel)
            finally:
                self.spans.append((start, time.time()))

    model = TimedLocalModel(default_model_path(), name="default", pool_size=default_pool_size())
    model.spans = []
    return model


async def _run(workflow: str, model: Any, subscriber: Callable[[Any], None]) -> tuple[Any, str]:
    if workflow == "recommend":
        from delegate.apps.recommend.workflow import recommend

        rec = await recommend(RECOMMEND_QUERY, model=model, subscribers=[subscriber])
        return rec.result, RECOMMEND_QUERY
    if workflow == "blog":
        from delegate.apps.blog.workflow import run_blog

        post = await run_blog(BLOG_TOPIC, model=model, subscribers=[subscriber])
        return post.run, BLOG_TOPIC
    raise ValueError(f"unknown workflow {workflow!r}")


def measure(workflow: str, rep: int = 0) -> dict[str, Any]:
    """Runs in the subprocess; see the module docstring."""
    from delegate.apps.recommend.catalog import default_catalog, load_text
    from delegate.core.events import ModelCalled
    from delegate.llm import Message, ModelSettings

    model = _timed_model()
    default_catalog()
    for name in ("brand_voice.md", "company.md", "guarantee.md"):
        load_text(name)
    events: list[Any] = []

    async def main() -> tuple[Any, str, float]:
        warm = ModelSettings(max_tokens=4)
        await asyncio.gather(*[model.request([Message.user("Hello")], settings=warm)
                               for _ in range(model.pool_size)])
        model.spans.clear()
        start = time.perf_counter()
        result, prompt = await _run(workflow, model, events.append)
        return result, prompt, time.perf_counter() - start

    result, prompt, wall = asyncio.run(main())
    calls = [e for e in events if isinstance(e, ModelCalled) and e.source == "model"]
    service = match_service(calls, model.spans)
    cp = call_critical_path(calls, result.plan)
    cp_service = call_critical_path(calls, result.plan, lambda c: service[id(c)])
    phases = [{"kind": p.kind, "calls": len(p.calls),
               "latency_s": phase_length(p, result.plan, lambda c: c.latency_seconds),
               "service_s": phase_length(p, result.plan, lambda c: service[id(c)])}
              for p in phases_of(calls)]
    usage = result.usage
    return {
        "bench": "end_to_end", "workflow": workflow, "rep": rep, "input": prompt,
        "status": result.status, "tasks": [t.id for t in result.plan.tasks],
        "pool_size": model.pool_size, "wall_s": wall, "run_wall_s": result.wall_seconds,
        "model_calls": usage.model_calls, "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "calls_latency_sum_s": sum(c.latency_seconds for c in calls),
        "calls_service_sum_s": sum(service.values()),
        "critical_path_s": cp, "critical_path_service_s": cp_service,
        "ratio": wall / cp, "ratio_service": wall / cp_service, "phases": phases,
    }


def report(records: list[dict[str, Any]]) -> tuple[str, str, dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        groups[r["workflow"]].append(r)
    summary: dict[str, Any] = {}
    rows = []
    for workflow in WORKFLOWS:
        rs = groups.get(workflow)
        if not rs:
            continue
        s = {k: stat(r[k] for r in rs) for k in (
            "wall_s", "model_calls", "prompt_tokens", "completion_tokens", "critical_path_s",
            "critical_path_service_s", "calls_latency_sum_s", "ratio", "ratio_service")}
        summary[workflow] = s
        rows.append([workflow, fmt_stat(s["wall_s"]), fmt_stat(s["model_calls"], ".0f"),
                     f"{fmt_stat(s['prompt_tokens'], '.0f')} / "
                     f"{fmt_stat(s['completion_tokens'], '.0f')}",
                     fmt_stat(s["calls_latency_sum_s"]), fmt_stat(s["critical_path_s"]),
                     fmt_stat(s["ratio"], ".3f"), fmt_stat(s["critical_path_service_s"]),
                     fmt_stat(s["ratio_service"], ".2f")])
    table = markdown_table(
        ["workflow", "wall, s", "model calls", "tokens in / out", "calls' latencies summed, s",
         "critical path (latency), s", "wall / critical path", "critical path (service), s",
         "wall / service path"], rows)
    phase_rows = []
    for workflow in WORKFLOWS:
        for r in groups.get(workflow, [])[:1]:
            for p in r["phases"]:
                phase_rows.append([workflow, p["kind"], p["calls"], f"{p['latency_s']:.2f}",
                                   f"{p['service_s']:.2f}"])
    phases = markdown_table(["workflow (first repetition)", "phase", "calls",
                             "length by latency, s", "length by service, s"], phase_rows)
    return table, phases, summary
