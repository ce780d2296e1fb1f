"""Connectors that really work here: PostgreSQL, MySQL/MariaDB, SQLite, CSV/Parquet files (local or s3://).

Every connector reads a query as a stream of Arrow record batches and writes Arrow batches into a table, in
chunks (constant memory):

- PostgreSQL: read with ADBC (binary COPY into Arrow), write with ADBC ingest (COPY); catalog through psycopg.
- MySQL/MariaDB: read with PyMySQL's unbuffered cursor, write with LOAD DATA LOCAL INFILE of a CSV per chunk
  written by polars (falls back to multi-row INSERTs where the server refuses LOCAL INFILE).
- SQLite: sqlite3.
- CSV/Parquet: polars lazy scans (SQL through polars' SQLContext, streamed in batches); s3:// through polars'
  object store / fsspec (s3fs) with the connector's endpoint and keys.

Errors a person can fix (unreachable host, wrong password, unknown table) are INVALID_REQUEST with the field.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from inferloop.core.errors import InferloopError
from inferloop.core.settings import Settings, get_settings

IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")
TYPES = ("postgresql", "mysql", "sqlite", "csv", "parquet")
ALIASES = {"postgres": "postgresql", "postgresql": "postgresql", "pg": "postgresql", "psql": "postgresql",
           "mysql": "mysql", "mariadb": "mysql", "sqlite": "sqlite", "sqlite3": "sqlite", "csv": "csv",
           "parquet": "parquet"}
DIALECT = {"postgresql": "postgres", "mysql": "mysql", "sqlite": "sqlite", "csv": "postgres", "parquet": "postgres"}
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


def invalid(message: str, field: str | None = None) -> InferloopError:
    return InferloopError("INVALID_REQUEST", message, field)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


def check_ident(name: str, field: str) -> str:
    if not isinstance(name, str) or not IDENT.match(name):
        raise invalid(f"{field} must be a name of letters, digits and '_' (starting with a letter or '_'), "
                      f"got {name!r}", field)
    return name


def canonical_type(value: str, field: str = "type") -> str:
    t = ALIASES.get(str(value or "").strip().lower())
    if t is None:
        raise invalid(f"unsupported connector type {value!r}; supported: postgresql, mysql (mariadb), sqlite, "
                      "csv, parquet (files: local or s3://)", field)
    return t


# --- configuration ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Spec:
    """What a connector type takes: configuration fields (with defaults) and secret fields."""

    required: tuple[str, ...]
    defaults: dict[str, Any]
    secrets: tuple[str, ...] = ()


SPECS: dict[str, Spec] = {
    "postgresql": Spec(("host", "database"), {"port": 5432, "schema": "public", "user": "postgres",
                                              "ssl_mode": "prefer"}, ("password",)),
    "mysql": Spec(("host", "database"), {"port": 3306, "user": "root", "flavor": "mysql"}, ("password",)),
    "sqlite": Spec(("path",), {}),
    "csv": Spec(("url",), {"endpoint_url": None, "region": None, "delimiter": ","},
                ("aws_access_key_id", "aws_secret_access_key")),
    "parquet": Spec(("url",), {"endpoint_url": None, "region": None},
                    ("aws_access_key_id", "aws_secret_access_key")),
}


def normalize_config(ctype: str, configuration: dict | None, credentials: dict | None,
                     settings: Settings | None = None) -> tuple[dict, dict]:
    """(configuration, secrets) checked against the type's fields; secrets may also come in configuration."""
    settings = settings or get_settings()
    spec = SPECS[ctype]
    conf = dict(configuration or {})
    secrets = {k: v for k, v in dict(credentials or {}).items() if v not in (None, "")}
    for k in spec.secrets:
        if k in conf:
            value = conf.pop(k)
            if value not in (None, ""):
                secrets[k] = value
    unknown = sorted(set(conf) - set(spec.required) - set(spec.defaults))
    if unknown:
        allowed = ", ".join((*spec.required, *spec.defaults))
        raise invalid(f"unknown configuration field(s) for {ctype}: {', '.join(unknown)}; allowed: {allowed}",
                      f"configuration.{unknown[0]}")
    bad_secret = sorted(set(secrets) - set(spec.secrets))
    if bad_secret:
        raise invalid(f"unknown credential field(s) for {ctype}: {', '.join(bad_secret)}"
                      + (f"; allowed: {', '.join(spec.secrets)}" if spec.secrets else " (it takes none)"),
                      f"credentials.{bad_secret[0]}")
    for k, v in secrets.items():
        if not isinstance(v, str) or len(v) > 1024:
            raise invalid(f"credentials.{k} must be a string of at most 1024 characters", f"credentials.{k}")
    out = {**spec.defaults, **{k: v for k, v in conf.items() if v is not None}}
    for k in spec.required:
        if out.get(k) in (None, ""):
            raise invalid(f"configuration.{k} is required for a {ctype} connector", f"configuration.{k}")
    if ctype in ("postgresql", "mysql"):
        out["host"] = _text(out["host"], "configuration.host", 255)
        if not re.match(r"^[A-Za-z0-9_.:\-\[\]]+$", out["host"]):
            raise invalid(f"configuration.host {out['host']!r} is not a host name or address", "configuration.host")
        out["database"] = _text(out["database"], "configuration.database", 128)
        out["user"] = _text(out["user"], "configuration.user", 128)
        port = out["port"]
        if isinstance(port, bool) or not isinstance(port, (int, str)) or not str(port).isdigit() \
                or not 1 <= int(port) <= 65535:
            raise invalid(f"configuration.port must be 1-65535, got {port!r}", "configuration.port")
        out["port"] = int(port)
    if ctype == "postgresql":
        out["schema"] = check_ident(out["schema"], "configuration.schema")
        if out["ssl_mode"] not in SSL_MODES:
            raise invalid(f"configuration.ssl_mode must be one of {', '.join(SSL_MODES)}", "configuration.ssl_mode")
    if ctype == "mysql" and out["flavor"] not in ("mysql", "mariadb"):
        raise invalid("configuration.flavor must be mysql or mariadb", "configuration.flavor")
    if ctype == "sqlite":
        out["path"] = _local_path(out["path"], settings, "configuration.path")
    if ctype in ("csv", "parquet"):
        url = _text(out["url"], "configuration.url", 1024)
        if url.startswith("s3://"):
            parsed = urlparse(url)
            if not parsed.netloc:
                raise invalid("configuration.url must look like s3://bucket/prefix", "configuration.url")
            out["url"] = url.rstrip("/")
        elif "://" in url:
            raise invalid("configuration.url must be a local path or an s3:// URL", "configuration.url")
        else:
            out["url"] = _local_path(url, settings, "configuration.url")
        if ctype == "csv" and (not isinstance(out["delimiter"], str) or len(out["delimiter"]) != 1):
            raise invalid("configuration.delimiter must be one character", "configuration.delimiter")
    return out, secrets


