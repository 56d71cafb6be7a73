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
"""

from __future__ import annotations

import functools
import json
import re
import tomllib
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from ...core.outcomes import RunResult
from ...core.synthesis import Synthesizer
from ...errors import OutputValidationError
from ...llm.base import Message, Model, ModelSettings
from .catalog import Catalog, load_text, tokenize
from .grounding import claim_problems, instruction_like
from .workers import Match, MatchResult

__all__ = ["BrandVoiceSynthesizer", "product_line", "unsupported_claims", "voice_problems"]

VOICE_CHARS = 1_500
MAX_WORDS = 35
"""Most words in the opening, and in the closing."""
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
PLAIN_OPENING = "Here is what we would pick for you."
PLAIN_CLOSING = "Questions about fit or care? Just ask."


def unsupported_claims(text: str, catalog: Catalog, allowed_ids: set[str]) -> list[str]:
    """What in the model's own sentences is not backed by the result: any money, price talk
    or offer, a catalog product outside ``allowed_ids``, or a product-number reference (see
    :func:`~delegate.apps.recommend.grounding.claim_problems`)."""
    return claim_problems(text, catalog, allowed_ids)


def product_line(match: Match) -> str:
    p = match.product
    price = f"${p.price:,.2f}" if p.price is not None else "price on request"
    return f"- **{p.name}** ({price}): {match.reason}"


# --- the checks -------------------------------------------------------------------------------

# Words of a request that say nothing about what the customer is doing (beside stop words).
_GENERIC = frozenset(tokenize(
    "need want wanting looking look something anything everything nothing ideally keep wear make "
    "go get let use still also around away bit like enough less more max budget cheap please "
    "really good great nice thing stuff long day pair lot sell buy recommend suggest find show "
    "help"
))
_FILLER = re.compile(
    r"\b(?:leverag\w*|solutions?|best[- ]in[- ]class|world[- ]class|synerg\w*|cutting[- ]edge"
    r"|state[- ]of[- ]the[- ]art|game[- ]chang\w*|next[- ]level|industry[- ]leading|innovative"
    r"|seamless(?:ly)?|unparalleled|revolutionary|holistic|utili[sz]\w*|optimi[sz]\w*"
    r"|empower\w*|elevat\w*|value proposition)\b",
    re.IGNORECASE,
)
_CRUDE = re.compile(
    r"\b(?:ass|arse|asses|damn\w*|crap\w*|shit\w*|fuck\w*|bitch\w*|bastards?|suck|sucks"
    r"|stupid|idiots?|dumb|slutty|sexy)\b",
    re.IGNORECASE,
)
_CONFUSED = re.compile(
    r"\b(?:not sure|no idea|don't know|unsure) (?:what|if|how|why|whether) (?:you|that|this|it)\b"
    r"|\bwhat you(?:'re| are)? (?:mean|talking about)\b",
    re.IGNORECASE,
)
# A promise the catalog does not back ("I promise you a new pair tomorrow"), or price talk the
# money check does not see ("the one you can't afford").
_PROMISE = re.compile(r"\b(?:promis\w*|guarantee\w*|warrant\w*|afford\w*)\b", re.IGNORECASE)
_YOU = re.compile(r"\byou(?:r|rs|rself|'re|'ll|'ve|'d)?\b", re.IGNORECASE)
_CLOSE = r"[\"')\u201d\u2019]*"
_ENDS = re.compile(rf"[.!?]{_CLOSE}$")
_STARTS = re.compile(r"[\"'\u201c\u2018(]?[A-Z0-9]")
_SENTENCE_END = re.compile(rf"(?<=[.!?]){_CLOSE}\s+")
# A sentence that ends on a word that cannot end one ("... and be.", "... with a.") or on a
# comma: the length bound stopped it.
_CUT = re.compile(
    r"(?:,\s*|\b(?:a|an|the|to|of|and|or|but|with|for|in|on|at|from|by|i|my|your|our|is|are"
    r"|was|be|so|if|as|can|will|would|you'd|you've|you're|i'm|we're|they're|than|into|just"
    rf"|very|their|its|it's|not)\s*)[.!?]{_CLOSE}$",
    re.IGNORECASE,
)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+(?:'[a-z]+)?", text.casefold().replace("\u2019", "'"))


def _norm(text: str) -> str:
    return " ".join(_words(text))


def _grams(text: str, n: int = 4) -> set[tuple[str, ...]]:
    words = _words(text)
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def _stem(term: str) -> str:
    """``term`` (a search term, plurals already trimmed) without -ing, -ed, a final -e or -y,
    so that "hikes", "hiking" and "hike", or "rain" and "rainy", meet."""
    if term.endswith("ing") and len(term) > 5:
        term = term[:-3]
    elif term.endswith("ed") and len(term) > 4:
        term = term[:-2]
    elif term.endswith("y") and len(term) > 4:
        term = term[:-1]
    if len(term) > 3 and term[-1] == term[-2] and term[-1] not in "aeiouls":
        term = term[:-1]  # running -> run, sunny -> sun
    if term.endswith("e") and len(term) > 3:
        term = term[:-1]
    return term


def _content(text: str) -> set[str]:
    """The stems of ``text``'s words that could name an activity or a need."""
    return {_stem(t) for t in tokenize(text) if not t.isdigit() and t not in _GENERIC}


