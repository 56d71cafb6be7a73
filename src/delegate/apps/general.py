"""The general workflow: any objective, planned over four general workers.

The orchestrator chooses which of ``researcher``, ``analyst``, ``writer`` and ``critic`` the
objective needs and how they depend on each other; the synthesizer writes the answer. If the
model cannot produce a valid plan, :func:`fallback_plan` (research, then analysis, then a
draft) runs, and the result's planning report says so.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from ..core.config import RunConfig, config_from
from ..core.orchestrator import Orchestrator
from ..core.outcomes import RunResult
from ..core.plan import Plan, Task, without_tasks
from ..core.synthesis import Synthesizer
from ..core.workers import Worker, WorkerRegistry
from ..errors import IncompleteResponseError
from ..runner import run
from ._common.prompts import prompts
from ._common.prose import PROSE_SETTINGS, whole_sentences

__all__ = ["SETTINGS", "GeneralOrchestrator", "fallback_plan", "general_workers", "run_general"]


PROMPTS = prompts("general")  # the workers' prompts, as data in prompts/general.toml
_WORKERS = (
    ("researcher", "Gathers the facts, definitions and examples the objective needs.", 300),
    ("analyst", "Organises findings: compares options, explains how and why, draws "
     "conclusions.", 400),
    ("writer", "Writes a clear, structured draft (guide, article, summary) from the material.",
     600),
    ("critic", "Reviews a draft for errors, gaps and unclear parts, and lists fixes.", 300),
)


def general_workers() -> WorkerRegistry:
    """The four general workers, writing prose with :data:`PROSE_SETTINGS`."""
    return WorkerRegistry([
        Worker(name, description, PROMPTS[name].instructions(), max_tokens=cap,
               settings=PROSE_SETTINGS)
        for name, description, cap in _WORKERS])


#: The prompt's own framing, which a small model repeats: the results' headers
#: (``### t1 (researcher): ...``) and the ``Objective:`` / ``Results:`` labels.
_FRAMING = re.compile(r"^\s*(#+\s*t\d+\s*\(|(your |overall )?(objective|results|task):)",
                      re.IGNORECASE)


#: A letter's sign-off and its placeholders, which a small model ends an answer with:
#: "Best regards," then "[Your Name]".
_SIGN_OFF = re.compile(r"^\s*((best|kind|warm|warmest)( regards| wishes)?|regards|sincerely|"
                       r"cheers|yours( truly| sincerely)?|thanks|thank you)\s*[,!.]?\s*$"
                       r"|^\s*\[[^\]]*\]\s*$", re.IGNORECASE)


class _Synthesizer(Synthesizer):
    """The synthesizer with the prompt's framing lines it copies back dropped (the results'
    text stays: combining it is the synthesizer's job), a letter's sign-off dropped from the
    end, and an answer stopped at its token cap trimmed to its last whole sentence. An answer
    with nothing else is no answer (:class:`~delegate.errors.IncompleteResponseError`): asked
    again, then the run answers with the completed work and says so."""

    def finish(self, text: str, *, cut: bool) -> str:
        lines = [line for line in text.splitlines() if not _FRAMING.match(line)]
        while lines and (not lines[-1].strip() or _SIGN_OFF.match(lines[-1])):
            lines.pop()
        kept = "\n".join(lines).strip()
        if cut:
            kept = whole_sentences(kept)
        if not kept:  # only the prompt's labels or a sign-off: no answer at all
            raise IncompleteResponseError(
                "the answer held only the prompt's own labels, no text of its own")
        return kept


class GeneralOrchestrator(Orchestrator):
    """The orchestrator of the general workflow: a ``critic`` task that depends on nothing has
    no draft to review, so it is left out of the plan (a small planning model writes such
    critics beside the writer; what they say then reaches the answer as noise), and the
    planning report says so. A plan of critics alone stays as it is."""

    def tidy(self, plan: Plan) -> tuple[Plan, list[str]]:
        plan, notes = super().tidy(plan)
        idle = [t.id for t in plan.tasks if t.worker == "critic" and not t.depends_on]
        if not idle or len(idle) == len(plan.tasks):
            return plan, notes
        plan = without_tasks(plan, dict.fromkeys(idle))
        what = " and ".join(idle)
        notes.append(f"{what} (critic) had no draft to review and "
                     f"{'was' if len(idle) == 1 else 'were'} left out")
        return plan, notes


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


#: The general workflow applies every setting of a RunConfig (it is :func:`delegate.run`).
SETTINGS = tuple(f.name for f in dataclasses.fields(RunConfig))


async def run_general(objective: str, *, config: RunConfig | None = None,
                      **options: Any) -> RunResult:
    """Run ``objective`` through the general workflow; options go to :func:`delegate.run`,
    the settings as ``config=RunConfig(...)`` (as keywords: deprecated, as for ``run``)."""
    settings = {k: options.pop(k) for k in SETTINGS if k in options}
    options["config"] = config_from(config, settings, caller="run_general")
    options.setdefault("fallback_plan", fallback_plan)
    # one task per worker at most: the embedded model fills every slot it is given, and a
    # fifth task can only repeat one (merged away, after its tokens were written)
    options.setdefault("orchestrator", GeneralOrchestrator(max_plan_tasks=len(_WORKERS)))
    options.setdefault("synthesizer", _Synthesizer(settings=PROSE_SETTINGS))
    return await run(objective, workers=general_workers(), **options)
