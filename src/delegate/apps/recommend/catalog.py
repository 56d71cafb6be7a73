"""Load a product catalog from messy JSON and search it with BM25.

A catalog is a JSON list of product records of almost any shape: flat
(``{"id": 1, "name": ..., "price": 49}``), nested (``{"product_id": 1, "extracted_data":
{"product_name": ..., "price": "$49.00"}}``) or wrapped (``{"products": [...]}``). The id, name,
price and category are found by ranked lists of candidate key names, searched level by level
from the top of the record; everything else is kept as searchable text.

Real data is messy, so one bad record never sinks the rest: a record that is not an object, has
no name or repeats an id is left out, and a record with an unreadable price or no id is kept with
a repair; each of these is reported as a :class:`CatalogIssue`. Only a catalog that cannot work
at all (missing file, not JSON, no list, empty, nothing usable, too big) raises
:class:`CatalogError`.

Search ranks products with BM25 (the ``bm25s`` library) over a plain, deterministic tokeniser:
lowercase words, English stop words dropped, plural endings trimmed.
"""

from __future__ import annotations

import functools
import json
import math
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from delegate.errors import UsageError

from .record_text import flatten, tokenize
from .records import ReadError, id_key, kind, read_fields, read_json, unwrap

__all__ = [
    "DEFAULT_MAX_BYTES",
    "Catalog",
    "CatalogError",
    "CatalogIssue",
    "Product",
    "default_catalog",
    "load_catalog",
    "load_text",
    "tokenize",
]

DEFAULT_MAX_BYTES = 50_000_000
"""Largest catalog file :func:`load_catalog` reads unless told otherwise (50 MB)."""


class CatalogError(UsageError):
    """A catalog cannot be loaded or was asked something invalid; the message says why."""


@dataclass(frozen=True)
class Product:
    """One usable catalog record.

    Attributes:
        id: the record's id as a string (``1`` becomes ``"1"``), or ``row-<index>`` if it had none.
        name: the product name, whitespace collapsed.
        price: the price as a number, or None when absent or unreadable.
        category: the category as a string, or None.
        text: every text value of the record flattened into one string (URLs, e-mail addresses
            and long numeric codes left out); this is what search indexes.
        record: the original record, untouched.
    """

    id: str
    name: str
    price: float | None
    category: str | None
    text: str = field(repr=False)
    record: dict = field(repr=False, compare=False, hash=False)


@dataclass(frozen=True)
class CatalogIssue:
    """A record that was left out or repaired while loading.

    Attributes:
        index: the record's position in the source list.
        id: the record's id, where one was found.
        reason: one sentence saying what was wrong and what was done about it.
    """

    index: int
    id: str | None
    reason: str


class Catalog:
    """An immutable set of products with lookup by id and BM25 search.

    The search index is built on the first search and kept for the catalog's lifetime.
    """

    def __init__(self, products: Iterable[Product], issues: Iterable[CatalogIssue] = ()) -> None:
        self._products = tuple(products)
        self._issues = tuple(issues)
        self._by_id: dict[str, Product] = {}
        for product in self._products:
            if product.id in self._by_id:
                raise CatalogError(f"two products share the id {product.id!r}.")
            self._by_id[product.id] = product
        self._lock = threading.Lock()
        self._index: _Index | None = None

    @property
    def products(self) -> tuple[Product, ...]:
        """Every usable product, in source order."""
        return self._products

    @property
    def issues(self) -> tuple[CatalogIssue, ...]:
        """Every record left out or repaired while loading, in source order."""
        return self._issues

    @property
    def ids(self) -> tuple[str, ...]:
        """The product ids, in source order."""
        return tuple(self._by_id)

    def get(self, id: str | int) -> Product:
        """Return the product with this id (an int id is compared as its string form).

        Raises:
            KeyError: no product has this id.
        """
        try:
            return self._by_id[id_key(id)]
        except KeyError:
            raise KeyError(id) from None

    def __contains__(self, id: object) -> bool:
        return isinstance(id, (str, int)) and id_key(id) in self._by_id

    def __len__(self) -> int:
        return len(self._products)

    def __iter__(self) -> Iterator[Product]:
        return iter(self._products)

    def __repr__(self) -> str:
        return f"Catalog({len(self._products)} products, {len(self._issues)} issues)"

    def search(
        self,
        query: str,
        k: int = 10,
        *,
        max_price: float | None = None,
        min_price: float | None = None,
        category: str | None = None,
        exclude: Iterable[str] = (),
    ) -> list[tuple[Product, float]]:
        """Rank the whole catalog against a query and return the best ``k`` products.

        Filters are applied before the cut-off, so ``k`` results come back whenever at least
        ``k`` matching products pass them. A product whose price is None fails any price
        filter. Only products sharing at least one word with the query are returned; a query
        with no searchable words (empty, or only stop words) instead returns the first ``k``
        products that pass the filters, each with score 0. Equal scores keep catalog order.

        Args:
            query: free text, e.g. ``"waterproof rain jacket"``.
            k: most results to return.
            max_price: drop products priced above this.
            min_price: drop products priced below this.
            category: keep only this category (compared without case).
            exclude: product ids to leave out (e.g. ones already shown).

        Returns:
            ``(product, score)`` pairs, best first.

        Raises:
            CatalogError: ``query`` is not a string, ``k`` is negative or a price bound is not
                a number.
        """
        if not isinstance(query, str):
            raise CatalogError(f"the search query must be a string, not {type(query).__name__}.")
        if isinstance(k, bool) or not isinstance(k, int) or k < 0:
            raise CatalogError(f"k must be a non-negative integer, not {k!r}.")
        low, high = _bound(min_price, "min_price"), _bound(max_price, "max_price")
        if k == 0:
            return []
        wanted = category.strip().casefold() if category is not None else None
        skip = {id_key(x) for x in exclude}
        allowed = [
            i
            for i, p in enumerate(self._products)
            if p.id not in skip
            and (wanted is None or (p.category or "").casefold() == wanted)
            and (high is None or (p.price is not None and p.price <= high))
            and (low is None or (p.price is not None and p.price >= low))
        ]
        terms = tokenize(query)
        if not terms:
            return [(self._products[i], 0.0) for i in allowed[:k]]
        scores = self._get_index().scores(terms)
        ranked = sorted((i for i in allowed if scores[i] > 0), key=lambda i: (-scores[i], i))
        return [(self._products[i], scores[i]) for i in ranked[:k]]

    def _get_index(self) -> _Index:
        with self._lock:
            if self._index is None:
                self._index = _Index(self._products)
            return self._index