def _sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(" ".join(text.split())) if s]


def _copies(line: str, example: str) -> bool:
    """Whether ``line`` is ``example`` (normalised) or holds most of its word 4-grams."""
    mine, theirs = _norm(line), _norm(example)
    if not theirs:
        return False
    if mine == theirs:
        return True
    grams = _grams(example)
    if not grams:
        return f" {theirs} " in f" {mine} "
    return 2 * len(grams & _grams(line)) > len(grams)


def _line_problems(
    line: str, what: str, query: str, catalog: Catalog, allowed_ids: set[str],
    examples: Sequence[str],
) -> list[str]:
    """The problems of one line on its own (the opening also has to name the activity)."""
    if not line:
        return [f"the {what} is empty"]
    problems = []
    sentences = _sentences(line)
    if not _ENDS.search(line) or not _STARTS.match(line):
        problems.append(f"the {what} is not a whole sentence")
    elif any(_CUT.search(s) for s in sentences):
        problems.append(f"the {what} stops mid-sentence")
    if len(line.split()) > MAX_WORDS:
        problems.append(f"the {what} is longer than {MAX_WORDS} words")
    said = [_norm(s) for s in sentences]
    if len(said) != len(set(said)):
        problems.append(f"the {what} repeats the same sentence")
    if _is_stand_in(line):
        problems.append(f"the {what} is a stand-in line, not the model's")
    elif any(_copies(line, e) for e in examples):
        problems.append(f"the {what} copies an example")
    if m := _FILLER.search(line):
        problems.append(f"the {what} uses corporate filler ({m.group(0)!r})")
    if m := _CRUDE.search(line):
        problems.append(f"the {what} is crude ({m.group(0)!r})")
    if _CONFUSED.search(line):
        problems.append(f"the {what} sounds confused about the request")
    if m := _PROMISE.search(line):
        problems.append(f"the {what} promises or talks price ({m.group(0)!r})")
    if what == "opening":
        need = _content(query)
        if need and not need & _content(line):
            problems.append("the opening does not name what the customer is doing")
    problems += [f"the {what}: {p}" for p in claim_problems(line, catalog, allowed_ids)]
    return problems


def _frame_problems(opening: str, closing: str) -> list[str]:
    """The problems of the two lines together."""
    problems = []
    a = {_norm(s) for s in _sentences(opening)}
    if a & {_norm(s) for s in _sentences(closing)}:
        problems.append("the closing repeats the same sentence as the opening")
    if not _YOU.search(f"{opening} {closing}"):
        problems.append("it does not speak to the customer (you, your)")
    return problems


