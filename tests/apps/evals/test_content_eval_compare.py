"""The content evaluation's reviewer cost and its comparison with a baseline (before and
after, goal by goal), in the report, the JSON and the CLI."""

import asyncio
import json

import pytest

from delegate import Plan, ScriptedModel, UsageError
from delegate.apps._common.content import WorkflowResult
from delegate.apps.evals.content import (
    ContentCase,
    ContentReport,
    ContentRow,
    run_content_eval,
    score_output,
)
from delegate.apps.evals.content_report import Baseline, compare, load_baseline
from delegate.core.outcomes import RunResult
from delegate.llm import ScriptedCall
from delegate.llm.base import Usage

# --- the reviewer's cost ----------------------------------------------------------------------


def workflow_result(usage_by_purpose):
    total = Usage()
    for part in usage_by_purpose.values():
        total += part
    run = RunResult("r", Plan(tasks=()), (), "succeeded", text="An answer.", usage=total,
                    usage_by_purpose=usage_by_purpose)
    return WorkflowResult("general", "T", "An answer.", run)


def test_review_calls_are_the_verdicts_and_the_rewrites():
    result = workflow_result({
        "plan": Usage(model_calls=1, latency_seconds=2.0),
        "task": Usage(model_calls=3, latency_seconds=9.0),
        "review": Usage(model_calls=2, latency_seconds=1.5),
        "revision": Usage(model_calls=1, latency_seconds=0.25),
        "synthesis": Usage(model_calls=1, latency_seconds=4.0)})
    row = score_output(ContentCase("g1", "general", "x"), result)
    assert (row.model_calls, row.review_calls) == (8, 3)
    assert row.review_seconds == pytest.approx(1.75)
    plain = score_output(ContentCase("g2", "general", "x"),
                         workflow_result({"task": Usage(model_calls=2)}))
    agg = ContentReport((row, plain)).aggregates()
    assert agg["total_review_calls"] == 3
    assert agg["review_share_of_calls"] == pytest.approx(3 / 10)
    assert ContentReport(()).aggregates()["review_share_of_calls"] is None


OBJECTIVE = "Write a short guide to choosing trail-running shoes"
OUTLINE = {"title": "Trail shoes", "sections": [
    {"id": "s1", "heading": "Grip", "key_points": ["grip on wet rock"], "word_target": 80,
     "depends_on": []},
    {"id": "s2", "heading": "Fit", "key_points": ["snug heel"], "word_target": 80,
     "depends_on": []},
]}


def clean_model():
    """A blog writer whose answers are clean but for its first draft of "Grip", which the
    reviewer's checks send back; ``verdicts`` counts the reviewer's calls (verdicts, if it
    asks the model for one, and rewrites)."""
    verdicts = []

    def answer(call: ScriptedCall):
        if isinstance(call.output, dict):
            if call.output.get("title") == "Outline":
                return OUTLINE
            verdicts.append(call)
            props = call.output.get("properties", {})
            return {k: (5 if v.get("type") == "integer" else "fine") for k, v in props.items()}
        if "Mind this:" in call.last_user:  # a rewrite the reviewer asked for
            verdicts.append(call)
        if 'section "Grip"' in call.last_user:
            if "Mind this:" in call.last_user:
                return "Lugs bite into mud. Sticky rubber holds on wet rock."
            return "Lugs bite into mud.\n" + "Lugs bite into mud.\n" * 3
        if 'section "Fit"' in call.last_user:
            return "A snug heel stops blisters. Leave room for the toes to spread."
        return "Shoes for the trail differ from road shoes in three ways."

    return ScriptedModel(function=answer), verdicts


def test_the_runner_counts_the_reviewers_calls_per_objective(tmp_path):
    model, verdicts = clean_model()
    report = asyncio.run(run_content_eval(model, cases=[ContentCase("b1", "blog", OBJECTIVE)],
                                          out=tmp_path))
    (row,) = report.rows
    assert verdicts and row.review_calls == len(verdicts) < row.model_calls
    data = json.loads((tmp_path / "content_eval.json").read_text("utf-8"))
    assert data["cases"][0]["review_calls"] == len(verdicts)
    assert data["aggregates"]["total_review_calls"] == len(verdicts)
    md = (tmp_path / "content_eval.md").read_text("utf-8")
    assert "| calls | review calls | review s | wall s | error |" in md
    assert f"| {row.model_calls} | {len(verdicts)} | 0 |" in md
    assert "wall ratio" not in md and "Before and after" not in md


# --- the baseline -----------------------------------------------------------------------------


def row(id, wall, **fields):
    return ContentRow(id, fields.pop("workflow", "blog"), "o", status="succeeded",
                      wall_seconds=wall, **fields)


