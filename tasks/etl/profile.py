"""Profile and preview of a connector's table: exact row count and size from the source, column statistics
from a sample (the first `sample_size` rows), recommendations from both."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import math
from typing import Any

import polars as pl
import pyarrow as pa

from tasks.etl.connectors import Column, Connector

SHORT_TYPES = {"character varying": "varchar", "character": "char", "timestamp without time zone": "timestamp",
               "timestamp with time zone": "timestamptz", "double precision": "double"}


def short_type(t: str) -> str:
    base, _, rest = t.partition("(")
    return SHORT_TYPES.get(base.strip(), base.strip()) + (f"({rest}" if rest else "")


def jsonable(v: Any) -> Any:
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, (dt.datetime, dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, dt.timedelta):
        return v.total_seconds()
    if isinstance(v, bytes):
        return base64.b64encode(v).decode()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items()}
    if isinstance(v, list):
        return [jsonable(x) for x in v]
    return v


def rows_of(table: pa.Table) -> list[dict]:
    return [{k: jsonable(v) for k, v in r.items()} for r in table.to_pylist()]


def preview(c: Connector, table: str, limit: int) -> dict:
    cols = c.columns(table)
    data = c.read_table(c.select_sql(table, limit), limit)
    return {"table": table, "columns": [{"name": x.name, "type": short_type(x.type), "nullable": x.nullable}
                                        for x in cols],
            "rows": rows_of(data), "row_count": data.num_rows, "limit": limit}


def _is_date(col: Column) -> bool:
    t = col.type.lower()
    return ("date" in t or "time" in t) and "interval" not in t


def profile(c: Connector, table: str, sample_size: int) -> dict:
    cols = c.columns(table)
    total = c.count(table)
    size = c.size_bytes(table)
    unique_keys = c.unique_columns(table)
    sample = c.read_table(c.select_sql(table, sample_size), sample_size)
    frame = pl.from_arrow(sample) if sample.num_columns else pl.DataFrame()
    n = frame.height
    columns, nulls = [], 0
    for col in cols:
        s = frame[col.name] if col.name in frame.columns else None
        null_count = int(s.null_count()) if s is not None else 0
        nulls += null_count
        distinct = int(s.n_unique()) if s is not None and n else 0
        unique = col.name in unique_keys or (n > 0 and null_count == 0 and distinct == n)
        entry = {"name": col.name, "type": short_type(col.type), "nullable": col.nullable, "unique": bool(unique),
                 "null_count": null_count, "distinct_count": distinct}
        if s is not None and n and s.dtype.is_numeric():
            entry.update(min=jsonable(s.min()), max=jsonable(s.max()),
                         mean=None if s.mean() is None else round(float(s.mean()), 6))
        columns.append(entry)
    dupes = (n - frame.unique().height) if n and frame.width else 0
    size_mb = round(size / 2 ** 20, 3) if size is not None else None
    return {
        "table": table, "row_count": total, "sample_size": n,
        "columns": columns,
        "statistics": {"null_percentage": round(nulls / (n * len(cols)), 4) if n and cols else 0.0,
                       "duplicate_percentage": round(dupes / n, 4) if n else 0.0, "size_mb": size_mb},
        "recommendations": recommend(cols, columns, total, size_mb or 0.0),
    }


def recommend(cols: list[Column], stats: list[dict], rows: int, size_mb: float) -> dict:
    """Partition big tables by their date column; index unique, key-like and date columns."""
    dates = [c.name for c in cols if _is_date(c)]
    if dates and (rows >= 1_000_000 or size_mb >= 1024):
        partitioning = "by_date"
    elif rows >= 10_000_000:
        partitioning = "by_hash"
    else:
        partitioning = "none"
    indexing = []
    for c, s in zip(cols, stats):
        if c.name == "id":
            continue
        if s["unique"] or c.name.endswith("_id") or _is_date(c):
            indexing.append(c.name)
    return {"partitioning": partitioning, "partition_column": dates[0] if partitioning == "by_date" else None,
            "indexing": indexing}