def voice_problems(
    opening: str,
    closing: str,
    query: str,
    *,
    catalog: Catalog,
    allowed_ids: set[str],
    examples: Sequence[str] = (),
) -> list[str]:
    """What keeps ``opening`` and ``closing`` from being the model's own lines in the brand's
    voice for ``query``; empty when they pass. Deterministic; each problem is a short phrase.

    They pass when each is one or more whole sentences of at most :data:`MAX_WORDS` words; no
    sentence repeats; neither is one of the stand-in lines (the plain one, the phrasebook's or
    the neutral ones) nor copies one of ``examples`` (equal once normalised, or holding most of
    the example's word 4-grams); the opening names what the customer is doing or needs (a
    content word of ``query``; "hikes" meets "hiking", and words such as "need" or "looking"
    do not count); "you" or "your" occurs in one of them; there is no corporate filler
    ("leverage", "solutions", "best-in-class", ...), crude word, confusion ("not sure what
    you mean"), promise or word about affording; and :func:`unsupported_claims` finds nothing
    (no money, price talk, offers, products outside ``allowed_ids`` or product numbers).
    """
    opening, closing = " ".join(opening.split()), " ".join(closing.split())
    return (
        _line_problems(opening, "opening", query, catalog, allowed_ids, examples)
        + _line_problems(closing, "closing", query, catalog, allowed_ids, examples)
        + _frame_problems(opening, closing)
    )


# --- what the request says --------------------------------------------------------------------

def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


_MONEY = re.compile(
    r"[,;]?\s*(?:\b(?:for\s+)?(?:under|below|less than|no more than|not more than|nothing over"
    r"|at most|up to|max(?:imum)?|around|about|(?:my\s+)?budget(?:\s+is|\s+of)?)\s+)?"
    r"[$€£]\s?\d[\d,]*(?:\.\d+)?(?:\s*(?:max|tops|or less|a pair|each)\b)?",
    re.IGNORECASE,
)
_CHEAP = re.compile(r"\b(?:cheap|inexpensive|affordable|budget)\b\s*", re.IGNORECASE)
_ACTIVITIES = _word_set(
    "hike hikes hiking trip trips travel travels traveling travelling flight flights ride rides "
    "riding biking cycling run runs running fishing swim swimming camp camping climb climbing ski "
    "skiing commute commutes commuting gym backpacking trek treks trekking walk walks walking "
    "boat boating dinner town office paddling kayaking surfing lake river beach desert trail plane "
    "airport evenings sunset weekend workout workouts yoga touring scrambling wedding campfire "
    "epics"
)
_MODIFIERS = _word_set(
    "rainy winter summer spring fall autumn mountain trail long hot humid fly cold breezy chilly "
    "cool desert fishing backpacking bike city sunny warm wet day road gravel weekend hut-to-hut "
    "all-day multi-day"
)
_DETERMINERS = {"a": "a", "an": "an", "the": "the", "my": "your", "our": "your"}


def customer_text(query: str) -> str:
    """The request as the model sees it: without money ("under $30", "budget is $70") or
    "cheap", which a small model repeats and the checks then reject (the ceiling is applied by
    the matching, and the prices come from the catalog)."""
    text = _CHEAP.sub("", _MONEY.sub("", query))
    return " ".join(text.split()).strip(" ,;") or query


def activity(query: str) -> str:
    """What the customer is doing, as a short phrase of the request ("rainy hikes", "a long
    flight", "trail riding"), or ``""`` when no activity word occurs."""
    words = [w.lower() for w in re.findall(r"[A-Za-z][A-Za-z'-]*", customer_text(query))]
    for i, word in enumerate(words):
        if word in _ACTIVITIES or (word in _MODIFIERS and words[i + 1:i + 2]
                                   and words[i + 1] in _ACTIVITIES):
            start = i
            while start > 0 and words[start - 1] in _MODIFIERS and i - start < 2:
                start -= 1
            end = i + 1
            while end < len(words) and words[end] in _ACTIVITIES and end - i < 3:
                end += 1
            phrase = words[start:end]
            if start > 0 and words[start - 1] in _DETERMINERS:
                phrase.insert(0, _DETERMINERS[words[start - 1]])
            return " ".join(phrase)
    return ""


def need(query: str) -> str:
    """What the customer asks for, as the first run of content words of the request ("relaxed
    fit pants", "graphic tee"), or ``""``."""
    for clause in re.split(r"[,.;:!?()]", customer_text(query)):
        run: list[str] = []
        for word in re.findall(r"[A-Za-z][A-Za-z'-]*", clause):
            terms = tokenize(word)
            if terms and terms[0] not in _GENERIC and not terms[0].isdigit():
                run.append(word.lower())
                if len(run) == 3:
                    break
            elif run:
                break
        if run:
            return " ".join(run)
    return ""


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


