"""Constraints on every tabular adapter: all four kinds hold in 100% of generated rows (checked with plain
pandas), training data that breaks one is rejected before training, and seeds and save/load keep working."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from inferloop.core.errors import InferloopError
from tasks.tabular.synthesizers import build, load_model
from tasks.tabular.train import train_model

KEYS = ("sdv:gaussian_copula", "sdv:ctgan", "ctgan")
CONSTRAINTS = {"name": "rules", "constraints": [
    {"type": "range", "column": "age", "min": 18, "max": 65},
    {"type": "relationship", "expression": "end_date >= start_date"},
    {"type": "relationship", "expression": "score > 25"},
    {"type": "relationship", "expression": "segment != 'platinum'"},
    {"type": "unique", "columns": ["q4"]},
    {"type": "sum", "columns": ["q1", "q2", "q3", "q4"], "total": "annual_total"},
]}


def accounts(n: int = 300, seed: int = 5) -> pd.DataFrame:
    """Dates in order, quarters adding up to a total, ages in range, a unique float column and string ids."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D")
    q = rng.integers(0, 100, (n, 4)).astype(float)
    q[:, 3] = rng.choice(np.arange(0, 5000), n, replace=False) / 100  # 2 decimals, all distinct
    return pd.DataFrame({
        "customer_id": [f"C{i:04d}" for i in range(n)],
        "age": rng.integers(18, 66, n),
        "segment": [str(v) for v in rng.choice(["gold", "silver", "bronze"], n)],
        "start_date": start.strftime("%Y-%m-%d"),
        "end_date": (start + pd.to_timedelta(rng.integers(0, 60, n), unit="D")).strftime("%Y-%m-%d"),
        "q1": q[:, 0], "q2": q[:, 1], "q3": q[:, 2], "q4": q[:, 3],
        "annual_total": q.sum(axis=1).round(2),
        "score": np.round(np.clip(rng.normal(50, 8, n), 26, 90), 1),
    })


def expect_all_hold(out: pd.DataFrame) -> None:
    """Every rule of CONSTRAINTS, checked independently of the constraint classes."""
    assert out["age"].between(18, 65).all()
    assert (pd.to_datetime(out["end_date"]) >= pd.to_datetime(out["start_date"])).all()
    assert (out["score"] > 25).all()
    assert (out["segment"] != "platinum").all()
    assert out["q4"].is_unique
    parts = out[["q1", "q2", "q3", "q4"]].sum(axis=1)
    assert np.allclose(parts, out["annual_total"], rtol=1e-9, atol=1e-6)


def error_of(call, *args, **kwargs) -> InferloopError:
    with pytest.raises(InferloopError) as info:
        call(*args, **kwargs)
    return info.value


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return accounts()


@pytest.fixture(scope="module")
def fitted(table):
    cache = {}

    def get(model_key: str):
        if model_key not in cache:
            model = build(model_key, {} if model_key == "sdv:gaussian_copula" else {"epochs": 1, "batch_size": 500})
            model.fit(table, seed=1, constraints=CONSTRAINTS["constraints"])
            cache[model_key] = model
        return cache[model_key]

    return get


@pytest.mark.parametrize("model_key", KEYS)
def test_every_row_meets_every_constraint(fitted, table, model_key):
    out = fitted(model_key).sample(200, seed=3)
    assert len(out) == 200 and list(out.columns) == list(table.columns)
    expect_all_hold(out)


@pytest.mark.parametrize("model_key", KEYS)
def test_constraints_and_conditions_together(fitted, model_key):
    out = fitted(model_key).sample(60, seed=4, conditions={"segment": "gold", "age": ">= 40"})
    expect_all_hold(out)
    assert (out["segment"] == "gold").all() and (out["age"] >= 40).all()


@pytest.mark.parametrize("model_key", KEYS)
def test_seeds_and_save_load(fitted, tmp_path, model_key):
    model = fitted(model_key)
    first = model.sample(50, seed=8)
    assert model.sample(50, seed=8).equals(first)
    model.save(str(tmp_path / "m.pkl"))
    loaded = load_model(str(tmp_path / "m.pkl"))
    assert loaded.sample(50, seed=8).equals(first)
    assert loaded.training_metadata["constraints"][5] == {
        "type": "sum", "columns": ["q1", "q2", "q3", "q4"], "total": "annual_total"}


