"""Privacy analysis on tables whose k, l and t are known by construction (plain functions, no Prefect)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import wasserstein_distance

from inferloop.core.errors import InferloopError
from tasks.tabular import privacy as P

ALL = list(P.ANALYSIS_TYPES)


def sized(sizes: dict[str, int], **columns) -> pd.DataFrame:
    """One quasi-identifier `g` whose classes have the given sizes, plus extra columns."""
    return pd.DataFrame({"g": [g for g, n in sizes.items() for _ in range(n)], **columns})


def test_k_anonymity_of_classes_of_2_5_10():
    df = sized({"a": 2, "b": 5, "c": 10})
    m = P.k_anonymity(P.class_codes(df, ["g"]), 5)
    assert m == {"k": 2, "target_k": 5, "violating_groups": 1, "percentage_protected": round(1500 / 17, 2),
                 "equivalence_classes": 3, "records_in_violating_groups": 2, "unique_records": 0}
    assert P.k_anonymity(P.class_codes(df, ["g"]), 11)["violating_groups"] == 3


def test_nulls_are_a_value_of_their_own_and_classes_combine_columns():
    df = pd.DataFrame({"a": [1, 1, None, None, 2], "b": ["x", "x", "x", None, "x"]})
    classes = P.class_codes(df, ["a", "b"])
    assert sorted(np.bincount(classes)) == [1, 1, 1, 2]


def test_risks_by_construction():
    df = sized({"a": 1, "b": 4, "c": 5}, s=["x"] + ["y"] * 4 + ["y", "y", "z", "z", "z"])
    risks, details = P.risks(P.class_codes(df, ["g"]), df, ["s"])
    assert risks["re_identification_risk"] == 0.3            # 3 classes / 10 records
    assert risks["membership_inference_risk"] == 0.1         # one record unique on g
    assert risks["attribute_disclosure_risk"] == 0.5         # classes a and b hold one value of s
    assert details["re_identification"]["max"] == 1.0
    assert details["membership_inference"]["unique_records"] == 1
    assert P.risks(P.class_codes(df, ["g"]), df, [])[0]["attribute_disclosure_risk"] is None


def test_l_diversity_with_a_class_of_one_sensitive_value():
    df = sized({"a": 2, "b": 5, "c": 10}, diagnosis=["flu"] * 2 + ["flu", "cold"] * 2 + ["flu"]
               + ["flu", "cold", None] * 3 + ["flu"], income=range(17))
    m = P.l_diversity(P.class_codes(df, ["g"]), df, ["diagnosis", "income"], 2)
    assert m["l"] == 1 and m["satisfied"] is False
    assert m["attributes"]["diagnosis"] == {"l": 1, "satisfied": False, "classes_below_target": 1,
                                            "records_in_classes_below_target": 2, "single_value_classes": 1}
    assert m["attributes"]["income"]["l"] == 2 and m["attributes"]["income"]["satisfied"]
    assert m["issues"] == ["diagnosis column lacks diversity: 1 of 3 equivalence classes have fewer than 2 "
                           "distinct values (l = 1)"]
    c = P.l_diversity(P.class_codes(df, ["g"]), df, ["diagnosis"], 3)   # class c has flu, cold and null
    assert c["attributes"]["diagnosis"]["classes_below_target"] == 2


def test_t_closeness_of_a_skewed_class():
    # overall: 50% flu, 50% cold; class a is all flu, class b all cold, class c is the overall mix
    df = sized({"a": 10, "b": 10, "c": 20}, diagnosis=["flu"] * 10 + ["cold"] * 10 + ["flu", "cold"] * 10,
               income=[0.0] * 10 + [10.0] * 10 + [0.0, 10.0] * 10)
    m = P.t_closeness(P.class_codes(df, ["g"]), df, ["g"], ["diagnosis", "income"], 0.2)
    assert m["attributes"]["diagnosis"] == {"t": 0.5, "satisfied": False, "distance": "equal_distance_emd",
                                            "classes_above_target": 2}
    assert m["attributes"]["income"]["t"] == 0.5 and m["attributes"]["income"]["distance"] == "ordered_emd"
    assert m["t"] == 0.5 and m["satisfied"] is False
    assert {w["quasi_identifiers"]["g"] for w in m["worst_classes"]} == {"a", "b"}
    assert P.t_closeness(P.class_codes(df, ["g"]), df, ["g"], ["diagnosis"], 0.5)["satisfied"] is True


def test_ordered_emd_is_scipys_wasserstein_over_the_range():
    rng = np.random.default_rng(3)
    classes = pd.factorize(rng.integers(0, 40, 3000))[0].astype(np.int64)
    values = np.round(rng.lognormal(3, 1, 3000), 1)
    values[rng.random(3000) < 0.05] = np.nan
    ok = ~np.isnan(values)
    span = np.nanmax(values) - np.nanmin(values)
    expected = [wasserstein_distance(values[(classes == c) & ok], values[ok]) / span for c in range(40)]
    np.testing.assert_allclose(P.ordered_emd(classes, values), expected, atol=1e-12)
    # a class whose values are all null has no distance
    assert np.isnan(P.ordered_emd(np.array([0, 0, 1]), np.array([1.0, 2.0, np.nan])))[1]


def test_total_variation_by_hand():
    classes = np.array([0, 0, 0, 0, 1, 1])
    values = np.array([0, 0, 0, 1, 1, 2])
    overall = np.array([3, 2, 1]) / 6
    expected = [0.5 * np.abs(np.array([3, 1, 0]) / 4 - overall).sum(),
                0.5 * np.abs(np.array([0, 1, 1]) / 2 - overall).sum()]
    np.testing.assert_allclose(P.total_variation(classes, values), expected)


def apply_steps(df: pd.DataFrame, steps: list[dict]) -> pd.DataFrame:
    """Apply a plan's steps the way their sentences say: bin into ranges, or suppress rare values into '*'."""
    out = df.copy()
    for s in steps:
        col = out[s["column"]]
        if s["action"] == "bin":
            out[s["column"]] = np.floor(col / s["level"]) * s["level"]
        else:
            counts = col.value_counts(dropna=False)
            out[s["column"]] = col.where(~col.isin(counts[counts < s["level"]].index), "*")
    return out


