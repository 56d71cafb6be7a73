"""Grounding: does a text name real catalog products at their real prices?

Used by the recommender's evaluation to score answers; kept apart so that anything that writes
about products can check itself the same way.
"""

from __future__ import annotations

import re

from .catalog import Catalog

__all__ = ["PRICE_WINDOW", "grounding"]

PRICE_WINDOW = 80
"""Characters after a product name searched for its price (the rest of its line is, too)."""

_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2033": '"'})
_MONEY = re.compile(r"\$\s?(\d[\d,]*)(?:\.(\d+))?")
_REF = re.compile(r"\b(?:product|item|id)\s*(?:#|no\.?|number|:)?\s*(\d+)\b", re.IGNORECASE)


def grounding(text: str, catalog: Catalog) -> tuple[int, int]:
    """Count the catalog products ``text`` names, and how many of them it names truthfully.

    A product is *named* where its catalog name appears (case-insensitive, not inside a longer
    word, any run of whitespace between words, curly quotes read as straight ones). Longer
    names are matched first and their spans claimed, so "X Pants (Slim Fit)" is not also
    counted as "X Pants". Each mention counts once.

    A mention is *grounded* unless a wrong price is written near it: the first ``$NN`` or
    ``$NN.NN`` amount in the text after the name, within :data:`PRICE_WINDOW` characters or the
    rest of the name's line (whichever reaches further) and before the next product mention,
    must equal the catalog price to the cent. A name with no price near it is grounded (naming
    a product is not a false claim); a price next to a product with no catalog price is not.

    A reference such as "product 999", "item #12" or "id 40" whose number is not a catalog id
    also counts as named and ungrounded; one to a real id is not counted.

    Returns:
        ``(grounded, named)``; the grounding share is grounded / named, 1.0 when named is 0.
    """
    text = text.translate(_QUOTES)
    prices: dict[str, set[int | None]] = {}
    for product in catalog.products:
        cents = None if product.price is None else round(product.price * 100)
        prices.setdefault(product.name.casefold(), set()).add(cents)
    claimed: list[tuple[int, int, set[int | None]]] = []
    for name in sorted(prices, key=len, reverse=True):
        words = r"\s+".join(re.escape(w) for w in name.translate(_QUOTES).split())
        for m in re.finditer(rf"(?<!\w){words}(?!\w)", text, re.IGNORECASE):
            if not any(m.start() < end and start < m.end() for start, end, _ in claimed):
                claimed.append((m.start(), m.end(), prices[name]))
    claimed.sort(key=lambda c: c[0])
    grounded = 0
    for i, (_, end, known) in enumerate(claimed):
        line_end = text.find("\n", end)
        stop = max(end + PRICE_WINDOW, len(text) if line_end < 0 else line_end)
        if i + 1 < len(claimed):
            stop = min(stop, claimed[i + 1][0])
        money = _MONEY.search(text, end, stop)
        grounded += money is None or _cents(money) in known
    named = len(claimed)
    for ref in _REF.finditer(text):
        inside = any(ref.start() < e and s < ref.end() for s, e, _ in claimed)
        if not inside and str(int(ref.group(1))) not in catalog:
            named += 1
    return grounded, named


def _cents(money: re.Match[str]) -> int:
    whole, frac = money.group(1).replace(",", ""), money.group(2) or "0"
    return round(float(f"{whole}.{frac}") * 100)
