"""OpenTelemetry traces of runs, built from their events (the ``otel`` extra).

:class:`OTelTracing` is an event subscriber: pass it to :func:`delegate.run` (``subscribers=``)
and each run becomes one trace. The core never imports OpenTelemetry; this module does so only
when a subscriber is built, and says ``pip install 'delegate[otel]'`` when it is missing.

Spans follow the OpenTelemetry GenAI semantic conventions (development status, as of semconv
v1.41: ``invoke_workflow``, ``plan``, ``invoke_agent`` and inference spans; ``gen_ai.provider.name``
with the deprecated ``gen_ai.system`` beside it for older backends)::

    invoke_workflow delegate      the run: RunStarted -> RunFinished
    ├── plan                      planning: RunStarted -> first PlanCreated
    │   └── chat {model}          its model calls
    ├── invoke_agent {worker}     a task: first TaskStarted -> TaskEnded; retries are span events
    │   └── chat {model}          the task's model calls
    ├── plan                      a replan: first planning call -> PlanCreated (or, when the
    │   └── chat {model}          plan was kept, the end of its last call)
    ├── invoke_agent {worker}     a revision sent back by the reviewer: TaskStarted -> TaskRevised,
    │                             linked to the task's first span
    └── chat {model}              review and synthesis calls

A :class:`~delegate.core.events.ModelCalled` event arrives when its call is over, so a ``chat`` span
is drawn afterwards from ``at - latency_seconds`` to ``at``. Reviewer verdicts and a reached
budget are events on the run span (a task's span has ended by the time it is reviewed). A task
that never started (skipped, cancelled before it ran, restored from a journal) gets a
zero-length span, so every task has exactly one.

Content (the objective, prompts, outputs, review notes, plan reasons) is recorded only with
``capture_content=True``, as JSON strings in ``gen_ai.input.messages`` and
``gen_ai.output.messages`` (the current conventions; the older per-message span events are not
emitted). Token counts, models, settings, statuses and error messages are always recorded.

:func:`make_tracer_provider` (from :mod:`delegate.observe.otel_provider`, re-exported here)
builds a provider that exports the spans.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._version import __version__
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
from ..errors import ConfigurationError
from .otel_provider import OTEL_EXTRA, make_tracer_provider

if TYPE_CHECKING:
    from opentelemetry import trace as otel_trace
    from opentelemetry.trace import Span, SpanContext

    from ..core.outcomes import TaskOutcome

__all__ = ["OTelTracing", "make_tracer_provider"]


@dataclass
class _Run:
    """The open spans of one run."""

    run_id: str
    span: Span
    planning: Span | None = None  # the open plan span
    planned: bool = False  # the first plan exists: a later plan span is a replan
    last_plan_call: float = 0.0  # end of the latest planning call (where a kept replan ends)
    tasks: dict[str, Span] = field(default_factory=dict)  # open task and revision spans
    first: dict[str, SpanContext] = field(default_factory=dict)  # each ended task's span


class OTelTracing:
    """Turns a run's events into OpenTelemetry spans; see the module docstring for the tree.

    Args:
        tracer_provider: where spans go; ``None`` uses the global provider (a no-op until the
            application sets one, e.g. with :func:`make_tracer_provider`).
        capture_content: also record prompts, outputs and the objective (opt-in: they may
            hold personal or secret data).

    Raises:
        ConfigurationError: OpenTelemetry is not installed.

    One instance can watch several runs at once; each run id gets its own trace, under
    whatever span is current when the run starts. :meth:`close` ends the spans of a run
    that stopped without a ``RunFinished`` event (a run stopped from outside; every run of
    :func:`delegate.run` and the workflows ends with one, failed runs included).
    """

    def __init__(self, tracer_provider: otel_trace.TracerProvider | None = None, *,
                 capture_content: bool = False) -> None:
        try:
            from opentelemetry import trace
        except ImportError as exc:
            raise ConfigurationError(
                f"OpenTelemetry tracing needs the otel extra: {OTEL_EXTRA}") from exc
        self._trace = trace
        self._tracer = trace.get_tracer("delegate", __version__, tracer_provider=tracer_provider)
        self.capture_content = capture_content
        self._runs: dict[str, _Run] = {}

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self._start_run(event)
            return
        run = self._runs.get(event.run_id)
        if run is None:
            return  # a run that started before this subscriber was attached
        planning = isinstance(event, PlanCreated) or (
            isinstance(event, ModelCalled) and event.purpose == "plan")
        if run.planned and run.planning is not None and not planning:
            self._end_plan(run, None, run.last_plan_call)  # the replan kept the plan
        match event:
            case ModelCalled():
                self._model_call(run, event)
            case PlanCreated():
                if run.planning is None:  # a new version made without a model call
                    run.planning = self._child(run, "plan", event.at, {})
                self._end_plan(run, event, event.at)
            case TaskStarted():
                self._start_task(run, event)
            case TaskRetried(task_id=tid) if tid in run.tasks:
                run.tasks[tid].add_event("delegate.task.retry", {
                    "delegate.task.attempt": event.attempt, "delegate.retry.error": event.error,
                    "delegate.retry.delay_seconds": event.delay}, timestamp=_ns(event.at))
            case TaskEnded():
                self._end_task(run, event.outcome, event.at)
            case TaskRevised():
                self._end_task(run, event.outcome, event.at, revision=event.round)
            case TaskReviewed(review=review):
                attrs = {"delegate.task.id": event.task_id,
                         "delegate.review.round": review.round,
                         "delegate.review.passed": review.passed,
                         **{f"delegate.review.score.{k}": v for k, v in review.scores.items()}}
                if self.capture_content:
                    attrs["delegate.review.notes"] = review.notes
                run.span.add_event("delegate.task.reviewed", attrs, timestamp=_ns(event.at))
            case BudgetReached():
                run.span.add_event("delegate.budget.reached", {"delegate.budget.reason":
                                   event.reason}, timestamp=_ns(event.at))
            case RunFinished():
                self._end_run(run, event)

    def close(self, reason: str = "the run ended without a RunFinished event") -> None:
        """End every span still open, as errors, for runs that never finished."""
        for run in self._runs.values():
            self._abandon(run, reason, time.time())
            run.span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, reason))
            run.span.end()
        self._runs.clear()

    # spans

    def _child(self, run: _Run, name: str, at: float, attrs: dict[str, Any],
               parent: Span | None = None, *, client: bool = False,
               links: Iterable[SpanContext] = ()) -> Span:
        trace = self._trace
        if name == "plan":
            attrs = {"gen_ai.operation.name": "plan", **attrs}
        return self._tracer.start_span(
            name, context=trace.set_span_in_context(run.span if parent is None else parent),
            kind=trace.SpanKind.CLIENT if client else trace.SpanKind.INTERNAL,
            attributes={**attrs, "delegate.run.id": run.run_id}, start_time=_ns(at),
            links=[trace.Link(c) for c in links])

    def _start_run(self, event: RunStarted) -> None:
        attrs: dict[str, Any] = {"gen_ai.operation.name": "invoke_workflow",
                                 "gen_ai.workflow.name": "delegate",
                                 "delegate.run.id": event.run_id}
        if self.capture_content:
            attrs["gen_ai.input.messages"] = _messages([("user", event.objective)])
        span = self._tracer.start_span("invoke_workflow delegate", attributes=attrs,
                                       start_time=_ns(event.at))
        run = self._runs[event.run_id] = _Run(event.run_id, span)
        run.planning = self._child(run, "plan", event.at, {})

    def _end_plan(self, run: _Run, event: PlanCreated | None, at: float) -> None:
        span, run.planning = run.planning, None
        assert span is not None
        if event is None:
            span.set_attribute("delegate.plan.kept", True)
        else:
            span.set_attributes({"delegate.plan.version": event.plan.version,
                                 "delegate.plan.tasks": len(event.plan.tasks),
                                 "delegate.plan.source": event.source})
            if event.reason and self.capture_content:
                span.set_attribute("delegate.plan.reason", event.reason)
            run.planned = True
        span.end(end_time=_ns(at))

    def _model_call(self, run: _Run, event: ModelCalled) -> None:
        start = event.at - event.latency_seconds
        if event.purpose == "plan":
            if run.planning is None:  # the first call of a replanning round
                run.planning = self._child(run, "plan", start, {})
            parent, run.last_plan_call = run.planning, event.at
        else:
            parent = run.tasks.get(event.task_id, run.span)
        provider, _, model = event.model.partition(":")
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": provider,
            "gen_ai.system": provider, "gen_ai.request.model": model,
            "gen_ai.usage.input_tokens": event.prompt_tokens,
            "gen_ai.usage.output_tokens": event.completion_tokens,
            "delegate.purpose": event.purpose, "delegate.source": event.source,
        }
        if event.task_id:
            attrs["delegate.task.id"] = event.task_id
        if event.notes:
            attrs["delegate.notes"] = list(event.notes)
        if event.cost_usd is not None:  # no GenAI convention for cost yet
            attrs["delegate.cost_usd"] = event.cost_usd
        if (settings := event.settings) is not None:
            for key in ("temperature", "max_tokens", "top_p", "seed"):
                if (value := getattr(settings, key)) is not None:
                    attrs[f"gen_ai.request.{key}"] = value
        if self.capture_content:
            attrs["gen_ai.input.messages"] = _messages((m.role, m.content)
                                                       for m in event.messages)
            if event.response is not None:
                invalid = any(n.startswith("invalid output") for n in event.notes)
                attrs["gen_ai.output.messages"] = _messages(
                    [("assistant", event.response.text)], "error" if invalid else "stop")
        span = self._child(run, f"chat {model}".strip(), start, attrs, parent, client=True)
        span.end(end_time=_ns(event.at))

    def _start_task(self, run: _Run, event: TaskStarted) -> None:
        span = run.tasks.get(event.task_id)
        if span is not None:  # a later attempt; TaskRetried said why
            span.set_attribute("delegate.task.attempts", event.attempt)
            return
        run.tasks[event.task_id] = self._task_span(run, event.task_id, event.worker, event.at)

    def _task_span(self, run: _Run, task_id: str, worker: str, at: float) -> Span:
        first = run.first.get(task_id)  # set: this is a revision of a finished task
        return self._child(run, f"invoke_agent {worker}", at, {
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": worker,
            "delegate.task.id": task_id}, links=[first] if first else ())

    def _end_task(self, run: _Run, outcome: TaskOutcome, at: float,
                  revision: int | None = None) -> None:
        span = run.tasks.pop(outcome.task_id, None)
        if span is None:  # never started: skipped, cancelled early, restored from a journal
            span = self._task_span(run, outcome.task_id, outcome.worker, at)
        span.set_attributes({"delegate.task.status": outcome.status,
                             "delegate.task.attempts": outcome.attempts})
        if revision is not None:
            span.set_attribute("delegate.task.revision", revision)
        if outcome.status in ("failed", "timed_out"):
            span.set_attribute("error.type", outcome.error_type or outcome.status)
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR,
                                               outcome.error or outcome.status))
        if self.capture_content and outcome.ok and outcome.output is not None:
            span.set_attribute("gen_ai.output.messages",
                               _messages([("assistant", _text(outcome.output))], "stop"))
        span.end(end_time=_ns(at))
        run.first.setdefault(outcome.task_id, span.get_span_context())

    def _end_run(self, run: _Run, event: RunFinished) -> None:
        del self._runs[run.run_id]
        result = event.result
        status = getattr(result, "status", "cancelled")
        self._abandon(run, f"the run ended ({status}) first", event.at)
        span = run.span
        if result is not None:
            usage = result.usage
            span.set_attributes({  # not gen_ai.usage.*: backends add those up over spans
                "delegate.run.status": status, "delegate.usage.model_calls": usage.model_calls,
                "delegate.usage.input_tokens": usage.prompt_tokens,
                "delegate.usage.output_tokens": usage.completion_tokens,
                "delegate.usage.cache_hits": usage.cache_hits,
                "delegate.usage.cost_usd": usage.cost_usd})
            if self.capture_content and result.text:
                span.set_attribute("gen_ai.output.messages",
                                   _messages([("assistant", result.text)], "stop"))
        error = getattr(result, "error", None)
        if status in ("failed", "cancelled"):
            span.set_attribute("error.type", error.split(":")[0] if error else status)
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR,
                                               error or f"run {status}"))
        span.end(end_time=_ns(event.at))

    def _abandon(self, run: _Run, reason: str, at: float) -> None:
        error = self._trace.Status(self._trace.StatusCode.ERROR, reason)
        for span in (run.planning, *run.tasks.values()):
            if span is not None:
                span.set_status(error)
                span.end(end_time=_ns(at))
        run.planning = None
        run.tasks.clear()


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


def _messages(pairs: Iterable[tuple[str, str]], finish_reason: str | None = None) -> str:
    """GenAI input/output messages as JSON text parts; ``finish_reason`` marks outputs
    (delegate's model interface reports none, so ``stop`` means the call returned)."""
    end = {"finish_reason": finish_reason} if finish_reason else {}
    return json.dumps([{"role": role, "parts": [{"type": "text", "content": text}], **end}
                       for role, text in pairs], ensure_ascii=False)


def _text(output: Any) -> str:
    if isinstance(output, str):
        return output
    dump = getattr(output, "model_dump_json", None)
    return dump() if dump else json.dumps(output, ensure_ascii=False, default=str)
