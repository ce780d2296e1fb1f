"""Method `parent_first`: any acyclic schema, any single-table algorithm, generated parents before children.

Training: each table gets one single-table synthesizer of its non-key columns. A child's first relationship
(in request order) is its *primary* one: the parent's synthesizer also learns, per parent row, how many
children it has (a `__children_<i>` column trained jointly with the parent's own columns, so which parent
rows have many children depends on their attributes, as in HMA); the numbers themselves are drawn from the
observed children-per-parent distribution (stratified, handed out by the rank of the learned count), so the
child tables keep their scale. For a child's other parents, the distribution of children per parent row is
kept as observed.

Sampling, parents first: roots get `scale` times their rows; each child gets, for every generated primary
parent row, the learned number of rows (at most one for one_to_one), sampled from the child's synthesizer,
and its foreign key set to that parent; foreign keys to other parents are drawn from the generated parent
rows with the observed children-per-parent distribution (without repeats for one_to_one; rows that cannot
get a distinct parent are dropped and reported). Child columns are not conditioned on the parent's columns
beyond the count: that is what HMA adds on the small schemas it accepts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tasks.multitable.model import MultiTableModel, Progress, scaled, table_seed


def count_column(i: int) -> str:
    """The column of a parent's synthesizer that holds its number of children in relationship i."""
    return f"__children_{i}"


class ParentFirstModel(MultiTableModel):
    """Parent-first generation with learned child counts."""

    method = "parent_first"

    def __init__(self, schema, model_key: str, params: dict[str, Any]) -> None:
        super().__init__(schema, model_key, params)
        self.primary: dict[str, int] = {}            # child -> index of its primary relationship
        self.null_rows: dict[str, int] = {}          # child -> rows whose primary foreign key is empty
        self.counts: dict[int, np.ndarray] = {}      # primary relationship -> children per parent row, sorted
        self.per_parent: dict[int, np.ndarray] = {}  # secondary relationship -> children per parent row
        self.null_share: dict[int, float] = {}       # secondary relationship -> share of empty foreign keys
        self.models: dict[str, Any] = {}
        self.attributes: dict[str, list[str]] = {}

    def _fit(self, frames: dict[str, pd.DataFrame], seed: int | None, report: Progress) -> None:
        order = self.schema.order()
        training = {t: frames[t].drop(columns=self.schema.key_columns(t)) for t in order}
        self.attributes = {t: [str(c) for c in df.columns] for t, df in training.items()}
        for t in order:
            parents = self.schema.parents_of(t)
            if not parents:
                continue
            i, r = parents[0]
            self.primary[t] = i
            fk = frames[t][r.child_key]
            self.null_rows[t] = int(fk.isna().sum())
            counts = fk.dropna().value_counts()
            per_parent = frames[r.parent][r.parent_key].map(counts).fillna(0).astype("int64").to_numpy()
            training[r.parent][count_column(i)] = per_parent
            self.counts[i] = np.sort(per_parent)
            for j, other in parents[1:]:
                fk2 = frames[t][other.child_key]
                per = frames[other.parent][other.parent_key].map(fk2.dropna().value_counts()).fillna(0)
                self.per_parent[j] = per.astype("int64").to_numpy()
                self.null_share[j] = float(fk2.isna().mean())
        for k, t in enumerate(order):
            report(0.05 + 0.9 * k / len(order), f"training {self.model_key} on {t} "
                   f"({len(training[t])} rows x {training[t].shape[1]} columns)")
            self.models[t] = self._fit_single(t, training[t], table_seed(seed, k))

    def _sample(self, scale: float, seed: int | None) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
        rng = np.random.default_rng(seed)
        out: dict[str, pd.DataFrame] = {}
        dropped: dict[str, int] = {}
        for k, t in enumerate(self.schema.order()):
            columns = self.attributes[t] + [count_column(i) for i, r in self.schema.children_of(t)
                                            if self.primary.get(r.child) == i]
            if t not in self.primary:
                df = self._sample_single(self.models[t], columns, scaled(self.shapes[t].rows, scale),
                                         table_seed(seed, k))
            else:
                df = self._sample_children(t, out, columns, scale, table_seed(seed, k), rng)
                df, n_dropped = self._other_parents(t, df, out, rng)
                if n_dropped:
                    dropped[t] = n_dropped
            if t in self.schema.primary_keys:
                df[self.schema.primary_keys[t]] = np.arange(len(df))  # placeholders, made real by rekey
            out[t] = df.reset_index(drop=True)
        for t, df in out.items():
            out[t] = df.drop(columns=[c for c in df.columns if str(c).startswith("__children_")])
        return out, ({"rows_without_distinct_parent_dropped": dropped} if dropped else {})

    def _sample_children(self, t: str, out: dict[str, pd.DataFrame], columns: list[str], scale: float,
                         seed: int | None, rng: np.random.Generator) -> pd.DataFrame:
        """The child's rows: the learned count for each generated primary parent row, plus empty-key rows."""
        i = self.primary[t]
        r = self.schema.relationships[i]
        parent = out[r.parent]
        learned = pd.to_numeric(parent[count_column(i)], errors="coerce").fillna(0).to_numpy()
        counts = by_rank(learned, stratified(self.counts[i], len(parent), rng), rng)
        counts = np.clip(counts, 0, 1 if r.type == "one_to_one" else None).astype("int64")
        fks = np.repeat(parent[self.schema.primary_keys[r.parent]].to_numpy(), counts)
        n_null = round(self.null_rows[t] * scale)
        df = self._sample_single(self.models[t], columns, len(fks) + n_null, seed)
        df[r.child_key] = pd.Series(list(fks) + [None] * n_null, dtype=object if n_null else fks.dtype)
        return df

    def _other_parents(self, t: str, df: pd.DataFrame, out: dict[str, pd.DataFrame],
                       rng: np.random.Generator) -> tuple[pd.DataFrame, int]:
        """Foreign keys to the child's other parents; returns (rows, rows dropped for lack of a distinct parent)."""
        keep = np.ones(len(df), dtype=bool)
        for j, r in self.schema.parents_of(t)[1:]:
            parent_keys = out[r.parent][self.schema.primary_keys[r.parent]].to_numpy()
            values = np.full(len(df), None, dtype=object)
            filled = rng.random(len(df)) >= self.null_share[j]
            wanted = int(filled.sum())
            if r.type == "one_to_one":
                chosen = rng.permutation(parent_keys)[:wanted]
                slots = np.flatnonzero(filled)
                keep[slots[len(chosen):]] = False
                values[slots[:len(chosen)]] = chosen
            elif len(parent_keys):
                weights = rng.permutation(stratified(np.sort(self.per_parent[j]), len(parent_keys), rng)) \
                    .astype(float) if len(self.per_parent[j]) else np.ones(len(parent_keys))
                weights = weights if weights.sum() > 0 else np.ones(len(parent_keys))
                values[filled] = rng.choice(parent_keys, size=wanted, p=weights / weights.sum())
            else:
                keep[filled] = False
            df[r.child_key] = values
        return df[keep].reset_index(drop=True), int((~keep).sum())


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


def by_rank(learned: np.ndarray, values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """`values` (ascending) handed out in the order of `learned`: the parent row whose model-sampled count is
    the k-th smallest gets the k-th smallest value (ties in random order). The joint model decides which
    parents have many children, the observed distribution how many."""
    order = np.lexsort((rng.random(len(learned)), learned))
    out = np.empty(len(values), dtype=values.dtype)
    out[order] = values
    return out