def _read_toml(package: str, *path: str) -> dict[str, Any]:
    return tomllib.loads(resources.files(package).joinpath(*path).read_text("utf-8"))


@functools.cache
def _ketl() -> dict[str, Any]:
    return _read_toml("delegate.apps.data", "ketlmtn", "voice.toml")


@functools.cache
def _neutral() -> dict[str, Any]:
    return _read_toml("delegate.apps.prompts", "recommend_voice.toml")


def _examples(data: dict[str, Any]) -> tuple[tuple[str, str, str], ...]:
    return tuple((e["customer"], e["opening"], e["closing"]) for e in data["example"])


@functools.cache
def _stand_in_patterns() -> tuple[re.Pattern[str], ...]:
    """Every stand-in line as a pattern over normalised text (a placeholder matches words)."""
    lines = [PLAIN_OPENING, PLAIN_CLOSING]
    for table in (_ketl()["phrasebook"], _neutral()["stand_in"]):
        lines += [line for group in table.values() for line in group]
    patterns = []
    for line in lines:
        text = re.sub(r"<\w+>", " zzslotzz ", line)
        body = re.escape(_norm(text)).replace("zzslotzz", r"[a-z0-9' -]+?")
        patterns.append(re.compile(rf"{body}"))
    return tuple(patterns)


def _is_stand_in(line: str) -> bool:
    text = _norm(line)
    return any(p.fullmatch(text) for p in _stand_in_patterns())


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
            data = _ketl()
            return _Style(data["rules"].strip(), _examples(data), data["phrasebook"], "phrasebook")
        data = _neutral()
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
                    messages[-1].content + "\n" + _advice(problems, objective))]
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
        check = functools.partial(_line_problems, query=query, catalog=self.catalog,
                                  allowed_ids=allowed, examples=self.examples)
        kept: dict[str, str] = {}
        why: dict[str, list[str]] = {"opening": [], "closing": []}
        for what, index in (("opening", 0), ("closing", 1)):
            for lines in reversed(tried):
                line_problems = check(lines[index], what)
                if not line_problems:
                    kept[what] = lines[index]
                    break
                why[what] = why[what] or line_problems
            if not tried:
                why[what] = problems
        stand_in = self._stand_in_lines(query, allowed)
        opening = kept.get("opening", stand_in[0])
        closing = kept.get("closing", stand_in[1])
        if kept and _frame_problems(opening, closing):  # together they fail: the closing goes
            why["closing"] = why["closing"] or _frame_problems(opening, closing)
            kept.pop("closing", None)
            closing = stand_in[1]
            if _frame_problems(opening, closing):
                why["opening"] = why["opening"] or _frame_problems(opening, closing)
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


def _advice(problems: list[str], query: str) -> str:
    """The problems as instructions a small model can follow (it repeats a problem described
    to it, "The opening stops mid-sentence.", as its new opening)."""
    text = " ".join(problems)
    tips = []
    if "does not name" in text:
        act = activity(query) or need(query)
        tips.append(f"Start the opening with {act}." if act
                    else "Start the opening with what the customer is doing.")
    if any(p in text for p in ("mid-sentence", "whole sentence", "longer than", "empty",
                               "not usable")):
        tips.append("Use short, complete sentences.")
    if "copies" in text or "stand-in" in text:
        tips.append("Use your own words, not the examples'.")
    if "(you, your)" in text:
        tips.append('Talk to the customer as "you".')
    if "confused" in text:
        tips.append("Say what they are doing and why it matters.")
    if "repeats" in text:
        tips.append("Do not repeat yourself.")
    if "filler" in text or "crude" in text:
        tips.append("Plain, friendly words.")
    if any(w in text for w in ("money", "price", "offer", "free", "names", "number")):
        tips.append("No prices, offers, product names or numbers.")
    return " ".join(tips) or "Write it again."


def _whole_sentences(text: str) -> str:
    """``text`` without a trailing fragment cut off by the length bound, if a sentence ends."""
    text = " ".join(text.split())
    end = max(text.rfind(". "), text.rfind("! "), text.rfind("? "))
    if text[-1:] in ".!?" or end < 0:
        return text
    return text[: end + 1]
