"""The recommender's evaluation: grounding, the naive prompt, metrics, concurrency, reports."""

import asyncio
import json

import pytest

from delegate.apps.recommend.catalog import load_catalog
from delegate.apps.recommend.eval import (
    EvalCase,
    EvalReport,
    evaluate,
    grounding,
    load_eval_set,
    naive_prompt,
)
from delegate.apps.recommend.results import Recommendation, RecommendedProduct
from delegate.core.outcomes import RunResult
from delegate.core.plan import Plan, Task
from delegate.errors import RunError, UsageError
from delegate.llm import Usage

SHOP = [
    {"id": 1, "name": "Trail Pants", "price": 80},
    {"id": 2, "name": "Trail Pants (Slim Fit)", "price": 90.5},
    {"id": 3, "name": "Rain Shell", "price": 150},
    {"id": 4, "name": "Camp Tee", "price": 25},
    {"id": 5, "name": 'Ride Shorts 9"', "price": 1049.95},
    {"id": 6, "name": "Mystery Hat"},
] + [{"id": i, "name": f"Filler Sock {i}", "price": 10, "note": f"n{i}"} for i in range(7, 31)]


@pytest.fixture(scope="module")
def shop():
    return load_catalog(SHOP)


# --- grounding --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The **Rain Shell** ($150.00) keeps you dry.", (1, 1)),
        ("rain shell, $150", (1, 1)),
        ('Ride Shorts 9" - $1,049.95', (1, 1)),
        ("Ride Shorts 9\u201d at $1,049.95", (1, 1)),
        ("The Rain Shell costs $149.99.", (0, 1)),
        ("The Rain Shell is $15.", (0, 1)),
        ("Try the rain   shell on your next hike.", (1, 1)),
        ("The Mystery Hat is $20.", (0, 1)),
        ("The Mystery Hat is a classic.", (1, 1)),
        ("A Camp Teepee is not a tee.", (0, 0)),
        ("", (0, 0)),
    ],
)
def test_grounding_checks_the_price_written_near_each_name(shop, text, expected):
    assert grounding(text, shop) == expected


def test_grounding_matches_the_longest_name_once(shop):
    assert grounding("Trail Pants (Slim Fit) at $90.50", shop) == (1, 1)
    assert grounding("Trail Pants (Slim Fit) at $80", shop) == (0, 1)
    both = "- Trail Pants (Slim Fit): $90.50\n- Trail Pants: $80.00"
    assert grounding(both, shop) == (2, 2)


def test_a_price_belongs_to_the_nearest_name_before_it(shop):
    # Camp Tee has no price of its own; the $150 after Rain Shell is not read as its price.
    assert grounding("Camp Tee and Rain Shell ($150)", shop) == (2, 2)
    assert grounding("Camp Tee and Rain Shell ($25)", shop) == (1, 2)


def test_price_window_is_eighty_characters_or_the_same_line(shop):
    padding = "x" * 100
    assert grounding(f"| Rain Shell | {padding} | $150.00 |", shop) == (1, 1)
    assert grounding(f"| Rain Shell | {padding} | $1.00 |", shop) == (0, 1)
    assert grounding(f"Rain Shell\n{padding} $1.00", shop) == (1, 1)
    assert grounding("Rain Shell\nonly $1.00", shop) == (0, 1)


def test_made_up_product_numbers_are_named_and_ungrounded(shop):
    assert grounding("See product 999 for more.", shop) == (0, 1)
    assert grounding("Item #77, or ID: 1234", shop) == (0, 2)
    assert grounding("Item #3 and product 4 are real.", shop) == (0, 0)
    assert grounding("Rain Shell ($150), or product 999", shop) == (1, 2)


# --- naive prompt and eval set ----------------------------------------------------------------


def test_naive_prompt_holds_the_query_and_the_first_twenty_records(shop):
    prompt = json.loads(naive_prompt("warm socks", shop))
    assert prompt["query"] == "warm socks"
    assert prompt["products"] == SHOP[:20]
    small = load_catalog(SHOP[:3])
    assert json.loads(naive_prompt("q", small))["products"] == SHOP[:3]


