"""Validation of generated tables against their spec: every rule checked on every row.

Per batch (or sample), with polars: required fields have no empty value, ranges and choices hold, unique
fields have no value twice, `product` and `sum` fields equal what they are computed from, `after` dates
follow their base (the parent's through the foreign key). Keys and relationships inside a batch are
checked by the multi-table integrity report (tasks/multitable/integrity.py); for a whole corpus, keys are
checked across all batches with lazy scans of the Parquet parts (`corpus_integrity`).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from tasks.context.fields import NUMERIC
from tasks.context.generate import scale_of
from tasks.context.spec import field_of, owner_of, parse_date, schema_of, to_schema
from tasks.tabular.multitable.integrity import integrity_report


def _check(kind: str, target: str, checked: int, violations: int, **extra: Any) -> dict[str, Any]:
    return {"check": kind, "target": target, "checked": int(checked), "violations": int(violations), **extra}


def field_checks(spec: dict, frames: dict[str, pl.DataFrame]) -> list[dict[str, Any]]:
    """Every field rule of every schema, counted over the rows of `frames`."""
    checks = []
    for s in spec["schemas"]:
        df = frames.get(s["name"])
        if df is None:
            continue
        n = len(df)
        for f in s["fields"]:
            col, name, t = pl.col(f["name"]), f"{s['name']}.{f['name']}", f["type"]
            if f["required"]:
                checks.append(_check("not_null", name, n, df[f["name"]].null_count()))
            if f.get("unique") and not f.get("primary_key"):
                present = df[f["name"]].drop_nulls()
                checks.append(_check("unique", name, len(present), len(present) - present.n_unique()))
            if f.get("derived") or f.get("after") or f.get("references") or f.get("primary_key"):
                continue
            if f.get("choices") is not None:
                allowed = pl.Series(f["choices"]).cast(pl.Int64 if t == "INTEGER" else pl.String)
                bad = df.select((col.is_not_null() & ~col.cast(allowed.dtype).is_in(allowed.implode())).sum()).item()
                checks.append(_check("one_of", name, n, bad))
            elif t in NUMERIC:
                bad = df.select(((col < f["min"]) | (col > f["max"])).sum()).item()
                checks.append(_check("range", name, n, bad, min=f["min"], max=f["max"]))
            elif t in ("DATE", "DATETIME"):
                lo, hi = parse_date(f["min"], "min"), parse_date(f["max"], "max")
                d = col.cast(pl.Date) if t == "DATETIME" else col
                bad = df.select(((d < lo) | (d > hi)).sum()).item()
                checks.append(_check("range", name, n, bad, min=f["min"], max=f["max"]))
    return checks


def rule_checks(spec: dict, frames: dict[str, pl.DataFrame]) -> list[dict[str, Any]]:
    """The rules between fields: product, sum over children, dates after dates."""
    checks = []
    for s in spec["schemas"]:
        df = frames.get(s["name"])
        if df is None:
            continue
        for f in s["fields"]:
            d, a, name = f.get("derived") or {}, f.get("after") or {}, f"{s['name']}.{f['name']}"
            if d.get("kind") == "product":
                x, y = d["fields"]
                tol = 0.5 / scale_of(f) + 1e-9
                bad = df.select(((pl.col(f["name"]) - pl.col(x) * pl.col(y)).abs() > tol).sum()).item()
                checks.append(_check("product", name, len(df), bad, fields=[x, y]))
            elif d.get("kind") == "sum":
                checks.append(_sum_check(spec, s, f, frames))
            if a:
                checks.append(_after_check(spec, s, f, frames))
    return checks


def _sum_check(spec: dict, s: dict, f: dict, frames: dict[str, pl.DataFrame]) -> dict[str, Any]:
    d = f["derived"]
    child = frames[d["schema"]]
    rel = owner_of(spec, d["schema"])
    unit = scale_of(f)
    sums = child.group_by(rel["child_key"]).agg(
        (pl.col(d["field"]).cast(pl.Float64).fill_null(0) * unit).round(0).sum().alias("__sum"))
    joined = frames[s["name"]].select(rel["parent_key"], f["name"]).join(
        sums, left_on=rel["parent_key"], right_on=rel["child_key"], how="left")
    bad = joined.select(((pl.col(f["name"]).cast(pl.Float64) * unit).round(0) != pl.col("__sum").fill_null(0))
                        .sum()).item()
    return _check("sum", f"{s['name']}.{f['name']}", len(joined), bad, of=f"{d['schema']}.{d['field']}")


def _after_check(spec: dict, s: dict, f: dict, frames: dict[str, pl.DataFrame]) -> dict[str, Any]:
    a = f["after"]
    df = frames[s["name"]]
    if a.get("schema"):
        rel = owner_of(spec, s["name"])
        parent = frames[a["schema"]].select(pl.col(rel["parent_key"]), pl.col(a["field"]).alias("__base"))
        df = df.join(parent, left_on=rel["child_key"], right_on=rel["parent_key"], how="left")
        base_type = field_of(schema_of(spec, a["schema"]), a["field"])["type"]
    else:
        df = df.with_columns(pl.col(a["field"]).alias("__base"))
        base_type = field_of(s, a["field"])["type"]
    later, base = pl.col(f["name"]), pl.col("__base")
    if "DATE" in (f["type"], base_type):  # compare calendar days when either side is a date
        later, base = later.cast(pl.Date), base.cast(pl.Date)
        gap = (later - base).dt.total_days()
    else:
        gap = (later - base).dt.total_seconds() / 86400
    lo = 0 if a.get("or_equal") else 1e-9 if a["min_days"] == 0 else a["min_days"]
    ok = later.is_null() | base.is_null() | ((gap >= lo) if a.get("or_equal") else (gap > 0) & (gap >= lo))
    bad = df.select((~ok).sum()).item()
    where = f"{a['schema']}.{a['field']}" if a.get("schema") else a["field"]
    return _check("date_order", f"{s['name']}.{f['name']}", len(df), bad, after=where)


def batch_report(spec: dict, frames: dict[str, pl.DataFrame], keys: bool = True) -> dict[str, Any]:
    """Every check on one batch or sample; `valid` is True when no check found a failing row.

    With `keys`, keys and relationships are checked by the multi-table integrity report (a sample holds
    every row it refers to); a corpus batch leaves them to `corpus_integrity`, which sees all batches.
    """
    checks = []
    if keys:
        schema = to_schema(spec)
        tables = {t: frames[t].select(schema.key_columns(t)).to_pandas() for t in schema.tables if t in frames}
        checks += integrity_report(tables, schema)["checks"]
    checks += [*field_checks(spec, frames), *rule_checks(spec, frames)]
    violations = sum(c["violations"] for c in checks)
    return {"valid": violations == 0, "violations": violations, "checks": checks,
            "rows": {t: len(df) for t, df in frames.items()}}


def corpus_integrity(spec: dict, parts: dict[str, list[str]]) -> dict[str, Any]:
    """Keys across all batches: primary keys and unique fields distinct, every foreign key a parent key."""
    checks = []
    scans = {name: pl.scan_parquet(files) for name, files in parts.items() if files}
    for s in spec["schemas"]:
        scan = scans.get(s["name"])
        if scan is None:
            continue
        for f in s["fields"]:
            if f.get("primary_key") or f.get("unique"):
                c = scan.select(pl.col(f["name"]).drop_nulls().count().alias("n"),
                                pl.col(f["name"]).drop_nulls().n_unique().alias("u")).collect()
                checks.append(_check("primary_key_unique" if f.get("primary_key") else "unique",
                                     f"{s['name']}.{f['name']}", c["n"][0], c["n"][0] - c["u"][0]))
    for r in spec["relationships"]:
        child, parent = scans.get(r["child"]), scans.get(r["parent"])
        if child is None or parent is None:
            continue
        fk = child.select(pl.col(r["child_key"]).drop_nulls())
        n = fk.select(pl.len()).collect().item()
        missing = fk.join(parent.select(pl.col(r["parent_key"])), left_on=r["child_key"], right_on=r["parent_key"],
                          how="anti").select(pl.len()).collect().item()
        checks.append(_check("foreign_key_exists", f"{r['parent']}.{r['parent_key']} -> {r['child']}.{r['child_key']}",
                             n, missing))
    violations = sum(c["violations"] for c in checks)
    return {"valid": violations == 0, "violations": violations, "checks": checks}
