"""The declarative transform of a pipeline, applied with polars as one lazy, streaming query.

Spec (every key optional, applied in this order):
    {"filter": "amount > 100 AND status = 'paid'",        # SQL expression (polars' SQL dialect)
     "derive": {"amount_eur": "amount * 0.92"},            # new or replaced columns from SQL expressions
     "cast": {"amount": "float64"},                        # int64, int32, float64, float32, string, bool, date, datetime
     "fill_null": {"region": "unknown"},
     "rename": {"amount": "amount_usd"},
     "select": ["id", "amount_usd"], "drop": ["internal_note"],
     "deduplicate": true | ["id"],
     "aggregate": {"group_by": ["region"], "aggregations": {"total": "sum(amount_usd)", "orders": "count(*)"}}}

A SQL transform is pushed down to the source instead (the pipeline's extract SQL, checked with sqlglot).
"""

from __future__ import annotations

import time
from typing import Any

import polars as pl
import pyarrow as pa
from prefect import task
from prefect.cache_policies import NO_CACHE

from inferloop.core.errors import InferloopError
from tasks.etl import stage
from tasks.etl.connectors import plain_batch

KEYS = ("filter", "derive", "cast", "fill_null", "rename", "select", "drop", "deduplicate", "aggregate")
CASTS = {"int64": pl.Int64, "int32": pl.Int32, "float64": pl.Float64, "float32": pl.Float32, "string": pl.String,
         "str": pl.String, "text": pl.String, "bool": pl.Boolean, "boolean": pl.Boolean, "date": pl.Date,
         "datetime": pl.Datetime("us"), "timestamp": pl.Datetime("us"), "integer": pl.Int64, "float": pl.Float64}


def invalid(message: str, field: str = "transform") -> InferloopError:
    return InferloopError("INVALID_REQUEST", message, field)


def _expr(text: Any, field: str) -> pl.Expr:
    if not isinstance(text, str) or not text.strip() or len(text) > 2000:
        raise invalid(f"{field} must be a SQL expression (at most 2000 characters)", field)
    lowered = text.lower()
    if ";" in text or any(w in lowered.split() for w in ("select", "drop", "delete", "insert", "update")):
        raise invalid(f"{field} must be one expression, not a statement", field)
    try:
        return pl.sql_expr(text)
    except Exception as exc:
        raise invalid(f"{field} is not a valid expression: {str(exc).splitlines()[0][:200]}", field)


