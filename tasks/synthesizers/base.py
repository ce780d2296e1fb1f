"""The synthesizer interface: public methods validate, then delegate to `_fit` / `_sample`."""

from __future__ import annotations

import contextlib
import math
import numbers
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import cloudpickle
import numpy as np
import pandas as pd

from inferloop.errors import InferloopError, invalid_request

Progress = Callable[[float, str], None]

MAX_SEED = 2**32 - 1  # numpy's legacy seeding accepts 0 .. 2**32 - 1
_TRUE = {"true", "1", "yes", "y", "on", "t"}
_FALSE = {"false", "0", "no", "n", "off", "f"}


def coerce_int(name: str, value: Any, low: int = 1, high: int | None = None) -> int:
    """Return `value` as an int within [low, high] (strings from forms included) or raise INVALID_REQUEST."""
    number: int | None = None
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        number = int(value)
    elif isinstance(value, (float, str)) and not isinstance(value, bool):
        number = _parse_integral(value)
    if number is None:
        raise invalid_request(f"{name} must be an integer, got {value!r}", name)
    if number < low or (high is not None and number > high):
        bounds = f">= {low}" if high is None else f"between {low} and {high}"
        raise invalid_request(f"{name} must be {bounds}, got {number}", name)
    return number


def _parse_integral(value: float | str) -> int | None:
    """Parse 50, 50.0, "50" or "50.0" to 50; anything else (50.5, "abc", nan) to None."""
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("+-").isdigit():
            return int(text)  # exact, even for huge numbers
        try:
            value = float(text)
        except ValueError:
            return None
    return int(value) if value.is_integer() else None


