"""What the journal stores of a model call's answer, a task's outcome and a run's end."""

from pydantic import BaseModel

from delegate import Plan, Task
from delegate.core.outcomes import RunResult, TaskOutcome
from delegate.durable.codec import decode
from delegate.durable.replay import fingerprint
from delegate.durable.stored import call_response, outcome_data, run_summary
from delegate.errors import OutputValidationError
from delegate.llm.base import ModelResponse, Usage


class Verdict(BaseModel):
    score: int


TASK = Task(id="a", worker="writer", instruction="Write part A.")


def tagged(value):
    """A stand-in for the journal's redactor that shows which values went through it."""
    return ("clean", value)


def test_a_call_answer_is_stored_with_its_data_as_json_and_its_tokens():
    response = ModelResponse(text='{"score": 3}', data=Verdict(score=3), model="scripted:x",
                             notes=("repaired once",),
                             usage=Usage(prompt_tokens=10, completion_tokens=4,
                                         latency_seconds=0.5))
    stored = call_response(response)
    assert stored == {"text": '{"score": 3}', "data": {"score": 3}, "model": "scripted:x",
                      "notes": ["repaired once"],
                      "usage": {"prompt_tokens": 10, "completion_tokens": 4,
                                "latency_seconds": 0.5}}


def test_an_answer_that_failed_validation_is_stored_with_its_failure():
    error = OutputValidationError("no score", provider="scripted", model="x", output="hi")
    stored = call_response(ModelResponse(text="hi"), error)
    assert stored["error"] == {"type": "OutputValidationError", "message": "no score",
                               "provider": "scripted", "model": "x"}


def test_a_succeeded_outcome_is_restorable_and_its_output_decodes_to_the_same_object():
    outcome = TaskOutcome("a", "writer", "succeeded", attempts=1, output=Verdict(score=3))
    data = outcome_data(outcome, {"status": "succeeded"}, TASK, lambda value: value)
    assert data["restorable"] is True and data["task"] == fingerprint(TASK)
    assert decode(data["output"]) == Verdict(score=3)
    assert data["status"] == "succeeded" and "why_not_restorable" not in data


def test_an_output_with_no_json_form_is_stored_as_its_repr_and_not_restorable():
    outcome = TaskOutcome("a", "writer", "succeeded", output={1: "a key that is no string"})
    data = outcome_data(outcome, {}, TASK, tagged)
    assert data["restorable"] is False
    assert data["output"] == ("clean", repr({1: "a key that is no string"}))
    assert "not strings" in data["why_not_restorable"]


def test_a_failed_outcome_stores_no_output_and_an_unknown_task_no_fingerprint():
    outcome = TaskOutcome("a", "writer", "failed", error="boom", error_type="ValueError",
                          output="partial")
    data = outcome_data(outcome, {"error": "boom"}, None, tagged)
    assert data["output"] is None and data["restorable"] is False and data["task"] is None
    assert data["error_type"] == "ValueError" and data["error"] == "boom"


def test_a_run_summary_holds_how_it_ended_with_the_wall_time_rounded():
    result = RunResult(run_id="r", plan=Plan(tasks=(TASK,)), outcomes=(), status="partial",
                       usage=Usage(model_calls=2, prompt_tokens=7), wall_seconds=1.23456,
                       budget_reached="tokens", error="ran out")
    summary = run_summary(result)
    assert summary == {"status": "partial", "error": "ran out", "budget_reached": "tokens",
                       "usage": result.usage.as_dict(), "wall_seconds": 1.235}
