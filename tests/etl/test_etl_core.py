"""ETL building blocks without a Prefect server: the NL parser, the SQL guard, cron words, transforms,
expectations, storage advice, logins, encrypted credentials, and the connectors' real reads and writes
(PostgreSQL, MariaDB, SQLite, CSV/Parquet files), called as plain functions (`task.fn`)."""

from __future__ import annotations

import os
import sqlite3
import stat

import polars as pl
import pytest

from inferloop.core.errors import InferloopError
from tasks.etl import advice, nl, sqlguard, stage
from tasks.etl import connectors as conns
from tasks.etl import transform as tf
from tasks.etl import validate as va
from tasks.etl.extract import extract
from tasks.etl.load import load
from tests.etl.etl_data import ORDERS, my_config, my_database, my_query, pg_config, pg_count, pg_schema

SCHEMA = {"customers": {"id": "INT", "name": "TEXT", "email": "TEXT", "region": "TEXT", "created_at": "TIMESTAMP"},
          "orders": {"id": "INT", "customer_id": "INT", "status": "TEXT", "total": "DECIMAL",
                     "created_at": "TIMESTAMP"},
          "order_items": {"id": "INT", "order_id": "INT", "amount": "DECIMAL", "product": "TEXT"}}
CONNS = [nl.ConnectorInfo("conn_0001", "shop db", "postgresql", "source"),
         nl.ConnectorInfo("conn_0002", "reporting", "mysql", "target"),
         nl.ConnectorInfo("conn_0003", "lake", "parquet", "both", is_s3=True)]


def parse(text: str, allow_target: bool = True) -> nl.Understood:
    return nl.understand(text, CONNS, lambda c: SCHEMA, lambda c: "postgres" if c.type == "postgresql" else "mysql",
                         allow_target=allow_target, default_source=None if allow_target else CONNS[0])


# --- natural language ------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, cron", [
    ("load orders from postgres to mariadb every night at 2", "0 2 * * *"),
    ("load orders from postgres to mariadb daily", "0 0 * * *"),
    ("load orders from postgres to mariadb nightly", "0 2 * * *"),
    ("load orders from postgres to mariadb hourly", "0 * * * *"),
    ("load orders from postgres to mariadb every 15 minutes", "*/15 * * * *"),
    ("load orders from postgres to mariadb every 6 hours", "0 */6 * * *"),
    ("load orders from postgres to mariadb every monday at 6am", "0 6 * * 1"),
    ("load orders from postgres to mariadb every weekday at 7:30pm", "30 19 * * 1-5"),
    ("load orders from postgres to mariadb every evening at 8", "0 20 * * *"),
    ("load orders from postgres to mariadb weekly", "0 0 * * 1"),
    ("load orders from postgres to mariadb monthly", "0 0 1 * *"),
    ("load orders from postgres to mariadb every month on the 15th at 3am", "0 3 15 * *"),
    ("load orders from postgres to mariadb every day at midnight", "0 0 * * *"),
    ("load orders from postgres to mariadb on cron '5 4 * * 0'", "5 4 * * 0"),
])
def test_schedule_words(text, cron):
    u = parse(text)
    assert u.plan.cron == cron
    nl.check_cron(cron)


def test_pipeline_phrasing_with_filters_target_table_and_mode():
    u = parse("Copy orders where status is 'shipped' and total > 100 from postgres into mariadb table "
              "shipped_orders append hourly")
    assert u.source.id == "conn_0001" and u.target.id == "conn_0002"
    assert u.plan.target_table == "shipped_orders" and u.plan.load_mode == "append" and u.plan.cron == "0 * * * *"
    sql = sqlguard.checked_select(u.sql, "postgres", SCHEMA, "test")
    assert "\"status\" = 'shipped'" in sql and "\"total\" > 100" in sql


