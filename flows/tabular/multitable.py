"""Flows `multitable` and `multitable_sample`: related tables in, related synthetic tables out.

`multitable`: load all -> check the schema and data (400s before training; orphans refused, dropped or
emptied) -> choose the method (`auto`: HMA only when its predicted cost is small, see tasks.tabular.multitable.cost)
-> fit -> sample at scale_factor -> measure relationship integrity and quality (sdmetrics' multi-table
QualityReport against the training tables) -> export each table (-> save the model).
`multitable_sample`: a saved multi-table model -> sample -> integrity -> export (no real tables to compare
with: quality is the training run's, kept in the model). Both write manifest.json (tables with rows and
output URIs, integrity, quality, method, timings); the API builds its response from it.
"""

from __future__ import annotations

import math
import time
from typing import Any

import pandas as pd
from prefect import flow
from prefect.runtime import flow_run

from flows.outputs import run_outputs, write_result
from flows.progress import Progress
from inferloop.core.errors import invalid_request
from inferloop.core.settings import get_settings
from tasks.tabular.load import load_table
from tasks.tabular.multitable.checks import orphan_mode
from tasks.tabular.multitable.cost import method_choice
from tasks.tabular.multitable.schema import Schema, check_method, parse_schema
from tasks.tabular.multitable.steps import (check_input_tables, check_integrity, export_tables,
                                            fit_multitable, load_model, measure_quality, sample_multitable,
                                            save_model)
from tasks.tabular.synthesizers import resolve
from tasks.tabular.synthesizers.base import coerce_seed


@flow(name="multitable", persist_result=True, log_prints=True)
def multitable(tables: dict[str, dict], relationships: list[dict] | None = None, algorithm: str = "sdv",
               parameters: dict | None = None, scale_factor: float = 1.0, seed: int | None = None,
               method: str = "auto", primary_keys: dict[str, str] | None = None, drop_orphans: bool = False,
               save_model: bool = False, model_id: str | None = None, orphans: str | None = None) -> dict:
    """Generate related tables; `tables` is {name: {"uri": path or storage URI, "format": optional}}.

    orphans: error (default: 400 with counts), drop, or null (keep the rows with the foreign key emptied);
    drop_orphans=True is the older spelling of orphans="drop"."""
    with run_outputs() as out:
        return _multitable(out, tables, relationships or [], algorithm, parameters or {}, scale_factor, seed,
                           method, primary_keys or {}, orphan_mode(orphans, drop_orphans), save_model, model_id)


@flow(name="multitable_sample", persist_result=True, log_prints=True)
def multitable_sample(model_uri: str, scale_factor: float = 1.0, seed: int | None = None,
                      model_id: str | None = None) -> dict:
    """Generate related tables again from a saved multi-table model."""
    with run_outputs() as out:
        return _resample(out, model_uri, scale_factor, seed, model_id)


def check_scale(scale_factor: Any) -> float:
    """A finite scale factor above 0, or INVALID_REQUEST naming scale_factor."""
    try:
        scale = float(scale_factor)
    except (TypeError, ValueError):
        raise invalid_request(f"scale_factor must be a number, got {scale_factor!r}", "scale_factor")
    if not math.isfinite(scale) or scale <= 0:
        raise invalid_request(f"scale_factor must be greater than 0, got {scale_factor!r}", "scale_factor")
    return scale


def check_output_rows(rows: dict[str, int], scale: float, max_rows: int) -> None:
    """No table may be scaled past the row limit."""
    for table, n in rows.items():
        if n * scale > max_rows:
            raise invalid_request(f"scale_factor {scale:g} would give table '{table}' about {int(n * scale):,} "
                                  f"rows; the limit is {max_rows:,}", "scale_factor")


