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
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from delegate.errors import UsageError

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

MAX_DEPTH = 12
"""Nesting levels searched for fields and flattened into text; deeper content is ignored."""

MAX_TEXT_CHARS = 50_000
"""Most characters of text indexed per product."""

# Candidate key names, best first. Keys are compared without case, '_', '-' or spaces.
ID_KEYS = ("id", "product_id", "sku", "item_id", "uid", "uuid", "handle", "asin", "code")
NAME_KEYS = ("name", "product_name", "title", "product_title", "item_name", "display_name")
PRICE_KEYS = (
    "price", "sale_price", "current_price", "final_price", "price_usd", "regular_price",
    "list_price", "retail_price", "unit_price", "msrp",
)  # fmt: skip
CATEGORY_KEYS = (
    "category", "category_name", "categories", "product_type", "department", "type", "category_id",
)  # fmt: skip
_AMOUNT_KEYS = ("amount", "value", "price", "current", "min")


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
            return self._by_id[_id_key(id)]
        except KeyError:
            raise KeyError(id) from None

    def __contains__(self, id: object) -> bool:
        return isinstance(id, (str, int)) and _id_key(id) in self._by_id

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
        skip = {_id_key(x) for x in exclude}
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
    if isinstance(source, (str, os.PathLike)):
        data = _read_json(Path(source), max_bytes)
    elif isinstance(source, (list, tuple, Mapping)):
        data = source
    else:
        kind = type(source).__name__
        raise CatalogError(f"a catalog source must be a path, a list or a mapping, not {kind}.")
    records = _unwrap(data)
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


# --- reading ----------------------------------------------------------------------------------