def test_shipped_eval_set_loads():
    cases = load_eval_set()
    assert len(cases) >= 28 and len({c.id for c in cases}) == len(cases)
    q05 = next(c for c in cases if c.id == "q05")
    assert q05.expected_ids == ("35",) and q05.max_price == 90.0
    assert all(isinstance(c.expected_ids, tuple) for c in cases)


def test_bad_eval_file_is_a_usage_error(tmp_path):
    path = tmp_path / "eval.json"
    path.write_text('[{"id": "a"}]', encoding="utf-8")
    with pytest.raises(UsageError, match="not a list of evaluation cases"):
        load_eval_set(path)


# --- evaluate ---------------------------------------------------------------------------------


def _rec(catalog, ids, text="", wall=1.0):
    products = tuple(
        RecommendedProduct(p.id, p.name, p.price, "fits") for p in map(catalog.get, ids)
    )
    result = RunResult(
        run_id="r",
        plan=Plan(tasks=(Task(id="t1", worker="w"),)),
        outcomes=(),
        status="succeeded",
        usage=Usage(model_calls=2, prompt_tokens=100, completion_tokens=10),
        wall_seconds=wall,
    )
    return Recommendation(query="q", products=products, text=text, result=result)


CASES = [
    EvalCase("c1", "q1", ("3",)),
    EvalCase("c2", "q2", ("1", "2")),
    EvalCase("c3", "q3", ("5",)),
    EvalCase("c4", "q4", ("4",), max_price=60.0),
    EvalCase("c5", "q5", ("4",), max_price=50.0),
]
ANSWERS = {
    "q1": (["3", "1", "4"], "Rain Shell ($150)", 1.0),
    "q2": (["4", "1", "2"], "Camp Tee ($25), Trail Pants ($79)", 2.0),
    "q3": (["1", "2", "3", "5"], "", 4.0),
    "q4": (["4", "7"], "product 999", 3.0),
    "q5": (["4", "3"], "", 5.0),
}


def _fake(catalog, seen):
    async def recommend_fn(query, *, max_price=None):
        seen.append((query, max_price))
        ids, text, wall = ANSWERS[query]
        return _rec(catalog, ids, text, wall)

    return recommend_fn


def test_evaluate_scores_each_case_in_order(shop):
    seen, ended = [], []
    report = asyncio.run(
        evaluate(_fake(shop, seen), CASES, shop, count_tokens=len, concurrency=2,
                 on_case=ended.append)
    )  # fmt: skip
    assert sorted(seen) == [(c.query, c.max_price) for c in CASES]
    assert sorted(r.id for r in ended) == [c.id for c in CASES]
    rows = {r.id: r for r in report.rows}
    assert [r.id for r in report.rows] == [c.id for c in CASES]
    assert [r.hit for r in report.rows] == [True, True, False, True, True]
    # precision over the first three slots, divided by 3 even when fewer were recommended
    assert [r.precision for r in report.rows] == [1 / 3, 2 / 3, 0.0, 1 / 3, 1 / 3]
    assert [r.within_ceiling for r in report.rows] == [True, True, True, True, False]
    assert (rows["c1"].grounded, rows["c1"].named) == (1, 1)
    assert (rows["c2"].grounded, rows["c2"].named) == (1, 2)
    assert (rows["c4"].grounded, rows["c4"].named) == (0, 1)
    assert rows["c3"].recommended_ids == ("1", "2", "3", "5")
    assert rows["c2"].naive_prompt_tokens == len(naive_prompt("q2", shop))
    assert (rows["c2"].prompt_tokens, rows["c2"].completion_tokens, rows["c2"].model_calls) == (
        100, 10, 2,
    )  # fmt: skip

    assert report.finished == 5 and report.k == 3
    assert report.hit_rate_at_k == pytest.approx(0.8)
    assert report.precision_at_k == pytest.approx((1 / 3 + 2 / 3 + 0 + 1 / 3 + 1 / 3) / 5)
    assert report.constraint_satisfaction == 0.5  # two cases set a ceiling, one kept to it
    assert report.grounding == pytest.approx(2 / 4)
    naive = sum(len(naive_prompt(c.query, shop)) for c in CASES) / 5
    assert report.mean_prompt_tokens == 100
    assert report.mean_naive_prompt_tokens == pytest.approx(naive)
    assert report.token_ratio == pytest.approx(100 / naive)
    agg = report.aggregates()
    assert agg["mean_wall_seconds"] == 3.0 and agg["median_wall_seconds"] == 3.0
    assert agg["total_model_calls"] == 10 and agg["hit_rate_at_3"] == pytest.approx(0.8)
    json.dumps(report.to_dict())