def _names(value: Any, field: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise invalid(f"{field} must be a list of column names", field)
    return value


def check(spec: dict | None) -> dict | None:
    """The spec with its expressions parsed once (400 on anything malformed); None when empty."""
    if spec in (None, {}):
        return None
    if not isinstance(spec, dict):
        raise invalid("transform must be an object with keys " + ", ".join(KEYS))
    unknown = sorted(set(spec) - set(KEYS))
    if unknown:
        raise invalid(f"unknown transform key(s): {', '.join(unknown)}; known: {', '.join(KEYS)}",
                      f"transform.{unknown[0]}")
    if "filter" in spec:
        _expr(spec["filter"], "transform.filter")
    for key in ("derive", "fill_null", "rename", "cast"):
        if key in spec and (not isinstance(spec[key], dict) or not spec[key]):
            raise invalid(f"transform.{key} must be a non-empty object", f"transform.{key}")
    for name, text in (spec.get("derive") or {}).items():
        _expr(text, f"transform.derive.{name}")
    for name, t in (spec.get("cast") or {}).items():
        if t not in CASTS:
            raise invalid(f"transform.cast.{name}: unknown type {t!r}; types: {', '.join(CASTS)}",
                          f"transform.cast.{name}")
    for name, new in (spec.get("rename") or {}).items():
        if not isinstance(new, str) or not new:
            raise invalid(f"transform.rename.{name} must be the new column name", f"transform.rename.{name}")
    for key in ("select", "drop"):
        if key in spec:
            _names(spec[key], f"transform.{key}")
    if "deduplicate" in spec and not (isinstance(spec["deduplicate"], bool) or
                                      _names(spec["deduplicate"], "transform.deduplicate")):
        raise invalid("transform.deduplicate must be true or a list of columns", "transform.deduplicate")
    if "aggregate" in spec:
        agg = spec["aggregate"]
        if not isinstance(agg, dict) or not isinstance(agg.get("aggregations"), dict) or not agg["aggregations"]:
            raise invalid("transform.aggregate needs {'group_by': [...], 'aggregations': {name: 'sum(col)'}}",
                          "transform.aggregate")
        _names(agg.get("group_by", []), "transform.aggregate.group_by") if agg.get("group_by") else None
        for name, text in agg["aggregations"].items():
            _expr(text, f"transform.aggregate.aggregations.{name}")
    return spec


def apply(lf: pl.LazyFrame, spec: dict | None) -> pl.LazyFrame:
    """The spec applied to a lazy frame (nothing runs until it is collected or sunk)."""
    if not spec:
        return lf
    if "filter" in spec:
        lf = lf.filter(pl.sql_expr(spec["filter"]))
    if spec.get("derive"):
        lf = lf.with_columns([pl.sql_expr(text).alias(name) for name, text in spec["derive"].items()])
    if spec.get("cast"):
        lf = lf.with_columns([pl.col(name).cast(CASTS[t], strict=False) for name, t in spec["cast"].items()])
    if spec.get("fill_null"):
        lf = lf.with_columns([pl.col(name).fill_null(v) for name, v in spec["fill_null"].items()])
    if spec.get("rename"):
        lf = lf.rename(spec["rename"])
    if spec.get("select"):
        lf = lf.select(spec["select"])
    if spec.get("drop"):
        lf = lf.drop(spec["drop"])
    if spec.get("deduplicate"):
        subset = spec["deduplicate"] if isinstance(spec["deduplicate"], list) else None
        lf = lf.unique(subset=subset, keep="first", maintain_order=True)
    if spec.get("aggregate"):
        agg = spec["aggregate"]
        exprs = [pl.sql_expr(text).alias(name) for name, text in agg["aggregations"].items()]
        lf = lf.group_by(agg["group_by"], maintain_order=True).agg(exprs) if agg.get("group_by") \
            else lf.select(exprs)
    return lf


def dry_run(frame: pl.DataFrame, spec: dict | None) -> pl.DataFrame:
    """Apply the spec to a small sample: errors about columns surface as 400 before anything is created."""
    if not spec:
        return frame
    try:
        return apply(frame.lazy(), spec).collect()
    except Exception as exc:
        raise invalid(f"transform does not apply to the source's rows: {str(exc).splitlines()[0][:300]}")


@task(name="transform", cache_policy=NO_CACHE)
def transform(parts: list[str], spec: dict | None, folder: str, chunk_rows: int) -> dict:
    """Apply the spec to the staged rows as one streaming polars query; parts pass through without one."""
    started = time.perf_counter()
    if not spec:
        rows = stage.scan(parts).select(pl.len()).collect().item()
        return {"parts": parts, "rows": int(rows), "applied": False, "seconds": 0.0}
    lf = apply(stage.scan(parts), spec)
    try:
        batches = (b for df in lf.collect_batches(chunk_size=chunk_rows)
                   for b in df.to_arrow(compat_level=pl.CompatLevel.oldest()).to_batches())
        uris, rows, schema = stage.write_parts(_with_schema(batches, lf), folder)
    except InferloopError:
        raise
    except Exception as exc:
        raise InferloopError("INVALID_REQUEST", f"the transform failed: {str(exc).splitlines()[0][:300]}",
                             "transform")
    seconds = time.perf_counter() - started
    print(f"transformed into {rows} rows, columns {schema.names}, in {seconds:.2f} s")
    return {"parts": uris, "rows": rows, "applied": True, "columns": schema.names, "seconds": round(seconds, 3)}


def _with_schema(batches, lf: pl.LazyFrame):
    n = 0
    for b in batches:
        n += 1
        yield plain_batch(b)
    if n == 0:
        empty = pl.DataFrame(schema=lf.collect_schema()).to_arrow(compat_level=pl.CompatLevel.oldest())
        yield plain_batch(pa.RecordBatch.from_pylist([], schema=empty.schema))

