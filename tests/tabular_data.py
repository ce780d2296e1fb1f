"""Small tables made for the tests (no data sets are downloaded)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def customers(n: int = 200, seed: int = 7) -> pd.DataFrame:
    """A mixed table: ints, floats with NaN, categoricals, a boolean and a date column."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 90, n)
    income = np.round(rng.lognormal(10, 0.5, n), 2)
    income[rng.random(n) < 0.1] = np.nan
    return pd.DataFrame({
        "age": age,
        "income": income,
        "segment": [str(v) for v in rng.choice(["gold", "silver", "bronze"], n, p=[0.2, 0.3, 0.5])],
        "country": [str(v) for v in rng.choice(["FR", "DE", "US", "ES"], n)],
        "active": rng.random(n) < 0.7,
        "signup": pd.date_range("2023-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
    })


def write_csv(df: pd.DataFrame, path) -> str:
    df.to_csv(path, index=False)
    return str(path)
