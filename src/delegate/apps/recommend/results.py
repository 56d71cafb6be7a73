"""Typed results of the KETL Mtn. recommender (shared by the app, its evaluation and the CLI)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...core.outcomes import RunResult

__all__ = ["RecommendedProduct", "Recommendation"]


@dataclass(frozen=True)
class RecommendedProduct:
    """A product the recommender names: always a real catalog id at its catalog price."""

    id: str
    name: str
    price: float | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "price": self.price, "reason": self.reason}


@dataclass(frozen=True)
class Recommendation:
    """What :func:`delegate.apps.recommend.recommend` returns.

    Attributes:
        query: the customer's request.
        products: the recommended products, best first (empty for a question that needs none).
        alternatives: further products worth a look, if the plan asked for them.
        text: the answer in the brand's voice.
        result: the underlying run (plan, outcomes, usage, planning report, notes).
        max_price: the price ceiling the run applied, if any.
        opening, closing: the answer's first and last lines.
        voice: who wrote them: ``model`` (the model's lines passed the voice checks),
            ``phrasebook`` or ``plain`` (stand-ins, which the notes explain); empty when no
            answer was written.
        voice_examples: the example lines the model was shown (a line that copies one fails
            the checks).
    """

    query: str
    products: tuple[RecommendedProduct, ...]
    text: str
    result: RunResult
    alternatives: tuple[RecommendedProduct, ...] = ()
    max_price: float | None = None
    notes: tuple[str, ...] = field(default=())
    opening: str = ""
    closing: str = ""
    voice: str = ""
    voice_examples: tuple[str, ...] = ()

    @property
    def run_id(self) -> str:
        return self.result.run_id

    def to_dict(self) -> dict[str, Any]:
        """The JSON form printed by ``delegate recommend --json``."""
        run = self.result.to_dict()
        return {
            "run_id": self.result.run_id,
            "products": [p.to_dict() for p in self.products],
            "alternatives": [p.to_dict() for p in self.alternatives],
            "max_price": self.max_price,
            "text": self.text,
            "voice": self.voice,
            "plan": run["plan"],
            "planning": run["planning"],
            "outcomes": run["outcomes"],
            "usage": run["usage"],
            "wall_seconds": run["wall_seconds"],
            "notes": list(self.result.notes) + list(self.notes),
        }
