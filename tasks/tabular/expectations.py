"""Great Expectations: a suite derived from the original table, run on the synthetic one (ephemeral context).

The suite: the column set matches exactly; per column its type family (integers, floats, booleans,
datetimes, or the Python types of an object column's values); numeric columns between the original's
min and max; non-numeric columns with at most 50 distinct values within the original's values; and a
not-null fraction of at least the original's minus 0.05 (no expectation when that is 0 or less).
"""

from __future__ import annotations

import os
import uuid

import numpy as np
import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.tabular.quality import jsonable

MAX_SET_VALUES = 50
NULL_TOLERANCE = 0.05
_FAMILIES = {
    "int": [f"{p}{b}" for p in ("int", "uint", "Int", "UInt") for b in (8, 16, 32, 64)],
    "float": ["float16", "float32", "float64", "Float32", "Float64"],
    "bool": ["bool", "boolean"],
    "datetime": [f"datetime64[{u}]" for u in ("ns", "us", "ms", "s")]
    + [f"datetime64[{u}, UTC]" for u in ("ns", "us", "ms", "s")],
}
_KEPT_KWARGS = ("min_value", "max_value", "value_set", "mostly", "type_list", "column_set")


def derive_suite(original: pd.DataFrame) -> list:
    """The expectations the synthetic table should meet, learnt from the original."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations.expectations as gxe

    out: list = [gxe.ExpectTableColumnsToMatchSet(column_set=[str(c) for c in original.columns],
                                                  exact_match=True)]
    for c in original.columns:
        s = original[c]
        col = str(c)
        types = _type_list(s)
        if types:
            out.append(gxe.ExpectColumnValuesToBeInTypeList(column=col, type_list=types))
        nn = s.dropna()
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            finite = nn[np.isfinite(pd.to_numeric(nn, errors="coerce").astype(float))]
            if len(finite):
                out.append(gxe.ExpectColumnValuesToBeBetween(column=col, min_value=_plain(finite.min()),
                                                             max_value=_plain(finite.max())))
        elif len(nn) and not pd.api.types.is_datetime64_any_dtype(s):
            try:
                values = pd.unique(nn)
            except TypeError:  # unhashable values (lists, dicts)
                values = []
            if 0 < len(values) <= MAX_SET_VALUES:
                out.append(gxe.ExpectColumnValuesToBeInSet(column=col, value_set=[_plain(v) for v in values]))
        mostly = round(float(s.notna().mean()) - NULL_TOLERANCE, 4)
        if mostly > 0:
            out.append(gxe.ExpectColumnValuesToNotBeNull(column=col, mostly=mostly))
    return out


def _type_list(s: pd.Series) -> list[str] | None:
    """Accepted dtype names (or value type names for object columns); None when nothing can be said."""
    for family, check in (("bool", pd.api.types.is_bool_dtype), ("int", pd.api.types.is_integer_dtype),
                          ("float", pd.api.types.is_float_dtype),
                          ("datetime", pd.api.types.is_datetime64_any_dtype)):
        if check(s):
            return sorted({*_FAMILIES[family], str(s.dtype)})
    if isinstance(s.dtype, pd.CategoricalDtype):
        return ["category"]
    names = {type(v).__name__ for v in s.dropna().head(1000)}
    return sorted(names | {str(s.dtype)}) if names else None


def _plain(v):
    """JSON-able Python value."""
    if isinstance(v, np.generic):
        return v.item()
    return v


def run_expectations(original: pd.DataFrame, synthetic: pd.DataFrame) -> dict:
    """Run the derived suite on the synthetic table; per-expectation results and success_percent."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    name = f"synthetic-{uuid.uuid4().hex[:8]}"
    batch_def = (context.data_sources.add_pandas(name=name).add_dataframe_asset(name="synthetic")
                 .add_batch_definition_whole_dataframe(name="whole"))
    suite = gx.ExpectationSuite(name=f"{name}-suite", expectations=derive_suite(original))
    frame = synthetic.copy()
    frame.columns = [str(c) for c in frame.columns]
    res = batch_def.get_batch(batch_parameters={"dataframe": frame}).validate(suite, result_format="SUMMARY")
    results = []
    for r in res.results:
        cfg = r.expectation_config
        item = {"expectation": cfg.type, "column": cfg.kwargs.get("column"), "success": bool(r.success),
                "observed_value": r.result.get("observed_value"),
                "unexpected_count": r.result.get("unexpected_count"),
                "unexpected_percent": r.result.get("unexpected_percent"),
                "expected": {k: cfg.kwargs[k] for k in _KEPT_KWARGS if cfg.kwargs.get(k) is not None}}
        error = _exception_message(r.exception_info or {})
        if error:
            item["error"] = error
        results.append(item)
    stats = res.statistics
    return jsonable({
        "success": bool(res.success), "success_percent": round(float(stats["success_percent"] or 0.0), 2),
        "evaluated": int(stats["evaluated_expectations"]), "successful": int(stats["successful_expectations"]),
        "results": results})


def _exception_message(info: dict) -> str | None:
    """The message of an exception GX caught (flat, or keyed by metric)."""
    if "raised_exception" in info:
        return info.get("exception_message") if info.get("raised_exception") else None
    return next((v.get("exception_message") for v in info.values()
                 if isinstance(v, dict) and v.get("raised_exception")), None)


@task(name="expectations", cache_policy=NO_CACHE, persist_result=False)
def check_expectations(original: pd.DataFrame, synthetic: pd.DataFrame) -> dict:
    """Great Expectations suite from the original, validated on the synthetic data."""
    return run_expectations(original, synthetic)
