"""The `generate` flow called from Python (`from flows.tabular.generate import generate`), on odd but valid data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from inferloop.core import storage
from inferloop.core.errors import InferloopError
from tests.tabular_data import customers


def run(tmp_path, df: pd.DataFrame, **kw) -> tuple[dict, pd.DataFrame]:
    from flows.tabular.generate import generate

    path = tmp_path / "input.csv"
    df.to_csv(path, index=False)
    manifest = generate(data=str(path), **kw)
    out = pd.read_parquet(storage.open_uri(manifest["output_uri"]))
    return manifest, out


def test_python_flow_call(prefect_platform, tmp_path):
    manifest, out = run(tmp_path, customers(100), algorithm="sdv", num_rows=80, seed=1)
    assert manifest["generated_rows"] == 80 == len(out)
    assert manifest["original_rows"] == 100 and manifest["columns"] == 6
    assert 0 <= manifest["quality_score"] <= 1
    assert storage.exists(manifest["output_uri"].rsplit("/", 1)[0] + "/manifest.json")


ODD = {
    "single_column": pd.DataFrame({"x": np.arange(50) % 7}),
    "all_null_column": pd.DataFrame({"a": range(50), "empty": [None] * 50}),
    "constant_column": pd.DataFrame({"a": range(50), "k": ["same"] * 50}),
    "unicode": pd.DataFrame({"città": ["Zürich", "東京", "émoji 🎉"] * 20, "名前": list(range(60))}),
    "dates_in_several_formats": pd.DataFrame({
        "iso": pd.date_range("2024-01-01", periods=60).strftime("%Y-%m-%d"),
        "us": pd.date_range("2024-01-01", periods=60).strftime("%m/%d/%Y"),
        "long": pd.date_range("2024-01-01 10:30", periods=60, freq="h").strftime("%d %b %Y %H:%M"),
        "v": range(60)}),
    "2000_categories": pd.DataFrame({"cat": [f"c{i % 2000}" for i in range(4000)], "v": range(4000)}),
}


@pytest.mark.parametrize("name", list(ODD))
def test_odd_but_valid_data(prefect_platform, tmp_path, name):
    df = ODD[name]
    manifest, out = run(tmp_path, df, algorithm="sdv", num_rows=40, seed=3)
    assert len(out) == 40 and list(out.columns) == list(df.columns)
    if name == "all_null_column":
        assert out["empty"].isna().all()
    if name == "constant_column":
        assert (out["k"] == "same").all()
    if name == "2000_categories":
        assert set(out["cat"]) <= set(df["cat"])


def test_flow_rejects_bad_parameters(prefect_platform, tmp_path):
    from flows.tabular.generate import generate

    path = tmp_path / "in.csv"
    customers(20).to_csv(path, index=False)
    with pytest.raises(InferloopError) as exc:
        generate(data=str(path), algorithm="nope")
    assert exc.value.code == "INVALID_ALGORITHM"


def test_flow_reads_from_s3(prefect_platform, s3_bucket):
    from flows.tabular.generate import generate

    uri = f"{s3_bucket}/inputs/customers.parquet"
    with storage.open_uri(uri, "wb") as f:
        customers(80).to_parquet(f, index=False)
    manifest = generate(data=uri, algorithm="sdv", num_rows=30)
    assert manifest["original_rows"] == 80 and manifest["generated_rows"] == 30


def test_storage_on_s3(prefect_platform, s3_bucket, tmp_path, monkeypatch):
    """With INFERLOOP_STORAGE_URL=s3://..., outputs and the manifest are written to the bucket."""
    from inferloop.core.settings import get_settings

    monkeypatch.setenv("INFERLOOP_STORAGE_URL", f"{s3_bucket}/platform")
    get_settings.cache_clear()
    try:
        manifest, out = run(tmp_path, customers(60), algorithm="sdv", num_rows=25)
    finally:
        get_settings.cache_clear()
    assert manifest["output_uri"].startswith(f"{s3_bucket}/platform/runs/")
    assert len(out) == 25
