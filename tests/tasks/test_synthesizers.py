"""The synthesizer registry: parameter resolution, the five model keys, seeds, save/load and odd data."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pandas as pd
import pytest

from inferloop.core.errors import InferloopError
from tasks.tabular.synthesizers import (ALGORITHMS, MODEL_KEYS, SDV_MODELS, Synthesizer, build, load_model,
                                        resolve)

NEURAL = ("sdv:ctgan", "sdv:copulagan", "sdv:tvae", "ctgan")
FAST = {"epochs": 1, "batch_size": 100}
DATE_FORMATS = {"day": "%Y-%m-%d", "us": "%m/%d/%Y", "stamp": "%d %b %Y %H:%M"}


def mixed_table(n: int = 300, seed: int = 3) -> pd.DataFrame:
    """Ints, ints with NaN, floats with NaN, a categorical, a boolean and a date string column."""
    rng = np.random.default_rng(seed)
    visits = rng.integers(0, 20, n).astype(float)
    visits[rng.random(n) < 0.15] = np.nan
    income = np.round(rng.lognormal(10, 0.5, n), 2)
    income[rng.random(n) < 0.1] = np.nan
    return pd.DataFrame({
        "age": rng.integers(18, 90, n),
        "visits": visits,
        "income": income,
        "segment": [str(v) for v in rng.choice(["gold", "silver", "bronze"], n, p=[0.2, 0.3, 0.5])],
        "active": rng.random(n) < 0.7,
        "signup": pd.date_range("2023-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
    })


def fit_sample(model_key: str, data: pd.DataFrame, num_rows: int = 80, seed: int = 0) -> pd.DataFrame:
    """Fit a fresh model (epochs=1 for neural ones) and sample, checking the frame's shape."""
    model = build(model_key, FAST if model_key in NEURAL else {})
    model.fit(data, seed=seed)
    out = model.sample(num_rows, seed=seed)
    assert list(out.columns) == list(data.columns)
    assert len(out) == num_rows
    return out


def error_of(call, *args, **kwargs) -> InferloopError:
    """Run `call` and return the InferloopError it raises."""
    with pytest.raises(InferloopError) as info:
        call(*args, **kwargs)
    return info.value


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return mixed_table()


class Recorder(list):
    """A progress callback that refuses to be pickled, so a model that kept it could not be saved."""

    def __call__(self, fraction: float, message: str) -> None:
        self.append((fraction, message))

    def __reduce__(self):
        raise TypeError("the progress callback must not be pickled with the model")


@pytest.fixture(scope="module")
def fitted(table):
    """One model per key, fitted once with seed 7 and epochs=1, plus the progress reports it made."""
    cache: dict[str, tuple[Synthesizer, Recorder]] = {}

    def get(model_key: str) -> tuple[Synthesizer, Recorder]:
        if model_key not in cache:
            reports = Recorder()
            model = build(model_key, FAST)
            model.fit(table, seed=7, progress=reports)
            cache[model_key] = model, reports
        return cache[model_key]

    return get


# ---------------------------------------------------------------- resolve


def test_documented_names():
    assert ALGORITHMS == ("sdv", "ctgan", "tabular_argn", "ydata")
    assert SDV_MODELS == ("gaussian_copula", "ctgan", "copulagan", "tvae")
    assert MODEL_KEYS == ("sdv:gaussian_copula", "sdv:ctgan", "sdv:copulagan", "sdv:tvae", "ctgan",
                          "tabular_argn")


@pytest.mark.parametrize(("algorithm", "params", "key"), [
    ("sdv", {}, "sdv:gaussian_copula"),
    (None, {}, "sdv:gaussian_copula"),
    (" SDV ", {"sdv_model": "CTGAN"}, "sdv:ctgan"),
    ("sdv", {"sdv_model": "copulagan"}, "sdv:copulagan"),
    ("sdv", {"sdv_model": "tvae"}, "sdv:tvae"),
    ("sdv", {"sdv_model": "gaussian-copula"}, "sdv:gaussian_copula"),
    ("ctgan", {"sdv_model": "nonsense"}, "ctgan"),
])
def test_resolve_model_keys(algorithm, params, key):
    assert resolve(algorithm, params)[0] == key


