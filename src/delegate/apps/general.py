"""The general workflow: any objective, planned over four general workers.

The orchestrator chooses which of ``researcher``, ``analyst``, ``writer`` and ``critic`` the
objective needs and how they depend on each other; the synthesizer writes the answer. If the
model cannot produce a valid plan, :func:`fallback_plan` (research, then analysis, then a
draft) runs, and the result's planning report says so.
"""

from __future__ import annotations

from typing import Any

from ..orchestrator import Orchestrator
from ..outcomes import RunResult
from ..plan import Plan, Task
from ..runner import run
from ..workers import Worker, WorkerRegistry

__all__ = ["fallback_plan", "general_workers", "run_general"]


def general_workers() -> WorkerRegistry:
    """The four general workers."""
    return WorkerRegistry([
        Worker(
            "researcher",
            "Gathers the facts, definitions and examples the objective needs.",
            "You are a careful researcher. List the key facts, definitions and concrete "
            "examples needed for the task, as short bullet points. Do not invent sources.",
            max_tokens=300,
        ),
        Worker(
            "analyst",
            "Organises findings: compares options, explains how and why, draws conclusions.",
            "You are an analyst. Organise the material into the main points, explain how they "
            "relate, and state the conclusions they support, in short paragraphs.",
            max_tokens=400,
        ),
        Worker(
            "writer",
            "Writes a clear, structured draft (guide, article, summary) from the material.",
            "You are a technical writer. Write a clear, well-structured Markdown draft with "
            "headings and examples, using the material you are given.",
            max_tokens=600,
        ),
        Worker(
            "critic",
            "Reviews a draft for errors, gaps and unclear parts, and lists fixes.",
            "You are a demanding reviewer. List the errors, gaps and unclear passages in the "
            "material, each with a concrete fix.",
            max_tokens=300,
        ),
    ])


def fallback_plan(objective: str) -> Plan:
    """Research, analyse, write: what runs when the model gives no valid plan."""
    return Plan(tasks=(
        Task(id="research", worker="researcher",
             instruction=f"Gather the key facts and examples for: {objective}"),
        Task(id="analyse", worker="analyst", depends_on=("research",),
             instruction="Organise the findings into the main points and conclusions."),
        Task(id="draft", worker="writer", depends_on=("research", "analyse"),
             instruction=f"Write a clear, structured answer to: {objective}"),
    ))


async def run_general(objective: str, **options: Any) -> RunResult:
    """Run ``objective`` through the general workflow; options go to :func:`delegate.run`."""
    options.setdefault("fallback_plan", fallback_plan)
    options.setdefault("orchestrator", Orchestrator(max_plan_tasks=5))
    return await run(objective, workers=general_workers(), **options)