def test_recommended_binning_actually_raises_k():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"age": rng.integers(20, 70, 400), "gender": rng.choice(["F", "M"], 400),
                       "diagnosis": rng.choice(["flu", "cold", "covid"], 400)})
    report = P.analyze(df, ["age", "gender"], ["diagnosis"], ALL, 5, 2, 0.2)
    before = report["metrics"]["k_anonymity"]["k"]
    steps = report["generalisation_plan"]["steps"]
    assert before < 5 and steps and steps[0]["column"] == "age" and steps[0]["action"] == "bin"
    generalised = apply_steps(df, steps)
    k_after = P.k_anonymity(P.class_codes(generalised, ["age", "gender"]), 5)["k"]
    assert k_after == steps[-1]["k_after"] == report["generalisation_plan"]["after"]["k"] >= 5
    for step in steps:
        rises = f"k rises from {step['k_before']} to {step['k_after']}"
        assert any(r.startswith(("Generalise", "Suppress", "Drop")) and step["column"] in r and rises in r
                   for r in report["recommendations"])
    assert steps[0]["k_before"] == before
    assert any(r.startswith(f"Generalise age into ranges of width {steps[0]['level']:g}")
               for r in report["recommendations"])


def test_recommended_suppression_of_rare_values_raises_k():
    zips = [f"75{i:03d}" for i in range(5) for _ in range(20)] + [f"13{i:03d}" for i in range(12)]
    df = pd.DataFrame({"zipcode": zips})
    report = P.analyze(df, ["zipcode"], [], ["k_anonymity"], 5)
    assert report["metrics"]["k_anonymity"]["k"] == 1
    [step] = report["generalisation_plan"]["steps"]
    assert step["action"] == "suppress" and step["values"] == 12 and step["level"] == 5
    assert P.k_anonymity(P.class_codes(apply_steps(df, [step]), ["zipcode"]), 5)["k"] == 12 == step["k_after"]
    assert any(r.startswith("Suppress 12 rare values of zipcode (each held by fewer than 5 records")
               and "k rises from 1 to 12" in r for r in report["recommendations"])


