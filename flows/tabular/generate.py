"""Flow `generate`: load -> profile -> train -> sample -> validate -> export, with a manifest."""

from __future__ import annotations

from prefect import flow
from prefect.runtime import flow_run

from flows.outputs import run_outputs
from flows.progress import Steps
from flows.tabular.sample_model import export_synthetic
from inferloop.core.settings import get_settings
from tasks.tabular.load import load_table
from tasks.tabular.profile import profile_table
from tasks.tabular.quality import summarize_statistics
from tasks.tabular.request_checks import check_num_rows
from tasks.tabular.sample import sample_rows
from tasks.tabular.synthesizers import resolve
from tasks.tabular.train import train_model
from tasks.tabular.validate import validate_quality


@flow(name="generate", persist_result=True, log_prints=True)
def generate(data: str, algorithm: str = "sdv", num_rows: int | None = None, seed: int | None = None,
             parameters: dict | None = None, data_format: str | None = None,
             constraints: list[dict] | None = None) -> dict:
    """Train a synthesizer on `data` (a path or storage URI) and write synthetic rows; returns a manifest.

    `constraints` (normalised, see tasks.tabular.constraint_specs) hold in every synthetic row.
    """
    with run_outputs() as out:
        return _generate(out, data, algorithm, num_rows, seed, parameters or {}, data_format, constraints)


def _generate(out: str, data: str, algorithm: str, num_rows: int | None, seed: int | None,
              parameters: dict, data_format: str | None, constraints: list[dict] | None = None) -> dict:
    settings = get_settings()
    steps = Steps("generate")
    model_key, params = resolve(algorithm, parameters)
    if num_rows is not None:
        check_num_rows(num_rows, settings.max_rows)

    with steps.step("load", 5) as step:
        real = load_table(data, data_format, max_rows=settings.max_rows)
        step.message = f"loaded {len(real)} rows"
    with steps.step("profile", 10, "profiled"):
        profile = profile_table(real)
    with steps.step("train", 80, "trained"):
        model = train_model(real, model_key, params, seed, progress=steps.span(10, 80), constraints=constraints)
    n = int(num_rows) if num_rows is not None else len(real)
    with steps.step("sample", 88) as step:
        synthetic = sample_rows(model, n, seed)
        step.message = f"sampled {len(synthetic)} rows"
    with steps.step("validate", 95) as step:
        quality = validate_quality(real, synthetic, max_rows=settings.quality_sample_rows)
        statistical = summarize_statistics(real, synthetic, quality["score"])
        step.message = f"quality score {quality['score']}"
    output_uri = export_synthetic(synthetic, out, steps)

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
        "generation_time": steps.seconds(),
        "quality_score": quality["score"],
        "quality": quality,
        "statistical_similarity": statistical,
        "profile": {k: v for k, v in profile.items() if k != "column_profiles"},
        "device": model.device,
        "model_metadata": model.training_metadata,
        "timings": steps.rounded_timings(),
    }
    # the manifest is written last: its presence is what marks the output complete
    return steps.finish(out, manifest, "manifest.json")
