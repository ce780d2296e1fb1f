"""Profiling functions on tables made here: types, statistics, distributions, correlations, sampling."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import polars as pl
import pytest

from tasks.tabular.profile_report import markdown_summary, render_report
from tasks.tabular.profiling import (column_type, correlations, fit_distribution, human_bytes,
                                     numeric_columns, parse_dates, profile_data, sample_frame)
from tests.tabular_data import customers


def full_profile(df: pd.DataFrame, **kw) -> dict:
    profile, frame = profile_data(df, **kw)
    profile["correlations"] = correlations(frame, numeric_columns(profile))
    json.dumps(profile, allow_nan=False)  # strict JSON: no NaN or infinity anywhere
    return profile


def test_column_types():
    n = 300
    rng = np.random.default_rng(0)
    df = customers(n).assign(
        customer_id=range(1000, 1000 + n),
        uuid=[f"a{i:04x}-{i * 7 % 13}" for i in range(n)],
        comment=[f"note {i}: the parcel arrived {'late' if i % 2 else 'early'}" for i in range(n)],
        yes_no=rng.choice(["Yes", "No"], n),
        when=pd.date_range("2024-01-01", periods=n, freq="h"),
        us_dates=pd.date_range("2024-01-01", periods=n).strftime("%m/%d/%Y"),
        rating=rng.integers(1, 6, n),
        code=rng.choice(["A1", "B2", "C3"], n),
    )
    cols = full_profile(df)["columns"]
    expected = {"age": "numeric", "income": "numeric", "segment": "categorical", "country": "categorical",
                "active": "boolean", "signup": "datetime", "customer_id": "id", "uuid": "id",
                "comment": "text", "yes_no": "boolean", "when": "datetime", "us_dates": "datetime",
                "rating": "numeric",
                "code": "categorical"}
    assert {k: c["type"] for k, c in cols.items()} == expected
    assert cols["age"]["dtype"] == "int64" and cols["segment"]["dtype"] == "object"


def test_dates_need_a_date_shape():
    assert parse_dates(pl.Series(["1", "2", "3"])) is None
    assert parse_dates(pl.Series(["gold", "silver"])) is None
    assert parse_dates(pl.Series(["order 12 shipped", "order 13 lost"])) is None
    mixed = parse_dates(pl.Series(["2024-01-05", "03/04/2024", "5 Jan 2024 10:30", None]))
    assert mixed is not None and mixed.null_count() == 1 and mixed.dt.year().to_list()[:3] == [2024] * 3


def test_an_all_unique_integer_is_not_an_id_without_a_key_shape():
    values = pl.Series(np.random.default_rng(1).permutation(10_000)[:500] * 3)
    assert column_type(values, "amount") == "numeric"
    assert column_type(values, "order_id") == "id" and column_type(values, "orderId") == "id"
    assert column_type(values, "paid") == "numeric"  # a name ending in "id" is not a key name
    assert column_type(pl.Series(range(100)), "n") == "id"  # a consecutive key


def test_numeric_and_categorical_statistics():
    df = pd.DataFrame({"x": [1, 2, 3, 4, None, 6, 7, 8, 9, 10], "c": list("aabbbcccc") + [None]})
    p = full_profile(df)
    x, c = p["columns"]["x"], p["columns"]["c"]
    assert (x["missing"], x["unique"], x["min"], x["max"]) == (1, 9, 1, 10)
    assert x["mean"] == pytest.approx(np.nanmean(df["x"])) and x["std"] == pytest.approx(df["x"].std())
    assert (c["missing"], c["unique"], c["top"], c["freq"]) == (1, 3, "c", 4)
    assert c["categories"] == ["c", "b", "a"]
    s = p["summary"]
    assert (s["rows"], s["columns"], s["missing_values"], s["duplicate_rows"]) == (10, 2, 2, 0)
    assert s["memory_usage"].endswith(" B") and not s["sampled"]


def test_summary_counts_duplicates_and_memory():
    df = pd.DataFrame({"a": [1, 1, 2, 2, 3] * 200_000, "b": ["x", "x", "y", "y", "z"] * 200_000})
    s = full_profile(df)["summary"]
    assert s["rows"] == 1_000_000 and s["duplicate_rows"] == 1_000_000 - 3
    assert s["memory_usage"].endswith("MB") and s["memory_usage_bytes"] > 1_000_000


@pytest.mark.parametrize("law,draw", [
    ("normal", lambda r, n: r.normal(50, 10, n)),
    ("lognormal", lambda r, n: r.lognormal(3, 0.6, n)),
    ("uniform", lambda r, n: r.uniform(-5, 20, n)),
    ("exponential", lambda r, n: r.exponential(4, n)),
    ("gamma", lambda r, n: r.gamma(3, 2, n)),
])
@pytest.mark.parametrize("n", [1_000, 20_000])
def test_distribution_recognised(law, draw, n):
    fit = fit_distribution(draw(np.random.default_rng(11), n), seed=0)
    assert fit["distribution"] == law, fit
    f = fit["distribution_fit"]
    assert f["test"] == "ks" and 0 <= f["statistic"] < 0.05 and f["p_value"] > 0.01
    assert f["values"] == min(n, 5_000)  # fitted on a capped sample


def test_integer_data_and_poor_fits_are_reported_honestly():
    rng = np.random.default_rng(3)
    ages = fit_distribution(rng.integers(18, 90, 3_000), integer=True)
    assert ages["distribution"] == "uniform" and ages["distribution_fit"]["passed"]
    bimodal = fit_distribution(np.concatenate([rng.normal(0, 1, 2_000), rng.normal(10, 1, 2_000)]))
    assert bimodal["distribution_fit"]["p_value"] < 0.05 and not bimodal["distribution_fit"]["passed"]
    assert fit_distribution(np.full(50, 3.0))["distribution"] == "constant"
    assert fit_distribution(np.array([1.0, 2.0]))["distribution"] is None


def test_correlations():
    rng = np.random.default_rng(5)
    x = rng.normal(size=2_000)
    y = np.exp(x)  # monotone: spearman 1, pearson below
    z = rng.normal(size=2_000)
    w = -x + rng.normal(0, 0.1, 2_000)
    w[:100] = np.nan  # pairs use the rows where both are present
    df = pd.DataFrame({"x": x, "y": y, "z": z, "w": w, "const": 1.0, "label": ["a", "b"] * 1000})
    corr = full_profile(df)["correlations"]
    p, s = corr["pearson"], corr["spearman"]
    assert set(p) == set(s) == {"x", "y", "z", "w", "const"}
    assert p["x"]["x"] == 1.0 and s["x"]["y"] == pytest.approx(1.0) and 0.6 < p["x"]["y"] < 0.9
    assert abs(p["x"]["z"]) < 0.1 and p["x"]["z"] == p["z"]["x"]
    assert p["x"]["w"] == pytest.approx(np.corrcoef(x[100:], w[100:])[0, 1], abs=1e-4)
    from scipy.stats import spearmanr
    assert s["y"]["w"] == pytest.approx(spearmanr(y[100:], w[100:]).statistic, abs=1e-4)
    assert p["const"]["x"] is None and s["const"]["const"] is None


def test_sample_size_profiles_a_seeded_uniform_sample():
    df = pd.DataFrame({"i": range(10_000), "v": np.random.default_rng(0).normal(size=10_000)})
    a, b = sample_frame(df, 500, seed=1), sample_frame(df, 500, seed=1)
    assert len(a) == 500 and a.equals(b) and a["i"].is_monotonic_increasing
    assert 3_000 < a["i"].mean() < 7_000  # spread over the whole file, not its head
    assert sample_frame(df, 50_000) is df
    s = full_profile(df, sample_size=500)["summary"]
    assert (s["rows"], s["total_rows"], s["sampled"]) == (500, 10_000, True)


def test_single_row():
    p = full_profile(customers(1))
    assert p["summary"]["rows"] == 1
    cols = p["columns"]
    assert cols["age"]["type"] == "numeric" and cols["age"]["std"] is None
    assert cols["age"]["distribution"] == "constant"
    assert cols["segment"]["type"] == "categorical" and cols["segment"]["freq"] == 1
    assert p["correlations"]["pearson"]["age"]["income"] is None


def test_all_null_columns():
    df = pd.DataFrame({"a": [1.5, 2.5] * 10, "empty_obj": [None] * 20, "empty_num": [np.nan] * 20})
    p = full_profile(df)
    e, n = p["columns"]["empty_obj"], p["columns"]["empty_num"]
    assert (e["missing"], e["unique"], e["top"]) == (20, 0, None)
    assert (n["type"], n["missing"], n["min"], n["distribution"]) == ("numeric", 20, None, None)
    assert set(p["correlations"]["pearson"]) == {"a"}  # columns without values are left out
    assert any("empty_obj" in w for w in p["warnings"])


def test_high_cardinality_text():
    n = 50_000
    df = pd.DataFrame({"review": [f"review number {i} says {'good' if i % 3 else 'bad'}" for i in range(n)],
                       "v": range(n)})
    col = full_profile(df)["columns"]["review"]
    assert col["type"] == "text" and col["unique"] == n and "categories" not in col
    assert col["freq"] == 1 and col["max_length"] >= col["mean_length"] >= col["min_length"] > 0


def test_many_categories_are_capped():
    df = pd.DataFrame({"cat": [f"c{i % 2000}" for i in range(4000)]})
    col = full_profile(df)["columns"]["cat"]
    assert col["type"] == "categorical" and col["unique"] == 2000
    assert len(col["categories"]) == 50 and col["categories_truncated"]


def test_report_has_plots_and_markdown_summary():
    df = customers(200).assign(comment=[f"free text {i}" for i in range(200)])
    profile, frame = profile_data(df)
    profile["correlations"] = correlations(frame, numeric_columns(profile))
    html = render_report(profile, frame, title="Profile <customers>")
    assert html.count("Plotly.newPlot") == 2 + 3 + 2  # histograms, category bars, two heatmaps
    assert "Profile &lt;customers&gt;" in html and "<customers>" not in html
    assert html.count("plotly.js v") == 1 and len(html) < 6_000_000  # plotly.js inlined once
    md = markdown_summary(profile, "s3://b/report.html")
    assert "| age | numeric | int64 |" in md and "200 rows × 7 columns" in md


def test_human_bytes():
    assert [human_bytes(v) for v in (512, 2_621_440, 3 * 1024**3)] == ["512 B", "2.5 MB", "3.0 GB"]
