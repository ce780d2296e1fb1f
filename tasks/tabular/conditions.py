"""Conditions for sampling ({"segment": "gold", "age": ">30", "country": ["FR", "DE"]}): parse, check, draw.

Pure (numpy and pandas only): the API checks conditions against a model's column summaries before a run
starts, and the synthesizers use the same code to draw the conditioned values and to test rows.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from pandas.tseries.api import guess_datetime_format

from inferloop.core.errors import InferloopError, invalid_request

OPERATORS: tuple[str, ...] = ("==", "!=", ">", ">=", "<", "<=", "in")
ORDERING: tuple[str, ...] = (">", ">=", "<", "<=")
_PREFIXES: tuple[str, ...] = (">=", "<=", "!=", "==", ">", "<", "=")  # longest first
_OPERATOR_CHARS = "<>=!"
MAX_VALUES = 1000  # categories recorded per column, and values accepted in one list
DISCRETE_MAX = 50  # numerical columns with at most this many distinct values also record them
QUANTILES = 101
MAX_DECIMALS = 6
DATE_STEPS: dict[str, float] = {"D": 86400.0, "min": 60.0, "s": 1.0}  # seconds per step


@dataclass(frozen=True)
class Condition:
    """One column's condition: `column op value`, or `column in values`."""

    column: str
    op: str
    value: Any = None
    values: tuple[Any, ...] | None = None
    typed: bool = False  # set by check_conditions: values are in the column's terms (numbers, epoch seconds)

    def describe(self) -> str:
        """The condition as people write it."""
        if self.op == "in":
            return f"{self.column} in {list(self.values or ())!r}"
        return f"{self.column} {self.op} {self.value!r}"


def _field(column: str) -> str:
    return f"conditions.{column}"


def _violation(column: str, message: str) -> InferloopError:
    return InferloopError("CONSTRAINT_VIOLATION", message, _field(column))


# ---------------------------------------------------------------- parsing


def parse_conditions(raw: Any) -> list[Condition]:
    """{column: value | "<op><value>" | [any of values]} -> conditions (INVALID_REQUEST if malformed)."""
    if raw is None:
        return []
    if isinstance(raw, (list, tuple)) and all(isinstance(c, Condition) for c in raw):
        return list(raw)
    if not isinstance(raw, dict):
        raise invalid_request("conditions must be an object mapping column names to values", "conditions")
    return [_parse_one(column, value) for column, value in raw.items()]


def _parse_one(column: Any, value: Any) -> Condition:
    """One column's condition."""
    if not isinstance(column, str) or not column.strip():
        raise invalid_request(f"condition column names must be non-empty strings, got {column!r}",
                              "conditions")
    field = _field(column)
    if isinstance(value, (list, tuple)):
        if not value:
            raise invalid_request(f"the list for '{column}' is empty: give at least one value", field)
        if len(value) > MAX_VALUES:
            raise invalid_request(f"the list for '{column}' has more than {MAX_VALUES} values", field)
        items = [_exact(column, v, in_list=True) for v in value]
        return Condition(column, "in", values=tuple(dict.fromkeys(items)))
    if isinstance(value, str):
        return _parse_text(column, value)
    return Condition(column, "==", _exact(column, value, in_list=False))


def _exact(column: str, value: Any, in_list: bool) -> Any:
    """An exact value: a string, a finite number or a boolean."""
    field = _field(column)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Real):
        if not math.isfinite(float(value)):
            raise invalid_request(f"the value for '{column}' must be a finite number, got {value!r}", field)
        return value.item() if isinstance(value, np.generic) else value
    if isinstance(value, str):
        if in_list and _operator_prefix(value.strip()):
            raise invalid_request(f"list values for '{column}' are exact values; operators such as "
                                  f"{value!r} are only allowed on a single value", field)
        return value
    kind = "null" if value is None else type(value).__name__
    raise invalid_request(f"the value for '{column}' must be a string, number, boolean or a list of them, "
                          f"got {kind}", field)


