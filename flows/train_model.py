"""Flow `train_model`: load -> train -> score -> save the fitted model to storage, with a manifest.

The registry entry (POST /api/tabular/models, POST /api/synthgen/models) becomes `ready` from this run's
state; the manifest carries what the registry records (artifact, size, quality score, metadata).
"""

from __future__ import annotations

import time

from prefect import flow
from prefect.runtime import flow_run

from flows.outputs import current_run_dir, record_error, write_result
from flows.progress import Progress
from inferloop.settings import get_settings
from tasks.load import load_table
from tasks.model_store import save_model
from tasks.sample import sample_rows
from tasks.synthesizers import resolve
from tasks.train import train_model as fit_model
from tasks.validate import validate_quality


@flow(name="train_model", persist_result=True, log_prints=True)
def train_model(data: str, algorithm: str = "sdv", parameters: dict | None = None, seed: int | None = None,
                data_format: str | None = None, constraints: list[dict] | None = None,
                model_id: str | None = None) -> dict:
    """Fit a synthesizer on `data` (a path or storage URI) and save it; returns a manifest."""
    out = current_run_dir()
    try:
        return _train(out, data, algorithm, parameters or {}, seed, data_format, constraints, model_id)
    except Exception as exc:
        record_error(out, exc)
        raise


def _train(out: str, data: str, algorithm: str, parameters: dict, seed: int | None, data_format: str | None,
           constraints: list[dict] | None, model_id: str | None) -> dict:
    settings = get_settings()
    started = time.perf_counter()
    progress = Progress("train_model")
    model_key, params = resolve(algorithm, parameters)
    timings: dict[str, float] = {}

    t = time.perf_counter()
    real = load_table(data, data_format, max_rows=settings.max_rows)
    timings["load"] = time.perf_counter() - t
    progress.set(5, f"loaded {len(real)} rows", force=True)

    t = time.perf_counter()
    model = fit_model(real, model_key, params, seed, progress=progress.span(5, 85),
                      constraints=constraints or None)
    timings["train"] = time.perf_counter() - t
    progress.set(85, "trained", force=True)

    # the registry's quality score: a sample as large as the training data (capped), scored against it
    t = time.perf_counter()
    n = min(len(real), settings.quality_sample_rows)
    synthetic = sample_rows(model, n, seed)
    quality = validate_quality(real, synthetic, max_rows=settings.quality_sample_rows)
    timings["score"] = time.perf_counter() - t
    progress.set(95, f"quality score {quality['score']}", force=True)

    t = time.perf_counter()
    model_uri = f"{out}/model.pkl"
    size = save_model(model, model_uri)
    timings["save"] = time.perf_counter() - t

    manifest = {
        "flow_run_id": flow_run.id,
        "model_id": model_id,
        "model_uri": model_uri,
        "size_bytes": size,
        "algorithm": algorithm,
        "model_key": model_key,
        "parameters": params,
        "seed": seed,
        "constraints": constraints or [],
        "training_rows": int(len(real)),
        "columns": int(real.shape[1]),
        "quality_score": quality["score"],
        "quality": quality,
        "model_metadata": model.training_metadata,
        "device": model.device,
        "training_time": round(time.perf_counter() - started, 3),
        "timings": {k: round(v, 3) for k, v in timings.items()},
    }
    write_result(out, manifest, "manifest.json")  # written last: marks the model complete
    progress.set(100, "done", force=True)
    return manifest