def _text(value: Any, field: str, max_len: int) -> str:
    if not isinstance(value, (str, int)) or isinstance(value, bool) or not str(value).strip() \
            or len(str(value)) > max_len:
        raise invalid(f"{field} must be a non-empty string of at most {max_len} characters", field)
    return str(value).strip()


def _local_path(path: str, settings: Settings, field: str) -> str:
    from inferloop.core.sources import check_local_path

    return check_local_path(_text(path, field, 1024), settings, field)


def masked(ctype: str, config: dict, secrets: dict) -> dict:
    """The configuration as the API shows it: never a secret, only which ones are set."""
    return {**config, "credentials_set": sorted(k for k in SPECS[ctype].secrets if secrets.get(k))}


# --- the connectors -----------------------------------------------------------------------------------

@dataclass
class Column:
    name: str
    type: str
    nullable: bool = True


@dataclass
class Connector:
    """A connector of one type: configuration + secrets (already decrypted) + time limits."""

    type: str
    config: dict
    secrets: dict = field(default_factory=dict, repr=False)  # never in a repr, log line or error
    connect_timeout: float = 5.0
    query_timeout: float = 30.0

    @property
    def dialect(self) -> str:
        return DIALECT[self.type]

    @property
    def label(self) -> str:
        c = self.config
        if self.type in ("postgresql", "mysql"):
            return f"{'MariaDB' if c.get('flavor') == 'mariadb' else 'MySQL' if self.type == 'mysql' else 'PostgreSQL'}" \
                   f" at {c['host']}:{c['port']}/{c['database']}"
        return f"{self.type} at {c.get('path') or c.get('url')}"

    # the interface every type implements
    def test(self) -> dict:
        raise NotImplementedError

    def schema(self) -> dict[str, list[Column]]:
        raise NotImplementedError

    def read_batches(self, sql: str, batch_rows: int, timeout: bool = False) -> Iterator[pa.RecordBatch]:
        raise NotImplementedError

    def count(self, table: str) -> int:
        raise NotImplementedError

    def size_bytes(self, table: str) -> int | None:
        return None

    def unique_columns(self, table: str) -> set[str]:
        return set()

    def writer(self, table: str, mode: str) -> "Writer":
        raise NotImplementedError

    # shared helpers
    def sqlglot_schema(self) -> dict[str, dict[str, str]]:
        return {t: {c.name: _sqlglot_type(c.type) for c in cols} for t, cols in self.schema().items()}

    def columns(self, table: str, field: str = "table") -> list[Column]:
        schema = self.schema()
        if table not in schema:
            known = ", ".join(sorted(schema)[:50]) or "(none)"
            raise invalid(f"table '{table}' does not exist in {self.label}; tables: {known}", field)
        return schema[table]

    def quote(self, name: str) -> str:
        import sqlglot.expressions as exp

        return exp.to_identifier(name, quoted=True).sql(self.dialect)

    def select_sql(self, table: str, limit: int | None = None) -> str:
        import sqlglot.expressions as exp

        q = exp.select("*").from_(exp.Table(this=exp.to_identifier(table, quoted=True)))
        if limit is not None:
            q = q.limit(int(limit))
        return q.sql(self.dialect)

    def read_table(self, sql: str, max_rows: int) -> pa.Table:
        """At most max_rows rows of a query, as one Arrow table (previews, profiles)."""
        batches, n = [], 0
        for b in self.read_batches(sql, min(max_rows, 50_000), timeout=True):
            batches.append(b.slice(0, max_rows - n))
            n += batches[-1].num_rows
            if n >= max_rows:
                break
        if not batches:
            return pa.table({})
        return pa.Table.from_batches(batches).cast(unify_schema([b.schema for b in batches]))

    def estimate(self, sql: str) -> tuple[int | None, float | None]:
        """(rows, milliseconds) of a SELECT, measured by running it once within the query time limit."""
        started = time.perf_counter()
        n = 0
        try:
            for b in self.read_batches(sql, 50_000, timeout=True):
                n += b.num_rows
                if time.perf_counter() - started > self.query_timeout:
                    return None, None
        except InferloopError:
            return None, None
        return n, round((time.perf_counter() - started) * 1000, 1)


