"""context-api.md end to end over HTTP against the real platform (Prefect server, work pool, worker)."""

from __future__ import annotations

import io
import sqlite3
import time

import httpx
import polars as pl
import pytest

from inferloop.core import storage
from tests.context.helpers import SHOP, check_shop_rules, child_runs, get, post, wait_job
from tests.receiver import Receiver
from tests.support import OTHER_KEY

OTHER = {"X-API-Key": OTHER_KEY}


def frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, infer_schema_length=None)


@pytest.fixture(scope="module")
def sample(api):
    r = post(api, "/generate/sample", {"context": SHOP, "sample_size": 6, "seed": 11})
    assert r.status_code == 200, r.text
    return r.json()


def test_sample_is_a_completed_job_with_valid_related_rows(api, sample):
    assert sample["status"] == "completed" and sample["domain"] == "retail"
    assert [s["name"] for s in sample["schemas"]] == ["customers", "orders", "order_items"]
    assert {"name": "email", "type": "EMAIL", "required": True} == {
        k: v for k, v in next(f for f in sample["schemas"][0]["fields"] if f["name"] == "email").items()
        if k in ("name", "type", "required")}
    samples = sample["samples"]
    assert len(samples["customers"]) == 6 and len(samples["orders"]) == 6 and len(samples["order_items"]) >= 6
    check_shop_rules(frame(samples["customers"]), frame(samples["orders"]).with_columns(
        pl.col("order_date").str.to_date(), pl.col("ship_date").str.to_date()), frame(samples["order_items"]))
    assert sample["validation"]["valid"] and sample["validation"]["violations"] == 0
    assert sample["generation_time_ms"] >= 0
    job = get(api, f"/jobs/{sample['job_id']}").json()
    assert job["status"] == "completed" and job["stage"] == "sample_generated" and job["kind"] == "context_sample"
    assert job["progress"]["percent_complete"] == 100.0 and job["progress"]["total_schemas"] == 3
    assert [s["name"] for s in job["schemas"]] == ["customers", "orders", "order_items"]


