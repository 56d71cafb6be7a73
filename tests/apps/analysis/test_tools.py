"""Analysis tools: results equal pandas, numpy and scipy; cleaning lists steps; bad data fails."""

import json
import math
import pickle
import sys
from importlib import resources

import pytest

pd = pytest.importorskip("pandas")
np = pytest.importorskip("numpy")
stats = pytest.importorskip("scipy.stats")

from delegate.apps.analysis.tools import (  # noqa: E402
    ColumnProfile,
    Correlation,
    DataError,
    LinearFit,
    correlations,
    group_summary,
    linear_fit,
    load_csv,
    preprocess,
    profile_columns,
    summary_report,
)
from delegate.errors import ConfigurationError, UsageError  # noqa: E402

REL = 1e-12


def _frame(rows=200, seed=7):
    """A seeded frame: x, y = 3x + noise, z independent, a few gaps, a region column."""
    rng = np.random.default_rng(seed)
    x = rng.normal(10.0, 2.0, rows)
    y = 3.0 * x - 4.0 + rng.normal(0.0, 1.5, rows)
    z = rng.uniform(0.0, 100.0, rows)
    x[[3, rows // 4]] = np.nan
    z[[7]] = np.nan
    region = rng.choice(["north", "south", "east", "west", "centre", "islands"], rows)
    return pd.DataFrame({"region": region, "x": x, "z": z, "y": y})


def _write_csv(tmp_path, df, name="data.csv"):
    path = tmp_path / name
    df.to_csv(path, index=False)
    return path


@pytest.fixture
def data(tmp_path):
    return load_csv(_write_csv(tmp_path, _frame()))


# --- loading ---------------------------------------------------------------------------------


def test_load_csv_round_trips_a_generated_file(tmp_path):
    original = _frame()
    df = load_csv(_write_csv(tmp_path, original))
    assert list(df.columns) == ["region", "x", "z", "y"]
    assert len(df) == 200
    np.testing.assert_allclose(df["y"].to_numpy(), original["y"].to_numpy(), rtol=1e-15)


def test_load_csv_accepts_text_with_a_line_break():
    df = load_csv("a,b\n1,2\n3,4\n")
    assert df.to_dict("list") == {"a": [1, 3], "b": [2, 4]}


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "is empty"),
        (b"  \n\n ", "is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "binary data"),
        (b"a,b\n", "no data rows"),
        (b"\xef\xbb\xbf", "no columns"),
        (b'a,b\n1,2\n3,"4\n', "not readable as CSV"),
    ],
)
def test_load_csv_refuses_unusable_files(tmp_path, content, expected):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=expected) as info:
        load_csv(path)
    assert str(path) in str(info.value)


