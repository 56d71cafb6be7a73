"""The analysis workflow: tools compute every number, the model only interprets them."""

import asyncio
import json

import pytest

pd = pytest.importorskip("pandas")
np = pytest.importorskip("numpy")
pytest.importorskip("scipy")

from delegate import ScriptedModel  # noqa: E402
from delegate.apps.analysis.tools import DataError  # noqa: E402
from delegate.apps.analysis.workflow import (  # noqa: E402
    EXAMPLE_CSV,
    AnalysisReport,
    Prepared,
    run_analysis,
    unsupported_numbers,
)
from delegate.errors import ModelRequestError  # noqa: E402
from delegate.llm import ScriptedCall  # noqa: E402

REL = 1e-12
NUMERIC = ("x", "y", "z")


def _csv(tmp_path, rows=120, seed=11):
    """A seeded table: y = 2x + 1 + noise, z independent, a store column, a few gaps."""
    rng = np.random.default_rng(seed)
    x = rng.normal(50.0, 8.0, rows)
    y = 2.0 * x + 1.0 + rng.normal(0.0, 4.0, rows)
    z = rng.uniform(0.0, 10.0, rows)
    x[[5, 40]] = np.nan
    z[[9]] = np.nan
    frame = pd.DataFrame({"store": rng.choice(["north", "south", "east"], rows),
                          "x": x, "y": y, "z": z})
    path = tmp_path / "shops.csv"
    frame.to_csv(path, index=False)
    return path, pd.read_csv(path)


def _interpreter(text="The mean of y is notable."):
    def answer(call: ScriptedCall):
        assert call.output is None  # the only model call is the free-text interpretation
        return text
    return ScriptedModel(function=answer)


def _go(path, model, **options):
    return asyncio.run(run_analysis(path, model=model, **options))


def test_statistics_equal_pandas_and_the_model_saw_them(tmp_path):
    path, df = _csv(tmp_path)
    model = _interpreter()
    result = _go(path, model, question="Does x drive y?")
    report = result.data
    assert isinstance(report, AnalysisReport)
    assert (report.file, report.rows, report.columns) == ("shops.csv", 120, 4)
    described = df.describe()
    profiles = {p["name"]: p for p in report.statistics}
    keys = {"count": "count", "mean": "mean", "std": "std", "min": "min", "q1": "25%",
            "median": "50%", "q3": "75%", "max": "max"}
    for col in NUMERIC:
        for ours, theirs in keys.items():
            assert profiles[col][ours] == pytest.approx(described.loc[theirs, col], rel=REL)
        assert profiles[col]["missing"] == int(df[col].isna().sum())
    corr = df[list(NUMERIC)].corr()
    assert len(report.correlations) == 3
    for c in report.correlations:
        assert c["r"] == pytest.approx(corr.loc[c["x"], c["y"]], rel=1e-10)
        assert c["n"] == len(df[[c["x"], c["y"]]].dropna())
    means = df.groupby("store")[list(NUMERIC)].mean()
    (group,) = report.groups
    for row in group["rows"]:
        for col in NUMERIC:
            assert row[col] == pytest.approx(means.loc[row["store"], col], rel=REL)
    complete = df[list(NUMERIC)].dropna()
    design = np.column_stack([np.ones(len(complete)), complete[["x", "y"]].to_numpy()])
    coef = np.linalg.lstsq(design, complete["z"].to_numpy(), rcond=None)[0]
    assert report.fit["sensible"] and report.fit["target"] == "z"
    assert report.fit["intercept"] == pytest.approx(coef[0], rel=1e-9)
    assert report.fit["n"] == len(complete)

    (call,) = model.calls
    prompt = call.last_user
    assert "Does x drive y?" in prompt
    for col in NUMERIC:  # rounded to 6 significant digits, as JSON
        assert json.dumps(float(f"{described.loc['mean', col]:.6g}")) in prompt
    strongest = report.correlations[0]
    assert json.dumps(float(f"{strongest['r']:.6g}")) in prompt
    assert "DataFrame" not in prompt and len(prompt) < 4 * 4_000 + 1_000  # summaries, bounded
    assert "Use only those numbers" in call.prompt  # the system prompt says so

    md = result.markdown
    assert md.startswith("# Analysis of shops.csv\n")
    for col in NUMERIC:  # the statistics table is rendered from pandas' numbers
        d = described[col]
        cells = [col, int(d["count"]), int(df[col].isna().sum()),
                 *(f"{d[k]:.6g}" for k in ("mean", "std", "min", "25%", "50%", "75%", "max"))]
        assert "| " + " | ".join(map(str, cells)) + " |" in md
    row = f"| {strongest['x']} ~ {strongest['y']} | pearson | {strongest['r']:.6g} |"
    assert row in md
    assert f"| Intercept | {coef[0]:.6g} |" in md
    assert md.index("## Statistics") < md.index("## Correlations") < md.index("## Interpretation")
    assert md.rstrip().endswith("The mean of y is notable.")
    assert result.run.status == "succeeded"


