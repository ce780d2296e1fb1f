"""The `tabular_argn` algorithm (mostlyai-engine's TabularARGN): parameters, training, seeds, seeded
generation, differential privacy, and the `generate` flow called from Python."""

from __future__ import annotations

import math
import subprocess
import sys

import cloudpickle
import numpy as np
import pandas as pd
import pytest

from inferloop.core import storage
from inferloop.core.errors import InferloopError
from tasks.tabular.synthesizers import build, load_model, resolve
from tests.tabular_data import customers

FAST = {"max_epochs": 2, "model_size": "S", "batch_size": 32}


class Recorder(list):
    """A progress callback that refuses to be pickled, so a model that kept it could not be saved."""

    def __call__(self, fraction: float, message: str) -> None:
        self.append((fraction, message))

    def __reduce__(self):
        raise TypeError("the progress callback must not be pickled with the model")


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return customers(300)


@pytest.fixture(scope="module")
def fitted(table):
    """A model trained for 2 epochs with seed 7, and the progress it reported."""
    reports = Recorder()
    model = build("tabular_argn", FAST)
    model.fit(table, seed=7, progress=reports)
    return model, reports


# ---------------------------------------------------------------- parameters


def test_defaults_are_filled_in_and_resolve_is_idempotent():
    key, clean = resolve("tabular_argn", {})
    assert key == "tabular_argn"
    assert clean == {"max_epochs": 100, "max_training_time": 10.0, "batch_size": None, "model_size": "M",
                     "value_protection": True, "differential_privacy": None}
    raw = {"epochs": "3", "max_training_time": "2.5", "model_size": "large", "batch_size": "64",
           "value_protection": "false", "differential_privacy": {"max_epsilon": "4", "delta": 1e-6}}
    key, clean = resolve("TABULAR_ARGN", raw)
    assert clean == {"max_epochs": 3, "max_training_time": 2.5, "batch_size": 64, "model_size": "L",
                     "value_protection": False,
                     "differential_privacy": {"max_epsilon": 4.0, "delta": 1e-6, "noise_multiplier": 1.5,
                                              "max_grad_norm": 1.0}}
    assert resolve("tabular_argn", clean) == (key, clean)
    assert resolve("tabular_argn", {"differential_privacy": True})[1]["differential_privacy"] == {
        "max_epsilon": 10.0, "delta": 1e-5, "noise_multiplier": 1.5, "max_grad_norm": 1.0}
    assert resolve("tabular_argn", {"differential_privacy": "false"})[1]["differential_privacy"] is None


@pytest.mark.parametrize(("params", "field"), [
    ({"max_epochs": -1}, "max_epochs"),
    ({"max_epochs": 0}, "max_epochs"),
    ({"epochs": -5}, "epochs"),
    ({"max_epochs": 2.5}, "max_epochs"),
    ({"max_training_time": 0}, "max_training_time"),
    ({"max_training_time": -1}, "max_training_time"),
    ({"max_training_time": "soon"}, "max_training_time"),
    ({"max_training_time": float("nan")}, "max_training_time"),
    ({"batch_size": 0}, "batch_size"),
    ({"model_size": "XL"}, "model_size"),
    ({"value_protection": "maybe"}, "value_protection"),
    ({"differential_privacy": "sometimes"}, "differential_privacy"),
    ({"differential_privacy": {"max_epsilon": 0}}, "differential_privacy.max_epsilon"),
    ({"differential_privacy": {"max_epsilon": -2}}, "differential_privacy.max_epsilon"),
    ({"differential_privacy": {"delta": 0}}, "differential_privacy.delta"),
    ({"differential_privacy": {"noise_multiplier": 0}}, "differential_privacy.noise_multiplier"),
    ({"differential_privacy": {"max_grad_norm": "big"}}, "differential_privacy.max_grad_norm"),
    ({"differential_privacy": {"epsilon": 1}}, "differential_privacy.epsilon"),
])
def test_bad_parameters_name_the_field(params, field):
    with pytest.raises(InferloopError) as info:
        resolve("tabular_argn", params)
    assert (info.value.code, info.value.status, info.value.field) == ("INVALID_REQUEST", 400, field)


def test_importing_the_registry_does_not_import_the_engine():
    code = "import sys, tasks.tabular.synthesizers; sys.exit('mostlyai.engine' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# ---------------------------------------------------------------- training and sampling


