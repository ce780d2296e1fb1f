"""Flow `batch`: one `generate` child flow run per file; a failing file fails alone; a batch manifest.

The children are subflows: they run one after another in the batch run's own process (so a batch takes
one worker slot, and two trainings never fight over the same cores), each is a flow run of its own under
the parent in the Prefect UI, and each writes its outputs under runs/<child flow_run_id>/ exactly like a
single generation. A child that fails is recorded with its documented error and the batch goes on.
"""

from __future__ import annotations

import time

from prefect import flow, tags
from prefect.artifacts import create_table_artifact
from prefect.runtime import flow_run
from prefect.states import State

from flows.outputs import run_outputs, write_result
from flows.progress import Progress
from flows.tabular.generate import generate
from inferloop.core.errors import InferloopError
from inferloop.core.settings import get_settings
from tasks.tabular.batch_spec import batch_status, check_files, check_output_format, run_options
from tasks.tabular.synthesizers import resolve


@flow(name="batch", persist_result=True, log_prints=True)
def batch(files: list[dict], algorithm: str = "sdv", common_parameters: dict | None = None,
          output_format: str = "csv") -> dict:
    """Generate synthetic data for every file ({"url", "name"?}); returns the batch manifest."""
    with run_outputs() as out:
        return _batch(out, files, algorithm, dict(common_parameters or {}), output_format)


def _batch(out: str, files: list[dict], algorithm: str, common: dict, output_format: str) -> dict:
    started = time.perf_counter()
    files = check_files(files)
    check_output_format(output_format)
    num_rows, seed, algorithm_params = run_options(common, get_settings().max_rows)
    _, params = resolve(algorithm, algorithm_params)

    progress = Progress("batch")
    results = []
    for i, f in enumerate(files):
        results.append(run_child(f, algorithm, num_rows, seed, params))
        progress.set(100 * (i + 1) / len(files), f"{f['name']}: {results[-1]['status']}", force=True)

    done = sum(r["status"] == "completed" for r in results)
    manifest = {
        "flow_run_id": flow_run.id,
        "status": batch_status(done, len(results)),
        "algorithm": algorithm,
        "common_parameters": {"num_rows": num_rows, "seed": seed, **params},
        "output_format": output_format,
        "total_files": len(results),
        "completed": done,
        "failed": len(results) - done,
        "generation_time": round(time.perf_counter() - started, 3),
        "files": results,
    }
    _report(results)
    write_result(out, manifest)  # result.json, written last
    return manifest


def run_child(f: dict, algorithm: str, num_rows: int | None, seed: int | None, params: dict) -> dict:
    """One `generate` subflow for one file; its failure is returned, never raised."""
    child_tags = [f"job:{f['job_id']}"] if f.get("job_id") else []
    name = f["name"]
    with tags(*child_tags):  # a callable run name: a plain string would be formatted with the parameters
        state: State = generate.with_options(flow_run_name=lambda: name)(
            data=f["url"], algorithm=algorithm, num_rows=num_rows, seed=seed, parameters=params,
            data_format=f.get("data_format"), return_state=True)
    result = {"name": f["name"], "url": f["url"], "job_id": f.get("job_id"),
              "flow_run_id": str(state.state_details.flow_run_id), "status": "completed", "rows": None,
              "quality_score": None, "output_uri": None, "error": None}
    if state.is_completed():
        m = state.result()
        result.update(rows=m["generated_rows"], quality_score=m["quality_score"], output_uri=m["output_uri"])
    else:
        result.update(status="cancelled" if state.is_cancelled() else "failed", error=child_error(state))
        print(f"{f['name']} failed: {result['error']['code']}: {result['error']['message']}")
    return result


def child_error(state: State) -> dict:
    """The documented {code, message} of a failed child run (its InferloopError, else GENERATION_FAILED)."""
    try:
        exc = state.result(raise_on_failure=False)
    except Exception:  # the result could not be read back: the state's message is all there is
        exc = None
    if isinstance(exc, InferloopError):
        return {"code": exc.code, "message": exc.message}
    if state.is_cancelled():
        return {"code": "CANCELLED", "message": state.message or "cancelled"}
    if isinstance(exc, BaseException):
        return {"code": "GENERATION_FAILED", "message": f"{type(exc).__name__}: {exc}"}
    return {"code": "GENERATION_FAILED", "message": state.message or state.name}


def _report(results: list[dict]) -> None:
    """A table artifact of the per-file results on the batch run (the Prefect UI shows it)."""
    try:
        create_table_artifact(
            [{"name": r["name"], "status": r["status"], "rows": r["rows"],
              "quality_score": r["quality_score"], "flow_run_id": r["flow_run_id"],
              "error": (r["error"] or {}).get("message")} for r in results],
            description="Batch results, one row per file")
    except Exception as exc:  # the report must never fail the batch
        print(f"batch report artifact unavailable: {exc!r}")