def _read_json(path: Path, max_bytes: int) -> Any:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise CatalogError(f"catalog file not found: {path}.") from None
    except OSError as exc:
        raise CatalogError(f"cannot read catalog file {path}: {exc.strerror or exc}.") from None
    if path.is_dir():
        raise CatalogError(f"catalog path {path} is a directory, not a JSON file.")
    if size > max_bytes:
        raise CatalogError(
            f"catalog file {path} is {size / 1e6:.1f} MB, above the {max_bytes / 1e6:g} MB limit."
        )
    try:
        with path.open("rb") as fh:
            raw = fh.read(max_bytes + 1)
    except OSError as exc:
        raise CatalogError(f"cannot read catalog file {path}: {exc.strerror or exc}.") from None
    if len(raw) > max_bytes:
        raise CatalogError(f"catalog file {path} is above the {max_bytes / 1e6:g} MB limit.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CatalogError(
            f"catalog file {path} is not JSON: it is not UTF-8 text (bad byte at {exc.start})."
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogError(
            f"catalog file {path} is not valid JSON: {exc.msg} at line {exc.lineno}, "
            f"column {exc.colno}."
        ) from None
    except RecursionError:
        raise CatalogError(f"catalog file {path} is JSON nested too deeply to read.") from None
    except ValueError as exc:  # e.g. an integer with thousands of digits
        raise CatalogError(f"catalog file {path} is not valid JSON: {exc}.") from None


_WRAPPER_KEYS = ("products", "items", "data", "records", "results", "catalog", "entries", "rows")


def _unwrap(data: Any, depth: int = 0) -> list | tuple:
    """Find the list of records: the data itself, or a list inside a wrapping object."""
    if isinstance(data, (list, tuple)):
        return data
    if not isinstance(data, Mapping):
        raise CatalogError(f"catalog JSON must be a list of records, not {_kind(data)}.")
    by_key = {_norm(k): v for k, v in data.items() if isinstance(k, str)}
    if depth == 0 and any(_as_name(by_key.get(_norm(k))) for k in NAME_KEYS):
        raise CatalogError("catalog JSON is a single record; expected a list of records.")
    for key in _WRAPPER_KEYS:  # all already normalised
        value = by_key.get(key)
        if isinstance(value, (list, tuple)) or (isinstance(value, Mapping) and depth < 2):
            try:
                return _unwrap(value, depth + 1)
            except CatalogError:
                pass
    lists = [v for v in data.values() if isinstance(v, (list, tuple)) and v]
    lists = [v for v in lists if all(isinstance(x, Mapping) for x in v)]
    if len(lists) == 1:
        return lists[0]
    raise CatalogError(
        "catalog JSON is an object without one clear list of records in it; "
        'expected a list, or an object such as {"products": [...]}.'
    )


# --- one record -------------------------------------------------------------------------------


def _to_product(
    index: int, raw: Any, seen: dict[str, int], issues: list[CatalogIssue]
) -> Product | None:
    if not isinstance(raw, Mapping):
        issues.append(CatalogIssue(index, None, f"record is {_kind(raw)}, not a JSON object."))
        return None
    pid = _find(raw, ID_KEYS, _as_id)
    name = _find(raw, NAME_KEYS, _as_name)
    if name is None:
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
    raw_price = _find(raw, PRICE_KEYS, _present)
    if raw_price is None:
        raw_price = _find(raw, PRICE_KEYS, _present, through_lists=True)
    price = _parse_price(raw_price) if raw_price is not None else None
    if raw_price is not None and price is None:
        reason = f"price {repr(raw_price)[:40]} is not a readable price; left empty."
        issues.append(CatalogIssue(index, pid, reason))
    category = _find(raw, CATEGORY_KEYS, _as_category)
    return Product(pid, name, price, category, _flatten(raw), dict(raw))


def _find(record: Mapping, keys: tuple[str, ...], convert, *, through_lists: bool = False):
    """Return the first convertible value under a candidate key, shallowest level first.

    Within one level, candidates are tried in rank order. Lists are entered only when
    ``through_lists`` is set (their items are usually sub-records such as reviews).
    """
    keys = tuple(_norm(k) for k in keys)
    level: list[Mapping] = [record]
    for _ in range(MAX_DEPTH):
        normed = [{_norm(k): v for k, v in node.items() if isinstance(k, str)} for node in level]
        for key in keys:
            for node in normed:
                if key in node and (value := convert(node[key])) is not None:
                    return value
        deeper: list[Mapping] = []
        for node in level:
            for value in node.values():
                if isinstance(value, Mapping):
                    deeper.append(value)
                elif through_lists and isinstance(value, (list, tuple)):
                    deeper.extend(v for v in value if isinstance(v, Mapping))
        level = deeper[:10_000]
        if not level:
            return None
    return None


def _norm(key: str) -> str:
    return re.sub(r"[\s_\-]", "", key).casefold()


def _as_id(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _id_key(value: str | int) -> str:
    return _as_id(value) or str(value)


def _as_name(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return " ".join(value.split()) or None


def _as_category(value: Any) -> str | None:
    if isinstance(value, Mapping):
        return _find(value, ("name", "title"), _as_name)
    if isinstance(value, (list, tuple)):
        return next((c for v in value if (c := _as_category(v))), None)
    return _as_name(value) or _as_id(value)


def _present(value: Any) -> Any:
    return None if value is None or value == "" else value


_NUMBER = re.compile(r"(-?)(\d[\d,.' ]*\d|\d)")


def _parse_price(value: Any, depth: int = 0) -> float | None:
    """Read a price given as a number, a string (``"$1,049.00"``, ``"49,99 €"``) or an object."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value) if abs(value) < 1e300 else math.inf  # huge JSON ints overflow
    elif isinstance(value, str):
        match = _NUMBER.search(value)
        if match is None or match.group(1):
            return None
        digits = re.sub(r"[' ]", "", match.group(2))
        comma, dot = digits.rfind(","), digits.rfind(".")
        if comma > dot and len(digits) - comma - 1 in (1, 2) and digits.count(",") == 1:
            digits = digits.replace(".", "").replace(",", ".")  # 1.049,00
        elif dot > comma and digits.count(".") == 1:
            digits = digits.replace(",", "")  # 1,049.00
        else:
            digits = digits.replace(",", "").replace(".", "")  # 1,049 or 1.049.000
        number = float(digits)
    elif isinstance(value, Mapping) and depth == 0:
        return _find(value, _AMOUNT_KEYS, lambda v: _parse_price(v, 1))
    else:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), f"a {type(value).__name__}")


# --- text -------------------------------------------------------------------------------------

_URL = re.compile(r"(?:[a-z][a-z0-9+.-]*://|www\.)\S*|\S+@\S+\.[a-z]{2,}\S*", re.IGNORECASE)
_HEX = re.compile(r"[0-9a-f]{8,}(?:-[0-9a-f]+)*", re.IGNORECASE)


def _flatten(record: Mapping) -> str:
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
