"""Flow `generate`: load -> profile -> train -> sample -> validate -> export, with a manifest."""

from __future__ import annotations

import time

from prefect import flow
from prefect.runtime import flow_run

from flows.outputs import current_run_dir, record_error, write_result
from flows.progress import Progress
from inferloop.errors import InferloopError
from inferloop.settings import get_settings
from tasks.export import export_rows
from tasks.load import load_table
from tasks.profile import profile_table
from tasks.quality import summarize_statistics
from tasks.synthesizers import resolve
from tasks.sample import sample_rows
from tasks.train import train_model
from tasks.validate import validate_quality


@flow(name="generate", persist_result=True, log_prints=True)
def generate(data: str, algorithm: str = "sdv", num_rows: int | None = None, seed: int | None = None,
             parameters: dict | None = None, data_format: str | None = None,
             constraints: list[dict] | None = None) -> dict:
    """Train a synthesizer on `data` (a path or storage URI) and write synthetic rows; returns a manifest.

    `constraints` (normalised, see inferloop.constraint_specs) hold in every synthetic row.
    """
    out = current_run_dir()
    try:
        return _generate(out, data, algorithm, num_rows, seed, parameters or {}, data_format, constraints)
    except Exception as exc:
        record_error(out, exc)
        raise


def _generate(out: str, data: str, algorithm: str, num_rows: int | None, seed: int | None,
              parameters: dict, data_format: str | None, constraints: list[dict] | None = None) -> dict:
    settings = get_settings()
    started = time.perf_counter()
    progress = Progress("generate")
    model_key, params = resolve(algorithm, parameters)
    if num_rows is not None and not 1 <= int(num_rows) <= settings.max_rows:
        raise InferloopError("INVALID_REQUEST", f"num_rows must be between 1 and {settings.max_rows}",
                             "num_rows")

    timings: dict[str, float] = {}
    t = time.perf_counter()
    real = load_table(data, data_format, max_rows=settings.max_rows)
    timings["load"] = time.perf_counter() - t
    progress.set(5, f"loaded {len(real)} rows", force=True)

    t = time.perf_counter()
    profile = profile_table(real)
    timings["profile"] = time.perf_counter() - t
    progress.set(10, "profiled", force=True)

    t = time.perf_counter()
    model = train_model(real, model_key, params, seed, progress=progress.span(10, 80),
                        constraints=constraints)
    timings["train"] = time.perf_counter() - t
    progress.set(80, "trained", force=True)

    n = int(num_rows) if num_rows is not None else len(real)
    t = time.perf_counter()
    synthetic = sample_rows(model, n, seed)
    timings["sample"] = time.perf_counter() - t
    progress.set(88, f"sampled {len(synthetic)} rows", force=True)

    t = time.perf_counter()
    quality = validate_quality(real, synthetic, max_rows=settings.quality_sample_rows)
    statistical = summarize_statistics(real, synthetic, quality["score"])
    timings["validate"] = time.perf_counter() - t
    progress.set(95, f"quality score {quality['score']}", force=True)

    t = time.perf_counter()
    output_uri = f"{out}/synthetic.parquet"
    export_rows(synthetic, output_uri)
    timings["export"] = time.perf_counter() - t

    manifest = {
        "flow_run_id": flow_run.id,
        "output_uri": output_uri,
        "algorithm": algorithm,
        "model_key": model_key,
        "parameters": params,
        "seed": seed,
        "constraints": constraints or [],
        "original_rows": int(len(real)),
        "generated_rows": int(len(synthetic)),
        "columns": int(synthetic.shape[1]),
        "generation_time": round(time.perf_counter() - started, 3),
        "quality_score": quality["score"],
        "quality": quality,
        "statistical_similarity": statistical,
        "profile": {k: v for k, v in profile.items() if k != "column_profiles"},
        "device": model.device,
        "model_metadata": model.training_metadata,
        "timings": {k: round(v, 3) for k, v in timings.items()},
    }
    # the manifest is written last: its presence is what marks the output complete
    write_result(out, manifest, "manifest.json")
    progress.set(100, "done", force=True)
    return manifest
