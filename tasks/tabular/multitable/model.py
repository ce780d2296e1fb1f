"""A fitted multi-table synthesizer: fit on {table: frame}, sample {table: frame} at any scale, pickle.

Two methods share this base. `hma` is SDV's HMASynthesizer (Gaussian copulas, for at most 5 related tables
and a depth of 2); `parent_first` scales to any acyclic schema with any single-table algorithm. Tables in no
relationship get a single-table synthesizer of their own under both. Primary keys are always regenerated in
the shape of the originals (`keys.rekey`), so foreign keys keep pointing at the rows they were sampled for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from inferloop.core.errors import invalid_request
from tasks.tabular.multitable.keys import KeyFormat, key_formats, rekey
from tasks.tabular.multitable.schema import Schema
from tasks.tabular.synthesizers import Synthesizer, build

Progress = Callable[[float, str], None]
MAX_SEED = 2**32


def _quiet(fraction: float, message: str) -> None:
    """Progress sink used when the caller passes none."""


@dataclass
class TableShape:
    """A training table's columns (in order), dtypes and row count."""

    columns: list[str]
    dtypes: dict[str, Any]
    rows: int

    @classmethod
    def of(cls, df: pd.DataFrame) -> TableShape:
        return cls([str(c) for c in df.columns], {str(c): t for c, t in df.dtypes.items()}, len(df))

    def restore(self, df: pd.DataFrame) -> pd.DataFrame:
        """Columns back in the training order; an empty table keeps the training dtypes."""
        out = df[self.columns].reset_index(drop=True)
        if out.empty:
            out = out.astype({c: t for c, t in self.dtypes.items() if c in out.columns}, errors="ignore")
        return out


def scaled(rows: int, scale: float) -> int:
    """Rows of a table scaled by `scale` (at least one)."""
    return max(1, round(rows * scale))


def table_seed(seed: int | None, k: int) -> int | None:
    """A distinct, reproducible seed for the k-th table."""
    return None if seed is None else (int(seed) + 7919 * k) % MAX_SEED


class MultiTableModel:
    """Base: shapes, key formats and the single-table synthesizers of standalone tables."""

    method = "base"

    def __init__(self, schema: Schema, model_key: str, params: dict[str, Any]) -> None:
        self.schema = schema
        self.model_key = model_key
        self.params = dict(params)
        self.shapes: dict[str, TableShape] = {}
        self.formats: dict[str, KeyFormat] = {}
        self.singles: dict[str, Synthesizer | None] = {}
        self.fitted = False

    def fit(self, frames: dict[str, pd.DataFrame], seed: int | None = None, progress: Progress | None = None) -> None:
        """Learn every table (frames already checked by `checks.check_tables`)."""
        report = progress or _quiet
        self.shapes = {t: TableShape.of(frames[t]) for t in self.schema.tables}
        self.formats = key_formats(frames, self.schema)
        self._fit(frames, seed, report)
        self.fitted = True
        report(1.0, "multi-table model fitted")

    def sample(self, scale: float = 1.0, seed: int | None = None) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
        """Every table, `scale` times the training rows (children follow their parents); returns (tables, notes)."""
        if not self.fitted:
            raise invalid_request("the multi-table model is not fitted", "model")
        frames, notes = self._sample(float(scale), seed)
        frames = rekey(frames, self.schema, self.formats, seed)
        return {t: self.shapes[t].restore(frames[t]) for t in self.schema.tables}, notes

    @property
    def training_metadata(self) -> dict[str, Any]:
        """What the model was trained on: tables (rows, columns, primary key), relationships, method."""
        return {"method": self.method, "model_key": self.model_key,
                "tables": {t: {"rows": s.rows, "columns": s.columns,
                               "primary_key": self.schema.primary_keys.get(t)} for t, s in self.shapes.items()},
                "relationships": [r.to_dict() for r in self.schema.relationships],
                "primary_keys": dict(self.schema.primary_keys)}

    # ---------------------------------------------------------------- for subclasses and standalone tables
    def _fit(self, frames: dict[str, pd.DataFrame], seed: int | None, report: Progress) -> None:
        raise NotImplementedError

    def _sample(self, scale: float, seed: int | None) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
        raise NotImplementedError

    def _fit_single(self, table: str, attributes: pd.DataFrame, seed: int | None) -> Synthesizer | None:
        """A single-table synthesizer of the table's non-key columns (None when it has none)."""
        if attributes.shape[1] == 0:
            return None
        model = build(self.model_key, self.params)
        model.fit(attributes.reset_index(drop=True), seed=seed)
        return model

    @staticmethod
    def _sample_single(model: Synthesizer | None, columns: list[str], n: int, seed: int | None) -> pd.DataFrame:
        """`n` rows of a table's non-key columns (an empty frame with those columns for n = 0)."""
        if model is None:
            return pd.DataFrame(index=range(n))
        if n == 0:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
        return model.sample(n, seed=seed).reset_index(drop=True)

    def _fit_standalone(self, frames: dict[str, pd.DataFrame], tables: list[str], seed: int | None) -> None:
        for k, t in enumerate(tables):
            keys = self.schema.key_columns(t)
            self.singles[t] = self._fit_single(t, frames[t].drop(columns=keys), table_seed(seed, k))

    def _sample_standalone(self, tables: list[str], scale: float, seed: int | None) -> dict[str, pd.DataFrame]:
        out = {}
        for k, t in enumerate(tables):
            n = scaled(self.shapes[t].rows, scale)
            keys = self.schema.key_columns(t)
            columns = [c for c in self.shapes[t].columns if c not in keys]
            df = self._sample_single(self.singles[t], columns, n, table_seed(seed, 1000 + k))
            for column in keys:  # a standalone table's key: placeholders, made real by rekey
                df[column] = np.arange(len(df))
            out[t] = df
        return out
