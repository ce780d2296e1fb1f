"""Task `extract`: the source query streamed into the run's staging area as Parquet parts."""

from __future__ import annotations

import time

from prefect import task
from prefect.cache_policies import NO_CACHE

from inferloop.core.errors import InferloopError
from tasks.etl import stage
from tasks.etl.connectors import Connector


def _transient(task, task_run, state) -> bool:
    """Retry I/O hiccups, never a refused request or query (InferloopError)."""
    try:
        state.result()
    except InferloopError:
        return False
    except Exception:
        return True
    return False


@task(name="extract", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=3, retry_condition_fn=_transient)
def extract(source: Connector, sql: str, folder: str, chunk_rows: int, report=None) -> dict:
    """Run `sql` on the source and write its rows, chunk by chunk, as Parquet parts under `folder`."""
    started = time.perf_counter()
    stage.remove(folder)  # a retry starts afresh
    uris, rows, schema = stage.write_parts(source.read_batches(sql, chunk_rows), folder, on_part=report)
    seconds = time.perf_counter() - started
    print(f"extracted {rows} rows from {source.label} in {seconds:.2f} s ({len(uris)} chunk(s))")
    return {"parts": uris, "rows": rows, "columns": schema.names, "seconds": round(seconds, 3)}
