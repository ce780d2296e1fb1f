"""Validation measures as plain functions, on tables made here: similar, garbage, copied and odd data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from inferloop.core.errors import InferloopError
from tasks.tabular.expectations import run_expectations
from tasks.tabular.quality import (check_inputs, column_kinds, detect_quasi_identifiers, k_anonymity,
                                   ml_efficacy, parse_metrics, privacy_risk, statistical_similarity)
from tests.tabular_data import customers


def signal(n: int, seed: int) -> pd.DataFrame:
    """A table whose `label` depends on x1 and x2 (so models have something to learn)."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(0, 1, n), rng.normal(5, 2, n)
    return pd.DataFrame({
        "x1": x1.round(4), "x2": x2.round(4),
        "age": rng.integers(20, 70, n),
        "group": [str(v) for v in rng.choice(["a", "b", "c"], n)],
        "label": np.where(x1 + (x2 - 5) / 2 + rng.normal(0, 0.3, n) > 0, "yes", "no"),
    })


def garbage(n: int, seed: int) -> pd.DataFrame:
    """Same columns, unrelated values: other ranges, other categories, no dependence."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "x1": rng.uniform(50, 100, n).round(4), "x2": rng.uniform(-30, -10, n).round(4),
        "age": rng.integers(90, 120, n),
        "group": [str(v) for v in rng.choice(["q", "r"], n)],
        "label": [str(v) for v in rng.choice(["yes", "no"], n, p=[0.9, 0.1])],
    })


def test_same_distribution_scores_high():
    real, syn = signal(2000, 1), signal(2000, 2)
    st = statistical_similarity(real, syn)
    assert st["score"] > 0.85
    d = st["details"]
    assert d["ks_test"]["passed"] >= 2 and d["ks_test"]["passed"] + d["ks_test"]["failed"] == 3
    assert d["chi_squared"]["passed"] >= 1 and d["chi_squared"]["passed"] + d["chi_squared"]["failed"] == 2
    assert d["correlation_diff"] < 0.1 and d["alpha"] == 0.05
    ml = ml_efficacy(real, syn)
    assert ml["target_column"] == "label" and ml["target_chosen"] and ml["task"] == "classification"
    assert 0.4 < ml["classifier_auc"] < 0.6
    assert ml["trtr"] > 0.8 and ml["score"] > 0.9
    assert ml["feature_importance_correlation"] > 0.5


def test_garbage_scores_low():
    real, syn = signal(2000, 1), garbage(2000, 2)
    st = statistical_similarity(real, syn)
    assert st["score"] < 0.5
    assert st["details"]["ks_test"] == {"passed": 0, "failed": 3}
    assert st["details"]["chi_squared"]["failed"] == 2
    ml = ml_efficacy(real, syn, "label")
    assert ml["classifier_auc"] > 0.95 and not ml["target_chosen"]
    assert ml["tstr"] < ml["trtr"] and ml["score"] < 0.7


def test_regression_target_when_no_categorical():
    real, syn = signal(800, 1)[["x1", "x2"]], signal(800, 2)[["x1", "x2"]]
    ml = ml_efficacy(real, syn)
    assert ml["task"] == "regression" and ml["metric"] == "r2" and ml["target_column"] == "x1"


def test_membership_attack_on_copied_members():
    members, holdout = signal(1000, 1), signal(1000, 3)
    copied = privacy_risk(members, members.copy(), holdout=holdout)
    assert copied["membership_inference_auc"] > 0.95 and copied["membership_inference_risk"] > 0.9
    assert copied["exact_match_fraction"] == 1.0 and copied["distance_to_closest_record"] == 0.0
    assert copied["score"] < 0.1 and copied["non_members_source"] == "holdout file"
    fresh = privacy_risk(members, signal(1000, 4), holdout=holdout)
    assert fresh["membership_inference_risk"] < 0.15
    assert fresh["dcr_protection"] > 0.8 and fresh["score"] > 0.8 and fresh["exact_match_fraction"] == 0.0


def test_privacy_without_holdout_splits_the_original():
    real = signal(1000, 1)
    out = privacy_risk(real, signal(1000, 2))
    assert out["non_members_source"] == "random half of the original"
    assert out["attack_rows"]["members"] == 500 and out["membership_inference_risk"] < 0.15
    assert out["score"] > 0.8
    copy = privacy_risk(real, real.sample(frac=1, random_state=3))  # both halves are copied: the attack
    assert copy["membership_inference_risk"] < 0.15                  # cannot tell, the copies still show
    assert copy["exact_match_fraction"] == 1.0 and copy["original_duplicate_fraction"] == 0.0
    assert copy["score"] == 0.0


def test_k_anonymity_and_detected_quasi_identifiers():
    syn = pd.DataFrame({"sex": ["f"] * 5 + ["m"] * 3, "zip": [75001] * 4 + [75002] * 4, "x": np.arange(8) / 3})
    assert k_anonymity(syn, ["sex", "zip"]) == {"k_anonymity": 1, "quasi_identifiers": ["sex", "zip"],
                                                "equivalence_classes": 3}
    assert k_anonymity(syn, ["zip"])["k_anonymity"] == 4
    real = signal(500, 1).assign(note=[f"free text {i}" for i in range(500)])
    assert detect_quasi_identifiers(real) == ["age", "group", "label"]  # not floats, not free text
    out = privacy_risk(real, signal(500, 2).assign(note=[f"other {i}" for i in range(500)]))
    assert out["quasi_identifiers"] == ["age", "group", "label"] and out["quasi_identifiers_detected"]
    assert out["k_anonymity"] >= 1


def test_expectations_pass_on_matching_data():
    real = customers(300)
    res = run_expectations(real, real.sample(frac=1, random_state=1))
    assert res["success"] and res["success_percent"] == 100.0
    kinds = {(r["expectation"], r["column"]) for r in res["results"]}
    assert ("expect_table_columns_to_match_set", None) in kinds
    assert {("expect_column_values_to_be_between", "age"), ("expect_column_values_to_be_in_set", "segment"),
            ("expect_column_values_to_not_be_null", "income"),
            ("expect_column_values_to_be_in_type_list", "country")} <= kinds


def test_expectations_report_violations():
    real = customers(300)
    syn = real.copy()
    syn.loc[:9, "age"] = 500                      # out of range
    syn.loc[:29, "segment"] = "platinum"          # unknown category
    syn.loc[:99, "country"] = None                # far more nulls than the original
    res = run_expectations(real, syn)
    failed = {(r["expectation"], r["column"]): r for r in res["results"] if not r["success"]}
    assert failed[("expect_column_values_to_be_between", "age")]["unexpected_count"] == 10
    assert failed[("expect_column_values_to_be_in_set", "segment")]["unexpected_percent"] == 10.0
    assert ("expect_column_values_to_not_be_null", "country") in failed
    assert not res["success"] and res["success_percent"] < 100 and res["evaluated"] > len(failed)


def test_odd_data_single_row_all_null_and_free_text():
    real = signal(300, 1).assign(empty=np.nan, note=[f"text number {i}" for i in range(300)])
    syn = signal(1, 2).assign(empty=np.nan, note=["hello"])
    assert column_kinds(real)["empty"] == "empty" and column_kinds(real)["note"] == "text"
    st = statistical_similarity(real, syn)
    assert st["score"] is not None
    cols = st["details"]["columns"]
    assert cols["empty"]["test"] is None and "null" in cols["empty"]["skipped"]
    assert cols["note"]["test"] is None and "free text" in cols["note"]["skipped"]
    ml = ml_efficacy(real, syn)
    assert ml["score"] is None and ml["skipped"] and ml["classifier_auc"] is None
    pr = privacy_risk(real, syn)
    assert pr["score"] is not None and pr["k_anonymity"] == 1  # 300 original rows: the attack runs
    assert privacy_risk(syn, real)["skipped"]                   # a one-row original cannot be split
    assert run_expectations(real, syn)["evaluated"] > 0


def test_input_checks():
    with pytest.raises(InferloopError) as e:
        parse_metrics("statistical,accuracy")
    assert e.value.field == "metrics" and "accuracy" in e.value.message
    assert parse_metrics(None) == ["statistical", "ml_efficacy", "privacy"]
    assert parse_metrics("privacy, statistical_similarity") == ["statistical", "privacy"]
    real = signal(50, 1)
    with pytest.raises(InferloopError) as e:
        check_inputs(real, real.drop(columns=["age"]).assign(extra=1), ["statistical"])
    assert e.value.field == "synthetic" and "age" in e.value.message and "extra" in e.value.message
    with pytest.raises(InferloopError) as e:
        check_inputs(real.assign(one="k"), real.assign(one="k"), ["ml_efficacy"], target_column="one")
    assert e.value.field == "target_column" and "single class" in e.value.message
    with pytest.raises(InferloopError) as e:
        check_inputs(real, real, ["privacy"], quasi_identifiers=["nope"])
    assert e.value.field == "quasi_identifiers"
