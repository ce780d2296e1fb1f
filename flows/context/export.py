"""Flow `context_export`: a job's tables as csv, json, xlsx or SQL files (POST /api/v1/jobs/{id}/export)."""

from __future__ import annotations

from prefect import flow
from prefect.runtime import flow_run

from flows.outputs import run_outputs, write_result
from tasks.context.export import check_export, export_key
from tasks.context.spec import normalize_spec
from tasks.context.steps import export


@flow(name="context_export", persist_result=True, log_prints=True)
def context_export(spec: dict, data: dict[str, list[str]], export_format: str = "csv", options: dict | None = None,
                   schemas: list[str] | None = None) -> dict:
    """Write the tables of `data` (Parquet parts per schema) under this run's exports/ folder."""
    with run_outputs() as out:
        fmt, opts = check_export(export_format, options)
        result = export(normalize_spec(spec), data, fmt, opts, f"{out}/exports/{export_key(fmt, opts)}", schemas)
        result["flow_run_id"] = flow_run.id
        write_result(out, result)
        done = ", ".join(f"{k} ({v['rows']} rows)" for k, v in result["files"].items())
        print(f"exported {done} as {fmt}")
        return result
