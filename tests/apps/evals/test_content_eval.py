"""The content evaluation: its deterministic checks, its runner and its report."""

import asyncio
import json

import pytest

from delegate import ScriptedModel, UsageError
from delegate.apps._common import checks
from delegate.apps.evals.content import (
    ContentCase,
    evaluate_content,
    load_content_set,
    run_content_eval,
)
from delegate.errors import ModelRequestError
from delegate.llm import ScriptedCall

# --- the checks -------------------------------------------------------------------------------


def test_normalise_ignores_case_punctuation_and_spacing():
    assert checks.normalise("  Trail-Running: SHOES!  ") == "trail running shoes"
    assert checks.normalise("Step 2 -- go") == "step 2 go"


def test_headings_equal_after_normalising_are_duplicates_and_title_equal():
    found = checks.heading_problems(
        ["Choosing shoes", "choosing   SHOES!", "Write a short guide to choosing "
         "trail-running shoes", "Guide: Trail running", "", "Fit and grip"],
        title="Guide: trail running", objective="Write a short guide to choosing trail-running "
        "shoes")
    assert (found.duplicated, found.title_equal, found.empty) == (1, 2, 1)
    assert found.problems[0] == "heading 2 repeats an earlier heading: 'choosing   SHOES!'"
    assert "heading 5 is empty" in found.problems


def test_a_heading_with_exactly_the_objectives_words_in_another_order_is_title_equal():
    found = checks.heading_problems(["Shoes trail running", "Trail running shoes for kids"],
                                    title="A guide", objective="Trail running shoes")
    assert (found.title_equal, found.duplicated) == (1, 0)


def test_distinct_headings_have_no_problems():
    found = checks.heading_problems(["Fit", "Grip", "Price"], "Shoes", "Choose shoes")
    assert found == checks.HeadingProblems()


def test_repeated_line_ratio_counts_lines_that_repeat_an_earlier_one():
    text = ("Choose a good pair of running shoes.\n\nchoose a GOOD pair of running shoes\n"
            "Choose a good pair of running shoes.\nTry them on in the afternoon.")
    assert checks.repeated_line_ratio(text) == pytest.approx(2 / 4)
    assert checks.repeated_line_ratio("One.\nTwo.\nThree.") == 0.0
    assert checks.repeated_line_ratio("## Fit\nOne.\n## Fit\nTwo.") == 0.0  # headings apart
    assert checks.repeated_line_ratio("") == 0.0


def test_repeated_line_ratio_leaves_out_table_rules():
    table = "| a | b |\n|---|---|\n| 1 | 2 |\n\n| c | d |\n|---|---:|\n| 3 | 4 |"
    assert checks.repeated_line_ratio(table) == 0.0


def test_prose_leaves_out_tables_and_images():
    text = "Intro.\n| a | b |\n|---|---|\n  | 1 | 2 |\n![chart](c.png)\nEnd."
    assert checks.prose(text) == "Intro.\nEnd."


def test_distinct_4gram_ratio():
    assert checks.distinct_ngram_ratio("a b c d e") == 1.0
    # "a b c d" x3: 9 words, 6 four-grams, 4 distinct ones (abcd, bcda, cdab, dabc)
    assert checks.distinct_ngram_ratio("a b c d a b c d a") == pytest.approx(4 / 6)
    assert checks.distinct_ngram_ratio("Too short now") is None


def test_key_point_coverage_is_the_mean_share_of_each_points_content_words():
    text = "Good shoes need grip on wet rocks and a snug heel."
    points = ["grip on rocks", "snug heel fit", "waterproof membranes for winter"]
    # point 1: grip, rock -> 2/2; point 2: snug, heel of snug heel fit -> 2/3;
    # point 3: waterproof, membrane, winter -> 0/3
    assert checks.key_point_coverage(text, points) == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert checks.key_point_coverage(text, []) is None
    assert checks.key_point_coverage("", ["the and"]) == 1.0


def test_length_ratio_is_words_over_target():
    assert checks.length_ratio("one two three four", 8) == 0.5
    assert checks.length_ratio("words", 0) is None


def test_empty_sections_include_the_not_written_placeholder():
    assert checks.is_empty("  \n ")
    assert checks.is_empty("*This section was not written: the answer was empty.*")
    assert checks.is_empty("*This part was not written: it did not run.*")
    assert not checks.is_empty("A real sentence.")


