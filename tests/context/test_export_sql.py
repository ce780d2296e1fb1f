"""The SQL export loads into the real servers (PostgreSQL, MariaDB) and into sqlite3; values round-trip.

Each test skips, saying why, when its server is not reachable. Tables and columns named with reserved words
("group", "order", "select", "desc") check identifier quoting; one value holds quotes, a backslash, a
newline, a semicolon, a comment marker, '%s' and non-ASCII text.
"""

from __future__ import annotations

import sqlite3
import uuid

import polars as pl
import pytest

from tasks.context.export import export_tables
from tasks.context.generate import generate_tables
from tasks.context.plan import plan_corpus
from tasks.context.spec import normalize_spec

TRICKY = "O'Brien \"quoted\" back\\slash; -- not a comment\nnew line %s 50% ünïcødé 日本 😀"
SPEC = normalize_spec({
    "domain": "general",
    "schemas": [
        {"name": "group", "volume": 100, "fields": [
            {"name": "select", "type": "STRING", "faker": "word"}, {"name": "desc", "type": "TEXT", "required": False},
            {"name": "founded", "type": "DATE"}, {"name": "active", "type": "BOOLEAN"}]},
        {"name": "order", "volume": 400, "fields": [
            {"name": "date", "type": "DATETIME"}, {"name": "value", "type": "DECIMAL", "min": 1, "max": 99},
            {"name": "qty", "type": "INTEGER", "min": 1, "max": 5}, {"name": "ratio", "type": "FLOAT"}]}],
    "relationships": [{"parent": "group", "child": "order", "role": "owner", "min_children": 1,
                       "mean_children": 4}],
})


@pytest.fixture(scope="module")
def parts(tmp_path_factory) -> tuple[dict[str, list[str]], dict[str, int]]:
    out = tmp_path_factory.mktemp("sqlparts")
    plan = plan_corpus(SPEC, 2500, 1000, 100_000, 20)
    files: dict[str, list[str]] = {"group": [], "order": []}
    for b, (counts, offsets) in enumerate(zip(plan["batches"], plan["offsets"])):
        frames = generate_tables(SPEC, counts, offsets, plan["totals"], 21, b)
        if b == 0:
            frames["group"] = frames["group"].with_columns(
                pl.when(pl.int_range(pl.len()) == 0).then(pl.lit(TRICKY)).otherwise(pl.col("select").cast(pl.String))
                .alias("select"))
        for name, df in frames.items():
            p = out / f"{name}-{b}.parquet"
            df.write_parquet(p)
            files[name].append(str(p))
    return files, plan["totals"]


def export(parts, tmp_path, dialect: str) -> dict:
    files, _ = parts
    return export_tables(SPEC, files, "sql", {"sql_dialect": dialect, "rows_per_insert": 300}, str(tmp_path / dialect))


def check(counts: dict[str, int], totals: dict[str, int], tricky: str | None) -> None:
    assert counts == totals
    assert tricky == TRICKY


def test_sqlite(parts, tmp_path):
    result = export(parts, tmp_path, "sqlite")
    db = sqlite3.connect(":memory:")
    for name in result["load_order"]:  # the per-schema files, parents first
        db.executescript(open(result["files"][name]["uri"], encoding="utf-8").read())
    counts = {t: db.execute(f'select count(*) from "{t}"').fetchone()[0] for t in ("group", "order")}
    tricky = db.execute('select "select" from "group" where "select" like ?', ("O'Brien%",)).fetchone()[0]
    check(counts, parts[1], tricky)
    assert db.execute('PRAGMA foreign_key_check("order")').fetchall() == []
    db2 = sqlite3.connect(":memory:")
    db2.executescript(open(result["files"]["_all"]["uri"], encoding="utf-8").read())
    assert db2.execute('select count(*) from "order"').fetchone()[0] == parts[1]["order"]


def test_postgresql(parts, tmp_path):
    psycopg = pytest.importorskip("psycopg")
    try:
        conn = psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True, connect_timeout=3)
    except Exception as exc:
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 (db test) is not reachable: {exc}")
    schema = f"ctx_{uuid.uuid4().hex[:8]}"
    result = export(parts, tmp_path, "postgresql")
    with conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        try:
            conn.execute(f'SET search_path TO "{schema}"')
            conn.execute(open(result["files"]["_all"]["uri"], encoding="utf-8").read())
            counts = {t: conn.execute(f'select count(*) from "{t}"').fetchone()[0] for t in ("group", "order")}
            tricky = conn.execute('select "select" from "group" where "select" like %s', ("O'Brien%",)).fetchone()[0]
            check(counts, parts[1], tricky)
            kinds = dict(conn.execute("select column_name, data_type from information_schema.columns where "
                                      "table_schema = %s and table_name = 'order'", (schema,)).fetchall())
            assert kinds["value"] == "numeric" and kinds["date"].startswith("timestamp") and kinds["qty"] == "bigint"
            orphans = conn.execute('select count(*) from "order" o left join "group" g on o.group_id = g.id '
                                   'where g.id is null').fetchone()[0]
            assert orphans == 0
        finally:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def test_mariadb(parts, tmp_path):
    pymysql = pytest.importorskip("pymysql")
    try:
        conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", charset="utf8mb4", connect_timeout=3,
                               client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS, autocommit=True)
    except Exception as exc:
        pytest.skip(f"MariaDB/MySQL at 127.0.0.1:3306 (root) is not reachable: {exc}")
    database = f"ctx_{uuid.uuid4().hex[:8]}"
    result = export(parts, tmp_path, "mysql")
    cur = conn.cursor()
    cur.execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
    try:
        cur.execute(f"USE `{database}`")
        for name in result["load_order"]:
            cur.execute(open(result["files"][name]["uri"], encoding="utf-8").read())
            while cur.nextset():
                pass
        counts = {}
        for t in ("group", "order"):
            cur.execute(f"select count(*) from `{t}`")
            counts[t] = cur.fetchone()[0]
        cur.execute("select `select` from `group` where `select` like %s", ("O'Brien%",))
        check(counts, parts[1], cur.fetchone()[0])
        cur.execute("select count(*) from `order` o left join `group` g on o.group_id = g.id where g.id is null")
        assert cur.fetchone()[0] == 0
    finally:
        cur.execute(f"DROP DATABASE `{database}`")
        conn.close()
