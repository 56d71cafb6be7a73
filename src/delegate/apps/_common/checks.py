"""Deterministic checks of a content workflow's output: pure functions of the text.

Used by :mod:`delegate.apps.evals.content`. Definitions:

- **normalised text** (:func:`normalise`): lower case, every run of characters that are not
  letters or digits replaced by one space, stripped. Two headings are *equal* when their
  normalised texts are equal.
- **heading problems** (:func:`heading_problems`): a heading is *empty* when it normalises to
  nothing, *duplicated* when an earlier heading is equal to it, *title-equal* when it equals the
  document's title or the objective, or when its set of words is the objective's set of words.
- **prose** (:func:`prose`): a text without its table rows and image lines (in these workflows
  tables and charts are computed from data, not written by the model).
- **repeated-line ratio** (:func:`repeated_line_ratio`): over the non-empty lines (normalised;
  Markdown headings and table rule lines such as ``|---|`` left out: headings are judged by
  :func:`heading_problems`), the share that repeat an earlier line.
- **distinct 4-gram ratio** (:func:`distinct_ngram_ratio`): distinct word 4-grams over all
  word 4-grams; ``None`` for a text of fewer than four words.
- **key-point coverage** (:func:`key_point_coverage`): for each key point, the share of its
  content words (three letters or more, not a stop word, a final ``s`` dropped) that appear in
  the text; the mean over the key points.
- **length ratio** (:func:`length_ratio`): the text's word count over the word target.
- **empty** (:func:`is_empty`): no words, or only a workflow's "not written" placeholder.
- **cut off** (:func:`is_cut_off`): the last line (tables, images, headings and code left out)
  does not end in ``.``, ``!`` or ``?``, optionally followed by closing quotes, brackets or
  Markdown emphasis. A text with no such line, or whose last such line is a list item (a list
  needs no full stop) or ends in ``:`` before a code block, is not cut off; a text that stops
  inside a code block (a fence left open) is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "HeadingProblems",
    "TextCheck",
    "check_text",
    "Section",
    "content_words",
    "distinct_ngram_ratio",
    "heading_problems",
    "is_cut_off",
    "is_empty",
    "key_point_coverage",
    "length_ratio",
    "normalise",
    "prose",
    "repeated_line_ratio",
    "repeated_lines",
    "split_sections",
    "top_ngram",
]

_NON_WORD = re.compile(r"[^0-9a-z]+")
_WORD = re.compile(r"[0-9a-z]+(?:'[a-z]+)?")
_RULE = re.compile(r"^\|?[\s:|-]*-[\s:|-]*\|?$")
_SENTENCE_END = re.compile("[.!?][\"'\u201d\u2019)\\]*_]*$")
_NOT_PROSE = re.compile(r"^(\||!\[|#|```)")
_LIST_ITEM = re.compile(r"^([-*+] |\d+[.)] )")
_PLACEHOLDER = re.compile(r"^\*?this (section|part) was not written", re.IGNORECASE)
_STOP = ("the and for with that this from your you are was were will can how what why when "
         "which who into about their them they its our out not but all any has have had more "
         "most such than then use using one two each per via get")
STOP_WORDS = frozenset(_STOP.split(" "))


@dataclass(frozen=True)
class Section:
    """A ``##`` section of a Markdown document: its heading and its body."""

    heading: str
    text: str


@dataclass(frozen=True)
class HeadingProblems:
    """Counts of problem headings (see the module docstring), and each problem in words."""

    empty: int = 0
    duplicated: int = 0
    title_equal: int = 0
    problems: tuple[str, ...] = ()


def normalise(text: str) -> str:
    """Lower case, runs of non-alphanumerics as one space, stripped."""
    return _NON_WORD.sub(" ", text.lower()).strip()


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def split_sections(markdown: str) -> tuple[str, str, list[Section]]:
    """The title (the first ``# `` line, or ""), the text before the first ``## `` heading
    (title line removed) and the ``## `` sections in order."""
    title, lead, sections = "", [], []
    heading: str | None = None
    body: list[str] = []
    for line in markdown.splitlines():
        if line.startswith("# ") and not title and heading is None:
            title = line[2:].strip()
        elif line.startswith("## "):
            if heading is not None:
                sections.append(Section(heading, "\n".join(body).strip()))
            heading, body = line[3:].strip(), []
        elif heading is None:
            lead.append(line)
        else:
            body.append(line)
    if heading is not None:
        sections.append(Section(heading, "\n".join(body).strip()))
    return title, "\n".join(lead).strip(), sections