def test_plan_shape_and_the_frame_travels_in_process(tmp_path):
    path, _ = _csv(tmp_path)
    result = _go(path, _interpreter())
    plan = result.run.plan
    assert plan.task("statistics").depends_on == ("preprocess",)
    assert plan.task("model").depends_on == ("preprocess",)
    assert set(plan.task("interpretation").depends_on) == {"preprocess", "statistics", "model"}
    prepared = result.run.outcome("preprocess").output
    assert isinstance(prepared, Prepared) and isinstance(prepared.frame, pd.DataFrame)
    assert [o.worker for o in result.run.outcomes if o.ok] == [
        "preprocess", "statistics", "model", "interpretation"]
    assert result.run.usage.model_calls == 1


def test_numbers_the_model_made_up_are_flagged(tmp_path):
    path, df = _csv(tmp_path)
    mean_y = float(df["y"].mean())
    result = _go(path, _interpreter(f"y averages {mean_y:.2f}, and 77.7 percent agree."))
    assert result.data.unsupported_numbers == ["77.7"]
    assert "match no computed result: 77.7" in result.markdown
    assert unsupported_numbers("r is 98%", '{"r": 0.98}') == []
    assert unsupported_numbers("r is 0.9", '{"r": 0.98}') == ["0.9"]


def test_one_numeric_column_gets_a_not_sensible_record(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("kind,value\na,1\nb,2\na,3\nb,5\n")
    result = _go(path, _interpreter())
    assert result.data.fit == {"sensible": False, "reason": "1 numeric column; a fit needs two"}
    assert result.data.correlations == []
    assert "No linear fit is sensible here: 1 numeric column; a fit needs two." in result.markdown
    assert result.data.groups[0]["rows"] == [
        {"kind": "a", "rows": 2, "value": 2.0}, {"kind": "b", "rows": 2, "value": 3.5}]


def test_a_failed_interpretation_keeps_the_computed_report(tmp_path):
    path, _ = _csv(tmp_path)
    model = ScriptedModel([ModelRequestError("prompt too long", provider="scripted", model="m")])
    result = _go(path, model)
    assert result.run.status == "partial"
    assert result.data.interpretation == "" and len(result.data.statistics) == 4
    assert "_No interpretation was written: ModelRequestError: prompt too long_" in result.markdown


@pytest.mark.parametrize(("content", "message"), [
    (None, "no such file"),
    ("a,b\n", "has a header row but no data rows"),
    ("", "is empty"),
])
def test_bad_data_raises_its_one_line_message(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_text(content)
    model = _interpreter()
    with pytest.raises(DataError, match=message) as caught:
        _go(path, model)
    assert "\n" not in str(caught.value) and not str(caught.value).startswith("DataError")
    assert model.calls == []


def test_the_shipped_example_runs():
    assert EXAMPLE_CSV.is_file()
    result = _go(EXAMPLE_CSV, _interpreter())
    assert result.title == "Analysis of sales.csv"
    assert result.data.fit["target"] == "revenue"
    assert result.summary()["data"]["rows"] == 40
