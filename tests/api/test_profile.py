"""POST /profile end to end (HTTP -> `profile` flow run on the pool -> result), its report, bad input."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pandas as pd
import pytest

from inferloop.core import db, storage
from tests.support import API_KEY, OTHER_KEY
from tests.tabular_data import customers

H = {"X-API-Key": API_KEY}


def table(n: int = 300) -> pd.DataFrame:
    """customers plus a key, free text and an all-null column (float64 once read back from csv)."""
    return customers(n).assign(customer_id=range(1, n + 1),
                               note=[f"called on day {i} about order {i * 7}" for i in range(n)],
                               empty=None)


def post(api: str, content: bytes, data: dict | None = None, name: str = "t.csv",
         headers: dict | None = None) -> httpx.Response:
    return httpx.post(f"{api}/api/tabular/profile", files={"file": (name, content)}, data=data or {},
                      headers=H if headers is None else headers, timeout=300)


@pytest.fixture(scope="module")
def profiled(api) -> dict:
    r = post(api, table().to_csv(index=False).encode())
    assert r.status_code == 200, r.text
    return r.json()


def test_documented_fields(profiled):
    df = table()
    assert profiled["profile_id"].startswith("prof-")
    assert profiled["report_url"] == f"/api/tabular/profile/{profiled['profile_id']}/report"
    s = profiled["summary"]
    assert {"rows", "columns", "missing_values", "duplicate_rows", "memory_usage"} <= set(s)
    assert (s["rows"], s["columns"], s["duplicate_rows"]) == (300, 9, 0)
    assert s["missing_values"] == int(df.isna().sum().sum())
    assert s["memory_usage"].split()[1] in ("B", "KB", "MB")

    cols = profiled["columns"]
    assert list(cols) == list(df.columns)
    assert {n: c["type"] for n, c in cols.items()} == {
        "age": "numeric", "income": "numeric", "segment": "categorical", "country": "categorical",
        "active": "boolean", "signup": "datetime", "customer_id": "id", "note": "text", "empty": "numeric"}
    age = cols["age"]
    assert (age["dtype"], age["missing"], age["unique"]) == ("int64", 0, df["age"].nunique())
    assert (age["min"], age["max"]) == (df["age"].min(), df["age"].max())
    assert age["mean"] == pytest.approx(df["age"].mean()) and age["std"] == pytest.approx(df["age"].std())
    assert age["distribution"] == "uniform" and age["distribution_fit"]["test"] == "ks"
    assert cols["income"]["distribution"] == "lognormal"
    assert cols["income"]["missing"] == df["income"].isna().sum()
    seg = cols["segment"]
    assert (seg["dtype"], seg["top"], seg["freq"]) == ("object", df["segment"].mode()[0],
                                                     df["segment"].value_counts().max())
    assert sorted(seg["categories"]) == sorted(df["segment"].unique())
    assert cols["empty"]["missing"] == 300 and cols["empty"]["unique"] == 0

    for method in ("pearson", "spearman"):
        m = profiled["correlations"][method]
        assert set(m) == {"age", "income"} and m["age"]["age"] == 1.0
        assert m["age"]["income"] == m["income"]["age"] and -1 <= m["age"]["income"] <= 1
    both = df[["age", "income"]].dropna()
    assert profiled["correlations"]["pearson"]["age"]["income"] == pytest.approx(
        both["age"].corr(both["income"]), abs=1e-4)


def test_report_serves_html_with_plots(api, profiled):
    r = httpx.get(f"{api}{profiled['report_url']}", headers=H, timeout=60)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert html.count("Plotly.newPlot") == 2 + 3 + 2  # histograms, category bars, two heatmaps
    assert "Pearson correlation" in html and "customer_id" in html


def test_report_is_private(api, profiled):
    r = httpx.get(f"{api}{profiled['report_url']}", headers={"X-API-Key": OTHER_KEY}, timeout=60)
    assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"
    r = httpx.get(f"{api}/api/tabular/profile/prof-unknown/report", headers=H, timeout=60)
    assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"


def test_run_visible_in_prefect_with_artifact(api, profiled):
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, FlowRunFilter

    with db.session_scope() as s:
        flow_run_id = s.get(db.Job, profiled["profile_id"]).flow_run_id

    async def inspect():
        async with get_client() as client:
            fr = await client.read_flow_run(flow_run_id)
            tasks = await client.read_task_runs(flow_run_filter=FlowRunFilter(id={"any_": [fr.id]}))
            arts = await client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[fr.id])))
            return fr, tasks, arts, await client.read_deployment(fr.deployment_id)

    fr, tasks, arts, dep = asyncio.run(inspect())
    assert fr.state.is_completed() and dep.name == "profile"
    assert {"load", "profile-columns", "correlations", "report"} <= {t.name.rsplit("-", 1)[0] for t in tasks}
    report = next(a for a in arts if a.key == "profile-report")
    assert report.type == "markdown" and "| age | numeric | int64 |" in report.data


def test_sample_size_profiles_a_sample(api):
    r = post(api, customers(2_000).to_csv(index=False).encode(), {"sample_size": "500"})
    assert r.status_code == 200, r.text
    s = r.json()["summary"]
    assert (s["rows"], s["total_rows"], s["sampled"]) == (500, 2_000, True)


@pytest.mark.parametrize("kind", ["single_row", "all_null_columns", "high_cardinality_text"])
def test_odd_but_valid_files(api, kind):
    if kind == "single_row":
        df = customers(1)
    elif kind == "all_null_columns":
        df = pd.DataFrame({"a": [None] * 30, "b": [np.nan] * 30, "c": range(30)})
    else:
        df = pd.DataFrame({"text": [f"free text entry {i} " + "x" * (i % 40) for i in range(20_000)]})
    r = post(api, df.to_csv(index=False).encode())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["summary"]["rows"] == len(df) and list(body["columns"]) == list(df.columns)
    if kind == "single_row":
        assert body["columns"]["age"]["distribution"] == "constant"
    elif kind == "all_null_columns":
        assert body["columns"]["a"]["missing"] == body["columns"]["b"]["missing"] == 30
    else:
        assert body["columns"]["text"]["type"] == "text" and body["columns"]["text"]["unique"] == 20_000


def test_python_flow_call(prefect_platform, tmp_path):
    from flows.tabular.profile_data import profile
    from inferloop.core.errors import InferloopError

    path = tmp_path / "customers.parquet"
    customers(120).to_parquet(path, index=False)
    result = profile(data=str(path), sample_size=100)
    assert result["summary"]["rows"] == 100 and result["summary"]["total_rows"] == 120
    assert result["columns"]["segment"]["type"] == "categorical"
    run_dir = result["report_uri"].rsplit("/", 1)[0]
    assert storage.read_json(f"{run_dir}/result.json")["summary"] == result["summary"]
    with pytest.raises(InferloopError) as exc:
        profile(data=str(path), sample_size=0)
    assert exc.value.code == "INVALID_REQUEST" and exc.value.field == "sample_size"


# ------------------------------------------------------------------ bad input: refused before any flow run


@pytest.fixture()
def nothing_left_behind(settings):
    """A rejected request leaves no job row and no stored file."""
    db.migrate()
    with db.session_scope() as s:
        before = s.query(db.Job).count()
    fs, path = storage.fs_for(storage.join("runs"))
    stored = set(fs.ls(path)) if fs.exists(path) else set()
    yield
    with db.session_scope() as s:
        assert s.query(db.Job).count() == before
    assert (set(fs.ls(path)) if fs.exists(path) else set()) == stored


def assert_error(r: httpx.Response, status: int, code: str, field: str | None = None) -> None:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and err["message"] and err["request_id"] == r.headers["X-Request-ID"]
    assert field is None or err.get("field") == field, err


@pytest.mark.parametrize("value", ["0", "-5", "abc", "1.5"])
def test_bad_sample_size(api_no_prefect, nothing_left_behind, value):
    r = post(api_no_prefect, customers(20).to_csv(index=False).encode(), {"sample_size": value})
    assert_error(r, 400, "INVALID_REQUEST", "sample_size")


@pytest.mark.parametrize("name,content,code", [
    ("t.csv", b"", "INVALID_FILE"),
    ("t.csv", b"a,b\n1,2\n3,4,5,6\n", "INVALID_FILE"),
    ("t.json", b"{not json", "INVALID_FILE"),
    ("t.xlsx", b"a,b\n1,2\n", "UNSUPPORTED_FORMAT"),
])
def test_bad_files(api_no_prefect, nothing_left_behind, name, content, code):
    assert_error(post(api_no_prefect, content, name=name), 400, code, "file")


def test_missing_file_and_key(api_no_prefect, nothing_left_behind):
    r = httpx.post(f"{api_no_prefect}/api/tabular/profile", data={"sample_size": "10"}, headers=H, timeout=60)
    assert_error(r, 400, "INVALID_REQUEST", "file")
    assert_error(post(api_no_prefect, b"a\n1\n", headers={}), 401, "UNAUTHORIZED")
