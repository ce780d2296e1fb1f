"""Profiling: column types, statistics, fitted distributions and correlations (polars + scipy)."""

from __future__ import annotations

import math
import re
import warnings
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
from prefect import task
from prefect.cache_policies import NO_CACHE
from scipy import stats

from tasks.tabular.profile import _stringify_objects

MAX_FIT_VALUES = 5_000  # values a distribution is fitted on (a seeded uniform sample beyond that)
MAX_CATEGORIES = 50  # categories listed per column, most frequent first
MAX_CORRELATION_COLUMNS = 100  # numeric columns in the correlation matrices
MIN_KEY_ROWS = 20  # an all-unique column is taken for an id without an id-like name only from this size
TEXT_MIN_UNIQUE = 50  # string columns with more distinct values than this ...
TEXT_UNIQUE_RATIO = 0.5  # ... and this share of distinct values are free text, not categories
ALPHA = 0.05  # significance level reported with the KS test

# candidates, simplest first: the first whose KS statistic is within half a 5% critical value of the best
DISTRIBUTIONS = {"uniform": "uniform", "expon": "exponential", "norm": "normal", "lognorm": "lognormal",
                 "gamma": "gamma", "weibull_min": "weibull", "beta": "beta"}
_POSITIVE_ONLY = {"lognorm", "gamma", "weibull_min"}  # fitted with loc=0, only on positive data
_BOOL_PAIRS = ({"true", "false"}, {"yes", "no"}, {"y", "n"}, {"t", "f"})
_ID_NAME = re.compile(r"(^|[_\s.-])(id|uuid|guid|key|pk)$|^(id|uuid|guid|pk)([_\s.-]|$)", re.IGNORECASE)
_CAMEL_ID = re.compile(r"[a-z0-9](Id|ID|Key|Uuid|UUID)$")
_DATE_SHAPE = re.compile(r"^(?=.*\d)(?=.*[-/:.,\sT]).{6,40}$")
_PLAIN = (pl.Boolean, pl.String, pl.Null, pl.Date, pl.Time)
_NUMBER = re.compile(r"^\s*[-+]?(\d+([.,]\d*)?|[.,]\d+)([eE][-+]?\d+)?\s*$")


# ---------------------------------------------------------------- loading and sampling


def sample_frame(df: pd.DataFrame, sample_size: int | None, seed: int = 0) -> pd.DataFrame:
    """A seeded uniform sample of `sample_size` rows (original order kept) when the table is larger."""
    if sample_size is None or sample_size >= len(df):
        return df
    if sample_size < 1:
        raise ValueError("sample_size must be at least 1")
    rows = np.sort(np.random.default_rng(seed).choice(len(df), size=sample_size, replace=False))
    return df.iloc[rows].reset_index(drop=True)


def to_polars(df: pd.DataFrame) -> pl.DataFrame:
    """`df` as polars: plain string/boolean object columns convert as they are, mixed ones as strings."""
    mixed = [c for c in df.columns if df[c].dtype == object
             and pd.api.types.infer_dtype(df[c], skipna=True) not in ("string", "boolean", "empty")]
    frame = df.copy() if mixed else df
    if mixed:
        frame[mixed] = _stringify_objects(df[mixed])
    pf = pl.from_pandas(frame)
    pf.columns = [str(c) for c in frame.columns]  # from_pandas may rename some (an empty name, for one)
    floats = [c for c, t in pf.schema.items() if t.is_float()]
    durations = [c for c, t in pf.schema.items() if isinstance(t, pl.Duration)]
    pf = pf.with_columns(pl.col(floats).fill_nan(None),
                         pl.col(durations).dt.total_microseconds().cast(pl.Float64) / 1e6)  # seconds
    other = [c for c, t in pf.schema.items()
             if not (t.is_numeric() or t in _PLAIN or isinstance(t, pl.Datetime))]
    return pf.with_columns([_as_strings(pf.get_column(c)) for c in other]) if other else pf


