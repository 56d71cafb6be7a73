"""The project plan as Markdown: team, requirements, phases, breakdown, timeline, summary.

A phase goal that copies a requirement (:func:`copied_requirement`) is shown as a reference to
it, and a name the schema's length bound cut short loses its broken end.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from .._common import checks
from .outputs import ITEM_NAME_CHARS, PHASE_NAME_CHARS, Scheduled
from .tools import Resource, to_markdown

__all__ = ["COPIED_SHARE", "copied_requirement", "render_plan"]

#: A phase goal whose word 4-grams are at least this share of one requirement's copies it.
COPIED_SHARE = 0.5


def copied_requirement(goal: str, requirements: Sequence[str]) -> int | None:
    """The number (from 1) of the requirement ``goal`` copies (the same words, or at least
    :data:`COPIED_SHARE` of its word 4-grams found in it), else ``None``."""
    words = checks.normalise(goal).split()
    grams = {tuple(words[i:i + 4]) for i in range(len(words) - 3)}
    for n, requirement in enumerate(requirements, 1):
        theirs = checks.normalise(requirement).split()
        if words == theirs:
            return n
        found = grams & {tuple(theirs[i:i + 4]) for i in range(len(theirs) - 3)}
        if grams and len(found) >= COPIED_SHARE * len(grams):
            return n
    return None


def render_plan(description: str, resources: Sequence[Resource], result: Any) -> str:
    """The plan of ``result`` (a run of the project workflow) as Markdown, with what failed
    under Problems."""
    out = result.outputs
    lines = ["# Project plan", "", f"**Project:** {description}", "", "## Team", "",
             "| Resource | Skills | Capacity |", "|---|---|---:|"]
    lines += [f"| {r.name} | {', '.join(r.skills)} | {r.capacity:g} |" for r in resources]
    if "requirements" in out:
        lines += ["", "## Requirements", ""]
        lines += [f"- {_text(r)}" for r in out["requirements"].requirements]
    if "phases" in out:
        lines += ["", "## Phases", ""]
        wanted = out["requirements"].requirements if "requirements" in out else []
        for n, p in enumerate(out["phases"].phases, 1):
            ref = copied_requirement(p.goal, wanted)
            goal = f"meets requirement {ref}" if ref else _text(p.goal)
            lines.append(f"{n}. **{_name(p.name, PHASE_NAME_CHARS)}**: {goal}")
    if "schedule" in out:
        done: Scheduled = out["schedule"]
        lines += ["", "## Work breakdown", "", "| Item | Name | Skill | Days | Depends on |",
                  "|---|---|---|---:|---|"]
        lines += [f"| {i.id} | {_name(i.name, ITEM_NAME_CHARS)} | {i.skill} | "
                  f"{i.estimate_days:g} | {', '.join(i.depends_on) or '-'} |"
                  for i in done.items]
        lines += ["", "## Timeline", "", to_markdown(done.timeline, done.items)]
    if "summary" in out:
        lines += ["", "## Summary", "", out["summary"]]
    problems = [o for o in result.outcomes if not o.ok]
    if problems:
        lines += ["", "## Problems", ""]
        lines += [f"- {o.task_id} {o.status}: {o.error}" for o in problems]
    return "\n".join(lines) + "\n"


def _text(value: str) -> str:
    """One line, its own leading "1." dropped (the Markdown numbers lists itself)."""
    return re.sub(r"^\d+[.)]\s+", "", " ".join(value.split())).replace("|", "\\|")


def _name(value: str, limit: int) -> str:
    """A name as :func:`_text` shows it; one that came within :data:`NAME_SLACK` characters
    of its schema's ``limit`` (the grammar stopped it, often mid-word: a token that would
    cross the limit is never chosen) loses its last word, then any dangling small word or
    punctuation at its end."""
    text = _text(value)
    if len(" ".join(value.split())) < limit - NAME_SLACK or " " not in text:
        return text
    words = text.rsplit(" ", 1)[0].rstrip(_TRAILING).split(" ")
    while len(words) > 1 and words[-1].lower() in checks.STOP_WORDS | _SMALL_WORDS:
        words.pop()
    return " ".join(words).rstrip(_TRAILING)


NAME_SLACK = 6
_SMALL_WORDS = frozenset(["a", "an", "of", "to", "in", "on", "at", "by", "or", "as", "is"])
_TRAILING = ",;:-\u2013\u2014"
