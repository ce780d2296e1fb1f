"""Multi-table generation through the API: POST /multitable/generate (JSON and multipart), per-table
downloads in every format, saved multi-table models sampled again, quality next to integrity, the early 202
and the 504 of the sync wait, the three orphan modes, and every bad input as a 400."""

from __future__ import annotations

import gzip
import io
import json

import httpx
import pandas as pd
import pytest

from tests.api.jobs_helpers import H, upload, wait_for
from tests.multitable_data import primary_keys_of, rel, shop_chain, shop_star, six_tables
from tests.support import OTHER_KEY, ApiServer

OTHER = {"X-API-Key": OTHER_KEY}


def upload_tables(api: str, tables: dict[str, pd.DataFrame]) -> dict[str, dict]:
    """Each table uploaded once; the request's `tables` with upload:// URLs."""
    return {name: {"url": upload(api, content=df.to_csv(index=False).encode(), name=f"{name}.csv")["data_url"]}
            for name, df in tables.items()}


def generate(api: str, body: dict, headers: dict | None = None) -> httpx.Response:
    return httpx.post(f"{api}/api/tabular/multitable/generate", json=body, headers=headers or H, timeout=600)


def download(api: str, url: str, fmt: str = "csv", compression: str = "none", headers=None) -> pd.DataFrame:
    r = httpx.get(f"{api}{url}", params={"format": fmt, "compression": compression}, headers=headers or H,
                  timeout=120)
    assert r.status_code == 200, r.text
    raw = gzip.decompress(r.content) if compression == "gzip" else r.content
    if fmt == "csv":
        return pd.read_csv(io.BytesIO(raw))
    if fmt == "parquet":
        return pd.read_parquet(io.BytesIO(raw))
    return pd.DataFrame(json.loads(raw))


def assert_related(tables: dict[str, pd.DataFrame], relationships: list[dict], keys: dict[str, str]) -> None:
    """Integrity checked on the downloaded files themselves."""
    for table, column in keys.items():
        assert tables[table][column].notna().all() and tables[table][column].is_unique, table
    for r in relationships:
        fk = tables[r["child"]][r["child_key"]].dropna()
        assert fk.isin(set(tables[r["parent"]][r["parent_key"]])).all(), r
        if r["type"] == "one_to_one":
            assert fk.is_unique, r


def assert_error(r: httpx.Response, code: str, field: str) -> dict:
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == code and err["field"] == field, err
    assert err["message"] and err["request_id"]
    return err


@pytest.fixture(scope="module")
def star(api):
    """The HMA schema (4 related tables, depth 2, a one_to_one, a standalone table), generated once."""
    tables, rels = shop_star()
    body = {"tables": upload_tables(api, tables), "relationships": rels, "algorithm": "sdv",
            "scale_factor": 2.0, "seed": 7, "primary_keys": primary_keys_of(tables)}
    r = generate(api, body)
    assert r.status_code == 200, r.text
    return tables, rels, r.json()


def test_hma_schema_generates_related_tables(api, star):
    tables, _rels, body = star
    assert body["generation_id"].startswith("multi-") and body["status"] == "completed"
    assert body["method"] == "hma" and body["scale_factor"] == 2.0
    assert body["method_choice"]["predicted_seconds"]["hma"] <= 60 and "predicted" in body["method_choice"]["reason"]
    assert body["relationship_integrity"]["score"] == 1.0 and body["relationship_integrity"]["valid"] is True
    quality = body["quality"]
    assert 0 < body["quality_score"] == quality["score"] <= 1 and quality["cardinality"] is not None
    assert [p["relationship"] for p in quality["parent_child"]] == [
        f"{r['parent']}.{r['parent_key']} -> {r['child']}.{r['child_key']}" for r in _rels]
    assert set(body["tables_generated"]) == set(tables)
    assert body["tables_generated"]["customers"]["rows"] == 2 * len(tables["customers"])
    assert body["tables_generated"]["stores"]["rows"] == 2 * len(tables["stores"])
    for name, t in body["tables_generated"].items():
        assert t["download_url"] == f"/api/tabular/download/{body['generation_id']}/{name}"


@pytest.mark.parametrize("fmt,compression", [("csv", "none"), ("csv", "gzip"), ("parquet", "none"),
                                             ("json", "none"), ("json", "gzip")])
