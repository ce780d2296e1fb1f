"""The `sdv:*` model keys: SDV 2.0 single-table synthesizers, wrapped once for its {table: df} API."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from sdv.metadata import Metadata
from sdv.single_table import (CopulaGANSynthesizer, CTGANSynthesizer, GaussianCopulaSynthesizer,
                              TVAESynthesizer)

from tasks.tabular.conditions import as_numbers, value_key
from tasks.tabular.synthesizers.base import MAX_SEED, Progress, Synthesizer, batch_size_for
from tasks.tabular.synthesizers.ctgan_lib import REPORTING_CLASSES, EpochReporting, epoch_reports

TABLE = "table"
NATIVE_GROUPS = 16  # sample_remaining_columns costs ~0.1 s per distinct known row: beyond this, vectorise
MATCH_ROUNDS = 8  # rounds of drawn rows searched for matches before the known values are written in
MAX_MATCH_PAIRS = 50_000_000  # nearest-value matching above this many (known x drawn) pairs: first come
_PASSED_AS_IS = ("epochs", "batch_size", "embedding_dim", "discriminator_steps", "default_distribution",
                 "generator_dim", "discriminator_dim", "pac")


class _ReportsEpochs:
    """Mixin for SDV's neural synthesizers: the ctgan model SDV builds inside `_fit` reports its epochs.

    SDV assigns `self._model = CTGAN(...)` (or TVAE) and then fits it; the setter gives that model the
    reporting subclass (same state, one extra property) and the synthesizer's epoch callback, if any.
    """

    @property
    def _model(self) -> Any:
        """The underlying ctgan model (None before fitting)."""
        return self.__dict__.get("_model")

    @_model.setter
    def _model(self, model: Any) -> None:
        reporting = REPORTING_CLASSES.get(type(model))
        if reporting is not None:
            model.__class__ = reporting
        callback = self.__dict__.get("epoch_callback")
        if callback is not None and isinstance(model, EpochReporting):
            model.__dict__["epoch_callback"] = callback
        self.__dict__["_model"] = model


class ReportingCTGANSynthesizer(_ReportsEpochs, CTGANSynthesizer):
    """SDV's CTGANSynthesizer, reporting each finished epoch."""


class ReportingCopulaGANSynthesizer(_ReportsEpochs, CopulaGANSynthesizer):
    """SDV's CopulaGANSynthesizer, reporting each finished epoch."""


class ReportingTVAESynthesizer(_ReportsEpochs, TVAESynthesizer):
    """SDV's TVAESynthesizer, reporting each finished epoch."""


SDV_CLASSES: dict[str, type] = {
    "sdv:gaussian_copula": GaussianCopulaSynthesizer,
    "sdv:ctgan": ReportingCTGANSynthesizer,
    "sdv:copulagan": ReportingCopulaGANSynthesizer,
    "sdv:tvae": ReportingTVAESynthesizer,
}


