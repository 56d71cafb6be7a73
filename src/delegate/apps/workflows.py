"""The ready workflows by name, how ``delegate run`` picks one, and their built-in examples.

A small table of lazy import paths (no workflow module is imported until it is used). The
picker reads the request: one that names a ``.csv`` file is an ``analysis`` (the only workflow
that needs a file, so the words "analyse" or "dataset" alone do not pick it); otherwise a guide
or an article is a ``blog``, a report is a ``report``, a project plan or roadmap is a
``project``; anything else is ``general``. The choice and what made it are returned, so the CLI
can show them; ``--workflow`` overrides it. An analysis request is split by
:func:`csv_request` into the CSV path and the question the rest of it asks.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError
from ._common.content import WorkflowResult

__all__ = ["WORKFLOWS", "Workflow", "csv_request", "pick_workflow", "run_example",
           "run_workflow"]


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
                 "a data analysis of a CSV file, numbers computed in Python"),
        Workflow("project", "delegate.apps.project", "run_project",
                 "requirements, phases, a task breakdown and a critical-path timeline",
                 ("project", "roadmap", "milestones", "timeline", "launch", "schedule")),
        Workflow("general", "delegate.apps.workflows", "run_general_workflow",
                 "any objective, planned over general workers", (),
                 settings_module="delegate.apps.general"),
    )
}
_WORD = re.compile(r"[a-z]+")
#: A ``.csv`` path in a request: quoted (it may hold spaces), or a run of non-space
#: characters; a closing punctuation mark is not part of it.
_CSV_PATH = re.compile(r"""(?:"([^"]+?\.csv)"|'([^']+?\.csv)'|(?<!\S)(\S*?\.csv))"""
                       r"""(?=$|[\s,;:!?)]|\.(?:\s|$))""", re.IGNORECASE)
#: Words that say nothing beyond "analyse this file": a request of only these asks no question.
_NO_QUESTION = {"analyse", "analyze", "analysis", "please", "the", "this", "a", "an", "of",
                "file", "csv", "data", "dataset"}


def csv_request(request: str) -> tuple[str, str]:
    """The CSV path an analysis request names and the question the rest of it asks.

    The whole request is the path when a file of that name exists or it names no ``.csv``
    path; otherwise the first ``.csv`` path in it is, and the request is the question, with
    the path written as the file's name (no question when it only says to analyse the file:
    "analyse sales.csv").
    """
    text = request.strip()
    found = _CSV_PATH.search(text)
    if found is None or os.path.lexists(text):
        return text, ""
    path = next(g for g in found.groups() if g)
    rest = text[:found.start()] + " " + text[found.end():]
    if set(_WORD.findall(rest.lower())) <= _NO_QUESTION:
        return path, ""
    # the file's name stays in the question, so that it still reads as written
    return path, " ".join((text[:found.start()] + os.path.basename(path)
                           + text[found.end():]).split())


def pick_workflow(request: str) -> tuple[str, str]:
    """The workflow for ``request`` and why: ``analysis`` when it names a ``.csv`` path, else
    the first whose words it uses, else ``general``."""
    if _CSV_PATH.search(request):
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
    """Run workflow ``name`` on ``request`` (a topic, a description, or for ``analysis`` a
    request naming a CSV file, split by :func:`csv_request` unless ``question`` is given)."""
    if name not in WORKFLOWS:
        raise UsageError(f"unknown workflow {name!r}; choose from {', '.join(WORKFLOWS)}")
    if name == "analysis" and "question" not in options:
        request, options["question"] = csv_request(request)
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
