"""Reading what a shopper asks for (a type, a kit, neither) from the catalog's own words, and
what the recommender does with it: the right type, a kit across kinds, no two variants of one
line, reasons from each product's own record."""

import asyncio

import pytest

from delegate import ScriptedModel
from delegate.apps.recommend.catalog import default_catalog, load_catalog
from delegate.apps.recommend.need import ProductTypes, read_need
from delegate.apps.recommend.reasons import GENERIC_REASON, is_specific, pick_reasons
from delegate.apps.recommend.workflow import recommend
from delegate.errors import OutputValidationError
from delegate.llm import ScriptedCall
from delegate.llm.scripted import minimal_instance
from delegate.llm.structured import json_schema_of

SHOP = load_catalog([
    {"id": 1, "name": "Ridge Rain Jacket", "price": 149.0, "category": "jackets",
     "features": ["waterproof 10K rating", "packs into its own pocket", "hood"],
     "activities": ["hiking", "rain"]},
    {"id": 2, "name": "Loft Down Jacket", "price": 189.0, "category": "jackets",
     "features": ["insulated", "windproof", "packs small"], "activities": ["winter"]},
    {"id": 3, "name": "Sol Sun Hoodie", "price": 59.0, "category": "tops",
     "features": ["UPF 30+ sun protection", "thumb holes"], "activities": ["fishing", "hiking"]},
    {"id": 4, "name": "Trail Tee Short Sleeve", "price": 35.0, "category": "tops",
     "features": ["moisture wicking", "quick dry"], "activities": ["hiking", "running"]},
    {"id": 5, "name": "Wide Brim Sun Hat", "price": 39.0, "category": "hats",
     "features": ["UPF 50 brim", "chin strap"], "activities": ["fishing", "hiking"]},
    {"id": 6, "name": "Chino Travel Pants (Slim Fit)", "price": 99.0, "category": "pants",
     "features": ["stretch chino", "hidden zip pocket"], "activities": ["travel", "hiking"]},
    {"id": 7, "name": "Chino Travel Pants (Straight Fit)", "price": 99.0, "category": "pants",
     "features": ["stretch chino", "roomier leg"], "activities": ["travel", "hiking"]},
    {"id": 8, "name": "Vent Hiking Pants", "price": 89.0, "category": "pants",
     "features": ["very light", "vented"], "activities": ["hiking", "summer"]},
    {"id": 9, "name": "Merino Hiking Socks", "price": 24.0, "category": "socks",
     "features": ["merino wool", "cushioned sole"], "activities": ["hiking", "winter"]},
    {"id": 10, "name": "Chamois Liner Shorts", "price": 69.0, "category": "bike liners",
     "features": ["padded chamois"], "activities": ["mountain biking"]},
    {"id": 11, "name": "Canyon Bib", "price": 89.0, "category": "bike liners",
     "features": ["bib straps", "padded chamois"], "activities": ["mountain biking"]},
    {"id": 12, "name": "Trail Shorts", "price": 65.0, "category": "shorts",
     "features": ["quick dry", "zip pocket"], "activities": ["hiking", "mountain biking"]},
])
TYPES = ProductTypes.learn(SHOP)


def test_types_come_from_the_catalogs_categories_and_names():
    assert TYPES.words["jacket"] == {"1", "2"}  # the category's last word
    assert TYPES.words["liner"] == {"10", "11"}
    assert TYPES.words["short"] == {"10", "12"}  # shorts, and the liner named as shorts
    assert TYPES.words["merino"] == {"9"}  # a name word found in one kind: that kind
    assert "hiking" not in TYPES.words  # found in three kinds: no type
    assert TYPES.kind("11") == "bike liners"