class SDVSynthesizer(Synthesizer):
    """One SDV single-table synthesizer; metadata is detected from the training frame.

    Constraints go to SDV (`add_constraints`, programmable ones first). GaussianCopula conditions natively:
    through `sample_remaining_columns` when the known rows take few distinct values, and for many (drawn
    numbers, dates) through the same conditional normal computed for all rows at once (`_copula_given`).
    SDV's neural models would only reject-sample, and fail with "unable to sample" on continuous values, so
    their rows are matched to the known values from drawn rows instead (`_match_known`).
    """

    applies_constraints = True

    def __init__(self, model_key: str, params: dict[str, Any]) -> None:
        self.neural = model_key != "sdv:gaussian_copula"
        self.min_rows = 2 if self.neural else 1  # ctgan's per-column Gaussian mixtures need two rows
        super().__init__(model_key, params)
        self._synth: Any = None

    def _fit(self, data: pd.DataFrame, report: Progress) -> None:
        """Detect metadata, build the SDV synthesizer and fit it."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*saving the metadata.*")
            warnings.filterwarnings("ignore", category=FutureWarning)
            metadata = Metadata.detect_from_dataframes(data={TABLE: data})
            synth = SDV_CLASSES[self.model_key](metadata, **self._sdv_kwargs(len(data)))
            if self._constraint_specs:
                from tasks.tabular.constraints import sdv_constraints

                synth.add_constraints(constraints=sdv_constraints(self._constraint_specs, metadata))
            if self.neural:
                _fit_reporting_epochs(synth, data, self.params["epochs"], report)
            else:
                synth.fit({TABLE: data})
        self._synth = synth

    def _sample(self, num_rows: int, seed: int | None) -> pd.DataFrame:
        """Sample; with a seed, rewind SDV's sampling state and seed its model (SDV's only, private, way)."""
        if seed is not None:
            self._synth.reset_sampling()
            if self._synth._model is not None:  # None when every column is an id SDV generates itself
                self._synth._set_random_state(seed)
        return self._draw(num_rows)

    def _draw(self, num_rows: int) -> pd.DataFrame:
        """SDV's sample; with constraints it may return fewer rows (none: an empty frame), never raise."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning)
            warnings.filterwarnings("ignore", message=".*valid rows.*")
            try:
                return self._synth.sample(num_rows=num_rows)[TABLE]
            except ValueError as exc:
                if "Unable to sample" not in str(exc):
                    raise
                return pd.DataFrame(columns=self._schema_columns())

    def _sample_known(self, known: pd.DataFrame) -> pd.DataFrame:
        """One row per known row, keeping its values: GaussianCopula conditions on them, and whatever it
        could not make (and every row of the neural models) is matched from drawn rows."""
        if self._synth._model is not None:
            self._synth.reset_sampling()
            self._synth._set_random_state(int(np.random.randint(0, MAX_SEED, dtype=np.int64)))
        known = known.reset_index(drop=True)
        made = known.iloc[:0]
        if not self.neural:
            distinct = len(known.drop_duplicates())
            made = self._remaining_columns(known) if distinct <= NATIVE_GROUPS else self._copula_given(known)
        missing = known.index.difference(made.index)
        if len(missing):
            made = pd.concat([made, self._match_known(known.loc[missing])])
        return made.loc[known.index].reset_index(drop=True)

    def _remaining_columns(self, known: pd.DataFrame) -> pd.DataFrame:
        """SDV's `sample_remaining_columns`, indexed like `known`; rows it cannot make are left out."""
        from sdv.cag._errors import ConstraintNotMetError

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore")
            try:
                made = self._synth.sample_remaining_columns(known_columns=known)[TABLE]
            except (ValueError, ConstraintNotMetError):  # "unable to sample": match those rows instead
                return known.iloc[:0]
        made = made[~made.index.duplicated()]
        exact = (made[known.columns].map(value_key) == known.loc[made.index].map(value_key)).all(axis=1)
        return made[exact]

    def _copula_given(self, known: pd.DataFrame) -> pd.DataFrame:
        """GaussianCopula conditioned on every known row at once: the conditional normal's covariance is the
        same for all rows, only its mean moves with the row (copulas' own formula, vectorised). Rows are left
        out when the model space lacks a known column or a constraint rejects the row."""
        from scipy import stats

        synth, model = self._synth, self._synth._model
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore")
            try:
                given_values = synth._data_processor.transform(known, is_condition=True)
            except Exception:  # noqa: BLE001  (a column SDV cannot condition on: match instead)
                return known.iloc[:0]
        columns = list(model.columns)
        given = [c for c in columns if c in given_values.columns]
        if len(given) != len(known.columns) or len(given) == len(columns):
            return known.iloc[:0]
        free = [c for c in columns if c not in given]
        corr = model.correlation.loc[columns, columns].to_numpy(dtype="float64")
        at = {c: i for i, c in enumerate(columns)}
        gi, fi = [at[c] for c in given], [at[c] for c in free]
        s22, s12 = corr[np.ix_(gi, gi)], corr[np.ix_(fi, gi)]
        weights = s12 @ np.linalg.pinv(s22)
        covariance = corr[np.ix_(fi, fi)] - weights @ s12.T
        values, vectors = np.linalg.eigh((covariance + covariance.T) / 2)
        root = vectors * np.sqrt(np.clip(values, 0.0, None))
        normal_given = model._transform_to_normal(given_values[given])
        noise = np.random.standard_normal((len(known), len(free)))
        normal_free = normal_given @ weights.T + noise @ root.T
        raw = {}
        for name, univariate in zip(columns, model.univariates):
            if name in at and at[name] in gi:
                raw[name] = given_values[name].to_numpy()
            else:
                raw[name] = univariate.percent_point(stats.norm.cdf(normal_free[:, free.index(name)]))
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore")
            made = synth._data_processor.reverse_transform(pd.DataFrame(raw, index=known.index))
            made = synth.reverse_transform_constraints(made)
        for name in known.columns:
            made[name] = known.loc[made.index, name]
        return made

    def _match_known(self, known: pd.DataFrame) -> pd.DataFrame:
        """For each known row, a drawn row with the same categorical values and the nearest numbers and
        dates, its known values then written in exactly. After MATCH_ROUNDS of drawing, rows still without a
        match take any drawn row (the categorical value is then written in too): never "unable to sample"."""
        labels = [c for c in known.columns if self._kind(c) in ("categorical", "boolean")]
        numeric = [c for c in known.columns if c not in labels]
        pieces, pending = [], list(known.index)
        batch, pool = max(2 * len(pending), 100), pd.DataFrame()
        for _ in range(MATCH_ROUNDS):
            pool = self._draw(batch).reset_index(drop=True)
            matched = _match(known.loc[pending], pool, labels, numeric, self.columns_summary) \
                if len(pool) else {}
            if matched:
                pieces.append(pool.iloc[list(matched.values())].set_axis(list(matched), axis=0))
                pending = [i for i in pending if i not in matched]
            if not pending:
                break
            batch = min(batch * 2, max(20 * len(known), 10_000))
        if pending:
            if not len(pool):
                raise ValueError("Unable to sample any rows: no drawn row met the constraints")
            pieces.append(pool.iloc[np.arange(len(pending)) % len(pool)].set_axis(pending, axis=0))
        rows = pd.concat(pieces).loc[known.index]
        for column in known.columns:
            rows[column] = known[column]
        return rows

    def _kind(self, column: Any) -> str:
        return self.columns_summary.get(str(column), {}).get("kind", "categorical")

    def _schema_columns(self) -> list[Any]:
        return list(self._synth.get_metadata().tables[TABLE].columns)

    def _training_metadata(self) -> dict[str, Any]:
        """SDV's metadata dict for the modelled columns (it holds real value ranges: treat as data)."""
        return self._synth.get_metadata().to_dict()

    def _sdv_kwargs(self, rows: int) -> dict[str, Any]:
        """Constructor arguments for the SDV class from the clean params (batch size capped by the table)."""
        kwargs = {k: v for k, v in self.params.items() if k in _PASSED_AS_IS}
        if "batch_size" in kwargs:
            kwargs["batch_size"] = batch_size_for(rows, kwargs["batch_size"], kwargs.get("pac", 10)
                                                  if self.model_key != "sdv:tvae" else 1)
        kwargs["enforce_min_max_values"] = self.params["enforce_min_max"]
        if self.neural:
            kwargs.update(enable_gpu=self.device == "cuda", verbose=False)
        return kwargs


