"""POST /privacy/analyze end to end (JSON with upload:// or s3://, multipart), the flow from Python, bad input."""

from __future__ import annotations

import asyncio
import io
from uuid import UUID

import httpx
import numpy as np
import pandas as pd
import pytest

from inferloop.core import db, storage
from inferloop.core.errors import InferloopError
from tests.api.jobs_helpers import H, upload
from tests.support import OTHER_KEY


def patients() -> pd.DataFrame:
    """Classes on (age, zipcode) of sizes 2, 5 and 10; diagnosis has one value in the class of 2."""
    sizes = [(30, 75001, 2), (40, 75002, 5), (50, 75003, 10)]
    rows = [(age, zipcode) for age, zipcode, n in sizes for _ in range(n)]
    return pd.DataFrame({"age": [a for a, _ in rows], "zipcode": [z for _, z in rows],
                         "income": np.arange(17) * 1000.0,
                         "diagnosis": ["flu", "flu"] + ["flu", "cold"] * 2 + ["flu"] + ["flu", "cold"] * 5})


def csv_of(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False).encode()


DOCUMENTED = {"data_url": None, "quasi_identifiers": ["age", "zipcode"],
              "sensitive_attributes": ["income", "diagnosis"],
              "analysis_types": ["k_anonymity", "l_diversity", "t_closeness"]}


def analyze(api: str, headers: dict | None = None, **body) -> httpx.Response:
    return httpx.post(f"{api}/api/tabular/privacy/analyze", json={**DOCUMENTED, **body}, headers=headers or H,
                      timeout=120)


def analyze_form(api: str, content: bytes, name: str = "patients.csv", **fields) -> httpx.Response:
    return httpx.post(f"{api}/api/tabular/privacy/analyze", files={"file": (name, content)}, data=fields,
                      headers=H, timeout=120)


def privacy_artifacts(flow_run_id: str) -> list:
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

    async def read():
        async with get_client() as client:
            return await client.read_artifacts(artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[UUID(flow_run_id)]),
                key=ArtifactFilterKey(any_=["privacy-report"])))
    return asyncio.run(read())


