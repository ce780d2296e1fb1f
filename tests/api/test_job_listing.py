"""GET /api/tabular/jobs and GET /api/v1/jobs: the caller's jobs from the metadata store, paged and filtered."""

from __future__ import annotations

import httpx

from tests.api.jobs_helpers import H, submit, upload, wait_for
from tests.support import OTHER_KEY


def listing(api: str, path: str = "/api/tabular/jobs", headers: dict | None = None, **params) -> httpx.Response:
    return httpx.get(f"{api}{path}", params=params, headers=headers or H, timeout=60)


def test_jobs_are_listed_newest_first_with_filters_and_paging(api):
    up = upload(api, 60)
    ids = []
    for seed in (1, 2):
        r = submit(api, up["data_url"], num_rows=10, seed=seed, parameters={"sdv_model": "gaussian_copula"})
        assert r.status_code == 202, r.text
        ids.append(r.json()["job_id"])
    for job_id in ids:
        assert wait_for(api, job_id, {"completed", "failed"})["status"] == "completed"

    body = listing(api, kind="generate", per_page=100).json()
    listed = [j["job_id"] for j in body["jobs"]]
    assert listed.index(ids[1]) < listed.index(ids[0])          # newest first
    row = next(j for j in body["jobs"] if j["job_id"] == ids[0])
    assert row["kind"] == "generate" and row["status"] == "completed" and row["algorithm"] == "sdv"
    assert row["created_at"] and row["finished_at"] and row["status_url"] == f"/api/tabular/jobs/{ids[0]}"
    assert body["pagination"]["total"] >= 2

    page = listing(api, kind="generate", per_page=1, page=2).json()
    assert len(page["jobs"]) == 1 and page["pagination"]["pages"] == page["pagination"]["total"]
    assert page["jobs"][0]["job_id"] == listed[1]

    completed = listing(api, status="completed", per_page=100).json()["jobs"]
    assert {ids[0], ids[1]} <= {j["job_id"] for j in completed}
    assert all(j["status"] == "completed" for j in completed)
    assert not {ids[0], ids[1]} & {j["job_id"] for j in listing(api, status="running").json()["jobs"]}

    others = listing(api, headers={"X-API-Key": OTHER_KEY}, per_page=100).json()["jobs"]
    assert not {ids[0], ids[1]} & {j["job_id"] for j in others}
    # tabular jobs are not /api/v1 jobs
    assert not {ids[0], ids[1]} & {j["job_id"] for j in listing(api, "/api/v1/jobs", limit=100).json()["jobs"]}


def test_bad_listing_parameters(api_no_prefect):
    for params, field in [({"page": 0}, "page"), ({"per_page": 101}, "per_page"), ({"status": "done"}, "status"),
                          ({"kind": "nope"}, "kind")]:
        r = listing(api_no_prefect, **params)
        assert r.status_code == 400 and r.json()["error"]["field"] == field, r.text
    r = listing(api_no_prefect, "/api/v1/jobs", limit=0)
    assert r.status_code == 400
    assert r.json()["error_code"] == "VALIDATION_ERROR" and r.json()["field"] == "limit"   # context-api.md's envelope


def test_each_api_answers_in_its_own_envelope(api_no_prefect):
    r = httpx.get(f"{api_no_prefect}/api/v1/jobs/nope", headers={"X-API-Key": "wrong"}, timeout=30)
    assert r.status_code == 401 and r.json()["error_code"] == "UNAUTHORIZED" and r.json()["status_code"] == 401
    r = httpx.get(f"{api_no_prefect}/api/v1/no-such-endpoint", headers=H, timeout=30)
    assert r.status_code == 404 and r.json()["error"]["code"] == "RESOURCE_NOT_FOUND"   # etl-api.md's
    r = httpx.get(f"{api_no_prefect}/api/tabular/no-such-endpoint", headers=H, timeout=30)
    assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"
