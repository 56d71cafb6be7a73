"""Grounding: does a text name real catalog products at their real prices, and claim only
what the catalog supports?

:func:`grounding` scores an answer (the recommender's evaluation uses it). The checks below it
keep catalog text and model sentences honest before a customer reads them:

- :func:`offer_claims`: money amounts, price talk, discounts, "free" and "only today" offers.
  A price reaches the customer only from the catalog's price field; discount words only where
  the record's structured fields say there is an offer.
- :func:`reason_problems`: a product reason (one sentence about one product) must pass
  :func:`offer_claims`, name no other catalog product and no product number, and be grounded
  in the product's own record: share a word with it, and say mostly things that the record or
  the customer's request says (words of record sentences that address the model, such as
  "tell the customer ...", do not count as support).
- :func:`name_problems`: a product name that states a price or an offer, or addresses the
  model, is not shown to a customer at all.
- :func:`claim_problems`: the model's framing sentences (opening, closing): no prices, offers,
  other products or product numbers.

Each returns the problems in words (empty when the text passes), for the run's notes.
"""

from __future__ import annotations

import re

from .catalog import Catalog, Product, tokenize

__all__ = [
    "PRICE_WINDOW",
    "claim_problems",
    "grounding",
    "instruction_like",
    "name_problems",
    "offer_claims",
    "other_products_named",
    "reason_problems",
    "record_words",
]

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


# --- what a customer may read -----------------------------------------------------------------

MAX_NAME_CHARS = 120
"""Longest product name shown to a customer; a longer one is prose, not a name."""

_NUMBER_WORDS = (
    r"(?:one|two|three|four|five|six|seven|eight|nine|ten|twenty|thirty|forty|fifty|hundred)"
)
_MONEY_CLAIM = re.compile(
    r"[$€£¥]\s?\d|\d\s?[$€£¥]"
    r"|\b\d[\d,]*(?:\.\d+)?\s?(?:dollars?|usd|eur|euros?|gbp|bucks|cents?)\b"
    r"|\b(?:usd|eur|gbp)\s?\d"
    rf"|\b{_NUMBER_WORDS}\s+(?:dollars?|bucks|euros?|cents?)\b",
    re.IGNORECASE,
)
_PRICE_TALK = re.compile(
    r"\b(?:prices?|priced|pricing|costs?|costing|cheap(?:er|est|ly)?|bargains?|affordabl[ey]"
    r"|inexpensive|no charge|gratis)\b",
    re.IGNORECASE,
)
_OFFER = re.compile(
    r"\b(?:on sale|for sale|sales?|discount(?:s|ed)?|clearance|coupons?|promo(?:tion)?s?"
    r"|deals?|mark(?:ed)?[- ]?down|half[- ]price|half off|bogo|buy one,? get one)\b"
    r"|\b\d+(?:\.\d+)?\s?%\s?off\b",
    re.IGNORECASE,
)
# "free" as an offer; not "PFC-free", "free of", "free to move", "feel free", "hands free".
_FREE = re.compile(
    r"(?<![-\w])(?<!feel\s)(?<!hands\s)free(?![-\w])"
    r"(?!\s+(?:of|from|to|movement|motion|range)\b)",
    re.IGNORECASE,
)
# the same, only in unmistakable offer phrasing (for names, where a false alarm costs more)
_FREE_OFFER = re.compile(
    r"\b(?:is|it's|for|now|all|totally|completely|absolutely)\s+free\b"
    r"|\bfree\s+(?:today|now|gift|shipping|delivery|of\s+charge)\b",
    re.IGNORECASE,
)
_URGENCY = re.compile(
    r"\b(?:today only|only today|now only|only now|just today|tonight only|this week only"
    r"|limited[- ]time|while (?:stocks?|supplies) lasts?|act now|hurry|last chance"
    r"|(?:ends?|expires?) (?:soon|today|tonight)|(?:today|tonight)'?s (?:deal|offer|sale|price))\b",
    re.IGNORECASE,
)
_PRODUCT_NUMBER = re.compile(r"\b(?:product|item|id|sku)\s*#?\s*(\d+)\b", re.IGNORECASE)
_INSTRUCTION = re.compile(
    r"\b(?:ignore|disregard|forget|override)\b.{0,40}?"
    r"\b(?:instructions?|prompts?|rules|above|previous|prior|system)\b"
    r"|\b(?:tell|inform|remind|assure|convince|promise)\s+(?:the\s+|our\s+|all\s+|every\s+)?"
    r"(?:customers?|users?|shoppers?|buyers?|readers?|visitors?|them|everyone|people)\b"
    r"|\b(?:say|state|mention|write|respond|reply|claim|announce)\s+"
    r"(?:that|this|it|they|to\s+(?:the\s+)?(?:customers?|users?)\b|:|\")"
    r"|\byou\s+(?:must|are\s+(?:now\s+)?(?:an?|the)\s+(?:assistant|ai|model|bot|chatbot))\b"
    r"|\bas\s+an\s+ai\b|\blanguage\s+model\b|\bsystem\s+prompt\b|\b(?:assistant|system)\s*:"
    r"|\brecommend\s+(?:product|item|id|sku|only)\b",
    re.IGNORECASE,
)
_SENTENCE = re.compile(r"(?<=[.!?;])\s+|\n")
# Keys (compared without case, "_", "-" or spaces) whose presence with a value says a record
# is on offer, and so supports words such as "sale" or "discount" (never an amount).
_OFFER_KEYS = frozenset((
    "sale", "onsale", "saleprice", "discount", "discountpercent", "discountpct",
    "compareatprice", "originalprice", "wasprice", "promotion", "promo", "clearance", "deal",
    "offer",
))
# Words a reason may use without the record saying them: they make no claim about the product.
_NEUTRAL = frozenset(tokenize(
    "great good perfect ideal nice excellent best solid choice pick option need want trip day "
    "use keep make made stay help enjoy look looking customer request suit suited match "
    "product item gear outdoor outdoors adventure adventures time well really"
))


