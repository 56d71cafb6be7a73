"""Pieces of the JSON schemas that make a grammar-bound model write only well-formed graphs.

Planning (:func:`delegate.core.orchestrator.draft_schema`), replanning
(:func:`delegate.core.strategies.extension_schema`), the blog's outline and the project breakdown
all ask for a list of nodes where node ``n`` has a fixed id and may depend only on ids
allowed before it. A list of ``n`` nodes is one fixed-length array of those node schemas
(:func:`fixed_lists`), so a constrained decoder cannot write a cycle or an unknown id.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["depends_on_schema", "fixed_lists"]


def depends_on_schema(allowed: Sequence[str], *, unique: bool = False) -> dict[str, Any]:
    """A ``depends_on`` list drawn from ``allowed`` (an empty list when nothing is)."""
    if not allowed:
        return {"const": []}
    schema: dict[str, Any] = {"type": "array", "items": {"enum": list(allowed)},
                              "maxItems": len(allowed)}
    if unique:
        schema["uniqueItems"] = True
    return schema


def fixed_lists(nodes: Sequence[dict[str, Any]], lengths: Iterable[int]) -> list[dict[str, Any]]:
    """For each length ``n``, an array of exactly the first ``n`` node schemas, in order."""
    return [{"type": "array", "prefixItems": list(nodes[:n]), "minItems": n, "maxItems": n}
            for n in lengths]