def _sqlglot_type(t: str) -> str:
    t = t.lower()
    for key, out in (("int", "BIGINT"), ("serial", "BIGINT"), ("bool", "BOOLEAN"), ("double", "DOUBLE"),
                     ("float", "DOUBLE"), ("real", "DOUBLE"), ("numeric", "DECIMAL"), ("decimal", "DECIMAL"),
                     ("timestamp", "TIMESTAMP"), ("datetime", "TIMESTAMP"), ("date", "DATE"), ("time", "TIME")):
        if key in t:
            return out
    return "TEXT"


def unify_schema(schemas: list[pa.Schema]) -> pa.Schema:
    """One schema for batches whose inferred types differ (a column all-null in one batch)."""
    first = schemas[0]
    fields = []
    for i, f in enumerate(first):
        t = f.type
        for s in schemas[1:]:
            other = s.field(i).type
            if pa.types.is_null(t):
                t = other
            elif not pa.types.is_null(other) and other != t:
                t = pa.string() if not (pa.types.is_integer(t) and pa.types.is_floating(other)) else other
        fields.append(pa.field(f.name, t))
    return pa.schema(fields)


def plain_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Portable Arrow types: string views/large strings -> string, dictionaries -> values, extension types
    (PostgreSQL numeric, json, uuid) -> decimal / string."""
    cols, names = [], []
    for f, col in zip(batch.schema, batch.columns):
        cols.append(_plain_array(f, col))
        names.append(f.name)
    return pa.RecordBatch.from_arrays(cols, names=names)


def _plain_array(f: pa.Field, col: pa.Array) -> pa.Array:
    t = col.type
    if isinstance(t, pa.BaseExtensionType):
        storage = col.storage
        meta = {k.decode(): v.decode() for k, v in (f.metadata or {}).items()}
        if meta.get("POSTGRESQL:type") == "numeric" and pa.types.is_string(storage.type):
            return _numeric(storage, int(meta.get("POSTGRESQL:typmod", "-1")))
        if pa.types.is_fixed_size_binary(storage.type) and storage.type.byte_width == 16:  # uuid
            return pa.array([None if v is None else str(uuid.UUID(bytes=v)) for v in storage.to_pylist()],
                            pa.string())
        return _plain_array(pa.field(f.name, storage.type), storage)
    if pa.types.is_dictionary(t):
        return _plain_array(pa.field(f.name, t.value_type), col.dictionary_decode())
    if t == pa.string_view() or pa.types.is_large_string(t):
        return col.cast(pa.string())
    if pa.types.is_large_binary(t) or t == pa.binary_view():
        return col.cast(pa.binary())
    if pa.types.is_interval(t):
        return pa.array([None if v is None else f"{v.months} mons {v.days} days {v.nanoseconds} ns"
                         for v in col.to_pylist()], pa.string())
    return col


def _numeric(storage: pa.Array, typmod: int) -> pa.Array:
    if typmod >= 4:
        precision, scale = ((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0xFFFF
        if 0 < precision <= 38:
            return storage.cast(pa.decimal128(precision, scale))
    return pc.cast(storage, pa.float64())  # unconstrained numeric: float64 (NaN/Infinity kept)


# --- PostgreSQL ---------------------------------------------------------------------------------------

class PostgresConnector(Connector):
    def _kwargs(self) -> dict:
        c = self.config
        return dict(host=c["host"], port=c["port"], dbname=c["database"], user=c["user"],
                    password=self.secrets.get("password") or None, sslmode=c["ssl_mode"],
                    connect_timeout=max(1, int(self.connect_timeout)),
                    options=f"-c search_path={c['schema']}", application_name="inferloop-etl")

    @contextlib.contextmanager
    def connect(self, read_only: bool = True, timeout: bool = True):
        import psycopg

        try:
            conn = psycopg.connect(**self._kwargs())
        except psycopg.Error as exc:
            raise invalid(f"cannot connect to {self.label}: {first_line(exc)}", "source")
        try:
            conn.read_only = read_only
            if timeout:
                conn.execute(f"SET statement_timeout = {int(self.query_timeout * 1000)}")
            yield conn
        finally:
            conn.close()

    def adbc_uri(self) -> str:
        c = self.config
        auth = quote(c["user"], safe="")
        if self.secrets.get("password"):
            auth += ":" + quote(self.secrets["password"], safe="")
        return (f"postgresql://{auth}@{c['host']}:{c['port']}/{quote(c['database'], safe='')}"
                f"?sslmode={c['ssl_mode']}&connect_timeout={max(1, int(self.connect_timeout))}"
                f"&application_name=inferloop-etl&options=-csearch_path%3D{c['schema']}")

    def test(self) -> dict:
        started = time.perf_counter()
        with self.connect() as conn:
            version = conn.execute("SELECT version()").fetchone()[0]
            tables = conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = %s",
                                  (self.config["schema"],)).fetchone()[0]
        return {"server_version": version.split(" on ")[0], "tables": int(tables),
                "latency_ms": round((time.perf_counter() - started) * 1000, 1)}

    def schema(self) -> dict[str, list[Column]]:
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT table_name, column_name, data_type, is_nullable, character_maximum_length "
                "FROM information_schema.columns WHERE table_schema = %s ORDER BY table_name, ordinal_position",
                (self.config["schema"],)).fetchall()
        out: dict[str, list[Column]] = {}
        for table, col, dtype, nullable, length in rows:
            out.setdefault(table, []).append(Column(col, f"{dtype}({length})" if length else dtype,
                                                    nullable == "YES"))
        return out

    def read_batches(self, sql: str, batch_rows: int, timeout: bool = False) -> Iterator[pa.RecordBatch]:
        import adbc_driver_postgresql.dbapi as adbc

        try:
            conn = adbc.connect(self.adbc_uri())
        except Exception as exc:
            raise invalid(f"cannot connect to {self.label}: {first_line(exc)}", "source")
        try:
            with conn.cursor() as cur:
                cur.execute("SET TRANSACTION READ ONLY")
                if timeout:
                    cur.execute(f"SET statement_timeout = {int(self.query_timeout * 1000)}")
                try:
                    cur.execute(sql)
                    reader = cur.fetch_record_batch()
                except Exception as exc:
                    raise invalid(f"the query failed on {self.label}: {first_line(exc)}", "sql")
                n = 0
                for batch in reader:
                    batch = plain_batch(batch)
                    for start in range(0, batch.num_rows, batch_rows):
                        n += 1
                        yield batch.slice(start, batch_rows)
                if n == 0:  # no rows: the (empty) batch still carries the columns
                    yield plain_batch(pa.RecordBatch.from_pylist([], schema=reader.schema))
            conn.rollback()
        finally:
            conn.close()

    def count(self, table: str) -> int:
        with self.connect() as conn:
            return int(conn.execute(f"SELECT count(*) FROM {self.quote(table)}").fetchone()[0])

    def size_bytes(self, table: str) -> int | None:
        with self.connect() as conn:
            row = conn.execute("SELECT pg_total_relation_size(to_regclass(%s))",
                               (f'"{self.config["schema"]}"."{table}"',)).fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def unique_columns(self, table: str) -> set[str]:
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                "AND a.attnum = i.indkey[0] WHERE i.indrelid = to_regclass(%s) AND i.indisunique "
                "AND i.indnatts = 1", (f'"{self.config["schema"]}"."{table}"',)).fetchall()
        return {r[0] for r in rows}

    def estimate(self, sql: str) -> tuple[int | None, float | None]:
        import json as _json

        try:
            with self.connect() as conn:
                plan = conn.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}").fetchone()[0]
        except InferloopError:
            return None, None
        except Exception:
            return None, None
        plan = plan if isinstance(plan, list) else _json.loads(plan)
        top = plan[0]
        return int(top["Plan"].get("Actual Rows", 0)), round(float(top.get("Execution Time", 0.0)), 1)

    def writer(self, table: str, mode: str) -> "Writer":
        return PostgresWriter(self, table, mode)


# --- MySQL / MariaDB ----------------------------------------------------------------------------------

_MYSQL_ARROW = {1: pa.int64(), 2: pa.int64(), 3: pa.int64(), 8: pa.int64(), 9: pa.int64(), 13: pa.int64(),
                4: pa.float32(), 5: pa.float64(), 7: pa.timestamp("us"), 12: pa.timestamp("us"),
                10: pa.date32(), 14: pa.date32(), 11: pa.duration("us"), 15: pa.string(), 253: pa.string(),
                254: pa.string(), 245: pa.string(), 247: pa.string(), 248: pa.string(), 16: pa.binary(),
                255: pa.binary(), 6: pa.string()}


class MySQLConnector(Connector):
    def _connect(self, **extra):
        import pymysql

        c = self.config
        try:
            return pymysql.connect(host=c["host"], port=c["port"], user=c["user"],
                                   password=self.secrets.get("password") or "", database=c["database"],
                                   connect_timeout=max(1, int(self.connect_timeout)), charset="utf8mb4",
                                   autocommit=False, init_command="SET time_zone = '+00:00'", **extra)
        except pymysql.Error as exc:
            raise invalid(f"cannot connect to {self.label}: {first_line(exc)}", "source")

    @contextlib.contextmanager
    def connect(self, read_only: bool = True, timeout: bool = True, **extra):
        conn = self._connect(**extra)
        try:
            with conn.cursor() as cur:
                if timeout:
                    with contextlib.suppress(Exception):  # MariaDB: seconds; MySQL has max_execution_time
                        cur.execute(f"SET SESSION max_statement_time = {float(self.query_timeout)}")
                if read_only:
                    cur.execute("START TRANSACTION READ ONLY")
            yield conn
        finally:
            conn.close()

    def test(self) -> dict:
        started = time.perf_counter()
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT version()")
            version = cur.fetchone()[0]
            cur.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = %s",
                        (self.config["database"],))
            tables = cur.fetchone()[0]
        return {"server_version": ("MariaDB " if "mariadb" in version.lower() else "MySQL ") + version,
                "tables": int(tables), "latency_ms": round((time.perf_counter() - started) * 1000, 1)}

    def schema(self) -> dict[str, list[Column]]:
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT table_name, column_name, column_type, is_nullable FROM information_schema.columns "
                        "WHERE table_schema = %s ORDER BY table_name, ordinal_position", (self.config["database"],))
            rows = cur.fetchall()
        out: dict[str, list[Column]] = {}
        for table, col, ctype, nullable in rows:
            out.setdefault(table, []).append(Column(col, ctype, nullable == "YES"))
        return out

    def read_batches(self, sql: str, batch_rows: int, timeout: bool = False) -> Iterator[pa.RecordBatch]:
        import pymysql
        import pymysql.cursors

        with self.connect(timeout=timeout) as conn:
            cur = conn.cursor(pymysql.cursors.SSCursor)
            try:
                try:
                    cur.execute(sql)
                except pymysql.Error as exc:
                    raise invalid(f"the query failed on {self.label}: {first_line(exc)}", "sql")
                desc = cur.description
                names = [d[0] for d in desc]
                types = [_mysql_type(d) for d in desc]
                n = 0
                while True:
                    rows = cur.fetchmany(batch_rows)
                    if not rows:
                        if n == 0:
                            yield pa.RecordBatch.from_arrays([pa.array([], t or pa.string()) for t in types],
                                                             names=names)
                        break
                    n += 1
                    cols = list(zip(*rows))
                    yield pa.RecordBatch.from_arrays([_mysql_array(c, t) for c, t in zip(cols, types)],
                                                     names=names)
            finally:
                with contextlib.suppress(Exception):
                    cur.close()

    def count(self, table: str) -> int:
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {self.quote(table)}")
            return int(cur.fetchone()[0])

    def size_bytes(self, table: str) -> int | None:
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT data_length + index_length FROM information_schema.tables WHERE table_schema = %s "
                        "AND table_name = %s", (self.config["database"], table))
            row = cur.fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def unique_columns(self, table: str) -> set[str]:
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT index_name, column_name FROM information_schema.statistics WHERE table_schema = %s "
                        "AND table_name = %s AND non_unique = 0", (self.config["database"], table))
            rows = cur.fetchall()
        per_index: dict[str, list[str]] = {}
        for index, col in rows:
            per_index.setdefault(index, []).append(col)
        return {cols[0] for cols in per_index.values() if len(cols) == 1}

    def writer(self, table: str, mode: str) -> "Writer":
        return MySQLWriter(self, table, mode)


def _mysql_type(desc) -> pa.DataType | None:
    code, scale = desc[1], desc[5]
    if code in (0, 246):  # DECIMAL / NEWDECIMAL
        return pa.decimal128(38, min(int(scale or 0), 38))
    return _MYSQL_ARROW.get(code)  # None: inferred from the values (TEXT or BLOB)


def _mysql_array(values: tuple, t: pa.DataType | None) -> pa.Array:
    if t is None:
        arr = pa.array(values)
        return arr if not pa.types.is_null(arr.type) else arr.cast(pa.string())
    if pa.types.is_string(t):
        return pa.array([v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in values], t)
    return pa.array(values, t)


# --- SQLite -------------------------------------------------------------------------------------------

class SQLiteConnector(Connector):
    @contextlib.contextmanager
    def connect(self, read_only: bool = True):
        path = self.config["path"]
        if read_only and not Path(path).is_file():
            raise invalid(f"cannot open {self.label}: no such file", "source")
        uri = f"file:{quote(path)}?mode={'ro' if read_only else 'rwc'}"
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=self.connect_timeout, check_same_thread=False)
        except sqlite3.Error as exc:
            raise invalid(f"cannot open {self.label}: {first_line(exc)}", "source")
        try:
            yield conn
        finally:
            conn.close()

    def test(self) -> dict:
        started = time.perf_counter()
        with self.connect() as conn:
            version = conn.execute("SELECT sqlite_version()").fetchone()[0]
            tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type IN ('table', 'view')").fetchone()[0]
        return {"server_version": f"SQLite {version}", "tables": int(tables),
                "latency_ms": round((time.perf_counter() - started) * 1000, 1)}

    def schema(self) -> dict[str, list[Column]]:
        out: dict[str, list[Column]] = {}
        with self.connect() as conn:
            names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                                                "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
            for name in names:
                out[name] = [Column(r[1], r[2] or "TEXT", not r[3])
                             for r in conn.execute(f"PRAGMA table_info({self.quote(name)})")]
        return out

    def read_batches(self, sql: str, batch_rows: int, timeout: bool = False) -> Iterator[pa.RecordBatch]:
        with self.connect() as conn:
            if timeout:
                deadline = time.monotonic() + self.query_timeout
                conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
            try:
                cur = conn.execute(sql)
            except sqlite3.Error as exc:
                raise invalid(f"the query failed on {self.label}: {first_line(exc)}", "sql")
            names = [d[0] for d in cur.description]
            schema = None
            while True:
                rows = cur.fetchmany(batch_rows)
                if not rows:
                    if schema is None:
                        yield pa.RecordBatch.from_arrays([pa.array([], pa.string()) for _ in names], names=names)
                    break
                batch = pa.RecordBatch.from_pylist([dict(zip(names, r)) for r in rows])
                schema = batch.schema if schema is None else unify_schema([schema, batch.schema])
                yield batch.cast(schema) if batch.schema != schema else batch

    def count(self, table: str) -> int:
        with self.connect() as conn:
            return int(conn.execute(f"SELECT count(*) FROM {self.quote(table)}").fetchone()[0])

    def size_bytes(self, table: str) -> int | None:
        return os.path.getsize(self.config["path"]) if os.path.exists(self.config["path"]) else None

    def writer(self, table: str, mode: str) -> "Writer":
        return SQLiteWriter(self, table, mode)


# --- files: CSV / Parquet, local or s3:// ---------------------------------------------------------------

class FileConnector(Connector):
    @property
    def ext(self) -> str:
        return ".csv" if self.type == "csv" else ".parquet"

    @property
    def is_s3(self) -> bool:
        return self.config["url"].startswith("s3://")

    def storage_options(self) -> dict[str, str] | None:
        if not self.is_s3:
            return None
        c, s = self.config, self.secrets
        opts = {"aws_endpoint_url": c.get("endpoint_url") or os.environ.get("AWS_ENDPOINT_URL"),
                "aws_region": c.get("region") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
                "aws_access_key_id": s.get("aws_access_key_id") or os.environ.get("AWS_ACCESS_KEY_ID"),
                "aws_secret_access_key": s.get("aws_secret_access_key") or os.environ.get("AWS_SECRET_ACCESS_KEY")}
        if (opts["aws_endpoint_url"] or "").startswith("http://"):
            opts["aws_allow_http"] = "true"
        return {k: v for k, v in opts.items() if v}

    def fs(self):
        """The fsspec filesystem of the url (s3fs with the connector's endpoint and keys)."""
        from fsspec.core import url_to_fs

        if not self.is_s3:
            return url_to_fs(self.config["url"])[0]
        import s3fs

        c, s = self.config, self.secrets
        kwargs: dict[str, Any] = {"skip_instance_cache": True}
        if s.get("aws_access_key_id"):
            kwargs.update(key=s["aws_access_key_id"], secret=s.get("aws_secret_access_key"))
        client = {k: v for k, v in (("endpoint_url", c.get("endpoint_url")), ("region_name", c.get("region"))) if v}
        if client:
            kwargs["client_kwargs"] = client
        return s3fs.S3FileSystem(**kwargs)

    def _files(self) -> dict[str, str]:
        """table name -> file URL: the url itself when it is one file, else the files directly in it."""
        url = self.config["url"]
        fs = self.fs()
        try:
            if url.endswith(self.ext) and fs.isfile(url):
                return {_stem(url, self.ext): url}
            if not fs.isdir(url):
                raise invalid(f"cannot read {self.label}: no such file or folder", "source")
            found = fs.ls(url, detail=False)
        except InferloopError:
            raise
        except Exception as exc:
            raise invalid(f"cannot read {self.label}: {first_line(exc)}", "source")
        prefix = "s3://" if self.is_s3 else ""
        return {_stem(p, self.ext): prefix + p.removeprefix("s3://") for p in sorted(found)
                if p.endswith(self.ext) and IDENT.match(_stem(p, self.ext))}

    def scan(self, table: str) -> pl.LazyFrame:
        files = self._files()
        if table not in files:
            raise invalid(f"table '{table}' does not exist in {self.label}; tables: "
                          f"{', '.join(sorted(files)) or '(none)'}", "table")
        opts = self.storage_options()
        if self.type == "csv":
            return pl.scan_csv(files[table], separator=self.config.get("delimiter", ","), storage_options=opts,
                               infer_schema_length=10_000, try_parse_dates=True)
        return pl.scan_parquet(files[table], storage_options=opts)

    def test(self) -> dict:
        started = time.perf_counter()
        tables = self._files()
        for t in list(tables)[:1]:
            self.scan(t).head(1).collect()
        return {"server_version": f"{self.type} files ({'s3' if self.is_s3 else 'local'})", "tables": len(tables),
                "latency_ms": round((time.perf_counter() - started) * 1000, 1)}

    def schema(self) -> dict[str, list[Column]]:
        out = {}
        for t in self._files():
            try:
                out[t] = [Column(n, str(d)) for n, d in self.scan(t).collect_schema().items()]
            except Exception as exc:
                raise invalid(f"cannot read the schema of '{t}' in {self.label}: {first_line(exc)}", "source")
        return out

    def read_batches(self, sql: str, batch_rows: int, timeout: bool = False) -> Iterator[pa.RecordBatch]:
        import sqlglot
        import sqlglot.expressions as exp

        names = {t.name for t in sqlglot.parse_one(sql, read="postgres").find_all(exp.Table)}
        ctx = pl.SQLContext({n: self.scan(n) for n in names}, eager=False)
        try:
            lf = ctx.execute(sql)
            n = 0
            for df in lf.collect_batches(chunk_size=batch_rows):
                for b in df.to_arrow(compat_level=pl.CompatLevel.oldest()).to_batches():
                    n += 1
                    yield plain_batch(b)
            if n == 0:
                empty = pl.DataFrame(schema=lf.collect_schema()).to_arrow(compat_level=pl.CompatLevel.oldest())
                yield plain_batch(pa.RecordBatch.from_pylist([], schema=empty.schema))
        except InferloopError:
            raise
        except Exception as exc:
            raise invalid(f"the query failed on {self.label}: {first_line(exc)}", "sql")

    def count(self, table: str) -> int:
        return int(self.scan(table).select(pl.len()).collect().item())

    def size_bytes(self, table: str) -> int | None:
        files = self._files()
        return int(self.fs().size(files[table])) if table in files else None

    def writer(self, table: str, mode: str) -> "Writer":
        return FileWriter(self, table, mode)


def _stem(path: str, ext: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1].removesuffix(ext)


CLASSES = {"postgresql": PostgresConnector, "mysql": MySQLConnector, "sqlite": SQLiteConnector,
           "csv": FileConnector, "parquet": FileConnector}


def make(ctype: str, config: dict, secrets: dict | None = None, settings: Settings | None = None) -> Connector:
    settings = settings or get_settings()
    return CLASSES[ctype](ctype, config, secrets or {}, settings.etl_connect_timeout_seconds,
                          settings.etl_query_timeout_seconds)


# --- writers --------------------------------------------------------------------------------------------

LOAD_MODES = ("replace", "append")


class Writer:
    """Writes Arrow batches into one table. replace: into a new table swapped in at commit (the old rows stay
    until the load succeeds); append: into the table (created when missing)."""

    def __init__(self, connector: Connector, table: str, mode: str):
        if mode not in LOAD_MODES:
            raise invalid(f"load_mode must be one of {', '.join(LOAD_MODES)}", "load_mode")
        self.c, self.table, self.mode = connector, check_ident(table, "target_table"), mode
        self.tmp = f"{table[:40]}__etl_{uuid.uuid4().hex[:8]}"
        self.rows = 0
        self.warnings = 0

    @property
    def into(self) -> str:
        return self.tmp if self.mode == "replace" else self.table

    def start(self, schema: pa.Schema) -> None: ...
    def write(self, batch: pa.RecordBatch) -> None: ...
    def commit(self) -> None: ...
    def abort(self) -> None: ...


class PostgresWriter(Writer):
    def start(self, schema: pa.Schema) -> None:
        import adbc_driver_postgresql.dbapi as adbc

        try:
            self.conn = adbc.connect(self.c.adbc_uri())
        except Exception as exc:
            raise invalid(f"cannot connect to {self.c.label}: {first_line(exc)}", "target")
        self.schema = schema
        self.first = True

    def write(self, batch: pa.RecordBatch) -> None:
        mode = ("create" if self.mode == "replace" else "create_append") if self.first else "append"
        with self.conn.cursor() as cur:
            self.rows += int(cur.adbc_ingest(self.into, plain_batch(batch), mode=mode,
                                             db_schema_name=self.c.config["schema"]))
        self.first = False

    def commit(self) -> None:
        with self.conn.cursor() as cur:
            if self.first:  # nothing was written: the (empty) table still takes the rows' shape
                cur.adbc_ingest(self.into, self.schema.empty_table(),
                                mode="create" if self.mode == "replace" else "create_append",
                                db_schema_name=self.c.config["schema"])
            if self.mode == "replace":
                q = self.c.quote
                cur.execute(f"DROP TABLE IF EXISTS {q(self.table)}")
                cur.execute(f"ALTER TABLE {q(self.tmp)} RENAME TO {q(self.table)}")
        self.conn.commit()
        self.conn.close()

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.rollback()
            self.conn.close()


def mysql_column_type(t: pa.DataType) -> str:
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    if pa.types.is_int8(t):
        return "TINYINT"
    if pa.types.is_int16(t) or pa.types.is_uint8(t):
        return "SMALLINT"
    if pa.types.is_int32(t) or pa.types.is_uint16(t):
        return "INT"
    if pa.types.is_integer(t):
        return "BIGINT"
    if pa.types.is_float32(t):
        return "FLOAT"
    if pa.types.is_floating(t):
        return "DOUBLE"
    if pa.types.is_decimal(t):
        return f"DECIMAL({min(t.precision, 65)},{min(t.scale, 30)})"
    if pa.types.is_date(t):
        return "DATE"
    if pa.types.is_timestamp(t):
        return "DATETIME(6)"
    if pa.types.is_time(t):
        return "TIME(6)"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return "LONGBLOB"
    return "LONGTEXT"


class MySQLWriter(Writer):
    def start(self, schema: pa.Schema) -> None:
        self.conn = self.c._connect(local_infile=True)
        self.names = schema.names
        q = self.c.quote
        cols = ", ".join(f"{q(f.name)} {mysql_column_type(f.type)}" for f in schema)
        with self.conn.cursor() as cur:
            if self.mode == "replace":
                cur.execute(f"CREATE TABLE {q(self.tmp)} ({cols})")
            else:
                cur.execute(f"CREATE TABLE IF NOT EXISTS {q(self.table)} ({cols})")
        self.tmpdir = tempfile.TemporaryDirectory(prefix="inferloop-etl-")
        self.local_infile = True

    def write(self, batch: pa.RecordBatch) -> None:
        import pymysql

        if batch.num_rows == 0:
            return
        df = pl.from_arrow(plain_batch(batch))
        df = df.with_columns(pl.col(pl.Boolean).cast(pl.Int8), pl.col(pl.Duration).cast(pl.Int64))
        q = self.c.quote
        cols = ", ".join(q(n) for n in self.names)
        if self.local_infile:
            path = os.path.join(self.tmpdir.name, "chunk.csv")
            df.write_csv(path, include_header=False, null_value="NULL", quote_style="non_numeric",
                         datetime_format="%Y-%m-%d %H:%M:%S%.6f", date_format="%Y-%m-%d",
                         time_format="%H:%M:%S%.6f")
            try:
                with self.conn.cursor() as cur:
                    loaded = cur.execute(
                        f"LOAD DATA LOCAL INFILE %s INTO TABLE {q(self.into)} CHARACTER SET utf8mb4 "
                        "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '' "
                        f"LINES TERMINATED BY '\\n' ({cols})", (path,))
                    self.warnings += int(getattr(getattr(cur, "_result", None), "warning_count", 0) or 0)
                self.rows += int(loaded)
                return
            except pymysql.err.OperationalError as exc:  # the server refuses LOCAL INFILE: INSERT instead
                if exc.args[0] not in (1148, 3948, 2068):
                    raise
                self.local_infile = False
        marks = ", ".join(["%s"] * len(self.names))
        rows = df.rows()
        with self.conn.cursor() as cur:
            for start in range(0, len(rows), 5_000):
                self.rows += cur.executemany(f"INSERT INTO {q(self.into)} ({cols}) VALUES ({marks})",
                                             rows[start:start + 5_000])

    def commit(self) -> None:
        q = self.c.quote
        with self.conn.cursor() as cur:
            if self.mode == "replace":
                cur.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = DATABASE() "
                            "AND table_name = %s", (self.table,))
                if cur.fetchone()[0]:
                    old = f"{self.table[:40]}__old_{uuid.uuid4().hex[:8]}"
                    cur.execute(f"RENAME TABLE {q(self.table)} TO {q(old)}, {q(self.tmp)} TO {q(self.table)}")
                    cur.execute(f"DROP TABLE {q(old)}")
                else:
                    cur.execute(f"RENAME TABLE {q(self.tmp)} TO {q(self.table)}")
        self.conn.commit()
        self._close()

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.rollback()
            if self.mode == "replace":
                with self.conn.cursor() as cur:
                    cur.execute(f"DROP TABLE IF EXISTS {self.c.quote(self.tmp)}")
        self._close()

    def _close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()
        with contextlib.suppress(Exception):
            self.tmpdir.cleanup()


