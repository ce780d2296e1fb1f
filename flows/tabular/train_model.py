"""Flow `train_model`: load -> train -> score -> save the fitted model to storage, with a manifest.

The registry entry (POST /api/tabular/models, POST /api/synthgen/models) becomes `ready` from this run's
state; the manifest carries what the registry records (artifact, size, quality score, metadata).
"""

from __future__ import annotations

from prefect import flow
from prefect.runtime import flow_run

from flows.outputs import run_outputs
from flows.progress import Steps
from inferloop.core.settings import get_settings
from tasks.tabular.load import load_table
from tasks.tabular.model_store import save_model
from tasks.tabular.sample import sample_rows
from tasks.tabular.synthesizers import resolve
from tasks.tabular.train import train_model as fit_model
from tasks.tabular.validate import validate_quality


@flow(name="train_model", persist_result=True, log_prints=True)
def train_model(data: str, algorithm: str = "sdv", parameters: dict | None = None, seed: int | None = None,
                data_format: str | None = None, constraints: list[dict] | None = None,
                model_id: str | None = None) -> dict:
    """Fit a synthesizer on `data` (a path or storage URI) and save it; returns a manifest."""
    with run_outputs() as out:
        return _train(out, data, algorithm, parameters or {}, seed, data_format, constraints, model_id)


def _train(out: str, data: str, algorithm: str, parameters: dict, seed: int | None, data_format: str | None,
           constraints: list[dict] | None, model_id: str | None) -> dict:
    settings = get_settings()
    steps = Steps("train_model")
    model_key, params = resolve(algorithm, parameters)

    with steps.step("load", 5) as step:
        real = load_table(data, data_format, max_rows=settings.max_rows)
        step.message = f"loaded {len(real)} rows"
    with steps.step("train", 85, "trained"):
        model = fit_model(real, model_key, params, seed, progress=steps.span(5, 85), constraints=constraints or None)
    # the registry's quality score: a sample as large as the training data (capped), scored against it
    with steps.step("score", 95) as step:
        synthetic = sample_rows(model, min(len(real), settings.quality_sample_rows), seed)
        quality = validate_quality(real, synthetic, max_rows=settings.quality_sample_rows)
        step.message = f"quality score {quality['score']}"
    model_uri = f"{out}/model.pkl"
    with steps.step("save"):
        size = save_model(model, model_uri)

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
        "training_time": steps.seconds(),
        "timings": steps.rounded_timings(),
    }
    return steps.finish(out, manifest, "manifest.json")  # written last: marks the model complete