CLEAN = dict(repeated_line_ratio=0.0, distinct_4gram_ratio=0.95, key_point_coverage=0.7)


def test_the_comparison_meets_and_misses_each_goal_over_the_shared_objectives():
    before = Baseline("before.json", (
        row("b1", 10.0, duplicated_headings=2, repeated_line_ratio=0.5,
            distinct_4gram_ratio=0.4, cut_off_sections=1, key_point_coverage=0.2),
        row("r1", 10.0, title_equal_headings=1, repeated_line_ratio=0.0,
            distinct_4gram_ratio=0.9, synthesis_cut_off=True, synthesis_empty=False),
        # not evaluated this time: its headings must not count in "before"
        row("x9", 5.0, duplicated_headings=7, repeated_line_ratio=0.9),
    ), model="local:default")
    after = ContentReport((
        row("b1", 11.0, **CLEAN),                      # 1.1x: within
        row("r1", 12.5, **{**CLEAN, "distinct_4gram_ratio": 0.7}),  # 1.25x: not within
        row("n1", 1.0, **CLEAN),                       # new: no ratio
    ))
    found = compare(after, before)
    assert found.compared == ("b1", "r1") and found.not_in_baseline == ("n1",)
    assert found.wall_ratios == pytest.approx({"b1": 1.1, "r1": 1.25})
    m = {g.metric: g for g in found.metrics}
    assert (m["duplicated + title-equal headings"].before,
            m["duplicated + title-equal headings"].after,
            m["duplicated + title-equal headings"].met) == (3, 0, True)
    rep = m["outputs with repeated-line ratio ≤ 0.05"]
    assert (rep.before, rep.of_before, rep.after, rep.of_after, rep.met) == (1, 2, 3, 3, True)
    grams = m["outputs with distinct 4-gram ratio ≥ 0.8"]
    assert (grams.before, grams.after, grams.of_after, grams.met) == (1, 2, 3, False)
    assert (m["min distinct 4-gram ratio"].after, m["min distinct 4-gram ratio"].met) == (
        0.7, False)
    assert (m["max repeated-line ratio"].before, m["max repeated-line ratio"].met) == (0.5, True)
    assert (m["cut-off sections"].before, m["cut-off sections"].met) == (1, True)
    assert (m["cut-off synthesis"].before, m["cut-off synthesis"].after) == (1, 0)
    assert m["mean key-point coverage"].met is True
    assert m["mean key-point coverage"].before == pytest.approx(0.2)
    wall = m["objectives within 1.2x the baseline's wall time"]
    assert (wall.after, wall.of_after, wall.met) == (1, 2, False)
    assert m["median wall-time ratio"].after == pytest.approx(1.175)
    assert m["median wall-time ratio"].met is True
    assert m["objectives finished"].goal == "" and m["objectives finished"].met is None


def test_an_objective_that_no_longer_finishes_misses_the_wall_time_goal():
    before = Baseline("b.json", (row("b1", 10.0), row("r1", 10.0)))
    after = ContentReport((row("b1", 5.0, **CLEAN),
                           ContentRow("r1", "report", "o", wall_seconds=1.0, error="Boom: x")))
    m = {g.metric: g for g in compare(after, before).metrics}
    wall = m["objectives within 1.2x the baseline's wall time"]
    assert (wall.after, wall.of_after, wall.met) == (1, 2, False)
    assert (m["objectives finished"].after, m["objectives finished"].of_after) == (1, 2)


def test_the_markdown_has_the_before_and_after_table_and_a_wall_ratio_column():
    before = Baseline("content_eval_before.json", (
        row("b1", 10.0, duplicated_headings=1, **CLEAN),), model="local:default")
    report = ContentReport((row("b1", 8.0, **CLEAN),), baseline=before)
    md = report.to_markdown("Content evaluation", "delegate eval content", "m")
    table = md.split("## Before and after")[1].split("## Per objective")[0]
    assert "Before: `content_eval_before.json` (`local:default`), over the 1 objectives" in table
    assert "| Metric | Before | After | Goal | Met |" in table
    assert "| duplicated + title-equal headings | 1 | 0 | 0 | yes |" in table
    assert "| outputs with repeated-line ratio ≤ 0.05 | 1 of 1 | 1 of 1 | every output | yes |" \
        in table
    assert "| objectives within 1.2x the baseline's wall time | n/a | 1 of 1 | every objective" \
        " | yes |" in table
    assert "| median wall-time ratio | n/a | 0.8 | ≤ 1.2 | yes |" in table
    assert "| total model calls | 0 | 0 |  |  |" in table
    assert "| wall s | wall ratio | error |" in md and "| 8 | 0.8 |  |" in md
    data = report.to_dict()["comparison"]
    assert data["wall_ratios"] == {"b1": 0.8} and data["objectives_compared"] == ["b1"]
    assert {"metric": "empty sections", "before": 0, "after": 0, "goal": "0", "met": True,
            "of_before": None, "of_after": None} in data["metrics"]


