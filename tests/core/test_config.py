"""RunConfig: one frozen set of settings for every run, and the old keywords for one release."""

import asyncio
import dataclasses
import warnings

import pytest

from delegate import Plan, RunConfig, Task, UsageError, run
from delegate.core.events import EventLog, RunFinished

PLAN = Plan(tasks=(Task(id="a", worker="slow"), Task(id="b", worker="slow"),
                   Task(id="c", worker="slow")))


def test_a_config_is_frozen_and_checks_every_setting_with_its_name():
    config = RunConfig(max_concurrency=2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.max_concurrency = 3  # type: ignore[misc]
    bad = [dict(max_concurrency=0), dict(max_concurrency=1.5), dict(max_concurrency=True),
           dict(task_timeout=0), dict(task_timeout=float("nan")), dict(call_timeout=-1),
           dict(failure_policy="stop"), dict(strategy="greedy"), dict(max_replans=-1),
           dict(retry=3)]
    for settings in bad:
        name = next(iter(settings))
        with pytest.raises(UsageError, match=name):
            RunConfig(**settings)
    assert config.replace(strategy="hybrid").strategy == "hybrid"
    assert config.replace(strategy="hybrid").max_concurrency == 2


def test_the_call_timeout_never_outlives_the_task_timeout():
    assert RunConfig(task_timeout=5, call_timeout=300).effective_call_timeout == 5
    assert RunConfig(task_timeout=5, call_timeout=None).effective_call_timeout == 5
    assert RunConfig(task_timeout=None, call_timeout=None).effective_call_timeout is None
    assert RunConfig(task_timeout=60, call_timeout=10).effective_call_timeout == 10


def _counting_workers():
    state = {"running": 0, "most": 0}

    async def slow(ctx):  # yields once while running: without a limit all three overlap
        state["running"] += 1
        state["most"] = max(state["most"], state["running"])
        await asyncio.sleep(0)
        state["running"] -= 1
        return ctx.task.id

    return slow, state


def test_run_takes_its_settings_from_the_config():
    slow, state = _counting_workers()
    events = EventLog()
    result = asyncio.run(run("three tasks", workers=[slow], plan=PLAN, subscribers=[events],
                             config=RunConfig(max_concurrency=1, synthesize=False)))
    assert result.status == "succeeded" and result.text == ""  # synthesize=False: no model
    assert state["most"] == 1  # max_concurrency=1 held
    assert len(events.of(RunFinished)) == 1


def test_the_old_keywords_still_work_with_a_deprecation_warning_naming_the_field():
    slow, state = _counting_workers()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = asyncio.run(run("three tasks", workers=[slow], plan=PLAN,
                                 max_concurrency=1, synthesize=False))
    assert result.status == "succeeded" and state["most"] == 1
    (warning,) = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert "RunConfig(max_concurrency=..., synthesize=...)" in str(warning.message)


def test_an_old_keyword_applies_over_the_config_and_an_unknown_one_is_a_type_error():
    slow, state = _counting_workers()
    with pytest.warns(DeprecationWarning):
        asyncio.run(run("x", workers=[slow], plan=PLAN, max_concurrency=1,
                        config=RunConfig(max_concurrency=3, synthesize=False)))
    assert state["most"] == 1
    with pytest.raises(TypeError, match="max_concurency"):
        asyncio.run(run("x", workers=[slow], plan=PLAN, max_concurency=1))
    with pytest.raises(UsageError, match="config must be a RunConfig"):
        asyncio.run(run("x", workers=[slow], plan=PLAN, config={"max_concurrency": 1}))


def test_a_bad_setting_passed_the_old_way_is_refused_before_anything_runs():
    slow, state = _counting_workers()
    events = EventLog()
    with pytest.warns(DeprecationWarning), pytest.raises(UsageError, match="max_concurrency"):
        asyncio.run(run("x", workers=[slow], plan=PLAN, max_concurrency=0,
                        subscribers=[events]))
    assert events.events == [] and state["most"] == 0
