"""The report workflow: one analysis per input, a summary after all, charts from the data."""

import asyncio
import json
import sys

import pytest

from delegate import EventLog, ScriptedModel, UsageError
from delegate.apps.report.data import chart_points, load_inputs
from delegate.apps.report.workflow import EXAMPLE_INPUTS, EXAMPLE_TOPIC, run_report
from delegate.core.events import TaskRevised
from delegate.llm import ScriptedCall

PNG = b"\x89PNG\r\n\x1a\n"
CSV = "month,region,units\nJan,North,10\nJan,South,4\nFeb,North,12\nFeb,South,,\nMar,North,7\n"
NOTES = "Sales notes. North grew in February; South had a supply problem."


class Script:
    """Analysts answer "analysis of <input> draft <n>"; the summary answers with the
    analyses it read; the reviewer rejects each input in ``reject`` that many times."""

    def __init__(self, reject=None):
        self.reject = dict(reject or {})
        self.flawed = set(self.reject)
        self.written: dict[str, int] = {}
        self.model = ScriptedModel(function=self.answer)

    def calls(self, what: str) -> list[ScriptedCall]:
        return [c for c in self.model.calls if what in c.last_user]

    def answer(self, call: ScriptedCall):
        name = call.last_user.split('"')[1] if "Analyse input" in call.last_user else ""
        if isinstance(call.output, dict):  # the reviewer's verdict
            if self.reject.get(name, 0) > 0:
                self.reject[name] -= 1
                return {"accuracy": 2, "coverage": 4, "clarity": 4, "notes": "wrong total"}
            return {"accuracy": 5, "coverage": 4, "clarity": 4, "notes": "good"}
        if "Write the executive summary" in call.last_user:
            return "## Summary\nThe summary."
        key = name or call.last_user.split("Explain the ")[1].split(" ")[0]
        self.written[key] = self.written.get(key, 0) + 1
        # the first draft of an analysis the model rejects is also cut off (the checks see it)
        cut = self.written[key] == 1 and key in self.flawed
        return f"analysis of {key} draft {self.written[key]}" + ("" if cut else ".")


@pytest.fixture
def inputs(tmp_path):
    (tmp_path / "sales.csv").write_text(CSV, encoding="utf-8")
    (tmp_path / "plan.md").write_text("# Plan\nOpen a West office.", encoding="utf-8")
    return [NOTES, tmp_path / "sales.csv", str(tmp_path / "plan.md")]


def go(script, **options):
    return asyncio.run(run_report("Spring sales", model=script.model, **options))


def test_the_summary_depends_on_every_analysis_and_reads_them(inputs):
    script = Script()
    result = go(script, inputs=inputs)
    plan = result.run.plan
    assert plan.ids == ("Text-1", "sales.csv", "plan.md", "summary")
    assert plan.task("summary").depends_on == ("Text-1", "sales.csv", "plan.md")
    assert all(not plan.task(t).depends_on for t in plan.ids[:3])
    summary = script.calls("Write the executive summary")
    assert len(summary) == 1
    for name in ("Text 1", "sales.csv", "plan.md"):
        assert f"analysis of {name} draft 1" in summary[0].last_user
    analyses = {c.last_user.split('"')[1]: c.last_user for c in script.calls("Analyse input")
                if c.output is None}
    assert NOTES in analyses["Text 1"] and "Open a West office" not in analyses["Text 1"]
    assert "units: min 4, max 12, mean 8.25, total 33" in analyses["sales.csv"]
    assert "total units by region: North 29; South 4" in analyses["sales.csv"]
    md = result.markdown
    headings = [line for line in md.splitlines() if line.startswith("## ")]
    assert headings == ["## Executive summary", "## Text 1", "## sales.csv", "## plan.md"]
    assert md.startswith("# Spring sales\n\n## Executive summary\n\nThe summary.\n")
    assert [s.name for s in result.data.sections] == ["Text 1", "sales.csv", "plan.md"]
    assert result.data.summary == "The summary." and result.run.status == "succeeded"


def test_a_csv_input_yields_a_chart_drawn_from_the_data(inputs):
    result = go(Script(), inputs=inputs)
    [chart] = result.artifacts
    assert chart.name == "report_chart_1.png" and chart.content.startswith(PNG)
    section = result.markdown.split("## sales.csv")[1].split("## plan.md")[0]
    assert "![Total units by region (sales.csv)](report_chart_1.png)" in section
    assert "| North | 29 |" in section and "| South | 4 |" in section  # 10+12+7, 4+missing
    assert result.data.sections[1].chart == "report_chart_1.png"
    assert result.data.sections[0].chart is None


