"""Budgets: the run stops before the call that would go over, and says what is missing."""

import asyncio

import pytest

from delegate import Plan, ScriptedModel, Synthesizer, Task, Worker, run, worker
from delegate.core.events import BudgetReached, EventLog
from delegate.errors import UsageError
from delegate.limits.budget import Budget
from delegate.limits.pricing import Price, PriceTable, load_prices
from delegate.llm import ScriptedCall
from delegate.llm.base import Message, ModelSettings
from delegate.llm.scripted import Scripted
from delegate.runtime import Runtime

PLAN = Plan(tasks=(
    Task(id="a", worker="writer", instruction="Write part A."),
    Task(id="b", worker="writer", instruction="Write part B."),
    Task(id="c", worker="writer", instruction="Join the parts.", depends_on=("a", "b")),
))
WRITER = Worker("writer", "writes", "You write.", max_tokens=50)


def costly(call: ScriptedCall):
    """Every call costs 100 prompt and 50 completion tokens, whatever it says."""
    return Scripted(f"answer {call.index}", prompt_tokens=100, completion_tokens=50)


def test_the_run_stops_before_the_call_that_would_go_over_and_says_what_is_missing():
    model = ScriptedModel(function=costly)
    events = EventLog()
    # a and b: 150 tokens each (300); c's call would need its prompt plus 50 more: over 350
    result = asyncio.run(run("Write a thing", workers=[WRITER], model=model, plan=PLAN,
                             budget=Budget(tokens=350), max_concurrency=1,
                             subscribers=[events]))
    assert len(model.calls) == 2  # a and b; c was refused before it reached the model
    assert result.usage.total_tokens == 300 <= 350
    assert [o.status for o in result.outcomes] == ["succeeded", "succeeded", "failed"]
    assert "BudgetExceeded" in result.outcome("c").error
    assert result.budget_reached.startswith("token budget of 350 reached: 300 used")
    assert [e.reason for e in events.of(BudgetReached)] == [result.budget_reached]
    assert result.status == "partial"
    # the synthesis would go over too: the answer is the completed work, and what is missing
    assert "answer 0" in result.text and "answer 1" in result.text
    assert "## Missing" in result.text and "c (writer): failed" in result.text
    assert any("assembled without a model" in n for n in result.notes)
    assert result.to_dict()["budget_reached"] == result.budget_reached


def test_the_synthesizer_writes_from_the_completed_work_when_its_call_fits():
    model = ScriptedModel(function=costly)
    big = Worker("writer", "writes", "You write.", max_tokens=200)
    # a, b: 300 used; c may need 200 more than its prompt: refused under 450; the synthesis
    # (a short prompt and 20 tokens) still fits
    result = asyncio.run(run(
        "Write a thing", workers=[big], model=model, plan=PLAN, max_concurrency=1,
        budget=Budget(tokens=450), synthesizer=Synthesizer(max_tokens=20)))
    assert len(model.calls) == 3 and result.outcome("c").status == "failed"
    assert result.text == "answer 2"  # the model wrote it
    synthesis = model.calls[-1].last_user
    assert "The run stopped early (token budget of 450 reached" in synthesis
    assert "c (writer): failed" in synthesis and "answer 0" in synthesis
    assert result.usage.total_tokens == 450


@pytest.mark.parametrize("policy", ["finish", "cancel"])
def test_in_flight_work_finishes_or_is_cancelled_and_nothing_new_starts(policy):
    gate = asyncio.Event()

    @worker("spender", description="two costly calls")
    async def spender(ctx):
        for _ in range(2):
            await ctx.model.request([Message.user("spend")], settings=ModelSettings(max_tokens=50))
        return "spent"

    @worker("waiter", description="waits for the budget to run out")
    async def waiter(ctx):
        await gate.wait()
        return "waited"

    def open_gate(event):
        if isinstance(event, BudgetReached):
            gate.set()

    plan = Plan(tasks=(
        Task(id="spend", worker="spender"), Task(id="wait", worker="waiter"),
        Task(id="later", worker="waiter"),
    ))
    result = asyncio.run(run(
        "Spend", workers=[spender, waiter], model=ScriptedModel(function=costly), plan=plan,
        budget=Budget(tokens=200, on_exceed=policy), max_concurrency=2, synthesize=False,
        subscribers=[open_gate]))
    statuses = {o.task_id: o.status for o in result.outcomes}
    assert statuses["spend"] == "failed"  # its second call was refused
    assert statuses["wait"] == ("succeeded" if policy == "finish" else "cancelled")
    assert statuses["later"] == "skipped"  # queued behind the limit: never started
    assert result.outcome("later").error.startswith("not started: token budget of 200")


def test_the_time_budget_stops_a_run_that_is_waiting():
    @worker("sleeper", description="never finishes by itself")
    async def sleeper(ctx):
        await asyncio.Event().wait()

    result = asyncio.run(run(
        "Wait", workers=[sleeper], plan=Plan(tasks=(Task(id="s", worker="sleeper"),)),
        budget=Budget(seconds=0.05, on_exceed="cancel"), synthesize=False))
    assert result.outcome("s").status == "cancelled"
    assert result.budget_reached == "time budget of 0.05s reached"


def test_costs_come_from_the_runtime_price_table_and_a_dollar_budget_needs_a_price():
    table = PriceTable({"scripted": Price(input=2.0, output=10.0)})

    async def priced(**kw):
        async with Runtime(prices=table):
            return await run("Write a thing", workers=[WRITER], plan=PLAN,
                             model=ScriptedModel(function=costly), synthesize=False, **kw)

    result = asyncio.run(priced())
    # three calls of 100 in and 50 out: 3 * (100 * 2 + 50 * 10) / 1e6 dollars
    assert result.usage.cost_usd == pytest.approx(3 * 700 / 1e6)
    stopped = asyncio.run(priced(max_concurrency=1, budget=Budget(usd=0.0015)))
    assert stopped.budget_reached.startswith("dollar budget of $0.0015 reached")
    assert stopped.usage.cost_usd <= 0.0015
    table = PriceTable({})
    with pytest.raises(UsageError, match="needs the price of scripted"):
        asyncio.run(priced(budget=Budget(usd=1.0)))
    # the table is the runtime's, not the process's: a run outside it prices from defaults
    plain = asyncio.run(run("Write a thing", workers=[WRITER], plan=PLAN,
                            model=ScriptedModel(function=costly), synthesize=False))
    assert plain.usage.cost_usd == 0  # the default table prices the scripted model at 0


def test_bad_budgets_and_price_files_are_usage_errors(tmp_path):
    for bad in ({"tokens": 0}, {"usd": -1}, {"seconds": 0}, {"on_exceed": "panic"}):
        with pytest.raises(UsageError):
            Budget(**bad)
    path = tmp_path / "prices.json"
    path.write_text('{"openai:gpt-x": {"input": 1, "output": "lots"}}')
    with pytest.raises(UsageError, match="openai:gpt-x"):
        load_prices(path)
    path.write_text('{"openai:gpt-x": {"input": 1, "output": 4}}')
    assert load_prices(path) == {"openai:gpt-x": Price(1.0, 4.0)}
    with pytest.raises(UsageError, match="no prices file"):
        load_prices(tmp_path / "missing.json")
