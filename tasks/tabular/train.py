"""Train task: fit a synthesizer from the registry on the input table."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.tabular.synthesizers import Synthesizer, build


@task(name="train", cache_policy=NO_CACHE, persist_result=False)
def train_model(df: pd.DataFrame, model_key: str, params: dict, seed: int | None = None,
                progress: Callable[[float, str], None] | None = None,
                constraints: list[dict] | None = None) -> Synthesizer:
    """Fit the chosen synthesizer (CUDA when present); `constraints` are checked against `df` first."""
    model = build(model_key, params)
    print(f"training {model_key} on {len(df)} rows x {df.shape[1]} columns, device={model.device}, "
          f"params={params}, seed={seed}, constraints={len(constraints or [])}")
    model.fit(df, seed=seed, progress=progress, constraints=constraints)
    return model