def test_resolve_fills_defaults_and_keeps_only_applicable_params():
    assert resolve("sdv", {"epochs": 5, "seed": 3, "noise_dim": 64}) == (
        "sdv:gaussian_copula", {"sdv_model": "gaussian_copula", "default_distribution": "beta",
                                "enforce_min_max": True})
    assert resolve("ctgan", {"default_distribution": "norm"})[1] == {
        "epochs": 300, "batch_size": 500, "embedding_dim": 128, "discriminator_steps": 1,
        "enforce_min_max": True}
    assert "discriminator_steps" not in resolve("sdv", {"sdv_model": "tvae"})[1]
    assert resolve("sdv", {"sdv_model": "copulagan"})[1]["default_distribution"] == "beta"


def test_resolve_coerces_form_strings():
    key, clean = resolve("ctgan", {"epochs": "50", "batch_size": " 200 ", "embedding_dim": 64.0,
                                   "discriminator_steps": "2.0", "enforce_min_max": "false"})
    assert key == "ctgan"
    assert clean == {"epochs": 50, "batch_size": 200, "embedding_dim": 64, "discriminator_steps": 2,
                     "enforce_min_max": False}
    _, clean = resolve("sdv", {"default_distribution": " Norm ", "enforce_min_max": "TRUE"})
    assert clean == {"sdv_model": "gaussian_copula", "default_distribution": "norm", "enforce_min_max": True}
    form = {"sdv_model": "tvae", "epochs": np.int64(3), "enforce_min_max": 0, "batch_size": ""}
    _, clean = resolve("sdv", form)
    assert clean == {"sdv_model": "tvae", "epochs": 3, "batch_size": 500, "embedding_dim": 128,
                     "enforce_min_max": False}


@pytest.mark.parametrize("algorithm,params", [
    ("sdv", {"sdv_model": "tvae", "epochs": "7"}), ("sdv", {"sdv_model": "copulagan"}), ("sdv", {}),
    ("ctgan", {"epochs": 3}),
])
def test_resolve_is_idempotent(algorithm, params):
    """The API resolves, the flow resolves again: the model must not change on the way."""
    first = resolve(algorithm, params)
    assert resolve(algorithm, first[1]) == first


def test_resolve_ignores_bad_values_of_params_that_do_not_apply():
    bad_but_unused = {"epochs": "abc", "batch_size": 7, "discriminator_steps": -1}
    assert resolve("sdv", bad_but_unused)[0] == "sdv:gaussian_copula"
    assert resolve("ctgan", {"default_distribution": "cauchy"})[0] == "ctgan"


def test_unknown_algorithm():
    err = error_of(resolve, "x", {})
    assert (err.code, err.field) == ("INVALID_ALGORITHM", "algorithm")
    assert err.message == "Algorithm 'x' is not supported. Valid options are: sdv, ctgan, tabular_argn, ydata"


def test_ydata_parameters_are_checked_here_and_built_only_in_its_environment():
    key, params = resolve("ydata", {"ydata_model": "WGAN-GP", "noise_dim": "64", "learning_rate": "0.001",
                                    "discriminator_lr": 0.003})
    assert key == "ydata:wgangp"
    assert (params["noise_dim"], params["generator_lr"], params["discriminator_lr"]) == (64, 0.001, 0.003)
    assert resolve("ydata", params) == (key, params)
    assert resolve("ydata", {})[0] == "ydata:ctgan"
    for bad, field in [({"ydata_model": "gan"}, "ydata_model"), ({"beta_1": 1}, "beta_1"),
                       ({"privacy_level": "medium"}, "privacy_level"), ({"batch_size": 25, "pac": 5}, "batch_size")]:
        assert error_of(resolve, "ydata", bad).field == field
    err = error_of(build, "ydata:ctgan", {})  # no ydata-synthetic in the main environment: no silent fallback
    assert (err.code, err.field) == ("ALGORITHM_ERROR", "algorithm")
    assert "INFERLOOP_YDATA=1 scripts/setup.sh" in err.message


