"""The recommender's synthesizer: the answer in the brand's voice, grounded by construction.

The model writes only the opening and the closing, in the brand voice. The product lines
(name, catalog price, reason) are rendered from the matching result, so every product the
answer names is a real catalog product at its real price (the reasons and names in it were
checked by the matching worker). The model's own sentences are checked too: they may not state
prices, talk about price, make offers ("free", "only today", "20% off"), name other catalog
products, or point at product numbers (:func:`~delegate.apps.grounding.claim_problems`).
A failing answer goes back once with the problem; if it fails again, a plain opening is used
and the run's notes say so.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import OutputValidationError
from ..llm.base import Message, Model, ModelSettings
from ..outcomes import RunResult
from ..review import Synthesizer
from .catalog import Catalog
from .grounding import claim_problems
from .recommend_workers import Match, MatchResult

__all__ = ["BrandVoiceSynthesizer", "product_line", "unsupported_claims"]

VOICE_CHARS = 1_500

OPENING_SCHEMA = {
    "type": "object",
    "properties": {
        "opening": {"type": "string", "minLength": 1, "maxLength": 240},
        "closing": {"type": "string", "minLength": 1, "maxLength": 120},
    },
    "required": ["opening", "closing"],
    "additionalProperties": False,
}
EXAMPLE_OPENING = "Good news: we have just the thing for your trip."
EXAMPLE_CLOSING = "Have a great time out there!"
PLAIN_OPENING = "Here is what we would pick for you."
PLAIN_CLOSING = "Questions about fit or care? Just ask."


def unsupported_claims(text: str, catalog: Catalog, allowed_ids: set[str]) -> list[str]:
    """What in the model's own sentences is not backed by the result: any money, price talk
    or offer, a catalog product outside ``allowed_ids``, or a product-number reference (see
    :func:`~delegate.apps.grounding.claim_problems`)."""
    return claim_problems(text, catalog, allowed_ids)


def product_line(match: Match) -> str:
    p = match.product
    price = f"${p.price:,.2f}" if p.price is not None else "price on request"
    return f"- **{p.name}** ({price}): {match.reason}"


class BrandVoiceSynthesizer(Synthesizer):
    """Writes the final answer; see the module docstring.

    Attributes:
        notes: what it had to fall back on, for the run's record.
    """

    def __init__(self, brand_voice: str, catalog: Catalog) -> None:
        super().__init__(max_tokens=320)
        self.voice = brand_voice.strip()[:VOICE_CHARS]
        self.catalog = catalog
        self.notes: list[str] = []

    async def synthesize(self, objective: str, result: RunResult, model: Model) -> str:
        outputs = result.outputs
        matching: MatchResult | None = outputs.get("matching")
        alternatives: list[Match] = outputs.get("alternatives") or []
        answers = [str(outputs[k]).strip() for k in ("guarantee", "company") if k in outputs]
        picks = list(matching.matches) if matching else []
        allowed = {m.product.id for m in picks + alternatives}
        opening, closing = await self._frame(objective, picks, answers, allowed, model)
        parts = [opening]
        parts += answers
        if matching is not None:
            if picks:
                parts.append("\n".join(product_line(m) for m in picks))
            else:
                parts.append("We could not find a product in our catalog that fits this request"
                             + ("." if not result.outcome("matching").ok else
                                " within the limits you gave."))
        if alternatives:
            parts.append("Also worth a look:\n" + "\n".join(product_line(m) for m in alternatives))
        missing = [o for o in result.outcomes if not o.ok]
        if missing:  # the errors go to the notes: their text is not for the customer
            parts.append("Some of the work did not complete: "
                         + "; ".join(f"{o.task_id} ({o.status.replace('_', ' ')})" for o in missing)
                         + ".")
            self.notes += [f"did not complete: {line}" for line in self.missing(result)]
        parts.append(closing)
        return "\n\n".join(p for p in parts if p)

    async def _frame(
        self, objective: str, picks: list[Match], answers: list[str], allowed: set[str],
        model: Model,
    ) -> tuple[str, str]:
        names = ", ".join(m.product.name for m in picks) or "none"
        messages = [
            Message.system(
                "You write for KETL Mtn. Apparel in this voice:\n" + self.voice
                + "\n\nWrite a short opening and closing for the answer to the customer. "
                "Do not state prices and do not name any product other than the picks; the "
                "product list goes between your opening and closing. Answer like "
                f'{{"opening": "{EXAMPLE_OPENING}", "closing": "{EXAMPLE_CLOSING}"}}'
            ),
            Message.user(f"Customer: {objective}\nOur picks: {names}"
                         + ("\nWe also answer their question." if answers else "")),
        ]
        settings = ModelSettings(max_tokens=self.max_tokens)
        problems: list[str] = []
        for _ in range(2):
            try:
                response = await model.request(messages, output=OPENING_SCHEMA, settings=settings)
            except OutputValidationError as exc:
                problems = [exc.message]
                continue
            data: dict[str, Any] = response.data
            opening, closing = _whole_sentences(data["opening"]), _whole_sentences(data["closing"])
            problems = unsupported_claims(f"{opening}\n{closing}", self.catalog, allowed)
            if opening.startswith(EXAMPLE_OPENING) or closing.startswith(EXAMPLE_CLOSING):
                problems.append("it copies the example instead of speaking to this customer")
            if _repeats(opening) or _repeats(closing):
                problems.append("it repeats the same sentence")
            if not problems:
                return opening, closing
            messages = [*messages, Message.assistant(response.text), Message.user(
                "Rewrite it: " + "; ".join(problems) + ".")]
        self.notes.append("brand-voice opening replaced by a plain one: " + "; ".join(problems))
        return PLAIN_OPENING, PLAIN_CLOSING


def _repeats(text: str) -> bool:
    """Whether a sentence occurs twice (small models loop)."""
    sentences = [s.strip().lower() for s in re.split(r"[.!?]+", text) if s.strip()]
    return len(sentences) != len(set(sentences))


def _whole_sentences(text: str) -> str:
    """``text`` without a trailing fragment cut off by the length bound, if a sentence ends."""
    text = " ".join(text.split())
    end = max(text.rfind(". "), text.rfind("! "), text.rfind("? "))
    if text[-1:] in ".!?" or end < 0:
        return text
    return text[: end + 1]
