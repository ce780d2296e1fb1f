"""Export task: write synthetic rows to storage as Parquet (downloads convert on the fly)."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from prefect import task
from prefect.cache_policies import NO_CACHE

from inferloop.core.storage import open_uri


def write_parquet(df: pd.DataFrame, uri: str) -> int:
    """Write df to uri as snappy Parquet; returns bytes written."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    with open_uri(uri, "wb") as f:
        pq.write_table(table, f, compression="snappy")
        return f.tell()


@task(name="export", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE, persist_result=False)
def export_rows(df: pd.DataFrame, uri: str) -> int:
    """Store the synthetic table."""
    return write_parquet(df, uri)