def test_unknown_sdv_model():
    err = error_of(resolve, "sdv", {"sdv_model": "bayes"})
    assert (err.code, err.field) == ("INVALID_REQUEST", "sdv_model")
    assert "gaussian_copula, ctgan, copulagan, tvae" in err.message


@pytest.mark.parametrize(("algorithm", "params", "field"), [
    ("ctgan", {"epochs": 0}, "epochs"),
    ("ctgan", {"epochs": "-3"}, "epochs"),
    ("ctgan", {"epochs": "abc"}, "epochs"),
    ("ctgan", {"epochs": 1.5}, "epochs"),
    ("ctgan", {"epochs": True}, "epochs"),
    ("ctgan", {"epochs": 10**9}, "epochs"),
    ("ctgan", {"batch_size": "0"}, "batch_size"),
    ("ctgan", {"embedding_dim": 0}, "embedding_dim"),
    ("ctgan", {"discriminator_steps": "0"}, "discriminator_steps"),
    ("ctgan", {"enforce_min_max": "maybe"}, "enforce_min_max"),
    ("sdv", {"enforce_min_max": 2}, "enforce_min_max"),
    ("sdv", {"default_distribution": "cauchy"}, "default_distribution"),
    ("sdv", {"sdv_model": "copulagan", "default_distribution": 3}, "default_distribution"),
    ("sdv", {"sdv_model": "tvae", "embedding_dim": "x"}, "embedding_dim"),
])
def test_bad_param_values(algorithm, params, field):
    err = error_of(resolve, algorithm, params)
    assert (err.code, err.field) == ("INVALID_REQUEST", field)
    assert field in err.message


@pytest.mark.parametrize("algorithm, params", [
    ("ctgan", {"batch_size": 55}),
    ("sdv", {"sdv_model": "ctgan", "batch_size": "64"}),
    ("sdv", {"sdv_model": "copulagan", "batch_size": 5}),
])
def test_batch_size_must_be_a_multiple_of_pac(algorithm, params):
    err = error_of(resolve, algorithm, params)
    assert (err.code, err.field) == ("INVALID_REQUEST", "batch_size")
    assert "multiple of pac (10)" in err.message


def test_tvae_has_no_pac():
    assert resolve("sdv", {"sdv_model": "tvae", "batch_size": 64})[1]["batch_size"] == 64


def test_build_checks_the_model_key_and_params():
    assert error_of(build, "sdv:bayes", {}).code == "INVALID_ALGORITHM"
    assert error_of(build, "ctgan", {"epochs": 0}).field == "epochs"
    model = build("sdv:gaussian_copula", {"epochs": 3})
    assert isinstance(model, Synthesizer)
    assert (model.model_key, model.params, model.device) == (
        "sdv:gaussian_copula", {"default_distribution": "beta", "enforce_min_max": True}, "cpu")
    assert model.training_metadata == {}


# ---------------------------------------------------------------- the five models


@pytest.mark.parametrize("model_key", MODEL_KEYS)
def test_fit_and_sample_mixed_table(fitted, table, model_key):
    model, _ = fitted(model_key)
    out = model.sample(120, seed=1)
    assert list(out.columns) == list(table.columns)
    assert len(out) == 120
    assert dict(out.dtypes) == dict(table.dtypes)
    assert set(out["segment"].dropna()) <= set(table["segment"])
    pd.to_datetime(out["signup"].dropna(), format="%Y-%m-%d")  # raises if the representation changed
    visits = out["visits"].dropna()
    assert (visits == visits.round()).all()
    assert out["age"].between(18, 89).all()  # enforce_min_max is on by default
    json.dumps(model.training_metadata)
    assert model.training_metadata


@pytest.mark.parametrize("model_key", MODEL_KEYS)
def test_progress_reports(fitted, model_key):
    _, reports = fitted(model_key)
    fractions = [f for f, _ in reports]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert fractions == sorted(fractions)
    if model_key in NEURAL:
        assert any(message == "Epoch 1/1" for _, message in reports)


def test_progress_every_epoch(table):
    reports = Recorder()
    build("ctgan", {"epochs": 4, "batch_size": 100}).fit(table.head(100), progress=reports)
    assert [f for f, m in reports if m.startswith("Epoch")] == [0.25, 0.5, 0.75, 1.0]


