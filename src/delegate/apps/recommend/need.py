"""What a shopper asks for: a product type, a kit for an activity, or neither.

The types are learnt from the catalog itself (:meth:`ProductTypes.learn`), so the reading works
on a shop it has never seen:

- a product's **kind** is its category (lower case), or, in a catalog without categories, the
  last word of its name;
- a **type word** names a set of products: the last word of a category ("bike liners" ->
  ``liner``: that category, plus any product whose name ends in the word, so "Chamois Liner
  Shorts" are shorts too), or a word of product names that is found in one kind at least
  :data:`CONCENTRATION` of the time ("shirt", "tee", "merino": every product of that kind).

:func:`read_need` reads a request against those words. A type word counts where it is the
head of a noun phrase (not followed by another type word: in "sun hat" the type is ``hat``),
and not in what the customer already has ("under my bike shorts"); a modifier that ends a product's
name is asked for with its head ("bib shorts": the bibs and the shorts). The first such word is the
type asked for; others joined to it by "and", "or" or a comma are asked for too. With no type
word, a kit phrase ("everything I need", "outfit", "what should I pack", "gear for") makes the
request a kit; else it is open. The reading is deterministic and says why (``evidence``).
"""

from __future__ import annotations

import re
import weakref
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from .catalog import Catalog, Product, tokenize

__all__ = [
    "CONCENTRATION",
    "Need",
    "ProductTypes",
    "read_need",
    "same_line",
    "stems",
]

#: Share of the products whose names hold a word that must be of one kind for the word to
#: name that kind.
CONCENTRATION = 0.75
#: Name similarity (shared words over all words, sizes and numbers left out) at which two
#: products of one kind are variants of one product line.
LINE_SIMILARITY = 0.5

_RAW_WORD = re.compile(r"[a-z0-9][a-z0-9'\u2019-]*|,")
_KIT = re.compile(
    r"\b(outfit|kit|everything|all (i|we) need|what (should|do|would|can|must) (i|we) "
    r"(need|pack|bring|wear|take)|pack(ing)? list|gear|set me up|head to toe|essentials)\b",
    re.IGNORECASE)
_JOINS = frozenset(["and", "or", "plus", "&", ","])
_OWNED = frozenset(["my", "our", "his", "her", "their", "your"])


def _name_words(name: str) -> list[str]:
    """The searchable words of a product name, without sizes, numbers and versions."""
    return [w for w in tokenize(name) if not any(c.isdigit() for c in w)]


def _head(name: str) -> str:
    """The last word of a name or category ("Vent Touch MTB Glove" -> ``glove``)."""
    words = _name_words(re.sub(r"\([^)]*\)", " ", name))
    return words[-1] if words else ""


@dataclass(frozen=True)
class ProductTypes:
    """The catalog's kinds and type words (see the module docstring).

    Attributes:
        kinds: product id -> its kind.
        words: type word -> the ids of the products it names.
    """

    kinds: Mapping[str, str]
    words: Mapping[str, frozenset[str]]
    heads: frozenset[str] = frozenset()
    _names: Mapping[str, frozenset[str]] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, catalog: Catalog) -> ProductTypes:
        """The types of ``catalog``, learnt once per catalog (a catalog never changes)."""
        known = _LEARNT.get(catalog)
        if known is None:
            known = _LEARNT[catalog] = cls.learn(catalog)
        return known

    @classmethod
    def learn(cls, catalog: Catalog | Iterable[Product]) -> ProductTypes:
        products = list(catalog)
        kinds = {p.id: " ".join((p.category or "").split()).casefold() or _head(p.name)
                 or "other" for p in products}
        by_kind: dict[str, set[str]] = defaultdict(set)
        for pid, kind in kinds.items():
            by_kind[kind].add(pid)
        words: dict[str, set[str]] = {}
        for kind, ids in by_kind.items():
            head = _head(kind)
            if head:
                words.setdefault(head, set()).update(ids)
        for p in products:  # a product named by a category's word is of that type too
            head = _head(p.name)
            if head in words:
                words[head].add(p.id)
        found: dict[str, Counter[str]] = defaultdict(Counter)
        for p in products:
            for word in set(_name_words(p.name)):
                found[word][kinds[p.id]] += 1
        for word, counts in found.items():
            kind, n = counts.most_common(1)[0]
            if word not in words and n >= CONCENTRATION * sum(counts.values()):
                words[word] = set(by_kind[kind])
        names = {p.id: frozenset(_name_words(re.sub(r"\([^)]*\)", " ", p.name)))
                 for p in products}
        heads = frozenset(h for p in products if (h := _head(p.name)) in words)
        return cls(kinds, {w: frozenset(ids) for w, ids in words.items()}, heads, names)

    def kind(self, product_id: str) -> str:
        return self.kinds.get(product_id, "other")

    def members(self, words: Iterable[str]) -> frozenset[str]:
        """The ids of the products any of ``words`` names."""
        out: set[str] = set()
        for word in words:
            out |= self.words.get(word, frozenset())
        return frozenset(out)

    def same_line(self, a: str, b: str) -> bool:
        """Whether products ``a`` and ``b`` are variants of one line (see :func:`same_line`)."""
        return same_line(self.kind(a), self._names.get(a, frozenset()),
                         self.kind(b), self._names.get(b, frozenset()))