def test_fit_and_sample(fitted, table):
    model, _ = fitted
    out = model.sample(150, seed=1)
    assert list(out.columns) == list(table.columns) and len(out) == 150
    assert dict(out.dtypes) == dict(table.dtypes)
    assert set(out["segment"].dropna()) <= set(table["segment"])
    assert out["active"].isin([True, False]).all()
    pd.to_datetime(out["signup"].dropna(), format="%Y-%m-%d")  # raises if the representation changed
    meta = model.training_metadata
    assert meta["engine"].startswith("mostlyai-engine") and meta["model_size"] == "S"
    assert meta["epochs_trained"] == 2 and math.isfinite(meta["best_val_loss"])
    assert meta["encoding_types"]["signup"] == "TABULAR_DATETIME"
    assert "differential_privacy" not in meta


def test_progress_is_reported_per_epoch_with_the_validation_loss(fitted):
    _, reports = fitted
    epochs = [(f, m) for f, m in reports if m.startswith("Epoch")]
    assert [m.split(":")[0] for _, m in epochs] == ["Epoch 1", "Epoch 2"]
    assert all("val_loss" in m for _, m in epochs)
    fractions = [f for f, _ in reports]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(fractions)


def test_same_seed_same_rows_also_after_save_and_load(fitted, tmp_path):
    model, _ = fitted
    first = model.sample(80, seed=11)
    model.sample(80)  # drawing in between changes nothing
    assert model.sample(80, seed=11).equals(first)
    assert not model.sample(80, seed=12).equals(first)
    path = tmp_path / "model.pkl"
    model.save(str(path))  # the pickle holds the engine's ModelStore: no workspace is left on disk
    loaded = load_model(str(path))
    assert loaded.sample(80, seed=11).equals(first)
    assert loaded.training_metadata == model.training_metadata


def test_training_with_the_same_seed_gives_the_same_model(fitted, table):
    model, _ = fitted
    again = build("tabular_argn", FAST)
    again.fit(table, seed=7)
    assert again.sample(60, seed=5).equals(model.sample(60, seed=5))


def test_sample_known_keeps_the_given_values(fitted, table):
    model, _ = fitted
    known = pd.DataFrame({
        "segment": ["gold", "silver", "platinum", None, "bronze"],  # "platinum" was never seen
        "income": [12345.678901, np.nan, 1e9, 50000.0, 0.5],  # 1e9 is far outside the training range
        "active": [True, False, True, False, True],
    }, index=[10, 11, 12, 13, 14])
    from tasks.tabular.synthesizers.base import seeded

    with seeded(3):
        out = model._sample_known(known)
    with seeded(3):
        again = model._sample_known(known)
    assert len(out) == len(known)
    assert set(table.columns) <= set(out.columns)
    for column in known.columns:
        expected, got = known[column].tolist(), out[column].tolist()
        assert all((pd.isna(e) and pd.isna(g)) or e == g for e, g in zip(expected, got)), column
    assert out.equals(again)
    assert out["age"].notna().all() and set(out["country"].dropna()) <= set(table["country"])


def test_differential_privacy_reports_the_epsilon_spent(table):
    dp = {"max_epsilon": 50, "noise_multiplier": 1.2, "max_grad_norm": 1.0, "delta": 1e-5}
    model = build("tabular_argn", {**FAST, "differential_privacy": dp})
    model.fit(table, seed=2)
    spent = model.training_metadata["differential_privacy"]
    assert 0 < spent["epsilon"] < math.inf and 0 < spent["checkpoint_epsilon"] <= spent["epsilon"]
    assert spent["delta"] == 1e-5 and spent["max_epsilon"] == 50 and spent["noise_multiplier"] == 1.2
    assert len(model.sample(30, seed=1)) == 30
    cloudpickle.dumps(model)


# ---------------------------------------------------------------- the generate flow, from Python


def run_flow(path, seed: int) -> tuple[dict, pd.DataFrame]:
    from flows.tabular.generate import generate

    manifest = generate(data=str(path), algorithm="tabular_argn", num_rows=120, seed=seed, parameters=FAST)
    return manifest, pd.read_parquet(storage.open_uri(manifest["output_uri"]))


def test_generate_flow_trains_tabular_argn_reproducibly(prefect_platform, tmp_path):
    path = tmp_path / "input.csv"
    customers(250).to_csv(path, index=False)
    manifest, first = run_flow(path, seed=1)
    assert manifest["model_key"] == "tabular_argn" and manifest["generated_rows"] == 120 == len(first)
    assert manifest["parameters"]["max_epochs"] == 2 and 0 <= manifest["quality_score"] <= 1
    assert manifest["model_metadata"]["epochs_trained"] == 2
    assert "differential_privacy" not in manifest["model_metadata"]
    _, same = run_flow(path, seed=1)
    _, other = run_flow(path, seed=2)
    assert same.equals(first)
    assert not other.equals(first)