def test_aggregation_and_join_path_from_key_names():
    u = parse("total amount by region from postgres to mariadb as region_totals")
    assert u.plan.target_table == "region_totals"
    sql = u.sql.replace("\n", " ")
    assert "SUM(" in sql and "GROUP BY" in sql and "JOIN \"orders\"" in sql and "JOIN \"customers\"" in sql
    sqlguard.checked_select(u.sql, "postgres", SCHEMA, "test")


def test_the_documents_nl_query_example():
    u = parse("Show me top 10 customers by total purchase amount last month", allow_target=False)
    sql = u.sql.replace("\n", " ")
    assert "ORDER BY" in sql and "LIMIT 10" in sql and "SUM(\"order_items\".\"amount\")" in sql
    assert "\"orders\".\"created_at\" >= CURRENT_DATE - INTERVAL '1 MONTH'" in sql
    sqlguard.checked_select(u.sql, "postgres", SCHEMA, "test")
    assert u.explanation.startswith("This query")


def test_unknown_words_are_named_never_guessed():
    with pytest.raises(InferloopError) as e:
        parse("load orders from postgres to mariadb and frobnicate them quickly")
    assert "'frobnicate'" in e.value.message and "'quickly'" in e.value.message
    assert {"field": "description", "error": "not understood: frobnicate"} in e.value.extra["details"]


def test_how_many_is_a_count_and_recency_words_are_not_skipped():
    sql = parse("how many orders where status is 'shipped'", allow_target=False).sql.replace("\n", " ")
    assert "COUNT(*)" in sql and "\"status\" = 'shipped'" in sql
    for word in ("latest", "new", "current"):  # they mean something the parser cannot do: said, never dropped
        with pytest.raises(InferloopError) as e:
            parse(f"load {word} orders from postgres to mariadb")
        assert f"'{word}'" in e.value.message


@pytest.mark.parametrize("text, match", [
    ("Load sales data from PostgreSQL to ClickHouse daily", "ClickHouse is not a connector type"),
    ("load orders from sqlite to mariadb", "no sqlite connector is configured"),
    ("load orders to mariadb", "say where the data comes from"),  # two connectors could be the source
    ("load ghosts from postgres to mariadb", "'ghosts'"),
    ("load orders where nope > 3 from postgres to mariadb", "'nope'"),
])
def test_refusals(text, match):
    with pytest.raises(InferloopError) as e:
        parse(text)
    assert match in e.value.message


def test_connector_from_description():
    ctype, conf, notes = nl.connector_from_text("Connect to our production PostgreSQL database analytics on "
                                                "db.company.com port 5433 as user etl with ssl",
                                                {"schema": "sales"})
    assert ctype == "postgresql"
    assert conf == {"database": "analytics", "host": "db.company.com", "port": 5433, "user": "etl",
                    "ssl_mode": "require", "schema": "sales"}
    with pytest.raises(InferloopError, match="Snowflake"):
        nl.connector_from_text("connect to snowflake", {})
    with pytest.raises(InferloopError, match="unknown hint"):
        nl.connector_from_text("postgres", {"colour": "red"})


# --- the SQL guard -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("sql, match", [
    ("DROP TABLE orders", "DROP is not allowed"),
    ("DELETE FROM orders", "DELETE is not allowed"),
    ("SELECT 1; SELECT 2", "exactly one statement"),
    ("SELECT * INTO x FROM orders", "INTO is not allowed"),
    ("SELECT * FROM orders FOR UPDATE", "LOCK is not allowed"),
    ("UPDATE orders SET total = 0", "UPDATE is not allowed"),
    ("SELECT pg_read_file('/etc/passwd')", "pg_read_file"),
    ("SELECT pg_sleep(5)", "pg_sleep"),
    ("SELECT nope FROM orders", "does not match the schema"),
    ("SELECT * FROM ghosts", "unknown table(s) ghosts"),
    ("SELEC * FROM orders", "does not parse"),
])
def test_sql_guard_refuses(sql, match):
    with pytest.raises(InferloopError) as e:
        sqlguard.checked_select(sql, "postgres", SCHEMA, "the source")
    assert match in e.value.message and e.value.code == "INVALID_REQUEST"


