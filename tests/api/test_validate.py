"""POST /validate end to end (HTTP -> flow run on the worker -> result.json + report.html), and bad input."""

from __future__ import annotations

import asyncio
import re

import httpx
import numpy as np
import pandas as pd
import pytest

from inferloop.core import db, storage
from tests.api.test_generate_errors import assert_error, stored_runs
from tests.support import API_KEY, OTHER_KEY
from tests.tasks.test_quality import signal

H = {"X-API-Key": API_KEY}


def odd(df: pd.DataFrame) -> pd.DataFrame:
    """Add an all-null column and a very high-cardinality text column."""
    return df.assign(empty=np.nan, note=[f"free text {i} {i * 7919 % 104729}" for i in range(len(df))])


def csv(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False).encode()


def post(api: str, original: bytes | None, synthetic: bytes | None, data: dict | None = None,
         headers: dict | None = None, extra: dict | None = None) -> httpx.Response:
    files = {k: (f"{k}.csv", v) for k, v in (("original", original), ("synthetic", synthetic)) if v is not None}
    return httpx.post(f"{api}/api/tabular/validate", files={**files, **(extra or {})}, data=data or {},
                      headers=H if headers is None else headers, timeout=300)


@pytest.fixture(scope="module")
def validation(api) -> dict:
    r = post(api, csv(odd(signal(600, 1))), csv(odd(signal(500, 2))))
    assert r.status_code == 200, r.text
    return r.json()


def test_documented_response(validation):
    v = validation
    assert v["validation_id"].startswith("val-")
    assert v["report_url"] == f"/api/tabular/validation/{v['validation_id']}/report"
    m = v["metrics"]
    assert set(m) == {"statistical_similarity", "ml_efficacy", "privacy"}
    st = m["statistical_similarity"]
    assert 0.8 < st["score"] <= 1
    assert set(st["details"]["ks_test"]) == {"passed", "failed"} and st["details"]["chi_squared"]["passed"] >= 1
    assert sum(st["details"]["ks_test"].values()) == 3 and st["details"]["correlation_diff"] < 0.2
    assert st["details"]["columns"]["note"]["skipped"] and st["details"]["columns"]["empty"]["skipped"]
    ml = m["ml_efficacy"]
    assert ml["target_column"] == "label" and ml["target_chosen"] and 0 < ml["score"] <= 1
    assert 0.3 < ml["classifier_auc"] < 0.7 and -1 <= ml["feature_importance_correlation"] <= 1
    p = m["privacy"]
    assert 0 <= p["score"] <= 1 and p["distance_to_closest_record"] > 0
    assert 0 <= p["membership_inference_risk"] < 0.3 and p["k_anonymity"] >= 1
    assert p["quasi_identifiers"] == ["age", "group", "label"]
    scores = [st["score"], ml["score"], p["score"]]
    assert v["overall_score"] == pytest.approx(sum(scores) / 3, abs=1e-3)
    e = v["expectations"]
    assert e["evaluated"] == len(e["results"]) > 10 and 0 < e["success_percent"] <= 100
    assert {"expectation", "column", "success", "observed_value", "unexpected_count",
            "unexpected_percent"} <= set(e["results"][0])
    assert v["rows"] == {"original": 600, "synthetic": 500, "holdout": None}


def test_report_is_self_contained_html(api, validation):
    r = httpx.get(api + validation["report_url"], headers=H, timeout=60)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    assert "Validation report" in page and "Great Expectations" in page
    assert "expect_column_values_to_be_between" in page and "plotly-graph-div" in page
    assert page.count("Plotly.newPlot") >= 6          # one figure per non-empty column
    assert not re.search(r"<script[^>]*\bsrc=", page)  # plotly.js inlined once, no CDN: works offline
    assert page.count("<script type='text/javascript'>") == 1 and len(page) > 3_000_000


def test_report_of_another_owner_is_not_found(api, validation):
    r = httpx.get(api + validation["report_url"], headers={"X-API-Key": OTHER_KEY}, timeout=30)
    assert_error(r, 404, "NOT_FOUND")
    assert_error(httpx.get(f"{api}/api/tabular/validation/val-nope/report", headers=H), 404, "NOT_FOUND")


def test_run_visible_in_prefect_with_artifact(api, validation):
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with db.session_scope() as s:
        flow_run_id = s.get(db.Job, validation["validation_id"]).flow_run_id

    async def inspect():
        async with get_client() as client:
            fr = await client.read_flow_run(flow_run_id)
            arts = await client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[fr.id])))
            return fr, arts, await client.read_deployment(fr.deployment_id)

    fr, arts, dep = asyncio.run(inspect())
    assert fr.state.is_completed() and dep.name == "validate"
    report = next(a for a in arts if a.key == "validation-report")
    assert "Overall score" in report.data and "statistical_similarity" in report.data
    r = httpx.get(f"{api}/api/tabular/jobs/{validation['validation_id']}", headers=H, timeout=30)
    assert r.json()["status"] == "completed" and r.json()["result"]["overall_score"] == validation["overall_score"]