def test_cut_off_is_judged_on_the_last_prose_line():
    assert checks.is_cut_off("A whole sentence. And then the model stopped in the")
    assert not checks.is_cut_off("It ends well.")
    assert not checks.is_cut_off('He said "run."')
    assert not checks.is_cut_off("(See the next section.)")
    assert not checks.is_cut_off("Is it **worth it?**")
    assert not checks.is_cut_off("Take:\n\n- water\n- a map")  # a list needs no full stop
    assert checks.is_cut_off("- water\n- a map\n\nAnd then the")
    assert checks.is_cut_off("Body.\n\n### Next\n\nCut in the")
    assert not checks.is_cut_off("Done.\n\n| a | b |\n|---|---|\n\n![chart](c.png)")
    assert not checks.is_cut_off("")
    # a line that introduces a closed code block is whole; an answer stopped inside code is not
    assert not checks.is_cut_off("Lists change.\n\nExample:\n```python\nx = [1]\n```")
    assert checks.is_cut_off("Example:\n```python\nx = [1]\n```\n\nThen the")
    assert checks.is_cut_off("Lists change.\n\n```python\nx = [1,")
    assert checks.is_cut_off("Example:")


def test_split_sections_takes_the_title_the_lead_and_each_section():
    md = "# Title\n\nIntro text.\n\n## One\n\nBody one.\n### Sub\nMore.\n\n## Two\n"
    title, lead, sections = checks.split_sections(md)
    assert (title, lead) == ("Title", "Intro text.")
    assert sections == [checks.Section("One", "Body one.\n### Sub\nMore."),
                        checks.Section("Two", "")]


# --- the shipped set --------------------------------------------------------------------------


def test_the_shipped_set_has_twenty_objectives_over_the_four_workflows():
    cases = load_content_set()
    assert len(cases) >= 20 and len({c.id for c in cases}) == len(cases)
    assert {c.workflow for c in cases} == {"blog", "report", "project", "general"}
    assert any(c.inputs for c in cases)
    # interleaved, so that --limit 4 spans every workflow
    assert [c.workflow for c in cases[:4]] == ["blog", "report", "project", "general"]


def test_a_set_naming_an_unknown_workflow_is_refused(tmp_path):
    path = tmp_path / "set.json"
    path.write_text(json.dumps([{"id": "x", "workflow": "poem", "objective": "o"}]), "utf-8")
    with pytest.raises(UsageError, match="case x names a workflow"):
        load_content_set(path)
    path.write_text("{}", "utf-8")
    with pytest.raises(UsageError, match="not a list of content cases"):
        load_content_set(path)


# --- the runner on a scripted model ----------------------------------------------------------

OBJECTIVE = "Write a short guide to choosing trail-running shoes"
OUTLINE = {"title": "Trail shoes", "sections": [
    {"id": "s1", "heading": "Grip", "key_points": ["grip on wet rock"],
     "word_target": 80, "depends_on": []},
    {"id": "s2", "heading": "Fit", "key_points": ["snug heel", "roomy toes"],
     "word_target": 80, "depends_on": []},
    {"id": "s3", "heading": "Price", "key_points": ["price"], "word_target": 80,
     "depends_on": []},
]}
REPEAT = "Choose a good pair of running shoes."


def answer(call: ScriptedCall):
    if isinstance(call.output, dict):
        title = call.output.get("title", "")
        if title == "Outline":
            return OUTLINE
        props = call.output.get("properties", {})  # the reviewer's verdict: all pass
        return {k: (5 if v.get("type") == "integer" else "fine") for k, v in props.items()}
    user = call.last_user
    if user.endswith("Write the introduction of the post."):
        return "This guide helps you pick trail shoes."
    if 'Write the section "Grip"' in user:
        return "\n".join([REPEAT] * 4)
    if 'Write the section "Fit"' in user:
        return "A snug heel and roomy toes keep blisters away on long descents"
    if "Write the executive summary" in user:
        return "Sales grew in the North and fell in the South."
    return "Grip matters on wet rock. Price is not everything."


