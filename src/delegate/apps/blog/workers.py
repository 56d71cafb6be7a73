"""The blog's workers: ``outline``, ``writer`` and ``editor``, their prompts and what they read.

The outline worker answers under the outline's JSON schema; a writer reads its own heading and
key points, the other sections' headings and the sections it builds on, and its answer is
capped near its word target; the editor reads every section's opening (see
:mod:`delegate.apps.blog.workflow`).
"""

from __future__ import annotations

from ...core.workers import TaskContext, Worker, WorkerRegistry
from .._common.prompts import prompts
from .._common.prose import PROSE_SETTINGS, TextWorker, excerpt, section_body
from .outline import Outline

__all__ = ["CONTEXT_CHARS", "PROMPTS", "TOKENS_PER_WORD", "blog_workers"]

TOKENS_PER_WORD = 1.5

PROMPTS = prompts("blog")  # the workers' prompts, as data in prompts/blog.toml
#: How much of the sections a section builds on (or the editor reads) its prompt holds.
CONTEXT_CHARS = 2_400


class _OutlineWorker(Worker):
    """Answers under the task's outline schema; returns the typed :class:`Outline`."""

    async def run(self, ctx: TaskContext) -> Outline:
        return Outline.model_validate(await super().run(ctx))


class _BlogWorker(TextWorker):
    """A writer or the editor: reads the outline and sections as text, not JSON, and a
    section's answer is capped near its word target. A writer reads its own heading and key
    points first (the task), then the other sections' headings (so as not to cover them),
    then the sections it builds on, trimmed to fit, and last its heading again."""

    def budget(self, ctx: TaskContext) -> int | None:
        outline = _outline_of(ctx)
        target = next((s.word_target for s in outline.sections if s.id == ctx.task.id),
                      None) if outline else None
        cap = self.max_tokens or 800
        return cap if target is None else min(cap, int(target * TOKENS_PER_WORD) + 40)

    def context(self, ctx: TaskContext) -> list[str]:
        outline = _outline_of(ctx)
        if outline is None:
            parts = [f"It is part of a blog post about {ctx.objective}."]
        elif ctx.task.worker == "writer":
            others = " and ".join(f'"{s.heading}"' for s in outline.sections
                                  if s.id != ctx.task.id)
            parts = [f"It is part of a blog post titled \"{outline.title}\""
                     + (f"; leave {others} to their own sections." if others else ".")]
        else:
            headings = ", ".join(f'"{s.heading}"' for s in outline.sections)
            parts = [f"The post is titled \"{outline.title}\" and has the sections {headings}."]
        texts = [d for d in ctx.dependencies if not isinstance(d.output, Outline)]
        room = min(self.excerpt_chars, CONTEXT_CHARS // max(1, len(texts)))
        for dep in texts:
            heading = (outline.heading(dep.task_id) if outline else None) or dep.task_id
            text = excerpt(section_body(dep.output), room)
            parts.append(f"The section \"{heading}\" begins:\n{text}")
        return parts

    def closing(self, ctx: TaskContext) -> str:
        outline = _outline_of(ctx)
        heading = outline.heading(ctx.task.id) if outline else None
        return (f'Now write the text of the section "{heading}".' if heading
                else ctx.task.instruction)


def _outline_of(ctx: TaskContext) -> Outline | None:
    return next((d.output for d in ctx.dependencies if isinstance(d.output, Outline)), None)


def blog_workers(max_sections: int = 4) -> WorkerRegistry:
    """The blog's three workers: ``outline``, ``writer`` and ``editor``."""
    return WorkerRegistry([
        _OutlineWorker("outline", "Outlines a blog post: title, sections, key points.",
                       PROMPTS["outline"].instructions(max_sections=max_sections),
                       max_tokens=80 + 200 * max_sections),
        _BlogWorker("writer", "Writes one section of the post from its key points.",
                    PROMPTS["writer"].instructions(), max_tokens=800,
                    settings=PROSE_SETTINGS),
        _BlogWorker("editor", "Writes the post's introduction once the sections exist.",
                    PROMPTS["editor"].instructions(), max_tokens=160, excerpt_chars=160,
                    settings=PROSE_SETTINGS),
    ])
