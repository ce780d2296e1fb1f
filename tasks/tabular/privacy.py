"""Privacy analysis of one table: k-anonymity, distinct l-diversity, t-closeness, risks, recommendations.

Records are grouped into equivalence classes by their quasi-identifier values (a null is a value of its
own). Everything is computed with vectorised numpy/pandas over integer codes, so a class per record
(very high-cardinality columns) costs no more than a few classes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from inferloop.core.errors import InferloopError

ANALYSIS_TYPES = ("k_anonymity", "l_diversity", "t_closeness")
DEFAULT_K, DEFAULT_L, DEFAULT_T = 5, 2, 0.2
WORST_LISTED = 5

DEFINITIONS: dict[str, str] = {
    "equivalence_class": "The records sharing the same values of every quasi-identifier (a null is a value "
                         "of its own).",
    "k_anonymity": "k is the size of the smallest equivalence class. violating_groups counts the classes "
                   "smaller than the target k (request field `k`, default 5); percentage_protected is the "
                   "share of records (in %) whose class holds at least the target k records.",
    "l_diversity": "Distinct l-diversity: for each sensitive attribute, the smallest number of distinct values "
                   "(a null counts as a value) in any equivalence class; l is the minimum over the sensitive "
                   "attributes. An attribute satisfies it when its l reaches the target l (request field `l`, "
                   "default 2); `satisfied` is true when every attribute does.",
    "t_closeness": "For each equivalence class and sensitive attribute, the earth mover's distance between the "
                   "attribute's distribution in the class and in the whole table, in [0, 1]. Numeric "
                   "attributes: ordered EMD, i.e. the 1-D Wasserstein distance divided by the attribute's range "
                   "(nulls left out; a class with only nulls is skipped). Other attributes: equal-distance EMD, "
                   "i.e. the total variation distance (a null is a value). t is the largest distance; it is "
                   "satisfied when t <= the target t (request field `t`, default 0.2).",
    "re_identification_risk": "Prosecutor re-identification risk: the mean over records of 1 / (size of the "
                              "record's equivalence class), i.e. the chance that an attacker who knows a "
                              "person's quasi-identifiers picks their record by guessing within the matching "
                              "class (= classes / records). risk_details gives the maximum, 1 / k.",
    "attribute_disclosure_risk": "Homogeneity risk: the share of records whose equivalence class holds a "
                                 "single value of a sensitive attribute, so that knowing a person's "
                                 "quasi-identifiers reveals it; the worst sensitive attribute is reported "
                                 "(null when no sensitive attribute is given).",
    "membership_inference_risk": "For a single table with no synthetic counterpart: the share of records that "
                                 "are unique on the quasi-identifiers. An attacker who knows a person's "
                                 "quasi-identifiers and finds exactly one matching record learns that the person "
                                 "is in the data (and which record is theirs).",
}


# ---------------------------------------------------------------- request checks


def check_request(columns: list[str] | None, quasi_identifiers: Any, sensitive_attributes: Any,
                  analysis_types: Any, k: Any, l: Any, t: Any) -> tuple[list[str], list[str], list[str]]:  # noqa: E741
    """Validate a request (against the table's columns unless None); returns (qis, sensitive, analysis_types)."""
    qis = _names(quasi_identifiers, "quasi_identifiers")
    if not qis:
        raise InferloopError("INVALID_REQUEST", "quasi_identifiers must name at least one column",
                             "quasi_identifiers")
    sensitive = _names(sensitive_attributes or [], "sensitive_attributes")
    types = _names(analysis_types, "analysis_types") if analysis_types is not None else \
        list(ANALYSIS_TYPES if sensitive else ANALYSIS_TYPES[:1])
    unknown = [a for a in types if a not in ANALYSIS_TYPES]
    if unknown or not types:
        raise InferloopError("INVALID_REQUEST", f"unknown analysis type(s) {', '.join(map(repr, unknown))}; "
                             f"use {', '.join(ANALYSIS_TYPES)}" if unknown else
                             f"analysis_types must list at least one of {', '.join(ANALYSIS_TYPES)}",
                             "analysis_types")
    if not sensitive and {"l_diversity", "t_closeness"} & set(types):
        raise InferloopError("INVALID_REQUEST", "l_diversity and t_closeness need sensitive_attributes",
                             "sensitive_attributes")
    for name, value, low in (("k", k, 1), ("l", l, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InferloopError("INVALID_REQUEST", f"{name} must be an integer >= {low}, got {value!r}", name)
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 <= t <= 1:
        raise InferloopError("INVALID_REQUEST", f"t must be a number between 0 and 1, got {t!r}", "t")
    for field, names in (("quasi_identifiers", qis), ("sensitive_attributes", sensitive)):
        missing = [c for c in names if columns is not None and c not in columns]
        if missing:
            raise InferloopError("INVALID_REQUEST", f"{field}: column(s) not in the data: "
                                 f"{', '.join(map(repr, missing))}", field)
    both = [c for c in sensitive if c in qis]
    if both:
        raise InferloopError("INVALID_REQUEST", f"{', '.join(map(repr, both))} cannot be both a quasi-identifier "
                             "and a sensitive attribute", "sensitive_attributes")
    return qis, sensitive, types


def _names(value: Any, field: str) -> list[str]:
    """A list of strings, de-duplicated in order, or INVALID_REQUEST naming the field."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InferloopError("INVALID_REQUEST", f"{field} must be a list of column names", field)
    return list(dict.fromkeys(value))


# ---------------------------------------------------------------- equivalence classes


def column_codes(s: pd.Series) -> np.ndarray:
    """Integer codes of a column's values, a null being a value of its own."""
    if s.dtype == object:
        s = s.map(lambda v: json.dumps(v, default=str, sort_keys=True)
                  if isinstance(v, (list, dict, set, np.ndarray)) else v)
    return pd.factorize(s, use_na_sentinel=False)[0].astype(np.int64)


def combine(codes: list[np.ndarray]) -> np.ndarray:
    """Codes 0..C-1 of the combinations of several code columns (one equivalence class each)."""
    out = codes[0]
    for c in codes[1:]:
        out = pd.factorize(out * (int(c.max()) + 1) + c)[0].astype(np.int64)
    return out


def class_codes(df: pd.DataFrame, quasi_identifiers: list[str]) -> np.ndarray:
    """The equivalence class of every record."""
    return combine([column_codes(df[c]) for c in quasi_identifiers])


# ---------------------------------------------------------------- metrics


def k_anonymity(classes: np.ndarray, target_k: int) -> dict:
    """k, the classes smaller than the target k and the share of records in classes of at least k."""
    sizes = np.bincount(classes)
    small = sizes < target_k
    return {"k": int(sizes.min()), "target_k": target_k, "violating_groups": int(small.sum()),
            "percentage_protected": round(float(100.0 * sizes[~small].sum() / len(classes)), 2),
            "equivalence_classes": int(len(sizes)), "records_in_violating_groups": int(sizes[small].sum()),
            "unique_records": int((sizes == 1).sum())}


def _pairs(classes: np.ndarray, values: np.ndarray, n_values: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(class, value, count) of every distinct (class, value) pair, sorted by class then value."""
    keys, counts = np.unique(classes * n_values + values, return_counts=True)
    return keys // n_values, keys % n_values, counts


def _distinct(classes: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The number of distinct values of an attribute in each class."""
    cls, _, _ = _pairs(classes, values, int(values.max()) + 1)
    return np.bincount(cls, minlength=int(classes.max()) + 1)


def l_diversity(classes: np.ndarray, df: pd.DataFrame, sensitive: list[str], target_l: int) -> dict:
    """Distinct l-diversity per sensitive attribute and overall."""
    sizes = np.bincount(classes)
    attrs, issues = {}, []
    for name in sensitive:
        distinct = _distinct(classes, column_codes(df[name]))
        low = distinct < target_l
        attrs[name] = {"l": int(distinct.min()), "satisfied": bool(not low.any()),
                       "classes_below_target": int(low.sum()), "records_in_classes_below_target":
                       int(sizes[low].sum()), "single_value_classes": int((distinct == 1).sum())}
        if low.any():
            issues.append(f"{name} column lacks diversity: {int(low.sum())} of {len(sizes)} equivalence classes "
                          f"have fewer than {target_l} distinct values (l = {int(distinct.min())})")
    return {"l": min(a["l"] for a in attrs.values()), "target_l": target_l,
            "satisfied": all(a["satisfied"] for a in attrs.values()), "attributes": attrs, "issues": issues}


def is_numeric(s: pd.Series) -> bool:
    """Numbers (not booleans), at least one, all finite: measured with the ordered distance and binned."""
    if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s) or s.dtype.kind not in "iuf":
        return False
    values = s.to_numpy(dtype=float, na_value=np.nan)
    return bool((~np.isnan(values)).any() and np.isfinite(values[~np.isnan(values)]).all())


def ordered_emd(classes: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per class: Wasserstein distance between the class's and the table's values over their range, in [0, 1].

    The same as scipy.stats.wasserstein_distance(class values, all values) / (max - min) for every class,
    computed at once from prefix sums of the table's CDF; NaN for a class with no (non-null) value.
    """
    n_classes = int(classes.max()) + 1
    out = np.full(n_classes, np.nan)
    ok = ~np.isnan(values)
    classes, values = classes[ok], values[ok]
    if not len(values):
        return out
    uniq, vidx = np.unique(values, return_inverse=True)
    m = len(uniq)
    out[np.unique(classes)] = 0.0
    if m == 1:
        return out
    gaps = np.diff(uniq)
    cdf = np.cumsum(np.bincount(vidx, minlength=m)) / len(values)
    s_gap = np.concatenate([[0.0], np.cumsum(gaps)])           # s_gap[j] = sum of gaps[:j]
    s_cdf = np.concatenate([[0.0], np.cumsum(cdf[:-1] * gaps)])  # s_cdf[j] = sum of cdf[i] * gaps[i], i < j
    cls, start, counts = _pairs(classes, vidx, m)
    size = np.bincount(cls, weights=counts, minlength=n_classes)
    first = np.r_[True, cls[1:] != cls[:-1]]
    last = np.r_[cls[1:] != cls[:-1], True]
    running = np.cumsum(counts)
    before = (running - counts)[first][np.cumsum(first) - 1]
    level = (running - before) / size[cls]                       # the class's CDF from `start` on
    end = np.where(last, m - 1, np.r_[start[1:], m - 1])
    split = np.clip(np.searchsorted(cdf, level), start, end)     # cdf < level before split, >= from it
    area = (level * (s_gap[split] - s_gap[start]) - (s_cdf[split] - s_cdf[start])
            + (s_cdf[end] - s_cdf[split]) - level * (s_gap[end] - s_gap[split]))
    area = np.bincount(cls, weights=area, minlength=n_classes)
    area[cls[first]] += s_cdf[start[first]]                      # before the class's smallest value: |0 - cdf|
    present = np.unique(classes)
    out[present] = area[present] / s_gap[-1]
    return out


def total_variation(classes: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per class: equal-distance EMD (total variation) between the class's and the table's distribution."""
    n_values = int(values.max()) + 1
    overall = np.bincount(values, minlength=n_values) / len(values)
    cls, val, counts = _pairs(classes, values, n_values)
    size = np.bincount(classes)
    n_classes = len(size)
    inside = np.bincount(cls, weights=np.abs(counts / size[cls] - overall[val]), minlength=n_classes)
    covered = np.bincount(cls, weights=overall[val], minlength=n_classes)
    return 0.5 * (inside + 1.0 - covered)


def class_distances(classes: np.ndarray, s: pd.Series) -> tuple[np.ndarray, str]:
    """The t-closeness distance of every class for one sensitive attribute, and the distance used."""
    if is_numeric(s):
        return ordered_emd(classes, s.to_numpy(dtype=float, na_value=np.nan)), "ordered_emd"
    return total_variation(classes, column_codes(s)), "equal_distance_emd"


def t_closeness(classes: np.ndarray, df: pd.DataFrame, quasi_identifiers: list[str], sensitive: list[str],
                target_t: float) -> dict:
    """The worst EMD per sensitive attribute and overall, with the worst classes."""
    sizes = np.bincount(classes)
    firsts = np.unique(classes, return_index=True)[1]
    attrs, worst = {}, []
    for name in sensitive:
        dist, kind = class_distances(classes, df[name])
        known = ~np.isnan(dist)
        t_attr = float(dist[known].max()) if known.any() else 0.0
        attrs[name] = {"t": round(t_attr, 4), "satisfied": t_attr <= target_t + 1e-12, "distance": kind,
                       "classes_above_target": int((dist[known] > target_t + 1e-12).sum())}
        for c in np.argsort(np.where(known, -dist, np.inf))[:WORST_LISTED]:
            if known[c] and dist[c] > 0:
                worst.append({"attribute": name, "distance": round(float(dist[c]), 4), "size": int(sizes[c]),
                              "quasi_identifiers": _row(df, firsts[c], quasi_identifiers)})
    worst.sort(key=lambda w: -w["distance"])
    t_all = max(a["t"] for a in attrs.values())
    return {"t": t_all, "target_t": target_t, "satisfied": all(a["satisfied"] for a in attrs.values()),
            "attributes": attrs, "worst_classes": worst[:WORST_LISTED]}


def risks(classes: np.ndarray, df: pd.DataFrame, sensitive: list[str]) -> tuple[dict, dict]:
    """(risks, risk_details): re-identification, attribute disclosure and membership inference."""
    sizes = np.bincount(classes)
    n = len(classes)
    homogeneous = {name: float(sizes[_distinct(classes, column_codes(df[name])) == 1].sum() / n)
                   for name in sensitive}
    out = {"re_identification_risk": round(len(sizes) / n, 4),
           "attribute_disclosure_risk": round(max(homogeneous.values()), 4) if homogeneous else None,
           "membership_inference_risk": round(float((sizes == 1).sum()) / n, 4)}
    details = {"re_identification": {"mean": out["re_identification_risk"],
                                     "max": round(1 / int(sizes.min()), 4)},
               "attribute_disclosure": {k: round(v, 4) for k, v in homogeneous.items()},
               "membership_inference": {"unique_records": int((sizes == 1).sum()), "records": n}}
    return out, details


def _row(df: pd.DataFrame, i: int, columns: list[str]) -> dict:
    """One record's values of some columns, as JSON values."""
    return {c: jsonable(df[c].iat[int(i)]) for c in columns}


def jsonable(v: Any) -> Any:
    """A cell value as a JSON value (nulls as None, numpy scalars as Python numbers, others as text)."""
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return None if math.isnan(v) else float(v) if math.isfinite(v) else str(v)
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return str(v)


# ---------------------------------------------------------------- recommendations


@dataclass
class Option:
    """One way to generalise one quasi-identifier, with the codes it gives and what it says."""

    column: str
    codes: np.ndarray
    action: str           # "bin" or "suppress"
    level: float          # bin width, or the count below which values are suppressed
    merged: int           # values suppressed (suppress) or bins made (bin)
    distinct: int         # distinct values of the column after it
    everything: bool      # the option leaves a single value: the column is as good as dropped
    example: str


def options_for(s: pd.Series, target_k: int) -> list[Option]:
    """Candidate generalisations of a column, mildest first: binning for numbers, suppressing rare values."""
    if is_numeric(s):
        x = s.to_numpy(dtype=float, na_value=np.nan)
        lo, hi = float(np.nanmin(x)), float(np.nanmax(x))
        out = []
        for w in _widths(hi - lo, integer=pd.api.types.is_integer_dtype(s)):
            bins = np.floor(x / w)
            codes = pd.factorize(bins, use_na_sentinel=False)[0].astype(np.int64)
            start = math.floor(lo / w) * w
            n_codes = int(codes.max()) + 1
            out.append(Option(str(s.name), codes, "bin", w, int(np.unique(bins[~np.isnan(bins)]).size), n_codes,
                              n_codes == 1, f"[{start:g}, {start + w:g})"))
            if out[-1].everything:
                break
        return out
    codes = column_codes(s)
    counts = np.bincount(codes)
    out, seen = [], set()
    for threshold in (target_k, 2 * target_k, 5 * target_k, 10 * target_k, 25 * target_k, 100 * target_k):
        rare = counts < threshold
        if rare.sum() < 2 or int(rare.sum()) in seen:   # one rare value merged alone changes nothing
            continue
        seen.add(int(rare.sum()))
        merged = pd.factorize(np.where(rare[codes], -1, codes))[0].astype(np.int64)
        examples = [str(jsonable(s.iat[i])) for i in np.unique(codes, return_index=True)[1] if rare[codes[i]]][:3]
        n_codes = int(merged.max()) + 1
        out.append(Option(str(s.name), merged, "suppress", threshold, int(rare.sum()), n_codes, n_codes == 1,
                          ", ".join(examples)))
    return out


def _widths(span: float, integer: bool) -> list[float]:
    """Nice bin widths (1, 2, 5 x 10^e) from about span/100 up to the first that covers the whole span."""
    if span <= 0:
        return []
    out = []
    for e in range(math.floor(math.log10(span / 100)), math.ceil(math.log10(span)) + 2):
        for m in (1, 2, 5):
            w = m * 10.0 ** e
            if w >= span / 100 and not (integer and w <= 1) and not (out and out[-1] > span):
                out.append(w)
    return out


def _score(classes: np.ndarray, target_k: int) -> tuple[int, float, float]:
    """(k, % of records in classes of at least target_k, mean over records of min(class size, k) / k)."""
    sizes = np.bincount(classes)
    return (int(sizes.min()), round(float(100.0 * sizes[sizes >= target_k].sum() / len(classes)), 2),
            float((sizes * np.minimum(sizes, target_k)).sum() / (target_k * len(classes))))


def generalisation_plan(df: pd.DataFrame, quasi_identifiers: list[str],
                        target_k: int) -> tuple[list[dict], np.ndarray]:
    """Greedy generalisation toward the target k, one level of one quasi-identifier at a time.

    Each candidate (the next level of a column) is scored by recomputing the classes of the generalised
    table: a level that reaches the target k wins (one that keeps the column, then the most classes), else
    the one that protects most per information lost (gain in mean min(size, k)/k over the log-ratio of the column's
    distinct values). Once the target is reached, columns are backed off to milder levels that keep it.
    Returns one step per generalised column (k recomputed after each, in order) and the final classes.
    """
    base = {c: column_codes(df[c]) for c in quasi_identifiers}
    ladders = {c: options_for(df[c], target_k) for c in quasi_identifiers}

    def classes(choice: dict[str, int]) -> np.ndarray:
        return combine([ladders[c][choice[c]].codes if c in choice else base[c] for c in quasi_identifiers])

    def distinct(c: str, i: int) -> int:
        return ladders[c][i].distinct if i >= 0 else int(base[c].max()) + 1

    chosen: dict[str, int] = {}
    touched: list[str] = []
    score = _score(classes(chosen), target_k)
    while score[0] < target_k:
        best: tuple | None = None
        for c, ladder in ladders.items():
            i = chosen.get(c, -1) + 1
            if i >= len(ladder):
                continue
            trial = {**chosen, c: i}
            after = classes(trial)
            s = _score(after, target_k)
            loss = max(math.log(distinct(c, i - 1) / max(distinct(c, i), 1)), 1e-9)
            reaches = s[0] >= target_k
            key = (reaches, reaches and not ladder[i].everything,
                   int(after.max()) + 1 if reaches else (s[2] - score[2]) / loss)
            if best is None or key > best[0]:
                best = (key, c, trial, s)
        if best is None:
            break
        _, column, chosen, score = best
        touched += [column] if column not in touched else []
    for c in reversed(touched if score[0] >= target_k else []):
        while c in chosen:
            milder = {**chosen, c: chosen[c] - 1} if chosen[c] > 0 else {
                name: i for name, i in chosen.items() if name != c}
            if _score(classes(milder), target_k)[0] < target_k:
                break
            chosen = milder
    steps, applied = [], {}
    before = _score(classes({}), target_k)
    for c in (c for c in touched if c in chosen):
        applied[c] = chosen[c]
        now = _score(classes(applied), target_k)
        opt = ladders[c][chosen[c]]
        steps.append({"column": c, "action": opt.action, "level": opt.level, "values": opt.merged,
                      "drops_column": opt.everything, "example": opt.example, "k_before": before[0],
                      "k_after": now[0], "percentage_protected_before": before[1],
                      "percentage_protected_after": now[1]})
        before = now
    return steps, classes(chosen)


def step_text(step: dict, target_k: int) -> str:
    """One generalisation step as a sentence with its numbers."""
    col, effect = step["column"], (f"k rises from {step['k_before']} to {step['k_after']} and "
                                   f"{step['percentage_protected_after']:g}% of records are in classes of at "
                                   f"least {target_k} (was {step['percentage_protected_before']:g}%)")
    if step["drops_column"]:
        return f"Drop {col} from the released quasi-identifiers (all its values generalised into one): {effect}"
    if step["action"] == "bin":
        return f"Generalise {col} into ranges of width {step['level']:g} (e.g. {step['example']}): {effect}"
    return (f"Suppress {step['values']} rare values of {col} (each held by fewer than {step['level']:g} records, "
            f"e.g. {step['example']}) into one '*' value: {effect}")


def _count(n: int, word: str) -> str:
    """'1 record', '3 records'."""
    return f"{n} {word}" if n == 1 else f"{n} {word}es" if word.endswith("s") else f"{n} {word}s"


def recommendations(df: pd.DataFrame, quasi_identifiers: list[str], sensitive: list[str], types: list[str],
                    metrics: dict, target_k: int, target_l: int, target_t: float) -> tuple[list[str], dict]:
    """Recommendations derived from the numbers, and the generalisation plan they come from."""
    out: list[str] = []
    n = len(df)
    ka = metrics.get("k_anonymity")
    steps, after = generalisation_plan(df, quasi_identifiers, target_k) if ka else ([], class_codes(
        df, quasi_identifiers))
    k_after, pct_after, _ = _score(after, target_k)
    plan: dict = {"steps": steps, "after": {"k": k_after, "percentage_protected": pct_after}}
    if ka and ka["k"] < target_k:
        out.append(f"Increase k-anonymity from {ka['k']} to at least {target_k}: {ka['violating_groups']} of "
                   f"{_count(ka['equivalence_classes'], 'equivalence class')} hold fewer than {target_k} records "
                   f"({_count(ka['records_in_violating_groups'], 'record')}, "
                   f"{100 - ka['percentage_protected']:.1f}% of the data)")
        if n < target_k:
            out.append(f"The table has only {_count(n, 'record')}, fewer than k = {target_k}: no generalisation "
                       f"can reach it; release more records together or lower the target")
        out += [step_text(s, target_k) for s in steps]
        sizes = np.bincount(after)
        if k_after < target_k and n >= target_k:
            lead = "Then suppress" if steps else "No generalisation of the quasi-identifiers raises k; suppress"
            out.append(f"{lead} the {_count(int(sizes[sizes < target_k].sum()), 'record')} still in classes "
                       f"smaller than {target_k} ({100 - pct_after:.1f}% of the data) to reach k >= {target_k}")
    then = "; after the generalisations above" if steps else ""
    if "l_diversity" in types:
        l_after = _distinct_min(after, df, sensitive)
        plan["after"]["l"] = l_after
        for name, a in metrics["l_diversity"]["attributes"].items():
            if a["satisfied"]:
                continue
            if column_codes(df[name]).max() == 0:
                out.append(f"l-diversity: {name} holds a single value in the whole table, so no class can have "
                           f"{target_l} distinct values; it discloses nothing beyond that value")
                continue
            out.append(f"l-diversity: {name} has fewer than {target_l} distinct values in "
                       f"{_count(a['classes_below_target'], 'class')} "
                       f"({_count(a['records_in_classes_below_target'], 'record')}; l = {a['l']})"
                       f"{then + f' its l is {l_after[name]}' if steps else ''}; generalise the "
                       f"quasi-identifiers further or suppress those classes")
    if "t_closeness" in types:
        t_after = {name: round(float(np.nanmax(np.r_[class_distances(after, df[name])[0], 0.0])), 4)
                   for name in sensitive}
        plan["after"]["t"] = t_after
        tc = metrics["t_closeness"]
        if not tc["satisfied"]:
            w = tc["worst_classes"][0]
            out.append(f"t-closeness: {w['attribute']} is at distance {w['distance']} from its overall "
                       f"distribution in a class of {_count(w['size'], 'record')}, above t = {target_t}; "
                       f"{_count(tc['attributes'][w['attribute']]['classes_above_target'], 'class')} of "
                       f"{w['attribute']} exceed t{then + f' t = {max(t_after.values())}' if steps else ''}")
    if not out:
        parts = [f"{name} = {metrics[m][name]} (target {target})" for m, name, target in
                 (("k_anonymity", "k", target_k), ("l_diversity", "l", target_l), ("t_closeness", "t", target_t))
                 if m in metrics]
        out.append(f"No change needed for these targets: {', '.join(parts)}")
    return out, plan


def _distinct_min(classes: np.ndarray, df: pd.DataFrame, sensitive: list[str]) -> dict[str, int]:
    """The smallest number of distinct values per class, per sensitive attribute."""
    return {name: int(_distinct(classes, column_codes(df[name])).min()) for name in sensitive}


# ---------------------------------------------------------------- the whole analysis


def analyze(df: pd.DataFrame, quasi_identifiers: list[str], sensitive: list[str], types: list[str],
            target_k: int = DEFAULT_K, target_l: int = DEFAULT_L, target_t: float = DEFAULT_T) -> dict:
    """The privacy report of a table: risks, the requested metrics, recommendations and definitions."""
    classes = class_codes(df, quasi_identifiers)
    metrics: dict[str, dict] = {}
    if "k_anonymity" in types:
        metrics["k_anonymity"] = k_anonymity(classes, target_k)
    if "l_diversity" in types:
        metrics["l_diversity"] = l_diversity(classes, df, sensitive, target_l)
    if "t_closeness" in types:
        metrics["t_closeness"] = t_closeness(classes, df, quasi_identifiers, sensitive, target_t)
    risk, details = risks(classes, df, sensitive)
    recs, plan = recommendations(df, quasi_identifiers, sensitive, types, metrics, target_k, target_l, target_t)
    return {"rows": int(len(df)), "quasi_identifiers": quasi_identifiers, "sensitive_attributes": sensitive,
            "analysis_types": types, "targets": {"k": target_k, "l": target_l, "t": target_t},
            "risks": risk, "risk_details": details, "metrics": metrics, "recommendations": recs,
            "generalisation_plan": plan, "definitions": DEFINITIONS}


def report_markdown(report: dict) -> str:
    """The report as markdown for the Prefect UI."""
    lines = ["# Privacy report", "", f"{report['rows']} records; quasi-identifiers: "
             f"{', '.join(report['quasi_identifiers'])}; sensitive: "
             f"{', '.join(report['sensitive_attributes']) or '-'}",
             "", "| risk | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in report["risks"].items()]
    for name, m in report["metrics"].items():
        lines += ["", f"## {name}", "", "| measure | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in m.items() if not isinstance(v, (dict, list))]
    lines += ["", "## Recommendations", ""] + [f"- {r}" for r in report["recommendations"]]
    return "\n".join(lines)


@task(name="privacy-metrics", cache_policy=NO_CACHE, persist_result=False)
def analyze_privacy(df: pd.DataFrame, quasi_identifiers: list[str], sensitive: list[str], types: list[str],
                    target_k: int, target_l: int, target_t: float) -> dict:
    """Equivalence classes, k/l/t metrics, risks and recommendations of a table."""
    return analyze(df, quasi_identifiers, sensitive, types, target_k, target_l, target_t)


@task(name="privacy-report-artifact", cache_policy=NO_CACHE, persist_result=False)
def publish_report(report: dict) -> None:
    """Publish the report as the run's `privacy-report` markdown artifact."""
    from prefect.artifacts import create_markdown_artifact

    create_markdown_artifact(report_markdown(report), key="privacy-report", description="privacy analysis")
