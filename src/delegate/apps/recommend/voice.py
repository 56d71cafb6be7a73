"""The recommender's synthesizer: the answer in the brand's voice, grounded by construction.

The model writes only the opening and the closing, in the brand voice. The product lines
(name, catalog price, reason) are rendered from the matching result, so every product the
answer names is a real catalog product at its real price (the reasons and names in it were
checked by the matching worker).

The model's two lines must pass :func:`voice_problems`: whole, short sentences that name what
this customer is doing, speak to them, copy none of the examples the model was shown, use no
corporate filler, and state no prices, offers, other products or product numbers
(:func:`~delegate.apps.recommend.grounding.claim_problems`). What works on the embedded 135M model,
measured on the shipped evaluation set:

- a few short rules and several short examples, as earlier turns of the conversation, on
  activities the customers do not ask about, so that the model learns the shape, not the words;
- the customer's request with any money in it left out (a small model repeats "under $30");
- on the local provider, a grammar of whole sentences: the opening one or two, the closing one,
  each at most :data:`SENTENCE_CHARS` characters (a sentence stopped by the bound still has to
  pass the check for a cut-off sentence);
- a repetition penalty; and, when the lines fail, one more request with each problem turned into
  an instruction ("Start the opening with rainy hikes."), sampled with a fixed seed, since a
  greedy model asked again in the same words answers the same.

At most two requests per answer. A line that still fails is replaced by a stand-in: for the
shipped KETL Mtn. voice, a line of its phrasebook (``data/ketlmtn/voice.toml``) with the
customer's activity filled in; for any other brand voice, nothing of KETL's but a neutral line
(``prompts/recommend_voice.toml``). The notes say which line was replaced, by what and why.

The checks are in :mod:`delegate.apps.recommend.voice_checks`; what the request says (its
activity, its need, its text without money) in :mod:`delegate.apps.recommend.voice_request`.
"""

from __future__ import annotations

import functools
import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...core.outcomes import RunResult
from ...core.synthesis import Synthesizer
from ...errors import OutputValidationError
from ...llm.base import Message, Model, ModelSettings
from .catalog import Catalog, load_text
from .grounding import claim_problems, instruction_like
from .voice_checks import (
    PLAIN_CLOSING,
    PLAIN_OPENING,
    advice,
    frame_problems,
    ketl_voice,
    line_problems,
    neutral_voice,
    unsupported_claims,
    voice_problems,
)
from .voice_request import activity, customer_text, need
from .workers import Match, MatchResult

__all__ = ["BrandVoiceSynthesizer", "product_line", "unsupported_claims", "voice_problems"]

VOICE_CHARS = 1_500
SENTENCE_CHARS = 150
"""Longest sentence the local grammar allows."""
REPEAT_PENALTY = 1.15
REASK_TEMPERATURE = 0.8
REASK_SEED = 7

OPENING_SCHEMA = {
    "type": "object",
    "properties": {
        "opening": {"type": "string", "minLength": 1, "maxLength": 240},
        "closing": {"type": "string", "minLength": 1, "maxLength": 120},
    },
    "required": ["opening", "closing"],
    "additionalProperties": False,
}


def product_line(match: Match) -> str:
    p = match.product
    price = f"${p.price:,.2f}" if p.price is not None else "price on request"
    return f"- **{p.name}** ({price}): {match.reason}"


# --- the two voices ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Style:
    """How the lines are asked for and what stands in for them."""

    system: str
    examples: tuple[tuple[str, str, str], ...]  # (customer, opening, closing)
    stand_in: dict[str, list[str]]
    kind: str  # the voice when a stand-in is used

    @property
    def lines(self) -> tuple[str, ...]:
        return tuple(line for _, o, c in self.examples for line in (o, c))


def _examples(data: dict[str, Any]) -> tuple[tuple[str, str, str], ...]:
    return tuple((e["customer"], e["opening"], e["closing"]) for e in data["example"])


def _is_shipped(brand_voice: str) -> bool:
    """Whether ``brand_voice`` is the shipped KETL Mtn. guide (whitespace aside)."""
    return " ".join(brand_voice.split()) == _shipped_voice()


@functools.cache
def _shipped_voice() -> str:
    return " ".join(load_text("brand_voice").split())


