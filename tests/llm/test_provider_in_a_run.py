"""A provider's cut or empty answer inside a run: retried as transient, never passed on to a
dependent, a ``failed`` outcome once retries run out."""

from __future__ import annotations

import asyncio

from delegate import Plan, Task, Worker, run
from delegate.core.retry import RetryPolicy
from delegate.llm.guard import allow_model_requests
from delegate.llm.openai_compat import OpenAICompatModel

from .fakeserver import FakeServer, openai_chat

NO_WAIT = RetryPolicy(max_attempts=3, base_delay=0.0, jitter=0.0)
PLAN = Plan(tasks=(
    Task(id="facts", worker="w", instruction="List facts about Lisbon."),
    Task(id="summary", worker="w", instruction="Summarise the facts.", depends_on=("facts",)),
))


def run_plan(server: FakeServer):
    model = OpenAICompatModel("gpt-test", base_url=server.url + "/v1", api_key="k", timeout=5)

    async def go():
        try:
            return await run("Lisbon", plan=PLAN, workers=[Worker("w", "writes", "Be brief.")],
                             model=model, retry=NO_WAIT, synthesize=False)
        finally:
            await model.aclose()

    with allow_model_requests():
        return asyncio.run(go())


def test_empty_and_cut_answers_are_retried_and_never_reach_a_dependent():
    with FakeServer() as server:
        server.push(openai_chat(""))  # facts, attempt 1: empty
        server.push(openai_chat("Lisbon is the capital of Portugal."), cut=30)  # attempt 2: cut
        server.push(openai_chat("Lisbon is the capital of Portugal."))  # attempt 3
        server.push(openai_chat("A capital."))  # summary
        result = run_plan(server)
    facts, summary = result.outcome("facts"), result.outcome("summary")
    assert (facts.status, facts.attempts) == ("succeeded", 3)
    assert facts.output == "Lisbon is the capital of Portugal."
    assert (summary.status, summary.output) == ("succeeded", "A capital.")
    assert "Lisbon is the capital of Portugal." in str(server.requests[3].body["messages"])


def test_an_answer_empty_on_every_attempt_is_a_failed_outcome():
    with FakeServer() as server:
        for _ in range(3):
            server.push(openai_chat("  "))
        result = run_plan(server)
    facts, summary = result.outcome("facts"), result.outcome("summary")
    assert (facts.status, facts.attempts) == ("failed", 3)
    assert "empty" in facts.error and "\n" not in facts.error
    assert summary.status == "skipped"
    assert len(server.requests) == 3  # the dependent never asked the model