def test_sql_guard_binds_params_as_literals():
    out = sqlguard.checked_select("SELECT id FROM orders WHERE status = :s", "postgres", SCHEMA, "x",
                                  params={"s": "it's"})
    assert "'it''s'" in out
    with pytest.raises(InferloopError, match=":s"):
        sqlguard.checked_select("SELECT id FROM orders WHERE status = :s", "postgres", SCHEMA, "x", params={})


@pytest.mark.parametrize("cron", ["61 * * * *", "* * *", "every day", "0 25 * * *"])
def test_bad_cron(cron):
    with pytest.raises(InferloopError, match="cron"):
        nl.check_cron(cron)


# --- transform, expectations, advice ------------------------------------------------------------------------

def test_transform_spec_checked_and_applied():
    spec = tf.check({"filter": "total > 10", "derive": {"double": "total * 2"}, "rename": {"total": "amount"},
                     "select": ["id", "amount", "double"]})
    out = tf.dry_run(pl.DataFrame({"id": [1, 2, 3], "total": [5, 20, 30]}), spec)
    assert out.to_dicts() == [{"id": 2, "amount": 20, "double": 40}, {"id": 3, "amount": 30, "double": 60}]
    agg = tf.dry_run(pl.DataFrame({"r": ["a", "a", "b"], "v": [1, 2, 3]}),
                     tf.check({"aggregate": {"group_by": ["r"], "aggregations": {"s": "sum(v)"}}}))
    assert agg.sort("r").to_dicts() == [{"r": "a", "s": 3}, {"r": "b", "s": 3}]
    for bad in ({"colour": 1}, {"filter": "DROP TABLE x"}, {"cast": {"a": "money"}}, {"derive": {"x": "((("}}):
        with pytest.raises(InferloopError):
            tf.check(bad)
    with pytest.raises(InferloopError, match="does not apply"):
        tf.dry_run(pl.DataFrame({"a": [1]}), tf.check({"select": ["missing"]}))


def test_expectations_run_with_great_expectations_per_chunk():
    import pandas as pd
    import pyarrow as pa

    exps = va.check([{"expectation": "not_null", "column": "a"},
                     {"expectation": "expect_column_values_to_be_between", "column": "a", "min": 0, "max": 10},
                     {"expectation": "in_set", "column": "s", "values": ["x", "y"]}])
    v = va.ChunkValidator(exps)
    v.validate(pa.RecordBatch.from_pandas(pd.DataFrame({"a": [1, 2, None], "s": ["x", "y", "x"]})))
    v.validate(pa.RecordBatch.from_pandas(pd.DataFrame({"a": [11, 2, 3], "s": ["x", "z", "y"]})))
    res = {r["expectation"]: r for r in v.result()}
    assert not res["not_null"]["success"] and res["not_null"]["unexpected_count"] == 1
    assert not res["between"]["success"] and res["between"]["unexpected_count"] == 1
    assert not res["in_set"]["success"] and res["in_set"]["unexpected_count"] == 1
    with pytest.raises(InferloopError):
        va.check([{"expectation": "be_nice"}])


def test_storage_advice_rules():
    out = advice.recommend({"size_gb": 100, "growth_rate": "10GB/month", "access_pattern": "write_heavy",
                            "query_types": ["analytical", "time_series"]})
    assert out["primary"]["storage"] in ("timescaledb", "clickhouse")
    assert out["projections"]["size_gb_in_12_months"] == 220
    for bad in ({"size_gb": -1}, {"size_gb": 1, "growth_rate": "fast"}, {"size_gb": 1, "access_pattern": "x"},
                {"size_gb": 1, "query_types": ["magic"]}):
        with pytest.raises(InferloopError):
            advice.recommend(bad)


# --- credentials and logins ---------------------------------------------------------------------------------

