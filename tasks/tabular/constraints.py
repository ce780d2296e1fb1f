"""Constraint objects for the normalised specs of `tasks.tabular.constraint_specs`, as SDV 2.0 CAG constraints.

One set of classes, two runners: SDV synthesizers receive them through `add_constraints` (programmable ones
first, then SDV's `Inequality` for column-vs-column orderings); other adapters run the same programmable
classes through the generic runner in `tasks/synthesizers/base.py`. Every class can say, row by row,
whether a table meets it (`is_valid`), which is also how training data is checked before fitting.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from sdv.cag import Inequality, SingleTableProgrammableConstraint

from tasks.tabular.conditions import column_kind
from tasks.tabular.constraint_specs import constraint_columns, describe, transform_order
from inferloop.core.errors import InferloopError

OPS: dict[str, Callable[[Any, Any], Any]] = {">": operator.gt, ">=": operator.ge, "<": operator.lt,
                                            "<=": operator.le, "==": operator.eq, "!=": operator.ne}
SUM_RTOL, SUM_ATOL = 1e-9, 1e-6
MAX_SUM_DECIMALS = 10


def comparable(values: pd.Series, kind: tuple[str, str | None] | None = None) -> tuple[str, pd.Series]:
    """(kind, values) ready to compare: numbers, datetimes (date strings parsed), booleans or text."""
    name, fmt = kind or column_kind(values)
    if name == "numerical":
        return "number", pd.to_numeric(values, errors="coerce").astype("float64")
    if name == "datetime":
        stamps = pd.to_datetime(values, format=fmt, errors="coerce")
        if getattr(stamps.dt, "tz", None) is not None:
            stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
        return "datetime", stamps
    if name == "boolean":
        return "boolean", values.map(lambda v: None if _is_null(v) else bool(v)).astype(object)
    return ("empty" if name == "empty" else "text"), values.map(lambda v: None if _is_null(v) else str(v))


def _is_null(value: Any) -> bool:
    return value is None or (not isinstance(value, (str, bytes)) and bool(pd.isna(value)))


def _holds(left: pd.Series, op: str, right: Any) -> np.ndarray:
    """Rows where `left op right` holds; a row with a missing side holds (nothing to compare)."""
    present = left.notna().to_numpy()
    if isinstance(right, pd.Series):
        present &= right.notna().to_numpy()
    out = np.ones(len(left), dtype=bool)
    if present.any():
        rhs = right[present] if isinstance(right, pd.Series) else right
        try:
            out[present] = np.asarray(OPS[op](left[present], rhs), dtype=bool)
        except TypeError:  # values that cannot be compared never meet the rule
            out[present] = False
    return out


class SpecConstraint(SingleTableProgrammableConstraint):
    """A programmable constraint built from one normalised spec (identity transforms unless overridden)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = dict(spec)
        self._kinds: dict[str, tuple[str, str | None]] = {}

    @property
    def columns(self) -> list[str]:
        """The columns the constraint names."""
        return constraint_columns(self.spec)

    def fit(self, data: pd.DataFrame, metadata: Any = None) -> None:
        """Learn how each named column is compared (its kind, the format of date strings)."""
        self._kinds = {c: column_kind(data[c]) for c in self.columns if c in data}

    def transform(self, data: pd.DataFrame) -> pd.DataFrame:
        return data

    def reverse_transform(self, transformed_data: pd.DataFrame) -> pd.DataFrame:
        return transformed_data

    def get_updated_metadata(self, metadata: Any) -> Any:
        return metadata

    def is_valid(self, synthetic_data: pd.DataFrame) -> pd.Series:
        """True for each row that meets the constraint."""
        return pd.Series(self._valid(synthetic_data), index=synthetic_data.index)

    def problem(self, data: pd.DataFrame) -> str | None:
        """Why no row of `data` could meet the constraint (wrong column kinds), or None."""
        return None

    def _valid(self, data: pd.DataFrame) -> np.ndarray:
        raise NotImplementedError

    def _comparable(self, data: pd.DataFrame, column: str) -> tuple[str, pd.Series]:
        return comparable(data[column], self._kinds.get(column))


