"""Nobody sees what is not theirs; concurrent-job limits; usage equals what was generated."""

from __future__ import annotations

import time

import httpx

from tests.api.jobs_helpers import SLOW, wait_for
from tests.api.test_auth import error_of, new_key
from tests.tabular_data import customers


def test_no_cross_owner_access_on_any_resource(api):
    a_key, _ = new_key(api, "business")
    b_key, _ = new_key(api, "business")
    A, B = {"X-API-Key": a_key}, {"X-API-Key": b_key}
    csv = customers(60).to_csv(index=False).encode()
    # A's resources: an upload, a sync generation, an async job, a webhook
    up = httpx.post(f"{api}/api/tabular/uploads", files={"file": ("c.csv", csv)}, headers=A).json()
    gen = httpx.post(f"{api}/api/tabular/generate", files={"file": ("c.csv", csv)}, data={"num_rows": "5"},
                     headers=A, timeout=300).json()
    job = httpx.post(f"{api}/api/tabular/generate/async", json={"data_url": up["data_url"], "num_rows": 5},
                     headers=A).json()
    hook = httpx.post(f"{api}/api/tabular/webhooks", json={"url": "https://8.8.8.8/h",
                      "events": ["job.failed"], "secret": "s" * 12}, headers=A).json()
    attempts = [
        httpx.get(f"{api}/api/tabular/download/{gen['id']}", headers=B),
        httpx.get(f"{api}/api/tabular/jobs/{gen['id']}", headers=B),
        httpx.get(f"{api}/api/tabular/jobs/{job['job_id']}", headers=B),
        httpx.post(f"{api}/api/tabular/jobs/{job['job_id']}/cancel", headers=B),
        httpx.get(f"{api}/api/tabular/download/{job['job_id']}", headers=B),
        httpx.delete(f"{api}/api/tabular/webhooks/{hook['webhook_id']}", headers=B),
        httpx.get(f"{api}/api/tabular/webhooks/{hook['webhook_id']}/deliveries", headers=B),
    ]
    for r in attempts:
        error_of(r, 404, "NOT_FOUND")
    # unknown ids answer exactly the same way
    unknown = httpx.get(f"{api}/api/tabular/jobs/job-00000000-0000-0000-0000-000000000000", headers=B).json()
    foreign = attempts[2].json()
    assert unknown["error"]["message"].replace("job-00000000-0000-0000-0000-000000000000", "X") == \
        foreign["error"]["message"].replace(job["job_id"], "X")
    # an upload cannot be used by someone else
    r = httpx.post(f"{api}/api/tabular/generate/async", json={"data_url": up["data_url"]}, headers=B)
    error_of(r, 400, "INVALID_REQUEST")
    # listings show only one's own
    assert httpx.get(f"{api}/api/tabular/webhooks", headers=B).json()["webhooks"] == []
    usage_b = httpx.get(f"{api}/api/tabular/usage", params={"period": "24h"}, headers=B).json()
    assert usage_b["usage"]["total_generations"] == 0
    wait_for(api, job["job_id"], {"completed", "failed"}, headers=A)


def test_concurrent_jobs_limit_for_starter(api):
    key, _ = new_key(api, "starter")
    me = {"X-API-Key": key}
    csv = customers(200).to_csv(index=False).encode()
    up = httpx.post(f"{api}/api/tabular/uploads", files={"file": ("c.csv", csv)}, headers=me).json()
    first = httpx.post(f"{api}/api/tabular/generate/async",
                       json={"data_url": up["data_url"], "parameters": SLOW}, headers=me).json()["job_id"]
    second = httpx.post(f"{api}/api/tabular/generate/async", json={"data_url": up["data_url"]}, headers=me)
    err = error_of(second, 429, "RATE_LIMITED")
    assert "concurrent" in err["message"].lower()
    httpx.post(f"{api}/api/tabular/jobs/{first}/cancel", headers=me)
    # the starter tier allows 10 requests an hour and 4 are spent: at most 6 polls, 10 s apart
    body = wait_for(api, first, {"cancelled", "failed", "completed"}, timeout=55, every=10, headers=me)
    assert body["status"] == "cancelled"


def test_usage_equals_what_was_generated(api):
    key, _ = new_key(api, "professional")
    me = {"X-API-Key": key}
    csv = customers(80).to_csv(index=False).encode()
    for rows in (30, 20):
        r = httpx.post(f"{api}/api/tabular/generate", files={"file": ("c.csv", csv)},
                       data={"num_rows": str(rows)}, headers=me, timeout=300)
        assert r.status_code == 200, r.text
    end = time.monotonic() + 30
    while True:  # the watcher records usage when it sees the final states
        usage = httpx.get(f"{api}/api/tabular/usage", params={"period": "24h", "timezone": "Europe/Paris"},
                          headers=me).json()
        if usage["usage"]["total_rows_generated"] == 50 or time.monotonic() > end:
            break
        time.sleep(0.5)
    u = usage["usage"]
    assert usage["period"] == "24h"
    assert u["total_generations"] == 2 and u["total_rows_generated"] == 50
    assert u["by_algorithm"] == {"sdv": {"count": 2, "rows": 50}}
    assert sum(d["generations"] for d in u["by_day"]) == 2 and sum(d["rows"] for d in u["by_day"]) == 50
    assert 0 < u["total_compute_hours"] < 1
    limits = usage["limits"]
    assert limits["rows_per_hour"] == 1_000_000 and limits["remaining"]["rows"] == 1_000_000 - 50
    assert limits["generations_per_hour"] == 100


def test_usage_bad_parameters(api_no_prefect):
    from tests.support import API_KEY

    h = {"X-API-Key": API_KEY}
    assert error_of(httpx.get(f"{api_no_prefect}/api/tabular/usage", params={"period": "1y"}, headers=h),
                    400, "INVALID_REQUEST")["field"] == "period"
    assert error_of(httpx.get(f"{api_no_prefect}/api/tabular/usage", params={"timezone": "Mars/Base"},
                              headers=h), 400, "INVALID_REQUEST")["field"] == "timezone"