def _multitable(out: str, tables: dict[str, dict], relationships: list[dict], algorithm: str, parameters: dict,
                scale_factor: float, seed: int | None, method: str, primary_keys: dict[str, str],
                orphans: str, save: bool, model_id: str | None) -> dict:
    settings = get_settings()
    started = time.perf_counter()
    progress = Progress("multitable")
    scale = check_scale(scale_factor)
    seed = coerce_seed(seed)
    model_key, params = resolve(algorithm, parameters)
    if not isinstance(tables, dict):
        raise invalid_request("tables must be an object of name: {url}", "tables")
    schema = parse_schema(tables, relationships, primary_keys)
    check_method(schema, model_key, method)
    timings: dict[str, float] = {}

    t = time.perf_counter()
    frames = {name: load_table(_uri(name, src), src.get("format"), max_rows=settings.max_rows)
              for name, src in tables.items()}
    timings["load"] = time.perf_counter() - t
    check_output_rows({n: len(df) for n, df in frames.items()}, scale, settings.max_rows)
    progress.set(5, f"loaded {len(frames)} tables", force=True)

    t = time.perf_counter()
    frames, orphan_rows = check_input_tables(frames, schema, orphans)
    timings["check"] = time.perf_counter() - t
    if orphan_rows:
        print(f"orphan rows {'dropped' if orphans == 'drop' else 'kept with an empty key'}: {orphan_rows}")
    choice = method_choice(schema, model_key, params, method, {n: df.shape for n, df in frames.items()}, scale)
    chosen = choice["method"]
    print(f"method {chosen}: {choice['reason']}")
    progress.set(10, f"checked; method {chosen}", force=True)

    t = time.perf_counter()
    model = fit_multitable(frames, schema, chosen, model_key, params, seed, progress=progress.span(10, 70))
    timings["train"] = time.perf_counter() - t
    progress.set(70, "trained", force=True)

    manifest = _generate(out, model, schema, scale, seed, timings, progress, real=frames)
    manifest.update(algorithm=algorithm, parameters=params, orphans=orphans, drop_orphans=orphans == "drop",
                    orphans_dropped=orphan_rows if orphans == "drop" else {},
                    orphans_nulled=orphan_rows if orphans == "null" else {}, method_choice=choice,
                    original_rows=int(sum(len(df) for df in frames.values())),
                    training_rows=int(sum(len(df) for df in frames.values())),
                    columns=int(sum(df.shape[1] for df in frames.values())))
    if save:
        t = time.perf_counter()
        manifest["model_uri"] = f"{out}/multitable_model.pkl"
        manifest["size_bytes"] = save_model(model, manifest["model_uri"])
        timings["save"] = time.perf_counter() - t
        manifest["model_id"] = model_id
    manifest["training_time"] = round(timings["train"], 3)
    manifest["generation_time"] = round(time.perf_counter() - started, 3)
    manifest["timings"] = {k: round(v, 3) for k, v in timings.items()}
    write_result(out, manifest, "manifest.json")  # written last: marks the outputs complete
    progress.set(100, "done", force=True)
    return manifest


def _uri(name: str, src: Any) -> str:
    """A table's path or storage URI ({"uri": ...}; {"url": ...} is accepted too)."""
    uri = (src.get("uri") or src.get("url")) if isinstance(src, dict) else None
    if not isinstance(uri, str) or not uri:
        raise invalid_request(f"tables.{name} must be an object with a 'uri'", f"tables.{name}")
    return uri


def _resample(out: str, model_uri: str, scale_factor: float, seed: int | None, model_id: str | None) -> dict:
    settings = get_settings()
    started = time.perf_counter()
    progress = Progress("multitable_sample")
    scale = check_scale(scale_factor)
    seed = coerce_seed(seed)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    model = load_model(model_uri)
    timings["load_model"] = time.perf_counter() - t
    check_output_rows({n: s.rows for n, s in model.shapes.items()}, scale, settings.max_rows)
    progress.set(10, f"loaded the {model.method} model", force=True)
    manifest = _generate(out, model, model.schema, scale, seed, timings, progress)
    manifest.update(model_id=model_id, model_uri=model_uri,
                    original_rows=int(sum(s.rows for s in model.shapes.values())))
    manifest["generation_time"] = round(time.perf_counter() - started, 3)
    manifest["timings"] = {k: round(v, 3) for k, v in timings.items()}
    write_result(out, manifest, "manifest.json")
    progress.set(100, "done", force=True)
    return manifest


def _generate(out: str, model, schema: Schema, scale: float, seed: int | None, timings: dict[str, float],
              progress: Progress, real: dict[str, pd.DataFrame] | None = None) -> dict:
    """Sample, measure integrity (and quality against `real`, when given) and export: the manifest's common
    part."""
    t = time.perf_counter()
    synthetic, notes = sample_multitable(model, scale, seed)
    timings["sample"] = time.perf_counter() - t
    progress.set(85, "sampled " + ", ".join(f"{k} {len(v)}" for k, v in synthetic.items()), force=True)

    t = time.perf_counter()
    integrity = check_integrity(synthetic, schema)
    timings["integrity"] = time.perf_counter() - t
    if not integrity["valid"]:  # never expected: the generators keep keys by construction
        print(f"relationship integrity violated: {integrity}")
    progress.set(88, f"relationship integrity {integrity['score']}", force=True)

    quality = None
    if real is not None:
        t = time.perf_counter()
        quality = measure_quality(real, synthetic, schema)
        timings["quality"] = time.perf_counter() - t
        progress.set(92, f"quality {quality.get('score')}", force=True)

    t = time.perf_counter()
    uris = export_tables(synthetic, out)
    timings["export"] = time.perf_counter() - t
    return {
        "flow_run_id": flow_run.id,
        "method": model.method,
        "model_key": model.model_key,
        "seed": seed,
        "scale_factor": scale,
        "tables": {name: _table_entry(df, uris[name], model, name) for name, df in synthetic.items()},
        "relationships": [r.to_dict() for r in schema.relationships],
        "primary_keys": dict(schema.primary_keys),
        "relationship_integrity": integrity,
        "notes": notes,
        "generated_rows": int(sum(len(df) for df in synthetic.values())),
        "quality_score": (quality or {}).get("score"),
        "quality": quality,
        "model_metadata": model.training_metadata,
    }


def _table_entry(df: pd.DataFrame, uri: str, model, name: str) -> dict:
    return {"rows": len(df), "columns": int(df.shape[1]), "original_rows": model.shapes[name].rows,
            "output_uri": uri, "primary_key": model.schema.primary_keys.get(name)}

