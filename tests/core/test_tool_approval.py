"""A tool that requires approval: a person approves the call with its arguments, edits them
(checked against the tool's schema; refused edits asked again) or rejects it with a reason
the model reads."""

from __future__ import annotations

import asyncio
import json

import pytest

from delegate import Plan, Task, Worker, run
from delegate.core.tools import Tool
from delegate.llm.scripted import ScriptedModel

sent: list[tuple[str, int]] = []


def send_refund(customer: str, amount: int) -> str:
    """Refund a customer."""
    sent.append((customer, amount))
    return f"refunded {amount} to {customer}"


REFUND = Tool.from_callable(send_refund, requires_approval=True)
PLAN = Plan(tasks=(Task(id="t1", worker="clerk", instruction="Refund Ana 30."),))


def go(answers):
    """Run the clerk; the model calls the tool once, then answers with what it read."""
    sent.clear()
    seen, prompts = [], []
    answers = list(answers)

    def model_answer(call):
        prompts.append(call.last_user)
        if not any("Result of send_refund" in m.content for m in call.messages):
            return {"tool": "send_refund", "arguments": {"customer": "Ana", "amount": 30}}
        result = next(m.content for m in reversed(call.messages)
                      if "Result of send_refund" in m.content)
        return {"answer": result}

    async def handler(interrupt):
        seen.append(interrupt)
        return answers.pop(0)

    clerk = Worker("clerk", "handles refunds", "You handle refunds.", tools=[REFUND])
    result = asyncio.run(run("Refunds", workers=[clerk], plan=PLAN, synthesize=False,
                             model=ScriptedModel(function=model_answer), on_interrupt=handler))
    return result, seen


def test_an_approved_call_runs_with_the_models_arguments():
    result, seen = go([{"action": "approve"}])
    assert sent == [("Ana", 30)]
    [asked] = seen
    assert asked.id == "tool:t1:1:1" and asked.kind == "tool_approval"
    assert asked.payload["tool"] == "send_refund"
    assert asked.payload["arguments"] == {"customer": "Ana", "amount": 30}
    assert "refunded 30 to Ana" in result.outcomes[0].output


def test_edited_arguments_are_checked_and_a_bad_edit_is_asked_again():
    result, seen = go([{"action": "edit", "arguments": {"customer": "Ana", "amount": "lots"}},
                       {"action": "edit", "arguments": {"customer": "Ana", "amount": 25}}])
    assert [i.id for i in seen] == ["tool:t1:1:1", "tool:t1:1:2"]
    assert "amount" in seen[1].error
    assert sent == [("Ana", 25)]  # called once, with the person's arguments
    assert "refunded 25 to Ana" in result.outcomes[0].output


def test_a_rejected_call_is_not_made_and_the_model_reads_the_reason():
    result, _ = go([{"action": "reject", "reason": "Ana was refunded last week"}])
    assert sent == []
    assert "a person rejected the call: Ana was refunded last week" in \
        result.outcomes[0].output


def test_a_tool_needing_approval_with_nobody_to_ask_fails_its_task_not_silently():
    clerk = Worker("clerk", "handles refunds", "You handle refunds.", tools=[REFUND])
    model = ScriptedModel(function=lambda call: {"tool": "send_refund",
                                                 "arguments": {"customer": "Ana", "amount": 1}})
    sent.clear()
    result = asyncio.run(run("Refunds", workers=[clerk], plan=PLAN, synthesize=False,
                             model=model))
    assert result.outcomes[0].status == "failed" and sent == []
    assert "needs a person's approval" in result.outcomes[0].error


@pytest.mark.parametrize("answer", [{"action": "maybe"}, "yes", {"action": "edit"}])
def test_answers_that_are_not_an_approval_are_refused_by_check_answer(answer):
    from delegate.core.interrupts import check_answer
    from delegate.errors import UsageError

    with pytest.raises(UsageError):
        check_answer({"kind": "tool_approval", "payload": {}}, answer)
    assert json.dumps(answer)
