"""The synthesizer interface: public methods validate, then delegate to `_fit` / `_sample`.

`fit` checks constraints against the training data and records a summary of every column; `sample`
returns exactly the rows asked for, every one meeting every condition and every constraint: conditioned
values are drawn first and completed by the adapter's `_sample_known`, or (without that hook) rows are
drawn in growing batches and filtered, with a clear CONSTRAINT_VIOLATION after a bounded effort.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import cloudpickle
import numpy as np
import pandas as pd

from tasks.tabular.conditions import (Condition, check_conditions, condition_mask, draw_known,
                                      parse_conditions, snap_near, summarize_columns)
from inferloop.core.errors import InferloopError, invalid_request

Progress = Callable[[float, str], None]

MAX_SEED = 2**32 - 1  # numpy's legacy seeding accepts 0 .. 2**32 - 1
# bounded effort when filtering rows: rounds, candidate rows per round and in all (x the rows asked for)
MAX_ROUNDS = 25
ROUND_FACTOR, MIN_ROUND = 10, 10_000
BUDGET_FACTOR, MIN_BUDGET = 50, 50_000
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


def batch_size_for(rows: int, requested: int, pac: int = 1) -> int:
    """The batch size to train with: at most the table (a multiple of pac), never more than requested.

    A larger batch than the table only repeats rows within each step: the same epochs, several times slower.
    """
    return min(requested, max(pac, rows // pac * pac))


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
    try:
        import torch
    except ImportError:  # the ydata environment has no torch (its adapter seeds TensorFlow itself)
        torch = None

    states = random.getstate(), np.random.get_state(), torch and torch.get_rng_state()
    random.seed(seed)
    np.random.seed(seed)
    if torch is not None:
        torch.manual_seed(seed)  # also seeds every CUDA device
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        if torch is not None:
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
    summary: dict[str, dict[str, Any]] = field(default_factory=dict)  # tasks.tabular.conditions.summarize_columns

    @classmethod
    def of(cls, data: pd.DataFrame) -> TableSchema:
        """Record the columns, dtypes, all-null columns and a summary of each column of `data`."""
        nulls = [c for c in data.columns if data[c].isna().all()]
        return cls(list(data.columns), dict(data.dtypes.items()), nulls, summarize_columns(data))

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
    """Exceptions by which SDV, RDT and ctgan reject the data they were given (those installed here)."""
    try:
        import ctgan.errors
        import rdt.errors
        import sdv.errors
    except ImportError:  # the ydata environment: none of them
        return ()
    return (sdv.errors.InvalidDataError, sdv.errors.InvalidDataTypeError, sdv.errors.SynthesizerInputError,
            sdv.errors.SynthesizerProcessingError, rdt.errors.InvalidDataError,
            rdt.errors.TransformerInputError, ctgan.errors.InvalidDataError)


def _no_progress(fraction: float, message: str) -> None:
    """Progress sink used when the caller passes none."""


class ConstraintRunner:
    """The generic runner for adapters whose library does not apply constraints itself.

    Constraint objects (tasks/tabular/constraints.py) transform the table before `_fit` and reverse-transform
    what `_sample` returns; the rows that still break one are filtered out (and replaced) by `sample`.
    """

    def __init__(self, constraints: list[Any]) -> None:
        self.constraints = list(constraints)

    def fit_transform(self, data: pd.DataFrame) -> pd.DataFrame:
        """Fit each constraint on the table as the previous ones left it, and transform it."""
        for constraint in self.constraints:
            constraint.fit(data)
            data = constraint.transform(data)
        return data

    def reverse(self, data: pd.DataFrame) -> pd.DataFrame:
        """Undo the transforms, last constraint first."""
        for constraint in reversed(self.constraints):
            data = constraint.reverse_transform(data)
        return data

    def valid(self, data: pd.DataFrame) -> np.ndarray:
        """Rows that meet every constraint."""
        ok = np.ones(len(data), dtype=bool)
        for constraint in self.constraints:
            ok &= constraint.is_valid(data).to_numpy(dtype=bool)
        return ok


class Synthesizer:
    """A tabular synthesizer: fit on a DataFrame, sample DataFrames of the same shape, save and load."""

    neural: bool = False  # trains a torch network (and then runs on CUDA when present)
    min_rows: int = 1
    applies_constraints: bool = False  # the library transforms and checks constraints itself (SDV)

    def __init__(self, model_key: str, params: dict[str, Any]) -> None:
        self.model_key = model_key
        self.params = dict(params)
        self.device = "cuda" if self.neural and cuda_available() else "cpu"
        self._schema: TableSchema | None = None
        self._constraint_specs: list[dict[str, Any]] = []  # normalised (tasks.tabular.constraint_specs)
        self._constraints: list[Any] = []  # their tasks.tabular.constraints objects, fitted, in transform order

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickle; the device is the one this machine offers (ctgan moves its networks to CUDA on load)."""
        state.setdefault("_constraint_specs", [])
        state.setdefault("_constraints", [])
        self.__dict__.update(state)
        self.device = "cuda" if self.neural and cuda_available() else "cpu"

    def fit(self, data: pd.DataFrame, seed: int | None = None, progress: Progress | None = None,
            constraints: list[dict[str, Any]] | None = None) -> None:
        """Learn `data`; `seed` makes training reproducible; `progress(fraction, message)` gets reports.

        `constraints` (normalised dicts of tasks.tabular.constraint_specs) are checked against `data` first:
        data that breaks one, or lacks a column one names, is CONSTRAINT_VIOLATION before any training.
        """
        report = _no_progress if progress is None else progress
        seed = coerce_seed(seed)
        self._validate_training_data(data)
        specs, runner = self._constraint_runner(data, constraints)
        self._schema = None
        schema = TableSchema.of(data)
        report(0.0, f"Training {self.model_key} on {len(data)} rows x {data.shape[1]} columns")
        self._constraint_specs = specs  # SDV adapters read them in `_fit`
        if schema.modelled_columns:
            with seeded(seed), _as_algorithm_errors(self.model_key, "fit"):
                prepared = schema.prepare(data)
                transformed = prepared if runner is None else runner.fit_transform(prepared)
                self._fit(prepared if self.applies_constraints else transformed, report)
        self._constraints = [] if runner is None else runner.constraints
        self._schema = schema
        report(1.0, f"Training {self.model_key} finished")

    def sample(self, num_rows: int, seed: int | None = None,
               conditions: list[Condition] | dict[str, Any] | None = None) -> pd.DataFrame:
        """Generate `num_rows` rows; the same `seed` on the same fitted model gives the same rows.

        Every row meets every condition (a list of Conditions, or the raw {column: value} object) and every
        constraint the model was fitted with.
        """
        schema = self._require_fitted()
        num_rows = coerce_int("num_rows", num_rows)
        seed = coerce_seed(seed)
        checked = self.check_conditions(conditions)
        if not schema.modelled_columns:
            return schema.restore(pd.DataFrame(index=range(num_rows)), num_rows)
        with seeded(seed), _as_algorithm_errors(self.model_key, "sample"):
            if checked or self._constraints:
                sampled = self._sample_satisfying(num_rows, seed, checked)
            else:
                sampled = self._sample(num_rows, seed)
        return schema.restore(sampled, num_rows)

    def check_conditions(self, conditions: list[Condition] | dict[str, Any] | None) -> list[Condition]:
        """Parse and check conditions against the training data's columns (the errors the API gives)."""
        if not conditions:
            return []
        checked = check_conditions(parse_conditions(conditions), self.columns_summary)
        derived = {s["total"] for s in self._constraint_specs if s["type"] == "sum"}
        for cond in checked:
            if cond.column in derived:
                raise InferloopError("CONSTRAINT_VIOLATION", f"'{cond.column}' is computed by a sum "
                                     "constraint; put conditions on the columns it adds up instead",
                                     f"conditions.{cond.column}")
        return checked

    @property
    def columns_summary(self) -> dict[str, dict[str, Any]]:
        """{column: summary} of the training data ({} before fitting, or for models saved before them)."""
        return {} if self._schema is None else dict(getattr(self._schema, "summary", {}) or {})

    def save(self, path: str) -> None:
        """Pickle the fitted synthesizer (cloudpickle) to a local file."""
        self._require_fitted()
        with open(path, "wb") as handle:
            cloudpickle.dump(self, handle)

    @property
    def training_metadata(self) -> dict[str, Any]:
        """A JSON-able description of what the model learned ({} before fitting).

        Always holds "columns" (the training summary of each column, merged into the adapter's own
        description of it) and, when the model has them, its "constraints".
        """
        if self._schema is None or not self._schema.modelled_columns:
            return {}
        meta = dict(self._training_metadata() or {})
        own = meta.get("columns") if isinstance(meta.get("columns"), dict) else {}
        summary = self.columns_summary
        meta["columns"] = {name: {**(own.get(name) or {}), **info} for name, info in summary.items()} or own
        if self._constraint_specs:
            meta["constraints"] = self._constraint_specs
        return jsonable(meta)

    # ------------------------------------------------------------ constraints and conditions

    @staticmethod
    def _constraint_runner(data: pd.DataFrame, constraints: list[dict[str, Any]] | None,
                           ) -> tuple[list[dict[str, Any]], ConstraintRunner | None]:
        """(normalised specs, their runner) after checking them against the training data."""
        if not constraints:
            return [], None
        from tasks.tabular.constraint_specs import parse_constraints
        from tasks.tabular.constraints import build_constraints, check_training_data

        specs = parse_constraints(constraints)
        if not specs:
            return [], None
        check_training_data(specs, data.rename(columns=str))
        return specs, ConstraintRunner(build_constraints(specs))

    def _sample_satisfying(self, num_rows: int, seed: int | None,
                           conditions: list[Condition]) -> pd.DataFrame:
        """Exactly `num_rows` rows meeting every condition and constraint, drawn in growing batches."""
        rng = np.random.default_rng(np.random.randint(0, MAX_SEED, dtype=np.int64))
        kept = pd.DataFrame()
        batch, made, rounds, last = num_rows, 0, 0, pd.DataFrame()
        budget = max(BUDGET_FACTOR * num_rows, MIN_BUDGET)
        while len(kept) < num_rows and rounds < MAX_ROUNDS and made < budget:
            last = self._candidates(batch, seed if rounds == 0 else None, conditions, rng)
            made, rounds = made + batch, rounds + 1
            combined = pd.concat([kept, last], ignore_index=True) if len(kept) else \
                last.reset_index(drop=True)
            before = len(kept)
            kept = combined[self._acceptable(combined, conditions)].reset_index(drop=True)
            need = num_rows - len(kept)
            rate = (len(kept) - before) / batch
            grown = math.ceil(need / rate * 1.2) + 10 if rate > 0 else batch * 4
            batch = int(min(max(grown, need), max(ROUND_FACTOR * num_rows, MIN_ROUND), max(budget - made, 1)))
        if len(kept) < num_rows:
            raise self._unmet(num_rows, len(kept), made, last, conditions)
        return kept.head(num_rows)

    def _candidates(self, num_rows: int, seed: int | None, conditions: list[Condition],
                    rng: np.random.Generator) -> pd.DataFrame:
        """Candidates: conditioned values drawn first and completed by `_sample_known`, else plain rows."""
        if conditions and type(self)._sample_known is not Synthesizer._sample_known:
            names = {str(c): c for c in self._schema.columns}
            known = draw_known(conditions, self.columns_summary, num_rows, rng)
            return self._reverse(self._sample_known(known.rename(columns=names)))
        frame = self._reverse(self._sample(num_rows, seed))
        return snap_near(conditions, frame, self.columns_summary) if conditions else frame

    def _reverse(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The generic runner's reverse transforms (SDV adapters got their rows through SDV's own)."""
        if self.applies_constraints or not self._constraints:
            return frame
        return ConstraintRunner(self._constraints).reverse(frame)

    def _acceptable(self, frame: pd.DataFrame, conditions: list[Condition]) -> np.ndarray:
        """Rows meeting every condition and constraint (a repeat of an earlier row breaks `unique`)."""
        ok = ConstraintRunner(self._constraints).valid(frame)
        if conditions:
            ok &= condition_mask(conditions, frame.rename(columns=str), self.columns_summary)
        return ok

    def _unmet(self, asked: int, made: int, tried: int, last: pd.DataFrame,
               conditions: list[Condition]) -> InferloopError:
        """CONSTRAINT_VIOLATION after the bounded effort, naming the rule the fewest candidates met."""
        rules: list[tuple[float, str, str]] = []
        if len(last):
            for cond in conditions:
                share = condition_mask([cond], last.rename(columns=str), self.columns_summary).mean()
                rules.append((share, f"condition {cond.column!r}", f"conditions.{cond.column}"))
            from tasks.tabular.constraint_specs import describe

            for constraint in self._constraints:
                share = constraint.is_valid(last).to_numpy(dtype=bool).mean()
                rules.append((share, describe(constraint.spec), "constraints"))
        hardest = min(rules, default=(0.0, "the conditions and constraints",
                                      "conditions" if conditions else "constraints"))
        return InferloopError(
            "CONSTRAINT_VIOLATION",
            f"Could make only {made} of {asked} rows that meet every condition and constraint after "
            f"drawing {tried} candidate rows from {self.model_key}; the hardest to meet is {hardest[1]} "
            f"({hardest[0]:.1%} of the last candidates met it). Loosen it or train the model longer.",
            hardest[2], extra={"rows_possible": int(made), "rows_requested": int(asked)})

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

    def _sample_known(self, known: pd.DataFrame) -> pd.DataFrame:
        """One row per row of `known`, same order, its columns keeping exactly those values and the other
        modelled columns sampled given them. Called inside the seeded block; adapters that cannot do this
        leave it undefined and `sample` falls back to filtering plain rows."""
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