def _operator_prefix(text: str) -> str | None:
    return next((p for p in _PREFIXES if text.startswith(p)), None)


def _parse_text(column: str, value: str) -> Condition:
    """'gold' (exact), '>30', '>= 2020-01-01', '!=gold', "== 'x'"."""
    text = value.strip()
    prefix = _operator_prefix(text)
    if prefix is None:
        return Condition(column, "==", value)
    rest = text[len(prefix):].strip()
    if len(rest) >= 2 and rest[0] == rest[-1] and rest[0] in "'\"":
        rest = rest[1:-1]
    elif not rest or rest[0] in _OPERATOR_CHARS:
        raise invalid_request(f"'{value}' is not a valid condition for '{column}': write an operator "
                              f"(==, !=, >, >=, <, <=) followed by one value, e.g. '>30'", _field(column))
    return Condition(column, "==" if prefix in ("=", "==") else prefix, rest)


# ---------------------------------------------------------------- column summaries


def datetime_format_of(values: pd.Series) -> str | None:
    """The strftime format every non-null string of the column follows, if there is one."""
    present = values.dropna()
    if not len(present) or not all(isinstance(v, str) for v in present):
        return None
    first = present.iloc[0].strip()
    if first.isdigit():  # codes such as zip or years-as-ids, not dates
        return None
    fmt = guess_datetime_format(first)
    if fmt is None:
        return None
    parsed = pd.to_datetime(present, format=fmt, errors="coerce")
    return fmt if parsed.notna().all() else None


def column_kind(values: pd.Series) -> tuple[str, str | None]:
    """(kind, datetime format of date strings): boolean | numerical | datetime | categorical | empty."""
    present = values.dropna()
    if not len(present):
        return "empty", None
    if ptypes.is_bool_dtype(values.dtype) or all(isinstance(v, (bool, np.bool_)) for v in present):
        return "boolean", None
    if ptypes.is_numeric_dtype(values.dtype):
        return "numerical", None
    if ptypes.is_datetime64_any_dtype(values.dtype):
        return "datetime", None
    fmt = datetime_format_of(values)
    return ("datetime", fmt) if fmt else ("categorical", None)


def summarize_columns(df: pd.DataFrame, max_values: int = MAX_VALUES) -> dict[str, dict[str, Any]]:
    """Per column: kind, null share, seen values (categoricals, capped) or min/max/quantiles; JSON-able."""
    return {str(name): _summarize(df[name], max_values) for name in df.columns}


def _summarize(values: pd.Series, max_values: int) -> dict[str, Any]:
    kind, fmt = column_kind(values)
    nulls = float(values.isna().mean()) if len(values) else 0.0
    info: dict[str, Any] = {"kind": kind, "dtype": str(values.dtype), "null_share": round(nulls, 6)}
    present = values.dropna()
    if kind in ("categorical", "boolean"):
        counts = (present.astype(bool) if kind == "boolean" else present).value_counts(sort=True)
        info.update(values=[_plain(v) for v in counts.index[:max_values]],
                    counts=[int(c) for c in counts.to_numpy()[:max_values]],
                    distinct=len(counts), truncated=bool(len(counts) > max_values))
    elif kind == "numerical":
        info.update(_numerical_summary(present.astype("float64").to_numpy()))
    elif kind == "datetime":
        info.update(_datetime_summary(present, fmt))
    return info


def _plain(value: Any) -> Any:
    """A JSON-able Python scalar for a seen value."""
    if isinstance(value, np.generic):
        value = value.item()
    return value if isinstance(value, (str, int, float, bool)) else str(value)


def _decimals(x: np.ndarray) -> int | None:
    """The fewest decimals (up to MAX_DECIMALS) that hold every value, or None."""
    scale = np.maximum(np.abs(x), 1.0)
    for d in range(MAX_DECIMALS + 1):
        if np.all(np.abs(np.round(x, d) - x) <= 1e-9 * scale):
            return d
    return None