def _as_strings(s: pl.Series) -> pl.Series:
    """Any column as strings (nulls kept)."""
    try:
        return s.cast(pl.String)
    except pl.exceptions.PolarsError:
        return pl.Series(s.name, [None if v is None else str(v) for v in s.to_list()], dtype=pl.String)


# ---------------------------------------------------------------- column types


def parse_dates(s: pl.Series) -> pl.Series | None:
    """The string column as datetimes when ≥95% of a probe of its distinct values are dates, else None."""
    if s.dtype != pl.String:
        return None
    probe = s.drop_nulls().head(5_000).unique(maintain_order=True).head(200).to_list()
    if not probe or not all(_DATE_SHAPE.match(v) and not _NUMBER.match(v) for v in probe):
        return None
    if _to_datetimes(pd.Series(probe)).isna().mean() > 0.05:
        return None
    try:  # polars infers one format from the first value: fast when the whole column shares it
        fast = s.str.to_datetime(strict=False)
        if fast.null_count() == s.null_count():
            return fast
    except pl.exceptions.PolarsError:
        pass
    distinct = s.drop_nulls().unique()
    parsed = pl.Series(_to_datetimes(distinct.to_pandas()))
    return s.replace_strict(distinct, parsed, default=None, return_dtype=parsed.dtype)