def sqlite_column_type(t: pa.DataType) -> str:
    if pa.types.is_integer(t) or pa.types.is_boolean(t):
        return "INTEGER"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "REAL"
    if pa.types.is_binary(t):
        return "BLOB"
    return "TEXT"


class SQLiteWriter(Writer):
    def start(self, schema: pa.Schema) -> None:
        self.cm = self.c.connect(read_only=False)
        self.conn = self.cm.__enter__()
        self.names = schema.names
        q = self.c.quote
        cols = ", ".join(f"{q(f.name)} {sqlite_column_type(f.type)}" for f in schema)
        self.conn.execute(f"CREATE TABLE {'' if self.mode == 'replace' else 'IF NOT EXISTS '}{q(self.into)} ({cols})")

    def write(self, batch: pa.RecordBatch) -> None:
        q = self.c.quote
        df = pl.from_arrow(plain_batch(batch))
        df = df.with_columns(pl.col(pl.Decimal).cast(pl.Float64), pl.col(pl.Datetime).dt.to_string(),
                             pl.col(pl.Date).dt.to_string(), pl.col(pl.Duration).cast(pl.Int64))
        marks = ", ".join(["?"] * len(self.names))
        self.conn.executemany(f"INSERT INTO {q(self.into)} ({', '.join(q(n) for n in self.names)}) VALUES ({marks})",
                              df.rows())
        self.rows += df.height

    def commit(self) -> None:
        q = self.c.quote
        if self.mode == "replace":
            self.conn.execute(f"DROP TABLE IF EXISTS {q(self.table)}")
            self.conn.execute(f"ALTER TABLE {q(self.tmp)} RENAME TO {q(self.table)}")
        self.conn.commit()
        self.cm.__exit__(None, None, None)

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.rollback()
            self.conn.execute(f"DROP TABLE IF EXISTS {self.c.quote(self.tmp)}")
            self.conn.commit()
        with contextlib.suppress(Exception):
            self.cm.__exit__(None, None, None)