def test_nothing_to_recommend_when_targets_hold():
    df = sized({"a": 6, "b": 6}, s=["x", "y"] * 6)
    report = P.analyze(df, ["g"], ["s"], ALL, 5, 2, 0.2)
    assert report["recommendations"] == ["No change needed for these targets: k = 6 (target 5), "
                                         "l = 2 (target 2), t = 0.0 (target 0.2)"]


@pytest.mark.parametrize("df,qis,sensitive", [
    (pd.DataFrame({"a": [1], "s": ["x"]}), ["a"], ["s"]),                                  # a single row
    (pd.DataFrame({"a": [None] * 30, "b": range(30), "s": [np.nan] * 30}), ["a", "b"], ["s"]),  # all-null
    (pd.DataFrame({"id": [f"user-{i:06d}" for i in range(20_000)],
                   "note": [f"free text {i}" for i in range(20_000)], "v": np.arange(20_000) % 7}),
     ["id", "v"], ["note"]),                                                               # very high cardinality
])
def test_odd_tables_give_a_complete_report(df, qis, sensitive):
    report = P.analyze(df, qis, sensitive, ALL)
    json.dumps(report, allow_nan=False)
    assert set(report["risks"]) == {"re_identification_risk", "attribute_disclosure_risk",
                                    "membership_inference_risk"}
    assert all(0 <= v <= 1 for v in report["risks"].values())
    assert report["recommendations"] and all(isinstance(r, str) for r in report["recommendations"])
    if len(df) == 1:
        assert report["metrics"]["k_anonymity"]["k"] == 1 and report["risks"]["re_identification_risk"] == 1
        assert any("only 1 record" in r for r in report["recommendations"])
    if len(df) == 20_000:
        assert report["metrics"]["k_anonymity"]["equivalence_classes"] == 20_000
        assert report["generalisation_plan"]["after"]["k"] >= 5   # dropping id reaches the target


@pytest.mark.parametrize("kwargs,field", [
    ({"quasi_identifiers": ["nope"]}, "quasi_identifiers"),
    ({"quasi_identifiers": []}, "quasi_identifiers"),
    ({"quasi_identifiers": "age"}, "quasi_identifiers"),
    ({"sensitive_attributes": ["missing"]}, "sensitive_attributes"),
    ({"sensitive_attributes": ["age"]}, "sensitive_attributes"),
    ({"analysis_types": ["k_anonymity", "entropy"]}, "analysis_types"),
    ({"analysis_types": []}, "analysis_types"),
    ({"sensitive_attributes": [], "analysis_types": ["l_diversity"]}, "sensitive_attributes"),
    ({"k": 0}, "k"), ({"l": 1.5}, "l"), ({"t": 1.5}, "t"),
])
def test_bad_requests_name_the_field(kwargs, field):
    args = {"quasi_identifiers": ["age"], "sensitive_attributes": ["s"], "analysis_types": None,
            "k": 5, "l": 2, "t": 0.2, **kwargs}
    with pytest.raises(InferloopError) as exc:
        P.check_request(["age", "s"], **args)
    assert exc.value.code == "INVALID_REQUEST" and exc.value.field == field
    if kwargs.get("quasi_identifiers") == ["nope"]:
        assert "'nope'" in exc.value.message


def test_default_analysis_types():
    assert P.check_request(["a", "s"], ["a"], ["s"], None, 5, 2, 0.2)[2] == ALL
    assert P.check_request(["a", "s"], ["a"], None, None, 5, 2, 0.2)[2] == ["k_anonymity"]
    assert math.isclose(P.DEFAULT_T, 0.2) and (P.DEFAULT_K, P.DEFAULT_L) == (5, 2)
