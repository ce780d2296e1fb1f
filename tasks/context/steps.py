"""The context flows' Prefect tasks: resolve the spec, generate, validate, store, check a corpus, export."""

from __future__ import annotations

import random
import time
from typing import Any

import polars as pl
from prefect import task
from prefect.cache_policies import NO_CACHE

from inferloop.core import storage
from inferloop.core.errors import InferloopError
from tasks.context.analysis import analyze
from tasks.context.export import export_tables
from tasks.context.generate import generate_tables
from tasks.context.spec import normalize_spec, select_schemas
from tasks.context.validate import batch_report, corpus_integrity


def new_seed() -> int:
    return random.SystemRandom().randrange(1, 2**31 - 1)


@task(name="resolve_spec", cache_policy=NO_CACHE, persist_result=False)
def resolve_spec(context: str | None, spec: dict | None, domain_hint: str | None,
                 schemas: list[str] | None) -> tuple[dict[str, Any], list[str]]:
    """The spec to generate: the one given, else the analysis of `context`; restricted to `schemas`."""
    if spec is None:
        if context is None:
            raise InferloopError("INVALID_REQUEST", "give a context or a spec", "context")
        spec = analyze(context, domain_hint)["spec"]
    spec = normalize_spec(spec)
    return select_schemas(spec, schemas)


@task(name="generate_tables", cache_policy=NO_CACHE, persist_result=False)
def generate(spec: dict, counts: dict[str, int], offsets: dict[str, int], totals: dict[str, int], seed: int,
             batch: int = 0) -> dict[str, pl.DataFrame]:
    """One batch of every schema (vectorised; keys, relationships and rules by construction)."""
    return generate_tables(spec, counts, offsets, totals, seed, batch)


def checked(spec: dict, frames: dict[str, pl.DataFrame], keys: bool = True) -> dict[str, Any]:
    """Every rule on every row; a failing row fails the run (CONSTRAINT_VIOLATION)."""
    report = batch_report(spec, frames, keys)
    if not report["valid"]:
        bad = [c for c in report["checks"] if c["violations"]]
        raise InferloopError("CONSTRAINT_VIOLATION", f"{report['violations']} generated value(s) break the rules: "
                             + "; ".join(f"{c['check']} {c['target']}: {c['violations']}" for c in bad[:5]),
                             status=500, extra={"checks": bad})
    return report


@task(name="validate_tables", cache_policy=NO_CACHE, persist_result=False)
def validate(spec: dict, frames: dict[str, pl.DataFrame]) -> dict[str, Any]:
    """Every rule, key and relationship of a sample on every row (CONSTRAINT_VIOLATION otherwise)."""
    return checked(spec, frames, keys=True)


def store_parts(frames: dict[str, pl.DataFrame], out: str, batch: int, on_written: Any = None) -> dict[str, str]:
    """Each schema's rows of this batch as <out>/data/<schema>/part-<batch>.parquet; returns {schema: uri}."""
    uris = {}
    for name, df in frames.items():
        uri = f"{out}/data/{name}/part-{batch:05d}.parquet"
        with storage.open_uri(uri, "wb") as f:
            df.write_parquet(f, compression="lz4")
        uris[name] = uri
        if on_written is not None:
            on_written(name, len(df))
    return uris


@task(name="build_batch", retries=1, cache_policy=NO_CACHE, persist_result=False)
def build_batch(spec: dict, out: str, batch: int, counts: dict[str, int], offsets: dict[str, int],
                totals: dict[str, int], seed: int, on_written: Any = None) -> dict[str, Any]:
    """A corpus batch in one task (generate, check every rule on every row, write its Parquet parts)."""
    t0 = time.perf_counter()
    frames = generate_tables(spec, counts, offsets, totals, seed, batch)
    t1 = time.perf_counter()
    report = checked(spec, frames, keys=False)
    t2 = time.perf_counter()
    uris = store_parts(frames, out, batch, on_written)
    t3 = time.perf_counter()
    print(f"batch {batch}: {sum(counts.values())} records; generate {t1 - t0:.2f} s, check "
          f"{len(report['checks'])} rules {t2 - t1:.2f} s, write {t3 - t2:.2f} s")
    return {"rows": {k: len(v) for k, v in frames.items()}, "files": uris, "checks": len(report["checks"]),
            "violations": report["violations"]}


@task(name="write_parts", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE, persist_result=False)
def write_parts(frames: dict[str, pl.DataFrame], out: str, batch: int,
                on_written: Any = None) -> dict[str, str]:
    """Each schema's rows of this batch as <out>/data/<schema>/part-<batch>.parquet; returns {schema: uri}."""
    return store_parts(frames, out, batch, on_written)


@task(name="check_corpus", cache_policy=NO_CACHE, persist_result=False)
def check_corpus(spec: dict, parts: dict[str, list[str]]) -> dict[str, Any]:
    """Keys across all batches: unique primary keys and unique fields, every foreign key resolves."""
    report = corpus_integrity(spec, parts)
    if not report["valid"]:
        raise InferloopError("CONSTRAINT_VIOLATION", f"{report['violations']} key problem(s) across batches",
                             status=500, extra={"checks": [c for c in report["checks"] if c["violations"]]})
    return report


@task(name="export_tables", retries=1, cache_policy=NO_CACHE, persist_result=False)
def export(spec: dict, parts: dict[str, list[str]], fmt: str, options: dict, out: str,
           schemas: list[str] | None = None) -> dict[str, Any]:
    """The tables in csv, json, xlsx or sql files under `out`."""
    return export_tables(spec, parts, fmt, options, out, schemas)