class FileWriter(Writer):
    """<url>/<table>.csv|.parquet, written to a temporary name and moved into place at commit."""

    def __init__(self, connector: FileConnector, table: str, mode: str):
        super().__init__(connector, table, mode)
        if mode != "replace":
            raise invalid("file targets are rewritten on every run: load_mode must be 'replace'", "load_mode")
        base = connector.config["url"]
        if base.endswith(connector.ext):
            base = base.rsplit("/", 1)[0]
        self.final = f"{base}/{table}{connector.ext}"
        self.partial = f"{base}/.{self.tmp}{connector.ext}"

    def start(self, schema: pa.Schema) -> None:
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq

        self.fs = self.c.fs()
        parent = self.partial.rsplit("/", 1)[0]
        if not self.c.is_s3:
            self.fs.makedirs(parent, exist_ok=True)
        self.fh = self.fs.open(self.partial, "wb")
        self.schema = plain_batch(pa.RecordBatch.from_pylist([], schema=schema)).schema
        self.out = (pq.ParquetWriter(self.fh, self.schema) if self.c.type == "parquet"
                    else pacsv.CSVWriter(self.fh, self.schema))

    def write(self, batch: pa.RecordBatch) -> None:
        batch = plain_batch(batch)
        self.out.write_batch(batch.cast(self.schema) if batch.schema != self.schema else batch)
        self.rows += batch.num_rows

    def commit(self) -> None:
        self.out.close()
        self.fh.close()
        self.fs.mv(self.partial, self.final)

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.out.close()
            self.fh.close()
        with contextlib.suppress(Exception):
            self.fs.rm(self.partial)