def test_evaluate_never_runs_more_than_concurrency_cases_at_once(shop):
    cases = [EvalCase(f"c{i}", "q1", ("3",)) for i in range(9)]
    for limit in (1, 3):
        active = peak = 0

        async def recommend_fn(query, *, max_price=None):
            nonlocal active, peak
            active += 1
            peak = max(peak, active)
            for _ in range(5):
                await asyncio.sleep(0)  # hand the loop to every other ready case; no time passes
            active -= 1
            return _rec(shop, ["3"])

        report = asyncio.run(
            evaluate(recommend_fn, cases, shop, count_tokens=len, concurrency=limit)
        )
        assert peak == limit and report.finished == 9


def test_a_delegate_error_becomes_an_unfinished_row(shop):
    async def recommend_fn(query, *, max_price=None):
        if query == "q3":
            raise RunError("the planner gave up")
        return await _fake(shop, [])(query, max_price=max_price)

    report = asyncio.run(evaluate(recommend_fn, CASES, shop, count_tokens=len))
    failed = report.rows[2]
    assert failed.id == "c3" and not failed.finished
    assert failed.error == "RunError: the planner gave up"
    assert failed.recommended_ids == () and failed.model_calls == 0
    assert report.finished == 4
    assert report.hit_rate_at_k == pytest.approx(4 / 5)  # the failed case counts as a miss
    assert report.aggregates()["total_model_calls"] == 8
    assert report.aggregates()["mean_wall_seconds"] == pytest.approx((1 + 2 + 3 + 5) / 4)


def test_other_exceptions_propagate(shop):
    async def recommend_fn(query, *, max_price=None):
        raise ValueError("a bug, not a run failure")

    with pytest.raises(ValueError, match="a bug"):
        asyncio.run(evaluate(recommend_fn, CASES, shop, count_tokens=len, concurrency=2))


def test_bad_concurrency_is_refused(shop):
    with pytest.raises(UsageError):
        asyncio.run(evaluate(_fake(shop, []), CASES, shop, count_tokens=len, concurrency=0))


def test_markdown_reports_the_aggregates_and_every_query(shop):
    report = asyncio.run(evaluate(_fake(shop, []), CASES, shop, count_tokens=len))
    report = report.with_notes("counted with another tokenizer")
    md = report.to_markdown("Recommender evaluation", "delegate eval --limit 5", "scripted:x")
    assert md.startswith("# Recommender evaluation\n")
    assert "`delegate eval --limit 5`" in md and "`scripted:x`" in md
    assert "counted with another tokenizer" in md
    assert "| hit_rate_at_3 | 0.8 |" in md
    assert "| constraint_satisfaction | 0.5 |" in md
    assert "| grounding | 0.5 |" in md
    assert "| total_model_calls | 10 |" in md
    assert "| median_wall_seconds | 3 |" in md
    for case in CASES:
        assert f"| {case.id} |" in md
    assert "| c5 | open | yes | 0.333 | n/a | 2 | 0 | 0/2 | n/a | 50 | no | 0/0 |" in md