def test_chart_values_are_computed_from_the_table():
    [item] = load_inputs([str(EXAMPLE_INPUTS[0])])
    assert list(item.table.numeric) == ["units", "price", "revenue"]
    kind, x, y, points = chart_points(item.table)
    assert (kind, x, y) == ("bar", "region", "total units")
    assert dict(points) == {"North": 1410, "South": 1089, "East": 1293, "West": 1242}


def test_write_puts_the_markdown_json_and_chart_in_a_folder(inputs, tmp_path):
    result = go(Script(), inputs=inputs)
    paths = result.write(tmp_path / "out")
    assert sorted(p.name for p in paths) == ["report.json", "report.md", "report_chart_1.png"]
    assert (tmp_path / "out" / "report_chart_1.png").read_bytes().startswith(PNG)
    summary = json.loads((tmp_path / "out" / "report.json").read_text())
    assert summary["artifacts"] == ["report_chart_1.png"]
    assert summary["data"]["sections"][1]["chart"] == "report_chart_1.png"
    assert (tmp_path / "out" / "report.md").read_text() == result.markdown


def test_without_matplotlib_the_report_says_how_to_get_charts(inputs, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    result = go(Script(), inputs=inputs)
    assert result.artifacts == ()
    assert "charts need matplotlib: pip install 'delegate[report]'" in result.markdown
    assert "report_chart" not in result.markdown


def test_only_a_failing_analysis_is_rewritten_and_the_summary_reads_the_new_one(inputs):
    script = Script(reject={"sales.csv": 1})
    events = EventLog()
    result = go(script, inputs=inputs, subscribers=[events])
    assert script.written == {"Text 1": 1, "sales.csv": 2, "plan.md": 1}
    assert [e.task_id for e in events.of(TaskRevised)] == ["sales.csv"]
    assert "summary" not in {r.task_id for r in result.run.reviews}
    summary = script.calls("Write the executive summary")[0].last_user
    assert "analysis of sales.csv draft 2" in summary
    assert "analysis of sales.csv draft 1" not in summary


def test_with_no_inputs_two_analyses_work_from_the_topic():
    result = go(Script(), reviewer=False)
    plan = result.run.plan
    assert plan.ids == ("background", "implications", "summary")
    assert plan.task("summary").depends_on == ("background", "implications")
    assert "## Background" in result.markdown and "## Implications" in result.markdown
    assert result.artifacts == ()


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing.csv", "does not exist"),
    (lambda d: d, "is not a file"),
    (lambda d: _write(d / "deck.pdf", b"%PDF"), "not a .txt, .md or .csv file"),
    (lambda d: _write(d / "big.txt", b"x" * 5_000_001), "the limit is 5 MB"),
    (lambda d: _write(d / "latin.txt", "caf\xe9".encode("latin-1")), "not UTF-8"),
    (lambda d: _write(d / "empty.md", b"  \n"), "is empty"),
    (lambda d: _write(d / "head.csv", b"a,b\n"), "header row and at least one data row"),
    (lambda d: _write(d / "ragged.csv", b"a,b\n1,2,3\n"), "row 2 has 3 fields"),
])
def test_bad_inputs_are_usage_errors_before_anything_runs(tmp_path, make, message):
    model = ScriptedModel([])
    with pytest.raises(UsageError, match=message):
        asyncio.run(run_report("Spring sales", inputs=[make(tmp_path)], model=model))
    assert model.calls == []


def test_too_many_inputs_and_odd_values_are_refused():
    with pytest.raises(UsageError, match="at most 8 inputs"):
        load_inputs(["some text"] * 9)
    with pytest.raises(UsageError, match="neither a text nor a file path"):
        load_inputs([42])


def test_the_example_inputs_ship_with_the_package():
    items = load_inputs(EXAMPLE_INPUTS)
    assert [i.name for i in items] == ["sales.csv", "sales_notes.md"]
    assert EXAMPLE_TOPIC and items[1].table is None and "North" in items[1].text


def _write(path, data: bytes):
    path.write_bytes(data)
    return path
