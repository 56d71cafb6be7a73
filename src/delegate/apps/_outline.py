"""The blog's outline: its typed form and the JSON schema the outline worker answers in.

Private to :mod:`delegate.apps.blog`, which re-exports :class:`Outline`,
:class:`OutlineSection` and :func:`outline_schema`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, model_validator

from ..graph_schema import depends_on_schema, fixed_lists

__all__ = ["HEADING_CHARS", "MAX_SECTIONS", "Outline", "OutlineSection", "outline_schema"]

MAX_SECTIONS = 8
TITLE_CHARS, HEADING_CHARS, POINT_CHARS = 90, 70, 100
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
    """The outline's JSON schema, built like :func:`delegate.orchestrator.draft_schema`:
    section ``n`` has id ``sn`` and may depend only on ``s1`` ... ``s(n-1)``, and every string
    and list is bounded, so a grammar-bound model can write only a well-formed outline."""

    def text(limit: int) -> dict[str, Any]:
        return {"type": "string", "minLength": 1, "maxLength": limit}

    def section(n: int) -> dict[str, Any]:
        depends = depends_on_schema([f"s{k}" for k in range(1, n)], unique=True)
        return {
            "type": "object",
            "properties": {
                "id": {"const": f"s{n}"},
                "heading": text(HEADING_CHARS),
                "key_points": {"type": "array", "items": text(POINT_CHARS),
                               "minItems": 1, "maxItems": 4},
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
