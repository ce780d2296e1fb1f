"""The multi-table flow's Prefect tasks: check inputs, fit, sample, measure integrity, export, save."""

from __future__ import annotations

from typing import Any

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.export import write_parquet
from tasks.multitable.checks import check_tables
from tasks.multitable.integrity import integrity_report
from tasks.multitable.model import MultiTableModel, Progress, build_multitable
from tasks.multitable.schema import Schema
from tasks.multitable.store import load_multitable, save_multitable


@task(name="check_tables", cache_policy=NO_CACHE, persist_result=False)
def check_input_tables(frames: dict[str, pd.DataFrame], schema: Schema,
                       drop_orphans: bool) -> tuple[dict[str, pd.DataFrame], dict[str, int]]:
    """Columns, key types, unique keys, one-to-one and orphans, before any training."""
    return check_tables(frames, schema, drop_orphans)


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
