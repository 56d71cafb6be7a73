"""The checks on the brand-voice lines of the recommender's answer.

:func:`voice_problems` says what keeps a model's opening and closing from being used as they
are: each problem a short phrase, deterministic; :func:`advice` turns the problems into
instructions for a second request. The stand-in lines that replace a failing line
(:data:`PLAIN_OPENING`, :data:`PLAIN_CLOSING`, KETL Mtn.'s phrasebook and the neutral lines)
are read here too, since a line that is one of them is not the model's own
(see :mod:`delegate.apps.recommend.voice`).
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Sequence
from importlib import resources
from typing import Any

from .catalog import Catalog, tokenize
from .grounding import claim_problems
from .voice_request import GENERIC_WORDS, activity, need

__all__ = [
    "MAX_WORDS",
    "PLAIN_CLOSING",
    "PLAIN_OPENING",
    "advice",
    "frame_problems",
    "ketl_voice",
    "line_problems",
    "neutral_voice",
    "unsupported_claims",
    "voice_problems",
]

MAX_WORDS = 35
"""Most words in the opening, and in the closing."""
PLAIN_OPENING = "Here is what we would pick for you."
PLAIN_CLOSING = "Questions about fit or care? Just ask."


def unsupported_claims(text: str, catalog: Catalog, allowed_ids: set[str]) -> list[str]:
    """What in the model's own sentences is not backed by the result: any money, price talk
    or offer, a catalog product outside ``allowed_ids``, or a product-number reference (see
    :func:`~delegate.apps.recommend.grounding.claim_problems`)."""
    return claim_problems(text, catalog, allowed_ids)


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
    return {_stem(t) for t in tokenize(text) if not t.isdigit() and t not in GENERIC_WORDS}


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


def line_problems(
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


def frame_problems(opening: str, closing: str) -> list[str]:
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
        line_problems(opening, "opening", query, catalog, allowed_ids, examples)
        + line_problems(closing, "closing", query, catalog, allowed_ids, examples)
        + frame_problems(opening, closing)
    )


def _read_toml(package: str, *path: str) -> dict[str, Any]:
    return tomllib.loads(resources.files(package).joinpath(*path).read_text("utf-8"))


@functools.cache
def ketl_voice() -> dict[str, Any]:
    return _read_toml("delegate.apps.data", "ketlmtn", "voice.toml")


@functools.cache
def neutral_voice() -> dict[str, Any]:
    return _read_toml("delegate.apps.prompts", "recommend_voice.toml")


@functools.cache
def _stand_in_patterns() -> tuple[re.Pattern[str], ...]:
    """Every stand-in line as a pattern over normalised text (a placeholder matches words)."""
    lines = [PLAIN_OPENING, PLAIN_CLOSING]
    for table in (ketl_voice()["phrasebook"], neutral_voice()["stand_in"]):
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


def advice(problems: list[str], query: str) -> str:
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
