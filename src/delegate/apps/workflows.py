"""The ready workflows by name, how ``delegate run`` picks one, and their built-in examples.

A small table of lazy import paths (no workflow module is imported until it is used). The
picker reads the words of the request: a guide or an article is a ``blog``, a report is a
``report``, a project plan or roadmap is a ``project``, a CSV file is an ``analysis``; anything
else is ``general``. The choice and the words that made it are returned, so the CLI can show
them; ``--workflow`` overrides it.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError
from ._common.content import WorkflowResult

__all__ = ["WORKFLOWS", "Workflow", "pick_workflow", "run_example", "run_workflow"]


@dataclass(frozen=True)
class Workflow:
    """A workflow's entry: where it lives and what its built-in example is."""

    name: str
    module: str
    function: str
    summary: str
    words: tuple[str, ...] = ()
    settings_module: str = ""

    def load(self) -> Callable[..., Awaitable[Any]]:
        return getattr(importlib.import_module(self.module), self.function)

    def settings(self) -> tuple[str, ...]:
        """The settings of a :class:`~delegate.core.config.RunConfig` the workflow applies
        (its module's ``SETTINGS``)."""
        return importlib.import_module(self.settings_module or self.module).SETTINGS


WORKFLOWS: dict[str, Workflow] = {
    w.name: w
    for w in (
        Workflow("blog", "delegate.apps.blog", "run_blog",
                 "an outline, sections written in parallel, an editor",
                 ("blog", "post", "article", "guide", "tutorial", "essay", "explainer")),
        Workflow("report", "delegate.apps.report", "run_report",
                 "analyses of the inputs, charts, an executive summary",
                 ("report", "briefing", "brief", "memo", "whitepaper")),
        Workflow("analysis", "delegate.apps.analysis", "run_analysis",
                 "a data analysis of a CSV file, numbers computed in Python",
                 ("analyse", "analyze", "analysis", "csv", "dataset")),
        Workflow("project", "delegate.apps.project", "run_project",
                 "requirements, phases, a task breakdown and a critical-path timeline",
                 ("project", "roadmap", "milestones", "timeline", "launch", "schedule")),
        Workflow("general", "delegate.apps.workflows", "run_general_workflow",
                 "any objective, planned over general workers", (),
                 settings_module="delegate.apps.general"),
    )
}
_WORD = re.compile(r"[a-z]+")


def pick_workflow(request: str) -> tuple[str, str]:
    """The workflow for ``request`` and why: the first whose words it uses (a ``.csv`` path
    means analysis), else ``general``."""
    if re.search(r"\S+\.csv\b", request, re.IGNORECASE):
        return "analysis", "the request names a CSV file"
    words = set(_WORD.findall(request.lower()))
    for workflow in WORKFLOWS.values():
        found = sorted(words & set(workflow.words))
        if found:
            return workflow.name, "the request says " + ", ".join(found)
    return "general", "no workflow's words in the request"


async def run_general_workflow(objective: str, *, model: Any = None, config: Any = None,
                               subscribers: Any = (), **options: Any) -> WorkflowResult:
    """The general workflow, returned like the others; ``options`` go to
    :func:`~delegate.apps.general.run_general`."""
    from .general import run_general

    result = await run_general(objective, model=model, config=config, subscribers=subscribers,
                               **options)
    return WorkflowResult("general", objective[:80], result.text, result)


async def run_workflow(name: str, request: str, **options: Any) -> WorkflowResult:
    """Run workflow ``name`` on ``request`` (a topic, a description, or a CSV path)."""
    if name not in WORKFLOWS:
        raise UsageError(f"unknown workflow {name!r}; choose from {', '.join(WORKFLOWS)}")
    return await WORKFLOWS[name].load()(request, **options)


def example_request(name: str) -> tuple[str, dict[str, Any]]:
    """The built-in example input of workflow ``name``, and its extra options."""
    module = importlib.import_module(WORKFLOWS[name].module)
    if name == "blog":
        return module.EXAMPLE_TOPIC, {}
    if name == "report":
        return module.EXAMPLE_TOPIC, {"inputs": module.EXAMPLE_INPUTS}
    if name == "analysis":
        return str(module.EXAMPLE_CSV), {}
    if name == "project":
        return module.EXAMPLE_DESCRIPTION, {"resources": module.EXAMPLE_RESOURCES}
    return "Create a comprehensive guide about Python decorators", {}


async def run_example(name: str, **options: Any) -> WorkflowResult:
    """Run workflow ``name`` on its built-in example."""
    request, extra = example_request(name)
    return await run_workflow(name, request, **{**extra, **options})