def test_feedback_changes_the_next_sample_visibly(api, sample):
    before = sample["samples"]
    r = post(api, "/generate/feedback", {
        "job_id": sample["job_id"], "approved": False,
        "schema_feedback": [
            {"schema_name": "customers", "feedback_type": "modify", "remove_fields": ["phone"],
             "field_adjustments": {"loyalty_tier": {"choices": ["gold", "platinum"]}},
             "add_fields": [{"name": "vip", "type": "BOOLEAN"}]},
            {"schema_name": "order_items", "field_adjustments": {"quantity": {"min": 2, "max": 3,
                                                                              "distribution": "uniform"},
                                                                 "unit_price": {"type": "INTEGER"}}}]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["job_id"] == sample["job_id"] and body["status"] == "completed"
    assert body["message"] == "Feedback applied, new sample generated"
    by_schema = {c["schema"]: c for c in body["changes"]}
    assert by_schema["customers"]["removed"] == ["phone"] and by_schema["customers"]["added"] == ["vip"]
    assert "first_name" in by_schema["customers"]["kept"]
    assert by_schema["order_items"]["retyped"] == {"unit_price": {"from": "DECIMAL", "to": "INTEGER"}}
    assert by_schema["order_items"]["adjusted"]["quantity"]["max"] == {"from": 10, "to": 3}
    assert "order_items.quantity: max 10 -> 3" in body["summary"]
    after = body["samples"]
    customers = frame(after["customers"])
    assert "phone" not in customers.columns and customers["vip"].dtype == pl.Boolean
    assert set(customers["loyalty_tier"]) <= {"gold", "platinum"}
    # the same seed: fields nobody touched keep their values
    assert customers["first_name"].to_list() == [c["first_name"] for c in before["customers"]]
    items = frame(after["order_items"])
    assert items["quantity"].is_between(2, 3).all() and items["unit_price"].dtype == pl.Int64
    check_shop_rules(customers, frame(after["orders"]).with_columns(pl.col("order_date").str.to_date(),
                                                                     pl.col("ship_date").str.to_date()), items)
    job = get(api, f"/jobs/{sample['job_id']}").json()
    assert len(job["runs"]) == 2 and job["feedback"][-1]["summary"] == body["summary"]
    assert not any(f["name"] == "phone" for f in job["schemas"][0]["fields"])


def test_other_owners_see_nothing(api, sample):
    job_id = sample["job_id"]
    assert get(api, f"/jobs/{job_id}", headers=OTHER).status_code == 404
    r = post(api, f"/jobs/{job_id}/export", {"format": "csv"}, headers=OTHER)
    assert r.status_code == 404 and r.json()["error_code"] == "NOT_FOUND" and r.json()["status_code"] == 404
    assert post(api, "/generate/feedback", {"job_id": job_id, "approved": True}, headers=OTHER).status_code == 404
    assert get(api, f"/jobs/{job_id}/download/customers", headers=OTHER).status_code == 404
    assert job_id not in {j["job_id"] for j in get(api, "/jobs", headers=OTHER, limit=100).json()["jobs"]}


def test_sample_export_formats(api, sample):
    job_id = sample["job_id"]
    for bad, field in (({"format": "sql", "options": {"sql_dialect": "oracle"}}, "options.sql_dialect"),
                       ({"format": "pdf"}, "format"), ({"format": "csv", "schemas": ["nope"]}, "schemas")):
        r = post(api, f"/jobs/{job_id}/export", bad)
        assert r.status_code == 400 and r.json()["field"] == field and r.json()["error_code"] == "VALIDATION_ERROR"
    assert get(api, f"/jobs/{job_id}/download/customers", format="sql", sql_dialect="oracle").status_code == 400
    assert get(api, f"/jobs/{job_id}/download/unicorns").status_code == 404
    assert get(api, f"/jobs/{job_id}").json()["result"]["exports"] == {}   # nothing was stored
    r = post(api, f"/jobs/{job_id}/export", {"format": "sql", "options": {"sql_dialect": "sqlite"}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["format"] == "sql" and body["sql_dialect"] == "sqlite"
    assert body["load_order"] == ["customers", "orders", "order_items"] and "_all" in body["export_paths"]
    script = httpx.get(f"{api}{body['export_paths']['_all']}", headers={"X-API-Key": "test-key-1"}, timeout=60)
    assert script.status_code == 200 and script.headers["content-type"].startswith("application/sql")
    db = sqlite3.connect(":memory:")
    db.executescript(script.text)
    assert db.execute("select count(*) from customers").fetchone()[0] == 6
    xlsx = get(api, f"/jobs/{job_id}/download/orders", format="xlsx")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    from openpyxl import load_workbook

    ws = load_workbook(io.BytesIO(xlsx.content), read_only=True).active
    assert next(ws.iter_rows(values_only=True))[:2] == ("id", "customer_id")
    js = get(api, f"/jobs/{job_id}/download/customers", format="json")
    assert js.status_code == 200 and len(js.json()) == 6 and "email" in js.json()[0]
    # an export of some schemas never stands in for all of them
    part = post(api, f"/jobs/{job_id}/export", {"format": "csv", "schemas": ["orders"]})
    assert part.status_code == 200 and set(part.json()["files"]) == {"orders"}, part.text
    csv = get(api, f"/jobs/{job_id}/download/customers", format="csv")
    assert csv.status_code == 200 and csv.text.startswith("id,"), csv.text
    whole = post(api, f"/jobs/{job_id}/export", {"format": "csv"})
    assert set(whole.json()["files"]) == {"customers", "orders", "order_items"}, whole.text


def test_corpus_in_batches_with_progress_children_webhook_and_export(api):
    with Receiver() as hook:
        wh = httpx.post(f"{api}/api/tabular/webhooks", json={"url": f"{hook.url}/h", "events": ["corpus.completed"],
                                                             "secret": "context-hook-secret"},
                        headers={"X-API-Key": "test-key-1"})
        assert wh.status_code == 201, wh.text
        try:
            r = post(api, "/generate/corpus", {"context": SHOP, "corpus_size": 3000, "batch_size": 500, "seed": 5,
                                               "export_format": "csv"})
            assert r.status_code == 202, r.text
            started = r.json()
            assert started["status"] == "in_progress" and started["message"] == "Corpus generation started"
            assert started["batches"] == 6 and sum(started["records"].values()) == 3000
            seen: list = []
            final = wait_job(api, started["job_id"], seen=seen)
            assert final["status"] == "completed" and final["stage"] == "corpus_generated", final
            end = time.monotonic() + 60
            while not hook.requests:
                assert time.monotonic() < end, "no corpus.completed delivery"
                time.sleep(0.2)
        finally:
            httpx.delete(f"{api}/api/tabular/webhooks/{wh.json()['webhook_id']}", headers={"X-API-Key": "test-key-1"})
    delivery = hook.requests[0].json
    assert delivery["event"] == "corpus.completed" and delivery["data"]["job_id"] == started["job_id"]
    assert delivery["data"]["rows_generated"] == 3000
    percents = [s["percent_complete"] for s in seen]
    assert percents == sorted(percents)
    job = get(api, f"/jobs/{started['job_id']}").json()
    p = job["progress"]
    assert (p["total_schemas"], p["completed_schemas"], p["total_records"], p["generated_records"]) == (3, 3, 3000, 3000)
    assert p["total_batches"] == p["completed_batches"] == 6 and p["percent_complete"] == 100.0
    assert job["result"]["validation"]["valid"] and job["result"]["generated_records"] == 3000
    children = child_runs(job["prefect_flow_run_id"])
    assert sorted(c.name for c in children) == [f"batch-{i:04d}" for i in range(6)]
    assert all(c.state.type.value == "COMPLETED" for c in children)
    # the csv export the request asked for, downloadable per schema
    assert set(job["result"]["exports"]["csv"]["download"]) == {"customers", "orders", "order_items"}
    tables = {}
    for name in ("customers", "orders", "order_items"):
        d = get(api, f"/jobs/{started['job_id']}/download/{name}", format="csv")
        assert d.status_code == 200 and d.headers["content-type"].startswith("text/csv")
        tables[name] = pl.read_csv(io.BytesIO(d.content), try_parse_dates=True)
    assert sum(len(t) for t in tables.values()) == 3000
    check_shop_rules(tables["customers"], tables["orders"], tables["order_items"])
    listed = get(api, "/jobs", limit=100).json()["jobs"]
    row = next(j for j in listed if j["job_id"] == started["job_id"])
    assert row["stage"] == "corpus_generated" and row["status"] == "completed"


def test_cancel_mid_run_ends_parent_and_batches(api):
    r = post(api, "/generate/corpus", {"context": SHOP, "corpus_size": 4_000_000, "batch_size": 200_000, "seed": 9})
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    wait_job(api, job_id, until=lambda s: s["percent_complete"] > 0)
    c = post(api, f"/jobs/{job_id}/cancel", {})
    assert c.status_code == 200 and c.json() == {"job_id": job_id, "status": "failed", "message": "Job cancelled by user"}
    final = wait_job(api, job_id, timeout=180)
    assert final["status"] == "failed" and final["stage"] == "cancelled" and final["percent_complete"] < 100
    job = get(api, f"/jobs/{job_id}").json()
    end = time.monotonic() + 60
    while True:
        states = {ch.state.type.value for ch in child_runs(job["prefect_flow_run_id"])}
        if states <= {"COMPLETED", "CANCELLED"}:
            break
        assert time.monotonic() < end, states
        time.sleep(1)
    assert post(api, f"/jobs/{job_id}/cancel", {}).status_code == 409


def test_delete_mid_run_removes_job_and_data(api):
    r = post(api, "/generate/corpus", {"context": SHOP, "corpus_size": 4_000_000, "batch_size": 200_000, "seed": 3})
    job_id = r.json()["job_id"]
    wait_job(api, job_id, until=lambda s: s["percent_complete"] > 0)
    run_dir = storage.run_dir(get(api, f"/jobs/{job_id}").json()["prefect_flow_run_id"])
    assert storage.exists(run_dir)
    d = httpx.delete(f"{api}/api/v1/jobs/{job_id}", headers={"X-API-Key": "test-key-1"}, timeout=120)
    assert d.status_code == 200 and d.json() == {"message": "Job deleted successfully"}
    assert get(api, f"/jobs/{job_id}").status_code == 404
    time.sleep(3)  # nothing writes there any more
    assert not storage.exists(run_dir)
