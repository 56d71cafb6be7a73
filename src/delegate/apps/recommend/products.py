"""A catalog's products, and the :class:`Catalog` that holds them: lookup by id, BM25 search.

Search ranks products with BM25 (the ``bm25s`` library) over a plain, deterministic tokeniser:
lowercase words, English stop words dropped, plural endings trimmed. Catalogs are made by
:func:`~delegate.apps.recommend.catalog.load_catalog`; :mod:`delegate.apps.recommend.catalog`
re-exports these names.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from delegate.errors import UsageError

from .record_text import tokenize
from .records import id_key

__all__ = ["Catalog", "CatalogError", "CatalogIssue", "Product"]


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


def _bound(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise CatalogError(f"{name} must be a number, not {value!r}.")
    return float(value)