def test_every_table_downloads_in_every_format(api, star, fmt, compression):
    tables, rels, body = star
    out = {name: download(api, t["download_url"], fmt, compression) for name, t in body["tables_generated"].items()}
    for name, df in out.items():
        assert len(df) == body["tables_generated"][name]["rows"]
        assert list(df.columns) == list(tables[name].columns)
    assert_related(out, rels, primary_keys_of(tables))


def test_job_status_download_errors_and_tenancy(api, star):
    _, _, body = star
    gid = body["generation_id"]
    job = httpx.get(f"{api}/api/tabular/jobs/{gid}", headers=H, timeout=60).json()
    assert job["status"] == "completed"
    assert job["result"]["tables_generated"] == body["tables_generated"]
    assert job["result"]["relationship_integrity"]["valid"] is True
    r = httpx.get(f"{api}/api/tabular/download/{gid}/nope", headers=H, timeout=60)
    assert r.status_code == 404 and r.json()["error"]["field"] == "table"
    r = httpx.get(f"{api}/api/tabular/download/{gid}", headers=H, timeout=60)
    assert_error(r, "INVALID_REQUEST", "table")
    r = httpx.get(f"{api}/api/tabular/download/{gid}/customers", headers=OTHER, timeout=60)
    assert r.status_code == 404
    r = httpx.get(f"{api}/api/tabular/download/{gid}/customers", params={"format": "xml"}, headers=H, timeout=60)
    assert_error(r, "INVALID_REQUEST", "format")


def test_seven_tables_by_multipart_saved_and_sampled_again(api):
    """regions -> customers -> orders -> order_items <- products <- suppliers, customers -> profiles: seven
    tables, depth 4, beyond HMA: parent_first; sent as multipart, the model saved and sampled again."""
    tables, rels = six_tables()
    keys = {"profiles": "profile_id", "order_items": "item_id"}
    files = {name: (f"{name}.csv", df.to_csv(index=False).encode(), "text/csv") for name, df in tables.items()}
    form = {"relationships": json.dumps(rels), "scale_factor": "1.5", "seed": "3", "save_model": "true",
            "model_name": "shop", "primary_keys": json.dumps(keys)}
    r = httpx.post(f"{api}/api/tabular/multitable/generate", files=files, data=form, headers=H, timeout=600)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["method"] == "parent_first" and len(body["tables_generated"]) == 7
    assert "HMA cannot run this schema" in body["method_choice"]["reason"]
    assert body["relationship_integrity"] == {**body["relationship_integrity"], "score": 1.0, "valid": True}
    assert body["tables_generated"]["suppliers"]["rows"] == round(1.5 * len(tables["suppliers"]))   # a root
    out = {n: download(api, t["download_url"], "parquet") for n, t in body["tables_generated"].items()}
    assert_related(out, rels, primary_keys_of(tables))

    model = httpx.get(f"{api}/api/tabular/models/{body['model_id']}", headers=H, timeout=60).json()
    assert model["status"] == "ready" and model["name"] == "shop" and model["algorithm"] == "sdv"
    assert model["quality_score"] == body["quality_score"] and model["metadata"]["method"] == "parent_first"
    assert set(model["metadata"]["tables"]) == set(tables) and len(model["metadata"]["relationships"]) == 6
    r = httpx.post(f"{api}/api/tabular/multitable/models/{body['model_id']}/generate",
                   json={"scale_factor": 0.5}, headers=H, timeout=600)
    assert r.status_code == 200, r.text
    again = r.json()
    assert again["model_id"] == body["model_id"] and again["generation_id"] != body["generation_id"]
    assert again["relationship_integrity"]["valid"] is True
    assert again["tables_generated"]["suppliers"]["rows"] == round(0.5 * len(tables["suppliers"]))
    again_out = {n: download(api, t["download_url"]) for n, t in again["tables_generated"].items()}
    assert_related(again_out, rels, primary_keys_of(tables))
    r = httpx.post(f"{api}/api/tabular/models/{body['model_id']}/generate", json={"num_rows": 10},
                   headers=H, timeout=60)
    assert_error(r, "INVALID_REQUEST", "model_id")                       # single-table sampling refuses it
    r = httpx.post(f"{api}/api/tabular/multitable/models/{body['model_id']}/generate",
                   json={"scale_factor": 0}, headers=H, timeout=60)
    assert_error(r, "INVALID_REQUEST", "scale_factor")
    r = httpx.post(f"{api}/api/tabular/multitable/models/{body['model_id']}/generate",
                   json={"scale_factor": 1}, headers=OTHER, timeout=60)
    assert r.status_code == 404


