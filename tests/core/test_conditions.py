"""tasks.tabular.conditions: parsing, column summaries, feasibility checks, drawing conditioned values, row tests."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tasks.tabular.conditions import (Condition, check_conditions, condition_mask, draw_known,
                                      parse_conditions, snap_near, summarize_columns)
from inferloop.core.errors import InferloopError
from tests.tabular_data import customers


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    df = customers(300)
    df["seen_at"] = pd.date_range("2023-01-01", periods=300, freq="7h")  # datetime64, whole minutes
    df["score"] = np.round(np.random.default_rng(1).normal(50, 10, 300), 3)
    df["empty"] = np.nan
    return df


@pytest.fixture(scope="module")
def summary(table) -> dict:
    return summarize_columns(table)


def error_of(call, *args) -> InferloopError:
    with pytest.raises(InferloopError) as info:
        call(*args)
    return info.value


# ---------------------------------------------------------------- parsing


def test_parse_values_operators_and_lists():
    conds = parse_conditions({"segment": "gold", "age": ">30", "signup": ">= 2020-01-01", "country": "!=FR",
                              "income": "<=5.5", "active": True, "visits": 3, "tier": ["a", "b", "a"],
                              "name": "== 'x y'", "code": "=7"})
    assert [(c.column, c.op, c.value, c.values) for c in conds] == [
        ("segment", "==", "gold", None), ("age", ">", "30", None), ("signup", ">=", "2020-01-01", None),
        ("country", "!=", "FR", None), ("income", "<=", "5.5", None), ("active", "==", True, None),
        ("visits", "==", 3, None), ("tier", "in", None, ("a", "b")), ("name", "==", "x y", None),
        ("code", "==", "7", None)]
    assert parse_conditions(None) == [] and parse_conditions({}) == []
    assert parse_conditions(conds) == conds  # already parsed: passed through


@pytest.mark.parametrize("raw", [
    {"age": ">"}, {"age": ">>3"}, {"age": ">=<3"}, {"age": "<= "}, {"age": None}, {"age": []},
    {"age": {"gt": 3}}, {"age": [[1]]}, {"age": float("nan")}, {"age": [">3"]}, {"": 1},
])
def test_malformed_conditions_are_invalid_requests(raw):
    err = error_of(parse_conditions, raw)
    assert err.code == "INVALID_REQUEST" and err.status == 400
    column = next(iter(raw))
    assert err.field == (f"conditions.{column}" if column else "conditions")


def test_conditions_must_be_an_object():
    assert error_of(parse_conditions, ["age", 3]).field == "conditions"


# ---------------------------------------------------------------- summaries


def test_summaries_are_json_and_describe_each_kind(table, summary):
    json.dumps(summary)
    assert {k: v["kind"] for k, v in summary.items()} == {
        "age": "numerical", "income": "numerical", "segment": "categorical", "country": "categorical",
        "active": "boolean", "signup": "datetime", "seen_at": "datetime", "score": "numerical", "empty": "empty"}
    age = summary["age"]
    assert (age["min"], age["max"], age["integer"], age["decimals"]) == (table.age.min(), table.age.max(), True, 0)
    assert len(age["quantiles"]) == 101
    assert summary["income"]["decimals"] == 2 and 0.05 < summary["income"]["null_share"] < 0.15
    segment = summary["segment"]
    assert dict(zip(segment["values"], segment["counts"])) == table.segment.value_counts().to_dict()
    assert segment["truncated"] is False
    assert summary["signup"]["datetime_format"] == "%Y-%m-%d" and summary["signup"]["resolution"] == "D"
    assert summary["seen_at"]["datetime_format"] is None and summary["seen_at"]["resolution"] == "min"
    assert summary["active"]["values"] == [True, False]


def test_categorical_values_are_capped():
    df = pd.DataFrame({"code": [f"c{i}" for i in range(50)] + ["c0"] * 5})
    info = summarize_columns(df, max_values=10)["code"]
    assert len(info["values"]) == 10 and info["values"][0] == "c0" and info["truncated"] is True
    assert info["distinct"] == 50
    # a value beyond the cap cannot be proven unseen: accepted
    assert check_conditions(parse_conditions({"code": "c42"}), {"code": info})[0].value == "c42"


# ---------------------------------------------------------------- checks


def test_check_types_values(summary):
    checked = check_conditions(parse_conditions({"age": ">30", "segment": ["gold", "platinum"], "active": "true",
                                                 "signup": "< 2023-03-01", "income": "40000"}), summary)
    by = {c.column: c for c in checked}
    assert by["age"].value == 30.0 and by["segment"].values == ("gold",) and by["active"].value is True
    assert by["signup"].value == pd.Timestamp("2023-03-01").value / 1e9
    assert by["income"].op == "==" and by["income"].value == 40000.0
    assert all(c.typed for c in checked)
    assert check_conditions(checked, summary) == checked  # idempotent


def test_unknown_column_is_an_invalid_request(summary):
    err = error_of(check_conditions, parse_conditions({"nope": 1}), summary)
    assert (err.code, err.field) == ("INVALID_REQUEST", "conditions.nope")
    assert "nope" in err.message and "age" in err.message


@pytest.mark.parametrize("raw,fragment", [
    ({"segment": "platinum"}, "never appears"),
    ({"segment": ["platinum", "iron"]}, "never appears"),
    ({"segment": ">gold"}, "makes no sense"),
    ({"active": "<1"}, "makes no sense"),
    ({"age": ">200"}, "range 18 to 89"),
    ({"age": "<18"}, "range"),
    ({"age": "== 30.5"}, "integer"),
    ({"age": [100, 200]}, "none of"),
    ({"signup": ">= 2030-01-01"}, "range"),
    ({"signup": "2023-03-05 12:00"}, "date"),
    ({"empty": 1}, "no values"),
])
def test_infeasible_conditions_are_constraint_violations(summary, raw, fragment):
    err = error_of(check_conditions, parse_conditions(raw), summary)
    column = next(iter(raw))
    assert (err.code, err.field, err.status) == ("CONSTRAINT_VIOLATION", f"conditions.{column}", 400)
    assert fragment in err.message


@pytest.mark.parametrize("raw", [{"age": "> abc"}, {"signup": "> someday"}, {"signup": 5},
                                 {"active": "maybe"}, {"age": True}])
def test_values_of_the_wrong_type_are_invalid_requests(summary, raw):
    err = error_of(check_conditions, parse_conditions(raw), summary)
    assert (err.code, err.field) == ("INVALID_REQUEST", f"conditions.{next(iter(raw))}")


def test_edges_of_the_range_are_feasible(summary):
    check_conditions(parse_conditions({"age": ">= 89", "income": "> 1", "signup": "<= 2023-01-01"}), summary)
    check_conditions(parse_conditions({"age": "> 88.5", "country": "!=FR"}), summary)


def test_not_equal_on_a_constant_column_is_infeasible():
    summary = summarize_columns(pd.DataFrame({"k": ["same"] * 5, "n": [3] * 5}))
    assert error_of(check_conditions, parse_conditions({"k": "!=same"}), summary).code == "CONSTRAINT_VIOLATION"
    assert error_of(check_conditions, parse_conditions({"n": "!=3"}), summary).code == "CONSTRAINT_VIOLATION"


# ---------------------------------------------------------------- drawing and testing rows


CONDITIONS = {"segment": ["gold", "silver"], "age": ">60", "income": "<= 30000", "signup": ">= 2023-06-01",
              "country": "!=FR", "active": False, "seen_at": "< 2023-02-01 12:00", "score": "> 55.5"}


def test_drawn_values_meet_their_conditions_and_follow_the_training_data(table, summary):
    checked = check_conditions(parse_conditions(CONDITIONS), summary)
    known = draw_known(checked, summary, 4000, np.random.default_rng(0))
    assert len(known) == 4000 and condition_mask(checked, known, summary).all()
    assert known["age"].dtype == np.int64 and known["age"].between(61, 89).all()
    assert (known["income"] == known["income"].round(2)).all()
    assert (known["signup"] >= "2023-06-01").all() and known["signup"].str.len().eq(10).all()
    assert known["seen_at"].dtype == "datetime64[ns]" and (known["seen_at"].dt.second == 0).all()
    assert set(known["active"]) == {False}
    # list values are weighted by their training frequency
    shares = known["segment"].value_counts(normalize=True)
    expected = table.segment.value_counts()[["gold", "silver"]]
    assert abs(shares["silver"] - expected["silver"] / expected.sum()) < 0.05
    # ranges follow the training marginal, restricted: the median of drawn incomes is near the training one's
    real = table.income[table.income <= 30000].median()
    assert abs(known["income"].median() - real) / real < 0.1


def test_same_generator_same_draws(summary):
    checked = check_conditions(parse_conditions(CONDITIONS), summary)
    first = draw_known(checked, summary, 50, np.random.default_rng(7))
    assert first.equals(draw_known(checked, summary, 50, np.random.default_rng(7)))


def test_mask_rejects_rows_that_break_a_condition(summary):
    checked = check_conditions(parse_conditions({"age": ">60", "segment": "gold", "signup": "< 2023-02-01"}),
                               summary)
    frame = pd.DataFrame({"age": [61, 60, 70, None], "segment": ["gold", "gold", "silver", "gold"],
                          "signup": ["2023-01-05", "2023-01-05", "2023-01-05", "2023-01-05"]})
    assert condition_mask(checked, frame, summary).tolist() == [True, False, False, False]


def test_snap_sets_near_values_exactly(summary):
    checked = check_conditions(parse_conditions({"score": "== 50.5", "age": 40}), summary)
    frame = pd.DataFrame({"score": [50.52, 80.0, 50.49], "age": [40, 40, 41]})
    snapped = snap_near(checked, frame, summary)
    assert snapped["score"].tolist() == [50.5, 80.0, 50.5] and snapped["age"].tolist() == [40, 40, 41]


def test_condition_describes_itself():
    assert Condition("age", ">", 30).describe() == "age > 30"
    assert Condition("tier", "in", values=("a", "b")).describe() == "tier in ['a', 'b']"