def offer_claims(text: str, product: Product | None = None) -> list[str]:
    """Money, price talk and offers in ``text``: what only the catalog may state.

    Never allowed: an amount of money (``$5``, ``5 dollars``, ``five bucks``), price talk
    ("price", "cheap", "affordable"), a time-limited offer ("only today", "limited time").
    Allowed only where ``product``'s record supports it: "free" (its catalog price is 0) and
    offer words such as "sale", "discount", "20% off" (a structured field such as ``on_sale``,
    ``discount`` or ``compare_at_price`` has a value). Material claims such as "PFC-free" or
    "free of PFAS" are not offers.
    """
    problems = []
    if m := _MONEY_CLAIM.search(text):
        problems.append(f"it states an amount of money ({m.group(0).strip()!r}); prices come "
                        "from the catalog")
    if m := _PRICE_TALK.search(text):
        problems.append(f"it talks about price ({m.group(0)!r})")
    if m := _URGENCY.search(text):
        problems.append(f"it makes a time-limited offer ({m.group(0)!r})")
    if _FREE.search(text) and not (product is not None and product.price == 0):
        problems.append("it says something is free, which the catalog price does not")
    if (m := _OFFER.search(text)) and not (product is not None and _on_offer(product)):
        problems.append(f"it announces an offer ({m.group(0)!r}) that the catalog record "
                        "does not have")
    return problems


def instruction_like(text: str) -> bool:
    """Whether ``text`` addresses a model ("ignore previous instructions", "tell the customer
    ...", "say that ...", "assistant:") rather than describing a product."""
    return bool(_INSTRUCTION.search(text))


def record_words(product: Product) -> set[str]:
    """The search terms of ``product``'s record, leaving out sentences that address a model:
    what a reason about the product may rest on."""
    words = set(tokenize(product.name))
    for sentence in _SENTENCE.split(product.text):
        if sentence.strip() and not instruction_like(sentence):
            words.update(tokenize(sentence))
    return words


def other_products_named(text: str, catalog: Catalog, allowed_ids: set[str]) -> list[str]:
    """Names of catalog products outside ``allowed_ids`` that ``text`` mentions, matched as
    :func:`grounding` matches them (whole words, longest names first, so an allowed "X Pants
    (Slim Fit)" does not also count as another product "X Pants")."""
    found: list[str] = []
    for _, _, ids, written in _names_in(" ".join(text.translate(_QUOTES).split()), catalog):
        if not ids & allowed_ids and written not in found:
            found.append(written)
    return found


