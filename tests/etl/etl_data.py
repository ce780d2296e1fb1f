"""Throw-away source and target databases for the ETL tests: a fresh PostgreSQL schema and a fresh MariaDB
database per use (dropped afterwards), small shop data in them, and the reasons to skip where a server is
absent."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import uuid

import pytest

PG = {"host": os.environ.get("ETL_TEST_PG_HOST", "127.0.0.1"), "port": int(os.environ.get("ETL_TEST_PG_PORT", 5432)),
      "database": os.environ.get("ETL_TEST_PG_DB", "test"), "user": "postgres"}
MY = {"host": os.environ.get("ETL_TEST_MY_HOST", "127.0.0.1"), "port": int(os.environ.get("ETL_TEST_MY_PORT", 3306)),
      "user": "root"}
CUSTOMERS, ORDERS, ITEMS_PER_ORDER = 50, 400, 2
REGIONS = ("EU", "US", "APAC")
STATUSES = ("paid", "open", "shipped")


def pg_reason() -> str | None:
    import psycopg

    try:
        with psycopg.connect(host=PG["host"], port=PG["port"], dbname=PG["database"], user=PG["user"],
                             connect_timeout=3):
            return None
    except Exception as exc:
        return f"PostgreSQL at {PG['host']}:{PG['port']}/{PG['database']} is not reachable: {str(exc).splitlines()[0]}"


def my_reason() -> str | None:
    import pymysql

    try:
        pymysql.connect(host=MY["host"], port=MY["port"], user=MY["user"], connect_timeout=3).close()
        return None
    except Exception as exc:
        return f"MariaDB/MySQL at {MY['host']}:{MY['port']} is not reachable: {exc}"


def need_pg() -> None:
    reason = pg_reason()
    if reason:
        pytest.skip(reason)


def need_mysql() -> None:
    reason = my_reason()
    if reason:
        pytest.skip(reason)


def shop_rows():
    base = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    customers = [(i, f"Customer {i}", f"c{i}@example.com", REGIONS[i % 3], base - dt.timedelta(days=400 - i))
                 for i in range(1, CUSTOMERS + 1)]
    orders = [(i, 1 + i % CUSTOMERS, STATUSES[i % 3], round(10 + (i % 97) * 1.5, 2), base - dt.timedelta(days=i % 90))
              for i in range(1, ORDERS + 1)]
    items = [(k, o, round(1 + (k % 13) * 2.25, 2), f"product-{k % 7}")
             for k, o in enumerate((o for o in range(1, ORDERS + 1) for _ in range(ITEMS_PER_ORDER)), start=1)]
    return customers, orders, items


@contextlib.contextmanager
def pg_schema(with_data: bool = True):
    """A fresh schema with customers, orders, order_items; dropped on exit."""
    import psycopg

    need_pg()
    name = f"etl_test_{uuid.uuid4().hex[:10]}"
    conn = psycopg.connect(host=PG["host"], port=PG["port"], dbname=PG["database"], user=PG["user"], autocommit=True)
    try:
        conn.execute(f'CREATE SCHEMA "{name}"')
        if with_data:
            customers, orders, items = shop_rows()
            conn.execute(f'SET search_path = "{name}"')
            conn.execute("CREATE TABLE customers (id integer PRIMARY KEY, name text NOT NULL, "
                         "email varchar(255) UNIQUE, region text, created_at timestamptz)")
            conn.execute("CREATE TABLE orders (id integer PRIMARY KEY, customer_id integer, status text, "
                         "total numeric(10,2), created_at timestamptz)")
            conn.execute("CREATE TABLE order_items (id integer PRIMARY KEY, order_id integer, amount numeric(10,2), "
                         "product text)")
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO customers VALUES (%s, %s, %s, %s, %s)", customers)
                cur.executemany("INSERT INTO orders VALUES (%s, %s, %s, %s, %s)", orders)
                cur.executemany("INSERT INTO order_items VALUES (%s, %s, %s, %s)", items)
        yield name
    finally:
        with contextlib.suppress(Exception):
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        conn.close()


@contextlib.contextmanager
def my_database():
    """A fresh MariaDB database; dropped on exit."""
    import pymysql

    need_mysql()
    name = f"etl_test_{uuid.uuid4().hex[:10]}"
    conn = pymysql.connect(host=MY["host"], port=MY["port"], user=MY["user"], autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}`")
        yield name
    finally:
        with contextlib.suppress(Exception), conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


def pg_count(schema: str, table: str, where: str = "") -> int:
    import psycopg

    with psycopg.connect(host=PG["host"], port=PG["port"], dbname=PG["database"], user=PG["user"]) as conn:
        return conn.execute(f'SELECT count(*) FROM "{schema}"."{table}" {where}').fetchone()[0]


def my_query(database: str, sql: str):
    import pymysql

    conn = pymysql.connect(host=MY["host"], port=MY["port"], user=MY["user"], database=database)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    finally:
        conn.close()


def pg_config(schema: str) -> dict:
    return {"host": PG["host"], "port": PG["port"], "database": PG["database"], "user": PG["user"], "schema": schema}


def my_config(database: str) -> dict:
    return {"host": MY["host"], "port": MY["port"], "user": MY["user"], "database": database, "flavor": "mariadb"}
