"""Flow `sample_model`: load a saved model -> sample (optionally conditioned) -> export, with a manifest.

Runs for POST /api/tabular/models/{id}/generate and POST /api/synthgen/models/{id}/generate; its manifest
has the same shape as `generate`'s, so download and job status treat both alike.
"""

from __future__ import annotations

import time

from prefect import flow
from prefect.runtime import flow_run

from flows.outputs import current_run_dir, record_error, write_result
from flows.progress import Progress
from inferloop.errors import InferloopError
from inferloop.settings import get_settings
from tasks.export import export_rows
from tasks.model_store import load_model_from
from tasks.sample import sample_rows


@flow(name="sample_model", persist_result=True, log_prints=True)
def sample_model(model_uri: str, num_rows: int = 1000, seed: int | None = None,
                 conditions: dict | None = None, model_id: str | None = None) -> dict:
    """Generate `num_rows` rows from the model saved at `model_uri`; returns a manifest."""
    out = current_run_dir()
    try:
        return _sample(out, model_uri, num_rows, seed, conditions, model_id)
    except Exception as exc:
        record_error(out, exc)
        raise


def _sample(out: str, model_uri: str, num_rows: int, seed: int | None, conditions: dict | None,
            model_id: str | None) -> dict:
    settings = get_settings()
    started = time.perf_counter()
    progress = Progress("sample_model")
    if not 1 <= int(num_rows) <= settings.max_rows:
        raise InferloopError("INVALID_REQUEST", f"num_rows must be between 1 and {settings.max_rows}",
                             "num_rows")
    timings: dict[str, float] = {}

    t = time.perf_counter()
    model = load_model_from(model_uri)
    timings["load_model"] = time.perf_counter() - t
    progress.set(10, f"loaded {model.model_key}", force=True)

    t = time.perf_counter()
    synthetic = sample_rows(model, int(num_rows), seed, conditions=conditions or None)  # parsed and checked there
    timings["sample"] = time.perf_counter() - t
    progress.set(85, f"sampled {len(synthetic)} rows", force=True)

    t = time.perf_counter()
    output_uri = f"{out}/synthetic.parquet"
    export_rows(synthetic, output_uri)
    timings["export"] = time.perf_counter() - t

    manifest = {
        "flow_run_id": flow_run.id,
        "model_id": model_id,
        "model_uri": model_uri,
        "output_uri": output_uri,
        "algorithm": model.model_key,
        "model_key": model.model_key,
        "seed": seed,
        "conditions": conditions or {},
        "generated_rows": int(len(synthetic)),
        "columns": int(synthetic.shape[1]),
        "generation_time": round(time.perf_counter() - started, 3),
        "device": model.device,
        "timings": {k: round(v, 3) for k, v in timings.items()},
    }
    write_result(out, manifest, "manifest.json")  # written last: marks the output complete
    progress.set(100, "done", force=True)
    return manifest