class ValueRange(SpecConstraint):
    """range: min <= column <= max; generated values are clipped into the range."""

    def _valid(self, data: pd.DataFrame) -> np.ndarray:
        kind, values = self._comparable(data, self.spec["column"])
        if kind != "number":
            return data[self.spec["column"]].isna().to_numpy()
        low, high = self.spec.get("min"), self.spec.get("max")
        ok = np.ones(len(values), dtype=bool)
        if low is not None:
            ok &= _holds(values, ">=", low)
        if high is not None:
            ok &= _holds(values, "<=", high)
        return ok

    def reverse_transform(self, transformed_data: pd.DataFrame) -> pd.DataFrame:
        """Clip the column into [min, max] (integer columns to the whole numbers inside)."""
        data, column = transformed_data.copy(), self.spec["column"]
        if column not in data:
            return data
        values = data[column]
        if not ptypes.is_numeric_dtype(values.dtype) or ptypes.is_bool_dtype(values.dtype):
            return data
        low, high = self.spec.get("min"), self.spec.get("max")
        if ptypes.is_integer_dtype(values.dtype):
            low = None if low is None else int(np.ceil(low))
            high = None if high is None else int(np.floor(high))
        data[column] = values.clip(lower=low, upper=high)
        return data

    def problem(self, data: pd.DataFrame) -> str | None:
        kind, _ = self._comparable(data, self.spec["column"])
        return None if kind == "number" else f"column '{self.spec['column']}' is not numerical ({kind})"


class ColumnComparison(SpecConstraint):
    """relationship between two columns: left op right (rows with a missing side pass)."""

    def _valid(self, data: pd.DataFrame) -> np.ndarray:
        (lkind, left), (rkind, right) = self._comparable(data, self.spec["left"]), \
            self._comparable(data, self.spec["right"])
        if lkind != rkind:
            return ~(left.notna() & right.notna()).to_numpy()
        return _holds(left, self.spec["op"], right)

    def problem(self, data: pd.DataFrame) -> str | None:
        lkind, _ = self._comparable(data, self.spec["left"])
        rkind, _ = self._comparable(data, self.spec["right"])
        if lkind != rkind:
            return f"'{self.spec['left']}' ({lkind}) and '{self.spec['right']}' ({rkind}) cannot be compared"
        return None


class ColumnVsConstant(SpecConstraint):
    """relationship between a column and a constant: column op value."""

    def _valid(self, data: pd.DataFrame) -> np.ndarray:
        kind, values = self._comparable(data, self.spec["left"])
        constant = _constant_as(kind, self.spec["value"])
        if constant is None:
            return values.isna().to_numpy()
        return _holds(values, self.spec["op"], constant)

    def problem(self, data: pd.DataFrame) -> str | None:
        kind, _ = self._comparable(data, self.spec["left"])
        if _constant_as(kind, self.spec["value"]) is None:
            return f"column '{self.spec['left']}' ({kind}) cannot be compared with {self.spec['value']!r}"
        return None


def _constant_as(kind: str, value: Any) -> Any:
    """The constant in the column's terms, or None when it cannot be."""
    if kind == "number":
        if isinstance(value, bool):
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            return None
    if kind == "datetime":
        try:
            stamp = pd.Timestamp(value) if isinstance(value, str) else None
        except ValueError:
            return None
        if stamp is not None and stamp.tzinfo is not None:
            stamp = stamp.tz_convert("UTC").tz_localize(None)
        return stamp
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        return {"true": True, "false": False}.get(text)
    return str(value)


class UniqueColumns(SpecConstraint):
    """unique: no two rows share the same values in the columns (a repeat is invalid; nulls never repeat)."""

    def _valid(self, data: pd.DataFrame) -> np.ndarray:
        subset = data[self.spec["columns"]]
        present = subset.notna().all(axis=1).to_numpy()
        repeated = np.zeros(len(data), dtype=bool)
        if present.any():
            repeated[present] = subset[present].duplicated(keep="first").to_numpy()
        return ~repeated


class SumEquals(SpecConstraint):
    """sum: the columns add up to the total column; the total is dropped before fitting and recomputed."""

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__(spec)
        self._decimals = MAX_SUM_DECIMALS

    def fit(self, data: pd.DataFrame, metadata: Any = None) -> None:
        """Also learn how many decimals the sums carry."""
        super().fit(data, metadata)
        numbers = data[[c for c in self.columns if c in data]].apply(pd.to_numeric, errors="coerce")
        values = numbers.to_numpy(dtype="float64", na_value=np.nan).ravel()
        values = values[np.isfinite(values)]
        scale = 1e-9 * np.maximum(1, np.abs(values))
        self._decimals = next((d for d in range(MAX_SUM_DECIMALS)
                               if np.all(np.abs(np.round(values, d) - values) <= scale)), MAX_SUM_DECIMALS)

    def transform(self, data: pd.DataFrame) -> pd.DataFrame:
        return data.drop(columns=[self.spec["total"]])

    def reverse_transform(self, transformed_data: pd.DataFrame) -> pd.DataFrame:
        data = transformed_data.copy()
        parts = data[self.spec["columns"]].apply(pd.to_numeric, errors="coerce")
        data[self.spec["total"]] = parts.sum(axis=1, min_count=1).round(self._decimals)
        return data

    def get_updated_metadata(self, metadata: Any) -> Any:
        metadata.remove_column(self.spec["total"])
        return metadata

    def _valid(self, data: pd.DataFrame) -> np.ndarray:
        parts = data[self.spec["columns"]].apply(pd.to_numeric, errors="coerce")
        total = pd.to_numeric(data[self.spec["total"]], errors="coerce")
        total = total.to_numpy(dtype="float64", na_value=np.nan)
        sums = parts.sum(axis=1, min_count=1).to_numpy(dtype="float64", na_value=np.nan)
        both_missing = np.isnan(sums) & np.isnan(total)
        with np.errstate(invalid="ignore"):
            return both_missing | np.isclose(sums, total, rtol=SUM_RTOL, atol=SUM_ATOL)

    def problem(self, data: pd.DataFrame) -> str | None:
        for column in self.columns:
            kind, _ = self._comparable(data, column)
            if kind != "number":
                return f"column '{column}' is not numerical ({kind})"
        return None


