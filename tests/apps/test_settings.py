"""Every workflow takes the run's RunConfig, and refuses a setting it would not apply."""

import asyncio
import warnings

import pytest

from delegate import RunConfig, ScriptedModel, UsageError
from delegate.apps.analysis import EXAMPLE_CSV, run_analysis
from delegate.apps.blog import run_blog
from delegate.apps.general import run_general
from delegate.apps.project import run_project
from delegate.apps.recommend import recommend
from delegate.apps.report import run_report
from delegate.core.events import EventLog


@pytest.mark.parametrize(("call", "setting"), [
    (lambda c, **kw: run_blog("owls", config=c, **kw), RunConfig(failure_policy="fail_fast")),
    (lambda c, **kw: run_report("owls", config=c, **kw), RunConfig(synthesize=False)),
    (lambda c, **kw: run_project("a bakery", config=c, **kw), RunConfig(strategy="hybrid")),
    (lambda c, **kw: run_analysis(EXAMPLE_CSV, config=c, **kw), RunConfig(max_replans=0)),
    (lambda c, **kw: recommend("a warm jacket", config=c, **kw), RunConfig(strategy="dynamic")),
])
def test_a_setting_the_workflow_would_ignore_is_refused_before_anything_runs(call, setting):
    model, events = ScriptedModel([]), EventLog()
    changed = setting.unsupported(())[0]
    with pytest.raises(UsageError, match=f"does not take: {changed}"):
        asyncio.run(call(setting, model=model, subscribers=[events]))
    assert model.calls == [] and events.events == []


def _most_at_once(max_concurrency: int) -> int:
    """Run the report on two inputs (two analyses that may overlap) and count the most
    model calls in flight at once."""
    running, most = 0, 0
    model = ScriptedModel([])

    async def answer(messages, output=None, settings=None):
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0)
        running -= 1
        raise UsageError("stop here")  # a permanent failure: each task fails at once

    model.request = answer  # type: ignore[method-assign]
    asyncio.run(run_report("owls", inputs=("Owls hunt at night.", "Owls nest in trees."),
                           model=model, reviewer=False,
                           config=RunConfig(max_concurrency=max_concurrency)))
    return most


def test_a_workflow_applies_the_config_it_is_given():
    assert _most_at_once(4) == 2  # the two analyses overlap when allowed
    assert _most_at_once(1) == 1


def test_the_old_keywords_still_reach_the_workflow_with_a_warning():
    model = ScriptedModel([])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(UsageError, match="does not take: failure_policy"):
            asyncio.run(run_blog("owls", model=model, failure_policy="fail_fast"))
    assert any("RunConfig(failure_policy=...)" in str(w.message) for w in caught)
    with pytest.raises(UsageError, match="strategy must be one of"):
        asyncio.run(run_general("owls", model=model, strategy="bogus"))
    with pytest.raises(TypeError, match="max_concurency"):
        asyncio.run(run_blog("owls", model=model, max_concurency=2))
