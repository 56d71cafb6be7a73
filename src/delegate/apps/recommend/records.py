"""Reading catalog records: the JSON file, the record list, each record's fields.

Private to the catalog (:mod:`delegate.apps.recommend.catalog`, which turns what these
helpers find into products and issues, and :mod:`delegate.apps.recommend.products`). Only
:func:`read_json` and :func:`unwrap` raise, with :class:`ReadError`, for a catalog that cannot
work at all (the catalog re-raises it as ``CatalogError``); inside a record, a value that
cannot be read comes back as ``None`` and the caller decides what that means.

Fields are found by ranked lists of candidate key names (:data:`ID_KEYS`, :data:`NAME_KEYS`,
...), compared without case, ``_``, ``-`` or spaces, and searched level by level from the top
of the record, so ``{"product_name": ...}`` nested two levels down is still found, but a
shallower match always wins over a deeper one. A record's text and search terms are in
:mod:`delegate.apps.recommend.record_text`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_DEPTH = 12
"""Nesting levels searched for fields and flattened into text; deeper content is ignored."""

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


class ReadError(ValueError):
    """A catalog file or its JSON cannot be used at all; the catalog raises it as CatalogError."""


@dataclass(frozen=True)
class Fields:
    """What one record yields.

    Attributes:
        id: the id as a string, or None when the record has none.
        name: the name, whitespace collapsed, or None.
        raw_price: the price value as found (any JSON type), or None when absent.
        price: ``raw_price`` read as a number, or None when absent or unreadable.
        category: the category as a string, or None.
    """

    id: str | None
    name: str | None
    raw_price: Any
    price: float | None
    category: str | None


def read_fields(record: Mapping) -> Fields:
    """Find the id, name, price and category of one record (a JSON object)."""
    raw_price = find(record, PRICE_KEYS, present)
    if raw_price is None:
        raw_price = find(record, PRICE_KEYS, present, through_lists=True)
    return Fields(
        id=find(record, ID_KEYS, as_id),
        name=find(record, NAME_KEYS, as_name),
        raw_price=raw_price,
        price=parse_price(raw_price) if raw_price is not None else None,
        category=find(record, CATEGORY_KEYS, as_category),
    )


def find(
    record: Mapping,
    keys: tuple[str, ...],
    convert: Callable[[Any], Any],
    *,
    through_lists: bool = False,
) -> Any:
    """Return the first convertible value under a candidate key, shallowest level first.

    Within one level, candidates are tried in rank order. Lists are entered only when
    ``through_lists`` is set (their items are usually sub-records such as reviews).
    """
    keys = tuple(norm(k) for k in keys)
    level: list[Mapping] = [record]
    for _ in range(MAX_DEPTH):
        normed = [{norm(k): v for k, v in node.items() if isinstance(k, str)} for node in level]
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


def norm(key: str) -> str:
    """A key name without case, ``_``, ``-`` or whitespace."""
    return re.sub(r"[\s_\-]", "", key).casefold()


def as_id(value: Any) -> str | None:
    """An id as a string (``1`` and ``1.0`` become ``"1"``), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def id_key(value: str | int) -> str:
    """The form an id is stored and looked up under."""
    return as_id(value) or str(value)


def as_name(value: Any) -> str | None:
    """A non-empty string with whitespace collapsed, or None."""
    if not isinstance(value, str):
        return None
    return " ".join(value.split()) or None


def as_category(value: Any) -> str | None:
    """A category from a string, a number, an object with a name, or the first of a list."""
    if isinstance(value, Mapping):
        return find(value, ("name", "title"), as_name)
    if isinstance(value, (list, tuple)):
        return next((c for v in value if (c := as_category(v))), None)
    return as_name(value) or as_id(value)


def present(value: Any) -> Any:
    """The value itself, or None for null and the empty string."""
    return None if value is None or value == "" else value


_NUMBER = re.compile(r"(-?)(\d[\d,.' ]*\d|\d)")


def parse_price(value: Any, depth: int = 0) -> float | None:
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
        return find(value, _AMOUNT_KEYS, lambda v: parse_price(v, 1))
    else:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def kind(value: Any) -> str:
    """A JSON value's kind for messages: ``an object``, ``a list``, ``null``, ..."""
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), f"a {type(value).__name__}")


# --- reading ----------------------------------------------------------------------------------


def read_json(path: Path, max_bytes: int) -> Any:
    """Parse a JSON file of at most ``max_bytes`` bytes (a UTF-8 BOM is allowed)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ReadError(f"catalog file not found: {path}.") from None
    except OSError as exc:
        raise ReadError(f"cannot read catalog file {path}: {exc.strerror or exc}.") from None
    if path.is_dir():
        raise ReadError(f"catalog path {path} is a directory, not a JSON file.")
    if size > max_bytes:
        raise ReadError(
            f"catalog file {path} is {size / 1e6:.1f} MB, above the {max_bytes / 1e6:g} MB limit."
        )
    try:
        with path.open("rb") as fh:
            raw = fh.read(max_bytes + 1)
    except OSError as exc:
        raise ReadError(f"cannot read catalog file {path}: {exc.strerror or exc}.") from None
    if len(raw) > max_bytes:
        raise ReadError(f"catalog file {path} is above the {max_bytes / 1e6:g} MB limit.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReadError(
            f"catalog file {path} is not JSON: it is not UTF-8 text (bad byte at {exc.start})."
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReadError(
            f"catalog file {path} is not valid JSON: {exc.msg} at line {exc.lineno}, "
            f"column {exc.colno}."
        ) from None
    except RecursionError:
        raise ReadError(f"catalog file {path} is JSON nested too deeply to read.") from None
    except ValueError as exc:  # e.g. an integer with thousands of digits
        raise ReadError(f"catalog file {path} is not valid JSON: {exc}.") from None


_WRAPPER_KEYS = ("products", "items", "data", "records", "results", "catalog", "entries", "rows")


def unwrap(data: Any, depth: int = 0) -> list | tuple:
    """Find the list of records: the data itself, or a list inside a wrapping object."""
    if isinstance(data, (list, tuple)):
        return data
    if not isinstance(data, Mapping):
        raise ReadError(f"catalog JSON must be a list of records, not {kind(data)}.")
    by_key = {norm(k): v for k, v in data.items() if isinstance(k, str)}
    if depth == 0 and any(as_name(by_key.get(norm(k))) for k in NAME_KEYS):
        raise ReadError("catalog JSON is a single record; expected a list of records.")
    for key in _WRAPPER_KEYS:  # all already normalised
        value = by_key.get(key)
        if isinstance(value, (list, tuple)) or (isinstance(value, Mapping) and depth < 2):
            try:
                return unwrap(value, depth + 1)
            except ReadError:
                pass
    lists = [v for v in data.values() if isinstance(v, (list, tuple)) and v]
    lists = [v for v in lists if all(isinstance(x, Mapping) for x in v)]
    if len(lists) == 1:
        return lists[0]
    raise ReadError(
        "catalog JSON is an object without one clear list of records in it; "
        'expected a list, or an object such as {"products": [...]}.'
    )

