"""Method `parent_first`: any acyclic schema, any single-table algorithm, parents generated before children,
child columns conditioned on the parents' columns.

Training: each table gets one single-table synthesizer. A parent's synthesizer also learns, per parent row,
how many children it has in each of its relationships (a `__children_<i>` column trained jointly with the
parent's own columns, so which parent rows have many children depends on their attributes, as in HMA); the
numbers themselves are drawn from the observed children-per-parent distribution (stratified, handed out by
the rank of the learned count), so the child tables keep their scale. A child's synthesizer is trained on the
child's columns joined with the columns of each of its parents (`__p<i>__<column>`, empty where the foreign
key is empty), so it learns how child columns go with parent columns.

Sampling, parents first: roots get `scale` times their rows. A child's first relationship (in request order)
is its *primary* one: its row count is the sum of the children handed to the generated primary parent rows
(plus rows with an empty key, in the observed share). Its rows are sampled jointly with parent attributes,
then, relationship by relationship, each row is given the generated parent row nearest to the attributes it
was sampled with, every parent row receiving its number of children (`matching.assign`). The rows whose
sampled parent attributes are empty (or the least complete, up to the observed share) keep an empty key. In a
one_to_one relationship each parent takes at most one child; rows left without a distinct parent are dropped
and reported. The parent columns are then dropped: the child keeps its own columns, drawn together with
parent attributes close to those of the parent it was given.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tasks.tabular.multitable.matching import AttributeSpace, assign, nearest
from tasks.tabular.multitable.model import MultiTableModel, Progress, scaled, table_seed


SIZE = "__size"  # a parent's attribute in its child's model: log(1 + its children in that relationship)


def count_column(i: int) -> str:
    """The column of a parent's synthesizer that holds its number of children in relationship i."""
    return f"__children_{i}"


def parent_column(i: int, column: str) -> str:
    """The column of a child's synthesizer that holds its parent's `column` in relationship i."""
    return f"__p{i}__{column}"