@pytest.mark.parametrize("model_key", MODEL_KEYS)
def test_same_seed_same_rows_also_after_save_and_load(fitted, tmp_path, model_key):
    model, _ = fitted(model_key)
    first = model.sample(60, seed=11)
    model.sample(60)  # advancing the generator in between changes nothing
    assert model.sample(60, seed=11).equals(first)
    assert not model.sample(60, seed=12).equals(first)
    path = tmp_path / "model.pkl"
    model.save(str(path))
    loaded = load_model(str(path))
    assert (loaded.model_key, loaded.params) == (model.model_key, model.params)
    assert loaded.sample(60, seed=11).equals(first)
    assert loaded.training_metadata == model.training_metadata


@pytest.mark.parametrize("model_key", ["sdv:gaussian_copula", "sdv:ctgan", "ctgan"])
def test_fitting_twice_with_the_same_seed_gives_the_same_model(fitted, table, model_key):
    model, _ = fitted(model_key)
    again = build(model_key, FAST)
    again.fit(table, seed=7)
    assert again.sample(60, seed=5).equals(model.sample(60, seed=5))


def test_fit_seed_does_not_leak_into_global_random_state(table):
    np.random.seed(123)
    expected = np.random.random()
    np.random.seed(123)
    build("sdv:gaussian_copula", {}).fit(table.head(50), seed=1)
    assert np.random.random() == expected


# ---------------------------------------------------------------- odd but valid data


@pytest.mark.parametrize("model_key", ["sdv:gaussian_copula", "ctgan"])
def test_single_column(model_key):
    data = pd.DataFrame({"amount": np.random.default_rng(1).normal(50, 5, 200)})
    out = fit_sample(model_key, data)
    assert out["amount"].dtype == np.float64 and out["amount"].notna().all()


@pytest.mark.parametrize("model_key", ["sdv:gaussian_copula", "ctgan"])
def test_all_null_columns(model_key):
    data = pd.DataFrame({"x": np.arange(200) % 7, "empty_float": np.nan,
                         "empty_obj": pd.Series([None] * 200, dtype=object)})
    out = fit_sample(model_key, data)
    assert out["empty_float"].isna().all() and out["empty_obj"].isna().all()
    assert out["x"].notna().all()
    assert dict(out.dtypes) == dict(data.dtypes)


def test_only_all_null_columns():
    data = pd.DataFrame({"a": [np.nan] * 50, "b": pd.Series([None] * 50, dtype=object)})
    model = build("ctgan", FAST)
    model.fit(data, seed=1)
    out = model.sample(10, seed=1)
    assert out.shape == (10, 2) and out.isna().all().all()
    assert model.training_metadata == {}


@pytest.mark.parametrize("model_key", ["sdv:gaussian_copula", "ctgan"])
def test_constant_columns(model_key):
    data = pd.DataFrame({"k_int": [5] * 200, "k_float": [1.5] * 200, "k_str": ["same"] * 200,
                         "v": np.random.default_rng(2).normal(size=200)})
    out = fit_sample(model_key, data)
    assert (out["k_int"] == 5).all() and (out["k_float"] == 1.5).all() and (out["k_str"] == "same").all()


@pytest.mark.parametrize("model_key", ["sdv:gaussian_copula", "ctgan"])
def test_unicode_names_and_values(model_key):
    rng = np.random.default_rng(4)
    values = ["città", "名前", "émoji 🎉", "Zürich"]
    data = pd.DataFrame({"città": rng.choice(values, 200).tolist(),
                         "名前": rng.choice(["山田", "田中"], 200).tolist(),
                         "émoji 🎉": rng.integers(0, 9, 200)})
    out = fit_sample(model_key, data)
    assert set(out["città"]) <= set(values) and set(out["名前"]) <= {"山田", "田中"}


@pytest.mark.parametrize("model_key", ["sdv:gaussian_copula", "ctgan"])
def test_datetime_strings_keep_their_formats(model_key):
    dates = pd.Series(pd.date_range("2024-01-15", periods=250, freq="37h"))
    data = pd.DataFrame({name: dates.dt.strftime(fmt) for name, fmt in DATE_FORMATS.items()})
    data.loc[::10, "us"] = None
    out = fit_sample(model_key, data)
    for name, fmt in DATE_FORMATS.items():
        parsed = pd.to_datetime(out[name].dropna(), format=fmt)  # raises if the format changed
        assert parsed.between(dates.min() - pd.Timedelta("1D"), dates.max() + pd.Timedelta("1D")).all()
    assert out["day"].notna().all()