@pytest.mark.parametrize(("query", "kind", "types"), [
    ("A warm jacket for winter city commutes under $200", "type", ("jacket",)),
    ("A sun hat for fishing trips", "type", ("hat",)),  # "sun" only modifies "hat"
    ("a liner to wear under my bike shorts", "type", ("liner",)),  # the shorts are theirs
    ("bib shorts with pockets", "type", ("short", "bib")),  # a modifier that ends a name
    ("a jacket and socks for the hills", "type", ("jacket", "sock")),
    ("Anything for long summer hikes?", "open", ()),
    ("I need lightweight hiking gear for a summer trek", "kit", ()),
    ("Everything I need for a rainy weekend of backpacking", "kit", ()),
    ("Outfit me for a desert fishing trip", "kit", ()),
    ("something to keep me dry", "open", ()),
])
def test_the_request_is_read_as_a_type_a_kit_or_open(query, kind, types):
    need = read_need(query, TYPES)
    assert (need.kind, need.types) == (kind, types), need.evidence


def test_an_unseen_shape_learns_its_own_types_and_a_kit_names_its_activity():
    other = load_catalog({"products": [
        {"id": 1, "title": "Baseball Ball", "category": "sports-accessories", "price": 8},
        {"id": 2, "title": "Baseball Glove", "category": "sports-accessories", "price": 40},
        {"id": 3, "title": "Classic Sun Glasses", "category": "sunglasses", "price": 20},
        {"id": 4, "title": "Sneakers Red", "category": "mens-shoes", "price": 90},
    ]})
    types = ProductTypes.learn(other)
    assert types.members(("shoe",)) == {"4"} and types.members(("sunglass",)) == {"3"}
    assert read_need("running shoes for men", types).types == ("shoe",)
    # "baseball" names products, but here it is what the kit is for
    assert read_need("Everything I need for a game of baseball", types).kind == "kit"
    assert read_need("a baseball glove", types).types == ("glove",)


def contrary_model(call: ScriptedCall):
    """Ranks the candidates backwards and picks the facts offered last first."""
    props = call.output.get("properties", {}) if isinstance(call.output, dict) else {}
    if "ranking" in props:
        ids = props["ranking"]["items"]["enum"]
        return {"ranking": list(reversed(ids))[: props["ranking"]["minItems"]]}
    if props and all(k.startswith("p") for k in props):
        return {k: list(reversed(v["items"]["enum"]))[: v["maxItems"]]
                for k, v in props.items()}
    if "opening" in props:
        return {"opening": "Out on the trail you want gear that works.",
                "closing": "See you out there."}
    if call.output is not None:
        return minimal_instance(json_schema_of(call.output))
    return "ok"


def ask(query, catalog=SHOP, model=contrary_model, **kw):
    return asyncio.run(recommend(query, catalog=catalog,
                                 model=ScriptedModel(function=model), **kw))


def test_a_type_request_gets_only_that_type_and_no_two_variants_of_one_line():
    rec = ask("travel pants for a long flight")
    assert {p.id for p in rec.products} <= {"6", "7", "8"}
    assert not {"6", "7"} <= {p.id for p in rec.products}  # slim and straight: one line
    assert any("a variant of product" in n for n in rec.notes), rec.notes
    assert any("reads as type: asks for 'pant'" in n for n in rec.notes)
    jackets = ask("a warm jacket for winter")
    assert [p.id for p in jackets.products] == ["2", "1"]  # of that type, even if fewer than 3


def test_a_type_the_catalog_has_little_of_is_not_padded_with_other_types():
    rec = ask("socks for cold hikes")
    assert [p.id for p in rec.products] == ["9"]


def test_a_kit_spans_the_kinds_the_activity_needs_one_product_each():
    rec = ask("Everything I need for a hiking trip in the rain")
    kinds = [TYPES.kind(p.id) for p in rec.products]
    assert len(kinds) >= 2 and len(set(kinds)) == len(kinds)
    assert "jackets" in kinds
    assert any("reads as kit" in n for n in rec.notes)
    small = ask("Outfit me for fishing under $60")  # a ceiling still holds in a kit
    assert small.products and all(p.price <= 60 for p in small.products)
    assert len({TYPES.kind(p.id) for p in small.products}) == len(small.products)


def test_each_reason_states_facts_of_its_own_product():
    rec = ask("a sun hat for fishing")
    [hat] = rec.products
    assert hat.reason == "Chin strap and UPF 50 brim; good for fishing."  # the model's picks
    assert is_specific(hat.reason, SHOP.get("5"))
    assert not is_specific(GENERIC_REASON, SHOP.get("5"))
    assert not is_specific("Wide Brim Sun Hat.", SHOP.get("5"))  # only its name again


