"""The multi-table flow's Prefect tasks: check inputs, fit, sample, measure integrity, export, save."""

from __future__ import annotations

from typing import Any

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.tabular.export import write_parquet
from tasks.tabular.multitable.checks import check_tables
from tasks.tabular.multitable.integrity import integrity_report
from tasks.tabular.multitable.methods import build_multitable
from tasks.tabular.multitable.model import MultiTableModel, Progress
from tasks.tabular.multitable.quality import quality_report
from tasks.tabular.multitable.schema import Schema
from tasks.tabular.multitable.store import load_multitable, save_multitable


@task(name="check_tables", cache_policy=NO_CACHE, persist_result=False)
def check_input_tables(frames: dict[str, pd.DataFrame], schema: Schema,
                       orphans: str) -> tuple[dict[str, pd.DataFrame], dict[str, int]]:
    """Columns, key types, unique keys, one-to-one and orphans (error, drop or null), before any training."""
    return check_tables(frames, schema, orphans)


@task(name="fit_multitable", cache_policy=NO_CACHE, persist_result=False)
def fit_multitable(frames: dict[str, pd.DataFrame], schema: Schema, method: str, model_key: str,
                   params: dict[str, Any], seed: int | None, progress: Progress | None = None) -> MultiTableModel:
    """Fit the multi-table model of `method` on every table."""
    model = build_multitable(schema, method, model_key, params)
    print(f"fitting {method} ({model_key}) on {len(frames)} tables: "
          + ", ".join(f"{t} {len(df)}x{df.shape[1]}" for t, df in frames.items()))
    model.fit(frames, seed=seed, progress=progress)
    return model


@task(name="sample_multitable", cache_policy=NO_CACHE, persist_result=False)
def sample_multitable(model: MultiTableModel, scale: float,
                      seed: int | None) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Every table at `scale` times its training rows."""
    return model.sample(scale, seed)


@task(name="check_integrity", cache_policy=NO_CACHE, persist_result=False)
def check_integrity(frames: dict[str, pd.DataFrame], schema: Schema) -> dict[str, Any]:
    """Relationship integrity measured on the generated tables."""
    return integrity_report(frames, schema)


@task(name="measure_quality", cache_policy=NO_CACHE, persist_result=False)
def measure_quality(real: dict[str, pd.DataFrame], synthetic: dict[str, pd.DataFrame],
                    schema: Schema) -> dict[str, Any]:
    """sdmetrics' multi-table quality of the generated tables against the training tables; a failure of the
    report is recorded, not raised (the tables are still good)."""
    try:
        return quality_report(real, synthetic, schema)
    except Exception as exc:  # noqa: BLE001 - the report is a measurement, not the product
        print(f"quality report failed: {type(exc).__name__}: {exc}")
        return {"score": None, "error": f"{type(exc).__name__}: {exc}"}


@task(name="export_tables", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE, persist_result=False)
def export_tables(frames: dict[str, pd.DataFrame], out: str) -> dict[str, str]:
    """Store each generated table as Parquet under <out>/tables/; returns {table: uri}."""
    uris = {}
    for table, df in frames.items():
        uris[table] = f"{out}/tables/{table}.parquet"
        write_parquet(df, uris[table])
    return uris


@task(name="save_multitable", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE, persist_result=False)
def save_model(model: MultiTableModel, uri: str) -> int:
    """Store the fitted model for the registry; returns its size in bytes."""
    return save_multitable(model, uri)


@task(name="load_multitable", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE, persist_result=False)
def load_model(uri: str) -> MultiTableModel:
    """Load a saved multi-table model."""
    return load_multitable(uri)
