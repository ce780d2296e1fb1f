"""Quality of synthetic data against the original: statistical similarity, ML efficacy and privacy risk.

Every measure compares at most `MAX_ROWS` rows of each side (sampled with a fixed seed), so a validation
of large tables stays in seconds. Column kinds are decided once from the original (`column_kinds`):
numeric, datetime (datetime dtype, or strings of which >= 95% parse as dates), categorical (booleans
and strings), text (strings with more than 50 distinct values that are also more than half of the
rows: free text and identifiers) and empty (all null). Text and empty columns take no part in tests,
models or distances; the result says so per column.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE
from scipy.stats import chi2_contingency, ks_2samp, spearmanr
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.metrics import f1_score, r2_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_score, train_test_split
from sklearn.neighbors import NearestNeighbors

from inferloop.core.errors import InferloopError

METRICS = ("statistical", "ml_efficacy", "privacy")
METRIC_ALIASES = {"statistical_similarity": "statistical"}
ALPHA = 0.05            # significance level of the KS and chi-squared tests
MAX_ROWS = 5_000        # rows compared per side
MIN_ROWS = 20           # original rows needed by ml_efficacy and privacy (10 members + 10 non-members)
TEXT_MIN_DISTINCT = 50  # a string column with more distinct values (and > 50% of rows) is free text
TOP_CATEGORIES = 20     # categories kept by name in tests and distances; the rest count as one "other"
CLASS_MAX_DISTINCT = 20  # integer targets with at most this many values are classification targets
QI_MAX_DISTINCT = 100   # detected quasi-identifiers: categorical/integer columns with 2..100 values
FOREST = {"n_estimators": 50, "max_depth": 12, "n_jobs": -1}  # every model here is this random forest
NUMERIC_KINDS = ("numeric", "datetime")
MODEL_KINDS = ("numeric", "datetime", "categorical")
NULL, OTHER = "<null>", "<other>"
_EPOCH = pd.Timestamp("1970-01-01", tz="UTC")


# ---------------------------------------------------------------- inputs


def parse_metrics(metrics: list[str] | str | None) -> list[str]:
    """Normalise the requested metrics (default all); INVALID_REQUEST naming unknown ones."""
    items = metrics.split(",") if isinstance(metrics, str) else list(metrics or [])
    names = [METRIC_ALIASES.get(m.strip().lower(), m.strip().lower()) for m in items if str(m).strip()]
    unknown = [m for m in names if m not in METRICS]
    if unknown:
        raise InferloopError("INVALID_REQUEST", f"unknown metrics: {', '.join(unknown)}; "
                             f"choose from {', '.join(METRICS)}", "metrics")
    return [m for m in METRICS if m in names] or list(METRICS)


def check_inputs(real: pd.DataFrame, synthetic: pd.DataFrame, metrics: list[str],
                 target_column: str | None = None, quasi_identifiers: list[str] | None = None,
                 holdout: pd.DataFrame | None = None) -> None:
    """Refuse what cannot be validated, with the field at fault (raised before any work)."""
    for name, other in (("synthetic", synthetic), ("holdout", holdout)):
        if other is None:
            continue
        missing = [str(c) for c in real.columns if c not in other.columns]
        extra = [str(c) for c in other.columns if c not in real.columns]
        if missing or extra:
            parts = ([f"missing in {name}: {', '.join(missing)}"] if missing else []) + \
                    ([f"not in original: {', '.join(extra)}"] if extra else [])
            raise InferloopError("INVALID_REQUEST", f"the columns of {name} and original differ ("
                                 + "; ".join(parts) + ")", name)
    if target_column is not None:
        if target_column not in real.columns:
            raise InferloopError("INVALID_REQUEST", f"target_column '{target_column}' is not a column of "
                                 "the original", "target_column")
        if "ml_efficacy" in metrics:
            kind = column_kinds(real[[target_column]])[target_column]
            if target_task(real[target_column], kind) is None:
                n = int(_labels(real[target_column]).nunique())
                why = ("has a single class" if n == 1 else "is all null" if n == 0
                       else "is free text / an identifier (too many distinct values)")
                raise InferloopError("INVALID_REQUEST", f"target_column '{target_column}' {why}; "
                                     "ml_efficacy needs a target with at least 2 classes or values",
                                     "target_column")
    unknown = [q for q in quasi_identifiers or [] if q not in real.columns]
    if unknown:
        raise InferloopError("INVALID_REQUEST", f"quasi_identifiers not in the original: {', '.join(unknown)}",
                             "quasi_identifiers")


# ---------------------------------------------------------------- column handling


def column_kinds(df: pd.DataFrame) -> dict[str, str]:
    """numeric, datetime, categorical, text or empty for each column (see the module docstring)."""
    kinds: dict[str, str] = {}
    for c in df.columns:
        s = df[c]
        nn = s.dropna()
        if nn.empty:
            kinds[c] = "empty"
        elif pd.api.types.is_bool_dtype(s):
            kinds[c] = "categorical"
        elif pd.api.types.is_numeric_dtype(s):
            kinds[c] = "numeric"
        elif pd.api.types.is_datetime64_any_dtype(s) or _looks_like_dates(nn):
            kinds[c] = "datetime"
        else:
            n = _labels(nn).nunique()
            kinds[c] = "text" if n > TEXT_MIN_DISTINCT and n > 0.5 * len(nn) else "categorical"
    return kinds


def _looks_like_dates(values: pd.Series) -> bool:
    """Strings with digits of which >= 95% parse as dates."""
    sample = values.head(200)
    if not all(isinstance(v, str) for v in sample) or not sample.str.contains(r"\d").mean() >= 0.95:
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = pd.to_datetime(sample, errors="coerce", format="mixed", utc=True)
    except (ValueError, TypeError, OverflowError):
        return False
    return bool(parsed.notna().mean() >= 0.95)


def _numeric(s: pd.Series, kind: str) -> pd.Series:
    """Values as floats (datetimes as seconds since 1970); unparsable values become NaN."""
    if kind == "datetime":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                d = pd.to_datetime(s, errors="coerce", format="mixed", utc=True)
            except (ValueError, TypeError, OverflowError):
                return pd.Series(np.nan, index=s.index)
        return (d - _EPOCH).dt.total_seconds()
    if pd.api.types.is_bool_dtype(s):
        return s.astype(float)
    out = pd.to_numeric(s, errors="coerce").astype(float)
    return out.where(np.isfinite(out))


def _labels(s: pd.Series) -> pd.Series:
    """Values as strings (True and 'True' are one category), nulls kept as NaN."""
    out = pd.Series(np.nan, index=s.index, dtype=object)
    mask = s.notna()
    out[mask] = s[mask].map(str)
    return out


def _integer_valued(s: pd.Series) -> bool:
    v = pd.to_numeric(s, errors="coerce").dropna()
    return bool(len(v)) and bool((v == np.round(v)).all())


def _sample(df: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    return (df.sample(n=n, random_state=seed) if len(df) > n else df).reset_index(drop=True)


def jsonable(obj):
    """Plain JSON values: numpy scalars as Python ones, non-finite floats as None, the rest as text."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    return str(obj)