def test_sync_timeout_returns_504_then_the_job_completes(api, settings, s3_bucket):
    """Tables on S3: their sizes are unknown before the run reads them, so there is no estimate and the
    endpoint waits its limit, then answers 504 with the job id. The tables have orphans, dropped with the
    older drop_orphans spelling."""
    from api.main import create_app
    from inferloop.core import storage

    tables, rels = shop_chain(20)
    orders = tables["orders"]
    orders.loc[orders.index[:2], "customer_id"] = "C9999"
    urls = {}
    for name, df in tables.items():
        urls[name] = {"url": f"{s3_bucket}/multitable/{name}.csv"}
        with storage.open_uri(urls[name]["url"], "wb") as f:
            f.write(df.to_csv(index=False).encode())
    quick = settings.model_copy(update={"sync_timeout_seconds": 0.2})
    with ApiServer(create_app(quick, run_watcher=False)) as server:
        r = generate(server.url, {"tables": urls, "relationships": rels, "seed": 2, "drop_orphans": True})
    assert r.status_code == 504, r.text
    err = r.json()["error"]
    assert err["code"] == "TIMEOUT" and err["job_id"].startswith("multi-")
    job = wait_for(api, err["job_id"], {"completed", "failed"})
    assert job["status"] == "completed", job
    result = job["result"]
    assert result["generation_id"] == err["job_id"] and result["relationship_integrity"]["valid"] is True
    lost_items = int(tables["order_items"]["order_id"].isin(orders["order_id"].iloc[:2]).sum())
    assert result["orphans"] == "drop"
    assert result["orphans_dropped"] == {"orders": 2, **({"order_items": lost_items} if lost_items else {})}
    out = {n: download(api, t["download_url"]) for n, t in result["tables_generated"].items()}
    assert_related(out, rels, {"customers": "customer_id", "orders": "order_id", "products": "product_id"})


def test_estimate_past_the_limit_answers_202_at_once_and_the_client_follows_the_job(api, settings):
    """Uploaded tables have known sizes: the run's estimate exceeds a 1 s limit, so the endpoint answers 202
    with the job at once; the Python client follows that job to its tables."""
    from api.main import create_app
    from inferloop_client import TabularClient

    tables, rels = shop_chain(20)
    answers: list[httpx.Response] = []
    hooks = {"response": [lambda response: answers.append(response)]}
    quick = settings.model_copy(update={"sync_timeout_seconds": 1.0})
    with ApiServer(create_app(quick, run_watcher=False)) as server:
        client = TabularClient(api_key=H["X-API-Key"], base_url=server.url,
                               http_client=httpx.Client(event_hooks=hooks))
        out = client.multitable_generate(tables, rels, seed=2, method="parent_first")
    posted = [a for a in answers if a.request.method == "POST" and a.request.url.path.endswith("/generate")]
    assert [a.status_code for a in posted] == [202]
    assert posted[0].headers["location"].startswith("/api/tabular/jobs/multi-")
    assert set(out) == set(tables) and len(out["customers"]) == len(tables["customers"])
    answer = out["orders"].attrs["inferloop"]
    assert answer["status"] == "completed" and answer["relationship_integrity"]["valid"] is True


# ------------------------------------------------------------------------------------------ bad input
@pytest.fixture(scope="module")
def chain_urls(api):
    tables, rels = shop_chain(30)
    return tables, rels, upload_tables(api, tables)


def test_relationship_naming_a_missing_table(api, chain_urls):
    _, rels, urls = chain_urls
    bad = [*rels[:2], rel("suppliers", "order_items", "product_id")]
    err = assert_error(generate(api, {"tables": urls, "relationships": bad}), "INVALID_REQUEST",
                       "relationships[2].parent")
    assert "suppliers" in err["message"]


