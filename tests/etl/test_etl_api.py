"""The ETL API over HTTP without a Prefect server: login and tokens (one auth with the tabular API), rate
limits per plan, the ':' paths, connectors (tested before stored, credentials never returned), data profile,
preview and query, NL to SQL, storage advice, and the refusals that must stop before anything is created."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.etl.etl_data import ORDERS, my_config, my_database, pg_config, pg_schema
from tests.support import API_KEY, ApiServer

ADMIN = {"X-API-Key": API_KEY}
V1 = "/api/v1"


@pytest.fixture(scope="module")
def files_root(tmp_path_factory):
    return tmp_path_factory.mktemp("etl-files")


@pytest.fixture(scope="module")
def url(settings, files_root):
    from api.main import create_app

    with ApiServer(create_app(settings.model_copy(update={"allowed_roots": str(files_root)}),
                              run_watcher=False)) as server:
        yield server.url


@pytest.fixture(scope="module")
def client(url):
    with httpx.Client(base_url=url, timeout=120) as c:
        yield c


def new_user(client, tier: str = "enterprise") -> tuple[str, str, dict]:
    """A fresh account with an email login; returns (email, password, bearer headers)."""
    email, password = f"u{uuid.uuid4().hex[:8]}@example.com", "correct-horse-battery"
    r = client.post(f"{V1}/admin/logins", json={"email": email, "password": password, "tier": tier}, headers=ADMIN)
    assert r.status_code == 201, r.text
    token = client.post(f"{V1}/auth/login", json={"email": email, "password": password}).json()["access_token"]
    return email, password, {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def user(client):
    return new_user(client)[2]


@pytest.fixture(scope="module")
def shop(client, user):
    """A PostgreSQL source connector on a throw-away schema with shop data."""
    with pg_schema() as schema:
        r = client.post(f"{V1}/connectors", json={"name": "shop db", "type": "postgresql", "role": "source",
                                                  "configuration": pg_config(schema),
                                                  "credentials": {"password": "not-needed-but-secret"}},
                        headers=user)
        assert r.status_code == 201, r.text
        yield r.json()


def envelope(r: httpx.Response, status: int, code: str, field: str | None = None) -> dict:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and err["message"] and err["request_id"] and isinstance(err["details"], list)
    if field is not None:
        assert {d["field"] for d in err["details"]} >= {field}, err
    return err


# --- auth ---------------------------------------------------------------------------------------------------

def test_login_refresh_and_one_auth_across_apis(client):
    email, password, headers = new_user(client, "professional")
    r = client.post(f"{V1}/auth/login", json={"email": email.upper(), "password": password})
    body = r.json()
    assert r.status_code == 200 and body["token_type"] == "bearer" and body["expires_in"] == 3600
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    # the access token works on the ETL API and on the tabular API
    assert client.get(f"{V1}/connectors", headers=headers).status_code == 200
    assert client.get("/api/tabular/usage", headers=headers).status_code == 200
    # a token from the tabular API (exchanged for an API key) works here
    tab = client.post("/api/tabular/auth/token", headers=ADMIN).json()["access_token"]
    assert client.get(f"{V1}/connectors", headers={"Authorization": f"Bearer {tab}"}).status_code == 200
    # refresh: a new pair; a refresh token is not an access token
    pair = client.post(f"{V1}/auth/refresh", json={"refresh_token": body["refresh_token"]}).json()
    assert client.get(f"{V1}/pipelines", headers={"Authorization": f"Bearer {pair['access_token']}"}).status_code == 200
    envelope(client.get(f"{V1}/pipelines", headers={"Authorization": f"Bearer {body['refresh_token']}"}), 401,
             "AUTHENTICATION_REQUIRED")
    envelope(client.post(f"{V1}/auth/refresh", json={"refresh_token": body["access_token"]}), 401,
             "AUTHENTICATION_REQUIRED")


def test_login_failures_and_missing_token(client):
    email, _, _ = new_user(client)
    envelope(client.post(f"{V1}/auth/login", json={"email": email, "password": "wrong-password"}), 401,
             "AUTHENTICATION_REQUIRED")
    envelope(client.post(f"{V1}/auth/login", json={"email": "nobody@example.com", "password": "whatever1"}), 401,
             "AUTHENTICATION_REQUIRED")
    envelope(client.get(f"{V1}/pipelines"), 401, "AUTHENTICATION_REQUIRED")
    envelope(client.post(f"{V1}/admin/logins", json={"email": "x@example.com", "password": "short"}, headers=ADMIN),
             400, "VALIDATION_ERROR", "password")
    _, _, plain = new_user(client, "starter")
    envelope(client.post(f"{V1}/admin/logins", json={"email": "y@example.com", "password": "long-enough-pw"},
                         headers=plain), 403, "PERMISSION_DENIED")


def test_rate_limit_per_plan_with_headers(client):
    _, _, free = new_user(client, "starter")  # Free: 100 requests/hour, burst 10 a minute
    seen = [client.get(f"{V1}/pipelines", headers=free) for _ in range(11)]
    assert [r.status_code for r in seen[:10]] == [200] * 10
    first = seen[0].headers
    assert first["X-RateLimit-Limit"] == "100" and first["X-RateLimit-Remaining"] == "99"
    assert int(first["X-RateLimit-Reset"]) > 0
    err = envelope(seen[10], 429, "RATE_LIMIT_EXCEEDED")
    assert "burst" in err["message"] and seen[10].headers["Retry-After"]


# --- paths with ':' -------------------------------------------------------------------------------------------

def test_colon_paths_route_to_their_endpoints(client, user):
    missing = "pipe_0123456789abcdef"
    assert "pipeline 'pipe_0123456789abcdef'" in envelope(
        client.post(f"{V1}/pipelines/{missing}:run", json={}, headers=user), 404, "RESOURCE_NOT_FOUND")["message"]
    envelope(client.post(f"{V1}/pipelines/{missing}:deploy", json={"schedule": "0 2 * * *"}, headers=user), 404,
             "RESOURCE_NOT_FOUND")
    # a bad cron is refused before the pipeline is even looked up: nothing is deployed
    for cron in ("0 25 * * *", "0 0 31 2 *"):  # hour 25; 31 February never comes
        envelope(client.post(f"{V1}/pipelines/{missing}:deploy", json={"schedule": cron}, headers=user), 400,
                 "VALIDATION_ERROR", "schedule")
    envelope(client.post(f"{V1}/pipelines/{missing}:pause", headers=user), 404, "RESOURCE_NOT_FOUND")
    envelope(client.get(f"{V1}/pipelines/{missing}", headers=user), 404, "RESOURCE_NOT_FOUND")
    assert client.post(f"{V1}/pipelines/{missing}:explode", headers=user).status_code in (404, 405)
    assert client.get(f"{V1}/pipelines:generate", headers=user).status_code == 405


# --- connectors -------------------------------------------------------------------------------------------------

def test_connectors_are_tested_stored_encrypted_and_masked(client, user, shop):
    assert shop["type"] == "postgresql" and shop["test_status"] == "success"
    assert shop["configuration"]["credentials_set"] == ["password"]
    listed = client.get(f"{V1}/connectors", params={"per_page": 1}, headers=user)
    assert listed.status_code == 200 and "not-needed-but-secret" not in listed.text
    assert listed.headers["X-Total-Count"] == "1" and listed.headers["X-Per-Page"] == "1"
    assert {t["type"] for t in listed.json()["available_types"]} == {"postgresql", "mysql", "sqlite", "csv",
                                                                     "parquet"}
    from tasks.etl.store import get_connector

    stored = get_connector(shop["connector_id"], None)
    assert stored.secret and "not-needed-but-secret" not in stored.secret and "password" not in stored.config
    t = client.post(f"{V1}/connectors/{shop['connector_id']}/test", headers=user).json()
    assert t["test_status"] == "success" and t["tables"] == 3
    tables = client.get(f"{V1}/connectors/{shop['connector_id']}/schema", headers=user).json()["tables"]
    assert [t["name"] for t in tables] == ["customers", "order_items", "orders"]
    # another owner sees nothing
    _, _, other = new_user(client)
    envelope(client.get(f"{V1}/connectors/{shop['connector_id']}", headers=other), 404, "RESOURCE_NOT_FOUND")


def test_unreachable_or_wrong_credentials_store_nothing(client):
    _, _, me = new_user(client)
    r = client.post(f"{V1}/connectors", json={"type": "postgresql", "configuration": {
        "host": "127.0.0.1", "port": 1, "database": "test"}}, headers=me)
    assert "cannot connect" in envelope(r, 400, "VALIDATION_ERROR")["message"]
    with my_database() as mydb:
        r = client.post(f"{V1}/connectors", json={"type": "mariadb", "configuration": my_config(mydb),
                                                  "credentials": {"password": "wrong-password"}}, headers=me)
        assert "Access denied" in envelope(r, 400, "VALIDATION_ERROR")["message"]
        assert "wrong-password" not in r.text
    envelope(client.post(f"{V1}/connectors", json={"type": "oracle", "configuration": {}}, headers=me), 400,
             "VALIDATION_ERROR", "type")
    assert client.get(f"{V1}/connectors", headers=me).headers["X-Total-Count"] == "0"


def test_connector_configured_from_a_description(client):
    _, _, me = new_user(client)
    with my_database() as mydb:
        r = client.post(f"{V1}/connectors-ai/configure", headers=me, json={
            "description": f"Connect to our MariaDB database {mydb} on 127.0.0.1 as user root", "type": "target"})
        body = r.json()
        assert r.status_code == 200, r.text
        assert body["type"] == "mysql" and body["test_status"] == "success" and body["connector_id"]
        assert body["configuration"]["database"] == mydb and body["configuration"]["port"] == 3306
    envelope(client.post(f"{V1}/connectors-ai/configure", headers=me,
                         json={"description": "Connect to our ClickHouse cluster", "type": "source"}),
             400, "VALIDATION_ERROR")


# --- data operations ------------------------------------------------------------------------------------------

def test_profile_and_preview(client, user, shop):
    r = client.post(f"{V1}/data/profile", json={"source": shop["connector_id"], "table": "customers",
                                                "sample_size": 1000}, headers=user)
    body = r.json()
    assert r.status_code == 200, r.text
    assert body["row_count"] == 50 and body["statistics"]["duplicate_percentage"] == 0
    cols = {c["name"]: c for c in body["columns"]}
    assert cols["id"]["type"] == "integer" and cols["id"]["nullable"] is False and cols["id"]["unique"] is True
    assert cols["email"]["type"] == "varchar(255)" and cols["email"]["unique"] is True
    assert "email" in body["recommendations"]["indexing"] and body["statistics"]["size_mb"] > 0
    p = client.get(f"{V1}/data/preview", params={"source": shop["connector_id"], "table": "orders", "limit": 5},
                   headers=user).json()
    assert p["row_count"] == 5 and set(p["rows"][0]) == {"id", "customer_id", "status", "total", "created_at"}
    envelope(client.get(f"{V1}/data/preview", params={"source": shop["connector_id"], "table": "ghosts"},
                        headers=user), 400, "VALIDATION_ERROR", "table")


@pytest.mark.parametrize("sql, match", [
    ("DROP TABLE orders", "DROP"), ("DELETE FROM orders", "DELETE"), ("SELECT 1; DROP TABLE orders", "one statement"),
    ("INSERT INTO orders (id) VALUES (1)", "INSERT"), ("SELECT * FROM orders FOR UPDATE", "LOCK"),
])
def test_query_endpoint_refuses_writes(client, user, shop, sql, match):
    r = client.post(f"{V1}/data/query", json={"source": shop["connector_id"], "sql": sql}, headers=user)
    assert match in envelope(r, 400, "VALIDATION_ERROR", "sql")["message"]


def test_query_endpoint_reads(client, user, shop):
    r = client.post(f"{V1}/data/query", headers=user, json={
        "source": shop["connector_id"], "sql": "SELECT status, count(*) AS n FROM orders WHERE total > :t "
                                               "GROUP BY status ORDER BY status", "params": {"t": 0}})
    body = r.json()
    assert r.status_code == 200, r.text
    assert sum(row["n"] for row in body["rows"]) == ORDERS and not body["truncated"]
    from tests.etl.etl_data import pg_count

    assert pg_count(shop["configuration"]["schema"], "orders") == ORDERS  # nothing changed


def test_nl_query_the_documents_example(client, user, shop):
    r = client.post(f"{V1}/nl-query", headers=user, json={
        "question": "Show me top 10 customers by total purchase amount last month",
        "schema": {"tables": ["customers", "orders", "order_items"]}, "execute": True})
    body = r.json()
    assert r.status_code == 200, r.text
    assert set(body) >= {"sql", "explanation", "estimated_rows", "estimated_time_ms"}
    assert "LIMIT 10" in body["sql"] and body["source"] == shop["connector_id"]
    assert 0 < body["estimated_rows"] <= 10 and body["estimated_time_ms"] >= 0
    assert body["result"]["row_count"] == body["estimated_rows"]
    err = envelope(client.post(f"{V1}/nl-query", headers=user, json={
        "question": "Show me the vibes of customers", "source": shop["connector_id"]}), 400, "VALIDATION_ERROR")
    assert "'vibes'" in err["message"]


def test_storage_recommendation_the_documents_example(client, user):
    r = client.post(f"{V1}/storage/recommend", headers=user, json={"data_profile": {
        "size_gb": 100, "growth_rate": "10GB/month", "access_pattern": "write_heavy",
        "query_types": ["analytical", "time_series"]}})
    assert r.status_code == 200 and r.json()["recommendations"][0]["reasons"]
    envelope(client.post(f"{V1}/storage/recommend", headers=user, json={"data_profile": {"size_gb": "big"}}), 400,
             "VALIDATION_ERROR", "data_profile.size_gb")


def test_generate_refuses_what_it_cannot_do_and_creates_nothing(client, user, shop):
    for text, match in [("Load sales data from PostgreSQL to ClickHouse daily", "ClickHouse"),
                        ("Load orders from postgres please and also juggle them", "'juggle'"),
                        ("Load orders from postgres", "say where the data goes")]:
        r = client.post(f"{V1}/pipelines:generate", json={"description": text}, headers=user)
        assert match in envelope(r, 400, "VALIDATION_ERROR")["message"], text
    assert client.get(f"{V1}/pipelines", headers=user).headers["X-Total-Count"] == "0"


def test_webhook_registration_checks(client, user):
    envelope(client.post(f"{V1}/webhooks", headers=user, json={"url": "https://example.com/h",
                                                               "events": ["generation.completed"],
                                                               "secret": "0123456789"}), 400, "VALIDATION_ERROR",
             "events")
    envelope(client.post(f"{V1}/webhooks", headers=user, json={"url": "ftp://example.com/h",
                                                               "events": ["pipeline.failed"], "secret": "0123456789"}),
             400, "VALIDATION_ERROR", "url")


# --- the Python client and the CLI ------------------------------------------------------------------------------

def test_client_login_typed_errors_and_nl_query(client, url, shop):
    from inferloop import EtlClient
    from inferloop_client import AuthenticationError, ValidationError

    email, password, _ = new_user(client)
    with pytest.raises(AuthenticationError):
        EtlClient.login(email, "not-the-password", base_url=url)
    with EtlClient.login(email, password, base_url=url) as c:
        assert c.connectors.list() == []
        assert {t["type"] for t in c.connectors.types()} >= {"postgresql", "mysql"}
        with pytest.raises(ValidationError) as e:
            c.connectors.create("postgresql", {"host": "127.0.0.1", "port": 1, "database": "test"})
        assert e.value.code == "VALIDATION_ERROR" and "cannot connect" in e.value.message
        c.refresh()
        assert c.storage_recommend({"size_gb": 1})["primary"]["storage"]


def test_cli_query_and_exit_codes(client, url, user, shop, monkeypatch):
    from typer.testing import CliRunner

    from inferloop.cli.main import app

    token = user["Authorization"].split()[1]
    runner = CliRunner()
    ok = runner.invoke(app, ["etl", "query", "count orders per status", "--source", shop["connector_id"],
                             "--api-key", token, "--url", url, "--json"])
    assert ok.exit_code == 0, ok.output
    assert "GROUP BY" in ok.output
    bad = runner.invoke(app, ["etl", "query", "count the unicorns", "--source", shop["connector_id"],
                              "--api-key", token, "--url", url])
    assert bad.exit_code == 1 and "unicorns" in bad.output
    missing = runner.invoke(app, ["etl", "pipelines", "show", "pipe_0000000000000000", "--api-key", token,
                                  "--url", url])
    assert missing.exit_code == 4