def test_json_body_with_an_upload(api):
    up = upload(api, content=csv_of(patients()), name="patients.csv")
    r = analyze(api, data_url=up["data_url"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["analysis_id"].startswith("priv-")
    assert body["risks"] == {"re_identification_risk": round(3 / 17, 4),
                             "attribute_disclosure_risk": round(2 / 17, 4), "membership_inference_risk": 0.0}
    ka, ld, tc = (body["metrics"][m] for m in ("k_anonymity", "l_diversity", "t_closeness"))
    assert (ka["k"], ka["violating_groups"], ka["percentage_protected"]) == (2, 1, round(1500 / 17, 2))
    assert ld["l"] == 1 and ld["satisfied"] is False
    assert ld["issues"] == ["diagnosis column lacks diversity: 1 of 3 equivalence classes have fewer than 2 "
                            "distinct values (l = 1)"]
    assert ld["attributes"]["income"]["satisfied"] and not ld["attributes"]["diagnosis"]["satisfied"]
    assert 0 < tc["t"] <= 1 and set(tc["attributes"]) == {"income", "diagnosis"}
    assert any(r.startswith("Increase k-anonymity from 2 to at least 5") for r in body["recommendations"])
    assert set(body["definitions"]) >= {"re_identification_risk", "attribute_disclosure_risk",
                                        "membership_inference_risk", "k_anonymity", "l_diversity", "t_closeness"}
    arts = privacy_artifacts(body["flow_run_id"])
    assert len(arts) == 1 and arts[0].type == "markdown" and "# Privacy report" in arts[0].data
    job = httpx.get(f"{api}/api/tabular/jobs/{body['analysis_id']}", headers=H, timeout=60).json()
    assert job["status"] == "completed" and job["result"]["metrics"]["k_anonymity"]["k"] == 2


def test_multipart_with_comma_separated_fields(api):
    r = analyze_form(api, csv_of(patients()), quasi_identifiers="age, zipcode",
                     sensitive_attributes="income,diagnosis", analysis_types="k_anonymity,l_diversity", k="2")
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body["metrics"]) == {"k_anonymity", "l_diversity"}
    assert body["metrics"]["k_anonymity"] == {**body["metrics"]["k_anonymity"], "k": 2, "target_k": 2,
                                              "violating_groups": 0, "percentage_protected": 100.0}


def test_s3_data_url(api, s3_bucket):
    uri = f"{s3_bucket}/inputs/patients.parquet"
    with storage.open_uri(uri, "wb") as f:
        patients().to_parquet(f, index=False)
    r = analyze(api, data_url=uri, analysis_types=["k_anonymity"], sensitive_attributes=[])
    assert r.status_code == 200, r.text
    assert r.json()["metrics"]["k_anonymity"]["k"] == 2 and r.json()["risks"]["attribute_disclosure_risk"] is None


@pytest.mark.parametrize("name,df", [
    ("single_row", pd.DataFrame({"age": [41], "zipcode": [75001], "income": [1.0], "diagnosis": ["flu"]})),
    ("all_null_columns", patients().assign(zipcode=np.nan, diagnosis=None)),
    ("high_cardinality_text", pd.DataFrame({"age": [f"user-{i:06d}@example.com" for i in range(20_000)],
                                            "zipcode": np.arange(20_000) % 9, "income": np.arange(20_000.0),
                                            "diagnosis": [f"note {i}" for i in range(20_000)]})),
])
def test_odd_files_are_analysed(api, name, df):
    r = analyze_form(api, csv_of(df), quasi_identifiers="age,zipcode", sensitive_attributes="income,diagnosis")
    assert r.status_code == 200, r.text
    body = r.json()
    ka = body["metrics"]["k_anonymity"]
    if name == "single_row":
        assert ka["k"] == 1 and body["risks"]["re_identification_risk"] == 1
        assert any("only 1 record" in rec for rec in body["recommendations"])
    if name == "all_null_columns":
        assert ka["k"] == 2 and body["metrics"]["l_diversity"]["attributes"]["diagnosis"]["l"] == 1
    if name == "high_cardinality_text":
        assert ka["equivalence_classes"] == 20_000 and body["risks"]["membership_inference_risk"] == 1
        assert body["generalisation_plan"]["after"]["k"] >= 5


def test_python_flow_call(prefect_platform, tmp_path):
    from flows.tabular.privacy_analysis import privacy_analysis

    path = tmp_path / "patients.csv"
    patients().to_csv(path, index=False)
    report = privacy_analysis(data=str(path), quasi_identifiers=["age", "zipcode"],
                              sensitive_attributes=["diagnosis"], k=3)
    ka = report["metrics"]["k_anonymity"]
    assert (ka["k"], ka["target_k"], ka["violating_groups"]) == (2, 3, 1)
    assert storage.read_json(f"{storage.run_dir(report['flow_run_id'])}/result.json") == report
    with pytest.raises(InferloopError) as exc:
        privacy_analysis(data=str(path), quasi_identifiers=["postcode"])
    assert exc.value.field == "quasi_identifiers" and "'postcode'" in exc.value.message


# --- bad input: refused before any flow run starts, leaving no job behind --------------------------------


@pytest.fixture()
def stored(api_no_prefect):
    up = upload(api_no_prefect, content=csv_of(patients()), name="patients.csv")
    with db.session_scope() as s:
        before = s.query(db.Job).count()
    yield up["data_url"]
    with db.session_scope() as s:
        assert s.query(db.Job).count() == before


def error_of(r: httpx.Response, code: str, field: str | None) -> dict:
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == code and err.get("field") == field, err
    return err


@pytest.mark.parametrize("body,field,names", [
    ({"quasi_identifiers": ["age", "postcode"]}, "quasi_identifiers", "'postcode'"),
    ({"sensitive_attributes": ["salary"]}, "sensitive_attributes", "'salary'"),
    ({"analysis_types": ["k_anonymity", "entropy"]}, "analysis_types", "'entropy'"),
    ({"quasi_identifiers": []}, "quasi_identifiers", None),
    ({"quasi_identifiers": "age"}, "quasi_identifiers", None),
    ({"sensitive_attributes": ["age"]}, "sensitive_attributes", "'age'"),
    ({"k": 0}, "k", None), ({"t": 2}, "t", None), ({"l": "many"}, "l", None), ({"extra": 1}, "extra", None),
])
def test_bad_json_bodies(api_no_prefect, stored, body, field, names):
    err = error_of(analyze(api_no_prefect, **{"data_url": stored, **body}), "INVALID_REQUEST", field)
    if names:
        assert names in err["message"], err


def test_data_url_required_and_checked(api_no_prefect, stored, s3_bucket):
    error_of(analyze(api_no_prefect), "INVALID_REQUEST", "data_url")
    error_of(analyze(api_no_prefect, data_url="file:///etc/passwd"), "INVALID_REQUEST", "data_url")
    error_of(analyze(api_no_prefect, data_url=f"{s3_bucket}/nope/missing.csv"), "INVALID_FILE", "data_url")
    r = httpx.post(f"{api_no_prefect}/api/tabular/privacy/analyze", content=b"not json", headers=H)
    error_of(r, "INVALID_REQUEST", None)


def test_another_owners_upload_cannot_be_analysed(api_no_prefect, stored):
    r = analyze(api_no_prefect, headers={"X-API-Key": OTHER_KEY}, data_url=stored)
    error_of(r, "INVALID_REQUEST", "data_url")


def test_bad_multipart(api_no_prefect, stored):
    content = csv_of(patients())
    err = error_of(analyze_form(api_no_prefect, content, quasi_identifiers="age,postcode"),
                   "INVALID_REQUEST", "quasi_identifiers")
    assert "'postcode'" in err["message"]
    error_of(analyze_form(api_no_prefect, content, quasi_identifiers="age", analysis_types="k_anonymity,nope"),
             "INVALID_REQUEST", "analysis_types")
    error_of(analyze_form(api_no_prefect, content, quasi_identifiers="age", data_url=stored),
             "INVALID_REQUEST", "data_url")
    error_of(analyze_form(api_no_prefect, content, name="patients.xml", quasi_identifiers="age"),
             "UNSUPPORTED_FORMAT", "file")
    error_of(analyze_form(api_no_prefect, io.BytesIO(b"age\n").read(), quasi_identifiers="age"),
             "INVALID_FILE", "file")