class ParentFirstModel(MultiTableModel):
    """Parent-first generation with learned child counts and children conditioned on their parents."""

    method = "parent_first"

    def __init__(self, schema, model_key: str, params: dict[str, Any]) -> None:
        super().__init__(schema, model_key, params)
        self.primary: dict[str, int] = {}             # child -> index of its primary relationship
        self.null_rows: dict[str, int] = {}           # child -> rows whose primary foreign key is empty
        self.counts: dict[int, np.ndarray] = {}       # relationship -> children per parent row, sorted
        self.null_share: dict[int, float] = {}        # relationship -> share of empty foreign keys
        self.spaces: dict[int, AttributeSpace] = {}   # relationship -> the parent's attribute space
        self.models: dict[str, Any] = {}
        self.attributes: dict[str, list[str]] = {}    # table -> its own attribute columns
        self.sampled: dict[str, list[str]] = {}       # table -> the columns its synthesizer generates

    def _fit(self, frames: dict[str, pd.DataFrame], seed: int | None, report: Progress) -> None:
        order = self.schema.order()
        own = {t: frames[t].drop(columns=self.schema.key_columns(t)).reset_index(drop=True) for t in order}
        self.attributes = {t: [str(c) for c in df.columns] for t, df in own.items()}
        training = {t: df.copy() for t, df in own.items()}
        for i, r in enumerate(self.schema.relationships):
            fk = frames[r.child][r.child_key].reset_index(drop=True)
            per_parent = frames[r.parent][r.parent_key].map(fk.dropna().value_counts()).fillna(0)
            per_parent = per_parent.astype("int64").to_numpy()
            training[r.parent][count_column(i)] = per_parent
            self.counts[i] = np.sort(per_parent)
            self.null_share[i] = float(fk.isna().mean()) if len(fk) else 0.0
            attrs = own[r.parent].assign(**{SIZE: np.log1p(per_parent)})
            self.spaces[i] = AttributeSpace(attrs)
            joined = attrs.set_axis(frames[r.parent][r.parent_key].to_numpy()).reindex(fk.to_numpy())
            for column in attrs.columns:
                training[r.child][parent_column(i, str(column))] = joined[column].to_numpy()
            if r.child not in self.primary:
                self.primary[r.child] = i
                self.null_rows[r.child] = int(fk.isna().sum())
        self.sampled = {t: [str(c) for c in df.columns] for t, df in training.items()}
        for k, t in enumerate(order):
            report(0.05 + 0.9 * k / len(order), f"training {self.model_key} on {t} "
                   f"({len(training[t])} rows x {training[t].shape[1]} columns)")
            self.models[t] = self._fit_single(t, training[t], table_seed(seed, k))

    def _sample(self, scale: float, seed: int | None) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
        rng = np.random.default_rng(seed)
        out: dict[str, pd.DataFrame] = {}
        dropped: dict[str, int] = {}
        for k, t in enumerate(self.schema.order()):
            if t not in self.primary:
                df = self._sample_single(self.models[t], self.sampled[t], scaled(self.shapes[t].rows, scale),
                                         table_seed(seed, k))
            else:
                df, n_dropped = self._sample_child(t, out, scale, table_seed(seed, k), rng)
                if n_dropped:
                    dropped[t] = n_dropped
            if t in self.schema.primary_keys:
                df[self.schema.primary_keys[t]] = np.arange(len(df))  # placeholders, made real by rekey
            out[t] = df.reset_index(drop=True)
        for t, df in out.items():
            out[t] = df.drop(columns=[c for c in df.columns if str(c).startswith("__children_")])
        return out, ({"rows_without_distinct_parent_dropped": dropped} if dropped else {})

    def _sample_child(self, t: str, out: dict[str, pd.DataFrame], scale: float, seed: int | None,
                      rng: np.random.Generator) -> tuple[pd.DataFrame, int]:
        """The child's rows, sampled with parent attributes, each matched to a generated parent per relationship."""
        i = self.primary[t]
        r = self.schema.relationships[i]
        values = self._counts(i, len(out[r.parent]), None, rng)
        n_null = round(self.null_rows[t] * scale)
        df = self._sample_single(self.models[t], self.sampled[t], int(values.sum()) + n_null, seed)
        keep = np.ones(len(df), dtype=bool)
        for j, rel in self.schema.parents_of(t):
            parent = out[rel.parent]
            wanted = int(values.sum()) if j == i else min(len(df), round(len(df) * (1.0 - self.null_share[j])))
            counts = values if j == i else self._counts(j, len(parent), wanted, rng)
            rows = np.lexsort((rng.random(len(df)), self._incomplete(df, j, rel)))[:wanted]
            chosen = self._match(df.iloc[rows], j, rel, parent, counts, rng)
            keys = np.full(len(df), None, dtype=object)
            keys[rows[chosen >= 0]] = parent[self.schema.primary_keys[rel.parent]].to_numpy()[chosen[chosen >= 0]]
            keep[rows[chosen < 0]] = False  # one_to_one: no distinct parent left
            df[rel.child_key] = keys
        df = df.drop(columns=[parent_column(j, c) for j, rel in self.schema.parents_of(t)
                              for c in self.attributes[rel.parent] + [SIZE]])
        return df[keep].reset_index(drop=True), int((~keep).sum())

    def _counts(self, i: int, parents: int, total: int | None, rng: np.random.Generator) -> np.ndarray:
        """Children per parent row in relationship i, ascending: the observed distribution stratified to the
        generated parent rows (rescaled to `total` children when given); at most one for one_to_one."""
        values = stratified(self.counts[i], parents, rng)
        if total is not None:
            values = rescaled(values, total, rng)
        if self.schema.relationships[i].type == "one_to_one":
            values = np.minimum(values, 1)
        return values.astype("int64")

    def _incomplete(self, df: pd.DataFrame, j: int, r) -> np.ndarray:
        """Per row, the share of empty parent attributes it was sampled with in relationship j."""
        return df[[parent_column(j, c) for c in self.attributes[r.parent] + [SIZE]]].isna().mean(axis=1).to_numpy()

    def _match(self, rows: pd.DataFrame, j: int, r, parent: pd.DataFrame, counts: np.ndarray,
               rng: np.random.Generator) -> np.ndarray:
        """Each row's generated parent (index into `parent`, -1 for none) in relationship j.

        The counts go to the parent rows by demand (how many rows are nearest to each, on the attributes),
        ties broken by the count the parent's model sampled; then each row takes the nearest parent with room,
        now on the attributes and the parent's size."""
        own = self.attributes[r.parent]
        space = self.spaces[j]
        sampled = rows[[parent_column(j, c) for c in own + [SIZE]]].set_axis(own + [SIZE], axis=1)
        generated = parent[own].assign(**{SIZE: np.nan})
        near, _ = nearest(space.encode(sampled.assign(**{SIZE: np.nan})), space.encode(generated), 1, rng)
        demand = np.bincount(near[:, 0], minlength=len(parent))
        learned = pd.to_numeric(parent[count_column(j)], errors="coerce").fillna(0).to_numpy()
        capacity = np.empty(len(counts), dtype="int64")
        capacity[np.lexsort((rng.random(len(parent)), learned, demand))] = counts
        generated[SIZE] = np.log1p(capacity)
        return assign(space.encode(sampled), space.encode(generated), capacity, rng)

def stratified(sorted_values: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` draws from the observed values, one per quantile stratum (ascending).

    With n equal to the number of observations this gives back exactly the observed values; with twice as
    many, each twice: the children-per-parent distribution, and so the children's total, keep their scale
    even for a parent table of five rows, where a model's sampled counts may wander far.
    """
    if n == 0 or len(sorted_values) == 0:
        return np.zeros(n, dtype="int64")
    u = (np.arange(n) + rng.random(n)) / n
    return sorted_values[np.minimum((u * len(sorted_values)).astype("int64"), len(sorted_values) - 1)]


def rescaled(values: np.ndarray, total: int, rng: np.random.Generator) -> np.ndarray:
    """Non-negative integer counts (ascending) summing to `total`, proportional to `values` (ascending)."""
    n = len(values)
    if n == 0:
        return np.zeros(0, dtype="int64")
    weights = values.astype(float) if values.sum() > 0 else np.ones(n)
    exact = weights * total / weights.sum()
    out = np.floor(exact).astype("int64")
    short = int(total - out.sum())
    if short > 0:
        remainder = exact - out + rng.random(n) * 1e-9
        out[np.argsort(-remainder)[:short]] += 1
    return np.sort(out)
