"""What crosses a process boundary survives pickling: every public exception with its fields,
outcomes and results, every event, and the executor seam's spec and result."""

import dataclasses
import inspect
import pickle

import pytest

from delegate import errors
from delegate.core import events
from delegate.core.hooks import AttemptResult, AttemptSpec
from delegate.core.interrupts import plan_interrupt
from delegate.core.outcomes import PlanningReport, RunResult, TaskOutcome
from delegate.core.plan import Plan, Task, validate_plan
from delegate.core.review import TaskReview
from delegate.core.strategies import PlanVersion
from delegate.core.workers import DependencyResult, Revision
from delegate.llm.base import Message, ModelResponse, ModelSettings, Usage

#: one instance of every public exception, with every structured field it has
ERRORS = {
    "DelegateError": errors.DelegateError("base"),
    "UsageError": errors.UsageError("bad input"),
    "ConfigurationError": errors.ConfigurationError("set DELEGATE_MODEL"),
    "PlanError": errors.PlanError(["duplicate task id 'a'", "a cycle"]),
    "ModelRequestsDisallowed": errors.ModelRequestsDisallowed("no real calls in tests"),
    "RunNotFound": errors.RunNotFound("no run 'abc'"),
    "RunLocked": errors.RunLocked("owned by another process"),
    "InterruptNotFound": errors.InterruptNotFound("no interrupt 'plan:1' in run 'abc'"),
    "AlreadyAnswered": errors.AlreadyAnswered(
        "answered by ann", run_id="abc", interrupt_id="plan:1", status="answered",
        answered_by="ann"),
    "RunError": errors.RunError("failed"),
    "PlanningError": errors.PlanningError("no plan"),
    "TaskTimeout": errors.TaskTimeout("t1", 2.5),
    "StoreError": errors.StoreError("unreachable"),
    "RunWaiting": errors.RunWaiting("waiting for an answer", interrupt_id="plan:1"),
    "ServerError": errors.ServerError("no run 'abc'", code="not_found", status=404),
    "BudgetExceeded": errors.BudgetExceeded("over 1000 tokens"),
    "ModelError": errors.ModelError("failed", provider="openai", model="m", status=418),
    "TransientModelError": errors.TransientModelError("again", retry_after=1.5, status=502),
    "RateLimitError": errors.RateLimitError("slow", retry_after=3, provider="p", status=429),
    "ModelServerError": errors.ModelServerError("down", status=503),
    "ModelConnectionError": errors.ModelConnectionError("refused", provider="local"),
    "ModelTimeoutError": errors.ModelTimeoutError("no answer", model="m"),
    "IncompleteResponseError": errors.IncompleteResponseError("cut off", retry_after=None),
    "ModelRequestError": errors.ModelRequestError("too long", status=400),
    "UnexpectedModelError": errors.UnexpectedModelError("KeyError: 'x'", provider="anthropic"),
    "OutputValidationError": errors.OutputValidationError(
        "not json", output="{", usage=Usage(model_calls=1, prompt_tokens=5), provider="local"),
}

PLAN = validate_plan(Plan(tasks=(
    Task(id="a", worker="w", instruction="first", expected_seconds=2.0),
    Task(id="b", worker="w", depends_on=("a",), priority=3, output_schema={"type": "object"}),
)))
FAILED = TaskOutcome("b", "w", "failed", 2, 1.0, 2.0, "ValueError: no", "ValueError",
                     error_info=errors.ErrorInfo("ValueError", "no"))
DONE = TaskOutcome("a", "w", "succeeded", 1, 1.0, 1.5, output={"text": "x", "n": [1, 2]})
RESULT = RunResult(
    run_id="r1", plan=PLAN, outcomes=(DONE, FAILED), status="partial", text="answer",
    usage=Usage(model_calls=2, prompt_tokens=10, completion_tokens=4, cost_usd=0.01),
    planning=PlanningReport("repaired", 1, "a cycle"), wall_seconds=3.0, notes=("n",),
    reviews=(TaskReview("a", 1, {"accuracy": 4}, True, "fine"),),
    plan_versions=(PlanVersion(1, PLAN, "first", "initial"),), budget_reached="tokens",
    error=None, usage_by_purpose={"task": Usage(model_calls=2)},
)