def constraint_for(spec: dict[str, Any]) -> SpecConstraint:
    """The programmable constraint for one normalised spec."""
    if spec["type"] == "range":
        return ValueRange(spec)
    if spec["type"] == "unique":
        return UniqueColumns(spec)
    if spec["type"] == "sum":
        return SumEquals(spec)
    return ColumnComparison(spec) if "right" in spec else ColumnVsConstant(spec)


def build_constraints(specs: list[dict[str, Any]]) -> list[SpecConstraint]:
    """Programmable constraints in transform order (sums last), for the generic runner and final checks."""
    return [constraint_for(specs[i]) for i in transform_order(specs)]


def sdv_constraints(specs: list[dict[str, Any]], metadata: Any) -> list[Any]:
    """What an SDV synthesizer gets: programmable constraints first (the 2.0 ordering gotcha), then
    `Inequality` for each column-vs-column ordering whose two columns SDV models as numbers or datetimes."""
    table = metadata.tables[next(iter(metadata.tables))]
    programmable, inequalities = [], []
    for i in transform_order(specs):
        spec = specs[i]
        inequality = _inequality(spec, table)
        if inequality is None:
            programmable.append(constraint_for(spec))
        else:
            inequalities.append(inequality)
    return programmable + inequalities


def _inequality(spec: dict[str, Any], table: Any) -> Inequality | None:
    """SDV's Inequality for `a >= b`-like specs between two numerical (or two datetime) columns, else None."""
    if spec["type"] != "relationship" or "right" not in spec or spec["op"] in ("==", "!="):
        return None
    columns = table.columns
    sdtypes = {columns.get(spec["left"], {}).get("sdtype"), columns.get(spec["right"], {}).get("sdtype")}
    keys = {table.primary_key} if isinstance(table.primary_key, str) else set(table.primary_key or [])
    if len(sdtypes) != 1 or sdtypes - {"numerical", "datetime"} or keys & {spec["left"], spec["right"]}:
        return None
    low, high = (spec["right"], spec["left"]) if spec["op"] in (">", ">=") else (spec["left"], spec["right"])
    return Inequality(low_column_name=low, high_column_name=high, strict_boundaries=spec["op"] in (">", "<"))


def check_training_data(specs: list[dict[str, Any]], data: pd.DataFrame) -> None:
    """CONSTRAINT_VIOLATION (which constraint, why, how many rows) unless `data` meets every constraint."""
    names = [str(c) for c in data.columns]
    for i, spec in enumerate(specs):
        field, what = f"constraints[{i}]", f"constraints[{i}] ({describe(spec)})"
        for column in constraint_columns(spec):
            if column not in names:
                raise InferloopError("CONSTRAINT_VIOLATION", f"{what} names column '{column}', which the "
                                     f"training data does not have (columns: {', '.join(names[:30])})", field)
            if data[column].isna().all():
                raise InferloopError("CONSTRAINT_VIOLATION", f"{what} names column '{column}', which has no "
                                     "values in the training data", field)
        constraint = constraint_for(spec)
        reason = constraint.problem(data)
        if reason:
            raise InferloopError("CONSTRAINT_VIOLATION", f"{what} cannot apply: {reason}", field)
        bad = np.flatnonzero(~constraint.is_valid(data.reset_index(drop=True)).to_numpy())
        if len(bad):
            rows = ", ".join(str(r) for r in bad[:5]) + (", ..." if len(bad) > 5 else "")
            raise InferloopError("CONSTRAINT_VIOLATION", f"{what} is violated by {len(bad)} of {len(data)} "
                                 f"training rows (row numbers, from 0: {rows}); fix the data or the "
                                 "constraint",
                                 field, extra={"violating_rows": len(bad)})


def valid_rows(constraints: list[SpecConstraint], data: pd.DataFrame) -> np.ndarray:
    """Rows of `data` that meet every constraint."""
    ok = np.ones(len(data), dtype=bool)
    for constraint in constraints:
        ok &= constraint.is_valid(data).to_numpy(dtype=bool)
    return ok