def test_load_csv_refuses_random_binary_junk(tmp_path):
    path = tmp_path / "junk.csv"
    path.write_bytes(np.random.default_rng(3).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(DataError, match="binary data, not CSV text"):
        load_csv(path)


def test_load_csv_names_a_missing_file(tmp_path):
    missing = tmp_path / "nope.csv"
    with pytest.raises(DataError, match=r"no such file: .*nope\.csv"):
        load_csv(missing)
    with pytest.raises(DataError, match="no such file"):
        load_csv(str(missing))


def test_load_csv_enforces_size_and_row_limits(tmp_path):
    path = _write_csv(tmp_path, _frame(rows=50))
    with pytest.raises(DataError, match="over the limit of 100 bytes"):
        load_csv(path, max_bytes=100)
    with pytest.raises(DataError, match="more than 49 data rows"):
        load_csv(path, max_rows=49)
    assert len(load_csv(path, max_rows=50)) == 50


def test_data_error_is_a_picklable_usage_error():
    err = pickle.loads(pickle.dumps(DataError("bad data")))
    assert isinstance(err, UsageError)
    assert str(err) == "bad data"


def test_missing_pandas_is_a_configuration_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(
        ConfigurationError, match=r"needs pandas: pip install 'delegate\[analysis\]'"
    ):
        load_csv("a\n1\n")


# --- profile ---------------------------------------------------------------------------------


def test_profile_equals_describe_and_numpy(data):
    described = data.describe()
    profiles = {p.name: p for p in profile_columns(data)}
    assert [p.kind for p in profiles.values()] == ["categorical", "numeric", "numeric", "numeric"]
    for name in ("x", "z", "y"):
        p, d = profiles[name], described[name]
        assert p.count == int(d["count"])
        assert p.missing == int(data[name].isna().sum())
        got = (p.mean, p.std, p.min, p.q1, p.median, p.q3, p.max)
        want = tuple(d[k] for k in ("mean", "std", "min", "25%", "50%", "75%", "max"))
        assert got == pytest.approx(want, rel=REL)
        values = data[name].dropna().to_numpy()
        assert p.std == pytest.approx(np.std(values, ddof=1), rel=1e-10)
        assert p.q1 == pytest.approx(np.percentile(values, 25), rel=1e-10)
    assert profiles["x"].missing == 2 and profiles["z"].missing == 1


def test_profile_of_a_categorical_column_lists_its_top_five(data):
    region = profile_columns(data)[0]
    counts = data["region"].value_counts()
    assert region.unique == 6
    assert len(region.top) == 5
    assert region.top == tuple(zip(counts.index[:5], counts.to_numpy()[:5].tolist(), strict=True))
    assert region.mean is None
    assert "mean" not in region.to_dict() and region.to_dict()["top"][0]["count"] == counts.iloc[0]


def test_profile_kinds_for_text_and_dates():
    df = pd.DataFrame({"when": pd.to_datetime(["2024-01-02", "2023-05-06", None])})
    long = pd.DataFrame({"id": [f"id-{i}" for i in range(30)]})
    (when,) = profile_columns(df)
    assert (when.kind, when.first, when.last, when.missing) == (
        "datetime", "2023-05-06T00:00:00", "2024-01-02T00:00:00", 1
    )  # fmt: skip
    assert profile_columns(long)[0].kind == "text"
    assert isinstance(when, ColumnProfile) and "first" in when.to_dict()


# --- preprocessing ---------------------------------------------------------------------------

MESSY = """ Date ,Price,Units, empty ,region
2024-01-05,"$1,234.50",10,,north
2024-01-06,$5.00,-,,south
,,,,
2024-02-10,"(2,000.25)",30,,
2024-03-01,$0.75,40,,east
"""


def test_preprocess_converts_money_and_dates_and_lists_each_step():
    df = load_csv(MESSY)
    cleaned, steps = preprocess(df)
    assert list(cleaned.columns) == ["Date", "Price", "Units", "region"]
    assert cleaned["Price"].tolist() == [1234.5, 5.0, -2000.25, 0.75]
    assert cleaned["Units"].tolist()[0] == 10.0 and math.isnan(cleaned["Units"].tolist()[1])
    assert pd.api.types.is_datetime64_any_dtype(cleaned["Date"])
    assert cleaned["Date"].tolist() == list(
        pd.to_datetime(["2024-01-05", "2024-01-06", "2024-02-10", "2024-03-01"])
    )
    assert list(cleaned.index) == [0, 1, 3, 4]
    assert steps == [
        "Stripped spaces from 2 column names: ' Date ' → 'Date', ' empty ' → 'empty'.",
        "Dropped 1 completely empty column: 'empty'.",
        "Dropped 1 completely empty row (index 2).",
        "Parsed 'Date' as dates (ISO 8601, e.g. 2024-01-05T00:00:00).",
        "Read 'Price' as numbers (e.g. '$1,234.50' → 1234.5).",
        "Read 'Units' as numbers (e.g. '10' → 10.0); 1 placeholder cell (like '-', 'n/a')"
        " read as missing.",
    ]
    assert df.columns[0] == " Date "  # the input is left untouched


def test_preprocess_reads_percentages_and_blank_cells():
    df = pd.DataFrame({"rate": ["5%", " 7.5% ", None], "tag": ["a", "  ", "b"]})
    cleaned, steps = preprocess(df)
    assert cleaned["rate"].tolist()[:2] == [5.0, 7.5]
    assert cleaned["tag"].isna().tolist() == [False, True, False]
    assert steps == [
        "Read 1 blank text cell as missing (in 'tag').",
        "Read 'rate' as numbers (e.g. '5%' → 5.0); percent signs removed, values stay in percent.",
    ]


def test_preprocess_leaves_ambiguous_text_alone_and_says_so_for_bad_dates():
    df = pd.DataFrame(
        {
            "zip": ["02134", "10001", "94105"],
            "mixed": ["$5", "five", "$6"],
            "pct": ["5%", "6", "7"],
            "day": ["2024-02-28", "2024-02-30", "2024-03-01"],
        }
    )
    cleaned, steps = preprocess(df)
    for name in df.columns:
        assert cleaned[name].tolist() == df[name].tolist()
    assert steps == [
        "Left 'day' as text: 1 value look like ISO dates but are not valid dates"
        " (e.g. '2024-02-30')."
    ]


def test_preprocess_converts_offsets_to_utc_and_renames_duplicates():
    df = pd.DataFrame([["2024-01-05T10:00:00+02:00", 1, 2]], columns=["t", "a", "a "])
    cleaned, steps = preprocess(df)
    assert list(cleaned.columns) == ["t", "a", "a.1"]
    assert cleaned["t"].iloc[0] == pd.Timestamp("2024-01-05T08:00:00Z")
    assert steps[:2] == [
        "Stripped spaces from 1 column name: 'a ' → 'a'.",
        "Renamed 1 duplicate column: 'a' → 'a.1'.",
    ]
    assert "converted to UTC" in steps[2]


def test_preprocess_of_clean_data_takes_no_steps(data):
    cleaned, steps = preprocess(data)
    assert steps == []
    pd.testing.assert_frame_equal(cleaned, data)


# --- correlations ----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_correlations_equal_dataframe_corr(data, method):
    found = correlations(data, method=method)
    matrix = data[["x", "z", "y"]].corr(method=method)
    assert {(c.x, c.y) for c in found} == {("x", "z"), ("x", "y"), ("z", "y")}
    for c in found:
        assert c.method == method
        assert c.r == pytest.approx(matrix.loc[c.x, c.y], rel=1e-10)
        assert c.n == int(data[[c.x, c.y]].dropna().shape[0])
    assert [abs(c.r) for c in found] == sorted((abs(c.r) for c in found), reverse=True)
    assert (found[0].x, found[0].y) == ("x", "y")


def test_correlation_p_values_equal_scipy(data):
    pair = data[["x", "y"]].dropna()
    want = stats.pearsonr(pair["x"], pair["y"])
    got = next(c for c in correlations(data) if (c.x, c.y) == ("x", "y"))
    assert (got.r, got.p_value, got.n) == (pytest.approx(want.statistic, rel=REL),
                                           pytest.approx(want.pvalue, rel=1e-9), 198)  # fmt: skip
    assert Correlation(**got.to_dict()) == got


def test_correlations_skip_constant_columns_and_refuse_unknown_methods():
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [5.0] * 4, "c": [2.0, 1.0, 4.0, 3.0]})
    assert [(c.x, c.y) for c in correlations(df)] == [("a", "c")]
    with pytest.raises(UsageError, match="unknown correlation method 'kendal'"):
        correlations(df, method="kendal")