def heading_problems(headings: Sequence[str], title: str, objective: str) -> HeadingProblems:
    """Empty, duplicated and title-equal headings (a heading counts once, first match in that
    order)."""
    seen: set[str] = set()
    targets = {normalise(title), normalise(objective)} - {""}
    objective_words = set(normalise(objective).split())
    empty = duplicated = title_equal = 0
    problems: list[str] = []
    for n, heading in enumerate(headings, 1):
        norm = normalise(heading)
        if not norm:
            empty += 1
            problems.append(f"heading {n} is empty")
        elif norm in seen:
            duplicated += 1
            problems.append(f"heading {n} repeats an earlier heading: {heading!r}")
        elif norm in targets or set(norm.split()) == objective_words:
            title_equal += 1
            problems.append(f"heading {n} equals the title or objective: {heading!r}")
        seen.add(norm)
    return HeadingProblems(empty, duplicated, title_equal, tuple(problems))


def prose(text: str) -> str:
    """``text`` without table rows (lines starting with ``|``) and image lines."""
    return "\n".join(line for line in text.splitlines()
                     if not line.lstrip().startswith(("|", "![")))


def repeated_line_ratio(text: str) -> float:
    """Share of non-empty lines that repeat an earlier one (0.0 for a text with no lines)."""
    lines = [normalise(line) for line in text.splitlines()
             if line.strip() and not _RULE.match(line.strip())
             and not line.lstrip().startswith("#")]
    lines = [line for line in lines if line]
    if not lines:
        return 0.0
    return (len(lines) - len(set(lines))) / len(lines)


def distinct_ngram_ratio(text: str, n: int = 4) -> float | None:
    """Distinct word n-grams over all word n-grams; ``None`` when the text has fewer than n
    words."""
    words = _words(text)
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    return len(set(grams)) / len(grams) if grams else None


def content_words(text: str) -> set[str]:
    """Words of three letters or more, not stop words, with a final ``s`` dropped."""
    out = set()
    for word in _words(text):
        if len(word) >= 3 and word not in STOP_WORDS:
            out.add(word[:-1] if word.endswith("s") and len(word) > 3 else word)
    return out


def key_point_coverage(text: str, key_points: Sequence[str]) -> float | None:
    """Mean over ``key_points`` of the share of each point's content words found in
    ``text``; ``None`` with no key points (a point with no content word counts as covered)."""
    if not key_points:
        return None
    shares = _point_shares(text, key_points)
    return sum(shares) / len(shares)


def _point_shares(text: str, key_points: Sequence[str]) -> list[float]:
    """For each key point, the share of its content words found in ``text`` (1.0 for a
    point with none)."""
    have = content_words(text)
    return [len(wanted & have) / len(wanted) if (wanted := content_words(point)) else 1.0
            for point in key_points]


def length_ratio(text: str, target: int) -> float | None:
    """Words in ``text`` over ``target``; ``None`` when the target is not positive."""
    return len(text.split()) / target if target > 0 else None


def is_empty(text: str) -> bool:
    """No words, or only a "this section was not written" placeholder."""
    stripped = text.strip()
    return not _words(stripped) or bool(_PLACEHOLDER.match(stripped))


def is_cut_off(text: str) -> bool:
    """The last prose line does not end a sentence (see the module docstring)."""
    fenced = False
    last = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("```"):
            if not fenced and last.endswith(":"):
                last = ""  # "Example:" introducing the code that follows
            fenced = not fenced
            continue
        if fenced or not line or _NOT_PROSE.match(line):
            continue
        last = line
    if fenced:
        return True  # the text stops inside its code
    return bool(last) and not _LIST_ITEM.match(last) and not _SENTENCE_END.search(last)


# --- naming the problems: what a reviewer tells a writer -----------------------------------

_SENTENCE = re.compile(r"[^.!?]+(?:[.!?]+|$)")


def _lines(text: str) -> list[str]:
    """The prose lines a person reads: non-empty, not headings, tables, images or rules."""
    return [line.strip() for line in prose(text).splitlines()
            if line.strip() and not _RULE.match(line.strip())
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
    words = _words(text)
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
            for m in _SENTENCE.finditer(_LIST_ITEM.sub("", line))
            if len(_words(m.group())) >= 4]


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
    shares = _point_shares(body, key_points)
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
