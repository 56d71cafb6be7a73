"""The text of catalog records: what search indexes, and the terms it is split into.

:func:`flatten` joins a record's text values (URLs, e-mail addresses and long numeric codes
left out); :func:`tokenize` splits text into search terms. Like :mod:`.records`, private to
the catalog; :mod:`delegate.apps.recommend.catalog` re-exports :func:`tokenize`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from .records import MAX_DEPTH

MAX_TEXT_CHARS = 50_000
"""Most characters of text indexed per product."""

_URL = re.compile(r"(?:[a-z][a-z0-9+.-]*://|www\.)\S*|\S+@\S+\.[a-z]{2,}\S*", re.IGNORECASE)
_HEX = re.compile(r"[0-9a-f]{8,}(?:-[0-9a-f]+)*", re.IGNORECASE)


def flatten(record: Mapping) -> str:
    """Join every text value of a record (any nesting, up to MAX_DEPTH) into one string."""
    parts: list[str] = []
    budget = [MAX_TEXT_CHARS]

    def walk(value: Any, depth: int) -> None:
        if depth > MAX_DEPTH or budget[0] <= 0:
            return
        if isinstance(value, str):
            text = " ".join(_URL.sub(" ", value).split())
            if text and not _is_code(text):
                parts.append(text[: budget[0]])
                budget[0] -= len(parts[-1])
        elif isinstance(value, Mapping):
            for item in value.values():
                walk(item, depth + 1)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item, depth + 1)

    walk(record, 0)
    return "\n".join(parts)


def _is_code(text: str) -> bool:
    """True for timestamps, barcodes, hashes and similar long numeric junk."""
    compact = text.replace(" ", "")
    digits = sum(c.isdigit() for c in compact)
    return (digits >= 8 and digits >= 0.6 * len(compact)) or bool(_HEX.fullmatch(compact))


@functools.cache
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    return frozenset(STOPWORDS_EN_PLUS)


_WORD = re.compile(r"[^\W_]+")


def tokenize(text: str) -> list[str]:
    """Split text into search terms: lowercase words, stop words dropped, plurals trimmed.

    Single letters are dropped too (they come from sizes and contractions). The trimming is a
    few fixed suffix rules (``jackets`` -> ``jacket``, ``boxes`` -> ``box``), so it needs no
    stemming package and always gives the same terms.
    """
    stop = _stopwords()
    terms = []
    for word in _WORD.findall(text.casefold()):
        if word in stop or (len(word) == 1 and not word.isdigit()):
            continue
        terms.append(_trim_plural(word))
    return terms


def _trim_plural(word: str) -> str:
    if len(word) <= 3 or not word.endswith("s") or word.endswith(("ss", "us", "is")):
        return word
    if word.endswith(("sses", "xes", "ches", "shes", "zes")):
        return word[:-2]
    return word[:-1]