# --- linear fit ------------------------------------------------------------------------------


def test_one_feature_fit_equals_polyfit_and_linregress(data):
    fit = linear_fit(data, "y", ["x"])
    rows = data[["x", "y"]].dropna()
    slope, intercept = np.polyfit(rows["x"], rows["y"], 1)
    assert fit.coefficients["x"] == pytest.approx(slope, rel=1e-10)
    assert fit.intercept == pytest.approx(intercept, rel=1e-10)
    assert fit.r_squared == pytest.approx(stats.linregress(rows["x"], rows["y"]).rvalue ** 2)
    assert fit.n == 198
    assert 2.5 < fit.coefficients["x"] < 3.5  # the generating slope is 3


def test_default_features_fit_equals_the_normal_equations(data):
    fit = linear_fit(data, "y")
    rows = data[["x", "z", "y"]].dropna()
    design = np.column_stack([np.ones(len(rows)), rows["x"], rows["z"]])
    beta = np.linalg.solve(design.T @ design, design.T @ rows["y"].to_numpy())
    residual = rows["y"].to_numpy() - design @ beta
    r2 = 1 - residual @ residual / ((rows["y"] - rows["y"].mean()) ** 2).sum()
    assert fit.features == ("x", "z") and fit.n == len(rows) == 197
    assert [fit.intercept, fit.coefficients["x"], fit.coefficients["z"]] == pytest.approx(
        beta.tolist(), rel=1e-8
    )
    assert fit.r_squared == pytest.approx(r2, rel=1e-10)
    assert fit.to_dict()["features"] == ["x", "z"] and isinstance(fit, LinearFit)


