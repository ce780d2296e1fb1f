"""The `ctgan` model key: the ctgan library's CTGAN, behind a reversible RDT encoding of the table."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd
from ctgan import CTGAN, TVAE
from pandas.api import types as ptypes
from rdt import HyperTransformer
from rdt.transformers import FloatFormatter, UnixTimestampEncoder

from tasks.tabular.conditions import datetime_format_of
from tasks.tabular.synthesizers.base import Progress, Synthesizer, batch_size_for


class EpochReporting:
    """Mixin for ctgan models: calls `epoch_callback(epochs_done)` when ctgan records an epoch's losses."""

    @property
    def loss_values(self) -> pd.DataFrame | None:
        """ctgan's per-epoch loss table (stored under the same name, so pickles look like ctgan's own)."""
        return self.__dict__.get("loss_values")

    @loss_values.setter
    def loss_values(self, value: pd.DataFrame | None) -> None:
        self.__dict__["loss_values"] = value
        callback = self.__dict__.get("epoch_callback")
        if callback is not None and isinstance(value, pd.DataFrame) and "Epoch" in value and len(value):
            callback(int(value["Epoch"].iloc[-1]) + 1)


class ReportingCTGAN(EpochReporting, CTGAN):
    """ctgan's CTGAN, reporting each finished epoch."""


class ReportingTVAE(EpochReporting, TVAE):
    """ctgan's TVAE, reporting each finished epoch."""


REPORTING_CLASSES: dict[type, type] = {CTGAN: ReportingCTGAN, TVAE: ReportingTVAE}


@contextlib.contextmanager
def epoch_reports(holder: Any, epochs: int, report: Progress) -> Iterator[None]:
    """While the block runs, a model (or an SDV synthesizer) passes finished epochs on to `report`."""
    holder.__dict__["epoch_callback"] = _epoch_callback(epochs, report)
    try:
        yield
    finally:
        holder.__dict__.pop("epoch_callback", None)  # never pickle the callback with the model


def _epoch_callback(epochs: int, report: Progress) -> Callable[[int], None]:
    """Turn 'n epochs done' into a progress report."""
    return lambda done: report(min(done / epochs, 1.0), f"Epoch {done}/{epochs}")


@dataclass
class ColumnPlan:
    """How one training column is encoded for ctgan."""

    name: Any
    key: str  # a plain ASCII name used inside RDT and ctgan (c0, c1, ...)
    kind: str  # numerical | datetime | categorical | boolean
    dtype: str
    datetime_format: str | None = None

    def describe(self) -> dict[str, Any]:
        """JSON-able summary of the plan."""
        info = {"kind": self.kind, "dtype": self.dtype}
        if self.datetime_format:
            info["datetime_format"] = self.datetime_format
        return info


def plan_column(name: Any, key: str, values: pd.Series) -> ColumnPlan:
    """Decide how to encode a column from its dtype and (for strings) whether every value parses as a date."""
    dtype = str(values.dtype)
    if ptypes.is_bool_dtype(values.dtype) or _all_booleans(values):
        return ColumnPlan(name, key, "boolean", dtype)
    if ptypes.is_numeric_dtype(values.dtype):
        return ColumnPlan(name, key, "numerical", dtype)
    if ptypes.is_datetime64_any_dtype(values.dtype):
        return ColumnPlan(name, key, "datetime", dtype)
    date_format = datetime_format_of(values)
    if date_format:
        return ColumnPlan(name, key, "datetime", dtype, date_format)
    return ColumnPlan(name, key, "categorical", dtype)


def _all_booleans(values: pd.Series) -> bool:
    """Whether an object column holds only True/False (and nulls)."""
    present = values.dropna()
    return values.dtype == object and len(present) > 0 and all(isinstance(v, bool) for v in present)