def _to_datetimes(values: pd.Series) -> pd.Series:
    """Strings in any (mixed) date format as naive datetimes (UTC for those with offsets), else NaT."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = pd.to_datetime(values, format="mixed", errors="coerce", utc=True)
    return out.dt.tz_convert(None)


def column_type(s: pl.Series, name: str, dates: pl.Series | None = None,
                unique: int | None = None) -> str:
    """numeric, categorical, datetime, boolean, text (high-cardinality free strings) or id (unique keys)."""
    dtype = s.dtype
    values = s.drop_nulls()
    n = len(values)
    unique = unique if unique is not None else (values.n_unique() if n else 0)
    is_key = n == len(s) and unique == n >= 2
    if dtype == pl.Boolean:
        return "boolean"
    if dtype.is_temporal() or dates is not None:
        return "datetime"
    if dtype.is_numeric():
        if is_key and dtype.is_integer() and (_id_name(name) or (
                n >= MIN_KEY_ROWS and int(values.max()) - int(values.min()) + 1 == n)):
            return "id"
        return "numeric"
    if dtype == pl.Null or n == 0:
        return "categorical"
    if dtype != pl.String:
        values = values.cast(pl.String)
    if unique <= 2 and any(set(values.unique().str.to_lowercase().to_list()) <= pair for pair in _BOOL_PAIRS):
        return "boolean"
    if is_key and (_id_name(name) or (n >= MIN_KEY_ROWS and not values.str.contains(r"\s").any())):
        return "id"
    if unique > TEXT_MIN_UNIQUE and unique > TEXT_UNIQUE_RATIO * n:
        return "text"
    return "categorical"


def _id_name(name: str) -> bool:
    """Whether a column name says it holds keys: id, user_id, userId, uuid, key, ..."""
    return bool(_ID_NAME.search(name) or _CAMEL_ID.search(name))


# ---------------------------------------------------------------- statistics


def describe_columns(pf: pl.DataFrame, dtypes: dict[str, str], seed: int = 0) -> dict[str, dict]:
    """Per-column type, dtype, missing, unique and the statistics of its type (counts in one polars pass)."""
    counts = pf.lazy().select(
        [pl.col(c).null_count().alias(f"m{i}") for i, c in enumerate(pf.columns)]
        + [pl.col(c).drop_nulls().n_unique().alias(f"u{i}") for i, c in enumerate(pf.columns)]
    ).collect().row(0)
    width = pf.width
    out: dict[str, dict] = {}
    for i, name in enumerate(pf.columns):
        s = pf.get_column(name)
        dates = parse_dates(s)
        kind = column_type(s, name, dates, int(counts[width + i]))
        col: dict[str, Any] = {"type": kind, "dtype": dtypes.get(name, str(s.dtype)),
                               "missing": int(counts[i]), "unique": int(counts[width + i])}
        if kind == "numeric" or (kind == "id" and s.dtype.is_numeric()):
            col.update(_numeric_stats(s))
            if kind == "numeric":
                values = s.drop_nulls().to_numpy()
                col.update(fit_distribution(values, integer=s.dtype.is_integer(), seed=seed))
        elif kind == "datetime":
            col.update(_datetime_stats(dates if dates is not None else s))
        elif kind in ("categorical", "boolean"):
            col.update(_category_stats(s, MAX_CATEGORIES))
        elif kind == "text":
            col.update(_category_stats(s, 0))
            col.update(_length_stats(s))
        out[name] = col
    return out


def _numeric_stats(s: pl.Series) -> dict:
    """min, max, mean, std, median of a numeric column (None when it has no values)."""
    f = s.cast(pl.Float64)
    row = f.to_frame().select(min=pl.first().min(), max=pl.first().max(), mean=pl.first().mean(),
                              std=pl.first().std(), median=pl.first().median()).row(0, named=True)
    if s.dtype.is_integer():
        row["min"] = None if s.min() is None else int(s.min())
        row["max"] = None if s.max() is None else int(s.max())
    return {k: v if v is None or isinstance(v, int) else _significant(v) for k, v in row.items()}


def _datetime_stats(s: pl.Series) -> dict:
    """Earliest and latest value as ISO strings."""
    values = s.drop_nulls()
    if values.is_empty():
        return {"min": None, "max": None}
    return {"min": values.min().isoformat(), "max": values.max().isoformat()}


def _category_stats(s: pl.Series, limit: int) -> dict:
    """Most frequent value and its count, and up to `limit` categories by frequency."""
    values = s.drop_nulls()
    if values.is_empty():
        return {"top": None, "freq": 0, **({"categories": []} if limit else {})}
    counts = values.rename("value").value_counts(name="count")
    freq = int(counts.get_column("count").max())
    out = {"top": _json_value(counts.filter(pl.col("count") == freq).get_column("value").min()), "freq": freq}
    if limit:  # the `limit` most frequent, ties by value: sort only the rows that can make it
        floor = counts.get_column("count").top_k(limit).min()
        ranked = counts.filter(pl.col("count") >= floor).sort(["count", "value"], descending=[True, False])
        out["categories"] = [_json_value(v) for v in ranked.get_column("value").head(limit).to_list()]
        if counts.height > limit:
            out["categories_truncated"] = True
    return out


def _length_stats(s: pl.Series) -> dict:
    """Mean, min and max length (characters) of a text column."""
    lengths = s.drop_nulls().cast(pl.String).str.len_chars()
    if lengths.is_empty():
        return {}
    return {"mean_length": _finite(lengths.mean()), "min_length": int(lengths.min()),
            "max_length": int(lengths.max())}


# ---------------------------------------------------------------- distributions


def fit_distribution(values: np.ndarray, integer: bool = False, seed: int = 0,
                     max_values: int = MAX_FIT_VALUES) -> dict:
    """Fit candidate distributions by MLE on ≤ max_values values; choose by the Kolmogorov-Smirnov statistic.

    The simplest candidate whose KS statistic is within half a 5% critical value of the best one wins;
    integer data is spread by uniform noise of ±0.5 first (a continuity correction).
    """
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    rng = np.random.default_rng(seed)
    if x.size > max_values:
        x = rng.choice(x, size=max_values, replace=False)
    if x.size and np.all(x == x[0]):
        return {"distribution": "constant", "distribution_fit": None}
    if x.size < 8:
        return {"distribution": None, "distribution_fit": None}
    if integer:
        x = x + rng.uniform(-0.5, 0.5, x.size)
    unit = float(np.max(np.abs(x)))  # fitted on x / unit (no overflow or underflow), scaled back after
    x = x / unit
    fits: dict[str, tuple[float, float, tuple]] = {}
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for name in DISTRIBUTIONS:
            params = _fit(name, x)
            if params is None or not all(np.isfinite(params)):
                continue
            ks = stats.kstest(x, getattr(stats, name).cdf, args=params)
            if np.isfinite(ks.statistic):
                fits[name] = (float(ks.statistic), float(ks.pvalue), params)
    if not fits:
        return {"distribution": None, "distribution_fit": None}
    best = min(f[0] for f in fits.values())
    margin = 0.5 * 1.358 / math.sqrt(x.size)
    name = next(n for n in DISTRIBUTIONS if n in fits and fits[n][0] <= best + margin)
    statistic, p_value, params = fits[name]
    params = (*params[:-2], params[-2] * unit, params[-1] * unit)  # loc and scale in the data's units
    dist = getattr(stats, name)
    labels = ([p.strip() for p in dist.shapes.split(",")] if dist.shapes else []) + ["loc", "scale"]
    return {"distribution": DISTRIBUTIONS[name], "distribution_fit": {
        "test": "ks", "statistic": round(statistic, 5), "p_value": round(p_value, 5),
        "passed": p_value >= ALPHA, "alpha": ALPHA, "values": int(x.size), "scipy_name": name,
        "params": {k: _significant(v) for k, v in zip(labels, params)},
        "candidates": {DISTRIBUTIONS[n]: round(f[0], 5) for n, f in fits.items()}}}


def _fit(name: str, x: np.ndarray) -> tuple | None:
    """MLE parameters of one candidate, or None where it does not apply or does not converge."""
    lo, hi = float(x.min()), float(x.max())
    dist = getattr(stats, name)
    try:
        if name in _POSITIVE_ONLY:
            return tuple(dist.fit(x, floc=0)) if lo > 0 else None
        if name == "beta":  # on the data's range, padded so that no value sits on a bound
            pad = (hi - lo) / x.size
            return tuple(dist.fit(x, floc=lo - pad, fscale=hi - lo + 2 * pad))
        return tuple(dist.fit(x))
    except Exception:
        return None


# ---------------------------------------------------------------- correlations


def correlations(pf: pl.DataFrame, columns: list[str]) -> dict[str, dict]:
    """Pearson and Spearman matrices (col -> col -> value, None where undefined) over numeric columns.

    Each pair uses the rows where both values are present.
    """
    names = columns[:MAX_CORRELATION_COLUMNS]
    num = pf.select([pl.col(c).cast(pl.Float64).alias(f"c{i}") for i, c in enumerate(names)])
    pairs = [(i, j) for i in range(len(names)) for j in range(i, len(names))]
    pearson = dict(zip(pairs, _corr_row(num, pairs)))
    spearman = _spearman(num, len(names))
    out: dict[str, dict] = {}
    for label, values in (("pearson", pearson), ("spearman", spearman)):
        matrix: dict[str, dict] = {c: {} for c in names}
        for i, j in pairs:
            value = _finite(values[(i, j)], 4)
            value = None if value is None else max(-1.0, min(1.0, value))
            matrix[names[i]][names[j]] = matrix[names[j]][names[i]] = value
        out[label] = matrix
    return out


def _corr_row(frame: pl.DataFrame, pairs: list[tuple[int, int]], method: str = "pearson") -> tuple:
    """Correlations of columns c<i>, c<j> for each pair (i, j), computed in one parallel select."""
    if not pairs:
        return ()
    return frame.select([pl.corr(f"c{i}", f"c{j}", method=method).alias(f"{i}_{j}")
                         for i, j in pairs]).row(0)


def _spearman(num: pl.DataFrame, k: int) -> dict[tuple[int, int], float | None]:
    """Spearman for every pair on the rows where both are present: Pearson of ranks, each column ranked
    once with the null-free columns, and once more on the rows of each column that has nulls."""
    nulls = num.null_count().row(0) if k else ()
    complete = [i for i in range(k) if not nulls[i]]
    out: dict[tuple[int, int], float | None] = {}
    for holey in [None] + [i for i in range(k) if nulls[i]]:
        frame = num if holey is None else num.filter(pl.col(f"c{holey}").is_not_null())
        cols = complete if holey is None else sorted([*complete, holey])
        pairs = [(a, b) for n, a in enumerate(cols) for b in cols[n:] if holey is None or holey in (a, b)]
        ranked = frame.select([pl.col(f"c{i}").rank("average") for i in cols])
        out.update(zip(pairs, _corr_row(ranked, pairs)))
    both = [(i, j) for i in range(k) for j in range(i + 1, k) if nulls[i] and nulls[j]]
    out.update(zip(both, _corr_row(num, both, "spearman")))
    return out


# ---------------------------------------------------------------- the whole profile


def profile_data(df: pd.DataFrame, sample_size: int | None = None,
                 seed: int = 0) -> tuple[dict, pl.DataFrame]:
    """The documented profile (summary, columns, warnings) of `df` or its sample, and the profiled frame."""
    total = len(df)
    part = sample_frame(df, sample_size, seed)
    pf = to_polars(part)
    dtypes = {str(c): str(part[c].dtype) for c in part.columns}
    columns = describe_columns(pf, dtypes, seed)
    size = int(pf.estimated_size())
    summary = {
        "rows": pf.height,
        "columns": pf.width,
        "missing_values": int(sum(c["missing"] for c in columns.values())),
        "duplicate_rows": int(pf.height - pf.unique().height) if pf.width else 0,
        "memory_usage": human_bytes(size),
        "memory_usage_bytes": size,
        "total_rows": total,
        "sampled": pf.height < total,
    }
    notes = []
    if summary["sampled"]:
        notes.append(f"profiled a uniform random sample of {pf.height:,} of {total:,} rows (seed {seed})")
    notes += [f"column '{n}' has no values (all null)" for n, c in columns.items() if c["unique"] == 0]
    profile = {"summary": summary, "columns": columns, "warnings": notes}
    if len(numeric := numeric_columns(profile)) > MAX_CORRELATION_COLUMNS:
        notes.append(f"correlations cover the first {MAX_CORRELATION_COLUMNS} of {len(numeric)} "
                     "numeric columns")
    return profile, pf


def numeric_columns(profile: dict) -> list[str]:
    """Names of the profile's numeric columns that have values, in table order."""
    return [n for n, c in profile["columns"].items() if c["type"] == "numeric" and c["unique"] > 0]


