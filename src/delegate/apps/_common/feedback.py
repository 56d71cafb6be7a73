"""What a reviewer tells a writer: the problems of a piece of prose, named, and its score.

:func:`check_text` runs the measures of :mod:`delegate.apps._common.checks` on one piece of
prose (a section, a summary) and names each problem in words a writer can act on ("lines 2-4
repeat line 1"), with a score from 0 to 1 to tell which of two versions is better. The content
workflows' reviewers and list workers use it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .checks import (
    LIST_ITEM,
    RULE_LINE,
    distinct_ngram_ratio,
    is_cut_off,
    is_empty,
    length_ratio,
    normalise,
    point_shares,
    prose,
    repeated_line_ratio,
    words_of,
)

__all__ = [
    "MAX_REPEATED_LINES",
    "MIN_DISTINCT_4GRAMS",
    "MIN_LENGTH",
    "MIN_POINT_SHARE",
    "TextCheck",
    "check_text",
    "repeated_lines",
    "top_ngram",
]


_SENTENCE = re.compile(r"[^.!?]+(?:[.!?]+|$)")


def _lines(text: str) -> list[str]:
    """The prose lines a person reads: non-empty, not headings, tables, images or rules."""
    return [line.strip() for line in prose(text).splitlines()
            if line.strip() and not RULE_LINE.match(line.strip())
            and not line.lstrip().startswith("#")]


def repeated_lines(text: str) -> list[tuple[int, list[int], str]]:
    """Each line (see :func:`repeated_line_ratio`) that later lines repeat: its number
    (1-based, over the prose lines), the numbers of the lines that repeat it, and its text."""
    first: dict[str, int] = {}
    repeats: dict[int, list[int]] = {}
    lines = _lines(text)
    for n, line in enumerate(lines, 1):
        norm = normalise(line)
        if not norm:
            continue
        if norm in first:
            repeats.setdefault(first[norm], []).append(n)
        else:
            first[norm] = n
    return [(n, later, lines[n - 1]) for n, later in sorted(repeats.items())]


def top_ngram(text: str, n: int = 4) -> tuple[str, int] | None:
    """The word n-gram that occurs most often in ``text`` and its count, when one occurs
    more than once (the first such in the text on a tie)."""
    words = words_of(text)
    counts: dict[tuple[str, ...], int] = {}
    for i in range(len(words) - n + 1):
        gram = tuple(words[i:i + n])
        counts[gram] = counts.get(gram, 0) + 1
    if not counts:
        return None
    gram, count = max(counts.items(), key=lambda kv: kv[1])
    return (" ".join(gram), count) if count > 1 else None


def _sentences(text: str) -> list[str]:
    """The sentences of four words or more, normalised, list markers left out (a line's end
    counts as a sentence's end)."""
    return [normalise(m.group()) for line in _lines(text)
            for m in _SENTENCE.finditer(LIST_ITEM.sub("", line))
            if len(words_of(m.group())) >= 4]


def _quote(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[:limit - 1] + "…")


def _lines_phrase(numbers: Sequence[int]) -> str:
    if len(numbers) > 1 and numbers == list(range(numbers[0], numbers[-1] + 1)):
        return f"lines {numbers[0]}-{numbers[-1]} repeat"
    return ("line " if len(numbers) == 1 else "lines ") + ", ".join(map(str, numbers)) + (
        " repeats" if len(numbers) == 1 else " repeat")


#: Sentences about the writing rather than the topic: what a small model says when it is
#: asked to write something again.
_META = re.compile(
    r"\b(rewritten|revised (text|version|section)|the reviewer|original (text|version|section"
    r"|introduction)|first version|previous version|i made (a few |some )?changes|changes to "
    r"(enhance|improve)|(this|the) (section|text) (has been|was) (edited|rewritten|revised))\b",
    re.IGNORECASE)


@dataclass(frozen=True)
class TextCheck:
    """What :func:`check_text` found: each problem in words a writer can act on, and a
    score from 0 to 1 (higher is better) to tell which of two versions is better."""

    problems: tuple[str, ...] = ()
    score: float = 1.0


#: Thresholds above (or below) which :func:`check_text` names a problem.
MAX_REPEATED_LINES, MIN_DISTINCT_4GRAMS, MIN_POINT_SHARE, MIN_LENGTH = 0.05, 0.8, 0.5, 0.5


def check_text(text: str, *, key_points: Sequence[str] = (), word_target: int = 0,
               others: Sequence[str] = ()) -> TextCheck:
    """Check one piece of prose (a section, a summary) with the evaluation's checks.

    Problems named: empty; lines that repeat an earlier line ("lines 2-4 repeat line 1");
    a distinct 4-gram ratio under 0.8 (with the phrase repeated most); sentences also found
    in ``others`` (the other sections, the prompt); sentences about the writing rather than
    the topic ("the rewritten version is more concise"); key points with under half their
    content words in the text; under half the ``word_target``; a cut-off last sentence.

    The score is the mean of: one minus the repeated-line ratio, the distinct 4-gram ratio,
    one minus the share of sentences found in ``others``, the key-point coverage, the length
    ratio over half the target (at most 1), and 0 or 1 for a cut-off ending; times one minus
    the share of sentences about the writing; 0 when empty.
    """
    if is_empty(text):
        return TextCheck(("the text is empty",), 0.0)
    body = prose(text)
    problems: list[str] = []
    rep_ratio = repeated_line_ratio(body)
    if rep_ratio > MAX_REPEATED_LINES:
        for n, later, line in repeated_lines(body):
            problems.append(f"{_lines_phrase(later)} line {n} ({_quote(line)})")
    distinct = distinct_ngram_ratio(body)
    if distinct is not None and distinct < MIN_DISTINCT_4GRAMS:
        top = top_ngram(body)
        said = f"; \"{top[0]}\" appears {top[1]} times" if top else ""
        problems.append(f"it repeats itself: only {distinct:.0%} of its 4-word phrases are "
                        f"distinct{said}")
    sentences = _sentences(body)
    elsewhere = {s for other in others for s in _sentences(other)}
    copied = [s for s in sentences if s in elsewhere]
    if copied:
        problems.append(f"{len(copied)} sentence(s) also appear in another section, e.g. "
                        f"{_quote(copied[0])}")
    lines = _lines(body)
    meta = [m.group() for line in lines for m in _SENTENCE.finditer(line)
            if _META.search(m.group())]
    if meta:
        problems.append(f"{len(meta)} sentence(s) talk about the writing instead of the "
                        f"topic, e.g. {_quote(meta[0])}")
    shares = point_shares(body, key_points)
    problems += [f"it does not cover the key point {_quote(point)}"
                 for point, share in zip(key_points, shares, strict=True)
                 if share < MIN_POINT_SHARE]
    ratio = length_ratio(body, word_target)
    if ratio is not None and ratio < MIN_LENGTH:
        problems.append(f"it has {len(body.split())} words; about {word_target} were asked for")
    cut = is_cut_off(body)
    if cut:
        last = lines[-1] if lines else ""
        problems.append(f"its last sentence is cut off: {_quote(last[-40:])}")
    parts = [1.0 - rep_ratio, 1.0 if distinct is None else distinct,
             1.0 - (len(copied) / len(sentences) if sentences else 0.0),
             sum(shares) / len(shares) if shares else 1.0,
             1.0 if ratio is None else min(1.0, ratio / MIN_LENGTH), 0.0 if cut else 1.0]
    about_writing = min(1.0, len(meta) / max(1, len(sentences)))
    return TextCheck(tuple(problems), sum(parts) / len(parts) * (1.0 - about_writing))
