"""The reviewer: judges each task's result and sends back what fails.

The :class:`Reviewer` judges each result in two steps: its ``checks`` (deterministic, given by
the workflow) name the exact problems and score the text, then the model's structured verdict
against a :class:`Rubric` adds its scores and notes. The tasks that fail go back to their
worker with the problems and notes, for a bounded number of rounds, and only those tasks run
again; with checks, a rewrite is kept only when the checks score it higher (see
:mod:`delegate.core.review_rounds`). The synthesizer, which writes the final answer, is in
:mod:`delegate.core.synthesis`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..llm.base import Message, Model, ModelSettings
from .plan import Task
from .render import render_value, truncate

__all__ = [
    "Check",
    "CheckResult",
    "DEFAULT_REVIEWER_INSTRUCTIONS",
    "Reviewer",
    "Rubric",
    "TaskReview",
]


@dataclass(frozen=True)
class Rubric:
    """What the reviewer scores, each criterion from 1 to 5, and the pass mark.

    A task passes when every criterion scores at least ``pass_mark``. The scores come from the
    model's structured verdict; the pass decision is this rule applied to them.
    """

    criteria: tuple[str, ...] = ("cohesion", "coverage", "accuracy", "tone")
    pass_mark: int = 3
    guidance: str = ""

    def schema(self) -> dict[str, Any]:
        scores = {c: {"enum": [1, 2, 3, 4, 5]} for c in self.criteria}
        return {
            "title": "Verdict",
            "type": "object",
            # notes come first, so the model says what it found before it scores
            "properties": {"notes": {"type": "string", "maxLength": 200}, **scores},
            "required": ["notes", *self.criteria],
            "additionalProperties": False,
        }


@dataclass(frozen=True)
class CheckResult:
    """What a deterministic check found in one output: the problems, each in words the
    worker can act on ("lines 2-4 repeat line 1"), and a score from 0 to 1, higher is better,
    by which two versions of the output are compared."""

    problems: tuple[str, ...] = ()
    score: float = 1.0


Check = Callable[[Task, Any, Mapping[str, Any]], CheckResult | None]
"""A deterministic check: ``check(task, output, outputs)``, where ``outputs`` holds the
current outputs of the run's tasks by id (the outline, the other sections); ``None`` when the
check has nothing to say about this task."""


@dataclass(frozen=True)
class TaskReview:
    """The reviewer's verdict on one task in one round: the model's ``scores`` and ``notes``
    (empty when the reviewer asks no model), the checks' ``problems`` and ``check_score``
    (``None`` without checks). ``passed`` when the checks found nothing and every score
    reaches the pass mark."""

    task_id: str
    round: int
    scores: dict[str, int]
    passed: bool
    notes: str
    problems: tuple[str, ...] = ()
    check_score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"task_id": self.task_id, "round": self.round, "scores": dict(self.scores),
                "passed": self.passed, "notes": self.notes, "problems": list(self.problems),
                "check_score": self.check_score}


DEFAULT_REVIEWER_INSTRUCTIONS = """\
You review one piece of work done for an objective. Score each criterion from 1 (poor) to 5 \
(excellent): {criteria}. {guidance}In notes, say concretely what must change; leave notes \
short when the work is good."""


class Reviewer:
    """Scores task outputs against a rubric and sends back only what fails.

    Args:
        rubric: the criteria and pass mark.
        max_rounds: most review rounds (default 2); each round judges the pending tasks and
            sends the failing ones back once, so a task is judged and rewritten at most this
            many times. ``0`` judges once and sends nothing back.
        instructions: the reviewer's system prompt; ``{criteria}`` and ``{guidance}`` are
            filled in from the rubric.
        max_tokens: cap on each verdict.
        checks: deterministic checks that run before the model's verdict (see :data:`Check`);
            with checks, a rewrite is kept only when it scores higher than the version it
            replaces.
        model_verdict: ask the model for a verdict too (default); ``False`` judges by the
            checks alone.
    """

    def __init__(
        self,
        rubric: Rubric | None = None,
        *,
        max_rounds: int = 2,
        instructions: str = DEFAULT_REVIEWER_INSTRUCTIONS,
        max_tokens: int = 300,
        checks: Check | None = None,
        model_verdict: bool = True,
    ) -> None:
        if max_rounds < 0:
            raise ValueError("max_rounds must be 0 or more")
        if not model_verdict and checks is None:
            raise ValueError("a reviewer without a model verdict needs checks")
        self.rubric = rubric or Rubric()
        self.max_rounds = max_rounds
        self.instructions = instructions
        self.max_tokens = max_tokens
        self.checks = checks
        self.model_verdict = model_verdict

    def check(self, task: Task, output: Any, outputs: Mapping[str, Any]) -> CheckResult | None:
        """The deterministic checks on ``output`` (``None`` without checks)."""
        return None if self.checks is None else self.checks(task, output, outputs)

    async def review(
        self, objective: str, task: Task, output: Any, model: Model, round: int,
        check: CheckResult | None = None,
    ) -> TaskReview:
        """The verdict on ``output``: the ``check``'s problems, then the model's structured
        verdict (unless ``model_verdict`` is off)."""
        problems = check.problems if check is not None else ()
        score = check.score if check is not None else None
        if not self.model_verdict:
            return TaskReview(task.id, round, {}, not problems, "", problems, score)
        system = self.instructions.format(
            criteria=", ".join(self.rubric.criteria),
            guidance=f"{self.rubric.guidance} " if self.rubric.guidance else "",
        )
        prompt = (f"Objective: {objective}\n\nTask ({task.worker}): {task.instruction}\n\n"
                  f"Work to review:\n{truncate(render_value(output))}")
        response = await model.request(
            [Message.system(system), Message.user(prompt)], output=self.rubric.schema(),
            settings=ModelSettings(max_tokens=self.max_tokens),
        )
        data = response.data
        scores = {c: int(data[c]) for c in self.rubric.criteria}
        passed = not problems and all(s >= self.rubric.pass_mark for s in scores.values())
        return TaskReview(task.id, round, scores, passed, " ".join(str(data["notes"]).split()),
                          problems, score)

    def feedback(self, verdict: TaskReview) -> str:
        """What the worker is told when ``verdict`` sends its work back.

        First the problems the checks named, then the criteria below the pass mark with
        their scores and the reviewer's notes, so the worker learns what to fix even when
        the notes say little.
        """
        parts = []
        if verdict.problems:
            parts.append("Fix these problems: " + "; ".join(verdict.problems) + ".")
        low = [f"{c} {s}/5" for c, s in verdict.scores.items() if s < self.rubric.pass_mark]
        if low:
            parts.append(f"Below the pass mark of {self.rubric.pass_mark}: {', '.join(low)}.")
        if verdict.notes and (low or not verdict.problems):
            parts.append(f"Notes: {verdict.notes}")
        return " ".join(parts) or "Improve the answer."