def test_sdv_gets_inequality_after_the_programmable_constraints(fitted):
    from sdv.cag import Inequality

    synth = fitted("sdv:gaussian_copula")._synth
    kinds = [type(getattr(c, "programmable_constraint", c)).__name__ for c in synth._chained_constraints]
    assert kinds[-1] == Inequality.__name__ and Inequality.__name__ not in kinds[:-1]
    assert kinds[:-1] == ["ValueRange", "ColumnVsConstant", "ColumnVsConstant", "UniqueColumns", "SumEquals"]


def test_the_generic_runner_trains_without_the_derived_total(fitted):
    codec_columns = fitted("ctgan")._codec.describe()["columns"]
    assert "annual_total" not in codec_columns and "q1" in codec_columns


def test_unique_ids_with_sdv(table):
    model = build("sdv:gaussian_copula", {})
    model.fit(table, seed=1, constraints=[{"type": "unique", "columns": ["customer_id"]}])
    assert model.sample(600, seed=1)["customer_id"].is_unique  # twice the training rows


def test_conditions_cannot_fix_a_computed_total(fitted):
    err = error_of(fitted("sdv:gaussian_copula").sample, 5, conditions={"annual_total": 100})
    assert (err.code, err.field) == ("CONSTRAINT_VIOLATION", "conditions.annual_total")


@pytest.mark.parametrize("constraint,fragment", [
    ({"type": "range", "column": "age", "min": 20, "max": 65}, "violated by"),
    ({"type": "relationship", "expression": "start_date > end_date"}, "violated by"),
    ({"type": "relationship", "expression": "score >= 60"}, "violated by"),
    ({"type": "unique", "columns": ["segment"]}, "violated by"),
    ({"type": "sum", "columns": ["q1", "q2"], "total": "annual_total"}, "violated by"),
    ({"type": "range", "column": "missing", "min": 0}, "does not have"),
    ({"type": "relationship", "expression": "segment > age"}, "cannot be compared"),
    ({"type": "range", "column": "segment", "min": 0}, "not numerical"),
])
@pytest.mark.parametrize("model_key", ["sdv:gaussian_copula", "ctgan"])
def test_training_data_that_breaks_a_constraint_is_rejected_before_training(table, model_key, constraint,
                                                                           fragment):
    model = build(model_key, {"epochs": 1})
    err = error_of(model.fit, table, constraints=[{"type": "unique", "columns": ["customer_id"]}, constraint])
    assert (err.code, err.field, err.status) == ("CONSTRAINT_VIOLATION", "constraints[1]", 400)
    assert fragment in err.message
    assert model._schema is None  # nothing was trained


def test_violations_are_counted(table):
    err = error_of(build("sdv:gaussian_copula", {}).fit, table,
                   constraints=[{"type": "range", "column": "age", "min": 30}])
    expected = int((table["age"] < 30).sum())
    assert f"violated by {expected} of 300 training rows" in err.message
    assert err.extra["violating_rows"] == expected


def test_all_null_columns_cannot_be_constrained(table):
    data = table.assign(empty=np.nan)
    err = error_of(build("ctgan", {"epochs": 1}).fit, data, constraints=[{"type": "range", "column": "empty", "max": 1}])
    assert err.code == "CONSTRAINT_VIOLATION" and "no values" in err.message


def test_the_train_task_passes_constraints(table):
    rules = [{"type": "relationship", "expression": "end_date >= start_date"}]
    model = train_model.fn(table, "sdv:gaussian_copula", {}, 1, constraints=rules)
    out = model.sample(100, seed=1)
    assert (pd.to_datetime(out["end_date"]) >= pd.to_datetime(out["start_date"])).all()
    bad = [{"type": "relationship", "expression": "start_date > end_date"}]
    assert error_of(train_model.fn, table, "sdv:gaussian_copula", {}, 1, constraints=bad).code == \
        "CONSTRAINT_VIOLATION"
