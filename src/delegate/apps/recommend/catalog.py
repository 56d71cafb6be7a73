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

The :class:`Catalog`, its products and its BM25 search are in
:mod:`delegate.apps.recommend.products`; this module loads them and re-exports their names.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from .products import Catalog, CatalogError, CatalogIssue, Product
from .record_text import flatten, tokenize
from .records import ReadError, kind, read_fields, read_json, unwrap

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