def test_empty_report_has_no_averages():
    report = EvalReport(())
    assert report.hit_rate_at_k is None and report.mean_prompt_tokens is None
    assert report.grounding == 1.0 and report.token_ratio is None
    assert "| mean_wall_seconds | n/a |" in report.to_markdown("t", "c", "m")


def test_type_kit_near_duplicate_and_reason_metrics():
    shop = load_catalog([
        {"id": 1, "name": "Trail Pants (Slim Fit)", "price": 80, "category": "pants",
         "features": ["stretch", "zip pocket"]},
        {"id": 2, "name": "Trail Pants (Straight Fit)", "price": 80, "category": "pants",
         "features": ["stretch", "roomy leg"]},
        {"id": 3, "name": "Rain Shell", "price": 150, "category": "jackets",
         "features": ["waterproof"]},
        {"id": 4, "name": "Camp Tee", "price": 25, "category": "tops"},
    ])
    cases = [EvalCase("t1", "pants", ("1",), kind="type", types=("pants",)),
             EvalCase("k1", "kit", ("3",), kind="kit", types=("jackets", "pants"))]
    answers = {"pants": [("1", "Stretch and zip pocket."), ("3", "Waterproof.")],
               "kit": [("1", "Stretch and zip pocket."), ("2", "A close match.")]}

    async def recommend_fn(query, *, max_price=None):
        rec = _rec(shop, [pid for pid, _ in answers[query]])
        products = tuple(RecommendedProduct(p.id, p.name, p.price, why) for p, (_, why)
                         in zip(rec.products, answers[query], strict=True))
        return Recommendation(query=query, products=products, text="", result=rec.result)

    report = asyncio.run(evaluate(recommend_fn, cases, shop, count_tokens=len))
    typed, kit = report.rows
    assert typed.type_precision == 0.5 and kit.type_precision is None  # the shell is no pants
    assert (typed.kinds, kit.kinds) == (2, 1)
    assert (typed.near_duplicates, kit.near_duplicates) == (0, 1)  # slim and straight
    # "Stretch and zip pocket." and "Waterproof." state facts; "A close match." does not
    assert (typed.specific_reasons, kit.specific_reasons) == (2, 1)
    agg = report.aggregates()
    assert agg["type_precision_at_3"] == 0.5 and agg["kit_cases"] == 1
    assert agg["kits_spanning_2_kinds"] == 0 and agg["kit_near_duplicates"] == 1
    assert agg["specific_reason_rate"] == 0.75


def test_the_shipped_sets_label_every_case_and_name_real_categories():
    from delegate.apps.recommend.eval import shop_catalog

    for shop in ("ketlmtn", "unseen"):
        catalog = shop_catalog(shop)
        categories = {p.category for p in catalog}
        cases = load_eval_set(shop=shop)
        kinds = [c.kind for c in cases]
        assert set(kinds) == {"type", "kit", "open"}, shop
        assert kinds.count("type") >= 8 and kinds.count("kit") >= 4
        for case in cases:
            assert set(case.types) <= categories, (shop, case.id)
            assert all(pid in catalog for pid in case.expected_ids), (shop, case.id)
    with pytest.raises(UsageError, match="unknown evaluation set"):
        shop_catalog("nowhere")


def test_voice_is_kept_only_when_the_models_lines_pass_the_checks_again(shop):
    from dataclasses import replace

    from delegate.apps.recommend.eval import voice_kept

    rec = replace(_rec(shop, ["3"]), query="a rain shell for hikes")
    good = replace(rec, voice="model", opening="Hiking in the rain? You want a shell.",
                   closing="Enjoy the trail!")
    assert voice_kept(good, shop) is True
    assert voice_kept(replace(good, voice="phrasebook"), shop) is False  # a stand-in
    # lines that copy an example the model was shown are not its own voice
    copied = replace(good, voice_examples=("Hiking in the rain? You want a shell.",))
    assert voice_kept(copied, shop) is False
    assert voice_kept(replace(good, closing="Yours for $5!"), shop) is False
    assert voice_kept(rec, shop) is None  # no answer was written
