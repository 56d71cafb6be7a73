"""The whole pattern with a scripted model: plan, run, synthesise, usage, and bad input."""

import asyncio

import pytest

from delegate import Plan, ScriptedModel, Task, UsageError, Worker, run
from delegate.apps.general import fallback_plan, general_workers, run_general
from delegate.errors import ModelRequestError
from delegate.llm import Scripted


def test_general_workflow_end_to_end_with_usage():
    plan = {"tasks": [
        {"id": "t1", "worker": "researcher", "instruction": "facts", "depends_on": []},
        {"id": "t2", "worker": "writer", "instruction": "draft", "depends_on": ["t1"]},
    ]}
    model = ScriptedModel([
        Scripted(plan, 100, 20), Scripted("facts!", 50, 5), Scripted("draft!", 60, 6),
        Scripted("answer", 70, 7),
    ])
    result = asyncio.run(run_general("Explain decorators", model=model))
    assert result.status == "succeeded" and result.text == "answer"
    assert result.usage.as_dict() == {
        "model_calls": 4, "prompt_tokens": 280, "completion_tokens": 38, "cache_hits": 0,
        "cost_usd": 0.0, "unpriced_calls": 0,
    }
    writer_prompt = model.calls[2].last_user
    assert "facts!" in writer_prompt and "Explain decorators" in writer_prompt
    synth_prompt = model.calls[3].last_user
    assert "facts!" in synth_prompt and "draft!" in synth_prompt


def test_synthesizer_is_told_what_is_missing():
    plan = Plan(tasks=(Task(id="a", worker="w", instruction="x"),
                       Task(id="b", worker="w", instruction="y")))

    def answer(call):
        if "Your task: x" in call.last_user:
            return ModelRequestError("refused", status=400)
        return "fine"

    model = ScriptedModel(function=answer)
    w = Worker("w", "d", "i")
    result = asyncio.run(run("objective", workers=[w], model=model, plan=plan))
    assert result.status == "partial"
    assert "a (w): failed, ModelRequestError: refused" in model.calls[-1].last_user


def test_nothing_succeeded_means_no_synthesis_call():
    async def broken(ctx):
        raise RuntimeError("no")

    model = ScriptedModel([])
    result = asyncio.run(run("objective", workers=[broken], model=model,
                             plan=Plan(tasks=(Task(id="a", worker="broken"),))))
    assert result.status == "failed"
    assert "No task succeeded" in result.text and model.calls == []


def test_plain_functions_need_no_model():
    async def double(ctx):
        return ctx.shared["n"] * 2

    result = asyncio.run(run("double it", workers=[double], synthesize=False,
                             plan=Plan(tasks=(Task(id="a", worker="double"),)),
                             shared={"n": 21}))
    assert result.outcome("a").output == 42 and result.usage.model_calls == 0


@pytest.mark.parametrize("objective", ["", "   ", "x" * 20_001])
def test_bad_objectives_are_refused_before_anything_runs(objective):
    model = ScriptedModel([])
    with pytest.raises(UsageError):
        asyncio.run(run(objective, workers=general_workers(), model=model))
    assert model.calls == []


def test_fallback_plan_is_valid_for_the_general_workers():
    from delegate import validate_plan

    validate_plan(fallback_plan("anything"), general_workers())