@pytest.mark.parametrize(
    ("frame", "target", "features", "message"),
    [
        ({"t": ["a", "b", "c", "d"], "x": [1, 2, 3, 4]}, "t", None, "target 't' is categorical"),
        (
            {"t": [1.0, 2, 3], "x": [1, 2, 4], "w": [3, 1, 2]},
            "t",
            None,
            "3 complete rows, need at least 4",
        ),
        ({"t": [1.0, 2], "x": [1, 2]}, "t", ["x"], "2 complete rows, need at least 3"),
        ({"t": [5.0] * 4, "x": [1, 2, 3, 4]}, "t", None, "target 't' is constant"),
        ({"t": [1.0, 2, 3, 5], "x": [1, 1, 1, 1]}, "t", None, "constant features"),
        ({"t": [1.0, 2, 3, 5], "x": [1, 2, 3, 4]}, "nope", None, "no column named 'nope'"),
        ({"t": [1.0, 2, 3, 5], "s": list("abcd")}, "t", ["s"], "feature 's' is categorical"),
        ({"t": [1.0, 2, 3, 5]}, "t", None, "no numeric feature columns"),
    ],
)
def test_linear_fit_refuses_data_it_cannot_fit(frame, target, features, message):
    with pytest.raises(DataError, match=message):
        linear_fit(pd.DataFrame(frame), target, features)


# --- groups and report -----------------------------------------------------------------------


@pytest.mark.parametrize("agg", ["mean", "median", "sum", "min", "max", "std", "count"])
def test_group_summary_equals_groupby(data, agg):
    rows = group_summary(data, "region", "y", agg=agg)
    want = data.groupby("region")["y"].agg(agg)
    assert [r["region"] for r in rows] == sorted(want.index)
    assert [r[agg] for r in rows] == pytest.approx(want.tolist(), rel=REL)
    assert [r["n"] for r in rows] == data.groupby("region")["y"].count().tolist()


def test_group_summary_keeps_missing_keys_and_refuses_bad_requests():
    df = pd.DataFrame({"g": ["a", None, "a"], "v": [1.0, 4.0, 3.0], "s": ["p", "q", "r"]})
    assert group_summary(df, ["g"], "v", "sum") == [
        {"g": "a", "sum": 4.0, "n": 2},
        {"g": None, "sum": 4.0, "n": 1},
    ]
    with pytest.raises(UsageError, match="unknown aggregation 'avg'"):
        group_summary(df, "g", "v", "avg")
    with pytest.raises(DataError, match="value 's' is categorical, not numeric"):
        group_summary(df, "g", "s")
    assert group_summary(df, "g", "s", "count")[0] == {"g": "a", "count": 2, "n": 2}


def test_summary_report_is_plain_json_rounded_to_six_digits(data):
    report = summary_report(data)
    text = json.dumps(report, allow_nan=False)
    assert "NaN" not in text
    assert report["rows"] == 200 and report["columns"] == 4
    y = next(p for p in report["profile"] if p["name"] == "y")
    assert y["mean"] == float(f"{data['y'].mean():.6g}")
    fit = report["linear_fit"]
    assert fit["target"] == "y" and fit["features"] == ["x", "z"]
    assert fit["r_squared"] == float(f"{linear_fit(data, 'y').r_squared:.6g}")
    assert (report["correlations"][0]["x"], report["correlations"][0]["y"]) == ("x", "y")
    assert report["notes"] == []


def test_summary_report_renders_undefined_numbers_as_none():
    df = pd.DataFrame({"a": [1.0, None, None], "b": ["x", "y", "z"]})
    report = summary_report(df)
    a = report["profile"][0]
    assert a["std"] is None and a["mean"] == 1.0
    assert report["linear_fit"] is None
    assert report["notes"] == ["No linear fit: fewer than two numeric columns."]
    json.dumps(report, allow_nan=False)


# --- the shipped sample ----------------------------------------------------------------------


def test_shipped_sales_sample_revenue_follows_units():
    sample = resources.files("delegate.apps.data").joinpath("samples").joinpath("sales.csv")
    with resources.as_file(sample) as path:
        df, steps = preprocess(load_csv(path))
    assert list(df.columns) == ["date", "region", "units", "price", "revenue"]
    assert 30 <= len(df) <= 60 and steps[0].startswith("Parsed 'date' as dates")
    found = {(c.x, c.y): c for c in correlations(df)}
    assert found[("units", "revenue")].r > 0.9
    assert found[("units", "revenue")].p_value < 1e-6
    assert linear_fit(df, "revenue", ["units"]).r_squared > 0.85
