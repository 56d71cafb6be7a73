"""The blog workflow: an outline, sections written in parallel, an editor's introduction."""

from .workflow import (
    EXAMPLE_TOPIC,
    SETTINGS,
    BlogPost,
    BlogSection,
    Outline,
    OutlineSection,
    blog_reviewer,
    blog_workers,
    outline_schema,
    run_blog,
    section_check,
    sections_plan,
)

__all__ = [
    "SETTINGS",
    "EXAMPLE_TOPIC",
    "BlogPost",
    "BlogSection",
    "Outline",
    "OutlineSection",
    "blog_reviewer",
    "blog_workers",
    "outline_schema",
    "run_blog",
    "section_check",
    "sections_plan",
]