class _Index:
    """A BM25 index over the products; the name and category count once more than the text."""

    def __init__(self, products: tuple[Product, ...]) -> None:
        import bm25s  # heavy import, only once a search happens

        corpus = [tokenize(f"{p.name}\n{p.category or ''}\n{p.text}") for p in products]
        self._bm25 = bm25s.BM25()
        self._bm25.index(corpus, show_progress=False)
        self._size = len(products)

    def scores(self, terms: list[str]) -> list[float]:
        vocab = self._bm25.vocab_dict
        known = [t for t in dict.fromkeys(terms) if t in vocab]
        if not known:
            return [0.0] * self._size
        return [float(s) for s in self._bm25.get_scores(known)]


def load_catalog(
    source: str | os.PathLike | list | Mapping, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> Catalog:
    """Load a catalog from a JSON file or from already-parsed JSON data.

    Args:
        source: a path to a JSON file, a list of records, or a mapping wrapping such a list
            (``{"products": [...]}``).
        max_bytes: refuse files larger than this.

    Returns:
        The catalog; records that could not be used are listed in ``Catalog.issues``.

    Raises:
        CatalogError: the file is missing, too big, not UTF-8 or not JSON; the JSON holds no
            list of records; the list is empty; or no record in it is usable.
    """
    if not isinstance(source, (str, os.PathLike, list, tuple, Mapping)):
        what = type(source).__name__
        raise CatalogError(f"a catalog source must be a path, a list or a mapping, not {what}.")
    is_path = isinstance(source, (str, os.PathLike))
    try:
        records = unwrap(read_json(Path(source), max_bytes) if is_path else source)
    except ReadError as exc:
        raise CatalogError(str(exc)) from None
    if not records:
        raise CatalogError("the catalog is empty: it holds no product records.")
    products: list[Product] = []
    issues: list[CatalogIssue] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(records):
        product = _to_product(index, raw, seen, issues)
        if product is not None:
            seen[product.id] = index
            products.append(product)
    if not products:
        first = issues[0]
        raise CatalogError(
            f"no record in the catalog is usable: all {len(records)} were rejected "
            f"(record {first.index}: {first.reason.rstrip('.')})."
        )
    return Catalog(products, issues)


@functools.cache
def default_catalog() -> Catalog:
    """Return the KETL Mtn. catalog shipped with delegate (loaded once, then cached)."""
    return load_catalog(json.loads(_data_file("products.json")))


_TEXTS = ("brand_voice", "company", "guarantee")


@functools.cache
def load_text(name: str) -> str:
    """Return a shipped KETL Mtn. text: ``brand_voice``, ``company`` or ``guarantee``.

    Raises:
        CatalogError: the name is not one of those (a trailing ``.md`` is accepted).
    """
    stem = name.removesuffix(".md") if isinstance(name, str) else name
    if stem not in _TEXTS:
        raise CatalogError(f"unknown text {name!r}; choose one of {', '.join(_TEXTS)}.")
    return _data_file(f"{stem}.md")


def _data_file(name: str) -> str:
    return (
        resources.files("delegate.apps.data").joinpath("ketlmtn").joinpath(name).read_text("utf-8")
    )


def _bound(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise CatalogError(f"{name} must be a number, not {value!r}.")
    return float(value)


# --- one record -------------------------------------------------------------------------------


def _to_product(
    index: int, raw: Any, seen: dict[str, int], issues: list[CatalogIssue]
) -> Product | None:
    """Make a product of one record, or leave it out; report either kind of trouble."""
    if not isinstance(raw, Mapping):
        issues.append(CatalogIssue(index, None, f"record is {kind(raw)}, not a JSON object."))
        return None
    fields = read_fields(raw)
    pid = fields.id
    if fields.name is None:
        issues.append(CatalogIssue(index, pid, "record has no name; left out."))
        return None
    if pid is None:
        pid = f"row-{index}"
        issues.append(CatalogIssue(index, pid, f"record has no id; given the id {pid!r}."))
    if pid in seen:
        issues.append(
            CatalogIssue(index, pid, f"duplicate id: record {seen[pid]} already uses it; left out.")
        )
        return None
    if fields.raw_price is not None and fields.price is None:
        reason = f"price {repr(fields.raw_price)[:40]} is not a readable price; left empty."
        issues.append(CatalogIssue(index, pid, reason))
    return Product(pid, fields.name, fields.price, fields.category, flatten(raw), dict(raw))