def test_many_categories():
    data = pd.DataFrame({"code": [f"cat_{i % 2000}" for i in range(4000)],
                         "value": np.random.default_rng(5).normal(size=4000)})
    out = fit_sample("sdv:gaussian_copula", data, num_rows=500)
    assert set(out["code"]) <= set(data["code"]) and out["code"].nunique() > 100


@pytest.mark.parametrize("model_key", ["sdv:gaussian_copula", "ctgan"])
def test_booleans(model_key):
    rng = np.random.default_rng(6)
    data = pd.DataFrame({"flag": rng.random(200) < 0.3,
                         "maybe": rng.choice([True, False, None], 200).tolist(),
                         "n": rng.integers(0, 5, 200)})
    out = fit_sample(model_key, data)
    assert out["flag"].dtype == bool
    assert set(out["maybe"].dropna()) <= {True, False}


@pytest.mark.parametrize("model_key", ["sdv:gaussian_copula", "ctgan"])
def test_ints_with_nan(model_key):
    rng = np.random.default_rng(8)
    as_float = rng.integers(0, 100, 200).astype(float)
    as_float[::5] = np.nan
    data = pd.DataFrame({"as_float": as_float, "nullable": pd.array(as_float, dtype="Int64")})
    out = fit_sample(model_key, data)
    assert dict(out.dtypes) == dict(data.dtypes)
    values = out["as_float"].dropna()
    assert (values == values.round()).all() and values.between(0, 99).all()


def test_category_dtype_with_sdv_ctgan():
    rng = np.random.default_rng(9)
    data = pd.DataFrame({"tier": pd.Categorical(rng.choice(["a", "b", "c"], 200)), "v": rng.normal(size=200)})
    out = fit_sample("sdv:ctgan", data)
    assert isinstance(out["tier"].dtype, pd.CategoricalDtype)
    assert list(out["tier"].cat.categories) == ["a", "b", "c"]


def test_timezone_aware_datetimes_with_ctgan():
    data = pd.DataFrame({"at": pd.date_range("2024-03-01", periods=200, freq="h", tz="Europe/Rome"),
                         "v": np.arange(200)})
    out = fit_sample("ctgan", data)
    assert str(out["at"].dtype) == "datetime64[ns, Europe/Rome]"


# ---------------------------------------------------------------- bad input to fit / sample / load


def test_one_row_is_too_few_for_neural_models_only():
    one = pd.DataFrame({"a": [1.5], "b": ["x"]})
    err = error_of(build("ctgan", FAST).fit, one)
    assert (err.code, err.field) == ("ALGORITHM_ERROR", "algorithm")
    assert len(fit_sample("sdv:gaussian_copula", one, num_rows=3)) == 3


def test_unusable_frames():
    model = build("sdv:gaussian_copula", {})
    assert error_of(model.fit, pd.DataFrame()).code == "INVALID_FILE"
    assert error_of(model.fit, pd.DataFrame({"a": []})).code == "INVALID_FILE"
    twice = pd.DataFrame([[1, 2]], columns=["a", "a"])
    assert "a" in error_of(model.fit, twice).message
    with pytest.raises(TypeError):
        model.fit([[1, 2]])


def test_bad_sample_calls(fitted):
    assert error_of(build("sdv:gaussian_copula", {}).sample, 5).code == "ALGORITHM_ERROR"
    model, _ = fitted("sdv:gaussian_copula")
    assert error_of(model.sample, 0).field == "num_rows"
    assert error_of(model.sample, 5, seed=-1).field == "seed"
    assert len(model.sample("7", seed="3")) == 7


def test_load_model_rejects_other_pickles(tmp_path):
    path = tmp_path / "not-a-model.pkl"
    path.write_bytes(pickle.dumps({"a": 1}))
    assert error_of(load_model, str(path)).code == "INVALID_FILE"
