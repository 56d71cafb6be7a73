"""Prose from small models: a worker with a plain prompt, and Markdown made to fit a document.

Private to the content workflows. :class:`TextWorker` asks in a short, plain layout (the
context, the task, and last what a reviewer asked for), because a small model follows it far
better than the generic layout, which it tends to echo; it caps each answer and trims one cut
off at the cap to its last whole sentence. :func:`section_body` fits a worker's Markdown under
a ``##`` heading of the document.
"""

from __future__ import annotations

import re
from typing import Any

from ...core.render import render_value
from ...core.workers import TaskContext, Worker
from ...errors import UsageError
from ...llm.base import Message, ModelSettings

__all__ = ["PROSE_SETTINGS", "TextWorker", "drop_echo", "excerpt", "section_body",
           "whole_sentences"]

#: Sampling settings for the content workflows' prose workers, per request: a ban on
#: repeating any 4-token n-gram of the answer (local provider only; with its default repeat
#: penalty of 1.1), chosen by ``bench/decoding.py`` (``bench/results/decoding.md``): 8 of 8
#: sections free of repeated lines with a distinct 4-gram ratio of at least 0.96, against 7
#: of 8 and 0.38 with the repeat penalty alone.
PROSE_SETTINGS = ModelSettings(no_repeat_ngram=4)


_TOP_HEADING = re.compile(r"^#{1,2}(?=\s)")


def section_body(text: str) -> str:
    """A worker's Markdown made to sit under a ``##`` heading of the document: a leading
    heading is dropped (the document supplies its own) and ``#``/``##`` headings inside it
    become ``###``."""
    lines = str(text).strip().splitlines()
    while lines and (not lines[0].strip() or lines[0].lstrip().startswith("#")):
        lines.pop(0)
    return "\n".join(_TOP_HEADING.sub("###", line) for line in lines).strip()


class TextWorker(Worker):
    """A worker that writes prose, with a short, plain prompt: the task, the context, a
    closing line, and last, on a rewrite, the problems the reviewer found (not the previous
    text, which a small model copies; the reviewer keeps the better of the two). A small
    model follows this far better than the generic layout, which it tends to echo.
    :meth:`budget` may lower the token cap task by task, an answer cut off at the cap is
    trimmed to its last complete sentence, and lines copied from the prompt are dropped
    (:func:`drop_echo`); an answer that was all echo is asked for once more with the task's
    instruction alone."""

    def __init__(self, *args: Any, excerpt_chars: int = 2_000, **options: Any) -> None:
        super().__init__(*args, **options)
        self.excerpt_chars = excerpt_chars  # of each dependency's result, in the prompt

    def budget(self, ctx: TaskContext) -> int | None:
        """The most tokens the answer to this task may take (default: ``max_tokens``)."""
        return self.max_tokens

    def context(self, ctx: TaskContext) -> list[str]:
        """What the worker reads after its task: the topic and its dependencies' results."""
        return [f"Topic: {ctx.objective}", *(
            f"The result of \"{d.task_id}\":\n"
            + excerpt(section_body(render_value(d.output)), self.excerpt_chars)
            for d in ctx.dependencies)]

    def user_prompt(self, ctx: TaskContext) -> str:
        """The task first (a small model attends most to what it reads first and last),
        then :meth:`context`, and last, on a rewrite, the previous answer and what to fix."""
        parts = [ctx.task.instruction, *self.context(ctx)]
        closing = self.closing(ctx)
        if closing:
            parts.append(closing)
        if ctx.revision is not None:  # not the previous text: a small model copies it,
            # and plain advice, not a critique, which it answers by writing about the writing
            parts.append(f"Mind this: {ctx.revision.notes}\nWrite only about the topic.")
        return "\n\n".join(parts)

    def closing(self, ctx: TaskContext) -> str:
        """A last line that repeats what to write (default: none)."""
        return ""

    async def run(self, ctx: TaskContext) -> str:
        if ctx.model is None:
            raise UsageError(f"worker {self.name!r} needs a model and the run has none")
        limit = self.budget(ctx)
        prompt = self.user_prompt(ctx)
        text = ""
        # an answer that was all echo is asked for once more, with the task alone
        for asked in dict.fromkeys((prompt, ctx.task.instruction)):
            response = await ctx.model.request(
                [Message.system(self.system_prompt()), Message.user(asked)],
                settings=self.model_settings(limit))
            text = self._clean(response, limit, asked)
            if text:
                break
        return text

    def _clean(self, response: Any, limit: int | None, prompt: str) -> str:
        text = response.text.strip()
        if limit is not None and response.usage.completion_tokens >= limit:
            text = whole_sentences(text)
        return drop_echo(text, f"{self.system_prompt()}\n{prompt}")


_WORDS = re.compile(r"[0-9a-z]+")
#: Words at the start of a line that, found in the prompt in that order, make it an echo.
ECHO_WORDS = 6


def drop_echo(text: str, prompt: str) -> str:
    """``text`` without the lines a small model copied from its prompt: a line whose first
    :data:`ECHO_WORDS` words (all of them, for a line of four or more words) appear in that
    order in ``prompt``, or a preamble such as "Here is the section ...:"."""
    said = " ".join(_WORDS.findall(prompt.lower()))
    kept = []
    for line in text.splitlines():
        words = _WORDS.findall(line.lower())
        preamble = bool(words) and words[0] in ("here", "heres") and (
            line.rstrip().endswith(":") or "section" in words[:6])
        echoed = len(words) >= 4 and " ".join(words[:ECHO_WORDS]) in said
        if not (preamble or echoed):
            kept.append(line)
    return "\n".join(kept).strip()


_SENTENCE_END = re.compile(r"[.!?][\"')\]*]*(?=\s)")


def excerpt(text: str, limit: int) -> str:
    """The start of ``text``, cut at a word, with no cut marker (a small model copies it)."""
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " ..."


def whole_sentences(text: str) -> str:
    """``text`` up to its last complete sentence, unless that would drop most of it."""
    ends = [m.end() for m in _SENTENCE_END.finditer(text + " ")]
    return text[:ends[-1]].rstrip() if ends and ends[-1] >= len(text) // 2 else text
