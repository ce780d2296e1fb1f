"""Conditional sampling on every tabular adapter: each row meets each condition, seeds repeat, no "unable to
sample" for feasible conditions, and a clear CONSTRAINT_VIOLATION (not a hang) when nothing can meet them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tasks.tabular.conditions import parse_conditions
from inferloop.core.errors import InferloopError
from tasks.tabular.sample import sample_rows
from tasks.tabular.synthesizers import build, load_model
from tests.tabular_data import customers

FAST = {"epochs": 1, "batch_size": 100}
KEYS = ("sdv:gaussian_copula", "sdv:ctgan", "ctgan")
CONDITIONS = {"segment": ["gold", "silver"], "age": ">40", "country": "!=FR", "signup": ">= 2023-03-01"}


def expect_all_met(out: pd.DataFrame) -> None:
    """The CONDITIONS above, checked with plain pandas."""
    assert out["segment"].isin(["gold", "silver"]).all()
    assert (out["age"] > 40).all()
    assert (out["country"] != "FR").all() and out["country"].notna().all()
    assert (pd.to_datetime(out["signup"], format="%Y-%m-%d") >= "2023-03-01").all()


def error_of(call, *args, **kwargs) -> InferloopError:
    with pytest.raises(InferloopError) as info:
        call(*args, **kwargs)
    return info.value


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return customers(300)


@pytest.fixture(scope="module")
def fitted(table):
    cache = {}

    def get(model_key: str):
        if model_key not in cache:
            model = build(model_key, {} if model_key == "sdv:gaussian_copula" else FAST)
            model.fit(table, seed=3)
            cache[model_key] = model
        return cache[model_key]

    return get


@pytest.mark.parametrize("model_key", KEYS)
def test_every_row_meets_every_condition(fitted, table, model_key):
    model = fitted(model_key)
    out = model.sample(150, seed=1, conditions=CONDITIONS)
    assert len(out) == 150 and list(out.columns) == list(table.columns)
    assert dict(out.dtypes) == dict(table.dtypes)
    expect_all_met(out)
    # parsed conditions work the same as the raw object
    assert model.sample(150, seed=1, conditions=parse_conditions(CONDITIONS)).equals(out)


@pytest.mark.parametrize("model_key", KEYS)
def test_same_seed_same_rows(fitted, tmp_path, model_key):
    model = fitted(model_key)
    first = model.sample(80, seed=5, conditions=CONDITIONS)
    assert model.sample(80, seed=5, conditions=CONDITIONS).equals(first)
    assert not model.sample(80, seed=6, conditions=CONDITIONS).equals(first)
    model.save(str(tmp_path / "m.pkl"))
    assert load_model(str(tmp_path / "m.pkl")).sample(80, seed=5, conditions=CONDITIONS).equals(first)


@pytest.mark.parametrize("model_key", ["sdv:gaussian_copula", "sdv:ctgan"])
def test_exact_continuous_values_never_fail(fitted, table, model_key):
    """SDV itself would reject-sample these and raise "Unable to sample any rows"."""
    model = fitted(model_key)
    income = float(table["income"].dropna().iloc[7]) + 0.01  # a value never seen, inside the range
    out = model.sample(120, seed=2, conditions={"income": income, "age": [33, 71], "segment": "gold",
                                                "active": False})
    assert (out["income"] == income).all() and out["age"].isin([33, 71]).all()
    assert (out["segment"] == "gold").all() and (~out["active"]).all()


def test_gaussian_copula_conditions_natively(fitted):
    """Few distinct known rows go through sample_remaining_columns, many through the vectorised copula."""
    model = fitted("sdv:gaussian_copula")
    few = model.sample(200, seed=1, conditions={"segment": "gold", "country": ["DE", "US"]})
    assert (few["segment"] == "gold").all() and few["country"].isin(["DE", "US"]).all()
    many = model.sample(3000, seed=1, conditions={"age": ">= 50", "income": "< 30000"})
    assert (many["age"] >= 50).all() and (many["income"] < 30000).all()
    assert many["age"].nunique() > 30


def test_conditioned_values_keep_their_relations_with_the_other_columns():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, 400)
    data = pd.DataFrame({"x": np.round(x, 3), "y": np.round(2 * x + rng.normal(0, 0.3, 400), 3)})
    model = build("sdv:gaussian_copula", {"default_distribution": "norm"})
    model.fit(data, seed=1)
    high = model.sample(500, seed=1, conditions={"x": "> 1"})
    low = model.sample(500, seed=1, conditions={"x": "< -1"})
    assert (high["x"] > 1).all() and (low["x"] < -1).all()
    assert high["y"].mean() > 2 and low["y"].mean() < -2  # y follows x, not its unconditional mean 0


def test_rare_categories_with_a_neural_sdv_model(fitted, table):
    rare = table["country"].value_counts().index[-1]
    out = fitted("sdv:ctgan").sample(100, seed=4, conditions={"country": rare, "segment": "gold", "age": "<30"})
    assert (out["country"] == rare).all() and (out["segment"] == "gold").all() and (out["age"] < 30).all()


@pytest.mark.parametrize("model_key", KEYS)
def test_bad_conditions_fail_before_sampling(fitted, model_key):
    model = fitted(model_key)
    err = error_of(model.sample, 10, conditions={"nope": 1})
    assert (err.code, err.field) == ("INVALID_REQUEST", "conditions.nope")
    err = error_of(model.sample, 10, conditions={"segment": "platinum"})
    assert (err.code, err.field) == ("CONSTRAINT_VIOLATION", "conditions.segment")
    err = error_of(model.sample, 10, conditions={"age": "> 120"})
    assert (err.code, err.field) == ("CONSTRAINT_VIOLATION", "conditions.age")
    assert error_of(model.sample, 10, conditions={"age": ">>1"}).code == "INVALID_REQUEST"


@pytest.mark.parametrize("model_key", ["sdv:gaussian_copula", "ctgan"])
def test_jointly_impossible_conditions_end_with_a_clear_error(model_key):
    """Each condition is feasible alone; with `b >= a` holding in every row, together they are not."""
    rng = np.random.default_rng(2)
    a = rng.integers(0, 50, 200)
    data = pd.DataFrame({"a": a, "b": a + rng.integers(0, 50, 200)})
    model = build(model_key, {} if model_key.startswith("sdv") else {"epochs": 1, "batch_size": 1000})
    model.fit(data, seed=1, constraints=[{"type": "relationship", "expression": "b >= a"}])
    err = error_of(model.sample, 20, seed=1, conditions={"a": int(data.a.max()), "b": int(data.b.min())})
    assert err.code == "CONSTRAINT_VIOLATION" and err.status == 400
    assert "Could make only 0 of 20 rows" in err.message
    assert err.extra["rows_possible"] == 0


@pytest.mark.parametrize("model_key", KEYS)
def test_training_metadata_describes_every_column(fitted, table, model_key):
    columns = fitted(model_key).training_metadata["columns"]
    assert set(columns) == set(table.columns)
    assert columns["segment"]["kind"] == "categorical" and "gold" in columns["segment"]["values"]
    assert (columns["age"]["min"], columns["age"]["max"]) == (table.age.min(), table.age.max())
    assert columns["signup"]["kind"] == "datetime"


def test_the_sample_task_passes_conditions(fitted):
    model = fitted("sdv:gaussian_copula")
    out = sample_rows.fn(model, 40, 9, conditions={"segment": "silver"})
    assert len(out) == 40 and (out["segment"] == "silver").all()
    assert out.equals(model.sample(40, seed=9, conditions={"segment": "silver"}))


def test_unconditioned_sampling_is_unchanged(fitted):
    model = fitted("sdv:gaussian_copula")
    plain = model.sample(50, seed=3)
    assert model.sample(50, seed=3, conditions=None).equals(plain)
    assert model.sample(50, seed=3, conditions={}).equals(plain)
