"""ETL end to end on the real platform (Prefect server, work pool, worker): pipelines are Prefect deployments,
`deploy` makes a real schedule (read back with the Prefect client; paused, resumed, removed through the API),
`run` makes a flow run that moves rows PostgreSQL -> transform -> MariaDB and CSV/Parquet files (local and
s3://) -> PostgreSQL with the row counts checked, webhooks arrive, metrics come from Prefect, and the same flow
runs as a plain Python call."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid

import httpx
import polars as pl
import pytest

from tests.conftest import api_settings
from tests.etl.etl_data import (ORDERS, my_config, my_database, my_query, pg_config, pg_count, pg_schema)
from tests.receiver import Receiver
from tests.support import API_KEY, ApiServer

V1 = "/api/v1"
SECRET = "etl-webhook-secret"


@pytest.fixture(scope="module")
def files_root(tmp_path_factory):
    return tmp_path_factory.mktemp("etl-e2e-files")


@pytest.fixture(scope="module")
def url(prefect_platform, settings, files_root):
    from api.main import create_app

    app_settings = api_settings(settings).model_copy(update={"allowed_roots": str(files_root)})
    with ApiServer(create_app(app_settings)) as server:
        yield server.url


@pytest.fixture(scope="module")
def client(url):
    with httpx.Client(base_url=url, timeout=300) as c:
        yield c


@pytest.fixture(scope="module")
def user(client):
    email = f"e2e{uuid.uuid4().hex[:8]}@example.com"
    r = client.post(f"{V1}/admin/logins", headers={"X-API-Key": API_KEY},
                    json={"email": email, "password": "etl-e2e-password", "tier": "enterprise"})
    assert r.status_code == 201, r.text
    token = client.post(f"{V1}/auth/login", json={"email": email, "password": "etl-e2e-password"}).json()
    return {"Authorization": f"Bearer {token['access_token']}"}


@pytest.fixture(scope="module")
def dbs():
    with pg_schema() as schema, my_database() as mydb:
        yield schema, mydb


@pytest.fixture(scope="module")
def conns(client, user, dbs):
    schema, mydb = dbs
    src = client.post(f"{V1}/connectors", headers=user, json={"name": "shop", "type": "postgresql", "role": "source",
                                                              "configuration": pg_config(schema)})
    dst = client.post(f"{V1}/connectors", headers=user, json={"name": "reporting", "type": "mariadb",
                                                              "role": "both", "configuration": my_config(mydb)})
    assert src.status_code == dst.status_code == 201, (src.text, dst.text)
    return src.json()["connector_id"], dst.json()["connector_id"]


def wait_run(client, user, pipeline_id: str, run_id: str, timeout: float = 420) -> dict:
    end = time.monotonic() + timeout
    while True:
        r = client.get(f"{V1}/pipelines/{pipeline_id}/status", params={"run_id": run_id}, headers=user)
        assert r.status_code == 200, r.text
        body = r.json()
        if body["status"] in ("success", "failed", "cancelled"):
            return body
        assert time.monotonic() < end, f"run {run_id} still {body['status']} after {timeout} s"
        time.sleep(1)


async def read_deployment(name: str):
    from prefect import get_client

    async with get_client() as c:
        dep = await c.read_deployment_by_name(name)
        return dep, await c.read_deployment_schedules(dep.id)


def prefect_deployment(name: str):
    import asyncio

    return asyncio.run(read_deployment(name))


def test_generate_deploy_schedule_run_pg_to_mariadb(client, user, dbs, conns):
    schema, mydb = dbs
    paid = pg_count(schema, "orders", "WHERE status = 'paid'")
    with Receiver() as rx:
        hook = client.post(f"{V1}/webhooks", headers=user, json={
            "url": f"{rx.url}/etl", "events": ["pipeline.completed", "pipeline.failed"], "secret": SECRET})
        assert hook.status_code == 201, hook.text
        r = client.post(f"{V1}/pipelines:generate", headers=user, json={
            "description": "Load orders where status is 'paid' from postgres into mariadb table paid_orders "
                           "every night at 2", "options": {"optimize": True, "validate": True}})
        assert r.status_code == 201, r.text
        gen = r.json()
        pid = gen["pipeline_id"]
        assert gen["validation"]["status"] == "passed" and "etl_pipeline(" in gen["code"]
        assert [t["id"] for t in gen["dag_definition"]["tasks"]] == ["extract", "transform", "validate", "load"]
        assert gen["pipeline"]["status"] == "draft" and gen["pipeline"]["schedule"]["cron"] == "0 2 * * *"
        assert gen["pipeline"]["schedule"]["active"] is False

        # the pipeline is a Prefect deployment; its schedule exists, inactive until deployed
        dep, schedules = prefect_deployment(f"etl_pipeline/{pid}")
        assert dep.parameters["target_table"] == "paid_orders" and dep.entrypoint.endswith("etl_pipeline")
        assert [(s.schedule.cron, s.active) for s in schedules] == [("0 2 * * *", False)]

        d = client.post(f"{V1}/pipelines/{pid}:deploy", headers=user, json={"environment": "production",
                                                                            "schedule": "0 2 * * *"})
        assert d.status_code == 200, d.text
        assert d.json()["status"] == "deployed" and len(d.json()["schedule"]["next_runs"]) == 3
        dep, schedules = prefect_deployment(f"etl_pipeline/{pid}")
        assert [(s.schedule.cron, s.active) for s in schedules] == [("0 2 * * *", True)]
        assert "env:production" in dep.tags

        assert client.post(f"{V1}/pipelines/{pid}:pause", headers=user).json()["status"] == "paused"
        assert [s.active for s in prefect_deployment(f"etl_pipeline/{pid}")[1]] == [False]
        assert client.post(f"{V1}/pipelines/{pid}:resume", headers=user).json()["status"] == "deployed"
        assert [s.active for s in prefect_deployment(f"etl_pipeline/{pid}")[1]] == [True]

        listed = client.get(f"{V1}/pipelines", params={"page": 1, "per_page": 1}, headers=user)
        assert listed.headers["X-Page"] == "1" and int(listed.headers["X-Total-Count"]) >= 1

        run = client.post(f"{V1}/pipelines/{pid}:run", headers=user, json={"params": {"date": "2024-01-26"},
                                                                          "async": True})
        assert run.status_code == 202, run.text
        assert run.json()["warnings"] == ["params not used by the query: date"]
        status = wait_run(client, user, pid, run.json()["run_id"])
        assert status["status"] == "success", status
        assert status["rows"]["extracted"] == status["rows"]["loaded"] == paid
        assert my_query(mydb, "SELECT count(*) FROM paid_orders WHERE status = 'paid'")[0][0] == paid
        assert my_query(mydb, "SELECT count(*) FROM paid_orders")[0][0] == paid

        # the webhook: pipeline.completed, signed, with the documented data
        end = time.monotonic() + 60
        while not rx.requests and time.monotonic() < end:
            time.sleep(0.5)
        assert rx.requests, "no webhook delivery"
        payload = rx.requests[0].json
        assert payload["event"] == "pipeline.completed"
        assert payload["data"]["pipeline_id"] == pid and payload["data"]["status"] == "success"
        assert payload["data"]["run_id"] == run.json()["run_id"] and payload["data"]["duration_seconds"] > 0
        expected = "sha256=" + hmac.new(SECRET.encode(), rx.requests[0].body, hashlib.sha256).hexdigest()
        assert rx.requests[0].headers["X-Inferloop-Signature"] == expected

    m = client.get(f"{V1}/observability/metrics", headers=user, params={"metric": "pipeline_executions"}).json()
    assert m["aggregates"]["total"] >= 1 and m["aggregates"]["success_rate"] == 1.0
    assert any(p["labels"]["pipeline_id"] == pid and p["labels"]["status"] == "success" for p in m["metrics"])
    rows = client.get(f"{V1}/observability/metrics", headers=user, params={"metric": "rows_processed"}).json()
    assert rows["aggregates"]["rows_processed"] >= paid
    jobs = client.get(f"{V1}/jobs", headers=user, params={"kind": "etl_run"}).json()
    assert run.json()["run_id"] in {j["job_id"] for j in jobs["jobs"]}

    assert client.delete(f"{V1}/pipelines/{pid}/schedule", headers=user).json()["schedules_removed"] == 1
    assert prefect_deployment(f"etl_pipeline/{pid}")[1] == []
    assert client.delete(f"{V1}/pipelines/{pid}", headers=user).status_code == 200
    from prefect.exceptions import ObjectNotFound

    with pytest.raises(ObjectNotFound):
        prefect_deployment(f"etl_pipeline/{pid}")


def test_files_to_postgres_local_and_s3(client, user, dbs, files_root, s3_bucket):
    schema, _ = dbs
    folder = files_root / "exports"
    folder.mkdir()
    events = pl.DataFrame({"id": list(range(1, 1201)), "kind": ["click", "view", "buy"] * 400,
                           "value": [i * 0.25 for i in range(1200)]})
    events.write_csv(folder / "events.csv")
    import s3fs

    prefix = f"{s3_bucket}/etl-{uuid.uuid4().hex[:8]}"
    with s3fs.S3FileSystem(skip_instance_cache=True).open(f"{prefix}/clicks.parquet", "wb") as f:
        events.filter(pl.col("kind") == "click").write_parquet(f)
    ids = {}
    for name, ctype, url in (("csv", "csv", str(folder)), ("s3", "parquet", prefix)):
        r = client.post(f"{V1}/connectors", headers=user, json={"name": f"files {name}", "type": ctype,
                                                                "role": "source", "configuration": {"url": url}})
        assert r.status_code == 201, r.text
        ids[name] = r.json()["connector_id"]
    target = client.post(f"{V1}/connectors", headers=user, json={"name": "pg target", "type": "postgresql",
                                                                 "role": "target", "configuration": pg_config(schema)})
    assert target.status_code == 201, target.text
    tgt = target.json()["connector_id"]

    cases = [("csv", {"table": "events"}, "events_from_csv", 1200 - 400,
              {"filter": "kind <> 'view'", "derive": {"value_x10": "value * 10"}}),
             ("s3", {"sql": "SELECT kind, count(*) AS n, sum(value) AS total FROM clicks GROUP BY kind"},
              "clicks_by_kind", 1, None)]
    for key, what, table, expected, transform in cases:
        body = {"name": f"{key} to postgres", "source": ids[key], "target": tgt, "target_table": table,
                "transform": transform, **what}
        r = client.post(f"{V1}/pipelines", headers=user, json=body)
        assert r.status_code == 201, r.text
        pid = r.json()["pipeline_id"]
        run = client.post(f"{V1}/pipelines/{pid}:run", headers=user, json={"async": False})
        assert run.status_code == 200, run.text
        assert run.json()["status"] == "success", run.json()
        assert run.json()["rows"]["loaded"] == expected == pg_count(schema, table)
    assert pg_count(schema, "events_from_csv", "WHERE value_x10 = value * 10 AND kind <> 'view'") == 800


def test_failed_expectation_fails_the_run_and_loads_nothing(client, user, dbs, conns):
    _, mydb = dbs
    src, dst = conns
    r = client.post(f"{V1}/pipelines", headers=user, json={
        "name": "strict", "source": src, "target": dst, "table": "orders", "target_table": "strict_orders",
        "validations": [{"expectation": "between", "column": "total", "min": 0, "max": 50}]})
    assert r.status_code == 201, r.text
    pid = r.json()["pipeline_id"]
    run = client.post(f"{V1}/pipelines/{pid}:run", headers=user, json={})
    status = wait_run(client, user, pid, run.json()["run_id"])
    assert status["status"] == "failed" and status["error"]["code"] == "DATA_VALIDATION_FAILED"
    assert status["error"]["validation"]["failed"][0]["unexpected_count"] > 0
    assert my_query(mydb, "SELECT count(*) FROM information_schema.tables WHERE table_schema = DATABASE() "
                          "AND table_name = 'strict_orders'")[0][0] == 0


def test_params_bind_placeholders_and_bad_input_creates_nothing(client, url, user, dbs, conns):
    _, mydb = dbs
    src, dst = conns
    before = client.get(f"{V1}/pipelines", headers=user).headers["X-Total-Count"]
    bad = [({"sql": "DELETE FROM orders"}, "sql"), ({"sql": "SELECT nope FROM orders"}, "sql"),
           ({"table": "orders", "schedule": "every now and then"}, "schedule"),
           ({"table": "orders", "transform": {"select": ["missing"]}}, "transform"),
           ({"table": "orders", "target_table": "bad name"}, "target_table")]
    for extra, field in bad:
        body = {"name": "bad", "source": src, "target": dst, "target_table": "x", **extra}
        r = client.post(f"{V1}/pipelines", headers=user, json=body)
        assert r.status_code == 400, (extra, r.text)
        assert r.json()["error"]["code"] == "VALIDATION_ERROR"
        assert r.json()["error"]["details"][0]["field"] == field, r.text
    assert client.get(f"{V1}/pipelines", headers=user).headers["X-Total-Count"] == before

    r = client.post(f"{V1}/pipelines", headers=user, json={
        "name": "big orders", "source": src, "target": dst, "target_table": "big_orders", "load_mode": "append",
        "sql": "SELECT id, customer_id, total FROM orders WHERE total >= :min_total"})
    assert r.status_code == 201, r.text
    pid = r.json()["pipeline_id"]
    missing = client.post(f"{V1}/pipelines/{pid}:run", headers=user, json={})
    assert missing.status_code == 400 and "min_total" in missing.json()["error"]["message"]
    from inferloop import EtlClient

    with EtlClient(api_key=user["Authorization"].split()[1], base_url=url) as etl:  # the Python client
        done = etl.pipelines.get(pid).run(params={"min_total": 100}).wait(timeout=420)
    expected = pg_count(dbs[0], "orders", "WHERE total >= 100")
    assert done["rows"]["loaded"] == expected == my_query(mydb, "SELECT count(*) FROM big_orders")[0][0]


def test_plain_flow_call_pg_to_mariadb(dbs):
    """The same flow as a plain Python call, with inline connectors (no metadata store entries)."""
    from flows.etl.pipeline import etl_pipeline

    schema, mydb = dbs
    manifest = etl_pipeline(
        source={"type": "postgresql", "configuration": pg_config(schema)},
        target={"type": "mariadb", "configuration": my_config(mydb)},
        sql="SELECT customer_id, count(*) AS orders, sum(total) AS total FROM orders GROUP BY customer_id",
        target_table="orders_per_customer", transform={"derive": {"avg_total": "total / orders"}},
        validations=[{"expectation": "unique", "column": "customer_id"},
                     {"expectation": "row_count_between", "min": 1, "max": ORDERS}],
        chunk_rows=1000)
    assert manifest["rows"]["loaded"] == 50 == my_query(mydb, "SELECT count(*) FROM orders_per_customer")[0][0]
    assert manifest["validation"]["status"] == "passed"
    assert my_query(mydb, "SELECT sum(orders) FROM orders_per_customer")[0][0] == ORDERS


def scheduled_runs(deployment_id: str) -> int:
    import asyncio

    from prefect import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    async def count() -> int:
        async with get_client() as c:
            return len(await c.read_flow_runs(deployment_filter=DeploymentFilter(
                id=DeploymentFilterId(any_=[uuid.UUID(deployment_id)])), limit=5))

    return asyncio.run(count())


def test_a_deployed_cron_schedule_runs_on_the_worker(client, user, dbs, conns):
    """Deployed every minute: Prefect's scheduler makes the run, the worker runs it, it is a job of the pipeline."""
    _, mydb = dbs
    src, dst = conns
    r = client.post(f"{V1}/pipelines", headers=user, json={
        "name": "every minute", "source": src, "target": dst, "target_table": "customers_copy",
        "table": "customers", "schedule": "* * * * *"})
    assert r.status_code == 201, r.text
    pid, dep = r.json()["pipeline_id"], r.json()["deployment"]["id"]
    assert client.post(f"{V1}/pipelines/{pid}:deploy", headers=user, json={}).json()["schedule"]["active"] is True
    try:
        end = time.monotonic() + 90  # the scheduler's loops: recent deployments every 5 s, all every 60 s
        while scheduled_runs(dep) == 0 and time.monotonic() < end:
            time.sleep(3)
        # (Prefect 3.8.8's scheduler fails on SQLAlchemy 2.1: requirements.txt pins 2.0.x)
        assert scheduled_runs(dep) > 0, "Prefect's scheduler made no run for an active schedule in 90 s"
        end = time.monotonic() + 240
        done = []
        while time.monotonic() < end and not done:
            time.sleep(3)
            runs = client.get(f"{V1}/pipelines/{pid}/runs", headers=user).json()["runs"]
            done = [x for x in runs if x["status"] in ("success", "failed")]
        assert done, "no scheduled run finished within 240 s of being scheduled"
        assert done[0]["trigger"] == "schedule" and done[0]["status"] == "success", done[0]
        assert done[0]["rows"]["loaded"] == 50 == my_query(mydb, "SELECT count(*) FROM customers_copy")[0][0]
    finally:
        client.post(f"{V1}/pipelines/{pid}:pause", headers=user)
        client.delete(f"{V1}/pipelines/{pid}", headers=user)
