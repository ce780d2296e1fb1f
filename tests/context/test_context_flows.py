"""The context flows called from Python (no API in between): sample, corpus with batch child runs, export."""

from __future__ import annotations

import sqlite3

import polars as pl

from inferloop.core import storage
from tests.context.helpers import SHOP, check_shop_rules, child_runs


def read(uris: list[str]) -> pl.DataFrame:
    frames = []
    for uri in uris:
        with storage.open_uri(uri, "rb") as f:
            frames.append(pl.read_parquet(f))
    return pl.concat(frames).with_columns(pl.col(pl.Enum).cast(pl.String))


def test_python_flow_calls(prefect_platform):
    from flows.context.corpus import context_corpus
    from flows.context.export import context_export
    from flows.context.sample import context_sample

    m = context_sample(context=SHOP, sample_size=4, seed=1)
    assert m["kind"] == "sample" and m["counts"]["customers"] == 4
    result = storage.read_json(f"{storage.run_dir(m['flow_run_id'])}/result.json")
    assert len(result["samples"]["orders"]) == 4 and result["validation"]["valid"]

    c = context_corpus(context=SHOP, corpus_size=2000, batch_size=500, seed=2, export_format="sql",
                       export_options={"sql_dialect": "sqlite"})
    assert c["generated_records"] == 2000 and sum(c["records"].values()) == 2000
    assert sorted(fr.name for fr in child_runs(c["flow_run_id"])) == [f"batch-{i:04d}" for i in range(4)]
    manifest = storage.read_json(f"{storage.run_dir(c['flow_run_id'])}/result.json")
    data = manifest["data"]
    assert all(len(parts) == 4 for parts in data.values())
    check_shop_rules(read(data["customers"]), read(data["orders"]), read(data["order_items"]))
    sql = manifest["exports"]["sql-sqlite"]["files"]["_all"]["uri"]
    db = sqlite3.connect(":memory:")
    with storage.open_uri(sql, "r") as f:
        db.executescript(f.read())
    assert db.execute("select count(*) from order_items").fetchone()[0] == c["records"]["order_items"]

    x = context_export(spec=manifest["spec"], data=data, export_format="json", schemas=["orders"])
    assert list(x["files"]) == ["orders"] and x["files"]["orders"]["rows"] == c["records"]["orders"]
