"""Load task: read an input table from storage (local path or s3://) into a DataFrame."""

from __future__ import annotations

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.tabular.tables import read_table


@task(name="load", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE, persist_result=False,
      retry_condition_fn=lambda _t, _r, state: not _is_terminal(state))
def load_table(uri: str, fmt: str | None = None, max_rows: int | None = None) -> pd.DataFrame:
    """Read the input table; retried only on transient I/O errors."""
    return read_table(uri, fmt, max_rows=max_rows)


def _is_terminal(state) -> bool:
    """Bad input (InferloopError) is terminal; only transient I/O errors are retried."""
    from inferloop.core.errors import InferloopError

    try:
        state.result()
    except InferloopError as exc:
        return exc.terminal
    except Exception:
        return False
    return True
