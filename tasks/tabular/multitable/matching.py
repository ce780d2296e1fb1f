"""Child rows matched to generated parent rows by their attributes, each parent taking a set number of children.

The conditioned parent-first method samples each child row together with the attributes of its parents (the
child's synthesizer is trained on the child's columns joined with its parents' columns). A row then gets as
parent the generated parent row whose attributes are nearest to the ones it was sampled with, while every
parent row receives exactly its number of children. So child columns follow their parents' columns (the
sampled row was drawn jointly with attributes close to those of the parent it lands on), and which parents
have many children stays learned. `AttributeSpace` puts rows of mixed types into one numeric space;
`assign` is a greedy capacitated nearest-neighbour assignment (nearest first, widening the search when the
nearest parents are full).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

TOP_CATEGORIES = 24       # categories of a text column that get their own dimension (the rest share one)
CLIP = 4.0                # numeric values are scaled to robust z-scores clipped to +-CLIP
FIRST_K = 16              # nearest parents looked at per row in the first round (doubled each round after)
CHUNK_CELLS = 4_000_000   # distance-matrix cells computed at once


@dataclass
class _Column:
    name: str
    kind: str                                  # number or category
    center: float = 0.0
    scale: float = 1.0
    categories: list = field(default_factory=list)
    nulls: bool = False


class AttributeSpace:
    """A numeric embedding of a table's attribute columns in which a unit is about one standard deviation
    of a number, and a different category (or an empty value) is a distance of 1."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.columns: list[_Column] = []
        for name in frame.columns:
            values = frame[name]
            nulls = bool(values.isna().any())
            number = _as_number(values)
            if number is not None:
                present = number[~np.isnan(number)]
                center = float(np.median(present)) if len(present) else 0.0
                q1, q3 = (np.percentile(present, [25, 75]) if len(present) else (0.0, 0.0))
                scale = float((q3 - q1) / 1.349) or float(np.std(present) if len(present) else 0.0) or 1.0
                self.columns.append(_Column(str(name), "number", center, scale, nulls=nulls))
            else:
                top = values.dropna().astype(str).value_counts().index[:TOP_CATEGORIES].tolist()
                self.columns.append(_Column(str(name), "category", categories=top, nulls=nulls))

    @property
    def dims(self) -> int:
        return sum((1 if c.kind == "number" else len(c.categories) + 1) + c.nulls for c in self.columns)

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """Rows of `frame` (the same columns, in any order) as float32 vectors of `dims` values."""
        parts = []
        half = np.float32(np.sqrt(0.5))
        for c in self.columns:
            values = frame[c.name]
            missing = values.isna().to_numpy()
            if c.kind == "number":
                number = _as_number(values)
                number = np.zeros(len(values)) if number is None else number
                z = np.clip((np.nan_to_num(number, nan=c.center) - c.center) / c.scale, -CLIP, CLIP)
                parts.append(z.astype(np.float32)[:, None])
            else:
                text = values.astype(str).to_numpy()
                onehot = np.zeros((len(values), len(c.categories) + 1), dtype=np.float32)
                index = {v: i for i, v in enumerate(c.categories)}
                pos = np.array([index.get(v, len(c.categories)) for v in text], dtype=np.int64)
                onehot[np.arange(len(values)), pos] = half
                onehot[missing] = 0.0
                parts.append(onehot)
            if c.nulls:
                parts.append((missing.astype(np.float32) * (1.0 if c.kind == "number" else half))[:, None])
        if not parts:
            return np.zeros((len(frame), 0), dtype=np.float32)
        return np.hstack(parts)


def _as_number(values: pd.Series) -> np.ndarray | None:
    """Numbers, booleans excluded, datetimes as nanoseconds; None for text."""
    if pd.api.types.is_bool_dtype(values):
        return None
    if pd.api.types.is_datetime64_any_dtype(values):
        out = values.astype("int64").to_numpy(dtype=float)
        out[values.isna().to_numpy()] = np.nan
        return out
    if pd.api.types.is_numeric_dtype(values):
        return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return None


def nearest(rows: np.ndarray, parents: np.ndarray, k: int,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The `k` nearest parents of each row (indices, squared distances), nearest first; ties in random order."""
    n, m = len(rows), len(parents)
    k = min(k, m)
    index = np.empty((n, k), dtype=np.int64)
    dist = np.empty((n, k), dtype=np.float32)
    p_norm = (parents * parents).sum(axis=1)
    step = max(1, CHUNK_CELLS // max(m, 1))
    for start in range(0, n, step):
        block = rows[start:start + step]
        d = (block * block).sum(axis=1)[:, None] - 2.0 * block @ parents.T + p_norm[None, :]
        d += rng.random(d.shape, dtype=np.float32) * 1e-4
        part = np.argpartition(d, k - 1, axis=1)[:, :k] if k < m else np.tile(np.arange(m), (len(block), 1))
        pd_ = np.take_along_axis(d, part, axis=1)
        order = np.argsort(pd_, axis=1)
        index[start:start + step] = np.take_along_axis(part, order, axis=1)
        dist[start:start + step] = np.take_along_axis(pd_, order, axis=1)
    return index, dist


def assign(rows: np.ndarray, parents: np.ndarray, capacity: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each row, the index of its parent (-1 when every parent is full): the nearest parent that still has
    room, rows whose nearest parent is nearest going first. Parent p receives at most capacity[p] rows, and
    exactly that many when the rows are at least the capacities' sum."""
    n = len(rows)
    out = np.full(n, -1, dtype=np.int64)
    remaining = np.asarray(capacity, dtype=np.int64).copy()
    if n == 0 or remaining.sum() <= 0:
        return out
    if parents.shape[1] == 0:  # nothing to match on: the slots in random order
        slots = rng.permutation(np.repeat(np.arange(len(remaining)), remaining))[:n]
        out[rng.permutation(n)[:len(slots)]] = slots
        return out
    todo = np.arange(n)
    k = FIRST_K
    while len(todo) and remaining.sum() > 0:
        open_ = np.flatnonzero(remaining > 0)
        near, dist = nearest(rows[todo], parents[open_], k, rng)
        for r in np.argsort(dist[:, 0], kind="stable"):
            for c in near[r]:
                p = open_[c]
                if remaining[p] > 0:
                    out[todo[r]] = p
                    remaining[p] -= 1
                    break
        todo = todo[out[todo] < 0]
        k *= 4
    return out