_LEARNT: weakref.WeakKeyDictionary[Catalog, ProductTypes] = weakref.WeakKeyDictionary()


def same_line(kind_a: str, words_a: frozenset[str], kind_b: str, words_b: frozenset[str]
              ) -> bool:
    """Two products of one kind whose name words (sizes, numbers and the bracketed variant
    left out) overlap by at least :data:`LINE_SIMILARITY`: "Chino Travel Pants (Slim Fit)"
    and "(Straight Fit)", "Hybrid Shorts 12\"" and "9\"", "Sun Shirt Long Sleeve" and "Short
    Sleeve"."""
    if kind_a != kind_b or not words_a or not words_b:
        return False
    return len(words_a & words_b) / len(words_a | words_b) >= LINE_SIMILARITY


@dataclass(frozen=True)
class Need:
    """What the request asks for.

    Attributes:
        kind: ``type`` (one or more named product types), ``kit`` (what an activity needs) or
            ``open`` (neither).
        types: the type words asked for, in the request's order.
        evidence: the words that decided, for the run's notes.
    """

    kind: Literal["type", "kit", "open"]
    types: tuple[str, ...] = ()
    evidence: str = ""


def _activity_of_kit(kit: re.Match[str], head: int, raw: list[str]) -> bool:
    """Whether the type word at ``raw[head]`` names the activity a kit phrase (matched in
    ``" ".join(raw)``) is for: it comes after the phrase, with "for" between ("what should I
    bring for a day of golf")."""
    after = len(kit.string[:kit.end()].split())
    return head >= after and "for" in raw[after:head]


def read_need(query: str, types: ProductTypes) -> Need:
    """Read ``query`` (see the module docstring)."""
    raw = _RAW_WORD.findall(query.casefold())
    terms = [(word, (tokenize(word) or [""])[-1]) for word in raw]
    heads: list[tuple[int, str]] = []
    compounds: dict[int, str] = {}
    for i, (_word, term) in enumerate(terms):
        if not term or term not in types.words:
            continue
        following = terms[i + 1][1] if i + 1 < len(terms) else ""
        if following:  # a modifier: "sun" in "sun hat", "long" in "long summer hikes"
            if term in types.heads and following in types.words:
                compounds[i + 1] = term  # unless it ends a product's name: "bib shorts"
            continue
        if any(w in _OWNED for w, _ in terms[max(0, i - 3):i]):
            continue  # what the customer has: "under my bike shorts"
        heads.append((i, term))
    kit = _KIT.search(" ".join(raw))
    if kit and heads and _activity_of_kit(kit, heads[0][0], raw):
        heads = []  # "everything I need for a game of baseball": the activity, not a type
    if heads:
        first = heads[0]
        chosen = [first[1]] + ([compounds[first[0]]] if first[0] in compounds else [])
        last = first[0]
        for i, term in heads[1:]:
            between = {w for w, _ in terms[last + 1:i]}
            if between & _JOINS and i - last <= 4 and term not in chosen:
                chosen.append(term)
                last = i
        return Need("type", tuple(chosen), "asks for " + " and ".join(
            repr(t) for t in chosen))
    if kit:
        return Need("kit", (), f"a kit: {kit.group(0)!r}")
    return Need("open", (), "no product type or kit named")


def stems(text: str) -> list[str]:
    """The words of ``text`` whose ending a catalog's text may not share, trimmed: "rainy"
    -> "rain", "swimming" -> "swim", "sunny" -> "sun", "touring" -> "tour" (only the changed
    words; the search has the others already)."""
    out = []
    for word in tokenize(text):
        for end in ("ing", "y", "ed"):
            if word.endswith(end) and len(word) - len(end) >= 3:
                stem = word[: -len(end)]
                if len(stem) > 3 and stem[-1] == stem[-2] and stem[-1] not in "lsz":
                    stem = stem[:-1]  # swimm -> swim, sunn -> sun; but not hill, grass
                out.append(stem)
                break
    return list(dict.fromkeys(out))