def test_unusable_picks_leave_the_closest_facts_and_a_product_without_facts_the_generic_reason():
    bare = load_catalog([{"id": 1, "name": "Plain Cap", "price": 10},
                         {"id": 2, "name": "Sun Hat", "price": 20,
                          "features": ["UPF 50 brim", "chin strap"]}])
    model = ScriptedModel([OutputValidationError("output cut off at max_tokens=130")])
    reasons, notes = asyncio.run(pick_reasons(model, "a hat for the sun", list(bare), bare))
    assert reasons == {"1": GENERIC_REASON, "2": "UPF 50 brim and chin strap."}
    assert any("picks were unusable" in n for n in notes)
    assert any("product 1: no fact of its record could be shown" in n for n in notes)


def test_the_shipped_catalog_reads_the_reported_requests():
    types = ProductTypes.learn(default_catalog())
    assert read_need("A warm jacket for winter city commutes under $200", types).types == (
        "jacket",)
    assert read_need("A sun hat for fishing trips", types).types == ("hat",)
    assert read_need("I need lightweight hiking gear for a summer trek", types).kind == "kit"
    assert read_need("Everything I need for a rainy weekend of backpacking", types).kind == "kit"


def test_a_kit_whose_words_match_one_kind_widens_to_what_serves_the_same_uses():
    shop = load_catalog([
        {"id": 1, "name": "Desert Sun Hoodie", "price": 59, "category": "tops",
         "activities": ["desert trips", "fishing"]},
        {"id": 2, "name": "Shade Hat", "price": 30, "category": "hats",
         "activities": ["fishing", "summer"]},
        {"id": 3, "name": "Ski Gloves", "price": 40, "category": "gloves",
         "activities": ["skiing"]},
    ])
    rec = ask("Outfit me for the desert", catalog=shop)
    assert [p.id for p in rec.products] == ["1", "2"]  # the hat shares the hoodie's fishing


def test_a_fact_that_only_repeats_the_name_is_not_offered_and_lists_join_with_a_semicolon():
    from delegate.apps.recommend.reasons import render_reason

    shell = load_catalog([{"id": 1, "name": "Ridge Rain Jacket", "price": 99,
                           "features": ["rain jacket", "nylon, 67 gsm and taped seams",
                                        "packs small"]}])
    offered = []

    def answer(call):
        offered.extend(call.output["properties"]["p1"]["items"]["enum"])
        return {"p1": offered[:2]}

    reasons, _ = asyncio.run(pick_reasons(ScriptedModel(function=answer), "a jacket", list(shell),
                                          shell))
    assert offered == ["nylon, 67 gsm and taped seams", "packs small"]
    assert reasons["1"] == "Nylon, 67 gsm and taped seams; packs small."
    assert render_reason(["light", "warm"], "winter") == "Light and warm; good for winter."


def test_the_activity_is_not_said_twice():
    from delegate.apps.recommend.reasons import render_reason

    assert render_reason(["moisture wicking", "shorts for hot-weather hiking"], "hiking") == (
        "Moisture wicking and shorts for hot-weather hiking.")


def test_commas_join_types_and_a_request_that_matches_nothing_gets_nothing():
    assert read_need("a jacket, socks for the hills", TYPES).types == ("jacket", "sock")
    rec = ask("zxqv plonk")  # no word of it is in the catalog
    assert rec.products == ()
    assert any("no product matched the request" in n for n in rec.notes), rec.notes


def test_a_kits_words_are_searched_in_their_trimmed_forms_too():
    from delegate.apps.recommend.need import stems

    assert stems("a rainy weekend of swimming, sunny hiking, and the hills") == [
        "rain", "swim", "sun", "hik"]  # "hills" and "weekend" are left as they are
    rec = ask("Everything I need for a rainy outing")  # "rain" is in a record, "rainy" is not
    assert "1" in [p.id for p in rec.products]