def test_single_row_synthetic_with_chosen_metrics(api):
    r = post(api, csv(signal(300, 1)), csv(signal(1, 2)), {"metrics": "statistical,ml_efficacy",
                                                          "target_column": "group"})
    assert r.status_code == 200, r.text
    v = r.json()
    assert set(v["metrics"]) == {"statistical_similarity", "ml_efficacy"}
    assert v["metrics"]["ml_efficacy"]["score"] is None and v["metrics"]["ml_efficacy"]["skipped"]
    assert v["overall_score"] == v["metrics"]["statistical_similarity"]["score"]  # mean of what was computed


def test_python_flow_call(prefect_platform, tmp_path):
    from flows.tabular.validate import validate

    real, syn = signal(200, 1), signal(200, 3)
    real.to_csv(tmp_path / "real.csv", index=False)
    syn.to_parquet(tmp_path / "syn.parquet")
    result = validate(original=str(tmp_path / "real.csv"), synthetic=str(tmp_path / "syn.parquet"),
                      metrics=["privacy"], quasi_identifiers=["group"])
    assert set(result["metrics"]) == {"privacy"} and result["metrics"]["privacy"]["quasi_identifiers"] == ["group"]
    assert result["overall_score"] == result["metrics"]["privacy"]["score"]
    assert storage.exists(result["report_uri"])
    assert storage.read_json(result["report_uri"].replace("report.html", "result.json")) == result


def test_generation_manifest_has_statistical_similarity(api):
    from tests.api.test_generate_e2e import generate, stored_manifest

    r = generate(api, {"algorithm": "sdv", "num_rows": "100"})
    assert r.status_code == 200, r.text
    st = stored_manifest(r.json()["id"])["statistical_similarity"]
    assert st["score"] == r.json()["metadata"]["quality_score"]
    assert set(st["details"]) >= {"ks_test", "chi_squared", "correlation_diff", "alpha", "columns"}
    assert sum(st["details"]["ks_test"].values()) + sum(st["details"]["chi_squared"].values()) == 6


# ---------------------------------------------------------------- bad input: refused before any flow run


@pytest.fixture()
def nothing_left_behind(settings):
    db.migrate()
    with db.session_scope() as s:
        before = s.query(db.Job).count()
    stored_before = stored_runs()
    yield
    with db.session_scope() as s:
        assert s.query(db.Job).count() == before
    assert stored_runs() == stored_before


bad_input = pytest.mark.usefixtures("nothing_left_behind")


@bad_input
def test_mismatched_columns(api_no_prefect):
    real = signal(50, 1)
    r = post(api_no_prefect, csv(real), csv(real.drop(columns=["age"]).rename(columns={"x1": "x_one"})))
    err = assert_error(r, 400, "INVALID_REQUEST", "synthetic")
    assert "age" in err["message"] and "x1" in err["message"] and "x_one" in err["message"]


@bad_input
@pytest.mark.parametrize("metrics", ["accuracy", "statistical,fidelity"])
def test_unknown_metrics(api_no_prefect, metrics):
    err = assert_error(post(api_no_prefect, csv(signal(30, 1)), csv(signal(30, 2)), {"metrics": metrics}),
                       400, "INVALID_REQUEST", "metrics")
    assert "statistical, ml_efficacy, privacy" in err["message"]


@bad_input
def test_target_with_one_class(api_no_prefect):
    real = signal(50, 1).assign(label="yes")
    err = assert_error(post(api_no_prefect, csv(real), csv(real), {"target_column": "label"}),
                       400, "INVALID_REQUEST", "target_column")
    assert "single class" in err["message"]


@bad_input
@pytest.mark.parametrize("data,field", [({"target_column": "nope"}, "target_column"),
                                        ({"quasi_identifiers": "group,nope"}, "quasi_identifiers")])
def test_unknown_columns_named(api_no_prefect, data, field):
    assert_error(post(api_no_prefect, csv(signal(30, 1)), csv(signal(30, 2)), data), 400, "INVALID_REQUEST", field)


@bad_input
def test_missing_or_bad_files(api_no_prefect):
    assert_error(post(api_no_prefect, csv(signal(30, 1)), None), 400, "INVALID_REQUEST", "synthetic")
    assert_error(post(api_no_prefect, b"a,b\n", csv(signal(30, 2))), 400, "INVALID_FILE", "original")
    bad_holdout = {"holdout": ("h.csv", csv(signal(30, 3).drop(columns=["x2"])))}
    assert_error(post(api_no_prefect, csv(signal(30, 1)), csv(signal(30, 2)), extra=bad_holdout),
                 400, "INVALID_REQUEST", "holdout")