class TableCodec:
    """Reversible encoding for ctgan: numbers and dates -> floats + null flags; categories pass through."""

    def __init__(self, data: pd.DataFrame, enforce_min_max: bool) -> None:
        self.plans = [plan_column(name, f"c{i}", data[name]) for i, name in enumerate(data.columns)]
        self._transformer = HyperTransformer()
        self._transformer.set_config(self._config(enforce_min_max))
        self._transformer.fit(self._rename(data))

    @property
    def continuous_columns(self) -> list[str]:
        """The encoded columns ctgan models as continuous (the rest, null flags included, are discrete)."""
        return [p.key for p in self.plans if p.kind in ("numerical", "datetime")]

    def encode(self, data: pd.DataFrame) -> pd.DataFrame:
        """Encode a frame shaped like the training data."""
        return self._transformer.transform(self._rename(data))

    def decode(self, encoded: pd.DataFrame) -> pd.DataFrame:
        """Turn ctgan's output back into the training columns and representations."""
        frame = self._transformer.reverse_transform(encoded)
        frame = frame[[p.key for p in self.plans]]
        return frame.rename(columns={p.key: p.name for p in self.plans})

    def describe(self) -> dict[str, Any]:
        """Column kinds, keyed by the original column names."""
        return {"columns": {str(p.name): p.describe() for p in self.plans}}

    def _rename(self, data: pd.DataFrame) -> pd.DataFrame:
        """Rename to the plain keys and give each kind a dtype RDT and ctgan accept."""
        frame = pd.DataFrame({p.key: _for_model(data[p.name], p.kind) for p in self.plans})
        return frame.reset_index(drop=True)

    def _config(self, enforce_min_max: bool) -> dict[str, dict[str, Any]]:
        """RDT config: FloatFormatter / UnixTimestampEncoder with null flags; categories untouched."""
        sdtypes, transformers = {}, {}
        for plan in self.plans:
            sdtypes[plan.key] = "boolean" if plan.kind == "boolean" else plan.kind
            transformers[plan.key] = _transformer_for(plan, enforce_min_max)
        return {"sdtypes": sdtypes, "transformers": transformers}


def _transformer_for(plan: ColumnPlan, enforce_min_max: bool) -> Any:
    """The RDT transformer for one column (None keeps the values as they are)."""
    nulls = {"missing_value_replacement": "mean", "missing_value_generation": "from_column"}
    if plan.kind == "numerical":
        return FloatFormatter(learn_rounding_scheme=True, enforce_min_max_values=enforce_min_max, **nulls)
    if plan.kind == "datetime":
        return UnixTimestampEncoder(datetime_format=plan.datetime_format,
                                    enforce_min_max_values=enforce_min_max, **nulls)
    return None


def _for_model(values: pd.Series, kind: str) -> pd.Series:
    """Nullable numbers become float64 (NA -> NaN); labels become objects (NA -> None)."""
    if kind == "numerical" and isinstance(values.dtype, pd.api.extensions.ExtensionDtype):
        return values.astype("float64")
    if kind in ("categorical", "boolean"):
        return values.astype(object).where(values.notna(), None)
    return values


class CTGANLibSynthesizer(Synthesizer):
    """ctgan's CTGAN used directly, with RDT doing the reversible preprocessing SDV would otherwise do.

    It has no `_sample_known`: ctgan's conditional vector only steers discrete columns, so conditioned rows
    come from the base's filtering of plain rows; constraints run through the base's generic runner.
    """

    neural = True
    min_rows = 2  # ctgan's per-column Gaussian mixtures need two rows

    def __init__(self, model_key: str, params: dict[str, Any]) -> None:
        super().__init__(model_key, params)
        self._codec: TableCodec | None = None
        self._model: ReportingCTGAN | None = None

    def _fit(self, data: pd.DataFrame, report: Progress) -> None:
        """Encode the table and train CTGAN on it, reporting every epoch."""
        codec = TableCodec(data, self.params["enforce_min_max"])
        encoded = codec.encode(data)
        model = ReportingCTGAN(epochs=self.params["epochs"],
                               batch_size=batch_size_for(len(encoded), self.params["batch_size"], 10),
                               embedding_dim=self.params["embedding_dim"],
                               discriminator_steps=self.params["discriminator_steps"],
                               enable_gpu=self.device == "cuda", verbose=False)
        discrete = [c for c in encoded.columns if c not in codec.continuous_columns]
        with epoch_reports(model, self.params["epochs"], report):
            model.fit(encoded, discrete_columns=discrete)
        self._codec, self._model = codec, model

    def _sample(self, num_rows: int, seed: int | None) -> pd.DataFrame:
        """Sample from CTGAN (seeded through its own random state) and decode."""
        if seed is not None:
            self._model.set_random_state(seed)
        return self._codec.decode(self._model.sample(num_rows))

    def _training_metadata(self) -> dict[str, Any]:
        """Column kinds as encoded for ctgan (the base adds every column's training summary)."""
        return self._codec.describe()
