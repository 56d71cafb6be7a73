"""Deterministic checks of a content workflow's output: pure functions of the text.

Used by :mod:`delegate.apps.evals.content`, and by :mod:`delegate.apps._common.feedback`, which
names the problems they find for a writer. Definitions:

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
    "LIST_ITEM",
    "RULE_LINE",
    "STOP_WORDS",
    "HeadingProblems",
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
    "point_shares",
    "repeated_line_ratio",
    "split_sections",
    "words_of",
]

_NON_WORD = re.compile(r"[^0-9a-z]+")
_WORD = re.compile(r"[0-9a-z]+(?:'[a-z]+)?")
RULE_LINE = re.compile(r"^\|?[\s:|-]*-[\s:|-]*\|?$")
_SENTENCE_END = re.compile("[.!?][\"'\u201d\u2019)\\]*_]*$")
_NOT_PROSE = re.compile(r"^(\||!\[|#|```)")
LIST_ITEM = re.compile(r"^([-*+] |\d+[.)] )")
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


def words_of(text: str) -> list[str]:
    """The words of ``text``, lower case (a word may hold an apostrophe: "don't")."""
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
             if line.strip() and not RULE_LINE.match(line.strip())
             and not line.lstrip().startswith("#")]
    lines = [line for line in lines if line]
    if not lines:
        return 0.0
    return (len(lines) - len(set(lines))) / len(lines)


def distinct_ngram_ratio(text: str, n: int = 4) -> float | None:
    """Distinct word n-grams over all word n-grams; ``None`` when the text has fewer than n
    words."""
    words = words_of(text)
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    return len(set(grams)) / len(grams) if grams else None


def content_words(text: str) -> set[str]:
    """Words of three letters or more, not stop words, with a final ``s`` dropped."""
    out = set()
    for word in words_of(text):
        if len(word) >= 3 and word not in STOP_WORDS:
            out.add(word[:-1] if word.endswith("s") and len(word) > 3 else word)
    return out


def key_point_coverage(text: str, key_points: Sequence[str]) -> float | None:
    """Mean over ``key_points`` of the share of each point's content words found in
    ``text``; ``None`` with no key points (a point with no content word counts as covered)."""
    if not key_points:
        return None
    shares = point_shares(text, key_points)
    return sum(shares) / len(shares)


def point_shares(text: str, key_points: Sequence[str]) -> list[float]:
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
    return not words_of(stripped) or bool(_PLACEHOLDER.match(stripped))


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
    return bool(last) and not LIST_ITEM.match(last) and not _SENTENCE_END.search(last)

