"""Sample task: draw synthetic rows from a fitted synthesizer."""

from __future__ import annotations

from typing import Any

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.tabular.conditions import Condition
from tasks.tabular.synthesizers import Synthesizer


@task(name="sample", cache_policy=NO_CACHE, persist_result=False)
def sample_rows(model: Synthesizer, num_rows: int, seed: int | None = None,
                conditions: list[Condition] | dict[str, Any] | None = None) -> pd.DataFrame:
    """Sample num_rows rows meeting `conditions` and the model's constraints; same seed, same rows."""
    return model.sample(num_rows, seed=seed, conditions=conditions)
