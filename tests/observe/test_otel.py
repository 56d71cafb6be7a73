"""OpenTelemetry tracing: the span tree of a run, GenAI attributes, opt-in content, errors."""

import asyncio
import io
import json
import sys

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from delegate import Plan, Reviewer, Rubric, ScriptedModel, Task, Worker, run
from delegate.core.retry import RetryPolicy
from delegate.errors import ConfigurationError, ModelServerError, PlanningError
from delegate.limits.budget import Budget
from delegate.llm import Scripted
from delegate.observe.otel import OTelTracing, make_tracer_provider

PLAN = {"tasks": [
    {"id": "t1", "worker": "researcher", "instruction": "find facts", "depends_on": []},
    {"id": "t2", "worker": "writer", "instruction": "write draft", "depends_on": ["t1"]},
]}
WORKERS = [Worker("researcher", "finds facts", "You research."),
           Worker("writer", "writes", "You write.", max_tokens=300)]
CONTENT = ("gen_ai.input.messages", "gen_ai.output.messages", "delegate.review.notes",
           "delegate.plan.reason")


@pytest.fixture
def spans():
    """A provider recording to memory, and a function returning the finished spans."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter.get_finished_spans


def scripted_run(provider, capture_content=False, run_id=None):
    model = ScriptedModel([Scripted(PLAN, 100, 20), Scripted("facts!", 50, 5),
                           Scripted("draft!", 60, 6), Scripted("answer", 70, 7)])
    tracing = OTelTracing(provider, capture_content=capture_content)
    return run("Explain decorators", workers=WORKERS, model=model, subscribers=[tracing],
               run_id=run_id)


def children(parent, spans):
    return [s for s in spans if s.parent is not None
            and s.parent.span_id == parent.context.span_id]


def only(spans, name):
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, [s.name for s in spans]
    return found[0]


def test_a_run_is_one_tree_of_plan_task_and_model_call_spans(spans, caplog):
    provider, finished = spans
    asyncio.run(scripted_run(provider, run_id="r1"))
    got = finished()
    assert not caplog.records  # no span ended twice, no attribute set on an ended span
    roots = [s for s in got if s.parent is None]
    assert [r.name for r in roots] == ["invoke_workflow delegate"]
    root = roots[0]
    assert root.attributes["gen_ai.operation.name"] == "invoke_workflow"
    assert root.attributes["delegate.run.id"] == "r1"
    assert root.attributes["delegate.run.status"] == "succeeded"
    assert root.attributes["delegate.usage.input_tokens"] == 280
    assert {s.context.trace_id for s in got} == {root.context.trace_id}

    top = children(root, got)
    assert sorted(s.name for s in top) == [
        "chat scripted", "invoke_agent researcher", "invoke_agent writer", "plan"]
    plan = only(top, "plan")
    assert plan.attributes["gen_ai.operation.name"] == "plan"
    assert plan.attributes["delegate.plan.tasks"] == 2
    [plan_call] = children(plan, got)
    assert plan_call.attributes["delegate.purpose"] == "plan"

    expected = {"t1": (50, 5), "t2": (60, 6)}
    for name in ("invoke_agent researcher", "invoke_agent writer"):
        task = only(top, name)
        assert task.attributes["gen_ai.operation.name"] == "invoke_agent"
        assert task.attributes["delegate.task.status"] == "succeeded"
        assert task.status.status_code is StatusCode.UNSET
        [call] = children(task, got)
        tokens = (call.attributes["gen_ai.usage.input_tokens"],
                  call.attributes["gen_ai.usage.output_tokens"])
        assert tokens == expected[task.attributes["delegate.task.id"]]

    calls = [s for s in got if s.name == "chat scripted"]
    assert len(calls) == 4
    for call in calls:
        assert call.attributes["gen_ai.operation.name"] == "chat"
        assert call.attributes["gen_ai.provider.name"] == "scripted"
        assert call.attributes["gen_ai.system"] == "scripted"
        assert call.attributes["gen_ai.request.model"] == "scripted"
        assert call.attributes["delegate.source"] == "model"
        assert call.attributes["delegate.cost_usd"] == 0.0  # the scripted model is free
        assert call.start_time <= call.end_time
    assert (plan_call.attributes["gen_ai.usage.input_tokens"],
            plan_call.attributes["gen_ai.usage.output_tokens"]) == (100, 20)
    writer_call = children(only(top, "invoke_agent writer"), got)[0]
    assert writer_call.attributes["gen_ai.request.max_tokens"] == 300
    assert writer_call.attributes["gen_ai.request.temperature"] == 0.0
    synthesis = only(top, "chat scripted")
    assert synthesis.attributes["delegate.purpose"] == "synthesis"
    assert synthesis.attributes["gen_ai.usage.output_tokens"] == 7


def test_content_is_recorded_only_when_asked_for(spans):
    provider, finished = spans
    asyncio.run(scripted_run(provider))
    assert not [k for s in finished() for k in s.attributes if k in CONTENT]


def test_captured_content_follows_the_genai_message_format(spans):
    provider, finished = spans
    asyncio.run(scripted_run(provider, capture_content=True))
    got = finished()
    root = only(got, "invoke_workflow delegate")
    assert json.loads(root.attributes["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Explain decorators"}]}]
    assert json.loads(root.attributes["gen_ai.output.messages"])[0]["parts"][0]["content"] \
        == "answer"
    researcher = only(got, "invoke_agent researcher")
    [call] = children(researcher, got)
    sent = json.loads(call.attributes["gen_ai.input.messages"])
    assert [m["role"] for m in sent] == ["system", "user"]
    assert "find facts" in sent[-1]["parts"][0]["content"]
    assert json.loads(call.attributes["gen_ai.output.messages"]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "facts!"}],
         "finish_reason": "stop"}]
    assert "facts!" in researcher.attributes["gen_ai.output.messages"]


def test_a_failed_task_is_an_error_and_its_retries_are_events(spans):
    provider, finished = spans
    tries = {"flaky": 0}

    async def flaky(ctx):
        tries["flaky"] += 1
        if tries["flaky"] == 1:
            raise ModelServerError("overloaded", status=503)
        return "ok"

    async def broken(ctx):
        raise RuntimeError("disk full")

    async def after(ctx):
        return "never"

    plan = Plan(tasks=(Task(id="a", worker="flaky"), Task(id="b", worker="broken"),
                       Task(id="c", worker="after", depends_on=("b",))))
    result = asyncio.run(run(
        "objective", workers=[flaky, broken, after], plan=plan, synthesize=False,
        retry=RetryPolicy(base_delay=0, jitter=0), subscribers=[OTelTracing(provider)]))
    assert result.status == "partial"
    got = finished()
    by_task = {s.attributes["delegate.task.id"]: s for s in got
               if s.name.startswith("invoke_agent")}
    assert by_task["b"].status.status_code is StatusCode.ERROR
    assert "disk full" in by_task["b"].status.description
    assert by_task["b"].attributes["error.type"] == "RuntimeError"
    assert by_task["a"].status.status_code is StatusCode.UNSET
    assert by_task["a"].attributes["delegate.task.attempts"] == 2
    [retry] = by_task["a"].events
    assert retry.name == "delegate.task.retry" and "overloaded" in retry.attributes[
        "delegate.retry.error"]
    assert by_task["c"].attributes["delegate.task.status"] == "skipped"
    assert by_task["c"].start_time == by_task["c"].end_time  # it never ran
    root = only(got, "invoke_workflow delegate")
    assert root.status.status_code is StatusCode.UNSET  # partial is not an error
    assert {s.parent.span_id for s in by_task.values()} == {root.context.span_id}


def test_concurrent_runs_make_separate_trees(spans):
    provider, finished = spans

    async def both():
        await asyncio.gather(scripted_run(provider, run_id="one"),
                             scripted_run(provider, run_id="two"))

    asyncio.run(both())
    got = finished()
    roots = {s.attributes["delegate.run.id"]: s for s in got if s.parent is None}
    assert sorted(roots) == ["one", "two"]
    assert roots["one"].context.trace_id != roots["two"].context.trace_id
    for run_id, root in roots.items():
        tree = [s for s in got if s.context.trace_id == root.context.trace_id]
        assert len(tree) == 8  # run, plan, two tasks, four model calls
        assert {s.attributes["delegate.run.id"] for s in tree} == {run_id}


def test_a_cancelled_run_ends_all_its_spans(spans):
    provider, finished = spans
    tracing = OTelTracing(provider)
    started = asyncio.Event()

    async def slow(ctx):
        started.set()
        await asyncio.Event().wait()

    async def cancel_it():
        job = asyncio.ensure_future(run(
            "objective", workers=[slow], synthesize=False, subscribers=[tracing],
            plan=Plan(tasks=(Task(id="a", worker="slow"), Task(id="b", worker="slow"),
                             Task(id="c", worker="slow", depends_on=("a",))))))
        await started.wait()
        job.cancel()
        with pytest.raises(asyncio.CancelledError):
            await job

    asyncio.run(cancel_it())
    got = finished()
    assert sorted(s.name for s in got) == ["invoke_agent slow"] * 3 + [
        "invoke_workflow delegate", "plan"]
    root = only(got, "invoke_workflow delegate")
    assert root.status.status_code is StatusCode.ERROR
    assert root.attributes["delegate.run.status"] == "cancelled"
    assert {s.attributes["delegate.task.status"] for s in got
            if s.name.startswith("invoke_agent")} == {"cancelled"}
    assert tracing._runs == {}


def test_the_spans_of_a_run_that_raised_end_with_its_error(spans):
    provider, finished = spans
    tracing = OTelTracing(provider)
    model = ScriptedModel(function=lambda call: "not a plan")
    with pytest.raises(PlanningError):
        asyncio.run(run("objective", workers=WORKERS, model=model, subscribers=[tracing]))
    assert tracing._runs == {}  # the run's RunFinished ended its spans; close() has nothing
    got = finished()
    root = only(got, "invoke_workflow delegate")
    assert root.attributes["error.type"] == "PlanningError"
    assert root.status.description.startswith("PlanningError: no valid plan")
    assert sorted(s.name for s in got if not s.name.startswith("chat")) == [
        "invoke_workflow delegate", "plan"]
    assert all(s.status.status_code is StatusCode.ERROR for s in got
               if not s.name.startswith("chat"))
    plan = only(got, "plan")
    assert children(plan, got) and all(s.name == "chat scripted" for s in children(plan, got))


def test_reviews_are_run_events_and_a_revision_is_its_own_linked_span(spans):
    provider, finished = spans
    verdicts = iter([{"coverage": 2, "tone": 4, "notes": "too thin"},
                     {"coverage": 4, "tone": 4, "notes": "good"}])

    def answer(call):
        if call.output is not None:
            return next(verdicts)
        return "draft"

    asyncio.run(run(
        "essay", workers=[Worker("writer", "writes", "You write.")],
        model=ScriptedModel(function=answer), synthesize=False,
        plan=Plan(tasks=(Task(id="intro", worker="writer", instruction="Write."),)),
        reviewer=Reviewer(Rubric(criteria=("coverage", "tone"), pass_mark=3)),
        subscribers=[OTelTracing(provider)]))
    got = finished()
    root = only(got, "invoke_workflow delegate")
    reviews = [e.attributes for e in root.events if e.name == "delegate.task.reviewed"]
    assert [(r["delegate.review.round"], r["delegate.review.passed"],
             r["delegate.review.score.coverage"]) for r in reviews] == [(1, False, 2), (2, True, 4)]
    assert not any("delegate.review.notes" in r for r in reviews)
    first, revision = sorted((s for s in got if s.name == "invoke_agent writer"),
                             key=lambda s: s.start_time)
    assert revision.attributes["delegate.task.revision"] == 1
    assert [link.context.span_id for link in revision.links] == [first.context.span_id]
    assert revision.parent.span_id == root.context.span_id
    assert [s.attributes["delegate.purpose"] for s in children(root, got)
            if s.name.startswith("chat")] == ["review", "review"]


def test_each_replanning_round_is_a_plan_span_with_its_model_call(spans):
    provider, finished = spans
    extensions = iter([
        {"reason": "needs a check", "tasks": [
            {"id": "t3", "worker": "researcher", "instruction": "check", "depends_on": []}]},
        {"reason": "complete", "tasks": []},
    ])

    def answer(call):
        title = call.output.get("title") if isinstance(call.output, dict) else None
        if title == "Plan":
            return PLAN
        if title == "PlanExtension":
            return next(extensions)
        return "done"

    asyncio.run(run("objective", workers=WORKERS, model=ScriptedModel(function=answer),
                    strategy="dynamic", subscribers=[OTelTracing(provider)]))
    got = finished()
    root = only(got, "invoke_workflow delegate")
    plans = sorted((s for s in got if s.name == "plan"), key=lambda s: s.start_time)
    assert [s.parent.span_id for s in plans] == [root.context.span_id] * 3
    assert [(s.attributes.get("delegate.plan.version"), s.attributes.get("delegate.plan.kept"))
            for s in plans] == [(1, None), (2, None), (None, True)]
    for plan in plans:
        [call] = children(plan, got)
        assert call.attributes["delegate.purpose"] == "plan"
        assert plan.start_time <= call.start_time and call.end_time <= plan.end_time
    tasks = [s.attributes["delegate.task.id"] for s in children(root, got)
             if s.name.startswith("invoke_agent")]
    assert sorted(tasks) == ["t1", "t2", "t3"]


def test_a_reached_budget_is_an_event_on_the_run_span(spans):
    provider, finished = spans
    asyncio.run(run("objective", workers=WORKERS, model=ScriptedModel([]), synthesize=False,
                    plan=Plan(tasks=(Task(id="a", worker="writer", instruction="x"),)),
                    budget=Budget(tokens=1), subscribers=[OTelTracing(provider)]))
    got = finished()
    root = only(got, "invoke_workflow delegate")
    [reached] = [e for e in root.events if e.name == "delegate.budget.reached"]
    assert "token" in reached.attributes["delegate.budget.reason"]
    task = only(got, "invoke_agent writer")
    assert task.status.status_code is StatusCode.ERROR
    assert task.attributes["error.type"] == "BudgetExceeded"


def test_the_missing_extra_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    with pytest.raises(ConfigurationError, match=r"pip install 'delegate\[otel\]'"):
        OTelTracing()


def test_the_console_provider_writes_spans_and_otlp_needs_its_exporter(monkeypatch):
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    out = io.StringIO()
    provider = make_tracer_provider("console", stream=out)
    asyncio.run(scripted_run(provider))
    provider.shutdown()
    assert '"name": "invoke_workflow delegate"' in out.getvalue()
    assert '"service.name": "delegate"' in out.getvalue()
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_PROTOCOL", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", raising=False)
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter",
                        None)
    with pytest.raises(ConfigurationError, match="opentelemetry-exporter-otlp-proto-http"):
        make_tracer_provider("otlp")
    with pytest.raises(ConfigurationError, match="console or otlp"):
        make_tracer_provider("zipkin")
