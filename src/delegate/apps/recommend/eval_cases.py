"""The recommender's evaluation sets: their cases, their shops' catalogs, the naive prompt.

Each case of a shipped ``eval.json`` is a customer query, the product ids a shop assistant
would suggest and an optional price ceiling; :func:`naive_prompt` is what the naive approach
(one matching call over the catalog's first records) would send for a query, the yardstick of
the evaluation's token figures (see :mod:`delegate.apps.recommend.eval`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ...errors import UsageError
from .catalog import Catalog

__all__ = ["NAIVE_RECORDS", "SHOPS", "EvalCase", "load_eval_set", "naive_prompt", "shop_catalog"]

NAIVE_RECORDS = 20
"""Catalog records the naive approach pastes into its matching prompt."""


@dataclass(frozen=True)
class EvalCase:
    """One query of the evaluation set; ``kind`` is how a shop assistant reads it (``type``,
    ``kit`` or ``open``) and ``types`` the catalog categories that count as the type asked
    for (a type case) or that a kit draws on."""

    id: str
    query: str
    expected_ids: tuple[str, ...]
    max_price: float | None = None
    kind: str = "open"
    types: tuple[str, ...] = ()


SHOPS = ("ketlmtn", "unseen")
"""The shipped evaluation sets: KETL Mtn.'s, and a shop the recommender was not built for."""


def shop_catalog(shop: str = "ketlmtn") -> Catalog:
    """The catalog of a shipped evaluation set."""
    from .catalog import default_catalog, load_catalog

    if shop not in SHOPS:
        raise UsageError(f"unknown evaluation set {shop!r}; choose {' or '.join(SHOPS)}")
    if shop == "ketlmtn":
        return default_catalog()
    files = resources.files("delegate.apps.data").joinpath(shop)
    return load_catalog(json.loads(files.joinpath("products.json").read_text("utf-8")))


def load_eval_set(path: str | Path | None = None, *, shop: str = "ketlmtn") -> list[EvalCase]:
    """Read an evaluation set: a JSON list of ``{id, query, expected_ids, max_price}``, with
    ``kind`` and ``types`` where the case says how it reads.

    Args:
        path: a JSON file; by default the set shipped with delegate for ``shop``.
        shop: which shipped set (:data:`SHOPS`).

    Raises:
        UsageError: the file is not such a list, or the shop is unknown.
    """
    if path is None:
        if shop not in SHOPS:
            raise UsageError(f"unknown evaluation set {shop!r}; choose {' or '.join(SHOPS)}")
        files = resources.files("delegate.apps.data").joinpath(shop)
        text, where = files.joinpath("eval.json").read_text("utf-8"), "eval.json"
    else:
        text, where = Path(path).read_text("utf-8"), str(path)
    try:
        data = json.loads(text)
        cases = [
            EvalCase(
                id=str(item["id"]),
                query=str(item["query"]),
                expected_ids=tuple(str(x) for x in item["expected_ids"]),
                max_price=None if item.get("max_price") is None else float(item["max_price"]),
                kind=str(item.get("kind", "open")),
                types=tuple(str(t) for t in item.get("types", ())),
            )
            for item in data
        ]
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise UsageError(f"{where} is not a list of evaluation cases: {exc!r}.") from None
    return cases


def naive_prompt(query: str, catalog: Catalog) -> str:
    """The prompt of the naive approach: one matching call given the query and the first
    :data:`NAIVE_RECORDS` catalog records, as they are in the source, as compact JSON (the
    system prompt such a call would also carry is not included, which favours the naive side)."""
    records = [p.record for p in catalog.products[:NAIVE_RECORDS]]
    return json.dumps({"query": query, "products": records})