def test_an_older_report_without_the_review_columns_loads_as_a_baseline(tmp_path):
    case = row("b1", 10.0).to_dict()
    del case["review_calls"], case["review_seconds"]
    failed = {"id": "r1", "wall_seconds": 3.0, "finished": False, "error": None}
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"model": "local:default", "cases": [case, failed]}), "utf-8")
    baseline = load_baseline(path)
    assert baseline.name == "old.json" and baseline.model == "local:default"
    assert [(r.id, r.review_calls, r.finished) for r in baseline.rows] == [
        ("b1", 0, True), ("r1", 0, False)]


@pytest.mark.parametrize("content, message", [
    (None, "cannot read the baseline"),
    ("{not json", "is not JSON"),
    ("[1, 2]", "no list of cases"),
    ('{"cases": []}', "no list of cases"),
    ('{"cases": [{"wall_seconds": 1}]}', "not an object with a string id"),
    ('{"cases": [{"id": "b1"}]}', "case b1 has no wall_seconds"),
    ('{"cases": [{"id": "b1", "wall_seconds": "slow"}]}', "case b1: wall_seconds is 'slow'"),
    ('{"cases": [{"id": "b1", "wall_seconds": 1, "headings": 2.5}]}', "headings is 2.5"),
    ('{"cases": [{"id": "b1", "wall_seconds": 1}, {"id": "b1", "wall_seconds": 2}]}',
     "case b1 appears twice"),
])
def test_a_bad_baseline_is_refused_in_one_line(tmp_path, content, message):
    path = tmp_path / "base.json"
    if content is not None:
        path.write_text(content, "utf-8")
    with pytest.raises(UsageError, match=message) as caught:
        load_baseline(path)
    assert "\n" not in str(caught.value)


def refusing_model(monkeypatch):
    import delegate.llm

    asked = []
    monkeypatch.setattr(delegate.llm, "get_model",
                        lambda spec: asked.append(spec) or ScriptedModel())
    return asked


@pytest.mark.parametrize("content", [None, "[]", '{"cases": [{"id": "zz", "wall_seconds": 1}]}'])
def test_the_cli_refuses_a_bad_baseline_before_anything_runs(tmp_path, capsys, monkeypatch,
                                                             content):
    from delegate.cli.commands import main

    asked = refusing_model(monkeypatch)
    base = tmp_path / "base.json"
    if content is not None:
        base.write_text(content, "utf-8")
    out = tmp_path / "out"
    code = main(["eval", "content", "--model", "scripted", "--limit", "2", "--out", str(out),
                 "--baseline", str(base)])
    stdout, err = capsys.readouterr()
    assert code == 2 and asked == [] and stdout == ""
    assert len(err.strip().splitlines()) == 1 and "baseline" in err
    assert not out.exists()
    if content is not None:
        assert base.read_text("utf-8") == content  # the baseline is left as it was


def test_the_cli_refuses_a_baseline_for_the_recommender(tmp_path, capsys):
    from delegate.cli.commands import main

    code = main(["eval", "recommend", "--baseline", str(tmp_path / "b.json"),
                 "--out", str(tmp_path)])
    assert code == 2 and "--baseline is for eval content only" in capsys.readouterr().err


def test_the_cli_compares_a_run_with_the_previous_one(tmp_path, capsys, monkeypatch):
    from delegate.cli.commands import main

    refusing_model(monkeypatch)
    before, after = tmp_path / "before", tmp_path / "after"
    assert main(["eval", "content", "--model", "scripted", "--limit", "2", "--concurrency",
                 "1", "--out", str(before)]) == 0
    capsys.readouterr()
    base = before / "content_eval.json"
    assert main(["eval", "content", "--model", "scripted", "--limit", "2", "--concurrency",
                 "1", "--out", str(after), "--baseline", str(base)]) == 0
    out, _ = capsys.readouterr()
    assert f"--baseline {base}`" in out and "## Before and after" in out
    data = json.loads((after / "content_eval.json").read_text("utf-8"))
    comparison = data["comparison"]
    assert comparison["baseline"] == "content_eval.json"
    assert comparison["objectives_compared"] == ["b01", "r01"]
    assert sorted(comparison["wall_ratios"]) == ["b01", "r01"]
    md = (after / "content_eval.md").read_text("utf-8")
    assert "| Metric | Before | After | Goal | Met |" in md and "wall ratio" in md