def _numerical_summary(x: np.ndarray) -> dict[str, Any]:
    x = x[np.isfinite(x)]
    if not len(x):
        return {"min": None, "max": None, "integer": False, "decimals": None, "quantiles": []}
    decimals = _decimals(x)
    out: dict[str, Any] = {"min": _num(x.min()), "max": _num(x.max()), "integer": decimals == 0,
                           "decimals": decimals,
                           "quantiles": [_num(q) for q in np.quantile(x, np.linspace(0, 1, QUANTILES))]}
    distinct, counts = np.unique(x, return_counts=True)
    if len(distinct) <= DISCRETE_MAX:
        out.update(values=[_num(v) for v in distinct], counts=[int(c) for c in counts])
    return out


def _num(v: float) -> int | float:
    v = float(v)
    return int(v) if v.is_integer() and abs(v) < 2**53 else v


def _datetime_summary(present: pd.Series, fmt: str | None) -> dict[str, Any]:
    stamps = pd.to_datetime(present, format=fmt) if fmt else pd.to_datetime(present)
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    seconds = _seconds(stamps)
    resolution = next((name for name, step in DATE_STEPS.items()
                       if np.all(np.mod(seconds, step) == 0)), None)
    return {"datetime_format": fmt, "resolution": resolution,
            "min": _iso(seconds.min()), "max": _iso(seconds.max()),
            "quantiles": [_iso(q) for q in np.quantile(seconds, np.linspace(0, 1, QUANTILES))]}


