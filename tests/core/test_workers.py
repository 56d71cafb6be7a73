"""Declaring workers three ways, the prompts they send, tools, and per-worker models."""

import asyncio

import pytest
from pydantic import BaseModel

from delegate import (
    Plan,
    Scheduler,
    ScriptedModel,
    Task,
    UsageError,
    Worker,
    WorkerRegistry,
    worker,
)


class Verdict(BaseModel):
    score: int
    reason: str


class Critic(Worker):
    name = "critic"
    description = "Judges drafts"
    instructions = "You are a strict critic."
    output_schema = Verdict


def one(worker_name: str, **kw) -> Plan:
    return Plan(tasks=(Task(id="t", worker=worker_name, instruction="judge the draft", **kw),))


def test_class_declared_worker_returns_a_validated_object_and_sends_its_prompt():
    model = ScriptedModel([{"score": 4, "reason": "clear"}])
    result = asyncio.run(Scheduler([Critic()], model=model).run(one("critic"), objective="obj"))
    assert result.outcome("t").output == Verdict(score=4, reason="clear")
    call = model.calls[0]
    assert call.messages[0].content == "You are a strict critic."
    assert "Overall objective: obj" in call.last_user and "judge the draft" in call.last_user
    assert call.output is Verdict


def test_task_output_schema_overrides_with_a_json_schema():
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    model = ScriptedModel([{"n": 3}])
    plain = Worker("w", "d", "i")
    result = asyncio.run(Scheduler([plain], model=model).run(one("w", output_schema=schema)))
    assert result.outcome("t").output == {"n": 3}


def test_invalid_structured_output_fails_the_task_honestly():
    model = ScriptedModel([{"score": "high"}])
    result = asyncio.run(Scheduler([Critic()], model=model).run(one("critic")))
    outcome = result.outcome("t")
    assert outcome.status == "failed" and outcome.output is None
    assert "OutputValidationError" in outcome.error


def test_decorated_function_worker_and_registry_rules():
    @worker(description="Adds")
    async def add(ctx):
        return ctx.shared["a"] + ctx.shared["b"]

    assert (add.name, add.description, add.uses_model) == ("add", "Adds", False)
    result = asyncio.run(Scheduler([add]).run(one("add"), shared={"a": 1, "b": 2}))
    assert result.outcome("t").output == 3
    with pytest.raises(UsageError, match="two workers"):
        WorkerRegistry([add, add])
    with pytest.raises(UsageError):
        WorkerRegistry([lambda ctx: 1])
    with pytest.raises(UsageError):
        Worker("bad name!", "d")


def test_each_worker_may_use_its_own_model():
    default, special = ScriptedModel(["from default"]), ScriptedModel(["from special"])
    plan = Plan(tasks=(Task(id="a", worker="plain"), Task(id="b", worker="fancy")))
    workers = [Worker("plain", "d", "i"), Worker("fancy", "d", "i", model=special)]
    result = asyncio.run(Scheduler(workers, model=default, max_concurrency=1).run(plan))
    assert result.outputs == {"a": "from default", "b": "from special"}


def test_tools_are_called_with_validated_arguments():
    seen = []

    def price_of(product: str, quantity: int = 1) -> float:
        """Looks up a price."""
        seen.append((product, quantity))
        return 12.5 * quantity

    model = ScriptedModel([
        {"tool": "price_of", "arguments": {"product": "tent", "quantity": "two"}},  # invalid
        {"tool": "price_of", "arguments": {"product": "tent", "quantity": 2}},
        {"answer": "Two tents cost 25.0"},
    ])
    w = Worker("shop", "d", "i", tools=[price_of])
    result = asyncio.run(Scheduler([w], model=model).run(one("shop")))
    assert result.outcome("t").output == "Two tents cost 25.0"
    assert seen == [("tent", 2)]
    assert "invalid arguments" in model.calls[1].last_user
    assert "Result of price_of: 25.0" in model.calls[2].last_user
    assert "price_of: Looks up a price." in model.calls[0].last_user


def test_tool_steps_are_bounded():
    def noop() -> str:
        return "nothing"

    model = ScriptedModel([{"tool": "noop", "arguments": {}}] * 3)
    w = Worker("loop", "d", "i", tools=[noop])
    w.max_tool_steps = 2
    result = asyncio.run(Scheduler([w], model=model).run(one("loop")))
    assert result.outcome("t").status == "failed"
    assert "2 tool calls without giving an answer" in result.outcome("t").error


def test_a_workers_settings_keep_their_temperature_under_the_token_cap():
    from delegate.llm.base import ModelSettings

    warm = Worker("w", "d", "i", max_tokens=50, settings=ModelSettings(temperature=0.7, seed=3))
    assert warm.model_settings() == ModelSettings(temperature=0.7, seed=3, max_tokens=50)
    assert warm.model_settings(max_tokens=9).max_tokens == 9
    capped = Worker("w", "d", "i", max_tokens=None, settings=ModelSettings(max_tokens=40))
    assert capped.model_settings().max_tokens == 40  # no cap of the worker's: the settings' stays