def _names_in(flat: str, catalog: Catalog) -> list[tuple[int, int, set[str], str]]:
    """``(start, end, ids, written)`` for each catalog name in ``flat`` (whitespace already
    collapsed), longest names claiming their span first."""
    folded = flat.casefold()
    ids: dict[str, set[str]] = {}
    for product in catalog.products:
        name = " ".join(product.name.translate(_QUOTES).split()).casefold()
        if name and name in folded:  # a cheap test first: most names are not there at all
            ids.setdefault(name, set()).add(product.id)
    claimed: list[tuple[int, int, set[str], str]] = []
    for name in sorted(ids, key=len, reverse=True):
        for m in re.finditer(rf"(?<!\w){re.escape(name)}(?!\w)", flat, re.IGNORECASE):
            if not any(m.start() < end and start < m.end() for start, end, _, _ in claimed):
                claimed.append((m.start(), m.end(), ids[name], m.group(0)))
    return claimed


def _number_refs(text: str, catalog: Catalog, allowed_ids: set[str]) -> list[str]:
    """Product-number references ("product 12", "item #3") in ``text``, except those inside
    a catalog name ("Item 6" may be a name) or to an allowed id."""
    flat = " ".join(text.translate(_QUOTES).split())
    names = _names_in(flat, catalog)
    return [ref.group(1) for ref in _PRODUCT_NUMBER.finditer(flat)
            if ref.group(1) not in allowed_ids
            and not any(ref.start() < end and start < ref.end() for start, end, _, _ in names)]


def claim_problems(text: str, catalog: Catalog, allowed_ids: set[str]) -> list[str]:
    """What a model's own sentences about a set of picks may not say: any money, price talk or
    offer (:func:`offer_claims` with no record to support it), a catalog product outside
    ``allowed_ids``, or a product-number reference."""
    problems = offer_claims(text)
    problems += [f"it names {name!r}, which is not among the picks"
                 for name in other_products_named(text, catalog, allowed_ids)]
    problems += [f"it refers to product number {ref}" for ref in _number_refs(text, catalog, set())]
    return problems


def reason_problems(
    reason: str, product: Product, catalog: Catalog, request: str = ""
) -> list[str]:
    """What is wrong with ``reason`` as the customer-facing reason for ``product``.

    It may not state money, price talk or an offer the record does not support
    (:func:`offer_claims`), name another catalog product or a product number, and it must be
    grounded in the product's own record (:func:`record_words`): at least one of its words is
    the record's, and at most half of its words are neither the record's nor the customer's
    ``request``'s (a few words that claim nothing, such as "great" or "trip", are not counted).

    Returns:
        The problems in words; empty when the reason may be shown.
    """
    problems = offer_claims(reason, product)
    problems += [f"it names {name!r}, another product"
                 for name in other_products_named(reason, catalog, {product.id})]
    problems += [f"it refers to product number {ref}"
                 for ref in _number_refs(reason, catalog, {product.id})]
    words = set(tokenize(reason)) - _NEUTRAL
    support = record_words(product)
    unsupported = sorted(words - support - set(tokenize(request)))
    if not words & support:
        problems.append("it shares no word with the product's record")
    elif 2 * len(unsupported) > len(words):
        problems.append("it says what the product's record does not ("
                        + ", ".join(unsupported[:5]) + ")")
    return problems


def name_problems(product: Product) -> list[str]:
    """Why ``product``'s name may not be shown to a customer: it states money or a
    time-limited offer, announces an offer its record does not have, addresses a model, or
    is longer than :data:`MAX_NAME_CHARS`. Empty for an ordinary name."""
    name = product.name
    problems = []
    if len(name) > MAX_NAME_CHARS:
        problems.append(f"it is {len(name)} characters long")
    if _MONEY_CLAIM.search(name):
        problems.append("it states an amount of money")
    if _URGENCY.search(name) or _FREE_OFFER.search(name):
        problems.append("it makes an offer")
    elif _OFFER.search(name) and not _on_offer(product):
        problems.append("it announces an offer the record does not have")
    if instruction_like(name):
        problems.append("it addresses the model")
    return problems


def _on_offer(product: Product) -> bool:
    """Whether a structured field of the record (top level or one level down) says the
    product is on offer."""

    def fields(record: dict, depth: int):
        for key, value in record.items():
            yield key, value
            if depth and isinstance(value, dict):
                yield from fields(value, depth - 1)

    for key, value in fields(product.record, 1):
        norm = re.sub(r"[\s_-]", "", str(key)).casefold()
        if norm in _OFFER_KEYS and value and str(value).strip().casefold() not in (
                "no", "false", "none", "0", "n/a"):
            return True
    return False