def coerce_bool(name: str, value: Any) -> bool:
    """Return `value` as a bool (True/False, 1/0, "true"/"false", "yes"/"no", "on"/"off") or raise."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral) and int(value) in (0, 1):
        return bool(int(value))
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise invalid_request(f"{name} must be a boolean (true or false), got {value!r}", name)


def coerce_seed(seed: Any) -> int | None:
    """Return a valid seed (0 .. 2**32-1) or None."""
    if seed is None or (isinstance(seed, str) and not seed.strip()):
        return None
    return coerce_int("seed", seed, low=0, high=MAX_SEED)


def cuda_available() -> bool:
    """Whether torch sees a CUDA device."""
    import torch

    return bool(torch.cuda.is_available())


@contextlib.contextmanager
def seeded(seed: int | None) -> Iterator[None]:
    """Seed random, numpy and torch for the block, then restore their previous global states."""
    if seed is None:
        yield
        return
    import torch

    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])


def jsonable(obj: Any) -> Any:
    """A strict-JSON copy of `obj`: numpy scalars -> Python, NaN/inf -> None, unknown objects -> str."""
    if isinstance(obj, dict):
        return {str(key): jsonable(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [jsonable(value) for value in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return str(obj)


@dataclass
class TableSchema:
    """What the training frame looked like, so sampled frames can be given the same shape back."""

    columns: list[Any]
    dtypes: dict[Any, Any]
    null_columns: list[Any]

    @classmethod
    def of(cls, data: pd.DataFrame) -> TableSchema:
        """Record the columns, dtypes and all-null columns of `data`."""
        nulls = [c for c in data.columns if data[c].isna().all()]
        return cls(list(data.columns), dict(data.dtypes.items()), nulls)

    @property
    def modelled_columns(self) -> list[Any]:
        """The columns a model learns (every column that has at least one value)."""
        return [c for c in self.columns if c not in self.null_columns]

    def prepare(self, data: pd.DataFrame) -> pd.DataFrame:
        """Drop all-null columns and turn `category` columns into plain objects (SDV's CTGAN rejects them)."""
        frame = data[self.modelled_columns].reset_index(drop=True)
        for column in frame.columns:
            if isinstance(frame[column].dtype, pd.CategoricalDtype):
                frame[column] = frame[column].astype(object)
        return frame

    def restore(self, sampled: pd.DataFrame, num_rows: int) -> pd.DataFrame:
        """Re-add the all-null columns, put columns back in order and cast to the training dtypes."""
        frame = sampled.reset_index(drop=True)
        for column in self.null_columns:
            frame[column] = _null_series(num_rows, self.dtypes[column])
        frame = frame[self.columns]
        for column in self.modelled_columns:
            frame[column] = _cast_like(frame[column], self.dtypes[column])
        return frame


def _null_series(num_rows: int, dtype: Any) -> pd.Series:
    """An all-null column of `dtype` (object if that dtype cannot hold nulls)."""
    empty = pd.Series([None] * num_rows, dtype=object)
    try:
        return empty.astype(dtype)
    except (TypeError, ValueError):
        return empty


def _cast_like(values: pd.Series, dtype: Any) -> pd.Series:
    """Cast sampled values to the training dtype when that is lossless, else leave them as they are."""
    if values.dtype == dtype:
        return values
    strict = isinstance(dtype, np.dtype) and dtype.kind in "biu"  # numpy bool/int cannot hold nulls
    if strict and values.isna().any():
        return values
    try:
        return values.astype(dtype)
    except (TypeError, ValueError):
        return values


def _library_input_errors() -> tuple[type[Exception], ...]:
    """Exceptions by which SDV, RDT and ctgan reject the data they were given."""
    import ctgan.errors
    import rdt.errors
    import sdv.errors

    return (sdv.errors.InvalidDataError, sdv.errors.InvalidDataTypeError, sdv.errors.SynthesizerInputError,
            sdv.errors.SynthesizerProcessingError, rdt.errors.InvalidDataError,
            rdt.errors.TransformerInputError, ctgan.errors.InvalidDataError)


def _no_progress(fraction: float, message: str) -> None:
    """Progress sink used when the caller passes none."""


class Synthesizer:
    """A tabular synthesizer: fit on a DataFrame, sample DataFrames of the same shape, save and load."""

    neural: bool = False  # trains a torch network (and then runs on CUDA when present)
    min_rows: int = 1

    def __init__(self, model_key: str, params: dict[str, Any]) -> None:
        self.model_key = model_key
        self.params = dict(params)
        self.device = "cuda" if self.neural and cuda_available() else "cpu"
        self._schema: TableSchema | None = None

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickle; the device is the one this machine offers (ctgan moves its networks to CUDA on load)."""
        self.__dict__.update(state)
        self.device = "cuda" if self.neural and cuda_available() else "cpu"

    def fit(self, data: pd.DataFrame, seed: int | None = None, progress: Progress | None = None) -> None:
        """Learn `data`; `seed` makes training reproducible; `progress(fraction, message)` gets reports."""
        report = _no_progress if progress is None else progress
        seed = coerce_seed(seed)
        self._validate_training_data(data)
        self._schema = None
        schema = TableSchema.of(data)
        report(0.0, f"Training {self.model_key} on {len(data)} rows x {data.shape[1]} columns")
        if schema.modelled_columns:
            with seeded(seed), _as_algorithm_errors(self.model_key, "fit"):
                self._fit(schema.prepare(data), report)
        self._schema = schema
        report(1.0, f"Training {self.model_key} finished")

    def sample(self, num_rows: int, seed: int | None = None) -> pd.DataFrame:
        """Generate `num_rows` rows; the same `seed` on the same fitted model gives the same rows."""
        schema = self._require_fitted()
        num_rows = coerce_int("num_rows", num_rows)
        seed = coerce_seed(seed)
        if not schema.modelled_columns:
            return schema.restore(pd.DataFrame(index=range(num_rows)), num_rows)
        with seeded(seed), _as_algorithm_errors(self.model_key, "sample"):
            sampled = self._sample(num_rows, seed)
        return schema.restore(sampled, num_rows)

    def save(self, path: str) -> None:
        """Pickle the fitted synthesizer (cloudpickle) to a local file."""
        self._require_fitted()
        with open(path, "wb") as handle:
            cloudpickle.dump(self, handle)

    @property
    def training_metadata(self) -> dict[str, Any]:
        """A JSON-able description of what the model learned ({} before fitting)."""
        if self._schema is None or not self._schema.modelled_columns:
            return {}
        return jsonable(self._training_metadata())

    def _validate_training_data(self, data: pd.DataFrame) -> None:
        """Reject frames no model can learn: not a DataFrame, empty, duplicate names, too few rows."""
        if not isinstance(data, pd.DataFrame):
            raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
        if data.shape[1] == 0 or len(data) == 0:
            raise InferloopError("INVALID_FILE", "The training data has no rows or no columns", "file")
        duplicated = sorted({str(c) for c in data.columns[data.columns.duplicated()]})
        if duplicated:
            raise InferloopError("INVALID_FILE", f"Duplicate column names: {', '.join(duplicated)}", "file")
        if len(data) < self.min_rows:
            raise InferloopError("ALGORITHM_ERROR", f"{self.model_key} needs at least {self.min_rows} rows "
                                 f"to train, got {len(data)}", "algorithm")

    def _require_fitted(self) -> TableSchema:
        """Return the training schema, or raise if the model was never fitted."""
        if self._schema is None:
            raise InferloopError("ALGORITHM_ERROR", f"The {self.model_key} model is not fitted", "model")
        return self._schema

    def _fit(self, data: pd.DataFrame, report: Progress) -> None:
        """Train on `data` (no all-null columns, no category dtype)."""
        raise NotImplementedError

    def _sample(self, num_rows: int, seed: int | None) -> pd.DataFrame:
        """Generate `num_rows` rows of the modelled columns."""
        raise NotImplementedError

    def _training_metadata(self) -> dict[str, Any]:
        """Describe the fitted model."""
        return {}


@contextlib.contextmanager
def _as_algorithm_errors(model_key: str, step: str) -> Iterator[None]:
    """Turn a library's rejection of the data into ALGORITHM_ERROR; other failures pass through."""
    try:
        yield
    except _library_input_errors() as exc:
        raise InferloopError("ALGORITHM_ERROR", f"{model_key} could not {step} this data: {exc}",
                             "algorithm") from exc


def load_model(path: str) -> Synthesizer:
    """Load a synthesizer written by `Synthesizer.save` (a pickle: only load files you trust)."""
    with open(path, "rb") as handle:
        model = cloudpickle.load(handle)
    if not isinstance(model, Synthesizer):
        raise InferloopError("INVALID_FILE", f"{path} does not hold a synthesizer", "model")
    return model