def _match(known: pd.DataFrame, pool: pd.DataFrame, labels: list[Any], numeric: list[Any],
           summary: dict[str, dict[str, Any]]) -> dict[Any, int]:
    """Known row -> position of a distinct pool row with equal labels and (greedily) the nearest numbers."""

    def scaled(frame: pd.DataFrame) -> np.ndarray:
        columns = []
        for c in numeric:
            info = summary[str(c)]
            x = as_numbers(frame[c], info)
            low, high = (np.nanmin(x), np.nanmax(x)) if np.isfinite(x).any() else (0.0, 1.0)
            columns.append(np.nan_to_num((x - low) / max(high - low, 1e-12), nan=1e6))
        return np.column_stack(columns) if columns else np.zeros((len(frame), 0))

    def key(frame: pd.DataFrame) -> pd.Series:
        if not labels:
            return pd.Series("", index=frame.index)
        return frame[labels].map(value_key).agg("\x1f".join, axis=1)

    known_keys, pool_keys = key(known), key(pool)
    out: dict[Any, int] = {}
    for group, members in known_keys.groupby(known_keys, sort=False).groups.items():
        candidates = np.flatnonzero((pool_keys == group).to_numpy()) if labels else np.arange(len(pool))
        if not len(candidates):
            continue
        members = list(members)[: len(candidates)]
        if numeric and len(members) * len(candidates) <= MAX_MATCH_PAIRS:
            both = scaled(pd.concat([known.loc[members, numeric], pool.iloc[candidates][numeric]],
                                    ignore_index=True))
            wanted, offered = both[: len(members)], both[len(members):]
            free = np.ones(len(candidates), dtype=bool)
            for m, row in zip(members, wanted):
                distance = np.where(free, np.abs(offered - row).sum(axis=1), np.inf)
                best = int(np.argmin(distance))
                free[best] = False
                out[m] = int(candidates[best])
        else:
            for m, c in zip(members, candidates):
                out[m] = int(c)
    return out


def _fit_reporting_epochs(synth: Any, data: pd.DataFrame, epochs: int, report: Progress) -> None:
    """Fit a neural SDV synthesizer, passing its epochs to `report`, and leave no callback behind."""
    try:
        with epoch_reports(synth, epochs, report):
            synth.fit({TABLE: data})
    finally:
        if synth._model is not None:
            synth._model.__dict__.pop("epoch_callback", None)