def _fill(template: str, act: str, what: str) -> str:
    text = template.replace("<activity>", act).replace("<need>", what)
    text = text.replace("<Activity>", act[:1].upper() + act[1:])
    return text[:1].upper() + text[1:]


# --- the synthesizer --------------------------------------------------------------------------


class BrandVoiceSynthesizer(Synthesizer):
    """Writes the final answer; see the module docstring.

    Args:
        brand_voice: the voice guide. The shipped KETL Mtn. guide gets KETL's distilled rules,
            examples and phrasebook; any other text is sent to the model as it is (its first
            :data:`VOICE_CHARS` characters), with neutral examples and neutral stand-ins.
        catalog: the products, for the claim checks.

    Attributes (set by :meth:`synthesize`):
        opening, closing: the lines the answer was framed with.
        voice: ``"model"`` when both are the model's and passed :func:`voice_problems`; else
            what stood in for at least one of them: ``"phrasebook"`` (KETL's) or ``"plain"``.
        examples: the example lines the model was shown (for re-checking with
            :func:`voice_problems`).
        notes: what it had to fall back on, for the run's record.
    """

    def __init__(self, brand_voice: str, catalog: Catalog) -> None:
        super().__init__(max_tokens=320)
        self.brand_voice = brand_voice.strip()[:VOICE_CHARS]
        self.catalog = catalog
        self.notes: list[str] = []
        self.shipped = _is_shipped(brand_voice)
        self.style = self._style()
        self.examples: tuple[str, ...] = self.style.lines
        self.opening = self.closing = self.voice = ""

    def _style(self) -> _Style:
        if self.shipped:
            data = ketl_voice()
            return _Style(data["rules"].strip(), _examples(data), data["phrasebook"], "phrasebook")
        data = neutral_voice()
        system = data["system"].strip().replace("<voice>", self.brand_voice)
        return _Style(system, _examples(data), data["stand_in"], "plain")

    async def synthesize(self, objective: str, result: RunResult, model: Model) -> str:
        outputs = result.outputs
        matching: MatchResult | None = outputs.get("matching")
        alternatives: list[Match] = outputs.get("alternatives") or []
        answers = [str(outputs[k]).strip() for k in ("guarantee", "company") if k in outputs]
        picks = list(matching.matches) if matching else []
        allowed = {m.product.id for m in picks + alternatives}
        self.opening, self.closing = await self._frame(objective, allowed, model)
        parts = [self.opening]
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
        parts.append(self.closing)
        return "\n\n".join(p for p in parts if p)

    def frame_messages(self, objective: str) -> list[Message]:
        """The first request for the two lines: the rules, the examples as earlier turns, then
        the customer's request without money in it."""
        style = self.style
        messages = [Message.system(style.system + " Answer with JSON: an opening and a closing.")]
        for customer, opening, closing in style.examples:
            messages.append(Message.user(f"Customer: {customer}"))
            messages.append(Message.assistant(json.dumps({"opening": opening, "closing": closing})))
        messages.append(Message.user(f"Customer: {customer_text(objective)}"))
        return messages

    async def _frame(self, objective: str, allowed: set[str], model: Model) -> tuple[str, str]:
        self.voice = ""
        schema = sentence_schema() if model.provider == "local" else OPENING_SCHEMA
        messages = self.frame_messages(objective)
        settings = ModelSettings(max_tokens=self.max_tokens, repeat_penalty=REPEAT_PENALTY)
        tried: list[tuple[str, str]] = []
        problems: list[str] = []
        for attempt in range(2):
            if attempt:
                messages = [*messages[:-1], Message.user(
                    messages[-1].content + "\n" + advice(problems, objective))]
                settings = ModelSettings(max_tokens=self.max_tokens, repeat_penalty=REPEAT_PENALTY,
                                         temperature=REASK_TEMPERATURE, seed=REASK_SEED)
            try:
                response = await model.request(messages, output=schema, settings=settings)
            except OutputValidationError as exc:
                problems = [f"the answer was not usable ({exc.message})"]
                continue
            data: dict[str, Any] = response.data
            opening = _whole_sentences(str(data["opening"]))
            closing = _whole_sentences(str(data["closing"]))
            tried.append((opening, closing))
            problems = self._problems(opening, closing, objective, allowed)
            if not problems:
                self.voice = "model"
                return opening, closing
        return self._stand_in(tried, problems, objective, allowed)

    def _problems(self, opening: str, closing: str, query: str, allowed: set[str]) -> list[str]:
        return voice_problems(opening, closing, query, catalog=self.catalog, allowed_ids=allowed,
                              examples=self.examples)

    def _stand_in(
        self, tried: list[tuple[str, str]], problems: list[str], query: str, allowed: set[str],
    ) -> tuple[str, str]:
        """Keep each line of the model's that passed on its own (the later try first), and
        put a stand-in in place of the others; the notes say which and why."""
        check = functools.partial(line_problems, query=query, catalog=self.catalog,
                                  allowed_ids=allowed, examples=self.examples)
        kept: dict[str, str] = {}
        why: dict[str, list[str]] = {"opening": [], "closing": []}
        for what, index in (("opening", 0), ("closing", 1)):
            for lines in reversed(tried):
                found = check(lines[index], what)
                if not found:
                    kept[what] = lines[index]
                    break
                why[what] = why[what] or found
            if not tried:
                why[what] = problems
        stand_in = self._stand_in_lines(query, allowed)
        opening = kept.get("opening", stand_in[0])
        closing = kept.get("closing", stand_in[1])
        if kept and frame_problems(opening, closing):  # together they fail: the closing goes
            why["closing"] = why["closing"] or frame_problems(opening, closing)
            kept.pop("closing", None)
            closing = stand_in[1]
            if frame_problems(opening, closing):
                why["opening"] = why["opening"] or frame_problems(opening, closing)
                kept.pop("opening", None)
                opening = stand_in[0]
        if len(kept) == 2:
            self.voice = "model"
            return opening, closing
        self.voice = self.style.kind
        for what, line in (("opening", opening), ("closing", closing)):
            if what not in kept:
                self.notes.append(
                    f"brand-voice {what} replaced by a {self.style.kind} line ({line!r}): "
                    + "; ".join(why[what] or problems))
        return opening, closing

    def _stand_in_lines(self, query: str, allowed: set[str]) -> tuple[str, str]:
        """A stand-in opening and closing for ``query``: they name its activity (or need) where
        the request has one; the request picks the line, so answers do not all read alike. A
        line whose filled-in words would make a claim (a need such as "free shipping socks")
        or address a model is the plain one instead, and a request that addresses a model
        lends no words to one."""
        table, act = self.style.stand_in, activity(query)
        what = "" if instruction_like(query) else need(query)
        pick = zlib.crc32(" ".join(query.split()).casefold().encode())
        if act:
            opening = _fill(_choose(table["activity_openings"], pick), act, what)
        elif what:
            opening = _fill(_choose(table["need_openings"], pick), act, what)
        else:
            opening = PLAIN_OPENING
        if act and pick % 2 == 0:
            closing = _fill(_choose(table["activity_closings"], pick >> 1), act, what)
        else:
            closing = _choose(table["closings"], pick >> 1)

        def safe(line: str, plain: str) -> str:
            bad = claim_problems(line, self.catalog, allowed) or instruction_like(line)
            return plain if bad else line

        return safe(opening, PLAIN_OPENING), safe(closing, PLAIN_CLOSING)


def _choose(lines: Sequence[str], pick: int) -> str:
    return lines[pick % len(lines)]


def sentence_schema(sentences: int = 2, chars: int = SENTENCE_CHARS) -> dict[str, Any]:
    """The opening and closing as whole sentences, for a grammar: the opening one to
    ``sentences`` of them, the closing one, each starting with a capital letter, ending in
    ".", "!" or "?", with no other such mark, no quote and at most ``chars`` characters."""
    one = rf'[A-Z][^.!?"\\\n]{{2,{chars}}}[.!?]'
    several = "^" + one + f"( {one})?" * (sentences - 1) + "$"
    return {
        "type": "object",
        "properties": {
            "opening": {"type": "string", "pattern": several},
            "closing": {"type": "string", "pattern": f"^{one}$"},
        },
        "required": ["opening", "closing"],
        "additionalProperties": False,
    }


def _whole_sentences(text: str) -> str:
    """``text`` without a trailing fragment cut off by the length bound, if a sentence ends."""
    text = " ".join(text.split())
    end = max(text.rfind(". "), text.rfind("! "), text.rfind("? "))
    if text[-1:] in ".!?" or end < 0:
        return text
    return text[: end + 1]
