"""The synthesizer: writes the run's final answer from the tasks' results.

The :class:`Synthesizer` sees the objective and the results of the tasks that succeeded, in
plan order. It is also told which tasks did not succeed and why, and asked to say what is
missing rather than paper over it. When no task succeeded there is nothing to synthesise: the
text says so plainly and no model is called.
"""

from __future__ import annotations

from dataclasses import replace

from ..llm.base import Message, Model, ModelSettings
from .outcomes import RunResult
from .render import render_value, truncate

__all__ = ["DEFAULT_SYNTHESIZER_INSTRUCTIONS", "Synthesizer"]

DEFAULT_SYNTHESIZER_INSTRUCTIONS = """\
You write the final answer to the user's objective from the work your team produced. Use \
only what the results support. Write clear Markdown. If some work is missing, say briefly \
what is missing."""


class Synthesizer:
    """Writes the run's final answer.

    Args:
        instructions: the system prompt.
        max_tokens: cap on the answer.
        max_chars_per_result: how much of each result it reads.
        settings: sampling settings of its model call (``max_tokens`` above sets the cap).
    """

    def __init__(
        self,
        instructions: str = DEFAULT_SYNTHESIZER_INSTRUCTIONS,
        *,
        max_tokens: int = 700,
        max_chars_per_result: int = 4_000,
        settings: ModelSettings | None = None,
    ) -> None:
        self.instructions = instructions
        self.max_tokens = max_tokens
        self.max_chars_per_result = max_chars_per_result
        self.settings = settings

    def missing(self, result: RunResult) -> list[str]:
        """One line per task that did not succeed."""
        return [
            f"{o.task_id} ({o.worker}): {o.status}" + (f", {o.error}" if o.error else "")
            for o in result.outcomes if not o.ok
        ]

    def messages(self, objective: str, result: RunResult) -> list[Message]:
        sections = [
            f"### {o.task_id} ({o.worker}): {result.plan.task(o.task_id).instruction}\n"
            + truncate(render_value(o.output), self.max_chars_per_result)
            for o in result.outcomes if o.ok
        ]
        prompt = f"Objective: {objective}\n\nResults:\n\n" + "\n\n".join(sections)
        missing = self.missing(result)
        if missing:
            prompt += "\n\nWork that did not complete:\n" + "\n".join(f"- {m}" for m in missing)
        if result.budget_reached:
            prompt += (f"\n\nThe run stopped early ({result.budget_reached}). Answer from the "
                       "results above and say plainly what is missing.")
        return [Message.system(self.instructions), Message.user(prompt)]

    def assemble(self, objective: str, result: RunResult, why: str) -> str:
        """The answer without a model (when a model call is not allowed, e.g. over budget):
        the completed results in plan order, then what is missing and why."""
        parts = [f"The answer to \"{objective}\" was not written by a model: {why}. "
                 "Here is the work that completed."]
        for o in result.outcomes:
            if o.ok:
                parts.append(f"## {o.task_id}: {result.plan.task(o.task_id).instruction}\n\n"
                             + truncate(render_value(o.output), self.max_chars_per_result))
        missing = self.missing(result)
        if missing:
            parts.append("## Missing\n\n" + "\n".join(f"- {m}" for m in missing))
        return "\n\n".join(parts)

    async def synthesize(self, objective: str, result: RunResult, model: Model) -> str:
        """The final answer for ``result``; no model call when nothing succeeded."""
        if not any(o.ok for o in result.outcomes):
            return "No task succeeded, so there is no answer to write. What failed:\n" + "\n".join(
                f"- {m}" for m in self.missing(result)
            )
        # replace, not merged(): a fresh ModelSettings carries temperature 0.0, which would
        # override the temperature the settings give
        settings = replace(self.settings or ModelSettings(), max_tokens=self.max_tokens)
        response = await model.request(self.messages(objective, result), settings=settings)
        return self.finish(response.text.strip(),
                           cut=response.usage.completion_tokens >= self.max_tokens)

    def finish(self, text: str, *, cut: bool) -> str:
        """The model's answer as the run shows it; ``cut`` when the model stopped at
        ``max_tokens``. Subclasses tidy it here (the default keeps it as it is)."""
        return text
