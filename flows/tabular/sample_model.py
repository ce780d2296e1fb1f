"""Flow `sample_model`: load a saved model -> sample (optionally conditioned) -> export, with a manifest.

Runs for POST /api/tabular/models/{id}/generate and POST /api/synthgen/models/{id}/generate; its manifest
has the same shape as `generate`'s, so download and job status treat both alike.
"""

from __future__ import annotations

import pandas as pd
from prefect import flow
from prefect.runtime import flow_run

from flows.outputs import run_outputs
from flows.progress import Steps
from inferloop.core.settings import get_settings
from tasks.tabular.export import export_rows
from tasks.tabular.model_store import load_model_from
from tasks.tabular.request_checks import check_num_rows
from tasks.tabular.sample import sample_rows


@flow(name="sample_model", persist_result=True, log_prints=True)
def sample_model(model_uri: str, num_rows: int = 1000, seed: int | None = None,
                 conditions: dict | None = None, model_id: str | None = None) -> dict:
    """Generate `num_rows` rows from the model saved at `model_uri`; returns a manifest."""
    with run_outputs() as out:
        return _sample(out, model_uri, num_rows, seed, conditions, model_id)


def _sample(out: str, model_uri: str, num_rows: int, seed: int | None, conditions: dict | None,
            model_id: str | None) -> dict:
    steps = Steps("sample_model")
    n = check_num_rows(num_rows, get_settings().max_rows)

    with steps.step("load_model", 10) as step:
        model = load_model_from(model_uri)
        step.message = f"loaded {model.model_key}"
    with steps.step("sample", 85) as step:
        synthetic = sample_rows(model, n, seed, conditions=conditions or None)  # parsed and checked there
        step.message = f"sampled {len(synthetic)} rows"
    output_uri = export_synthetic(synthetic, out, steps)

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
        "generation_time": steps.seconds(),
        "device": model.device,
        "timings": steps.rounded_timings(),
    }
    return steps.finish(out, manifest, "manifest.json")  # written last: marks the output complete


def export_synthetic(synthetic: pd.DataFrame, out: str, steps: Steps) -> str:
    """Write the synthetic rows to the run's synthetic.parquet (what downloads read) as step `export`; returns
    its URI. `generate` writes its rows the same way."""
    output_uri = f"{out}/synthetic.parquet"
    with steps.step("export"):
        export_rows(synthetic, output_uri)
    return output_uri