def test_relationship_naming_a_missing_column(api, chain_urls):
    _, rels, urls = chain_urls
    bad = [*rels[:2], {**rels[2], "parent_key": "sku"}]
    bad[2]["child_key"] = "product_id"
    err = assert_error(generate(api, {"tables": urls, "relationships": bad}), "INVALID_REQUEST",
                       "relationships[2].parent_key")
    assert "sku" in err["message"]


def test_key_type_mismatch(api, chain_urls):
    tables, rels, urls = chain_urls
    items = tables["order_items"].assign(order_id="ord-" + tables["order_items"]["order_id"].astype(str))
    urls = {**urls, "order_items": upload_tables(api, {"order_items": items})["order_items"]}
    err = assert_error(generate(api, {"tables": urls, "relationships": rels}), "INVALID_REQUEST",
                       "relationships[1].child_key")
    assert err["parent_type"] == "integers" and err["child_type"] == "text"


def test_cycle(api, chain_urls):
    _, rels, urls = chain_urls
    bad = [*rels, rel("order_items", "customers", "item_id", child_key="age")]
    err = assert_error(generate(api, {"tables": urls, "relationships": bad}), "INVALID_REQUEST", "relationships")
    assert "cycle" in err["message"]


def test_orphans_are_refused_with_counts_or_kept_with_an_empty_key(api, chain_urls):
    """orphans: error (the default) is a 400 with counts; null keeps the rows (drop: the 202 test above)."""
    tables, rels, urls = chain_urls
    orders = tables["orders"].copy()
    orders.loc[orders.index[:3], "customer_id"] = "C9999"
    urls = {**urls, "orders": upload_tables(api, {"orders": orders})["orders"]}
    err = assert_error(generate(api, {"tables": urls, "relationships": rels}), "CONSTRAINT_VIOLATION",
                       "relationships[0].child_key")
    assert err["orphans"] == {"orders": 3} and 'orphans: "null"' in err["message"]
    assert_error(generate(api, {"tables": urls, "relationships": rels, "orphans": "null", "drop_orphans": True}),
                 "INVALID_REQUEST", "orphans")
    r = generate(api, {"tables": urls, "relationships": rels, "orphans": "null", "seed": 1,
                       "method": "parent_first"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["orphans"] == "null" and body["orphans_nulled"] == {"orders": 3} and body["orphans_dropped"] == {}
    assert body["tables_generated"]["orders"]["rows"] == len(orders)     # every row kept
    assert body["relationship_integrity"]["valid"] is True
    out = download(api, body["tables_generated"]["orders"]["download_url"])
    assert out["customer_id"].isna().sum() == 3                          # as many rows without a parent


@pytest.mark.parametrize("scale", [0, -2.5])
def test_scale_factor_must_be_positive(api, chain_urls, scale):
    _, rels, urls = chain_urls
    assert_error(generate(api, {"tables": urls, "relationships": rels, "scale_factor": scale}),
                 "INVALID_REQUEST", "scale_factor")


def test_duplicate_parent_keys(api, chain_urls):
    tables, rels, urls = chain_urls
    products = tables["products"].copy()
    products.loc[1, "product_id"] = products.loc[0, "product_id"]
    urls = {**urls, "products": upload_tables(api, {"products": products})["products"]}
    err = assert_error(generate(api, {"tables": urls, "relationships": rels}), "CONSTRAINT_VIOLATION",
                       "relationships[2].parent_key")
    assert err["duplicate_keys"] == 1 and err["table"] == "products"


def test_request_shape_errors(api, chain_urls):
    _, rels, urls = chain_urls
    assert_error(generate(api, {"tables": {}, "relationships": []}), "INVALID_REQUEST", "tables")
    assert_error(generate(api, {"tables": urls, "relationships": [{**rels[0], "type": "many_to_many"}]}),
                 "INVALID_REQUEST", "relationships.0.type")
    assert_error(generate(api, {"tables": urls, "relationships": rels, "method": "hma"}),
                 "INVALID_REQUEST", "method")
    assert_error(generate(api, {"tables": {**urls, "x": {"url": "upload://upl-nope"}}, "relationships": rels}),
                 "INVALID_REQUEST", "tables.x.url")
