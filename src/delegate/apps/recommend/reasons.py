"""Reasons a shop assistant would give, grounded by construction.

A product's reason names what about *that* product answers the customer: facts taken from its
own record (:func:`product_facts`: features, materials, weights, the clauses of its
description), never written freely. The facts closest to the request come first
(:func:`order_facts`); the model picks the two that matter most for this customer under a
grammar (each pick is an enum of the product's own facts, so it cannot name anything else),
and :func:`render_reason` makes one sentence of them, with the activity the request shares
with the record ("...; good for fishing."). No price, no other product, no claim the record
does not make: a fact that states money or an offer, addresses the model or names another
product is left out before anything sees it, and the result says so.

When the model's picks cannot be used, the two closest facts stand, and the notes say so; a
product with no usable fact gets the generic reason, which is counted (:func:`is_specific`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ...errors import OutputValidationError
from ...llm.base import Message, Model, ModelSettings
from .catalog import Catalog, Product, tokenize
from .grounding import instruction_like, offer_claims, other_products_named

__all__ = [
    "GENERIC_REASON",
    "uses",
    "is_specific",
    "order_facts",
    "pick_reasons",
    "plain_reason",
    "product_facts",
    "render_reason",
]

GENERIC_REASON = "A close match in our catalog for what you asked."
#: Most facts a product offers the model to pick from.
OFFERED = 6
_FACT_WORDS = (2, 9)  # a description clause of this many words is a fact
_MAX_FACT_CHARS = 60
_SKIP_KEY = re.compile(
    r"size|colou?r|image|thumb|url|link|review|variant|inseam|denomination|sku|barcode|code|"
    r"^id$|_id$|price|currency|stock|rating|tag|activit|categor|name|title|brand|meta|polic|"
    r"shipping|warranty|availab|return|discount|date|summary|description", re.IGNORECASE)
_FEATURE_KEY = re.compile(r"feature|highlight|benefit|spec", re.IGNORECASE)
_USE_KEY = re.compile(r"activit|use|occasion|tag|sport", re.IGNORECASE)
_TEXT_KEY = re.compile(r"summary|description|about|details", re.IGNORECASE)
_CLAUSE = re.compile(r"[.;:,!?()]+|\s(?:with|that|which|and|while|so|but)\s", re.IGNORECASE)


def _clean(text: str) -> str:
    return " ".join(text.split()).strip(" -")


def _safe(fact: str, product: Product, catalog: Catalog | None) -> str | None:
    """Why ``fact`` may not be shown, or ``None`` when it may."""
    if offer_claims(fact, product):
        return "it states money or an offer"
    if instruction_like(fact):
        return "it addresses the model"
    if catalog is not None and other_products_named(fact, catalog, {product.id}):
        return "it names another product"
    return None


def product_facts(product: Product, catalog: Catalog | None = None,
                  left_out: list[str] | None = None) -> list[str]:
    """The facts of ``product``'s record a reason may state, in record order: the strings of
    its list fields (features, materials; not sizes, colours, tags or uses), its short text
    fields as "key value" ("weight 121 g (size M)"), and the clauses of its description of
    two to nine words; a list of features first, then the description's clauses, the other
    lists and the short fields. A fact that fails the checks on catalog text is left out (and, with
    ``left_out``, recorded there as one line)."""
    # features first, then the description's clauses, other lists, short fields
    found: list[list[str]] = [[], [], [], []]
    for key, value in product.record.items():
        if not isinstance(key, str):
            continue
        if isinstance(value, list) and not _SKIP_KEY.search(key):
            bucket = 0 if _FEATURE_KEY.search(key) else 2
            found[bucket] += [_clean(v) for v in value if isinstance(v, str)]
        elif isinstance(value, str) and _TEXT_KEY.search(key):
            for clause in _CLAUSE.split(value):
                words = clause.split()
                if _FACT_WORDS[0] <= len(words) <= _FACT_WORDS[1]:
                    found[1].append(_clean(clause))
        elif isinstance(value, str) and not _SKIP_KEY.search(key) and len(value) <= 40:
            found[3].append(_clean(f"{key.replace('_', ' ')} {value}"))
    facts: list[str] = []
    for fact in dict.fromkeys(f for bucket in found for f in bucket
                              if f and len(f) <= _MAX_FACT_CHARS):
        why = _safe(fact, product, catalog)
        if why is None:
            facts.append(fact)
        elif left_out is not None:
            left_out.append(f"product {product.id}: the fact {fact[:40]!r} left out: {why}")
    return facts


def _stems(text: str) -> set[str]:
    """Words with the endings a request varies on trimmed: rainy, raining -> rain."""
    out = set()
    for word in tokenize(text):
        for end in ("ing", "y", "ed", "er"):
            if word.endswith(end) and len(word) - len(end) >= 3:
                word = word[: -len(end)]
                break
        out.add(word)
    return out


def order_facts(facts: Sequence[str], request: str, product: Product) -> list[str]:
    """``facts`` with those that share the most words with ``request`` first (a fact that
    only repeats the product's name says nothing new and goes last); ties keep record
    order."""
    wanted = _stems(request)
    named = _stems(product.name)

    def rank(item: tuple[int, str]) -> tuple[int, int, int]:
        n, fact = item
        words = _stems(fact)
        return (-len(words & wanted), int(bool(words) and words <= named), n)

    return [fact for _, fact in sorted(enumerate(facts), key=rank)]


def uses(product: Product) -> list[str]:
    """The uses its record lists (activities, occasions, tags), as written."""
    return [_clean(use) for key, value in product.record.items()
            if isinstance(key, str) and _USE_KEY.search(key) and isinstance(value, list)
            for use in value if isinstance(use, str)]


def _activity(product: Product, request: str) -> str:
    """A use the record lists (activities, occasions, tags) that the request shares."""
    wanted = _stems(request)
    return next((use for use in uses(product) if _stems(use) & wanted and not offer_claims(use)),
                "")


def render_reason(facts: Sequence[str], activity: str = "") -> str:
    """One sentence of one or two facts and the activity: "UPF 30+ sun protection and thumb
    holes; good for fishing." (facts that are lists themselves are joined by "; "). The
    generic reason when there is no fact."""
    if not facts:
        return GENERIC_REASON
    shown = [_lower_first(f) for f in facts[:2]]
    listed = any("," in f or " and " in f for f in shown)  # "a, b and c" then "d": a ";"
    text = ("; " if listed else " and ").join(shown)
    text = text[:1].upper() + text[1:]
    if activity and not _stems(activity) <= _stems(text):  # "...hot-weather hiking" says it
        text += f"; good for {activity}"
    return text.rstrip(".") + "."


def _lower_first(fact: str) -> str:
    """"Featherweight shirt" -> "featherweight shirt"; "UPF 30+" and "GORE-TEX" stay."""
    return fact[:1].lower() + fact[1:] if fact[1:2].islower() else fact


def is_specific(reason: str, product: Product) -> bool:
    """Whether ``reason`` states at least one fact of ``product``'s record that its name does
    not already say (the generic reason never does)."""
    said = reason.casefold()
    named = _stems(product.name)
    return reason != GENERIC_REASON and any(
        fact.casefold() in said and not _stems(fact) <= named
        for fact in product_facts(product))


def _telling(facts: list[str], product: Product) -> list[str]:
    """``facts`` without those that only repeat the product's name ("rain jacket" for the
    Rain Jacket), unless nothing else is left."""
    named = _stems(product.name)
    telling = [f for f in facts if not _stems(f) <= named]
    return telling or facts


def plain_reason(product: Product, request: str, catalog: Catalog | None = None) -> str:
    """The reason without a model: the two facts closest to ``request``."""
    facts = _telling(order_facts(product_facts(product, catalog), request, product), product)
    return render_reason(facts[:2], _activity(product, request))


async def pick_reasons(
    model: Model | None, request: str, products: Sequence[Product], catalog: Catalog,
) -> tuple[dict[str, str], list[str]]:
    """A reason for each product (by id) and the lines for the run's notes (facts left out,
    a fallback). One model call picks the facts for all the products."""
    notes: list[str] = []
    offered = {p.id: _telling(order_facts(product_facts(p, catalog, notes), request, p),
                              p)[:OFFERED] for p in products}
    picks = await _model_picks(model, request, products, offered, notes) if any(
        offered.values()) else {}
    reasons = {}
    for p in products:
        chosen = list(dict.fromkeys(picks.get(p.id, ())))
        chosen += [f for f in offered[p.id] if f not in chosen]  # the closest, if too few
        reasons[p.id] = render_reason(chosen[:2], _activity(p, request))
        if not offered[p.id]:
            notes.append(f"product {p.id}: no fact of its record could be shown; the generic "
                         "reason stands")
    return reasons, notes


async def _model_picks(
    model: Model | None, request: str, products: Sequence[Product],
    offered: Mapping[str, list[str]], notes: list[str],
) -> dict[str, list[str]]:
    if model is None:
        return {}
    keys = {f"p{n}": p for n, p in enumerate(products, 1) if offered[p.id]}
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {k: {"type": "array", "items": {"enum": offered[p.id]},
                           "minItems": min(2, len(offered[p.id])), "maxItems": 2}
                       for k, p in keys.items()},
        "required": list(keys), "additionalProperties": False,
    }
    listing = "\n\n".join(f"{k}: {p.name}\n" + "\n".join(f"- {f}" for f in offered[p.id])
                          for k, p in keys.items())
    messages = [
        Message.system("You help a shop assistant. For each product, choose the two facts "
                       "that matter most for what the customer asked. Answer with JSON only."),
        Message.user(f"Customer: {request}\n\n{listing}"),
    ]
    try:
        response = await model.request(messages, output=schema,
                                       settings=ModelSettings(max_tokens=40 + 45 * len(keys)))
    except OutputValidationError as exc:
        notes.append(f"reasons: the model's picks were unusable ({exc.message}); the facts "
                     "closest to the request stand")
        return {}
    data = response.data if isinstance(response.data, dict) else {}
    return {p.id: [f for f in data.get(k, ()) if f in offered[p.id]] for k, p in keys.items()}