def test_credentials_encrypted_with_a_0600_key_file(tmp_path):
    from inferloop.core.settings import Settings
    from tasks.etl import secrets

    s = Settings(home=tmp_path)
    token = secrets.encrypt({"password": "s3cret!"}, s)
    assert "s3cret" not in token
    assert secrets.decrypt(token, s) == {"password": "s3cret!"}
    key = tmp_path / secrets.KEY_FILE
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600


def test_password_hashing():
    from inferloop.core import logins

    h = logins.hash_password("correct horse")
    assert h.startswith("scrypt$") and "correct" not in h
    assert logins.verify_password("correct horse", h) and not logins.verify_password("wrong", h)


def test_connector_config_checks(tmp_path):
    with pytest.raises(InferloopError, match="unknown configuration"):
        conns.normalize_config("postgresql", {"host": "h", "database": "d", "colour": 1}, {})
    with pytest.raises(InferloopError, match="port"):
        conns.normalize_config("mysql", {"host": "h", "database": "d", "port": 70000}, {})
    config, secrets = conns.normalize_config("postgresql", {"host": "h", "database": "d", "password": "pw"}, {})
    assert "password" not in config and secrets == {"password": "pw"}
    assert conns.masked("postgresql", config, secrets)["credentials_set"] == ["password"]
    with pytest.raises(InferloopError, match="not allowed|allowed roots"):
        conns.normalize_config("sqlite", {"path": str(tmp_path / "x.db")}, {})


# --- real reads and writes ------------------------------------------------------------------------------------

def run_steps(src, dst, sql, table, tmp, mode="replace", spec=None, exps=None, chunk=150):
    ex = extract.fn(src, sql, f"{tmp}/ex", chunk)
    tr = tf.transform.fn(ex["parts"], tf.check(spec), f"{tmp}/tr", chunk)
    v = va.validate.fn(tr["parts"], va.check(exps), tr["rows"], chunk)
    ld = load.fn(dst, tr["parts"], table, mode, chunk)
    return ex, tr, v, ld


def make(ctype, config, tmp_path=None):
    from inferloop.core.settings import get_settings

    s = get_settings().model_copy(update={"allowed_roots": str(tmp_path)}) if tmp_path else get_settings()
    return conns.make(ctype, *conns.normalize_config(ctype, config, {}, s), s)


def test_postgres_to_mariadb_and_back_in_chunks(tmp_path):
    with pg_schema() as schema, my_database() as mydb:
        pg = make("postgresql", pg_config(schema))
        my = make("mysql", my_config(mydb))
        assert pg.test()["tables"] == 3 and my.test()["server_version"].startswith("MariaDB")
        ex, tr, v, ld = run_steps(pg, my, 'SELECT * FROM "orders"', "orders_copy", tmp_path,
                                  spec={"derive": {"total_x2": "total * 2"}},
                                  exps=[{"expectation": "unique", "column": "id"}, {"expectation": "not_null",
                                                                                    "column": "id"}])
        assert ex["rows"] == tr["rows"] == ld["rows"] == ORDERS and len(ex["parts"]) == 3  # 400 rows / 150
        assert v["status"] == "passed"
        assert my_query(mydb, "SELECT count(*), sum(total_x2) = 2 * sum(total) FROM orders_copy") == ((ORDERS, 1),)
        # replace again: still ORDERS rows (swapped in), then append doubles them
        load.fn(my, tr["parts"], "orders_copy", "replace", 1000)
        load.fn(my, tr["parts"], "orders_copy", "append", 1000)
        assert my_query(mydb, "SELECT count(*) FROM orders_copy")[0][0] == 2 * ORDERS
        # and back into PostgreSQL (COPY through ADBC), nulls and decimals intact
        ex2, _, _, ld2 = run_steps(my, pg, "SELECT * FROM orders_copy", "orders_back", tmp_path / "b",
                                   chunk=500)
        assert ld2["rows"] == 2 * ORDERS == pg_count(schema, "orders_back")
        assert pg_count(schema, "orders_back", "WHERE total_x2 = 2 * total") == 2 * ORDERS


