"""Export of generated tables: CSV, JSON, XLSX and SQL (PostgreSQL, MySQL/MariaDB, SQLite).

Input is the Parquet parts of each schema (one per batch), read part by part so memory stays bounded.
- csv: header + rows (polars); json: one array of row objects (`options.json_lines` -> one object per line);
- xlsx: openpyxl in write-only mode, one workbook per schema; a schema longer than a sheet (1,048,575 rows
  below the header) continues on sheets "<name> (2)", "<name> (3)", ...;
- sql: CREATE TABLE with types, primary and foreign keys (SQLAlchemy's DDL compiler for the dialect), then
  multi-row INSERTs whose values are rendered by the dialect's own literal renderer (quotes doubled,
  backslashes escaped for MySQL, dates and booleans as that database reads them) and identifiers quoted
  by its identifier preparer. One file per schema, plus `_all` with every schema in load order.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.schema import CreateTable, DropTable

from inferloop.core import storage
from inferloop.core.errors import InferloopError
from tasks.context.spec import to_schema

FORMATS = ("csv", "json", "xlsx", "sql")
DIALECTS = ("postgresql", "mysql", "sqlite")
EXTENSIONS = {"csv": "csv", "json": "json", "xlsx": "xlsx", "sql": "sql"}
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
               "sql": "application/sql; charset=utf-8"}
XLSX_SHEET_ROWS = 1_048_576 - 1   # Excel's row limit, less the header row
ALL = "_all"                       # the combined SQL script
_XLSX_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def check_export(fmt: Any, options: Any, field: str = "format") -> tuple[str, dict[str, Any]]:
    """(format, options) checked before any run starts (400 INVALID_REQUEST)."""
    if fmt not in FORMATS:
        raise InferloopError("INVALID_REQUEST", f"{field} must be one of {', '.join(FORMATS)}, got {fmt!r}", field)
    options = dict(options or {})
    if not isinstance(options, dict):
        raise InferloopError("INVALID_REQUEST", "options must be an object", "options")
    out: dict[str, Any] = {}
    if fmt == "sql":
        dialect = options.get("sql_dialect", "postgresql")
        if dialect not in DIALECTS:
            raise InferloopError("INVALID_REQUEST", f"options.sql_dialect must be one of {', '.join(DIALECTS)}, "
                                 f"got {dialect!r}", "options.sql_dialect")
        per = options.get("rows_per_insert", 500)
        if isinstance(per, bool) or not isinstance(per, int) or not 1 <= per <= 10_000:
            raise InferloopError("INVALID_REQUEST", "options.rows_per_insert must be a whole number from 1 to 10000",
                                 "options.rows_per_insert")
        out.update(sql_dialect=dialect, rows_per_insert=per, drop_existing=bool(options.get("drop_existing", False)))
    if fmt == "json":
        out["json_lines"] = bool(options.get("json_lines", False))
    return fmt, out


def export_key(fmt: str, options: dict[str, Any]) -> str:
    """How an export is remembered: 'csv', 'sql-postgresql', ..."""
    return f"sql-{options.get('sql_dialect', 'postgresql')}" if fmt == "sql" else fmt


@contextlib.contextmanager
def local_file(uri: str) -> Iterator[str]:
    """A local path to write; uploaded to `uri` afterwards when storage is remote."""
    fs, path = storage.fs_for(uri)
    if "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        yield path
        return
    fd, tmp = tempfile.mkstemp(suffix=os.path.splitext(path)[1])
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb") as src, storage.open_uri(uri, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    finally:
        os.unlink(tmp)


def _plain(df: pl.DataFrame) -> pl.DataFrame:
    """Enum columns as text."""
    return df.with_columns([pl.col(c).cast(pl.String) for c, t in df.schema.items() if isinstance(t, pl.Enum)])


def _parts(uris: list[str]) -> Iterator[pl.DataFrame]:
    for uri in uris:
        with storage.open_uri(uri, "rb") as f:
            yield _plain(pl.read_parquet(f))


def _write_csv(uris: list[str], path: str) -> int:
    rows = 0
    with open(path, "w", encoding="utf-8", newline="") as out:
        for i, df in enumerate(_parts(uris)):
            df.write_csv(out, include_header=(i == 0))
            rows += len(df)
    return rows


def _iso(df: pl.DataFrame) -> pl.DataFrame:
    return df.with_columns(
        [pl.col(c).dt.to_string("%Y-%m-%dT%H:%M:%S") for c, t in df.schema.items() if isinstance(t, pl.Datetime)]
        + [pl.col(c).dt.to_string("%Y-%m-%d") for c, t in df.schema.items() if t == pl.Date])


def _write_json(uris: list[str], path: str, lines: bool) -> int:
    rows = 0
    with open(path, "w", encoding="utf-8") as out:
        if not lines:
            out.write("[")
        for df in _parts(uris):
            if not len(df):
                continue
            text = _iso(df).write_ndjson()
            if lines:
                out.write(text)
            else:
                out.write(("," if rows else "") + text.rstrip("\n").replace("\n", ","))
            rows += len(df)
        if not lines:
            out.write("]\n")
    return rows


def _write_xlsx(uris: list[str], path: str, title: str) -> tuple[int, int]:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    rows, sheet, ws, in_sheet, header = 0, 0, None, XLSX_SHEET_ROWS, None
    for df in _parts(uris):
        header = header or df.columns
        str_cols = [i for i, t in enumerate(df.dtypes) if t == pl.String]
        for row in df.iter_rows():
            if in_sheet >= XLSX_SHEET_ROWS:
                sheet += 1
                ws = wb.create_sheet(title[:31] if sheet == 1 else f"{title[:24]} ({sheet})")
                ws.append(header)
                in_sheet = 0
            if str_cols:
                row = list(row)
                for i in str_cols:
                    if row[i] is not None and _XLSX_ILLEGAL.search(row[i]):
                        row[i] = _XLSX_ILLEGAL.sub("", row[i])
            ws.append(row)
            in_sheet += 1
            rows += 1
    if ws is None:
        ws = wb.create_sheet(title[:31])
    wb.save(path)
    return rows, max(sheet, 1)


# --- SQL -------------------------------------------------------------------------------------------------

def dialect_of(name: str) -> sa.engine.Dialect:
    """The SQLAlchemy dialect (paramstyle 'named': literals are written as-is, no '%' doubling), set for the
    string mode the script's header fixes: PostgreSQL with standard_conforming_strings on (a backslash is a
    plain character), MySQL/MariaDB without NO_BACKSLASH_ESCAPES (a backslash escapes, so it is doubled).
    A dialect learns this from the server when it connects; a script is written without a connection."""
    dialect = {"postgresql": postgresql, "mysql": mysql, "sqlite": sqlite}[name].dialect(paramstyle="named")
    if name in ("postgresql", "mysql"):
        dialect._backslash_escapes = name == "mysql"
    return dialect


def sql_type(f: dict) -> sa.types.TypeEngine:
    t = f["type"]
    if t == "UUID":
        return sa.String(36)
    if t == "INTEGER":
        return sa.BigInteger()
    if t == "FLOAT":
        return sa.Double()
    if t == "DECIMAL":
        return sa.Numeric(18, int(f.get("decimals", 2)))
    if t == "BOOLEAN":
        return sa.Boolean()
    if t == "DATE":
        return sa.Date()
    if t == "DATETIME":
        return sa.DateTime()
    if t == "TEXT":
        return sa.Text()
    return sa.String(255)


def sql_tables(spec: dict, names: list[str]) -> dict[str, sa.Table]:
    """SQLAlchemy tables of the schemas: typed columns, primary key, foreign keys to exported parents."""
    md = sa.MetaData()
    tables = {}
    by_name = {s["name"]: s for s in spec["schemas"]}
    for name in names:
        s = by_name[name]
        cols = []
        for f in s["fields"]:
            args: list[Any] = []
            ref = f.get("references")
            if ref and ref["schema"] in names:
                args.append(sa.ForeignKey(f"{ref['schema']}.{ref['field']}"))
            cols.append(sa.Column(f["name"], sql_type(f), *args, primary_key=bool(f.get("primary_key")),
                                  nullable=not f["required"], autoincrement=False))
        tables[name] = sa.Table(name, md, *cols, mysql_charset="utf8mb4", mysql_engine="InnoDB")
    return tables


HEADERS = {"postgresql": ["SET client_encoding = 'UTF8';", "SET standard_conforming_strings = on;", "BEGIN;"],
           "mysql": ["SET NAMES utf8mb4;",
                     "SET SESSION sql_mode = REPLACE(@@SESSION.sql_mode, 'NO_BACKSLASH_ESCAPES', '');",
                     "START TRANSACTION;"],
           "sqlite": ["PRAGMA foreign_keys = ON;", "BEGIN;"]}


def _literals(series: pl.Series, sa_type: sa.types.TypeEngine, compiler: Any) -> pl.Series:
    """Each value as the dialect's SQL literal (NULL for empty); rendered once per distinct value."""
    if series.dtype.is_integer():
        return series.cast(pl.String).fill_null("NULL")
    if series.dtype.is_float():
        return pl.select(pl.when(series.is_null() | series.is_nan()).then(pl.lit("NULL"))
                         .otherwise(series.cast(pl.String))).to_series()
    distinct = series.drop_nulls().unique()
    rendered = [compiler.render_literal_value(v, sa_type) for v in distinct.to_list()]
    if not rendered:
        return pl.Series([None] * len(series), dtype=pl.String).fill_null("NULL")
    return series.replace_strict(distinct, pl.Series(rendered, dtype=pl.String), default=None,
                                 return_dtype=pl.String).fill_null("NULL")


