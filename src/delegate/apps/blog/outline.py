"""The blog's outline: its typed form, the JSON schema the outline worker answers in, the
problems an outline can have and the deterministic fallback that repairs them.

Private to :mod:`delegate.apps.blog`, which re-exports :class:`Outline`,
:class:`OutlineSection` and :func:`outline_schema`.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field, model_validator

from ...core.schemas import depends_on_schema, fixed_lists
from .._common import checks

__all__ = [
    "HEADING_CHARS",
    "MAX_SECTIONS",
    "Outline",
    "OutlineSection",
    "fallback_outline",
    "outline_problems",
    "outline_schema",
    "topic_phrase",
]

MAX_SECTIONS = 8
TITLE_CHARS, HEADING_CHARS, POINT_CHARS = 90, 60, 100
#: What the schema asks of a heading and a key point (a model that reads schemas sees it;
#: :func:`outline_problems` checks it, since a grammar cannot enforce it).
HEADING_ASK = "2 to 6 words; not the title; different from every other heading"
POINT_ASK = "a short phrase, different from every other key point"
#: The word targets a section may have (an enum, so that a grammar enforces the range).
WORD_TARGETS = (80, 120, 150, 200, 250, 300, 400, 500, 600)


class OutlineSection(BaseModel):
    """One section of the outline."""

    id: str = Field(pattern=r"^s[1-9][0-9]?$")
    heading: str = Field(min_length=1, max_length=HEADING_CHARS)
    key_points: list[str] = Field(min_length=1, max_length=4)
    word_target: int = Field(ge=80, le=600)
    depends_on: list[str] = Field(default_factory=list)


class Outline(BaseModel):
    """The post's outline: the title and the sections in reading order."""

    title: str = Field(min_length=1, max_length=TITLE_CHARS)
    sections: list[OutlineSection] = Field(min_length=1, max_length=MAX_SECTIONS)

    @model_validator(mode="after")
    def _numbered_in_order(self) -> Outline:
        for n, section in enumerate(self.sections, 1):
            if section.id != f"s{n}":
                raise ValueError(f"section {n} must have id s{n}, not {section.id!r}")
            earlier = {f"s{k}" for k in range(1, n)}
            if not set(section.depends_on) <= earlier:
                raise ValueError(f"{section.id} may depend only on earlier sections")
        return self

    def heading(self, section_id: str) -> str | None:
        return next((s.heading for s in self.sections if s.id == section_id), None)


def outline_schema(max_sections: int) -> dict[str, Any]:
    """The outline's JSON schema, built like :func:`delegate.core.orchestrator.draft_schema`:
    section ``n`` has id ``sn`` and may depend only on ``s1`` ... ``s(n-1)``, and every string
    and list is bounded, so a grammar-bound model can write only a well-formed outline."""

    def text(limit: int, description: str = "") -> dict[str, Any]:
        return {"type": "string", "minLength": 1, "maxLength": limit,
                **({"description": description} if description else {})}

    def section(n: int) -> dict[str, Any]:
        depends = depends_on_schema([f"s{k}" for k in range(1, n)], unique=True)
        return {
            "type": "object",
            "properties": {
                "id": {"const": f"s{n}"},
                "heading": text(HEADING_CHARS, HEADING_ASK),
                "key_points": {"type": "array", "items": text(POINT_CHARS, POINT_ASK),
                               "minItems": 1, "maxItems": 4,
                               "description": "what this section covers and no other does"},
                "word_target": {"enum": list(WORD_TARGETS)},
                "depends_on": depends,
            },
            "required": ["id", "heading", "key_points", "word_target", "depends_on"],
            "additionalProperties": False,
        }

    sections = [section(k) for k in range(1, max_sections + 1)]
    shapes = fixed_lists(sections, range(1, max_sections + 1))
    return {
        "title": "Outline",
        "type": "object",
        "properties": {"title": text(TITLE_CHARS), "sections": {"anyOf": shapes}},
        "required": ["title", "sections"],
        "additionalProperties": False,
    }


# --- outlines that hold: the problems named, then a deterministic fallback --------------------

#: Most words a heading may have before it counts as too long.
MAX_HEADING_WORDS = 8
_NUMBERED = re.compile(r"^\s*(\d+[.):]|[ivx]+[.)]|part \d+:?)\s*", re.IGNORECASE)
_LEAD = ("write a an the short quick brief simple guide to on about how blog post article "
         "explainer tutorial essay introduction intro beginner beginners beginner's of")
_LEAD_WORDS = frozenset(_LEAD.split(" "))
#: A heading people can read: words and light punctuation, no link or code.
_READABLE = re.compile(r"^(?!.*(https?:|www\.|[/\\={}<>|_]))[^\W\d_]")
#: Headings that read well in any guide, for a section with nothing better to go by.
_GENERIC = ("Why it matters", "What you need", "Step by step", "Common mistakes",
            "Tips that help", "Going further", "Questions people ask", "Next steps")


