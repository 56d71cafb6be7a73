"""The model stack's one order, shown by what each layer sees: replay and cache, then the
budget, then the call timeout and the rate limit, then metering and pricing, then output
repair inside the provider. Each test would fail if two layers swapped places."""

import asyncio

import pytest

from delegate.core.events import EventBus, EventLog, ModelCalled, RunStarted
from delegate.durable.journal import Journal
from delegate.durable.store.memory import MemoryStore
from delegate.errors import BudgetExceeded
from delegate.limits.budget import Budget
from delegate.limits.pricing import Price, PriceTable
from delegate.limits.ratelimit import Limiters, RateLimit
from delegate.llm import Scripted, ScriptedModel
from delegate.llm.base import Message, ModelSettings
from delegate.llm.guard import allow_model_requests
from delegate.llm.openai_compat import OpenAICompatModel
from delegate.runtime import ModelStack
from tests.llm.fakeserver import ASK, City, FakeServer, openai_chat

LIMIT = {"scripted": RateLimit(requests_per_minute=100, tokens_per_minute=100_000)}
ASKED = [Message.user("Write the opening line.")]


def stack(bus=None, **kw):
    return ModelStack("run", bus or EventBus(), **kw)


def layers(model):
    names = []
    while model is not None:
        names.append(type(model).__name__)
        model = getattr(model, "wrapped", None)
    return names


def test_the_layers_come_in_one_order():
    full = stack(journal=Journal.start(MemoryStore()), budget=Budget(tokens=10_000),
                 limiters=Limiters(LIMIT)).wrap(ScriptedModel(), "a", "task")
    assert layers(full) == ["ReplayModel", "BudgetedModel", "TimeoutModel",
                            "RateLimitedModel", "MeteredModel", "ScriptedModel"]
    bare = stack(call_timeout=None).wrap(ScriptedModel())  # only what applies
    assert layers(bare) == ["MeteredModel", "ScriptedModel"]


def test_a_cached_answer_costs_no_budget_and_no_rate_limit_room():
    store, model = MemoryStore(), ScriptedModel(["It was a quiet morning."])

    limiter = (limiters := Limiters(LIMIT)).limiter("scripted", LIMIT["scripted"])

    async def one_call(meter, journal):
        await journal.open()
        journal(RunStarted(run_id=journal.run_id, objective="x"))
        try:
            return await meter.wrap(model, "a").request(ASKED), limiter.in_window()
        finally:
            await journal.close("succeeded")

    first = Journal.start(store)
    _, before = asyncio.run(one_call(stack(journal=first, limiters=limiters), first))
    assert before[0] == 1  # the model's answer took its room
    again = Journal.start(store)
    meter = stack(journal=again, budget=Budget(tokens=5), limiters=limiters)
    response, after = asyncio.run(one_call(meter, again))  # the budget fits no real call
    assert response.text == "It was a quiet morning." and len(model.calls) == 1
    assert meter.usage.cache_hits == 1 and meter.usage.model_calls == 0
    assert meter.budget_reached is None and meter.guard.reserved_tokens == 0
    assert after == before  # the hit took no room in the window
    with pytest.raises(BudgetExceeded):  # what the same stack does with a call it must make
        asyncio.run(meter.wrap(model, "a").request([Message.user("Another line.")]))


def test_a_budget_refusal_comes_before_the_rate_limiter_is_asked():
    limiters = Limiters(LIMIT)
    limiter = limiters.limiter("scripted", LIMIT["scripted"])
    model = ScriptedModel([Scripted("ok", prompt_tokens=10, completion_tokens=100)])
    settings = ModelSettings(max_tokens=100)  # a call reserves its prompt and 100 tokens

    async def main():
        meter = stack(budget=Budget(tokens=150), limiters=limiters)
        await meter.wrap(model).request(ASKED, settings=settings)  # fits; the limiter counts it
        assert limiter.in_window()[0] == 1
        with pytest.raises(BudgetExceeded):  # 110 used: a second reservation does not fit
            await meter.wrap(model).request(ASKED, settings=settings)
        return meter, limiter.in_window()[0], limiter.waiting

    meter, requests, waiting = asyncio.run(main())
    assert requests == 1 and waiting == 0  # the limiter never heard of the refused call
    assert len(model.calls) == 1 and meter.budget_reached.startswith("token budget")


def test_a_repaired_answer_is_metered_once_with_all_its_attempts_tokens():
    log = EventLog()
    limiters = Limiters({"openai": RateLimit(tokens_per_minute=100_000)})
    prices = PriceTable({"openai": Price(input=1.0, output=2.0)})
    meter = stack(EventBus((log,)), prices=prices, limiters=limiters,
                  budget=Budget(tokens=100_000))
    with FakeServer() as server:
        server.push(openai_chat("Lisbon, about half a million", prompt_tokens=11,
                                completion_tokens=4))
        server.push(openai_chat('{"name": "Lisbon", "population": 545000}', prompt_tokens=20,
                                completion_tokens=9))
        provider = OpenAICompatModel("gpt-test", base_url=server.url, api_key="test-key")

        limiter = limiters.limiter("openai", RateLimit(tokens_per_minute=100_000))

        async def main():
            try:
                answer = await meter.wrap(provider, "city").request(ASK, output=City)
                return answer, limiter.in_window()
            finally:
                await provider.aclose()

        with allow_model_requests():
            response, window = asyncio.run(main())
    assert response.data.population == 545000 and len(server.requests) == 2
    [called] = log.of(ModelCalled)  # one call for the run, two on the wire
    assert (called.prompt_tokens, called.completion_tokens) == (31, 13)
    assert called.cost_usd == pytest.approx((31 * 1.0 + 13 * 2.0) / 1_000_000)
    assert meter.usage.model_calls == 2 and meter.usage.total_tokens == 44
    assert meter.guard.reserved_tokens == 0  # settled after metering counted the call
    assert window == (1, 44)  # one request, settled to every attempt's tokens
