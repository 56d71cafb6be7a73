"""Catalog loading (messy shapes, bad records, hostile files) and BM25 search."""

import json
from importlib import resources

import pytest

from delegate.apps.recommend.catalog import (
    Catalog,
    CatalogError,
    CatalogIssue,
    default_catalog,
    load_catalog,
    load_text,
    tokenize,
)
from delegate.errors import UsageError


def _shipped(name: str):
    text = resources.files("delegate.apps.data").joinpath("ketlmtn").joinpath(name).read_text()
    return json.loads(text)


def _write(tmp_path, data, name="catalog.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


SHOP = [
    {"id": 1, "name": "Storm Shell", "category": "jackets", "price": 150,
     "features": ["waterproof", "hood", "taped seams"]},
    {"id": 2, "name": "Breeze Vest", "category": "jackets", "price": 60,
     "features": ["windproof", "packable"]},
    {"id": 3, "name": "Trail Tee", "category": "tops", "price": 25,
     "features": ["wicking", "lightweight"]},
    {"id": 4, "name": "Summit Tee", "category": "tops", "price": 35,
     "features": ["wicking", "merino"]},
    {"id": 5, "name": "Canyon Pants", "category": "pants", "price": 90,
     "features": ["stretch", "water repellent"]},
    {"id": 6, "name": "Mystery Tee", "category": "tops", "features": ["wicking"]},
]  # fmt: skip


# --- the shipped KETL Mtn. data ---------------------------------------------------------------


def test_shipped_catalog_keeps_original_ids_and_reports_the_nameless_record():
    records = _shipped("products.json")
    assert len(records) == 44
    catalog = default_catalog()
    assert len(catalog) == 43
    assert catalog.ids == tuple(str(r["id"]) for r in records if r.get("name"))
    assert set(catalog.ids) | {"37"} == {str(i) for i in range(1, 45)}
    assert catalog.issues == (CatalogIssue(36, "37", "record has no name; left out."),)
    tee = catalog.get("7")
    assert tee.name == "Departed Featherweight Performance Tee Short Sleeve"
    assert tee.price == 49.95 and tee.category == "tops"
    assert catalog.get(7) is tee and 7 in catalog and "37" not in catalog


def test_shipped_records_carry_the_facts():
    for record in _shipped("products.json"):
        assert isinstance(record["price"], float) and record["currency"] == "USD"
        assert record["features"] and all(len(f) <= 60 for f in record["features"])
        if record["name"]:
            assert record["sizes"] and record["materials"]


def test_shipped_search_finds_the_rain_jacket():
    results = default_catalog().search("waterproof rain jacket", k=3)
    assert results[0][0].id == "24"
    assert all(product.category == "jackets" for product, _ in results)


def test_eval_set_points_at_real_products_within_budget():
    catalog = default_catalog()
    queries = _shipped("eval.json")
    assert len(queries) >= 28
    assert len({q["id"] for q in queries}) == len(queries)
    assert 0.25 <= sum(q["max_price"] is not None for q in queries) / len(queries) <= 0.45
    for q in queries:
        assert 1 <= len(q["expected_ids"]) <= 4, q["id"]
        for pid in q["expected_ids"]:
            assert isinstance(pid, str) and pid in catalog, (q["id"], pid)
            if q["max_price"] is not None:
                assert catalog.get(pid).price <= q["max_price"], (q["id"], pid)


def test_shipped_texts_load():
    assert "## Do" in load_text("brand_voice")
    assert "repair" in load_text("guarantee.md").lower()
    assert "KETL" in load_text("company")
    with pytest.raises(CatalogError, match="brand_voice"):
        load_text("secrets")


# --- shapes -----------------------------------------------------------------------------------


def test_nested_records_with_string_prices(tmp_path):
    path = _write(tmp_path, [
        {"product_id": 10, "url": "https://shop.example/a",
         "extracted_data": {"product_name": "Alpine Parka", "category_id": 6, "price": "$1,049.00",
                            "details": {"fabric": "recycled nylon"}}},
        {"product_id": 11, "extracted_data": {"product_name": "Camp Mug", "price": "12.50 USD"}},
    ])  # fmt: skip
    catalog = load_catalog(path)
    parka = catalog.get("10")
    assert (parka.name, parka.price, parka.category) == ("Alpine Parka", 1049.0, "6")
    assert "recycled nylon" in parka.text and "shop.example" not in parka.text
    assert parka.record["extracted_data"]["price"] == "$1,049.00"
    assert catalog.get("11").price == 12.5 and catalog.issues == ()


def test_dummyjson_like_wrapper():
    data = {"total": 2, "skip": 0, "products": [
        {"id": 1, "title": "Essence Mascara", "price": 9.99, "category": "beauty",
         "description": "Volumizing mascara.", "tags": ["beauty", "mascara"], "sku": "BEA-1",
         "dimensions": {"width": 15.1, "height": 13.1},
         "reviews": [{"rating": 5, "comment": "Lovely!", "reviewerName": "Ann",
                      "reviewerEmail": "ann@example.com", "date": "2024-05-23T08:56:21.618Z"}],
         "meta": {"barcode": "9164035109868", "qrCode": "https://cdn.example/qr.png"}},
        {"id": 2, "title": "Red Lipstick", "price": 12.99, "category": "beauty"},
    ]}  # fmt: skip
    catalog = load_catalog(data)
    mascara = catalog.get("1")
    assert (mascara.name, mascara.price, mascara.category) == ("Essence Mascara", 9.99, "beauty")
    assert "Lovely!" in mascara.text and "mascara" in mascara.text
    for junk in ("9164035109868", "ann@example.com", "2024-05-23", "cdn.example"):
        assert junk not in mascara.text
    assert catalog.search("lipstick")[0][0].id == "2"


@pytest.mark.parametrize(
    ("raw", "price"),
    [("$1,049.00", 1049.0), ("49.99 USD", 49.99), ("12,50 €", 12.5), ("1.049,00", 1049.0),
     (" 30 ", 30.0), (0, 0.0), ({"amount": "19.00", "currency": "USD"}, 19.0)],
)  # fmt: skip
def test_flat_records_parse_price_strings(raw, price):
    catalog = load_catalog([{"sku": "A-1", "product_name": "Thing", "price": raw}])
    assert catalog.get("A-1").price == price and catalog.issues == ()


@pytest.mark.parametrize("raw", ["ask in store", "-5", 10**400, {"currency": "USD"}, [9], True])
def test_unreadable_prices_become_none_with_an_issue(raw):
    catalog = load_catalog([{"id": "x", "title": "Thing", "price": raw}])
    assert catalog.get("x").price is None
    assert [(i.id, "not a readable price" in i.reason) for i in catalog.issues] == [("x", True)]


def test_categories_and_ids_in_other_shapes():
    catalog = load_catalog(
        {"items": [{"productId": 7.0, "Product Name": "Cap", "type": "simple",
                    "categories": [{"id": 3, "name": "Hats"}], "variants": [{"price": "$20"}]}]}
    )  # fmt: skip
    cap = catalog.get("7")
    assert (cap.name, cap.category, cap.price) == ("Cap", "Hats", 20.0)


def test_malformed_records_are_reported_and_the_rest_loads(tmp_path):
    deep: dict = {"name": "Deep Junk", "id": "deep"}
    node = deep
    for _ in range(5_000):
        node["more"] = {"junk": "buried"}
        node = node["more"]
    records = [
        {"id": 1, "name": "Good Boots", "price": 120},
        {"id": 2, "price": 10, "description": "no name here"},
        {"id": 3, "name": "Odd Price", "price": "ask in store"},
        42,
        {"id": 1, "name": "Boots Again", "price": 99},
        {"name": "No Id Hat", "price": -5},
        deep,
        None,
    ]
    catalog = load_catalog(records)
    assert catalog.ids == ("1", "3", "row-5", "deep")
    assert catalog.get("3").price is None and catalog.get("row-5").price is None
    assert len(catalog.get("deep").text) < 1_000
    reasons = [(i.index, i.id, i.reason) for i in catalog.issues]
    assert [r[:2] for r in reasons] == [
        (1, "2"), (2, "3"), (3, None), (4, "1"), (5, "row-5"), (5, "row-5"), (7, None),
    ]  # fmt: skip
    assert "no name" in reasons[0][2]
    assert "'ask in store'" in reasons[1][2]
    assert "a number, not a JSON object" in reasons[2][2]
    assert "duplicate id" in reasons[3][2] and "record 0" in reasons[3][2]
    assert "no id" in reasons[4][2] and "price -5" in reasons[5][2]
    assert "null, not a JSON object" in reasons[6][2]


# --- what cannot be loaded --------------------------------------------------------------------


@pytest.mark.parametrize("data", [[], {"products": []}])
def test_empty_catalog_is_an_error(data):
    with pytest.raises(CatalogError, match="empty"):
        load_catalog(data)


def test_not_json_names_the_place(tmp_path):
    path = _write(tmp_path, '[{"id": 1, "name": "A"},\n oops]')
    with pytest.raises(CatalogError, match=r"not valid JSON.*line 2, column 2"):
        load_catalog(path)


@pytest.mark.parametrize(
    "data",
    [{"shop": "x", "count": 3}, {"id": 1, "name": "Lonely", "reviews": [{"a": 1}]}, '"x"', 3],
)
def test_json_without_a_list_of_records_is_an_error(tmp_path, data):
    with pytest.raises(CatalogError, match="list of records"):
        load_catalog(_write(tmp_path, data))


def test_missing_big_and_deeply_nested_files(tmp_path):
    with pytest.raises(CatalogError, match="not found"):
        load_catalog(tmp_path / "nope.json")
    big = _write(tmp_path, json.dumps(SHOP))
    with pytest.raises(CatalogError, match="above the"):
        load_catalog(big, max_bytes=100)
    with pytest.raises(CatalogError, match="JSON"):
        load_catalog(_write(tmp_path, "[" * 200_000 + "]" * 200_000))
    (tmp_path / "utf16.json").write_bytes('[{"id": 1}]'.encode("utf-16"))
    with pytest.raises(CatalogError, match="not JSON: it is not UTF-8"):
        load_catalog(tmp_path / "utf16.json")


def test_no_usable_record_is_an_error():
    with pytest.raises(CatalogError, match=r"no record .* usable") as caught:
        load_catalog([{"id": 1}, "text"])
    assert isinstance(caught.value, UsageError)


# --- search -----------------------------------------------------------------------------------


@pytest.fixture
def shop() -> Catalog:
    return load_catalog(SHOP)


def test_search_finds_the_distinctive_product(shop):
    assert shop.search("something waterproof with a hood")[0][0].id == "1"
    assert [p.id for p, _ in shop.search("merino")] == ["4"]
    assert shop.search("parachutes") == []


def test_search_filters_before_the_cut_off(shop):
    wicking = shop.search("wicking tee", k=2, max_price=30)
    assert [p.id for p, _ in wicking] == ["3"]  # the unpriced tee fails a price filter
    tops = shop.search("wicking", k=3)
    assert [p.id for p, _ in tops] == ["6", "3", "4"]  # the shortest record ranks first
    assert tops[1][1] == tops[2][1]  # equal scores keep catalog order
    assert [p.id for p, _ in shop.search("wicking", k=2, exclude={"6"})] == ["3", "4"]
    assert [p.id for p, _ in shop.search("packable", category="JACKETS")] == ["2"]
    assert shop.search("packable", category="tops") == []
    assert [p.id for p, _ in shop.search("wicking", min_price=30)] == ["4"]


def test_search_ranks_the_whole_catalog(shop):
    results = shop.search("tee jacket pants vest shell", k=5)
    assert len(results) == 5 and len({p.id for p, _ in results}) == 5
    assert all(s > 0 for _, s in results) and results == sorted(results, key=lambda r: -r[1])


def test_empty_query_browses_in_catalog_order(shop):
    assert [(p.id, s) for p, s in shop.search("", k=2, max_price=60)] == [("2", 0.0), ("3", 0.0)]
    assert [p.id for p, _ in shop.search("the and of", k=1)] == ["1"]
    assert shop.search("tee", k=0) == []


def test_search_rejects_bad_arguments(shop):
    with pytest.raises(CatalogError):
        shop.search("tee", k=-1)
    with pytest.raises(CatalogError):
        shop.search("tee", max_price="cheap")
    with pytest.raises(KeyError):
        shop.get("999")


def test_tokenize_is_plain_and_deterministic():
    assert tokenize("The Jackets, boxes & Glasses; men's S/M shorts 12\"") == [
        "jacket", "box", "glass", "men", "short", "12",
    ]  # fmt: skip