def _statements(df: pl.DataFrame, table: sa.Table, dialect: sa.engine.Dialect, per: int) -> Iterator[str]:
    compiler = dialect.statement_compiler(dialect, None)
    prep = dialect.identifier_preparer
    cols = list(table.columns)
    lits = [_literals(df[c.name], c.type, compiler) for c in cols]
    parts: list[Any] = [pl.lit("(")]
    for i, s in enumerate(lits):
        if i:
            parts.append(pl.lit(", "))
        parts.append(s)
    parts.append(pl.lit(")"))
    rows = pl.select(pl.concat_str(parts).alias("r")).with_row_index("i")
    grouped = rows.group_by(pl.col("i") // per, maintain_order=True).agg(pl.col("r").str.join(",\n"))
    head = f"INSERT INTO {prep.quote_identifier(table.name)} ({', '.join(prep.quote_identifier(c.name) for c in cols)}) VALUES\n"
    for values in grouped["r"]:
        yield head + values + ";\n"


def _ddl(table: sa.Table, dialect: sa.engine.Dialect, drop: bool, name: str) -> str:
    out = []
    if drop:
        stmt = str(DropTable(table, if_exists=True).compile(dialect=dialect)).strip()
        out.append(stmt + (" CASCADE" if name == "postgresql" else "") + ";")
    ddl = str(CreateTable(table).compile(dialect=dialect)).strip()
    out.append(ddl + ";")
    return "\n".join(out) + "\n"


def _write_sql(uris: list[str], path: str, table: sa.Table, name: str, options: dict, header: bool = True,
               out=None) -> int:
    dialect = dialect_of(name)
    rows = 0
    own = out is None
    f = open(path, "w", encoding="utf-8") if own else out
    try:
        if header:
            f.write("\n".join(HEADERS[name]) + "\n")
        f.write(_ddl(table, dialect, options.get("drop_existing", False), name))
        for df in _parts(uris):
            if len(df):
                for stmt in _statements(df, table, dialect, options.get("rows_per_insert", 500)):
                    f.write(stmt)
                rows += len(df)
        if header:
            f.write("COMMIT;\n")
    finally:
        if own:
            f.close()
    return rows


# --- the export of a job ---------------------------------------------------------------------------------

def export_tables(spec: dict, parts: dict[str, list[str]], fmt: str, options: dict[str, Any], out: str,
                  schemas: list[str] | None = None) -> dict[str, Any]:
    """Write every (or the named) schema in `fmt` under `out`; returns files, rows and load order."""
    order = [t for t in to_schema(spec).order() if t in parts and (not schemas or t in schemas)]
    ext = EXTENSIONS[fmt]
    files: dict[str, dict[str, Any]] = {}
    tables = sql_tables(spec, order) if fmt == "sql" else {}
    dialect = options.get("sql_dialect", "postgresql")
    for name in order:
        uri = f"{out}/{name}.{ext}"
        extra: dict[str, Any] = {}
        with local_file(uri) as path:
            if fmt == "csv":
                rows = _write_csv(parts[name], path)
            elif fmt == "json":
                rows = _write_json(parts[name], path, options.get("json_lines", False))
            elif fmt == "xlsx":
                rows, sheets = _write_xlsx(parts[name], path, name)
                extra["sheets"] = sheets
            else:
                rows = _write_sql(parts[name], path, tables[name], dialect, options)
                extra["dialect"] = dialect
        files[name] = {"uri": uri, "rows": rows, "bytes": storage.size(uri), **extra}
    if fmt == "sql" and order:
        uri = f"{out}/{ALL}.sql"
        with local_file(uri) as path, open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(HEADERS[dialect]) + "\n")
            if options.get("drop_existing"):
                d = dialect_of(dialect)
                for name in reversed(order):
                    stmt = str(DropTable(tables[name], if_exists=True).compile(dialect=d)).strip()
                    f.write(stmt + (" CASCADE" if dialect == "postgresql" else "") + ";\n")
            for name in order:
                _write_sql(parts[name], path, tables[name], dialect, {**options, "drop_existing": False},
                           header=False, out=f)
            f.write("COMMIT;\n")
        files[ALL] = {"uri": uri, "rows": sum(v["rows"] for v in files.values()), "bytes": storage.size(uri),
                      "dialect": dialect}
    return {"format": fmt, "options": options, "files": files, "load_order": order,
            "created_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}