def _seconds(stamps: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Datetimes as float seconds since the epoch (microsecond precision)."""
    return np.asarray(pd.DatetimeIndex(stamps).as_unit("us").asi8, dtype="float64") / 1e6


def _iso(seconds: float) -> str:
    return pd.Timestamp(round(float(seconds) * 1e6), unit="us").isoformat()


def _stamp_seconds(value: Any) -> float | None:
    """A condition or summary value as epoch seconds (None if it is not a date)."""
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        return None
    if stamp is pd.NaT:
        return None
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return round(stamp.value / 1e3) / 1e6  # .value is in nanoseconds; keep microseconds


# ---------------------------------------------------------------- checking


def check_conditions(conditions: list[Condition],
                     columns_summary: dict[str, dict[str, Any]]) -> list[Condition]:
    """Typed conditions; INVALID_REQUEST for unknown columns or bad values, CONSTRAINT_VIOLATION if none can
    be met."""
    checked = []
    for cond in conditions:
        info = columns_summary.get(cond.column)
        if info is None:
            known = ", ".join(sorted(columns_summary)[:20]) or "none"
            raise invalid_request(f"unknown column '{cond.column}' in conditions; the model's columns are: "
                                  f"{known}", _field(cond.column))
        if cond.op not in OPERATORS:
            raise invalid_request(f"unknown operator '{cond.op}' for '{cond.column}'", _field(cond.column))
        checked.append(_check_one(cond, info))
    return checked


def _check_one(cond: Condition, info: dict[str, Any]) -> Condition:
    kind = info.get("kind")
    if kind == "empty" or (kind in ("numerical", "datetime") and info.get("min") is None):
        raise _violation(cond.column, f"column '{cond.column}' has no values in the training data, so no "
                                      "condition on it can be met")
    if kind in ("categorical", "boolean"):
        return _check_categorical(cond, info)
    _feasible_numbers(cond, info)  # raises when nothing can satisfy the condition
    return _typed_numbers(cond, info)


def _typed_numbers(cond: Condition, info: dict[str, Any]) -> Condition:
    """The condition with numbers (or epoch seconds for datetimes) as values."""
    if cond.typed:
        return cond
    if cond.op == "in":
        values = tuple(dict.fromkeys(_to_number(cond.column, v, info) for v in cond.values))
        return Condition(cond.column, "in", values=values, typed=True)
    return Condition(cond.column, cond.op, _to_number(cond.column, cond.value, info), typed=True)


def _to_number(column: str, value: Any, info: dict[str, Any]) -> float:
    """A condition value on a numerical (a number) or datetime (epoch seconds) column."""
    if info["kind"] == "datetime":
        seconds = _stamp_seconds(value) if isinstance(value, str) else None
        if seconds is None:
            raise invalid_request(f"'{value}' is not a date or time; '{column}' holds dates such as "
                                  f"{info.get('min')}", _field(column))
        return seconds
    if isinstance(value, (bool, np.bool_)):
        raise invalid_request(f"'{column}' is numerical: give a number, not {value!r}", _field(column))
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise invalid_request(f"'{column}' is numerical: '{value}' is not a number", _field(column)) from None
    if not math.isfinite(number):
        raise invalid_request(f"'{column}' needs a finite number, got '{value}'", _field(column))
    return number


def _check_categorical(cond: Condition, info: dict[str, Any]) -> Condition:
    """Categorical and boolean columns: ==, != and lists, against the seen values."""
    kind, column = info["kind"], cond.column
    if cond.typed:
        return cond
    if cond.op in ORDERING:
        raise _violation(column, f"'{cond.op}' makes no sense on the {kind} column '{column}': "
                                 "use an exact value, '!=value' or a list")
    seen = _seen(info)
    wanted = cond.values if cond.op == "in" else (cond.value,)
    if kind == "boolean":
        wanted = tuple(_to_bool(column, v) for v in wanted)
    if cond.op == "!=":
        others = [v for v in seen if value_key(v) != value_key(wanted[0])]
        if not others and not info.get("truncated"):
            raise _violation(column, f"'{column}' never holds anything but {wanted[0]!r}, so '!=' cannot "
                                     "be met")
        return Condition(column, "!=", _matching_seen(wanted[0], seen), typed=True)
    matched = [_matching_seen(v, seen) for v in wanted]
    present = [v for v in matched if value_key(v) in {value_key(s) for s in seen}]
    if not present and not info.get("truncated"):
        shown = ", ".join(repr(v) for v in seen[:10]) + (", ..." if len(seen) > 10 else "")
        values = " or ".join(repr(v) for v in wanted)
        raise _violation(column, f"{values} never appears in column '{column}' (seen: {shown}); the model "
                                 "cannot generate it")
    kept = tuple(dict.fromkeys(present if not info.get("truncated") else matched))
    if cond.op == "in":
        return Condition(column, "in", values=kept, typed=True)
    return Condition(column, "==", kept[0], typed=True)


def _seen(info: dict[str, Any]) -> list[Any]:
    return list(info.get("values") or [])


def value_key(value: Any) -> str:
    """Values compare by their text, so 3 matches '3' (JSON and CSV spell values differently)."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _matching_seen(value: Any, seen: list[Any]) -> Any:
    """The seen value equal to `value` (in the training data's representation), else `value` itself."""
    key = value_key(value)
    return next((s for s in seen if value_key(s) == key), value)


_TRUE = {"true", "1", "yes", "t", "y"}
_FALSE = {"false", "0", "no", "f", "n"}


def _to_bool(column: str, value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Real) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise invalid_request(f"'{column}' is boolean: give true or false, not {value!r}", _field(column))


@dataclass
class _Interval:
    """The feasible values of a numerical/datetime condition: [low, high] on a grid of `step`, minus
    `excluded`."""

    low: float
    high: float
    step: float | None
    excluded: float | None = None
    points: list[float] | None = None  # for "==" and lists


def _step(info: dict[str, Any]) -> float | None:
    if info["kind"] == "datetime":
        return DATE_STEPS.get(info.get("resolution") or "", 1e-6)
    decimals = info.get("decimals")
    return None if decimals is None else 10.0 ** -decimals


def _bounds(info: dict[str, Any]) -> tuple[float, float]:
    if info["kind"] == "datetime":
        return _stamp_seconds(info["min"]), _stamp_seconds(info["max"])
    return float(info["min"]), float(info["max"])


def _on_grid(value: float, info: dict[str, Any]) -> bool:
    """Whether an integer (or date) column can hold `value`; other columns take any number."""
    step = _step(info) if info["kind"] == "datetime" or info.get("integer") else None
    if step is None:
        return True
    k = value / step
    return abs(k - round(k)) <= 1e-6


def _snap_up(value: float, step: float | None, strict: bool) -> float:
    """The smallest grid value >= value (> value if strict)."""
    if step is None:
        return float(np.nextafter(value, np.inf)) if strict else value
    k = math.ceil(value / step - 1e-9)
    if strict and abs(k * step - value) <= 1e-9 * max(1.0, abs(value)):
        k += 1
    return _grid(k, step)


def _snap_down(value: float, step: float | None, strict: bool) -> float:
    """The largest grid value <= value (< value if strict)."""
    if step is None:
        return float(np.nextafter(value, -np.inf)) if strict else value
    k = math.floor(value / step + 1e-9)
    if strict and abs(k * step - value) <= 1e-9 * max(1.0, abs(value)):
        k -= 1
    return _grid(k, step)


def _grid(k: int, step: float) -> float:
    """k * step without binary noise (0.1 * 3 -> 0.3)."""
    if step >= 1:
        return float(k * step)
    return round(k * step, -math.floor(math.log10(step)))


def _feasible_numbers(cond: Condition, info: dict[str, Any]) -> _Interval:
    """The values that meet `cond` within the training range; CONSTRAINT_VIOLATION when there are none."""
    column, typed = cond.column, _typed_numbers(cond, info)
    low, high = _bounds(info)
    step = _step(info)
    shown = _show(low, info), _show(high, info)
    if typed.op in ("==", "in"):
        wanted = typed.values if typed.op == "in" else (typed.value,)
        points = [v for v in wanted if low - 1e-9 <= v <= high + 1e-9 and _on_grid(v, info)]
        if not points:
            what = {"datetime": _RESOLUTION_NAMES.get(info.get("resolution"), "a time") + " ",
                    "numerical": "an integer " if info.get("integer") else ""}[info["kind"]]
            values = ", ".join(_show(v, info) for v in wanted)
            subject = f"{values} is not" if len(wanted) == 1 else f"none of {values} is"
            raise _violation(column, f"{subject} {what}within the range of '{column}' seen in training "
                                     f"({shown[0]} to {shown[1]}); the model cannot generate it")
        return _Interval(min(points), max(points), step, points=list(dict.fromkeys(points)))
    if typed.op == "!=":
        if low == high == typed.value:
            raise _violation(column, f"'{column}' is always {shown[0]} in the training data, so '!=' cannot "
                                     "be met")
        return _Interval(_snap_up(low, step, False), _snap_down(high, step, False), step,
                         excluded=typed.value)
    v = typed.value
    if typed.op in (">", ">="):
        lo, hi = _snap_up(max(v, low), step, typed.op == ">" and v >= low), _snap_down(high, step, False)
    else:
        lo, hi = _snap_up(low, step, False), _snap_down(min(v, high), step, typed.op == "<" and v <= high)
    if lo > hi:
        raise _violation(column, f"no value of '{column}' {typed.op} {_show(v, info)} was seen in training "
                                 f"(range {shown[0]} to {shown[1]}); the model cannot generate one")
    return _Interval(lo, hi, step)


_RESOLUTION_NAMES = {"D": "a date (no time of day)", "min": "a whole minute", "s": "a whole second"}


def _show(value: float, info: dict[str, Any]) -> str:
    if info["kind"] == "datetime":
        return _iso(value)[:10] if info.get("resolution") == "D" else _iso(value)
    return f"{_num(value)}"


# ---------------------------------------------------------------- drawing conditioned values


def draw_known(conditions: list[Condition], columns_summary: dict[str, dict[str, Any]], num_rows: int,
               rng: np.random.Generator) -> pd.DataFrame:
    """Values for the conditioned columns, drawn from the training marginals restricted to the conditions."""
    data = {}
    for cond in conditions:
        info = columns_summary[cond.column]
        data[cond.column] = _draw(cond, info, num_rows, rng)
    return pd.DataFrame(data, index=range(num_rows))


def _draw(cond: Condition, info: dict[str, Any], n: int, rng: np.random.Generator) -> Any:
    if info["kind"] in ("categorical", "boolean"):
        return _draw_categorical(cond, info, n, rng)
    interval = _feasible_numbers(cond, info)
    seconds = _draw_numbers(interval, info, n, rng)
    if info["kind"] == "numerical":
        return seconds.astype("int64") if info.get("integer") else seconds
    stamps = pd.to_datetime(np.round(seconds * 1e6).astype("int64"), unit="us").as_unit("ns")
    fmt = info.get("datetime_format")
    return pd.Series(stamps.strftime(fmt), dtype=object) if fmt else pd.Series(stamps)


def _draw_categorical(cond: Condition, info: dict[str, Any], n: int, rng: np.random.Generator) -> np.ndarray:
    """Seen values meeting the condition, weighted by their training frequency."""
    seen, counts = _seen(info), list(info.get("counts") or [])
    floor = min(counts) if counts else 1
    frequency = {value_key(v): c for v, c in zip(seen, counts)}
    if cond.op == "!=":
        choices = [v for v in seen if value_key(v) != value_key(cond.value)]
    else:
        choices = list(cond.values if cond.op == "in" else (cond.value,))
    weights = np.array([frequency.get(value_key(v), floor) for v in choices], dtype="float64")
    picks = rng.choice(len(choices), size=n, p=weights / weights.sum())
    out = np.empty(n, dtype=object)
    out[:] = [choices[i] for i in picks]
    return out


def _draw_numbers(interval: _Interval, info: dict[str, Any], n: int, rng: np.random.Generator) -> np.ndarray:
    """Numbers (epoch seconds for datetimes) in the interval, following the training marginal."""
    if interval.points is not None:
        return _draw_points(interval.points, info, n, rng)
    seen = [float(v) for v in info.get("values") or []]
    if seen and info["kind"] == "numerical":  # few distinct values: draw among those that qualify
        counts = info.get("counts") or [1] * len(seen)
        ok = [(v, c) for v, c in zip(seen, counts)
              if interval.low <= v <= interval.high and v != interval.excluded]
        if ok:
            return _draw_points([v for v, _ in ok], info, n, rng, weights=[c for _, c in ok])
    q = np.array([_stamp_seconds(v) if info["kind"] == "datetime" else float(v) for v in info["quantiles"]])
    grid = np.linspace(0.0, 1.0, len(q))
    a, b = np.interp(interval.low, q, grid), np.interp(interval.high, q, grid)
    if b - a > 1e-9:
        x = np.interp(rng.uniform(a, b, n), grid, q)
    else:  # the range falls between two training quantiles: uniform inside it
        x = (rng.uniform(interval.low, interval.high, n) if interval.high > interval.low
             else np.full(n, interval.low))
    if interval.step is not None:
        x = np.array([_grid(round(v / interval.step), interval.step) for v in x])
    x = np.clip(x, interval.low, interval.high)
    if interval.excluded is not None:
        x[x == interval.excluded] = _alternative(interval)
    return x


def _draw_points(points: list[float], info: dict[str, Any], n: int, rng: np.random.Generator,
                 weights: list[float] | None = None) -> np.ndarray:
    """Listed values, weighted by their training frequency when the column records it."""
    if weights is None:
        frequency = dict(zip((float(v) for v in info.get("values") or []), info.get("counts") or []))
        weights = [frequency.get(float(v), 1) for v in points]
    w = np.asarray(weights, dtype="float64")
    return np.asarray(points, dtype="float64")[rng.choice(len(points), size=n, p=w / w.sum())]


def _alternative(interval: _Interval) -> float:
    """A value of the interval other than the excluded one."""
    if interval.low != interval.excluded:
        return interval.low
    step = interval.step or (interval.high - interval.low) / 2
    return min(interval.high, _snap_up(interval.low + step, interval.step, False))


# ---------------------------------------------------------------- testing rows


def condition_mask(conditions: list[Condition], frame: pd.DataFrame,
                   columns_summary: dict[str, dict[str, Any]]) -> np.ndarray:
    """Which rows of `frame` meet every (typed) condition exactly."""
    mask = np.ones(len(frame), dtype=bool)
    for cond in conditions:
        mask &= _meets(cond, frame[cond.column], columns_summary[cond.column])
    return mask


def _meets(cond: Condition, values: pd.Series, info: dict[str, Any]) -> np.ndarray:
    present = values.notna().to_numpy()
    if info["kind"] in ("categorical", "boolean"):
        keys = values.map(lambda v: None if _is_null(v) else value_key(v)).to_numpy()
        if cond.op == "!=":
            return present & (keys != value_key(cond.value))
        wanted = {value_key(v) for v in (cond.values if cond.op == "in" else (cond.value,))}
        return present & np.array([k in wanted for k in keys], dtype=bool)
    x = as_numbers(values, info)
    with np.errstate(invalid="ignore"):
        if cond.op == "in":
            hit = np.isin(x, np.asarray(cond.values, dtype="float64"))
        else:
            hit = {"==": np.equal, "!=": np.not_equal, ">": np.greater, ">=": np.greater_equal,
                   "<": np.less, "<=": np.less_equal}[cond.op](x, cond.value)
    return present & ~np.isnan(x) & hit


def as_numbers(values: pd.Series, info: dict[str, Any]) -> np.ndarray:
    """A column as floats (epoch seconds for datetimes; NaN where missing or unreadable)."""
    if info["kind"] == "numerical":
        return pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    fmt = info.get("datetime_format")
    stamps = pd.to_datetime(values, format=fmt, errors="coerce")
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    out = np.full(len(values), np.nan)
    ok = stamps.notna().to_numpy()
    out[ok] = _seconds(stamps[ok])
    return out


def snap_near(conditions: list[Condition], frame: pd.DataFrame,
              columns_summary: dict[str, dict[str, Any]], tolerance: float = 0.005) -> pd.DataFrame:
    """Set continuous values within `tolerance` x range of an '==' / list value to that value exactly."""
    frame = frame.copy()
    for cond in conditions:
        info = columns_summary[cond.column]
        if info["kind"] != "numerical" or cond.op not in ("==", "in") or info.get("integer"):
            continue
        points = np.asarray(cond.values if cond.op == "in" else (cond.value,), dtype="float64")
        x = as_numbers(frame[cond.column], info)
        span = max(float(info["max"]) - float(info["min"]), 1e-12)
        with np.errstate(invalid="ignore"):
            distance = np.abs(x[:, None] - points[None, :])
            nearest = np.nanargmin(np.where(np.isnan(distance), np.inf, distance), axis=1)
            close = np.nanmin(np.where(np.isnan(distance), np.inf, distance), axis=1) <= tolerance * span
        if close.any():
            column = frame[cond.column].astype("float64")
            column[close] = points[nearest[close]]
            frame[cond.column] = column
    return frame


def _is_null(value: Any) -> bool:
    return value is None or (not isinstance(value, (str, bytes)) and bool(pd.isna(value)))
