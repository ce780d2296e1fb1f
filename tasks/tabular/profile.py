"""Profile task: a quick per-column profile of the input, computed with polars."""

from __future__ import annotations

import pandas as pd
import polars as pl
from prefect import task
from prefect.cache_policies import NO_CACHE


def profile_frame(df: pd.DataFrame) -> dict:
    """Rows, columns, missing values, duplicates and per-column dtype/null/unique counts."""
    pf = pl.from_pandas(_stringify_objects(df))
    columns = {}
    for name in pf.columns:
        s = pf.get_column(name)
        columns[name] = {"dtype": str(df[name].dtype), "missing": int(s.null_count()),
                         "unique": int(s.n_unique())}
    return {
        "rows": pf.height,
        "columns": pf.width,
        "missing_values": int(sum(c["missing"] for c in columns.values())),
        "duplicate_rows": int(pf.height - pf.unique().height) if pf.width else 0,
        "memory_usage_bytes": int(df.memory_usage(deep=True).sum()),
        "column_profiles": columns,
    }


def _stringify_objects(df: pd.DataFrame) -> pd.DataFrame:
    """polars needs one type per column: mixed object columns become strings (nulls kept)."""
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object:
            out[c] = out[c].map(lambda v: None if v is None or (isinstance(v, float) and v != v) else str(v))
    return out


@task(name="profile", cache_policy=NO_CACHE, persist_result=False)
def profile_table(df: pd.DataFrame) -> dict:
    """Profile the input table."""
    return profile_frame(df)