def human_bytes(n: float) -> str:
    """A size for people: '512 B', '2.5 MB' (powers of 1024)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{int(n)} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def _finite(v: Any, digits: int = 6) -> float | int | None:
    """A JSON-safe number: None for null, NaN or infinity; floats rounded."""
    if v is None:
        return None
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return int(v)
    v = float(v)
    return round(v, digits) if math.isfinite(v) else None


def _significant(v: float, digits: int = 7) -> float | None:
    """A float rounded to `digits` significant digits (None when not finite)."""
    return float(f"{v:.{digits}g}") if v is not None and math.isfinite(v) else None


def _json_value(v: Any) -> Any:
    """A category value as JSON: strings, booleans and numbers as they are, others as strings."""
    if v is None or isinstance(v, (str, bool, int)):
        return v
    if isinstance(v, float):
        return _finite(v)
    return str(v)


# ---------------------------------------------------------------- Prefect tasks


@task(name="profile-columns", cache_policy=NO_CACHE, persist_result=False)
def profile_columns(df: pd.DataFrame, sample_size: int | None = None,
                    seed: int = 0) -> tuple[dict, pl.DataFrame]:
    """Summary, column types and statistics, fitted distributions."""
    return profile_data(df, sample_size, seed)


@task(name="correlations", cache_policy=NO_CACHE, persist_result=False)
def correlate(pf: pl.DataFrame, columns: list[str]) -> dict:
    """Pearson and Spearman matrices over the numeric columns."""
    return correlations(pf, columns)