def test_empty_result_still_creates_the_table(tmp_path):
    with pg_schema() as schema, my_database() as mydb:
        pg = make("postgresql", pg_config(schema))
        my = make("mysql", my_config(mydb))
        *_, ld = run_steps(pg, my, "SELECT * FROM orders WHERE id < 0", "nothing", tmp_path)
        assert ld["rows"] == 0 and my_query(mydb, "SELECT count(*) FROM nothing") == ((0,),)


def test_files_and_sqlite(tmp_path):
    data = pl.DataFrame({"id": list(range(1, 301)), "city": ["Oslo", "Rome", None] * 100,
                         "amount": [i * 0.5 for i in range(300)]})
    folder = tmp_path / "files"
    folder.mkdir()
    data.write_csv(folder / "sales.csv")
    data.write_parquet(folder / "sales_pq.parquet")
    csv = make("csv", {"url": str(folder)}, tmp_path)
    pq = make("parquet", {"url": str(folder)}, tmp_path)
    assert set(csv.schema()) == {"sales"} and set(pq.schema()) == {"sales_pq"}
    db_path = tmp_path / "out.db"
    sqlite3.connect(db_path).close()
    lite = make("sqlite", {"path": str(db_path)}, tmp_path)
    *_, ld = run_steps(csv, lite, 'SELECT * FROM "sales" WHERE "amount" >= 10', "sales", tmp_path / "a")
    assert ld["rows"] == 280 and lite.count("sales") == 280
    *_, ld = run_steps(pq, make("parquet", {"url": str(tmp_path / "out")}, tmp_path), "SELECT * FROM sales_pq",
                       "copy", tmp_path / "b")
    assert pl.read_parquet(tmp_path / "out" / "copy.parquet").equals(data)
    with pytest.raises(InferloopError, match="load_mode"):
        csv.writer("x", "append")


def test_unreachable_and_wrong_credentials_are_400():
    bad_port = make("postgresql", {"host": "127.0.0.1", "port": 1, "database": "test"})
    with pytest.raises(InferloopError) as e:
        bad_port.test()
    assert e.value.code == "INVALID_REQUEST" and "cannot connect" in e.value.message
    from tests.etl.etl_data import need_mysql

    need_mysql()
    wrong = conns.make("mysql", *conns.normalize_config("mysql", {"host": "127.0.0.1", "database": "test"},
                                                        {"password": "definitely-wrong"}))
    with pytest.raises(InferloopError, match="Access denied"):
        wrong.test()


def test_stage_roundtrip(tmp_path):
    import pyarrow as pa

    batches = [pa.RecordBatch.from_pylist([{"a": i} for i in range(k, k + 10)]) for k in (0, 10)]
    uris, rows, schema = stage.write_parts(iter(batches), str(tmp_path / "s"))
    assert rows == 20 and len(uris) == 2 and schema.names == ["a"]
    assert sum(b.num_rows for b in stage.iter_batches(uris, 7)) == 20
    assert stage.scan(uris).select(pl.col("a").sum()).collect().item() == sum(range(20))


def test_a_scheduled_run_registers_its_job_once():
    """Runs made by the Prefect scheduler become jobs (webhooks, listings) when they start."""
    from inferloop.core import db
    from inferloop.core.settings import get_settings
    from tasks.etl import store

    db.migrate(get_settings().database)
    pipe = store.add_pipeline(store.EtlPipeline(id=store.new_id("pipe"), owner="owner-x", name="p",
                                                created_at=db.utcnow(), updated_at=db.utcnow()))
    flow_run_id = str(__import__("uuid").uuid4())
    job_id = store.ensure_run_job(flow_run_id, pipe.id)
    assert job_id and store.ensure_run_job(flow_run_id, pipe.id) == job_id
    (job,) = store.run_jobs("owner-x", pipe.id)
    assert job.kind == "etl_run" and job.options["trigger"] == "schedule" and job.flow_run_id == flow_run_id
    assert store.ensure_run_job(flow_run_id + "x", "pipe_unknown") is None
