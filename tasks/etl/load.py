"""Task `load`: the staged (transformed, validated) rows written into the target table, chunk by chunk."""

from __future__ import annotations

import time

from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.etl import stage
from tasks.etl.connectors import Connector
from tasks.etl.extract import _transient


@task(name="load", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=3, retry_condition_fn=_transient)
def load(target: Connector, parts: list[str], table: str, mode: str, chunk_rows: int, report=None) -> dict:
    """Write the parts into `table` (replace: swapped in at the end; append: added) in one transaction."""
    started = time.perf_counter()
    writer = target.writer(table, mode)
    writer.start(stage.schema_of(parts))
    try:
        for batch in stage.iter_batches(parts, chunk_rows):
            writer.write(batch)
            if report is not None:
                report(writer.rows)
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    seconds = time.perf_counter() - started
    print(f"loaded {writer.rows} rows into {table} on {target.label} in {seconds:.2f} s ({mode})")
    return {"rows": writer.rows, "table": table, "mode": mode, "warnings": writer.warnings,
            "seconds": round(seconds, 3)}