def _round(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return round(x, 4) if math.isfinite(x) else None


class Encoder:
    """A numeric matrix from chosen columns, fitted on a reference frame.

    Numeric and datetime columns: the value scaled by the reference's range (nulls -> reference median)
    plus a missing flag. Categorical columns: an ordinal code
    (models), or one-hot over the reference's 20 most frequent values + "other", each weighted 1/sqrt(2)
    so that a mismatch adds exactly 1 to the squared distance (distances).
    """

    def __init__(self, reference: pd.DataFrame, kinds: dict[str, str], columns: list[str], onehot: bool):
        self.kinds, self.columns, self.onehot = kinds, columns, onehot
        self.numeric: dict[str, tuple[float, float, float]] = {}
        self.categories: dict[str, list[str]] = {}
        for c in columns:
            if kinds[c] in NUMERIC_KINDS:
                v = _numeric(reference[c], kinds[c]).dropna()
                lo, hi = (float(v.min()), float(v.max())) if len(v) else (0.0, 1.0)
                self.numeric[c] = (float(v.median()) if len(v) else 0.0, lo, (hi - lo) or 1.0)
            else:
                counts = _labels(reference[c]).fillna(NULL).value_counts()
                self.categories[c] = list(counts.index[:TOP_CATEGORIES] if onehot else counts.index)

    def transform(self, df: pd.DataFrame) -> np.ndarray:
        """The encoded matrix of `df` (rows in order)."""
        parts: list[np.ndarray] = []
        w = 1 / math.sqrt(2)
        for c in self.columns:
            if c in self.numeric:
                median, lo, span = self.numeric[c]
                v = _numeric(df[c], self.kinds[c])
                missing = v.isna().to_numpy(float)
                v = v.fillna(median).to_numpy(float)
                parts += [np.clip((v - lo) / span, -1e6, 1e6), missing]
            else:
                labels = _labels(df[c]).fillna(NULL)
                cats = self.categories[c]
                if self.onehot:
                    parts += [(labels == k).to_numpy(float) * w for k in cats]
                    parts.append((~labels.isin(cats)).to_numpy(float) * w)
                else:
                    parts.append(pd.Categorical(labels, categories=cats).codes.astype(float))
        return np.column_stack(parts) if parts else np.zeros((len(df), 0))


def usable_columns(kinds: dict[str, str], exclude: tuple[str, ...] = ()) -> list[str]:
    return [c for c, k in kinds.items() if k in MODEL_KINDS and c not in exclude]


# ---------------------------------------------------------------- statistical similarity


def statistical_similarity(real: pd.DataFrame, synthetic: pd.DataFrame, *, max_rows: int = MAX_ROWS,
                           seed: int = 0, alpha: float = ALPHA, score: float | None = None) -> dict:
    """KS test per numeric/datetime column, chi-squared per categorical one, correlation_diff, and the
    sdmetrics QualityReport score (computed here unless `score` is given)."""
    kinds = column_kinds(real)
    r, s = _sample(real, max_rows, seed), _sample(synthetic, max_rows, seed)
    columns: dict[str, dict] = {}
    for c, kind in kinds.items():
        if kind in NUMERIC_KINDS:
            columns[c] = {"kind": kind, **_ks(_numeric(r[c], kind), _numeric(s[c], kind), alpha)}
        elif kind == "categorical":
            columns[c] = {"kind": kind, **_chi2(r[c], s[c], alpha)}
        else:
            columns[c] = {"kind": kind, "test": None, "passed": None,
                          "skipped": "all values are null in the original" if kind == "empty"
                          else "free text / identifier column (too many distinct values to compare)"}
    counts = {t: {"passed": sum(1 for v in columns.values() if v["test"] == t and v["passed"]),
                  "failed": sum(1 for v in columns.values() if v["test"] == t and v["passed"] is False)}
              for t in ("ks", "chi_squared")}
    error = None
    if score is None:
        kept = usable_columns(kinds)
        try:
            score = _quality_score(r[kept], s[kept]) if kept else None
        except Exception as exc:  # sdmetrics refuses some inputs; the tests above still stand
            error = f"{type(exc).__name__}: {exc}"
    out = {"score": _round(score),
           "details": {"ks_test": counts["ks"], "chi_squared": counts["chi_squared"],
                       "correlation_diff": correlation_diff(r, s, kinds), "alpha": alpha,
                       "columns": columns},
           "rows_compared": {"original": len(r), "synthetic": len(s)}}
    if error:
        out["score_error"] = error
    return out


def _quality_score(real: pd.DataFrame, synthetic: pd.DataFrame) -> float | None:
    """sdmetrics QualityReport score, except that a column it cannot score (no comparable synthetic
    values, e.g. all null or unparsable) counts 0 in Column Shapes instead of being left out."""
    from sdmetrics.reports.single_table import QualityReport
    from sdv.metadata import Metadata

    from tasks.tabular.validate import _plain_values

    real, synthetic = _plain_values(real), _plain_values(synthetic)
    md = Metadata.detect_from_dataframes(data={"table": real}, infer_keys=None).to_dict()["tables"]["table"]
    report = QualityReport()
    report.generate(real, synthetic, md, verbose=False)
    shapes = float(report.get_details("Column Shapes")["Score"].astype(float).fillna(0.0).mean())
    pairs = report.get_properties().set_index("Property")["Score"].astype(float).get("Column Pair Trends")
    parts = [shapes] + ([pairs] if pairs is not None and math.isfinite(pairs) else [])
    return sum(parts) / len(parts)


def _ks(r: pd.Series, s: pd.Series, alpha: float) -> dict:
    a, b = r.dropna().to_numpy(float), s.dropna().to_numpy(float)
    if len(a) == 0:
        return {"test": None, "passed": None, "skipped": "no values in the compared original rows"}
    if len(b) == 0:
        return {"test": "ks", "statistic": 1.0, "p_value": 0.0, "passed": False,
                "note": "no values in the synthetic column"}
    res = ks_2samp(a, b)
    return {"test": "ks", "statistic": _round(res.statistic), "p_value": _round(res.pvalue),
            "passed": bool(res.pvalue >= alpha)}


def _chi2(r: pd.Series, s: pd.Series, alpha: float) -> dict:
    rl, sl = _labels(r).fillna(NULL), _labels(s).fillna(NULL)
    top = rl.value_counts().index[:TOP_CATEGORIES]
    rl, sl = rl.where(rl.isin(top), OTHER), sl.where(sl.isin(top), OTHER)
    table = pd.DataFrame({"real": rl.value_counts(), "synthetic": sl.value_counts()}).fillna(0)
    if len(table) < 2:
        return {"test": "chi_squared", "statistic": 0.0, "p_value": 1.0, "passed": True,
                "note": "one category on both sides"}
    res = chi2_contingency(table.to_numpy().T)
    return {"test": "chi_squared", "statistic": _round(res.statistic), "p_value": _round(res.pvalue),
            "passed": bool(res.pvalue >= alpha)}


def correlation_diff(real: pd.DataFrame, synthetic: pd.DataFrame, kinds: dict[str, str]) -> float | None:
    """Mean absolute difference of the Pearson correlation matrices of the numeric/datetime columns."""
    cols = [c for c, k in kinds.items() if k in NUMERIC_KINDS]
    if len(cols) < 2:
        return None
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cr = pd.DataFrame({c: _numeric(real[c], kinds[c]) for c in cols}).corr().to_numpy()
        cs = pd.DataFrame({c: _numeric(synthetic[c], kinds[c]) for c in cols}).corr().to_numpy()
    diff = np.abs(cr - cs)[np.triu_indices(len(cols), 1)]
    diff = diff[np.isfinite(diff)]
    return _round(diff.mean()) if len(diff) else None


# ---------------------------------------------------------------- ML efficacy


def target_task(s: pd.Series, kind: str) -> str | None:
    """classification, regression, or None when the column cannot be a target."""
    n = _labels(s).nunique()
    if kind in ("empty", "text") or n < 2:
        return None
    if kind == "categorical" or (kind == "numeric" and n <= CLASS_MAX_DISTINCT and _integer_valued(s)):
        return "classification"
    return "regression"


def choose_target(real: pd.DataFrame, kinds: dict[str, str]) -> str | None:
    """The classification target with the fewest classes (2..50), else the first numeric column with >= 2
    values that is not an identifier (integers, all distinct)."""
    tasks = {c: target_task(real[c], k) for c, k in kinds.items()}
    classes = [(_labels(real[c]).nunique(), i, c) for i, c in enumerate(kinds) if tasks[c] == "classification"]
    classes = [t for t in classes if t[0] <= TEXT_MIN_DISTINCT]
    if classes:
        return min(classes)[2]
    return next((c for c in kinds if tasks[c] == "regression"
                 and not (_integer_valued(real[c]) and real[c].is_unique)), None)  # not an id column


def ml_efficacy(real: pd.DataFrame, synthetic: pd.DataFrame, target_column: str | None = None, *,
                max_rows: int = MAX_ROWS, seed: int = 0) -> dict:
    """Train-on-synthetic/test-on-real vs train-on-real, a real-vs-synthetic detector, and the
    agreement of feature importances."""
    kinds = column_kinds(real)
    r, s = _sample(real, max_rows, seed), _sample(synthetic, max_rows, seed)
    out: dict = {"score": None, **detector_auc(r, s, kinds, seed), "feature_importance_correlation": None}
    target = target_column or choose_target(real, kinds)
    out.update(target_column=target, target_chosen=target_column is None)
    task_kind = target_task(real[target], kinds[target]) if target is not None else None
    features = usable_columns(kinds, exclude=(target,))
    if task_kind is None:
        return {**out, "skipped": "no column can serve as a target (need >= 2 classes or values)"}
    if not features:
        return {**out, "skipped": "no feature columns besides the target"}
    classify = task_kind == "classification"
    y_of = (lambda d: _labels(d[target])) if classify else (lambda d: _numeric(d[target], kinds[target]))
    r, s = r[y_of(r).notna()], s[y_of(s).notna()]
    if len(r) < MIN_ROWS or len(s) < 2:
        return {**out, "task": task_kind,
                "skipped": f"needs >= {MIN_ROWS} original and 2 synthetic rows with a target value"}
    y = y_of(r)
    counts = y.value_counts()
    stratify = y if classify and counts.min() >= 2 and len(counts) <= 0.3 * len(y) else None
    train, test = train_test_split(r, test_size=0.3, random_state=seed, stratify=stratify)
    syn_train = _sample(s, len(train), seed)
    enc = Encoder(train, kinds, features, onehot=False)
    model = RandomForestClassifier if classify else RandomForestRegressor
    trtr_m = model(**FOREST, random_state=seed).fit(enc.transform(train), y_of(train))
    tstr_m = model(**FOREST, random_state=seed).fit(enc.transform(syn_train), y_of(syn_train))
    x_test, y_test = enc.transform(test), y_of(test)

    def quality(m) -> float:
        pred = m.predict(x_test)
        return f1_score(y_test, pred, average="macro", zero_division=0) if classify else r2_score(y_test, pred)

    trtr, tstr = quality(trtr_m), quality(tstr_m)
    fi = None
    if len(features) >= 2:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fi = spearmanr(trtr_m.feature_importances_, tstr_m.feature_importances_).statistic
    out.update(
        score=_round(min(1.0, max(0.0, tstr / trtr))) if trtr > 0 else None,
        task=task_kind, model="random_forest", metric="f1_macro" if classify else "r2",
        tstr=_round(tstr), trtr=_round(trtr), feature_importance_correlation=_round(fi),
        rows={"real_train": len(train), "real_test": len(test), "synthetic_train": len(syn_train)})
    if trtr <= 0:
        out["skipped"] = "the target is not predictable from the real data (TRTR <= 0); no ratio"
    return out


def detector_auc(real: pd.DataFrame, synthetic: pd.DataFrame, kinds: dict[str, str], seed: int = 0) -> dict:
    """ROC AUC of a classifier telling real from synthetic rows (5-fold CV); 0.5 = indistinguishable.

    Synthetic rows that copy real ones push it below 0.5 (each copy's twin carries the other label).
    """
    features = usable_columns(kinds)
    n = min(len(real), len(synthetic))
    if n < MIN_ROWS // 2 or not features:
        return {"classifier_auc": None, "classifier_auc_skipped":
                f"needs >= {MIN_ROWS // 2} rows on each side and a comparable column"}
    a, b = _sample(real, n, seed), _sample(synthetic, n, seed)
    enc = Encoder(a, kinds, features, onehot=False)
    x = np.vstack([enc.transform(a), enc.transform(b)])
    y = np.r_[np.zeros(n), np.ones(n)]
    clf = RandomForestClassifier(**FOREST, random_state=seed)
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    return {"classifier_auc": _round(cross_val_score(clf, x, y, cv=cv, scoring="roc_auc").mean()),
            "classifier_rows": n}


# ---------------------------------------------------------------- privacy


def privacy_risk(real: pd.DataFrame, synthetic: pd.DataFrame, quasi_identifiers: list[str] | None = None,
                 holdout: pd.DataFrame | None = None, *, max_rows: int = MAX_ROWS, seed: int = 0) -> dict:
    """Distance to closest record, a distance-based membership inference attack, and k-anonymity.

    Members are the original rows (a random half of them without `holdout`); non-members are `holdout`
    (the other half without it). dcr_protection = min(1, median DCR of synthetic rows to the members /
    median DCR of non-members to the members); copies = exact_match_fraction beyond the original's own
    duplicate rate; score = min(1 - membership_inference_risk, dcr_protection, 1 - copies).
    """
    kinds = column_kinds(real)
    qis = quasi_identifiers or detect_quasi_identifiers(real, kinds)
    out: dict = {"score": None, "distance_to_closest_record": None, "membership_inference_risk": None,
                 **exact_matches(real, synthetic), **k_anonymity(synthetic, qis)}
    out["quasi_identifiers_detected"] = not quasi_identifiers
    r, s = _sample(real, max_rows, seed), _sample(synthetic, max_rows, seed)
    if holdout is None:
        members, non_members = train_test_split(r, test_size=0.5, random_state=seed) if len(r) >= 2 else (r, r[:0])
        source = "random half of the original"
    else:
        members, non_members = r, _sample(holdout, max_rows, seed)
        source = "holdout file"
    n = min(len(members), len(non_members), max_rows // 2)
    columns = usable_columns(kinds)
    if n < MIN_ROWS // 2 or not columns:
        return {**out, "skipped": f"needs >= {MIN_ROWS // 2} member and non-member rows "
                                  "(original rows, or a holdout file) and a comparable column"}
    members, non_members = _sample(members, n, seed), _sample(non_members, n, seed)
    enc = Encoder(members, kinds, columns, onehot=True)
    scale = math.sqrt(len(columns))
    m_x, h_x, s_x = enc.transform(members), enc.transform(non_members), enc.transform(s)
    dcr_syn = _nearest(m_x, s_x) / scale
    dcr_base = _nearest(m_x, h_x) / scale
    med_syn, med_base = float(np.median(dcr_syn)), float(np.median(dcr_base))
    protection = 1.0 if med_base == 0 else min(1.0, med_syn / med_base)
    mia = membership_inference(m_x, h_x, s_x)
    copies = max(0.0, out["exact_match_fraction"] - out["original_duplicate_fraction"])
    out.update(
        distance_to_closest_record=_round(med_syn), dcr_holdout_baseline=_round(med_base),
        dcr_protection=_round(protection),
        membership_inference_risk=mia["risk"], membership_inference_auc=mia["auc"],
        attack_rows={"members": n, "non_members": n, "synthetic": len(s)}, non_members_source=source,
        score=_round(min(1 - mia["risk"], protection, 1 - copies)))
    return out


def _nearest(reference: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Euclidean distance from each query row to its closest reference row."""
    nn = NearestNeighbors(n_neighbors=1).fit(reference)
    return nn.kneighbors(queries, return_distance=True)[0][:, 0]


def membership_inference(members: np.ndarray, non_members: np.ndarray, synthetic: np.ndarray) -> dict:
    """Distance attack: a record is called a member the closer it lies to a synthetic record.

    auc = ROC AUC of that score on members vs non-members; risk = max(0, 2 * (auc - 0.5)).
    """
    d = np.r_[_nearest(synthetic, members), _nearest(synthetic, non_members)]
    labels = np.r_[np.ones(len(members)), np.zeros(len(non_members))]
    auc = float(roc_auc_score(labels, -d))
    return {"auc": _round(auc), "risk": _round(max(0.0, 2 * (auc - 0.5)))}


def exact_matches(real: pd.DataFrame, synthetic: pd.DataFrame) -> dict:
    """Share of synthetic rows equal to an original row in every column (all rows, values as text), and
    the share of original rows equal to another original row (what chance alone gives on this data)."""
    def hashes(df: pd.DataFrame) -> pd.Series:
        return pd.util.hash_pandas_object(pd.DataFrame({c: _labels(df[c]).fillna(NULL) for c in real.columns}),
                                          index=False)

    real_h = hashes(real)
    return {"exact_match_fraction": _round(hashes(synthetic).isin(set(real_h)).mean()),
            "original_duplicate_fraction": _round(real_h.duplicated(keep=False).mean())}


def detect_quasi_identifiers(real: pd.DataFrame, kinds: dict[str, str] | None = None) -> list[str]:
    """Categorical/boolean columns and integer columns with 2..100 distinct values in the original."""
    kinds = kinds or column_kinds(real)
    return [c for c, k in kinds.items()
            if (k == "categorical" or (k == "numeric" and _integer_valued(real[c])))
            and 2 <= _labels(real[c]).nunique() <= QI_MAX_DISTINCT]


def k_anonymity(synthetic: pd.DataFrame, quasi_identifiers: list[str]) -> dict:
    """Smallest equivalence class of the synthetic rows over the quasi-identifiers (nulls are a value)."""
    if not quasi_identifiers:
        return {"k_anonymity": None, "quasi_identifiers": [], "equivalence_classes": 0}
    keys = pd.DataFrame({c: _labels(synthetic[c]).fillna(NULL) for c in quasi_identifiers})
    sizes = keys.groupby(list(quasi_identifiers), sort=False).size()
    return {"k_anonymity": int(sizes.min()), "quasi_identifiers": list(quasi_identifiers),
            "equivalence_classes": int(len(sizes))}


# ---------------------------------------------------------------- tasks


@task(name="statistical_similarity", cache_policy=NO_CACHE, persist_result=False)
def compute_statistical(real: pd.DataFrame, synthetic: pd.DataFrame, score: float | None = None,
                        max_rows: int = MAX_ROWS) -> dict:
    """KS / chi-squared tests, correlation_diff and the quality score."""
    return statistical_similarity(real, synthetic, max_rows=max_rows, score=score)


@task(name="statistical_summary", cache_policy=NO_CACHE, persist_result=False)
def summarize_statistics(real: pd.DataFrame, synthetic: pd.DataFrame, score: float | None) -> dict:
    """The statistical part for a generation's manifest; never fails the generation."""
    try:
        return jsonable(statistical_similarity(real, synthetic, score=score))
    except Exception as exc:
        print(f"statistical similarity could not be computed: {exc!r}")
        return {"score": score, "error": f"{type(exc).__name__}: {exc}"}


@task(name="ml_efficacy", cache_policy=NO_CACHE, persist_result=False)
def compute_ml_efficacy(real: pd.DataFrame, synthetic: pd.DataFrame, target_column: str | None = None,
                        max_rows: int = MAX_ROWS) -> dict:
    """TSTR vs TRTR, detector AUC, feature importance correlation."""
    return ml_efficacy(real, synthetic, target_column, max_rows=max_rows)


@task(name="privacy", cache_policy=NO_CACHE, persist_result=False)
def compute_privacy(real: pd.DataFrame, synthetic: pd.DataFrame, quasi_identifiers: list[str] | None = None,
                    holdout: pd.DataFrame | None = None, max_rows: int = MAX_ROWS) -> dict:
    """DCR, membership inference risk and k-anonymity."""
    return privacy_risk(real, synthetic, quasi_identifiers, holdout, max_rows=max_rows)