def outline_problems(outline: Outline, topic: str) -> list[str]:
    """What is wrong with ``outline``'s headings and key points, in words the outline
    worker can act on: empty, repeated, title-equal or over-long headings, and key points
    repeated from an earlier section."""
    headings = [s.heading for s in outline.sections]
    # numbering is no difference: "9. What to do?" repeats "What to do?"
    bare = [_NUMBERED.sub("", h) for h in headings]
    problems = list(checks.heading_problems(bare, outline.title, topic).problems)
    starts = [t for t in (checks.normalise(outline.title), checks.normalise(topic))
              if len(t.split()) >= 3]
    for n, heading in enumerate(headings, 1):
        norm = checks.normalise(heading)
        if len(norm.split()) >= 3 and any(t.startswith(norm) and t != norm for t in starts):
            problems.append(f"heading {n} is the start of the title or topic: {heading!r}")
        if len(heading.split()) > MAX_HEADING_WORDS:
            problems.append(f"heading {n} is too long ({len(heading.split())} words): "
                            f"{heading!r}")
    seen: dict[str, int] = {}
    for n, section in enumerate(outline.sections, 1):
        for point in section.key_points:
            key = checks.normalise(point)
            if key and seen.get(key, n) != n:
                problems.append(f"section {n} repeats the key point {point!r} of section "
                                f"{seen[key]}")
            seen.setdefault(key, n)
    return problems


def topic_phrase(topic: str) -> str:
    """The topic's key phrase: its first clause without the leading request words
    ("Write a short guide to choosing trail-running shoes" -> "choosing trail-running
    shoes")."""
    clause = re.split(r"[,.;:!?]| for readers| for people", topic, maxsplit=1)[0]
    words = clause.split()
    while len(words) > 1 and words[0].lower() in _LEAD_WORDS:
        words.pop(0)
    return " ".join(words) or topic.strip()


def topic_outline(topic: str) -> Outline:
    """An outline built from the topic alone, for when the model gave none that could be
    used: the topic's key phrase (:func:`topic_phrase`) as the title, then a section on why
    it matters (its key point the phrase itself) and one on how it works, about 200 words
    each."""
    phrase = topic_phrase(topic)[:TITLE_CHARS].strip()
    return Outline(title=phrase[:1].upper() + phrase[1:], sections=[
        OutlineSection(id="s1", heading="Why it matters", key_points=[phrase], word_target=200),
        OutlineSection(id="s2", heading="How it works", key_points=[
            "the main steps, in order", "common mistakes"], word_target=200)])


def fallback_outline(outline: Outline, topic: str) -> tuple[Outline, list[str]]:
    """``outline`` with every problem heading replaced and repeated key points dropped;
    returns the new outline and each change in words (for the run's notes).

    A bad heading becomes the first of these that is itself good: one of the section's own
    key points, the topic's key phrase (:func:`topic_phrase`), a heading that reads well in
    any guide ("Why it matters", "Step by step", ...), then "Part n". A section left with no
    key point keeps its new heading as one.
    """
    phrase = topic_phrase(topic)
    title_or_topic = {checks.normalise(outline.title), checks.normalise(topic)}
    taken = set(title_or_topic)
    topic_words = set(checks.normalise(topic).split())
    changes: list[str] = []
    points_seen: set[str] = set()
    sections = []

    starts = [t for t in title_or_topic if len(t.split()) >= 3]

    def good(heading: str) -> bool:
        if not _READABLE.match(heading):
            return False  # a link, code or a string of symbols the model wrote as a point
        norm = checks.normalise(_NUMBERED.sub("", heading))
        prefix = len(norm.split()) >= 3 and any(t.startswith(norm) for t in starts)
        return bool(norm) and norm not in taken and set(norm.split()) != topic_words and (
            not prefix and len(heading.split()) <= MAX_HEADING_WORDS
            and len(heading) <= HEADING_CHARS)

    for n, section in enumerate(outline.sections, 1):
        heading = section.heading.strip()
        if not good(heading):
            candidates = [p[:1].upper() + p[1:] for p in section.key_points]
            candidates += [phrase[:1].upper() + phrase[1:], *_GENERIC, f"Part {n}"]
            new = next((c for c in candidates if good(c)), f"Part {n} of {len(taken)}")
            changes.append(f"heading {n} {section.heading!r} replaced by {new!r}")
            heading = new
        taken.add(checks.normalise(_NUMBERED.sub("", heading)))
        points = []
        for p in section.key_points:  # once each, and not the title or the topic again
            key = checks.normalise(p)
            if key and key not in points_seen and key not in title_or_topic:
                points.append(p)
                points_seen.add(key)
        if len(points) < len(section.key_points):
            changes.append(f"section {n}: repeated key points dropped")
        sections.append(section.model_copy(update={
            "heading": heading, "key_points": points or [heading]}))
    return outline.model_copy(update={"sections": sections}), changes