#: a value for each field name an event may have
FIELDS = {
    "run_id": "r1", "at": 1.0, "objective": "goal", "plan": PLAN, "source": "model",
    "reason": "why", "task_id": "a", "worker": "w", "attempt": 2, "error": "E: x",
    "delay": 0.5, "purpose": "task", "model": "scripted:m", "prompt_tokens": 3,
    "completion_tokens": 4, "latency_seconds": 0.1, "notes": ("repaired",), "cost_usd": 0.2,
    "messages": (Message.user("hi"),), "response": ModelResponse("hello", model="scripted:m"),
    "settings": ModelSettings(max_tokens=5), "outcome": FAILED,
    "review": TaskReview("a", 1, {}, False, "redo", ("short",), 0.5), "round": 1,
    "kept": False, "note": "not better", "result": RESULT,
    "interrupt": plan_interrupt(PLAN), "interrupt_id": "plan:1",
    "answer": {"action": "edit", "plan": {"tasks": [{"id": "a", "worker": "w"}]}},
    "by": "ana",
}


def _same_exception(copy: BaseException, original: BaseException) -> None:
    assert type(copy) is type(original)
    assert str(copy) == str(original) and copy.args == original.args
    assert copy.__dict__ == original.__dict__


def test_every_public_exception_is_covered():
    public = {name for name in errors.__all__
              if inspect.isclass(getattr(errors, name))
              and issubclass(getattr(errors, name), BaseException)}
    assert public == set(ERRORS)


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_every_public_exception_round_trips_with_its_fields(name):
    original = ERRORS[name]
    _same_exception(pickle.loads(pickle.dumps(original)), original)
    info = errors.ErrorInfo.of(original)
    assert pickle.loads(pickle.dumps(info)) == info
    rebuilt = info.exception()
    assert type(rebuilt) is type(original) and str(rebuilt) == str(original)
    _same_exception(pickle.loads(pickle.dumps(rebuilt)), rebuilt)


@pytest.mark.parametrize("value", [DONE, FAILED, PlanningReport("rules", 0, "one worker"),
                                   RESULT, PLAN])
def test_outcomes_results_and_plans_round_trip(value):
    copy = pickle.loads(pickle.dumps(value))
    assert copy == value and type(copy) is type(value)


def test_a_plan_pickles_without_its_cached_graph():
    copy = pickle.loads(pickle.dumps(PLAN))
    assert "_graph" not in copy.__dict__ and copy.dependents() == {"a": ["b"], "b": []}
    assert pickle.dumps(PLAN) == pickle.dumps(Plan(tasks=PLAN.tasks))


def _event_classes():
    return [getattr(events, name) for name in events.__all__
            if inspect.isclass(getattr(events, name))
            and issubclass(getattr(events, name), events.Event)]


@pytest.mark.parametrize("cls", _event_classes(), ids=lambda cls: cls.__name__)
def test_every_event_round_trips(cls):
    event = cls(**{f.name: FIELDS[f.name] for f in dataclasses.fields(cls)})
    copy = pickle.loads(pickle.dumps(event))
    assert copy == event and type(copy) is cls


def test_the_executor_seam_round_trips():
    spec = AttemptSpec("r1", "goal", PLAN.tasks[1], (DependencyResult("a", "w", {"x": 1}),),
                       {"k": [1, 2]}, "w", "openai:gpt", 2, Revision("more", "old", 1))
    assert pickle.loads(pickle.dumps(spec)) == spec
    for result in (AttemptResult(output={"x": 1}), AttemptResult(error=FAILED.error_info)):
        assert pickle.loads(pickle.dumps(result)) == result