def test_the_runner_scores_each_objective_and_writes_the_report(tmp_path):
    cases = [ContentCase("b1", "blog", OBJECTIVE),
             ContentCase("r1", "report", "Regional sales", ("sales.csv",))]
    model = ScriptedModel(function=answer)
    seen = []
    report = asyncio.run(run_content_eval(model, cases=cases, concurrency=2, out=tmp_path,
                                          command="delegate eval content", on_case=seen.append))
    blog, rep = report.rows
    assert sorted(r.id for r in seen) == ["b1", "r1"]
    assert (blog.headings, blog.duplicated_headings, blog.title_equal_headings) == (3, 0, 0)
    assert blog.sections == 3 and blog.cut_off_sections == 1 and blog.empty_sections == 0
    assert blog.repeated_line_ratio == pytest.approx(3 / 7)  # intro, 4 repeats, 1, 1 lines
    # each section against its own outline entry, duplicate headings or not: 0, 1, 1
    assert blog.key_point_coverage == pytest.approx(2 / 3)
    assert blog.length_ratio == pytest.approx((28 + 12 + 9) / 3 / 80)
    assert blog.synthesis_empty is False and blog.synthesis_cut_off is False
    assert blog.model_calls + rep.model_calls == len(model.calls)
    assert rep.sections == 1 and rep.synthesis_cut_off is False
    # the report's chart table (computed from the data) is not counted as repetition
    assert rep.repeated_line_ratio == 0.0
    assert rep.status == "succeeded" and rep.model_calls >= 2
    assert "section 'Fit' ends mid-sentence" in blog.problems
    data = json.loads((tmp_path / "content_eval.json").read_text("utf-8"))
    assert data["model"] == "scripted:scripted" and [c["id"] for c in data["cases"]] == ["b1", "r1"]
    agg = data["aggregates"]
    assert (agg["duplicated_headings"], agg["cut_off_sections"]) == (0, 1)
    assert agg["total_model_calls"] == len(model.calls)
    md = (tmp_path / "content_eval.md").read_text("utf-8")
    assert md.startswith("# Content evaluation\n\n- Command: `delegate eval content`")
    assert "| b1 | blog | succeeded | 3 | 0 | 0 |" in md
    assert "- b1: section 'Fit' ends mid-sentence" in md


def test_a_failing_objective_is_recorded_and_left_out_of_the_aggregates():
    async def run_fn(case):
        raise ModelRequestError("the server went away")

    report = asyncio.run(evaluate_content(run_fn, [ContentCase("g1", "general", "x")]))
    (row,) = report.rows
    assert not row.finished and row.error == "ModelRequestError: the server went away"
    agg = report.aggregates()
    assert (agg["objectives"], agg["finished"], agg["mean_wall_seconds"]) == (1, 0, None)


def test_concurrency_below_one_is_refused():
    with pytest.raises(UsageError):
        asyncio.run(evaluate_content(lambda case: None, [], concurrency=0))


def test_the_cli_runs_the_content_evaluation_and_writes_both_files(tmp_path, capsys,
                                                                   monkeypatch):
    import delegate.llm
    from delegate.cli.commands import main

    asked = []
    monkeypatch.setattr(delegate.llm, "get_model",
                        lambda spec: asked.append(spec) or ScriptedModel())
    code = main(["eval", "content", "--model", "scripted", "--limit", "2", "--concurrency", "1",
                 "--out", str(tmp_path)])
    assert asked == ["scripted"]
    assert code == 0
    out, err = capsys.readouterr()
    assert "- Command: `delegate eval content --model scripted --limit 2 --concurrency 1`" in out
    assert "delegate: b01 blog succeeded in" in err and "delegate: r01 report" in err
    data = json.loads((tmp_path / "content_eval.json").read_text("utf-8"))
    assert [c["id"] for c in data["cases"]] == ["b01", "r01"]
    assert (tmp_path / "content_eval.md").read_text("utf-8").startswith("# Content evaluation")


def test_the_cli_refuses_a_limit_below_one(tmp_path, capsys):
    from delegate.cli.commands import main

    assert main(["eval", "content", "--limit", "0", "--out", str(tmp_path)]) != 0
    assert "--limit must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / "content_eval.json").exists()


def test_without_review_no_verdict_is_asked_and_each_output_is_written_to_read(tmp_path):
    cases = [ContentCase("b1", "blog", OBJECTIVE)]
    model = ScriptedModel(function=answer)
    report = asyncio.run(run_content_eval(model, cases=cases, out=tmp_path, review=False))
    verdicts = [c for c in model.calls if isinstance(c.output, dict)
                and c.output.get("title") == "Verdict"]
    assert verdicts == [] and report.rows[0].status == "succeeded"
    written = (tmp_path / "content_eval_outputs" / "b1.md").read_text("utf-8")
    assert written.startswith("# Trail shoes\n") and "## Grip" in written
    reviewed = asyncio.run(run_content_eval(ScriptedModel(function=answer), cases=cases))
    assert reviewed.rows[0].model_calls > report.rows[0].model_calls


def test_no_review_is_refused_for_the_recommender(capsys):
    from delegate.cli.commands import main

    assert main(["eval", "recommend", "--no-review"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("--no-review is for eval content only") and "\n" not in err
