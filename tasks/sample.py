"""Sample task: draw synthetic rows from a fitted synthesizer."""

from __future__ import annotations

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.synthesizers import Synthesizer


@task(name="sample", cache_policy=NO_CACHE, persist_result=False)
def sample_rows(model: Synthesizer, num_rows: int, seed: int | None = None) -> pd.DataFrame:
    """Sample num_rows rows; the same seed gives the same rows."""
    return model.sample(num_rows, seed=seed)
