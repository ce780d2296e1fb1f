"""The `ydata:<model>` keys (algorithm=ydata): ydata-synthetic 2.0.1's regular synthesizers, on TensorFlow 2.15:
ctgan, wgangp, cramer and dragan, by the names ydata gives them.

This module runs only in the ydata environment (its own virtual environment and work pool, see
inferloop/runtime/ydata_env.py): importing it elsewhere works, building a model raises ALGORITHM_ERROR saying how to
enable ydata. The models are ydata-synthetic's own classes, subclassed only to report every finished epoch
and to fix two defects of 2.0.1 that would otherwise make its non-CTGAN models useless (both marked below):
their `get_data_batch` always returns the same first batch, and their `sample` feeds the generator uniform
noise although it was trained on normal noise.

The table is encoded for ydata (its processors take neither nulls nor dates): numbers and dates become
floats (a date as seconds since 1970) with the mean in place of a null plus a categorical null flag;
booleans and categories become labels. Seeds: TensorFlow's global seed plus op determinism.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tasks.tabular.conditions import column_kind
from inferloop.core.errors import InferloopError
from tasks.tabular.synthesizers.base import Progress, Synthesizer, batch_size_for

NULL = "\x00null"  # the label of a missing value (never a real category: it starts with a NUL character)
MAX_TF_SEED = 2**31 - 1


def import_ydata() -> Any:
    """Import ydata-synthetic; returns its `synthesizers` package (ALGORITHM_ERROR where it is not installed).

    ydata-synthetic 2.0.1's `__init__` calls `warn(...)` without importing it (NameError on import; the same
    defect is reported upstream for its successor fg-data-synthetic, issue #378): `warn` is provided for that
    one import only. Its usage pings (a request per model created) are switched off first.
    """
    os.environ.setdefault("YDATA_SYNTHETIC_NO_ANALYTICS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "ydata_synthetic" not in sys.modules:
        import builtins

        added = not hasattr(builtins, "warn")
        if added:
            builtins.warn = warnings.warn
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                import ydata_synthetic  # noqa: F401
        except ImportError as exc:
            from inferloop.runtime.ydata_env import ENABLE_HINT

            raise InferloopError("ALGORITHM_ERROR", f"Algorithm 'ydata' cannot run in this environment "
                                 f"({sys.executable}: {exc}); it runs in the ydata environment on its own work "
                                 f"pool: {ENABLE_HINT}", "algorithm") from exc
        finally:
            if added:
                del builtins.warn
    import ydata_synthetic.synthesizers as synthesizers

    return synthesizers


# ---------------------------------------------------------------- the table, encoded for ydata


@dataclass
class YdataColumn:
    """How one training column is encoded for ydata."""

    name: Any
    key: str  # a plain name used inside ydata (c0, c1, ...)
    kind: str  # numerical | datetime | categorical | boolean
    datetime_format: str | None = None
    fill: float = 0.0  # replaces nulls of a numerical / datetime column
    null_key: str | None = None  # its null flag, when the column has nulls
    integral: bool = False
    low: float | None = None
    high: float | None = None
    tz: str | None = None

    @property
    def numeric(self) -> bool:
        return self.kind in ("numerical", "datetime")

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {"kind": self.kind}
        if self.datetime_format:
            info["datetime_format"] = self.datetime_format
        return info


class YdataCodec:
    """Reversible encoding: numerical/datetime -> floats (+ null flag), boolean/categorical -> labels."""

    def __init__(self, data: pd.DataFrame, enforce_min_max: bool = True) -> None:
        self.enforce_min_max = enforce_min_max
        self.columns: list[YdataColumn] = []
        for i, name in enumerate(data.columns):
            kind, fmt = column_kind(data[name])
            column = YdataColumn(name, f"c{i}", "categorical" if kind == "empty" else kind, fmt)
            if column.numeric:
                values = self._floats(column, data[name])
                present = values.dropna()
                column.fill = float(present.mean()) if len(present) else 0.0
                column.low, column.high = (float(present.min()), float(present.max())) if len(present) else (0, 0)
                column.integral = column.kind == "numerical" and bool((present == present.round()).all())
                column.null_key = f"{column.key}_null" if values.isna().any() else None
                dtype = getattr(data[name].dtype, "tz", None)
                column.tz = str(dtype) if dtype is not None else None
            self.columns.append(column)

    @property
    def numerical_keys(self) -> list[str]:
        return [c.key for c in self.columns if c.numeric]

    @property
    def categorical_keys(self) -> list[str]:
        return [c.key for c in self.columns if not c.numeric] + [c.null_key for c in self.columns if c.null_key]

    def encode(self, data: pd.DataFrame) -> pd.DataFrame:
        """The frame ydata trains on (float and label columns only, no nulls)."""
        out: dict[str, pd.Series] = {}
        flags: dict[str, pd.Series] = {}
        for c in self.columns:
            values = data[c.name].reset_index(drop=True)
            if c.numeric:
                floats = self._floats(c, values)
                out[c.key] = floats.fillna(c.fill)
                if c.null_key:
                    flags[c.null_key] = floats.isna().map({True: "1", False: "0"})
            else:
                out[c.key] = values.map(lambda v: NULL if _is_null(v) else str(v)).astype(object)
        return pd.DataFrame({**out, **flags})

    def decode(self, encoded: pd.DataFrame) -> pd.DataFrame:
        """ydata's output back in the training columns and representations."""
        out = {}
        for c in self.columns:
            values = encoded[c.key].reset_index(drop=True)
            if c.numeric:
                floats = pd.to_numeric(values, errors="coerce").astype(float)
                if self.enforce_min_max and c.low is not None:
                    floats = floats.clip(c.low, c.high)
                if c.null_key:
                    floats = floats.mask(encoded[c.null_key].reset_index(drop=True).astype(str) == "1")
                out[c.name] = self._from_floats(c, floats)
            elif c.kind == "boolean":  # a missing label is NaN, as pandas reads one from a file
                out[c.name] = values.map(lambda v: np.nan if v == NULL else str(v) == "True").astype(object)
            else:
                out[c.name] = values.map(lambda v: np.nan if v == NULL else v).astype(object)
        return pd.DataFrame(out)

    def describe(self) -> dict[str, Any]:
        return {"columns": {str(c.name): c.describe() for c in self.columns}}

    @staticmethod
    def _floats(c: YdataColumn, values: pd.Series) -> pd.Series:
        if c.kind == "numerical":
            return pd.to_numeric(values, errors="coerce").astype(float)
        stamps = pd.to_datetime(values, format=c.datetime_format, errors="coerce", utc=True)
        seconds = stamps.astype("int64", copy=False).astype(float) / 1e9
        return seconds.where(stamps.notna())

    @staticmethod
    def _from_floats(c: YdataColumn, floats: pd.Series) -> pd.Series:
        if c.kind == "numerical":
            return floats.round() if c.integral else floats
        stamps = pd.to_datetime(floats.round(), unit="s", errors="coerce", utc=True)
        if c.datetime_format:
            return stamps.dt.strftime(c.datetime_format).where(stamps.notna(), None).astype(object)
        return stamps.dt.tz_convert(c.tz) if c.tz else stamps.dt.tz_localize(None)


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT


# ---------------------------------------------------------------- ydata's models, reporting epochs


class EpochCounter:
    """Mixin for ydata models: counts training steps and calls `epoch_callback(epochs_done)` per epoch."""

    steps_per_epoch = 1
    steps_done = 0
    epoch_callback: Callable[[int], None] | None = None

    def _step_done(self) -> None:
        self.steps_done += 1
        if self.steps_done % self.steps_per_epoch == 0 and self.epoch_callback is not None:
            self.epoch_callback(self.steps_done // self.steps_per_epoch)


def _reporting_classes() -> dict[str, type]:
    """ydata model name -> its class, subclassed to count steps (built once TensorFlow is imported)."""
    import_ydata()
    import tensorflow as tf
    from ydata_synthetic.synthesizers.regular.cramergan.model import CRAMERGAN
    from ydata_synthetic.synthesizers.regular.ctgan.model import CTGAN
    from ydata_synthetic.synthesizers.regular.dragan.model import DRAGAN
    from ydata_synthetic.synthesizers.regular.wgangp.model import WGAN_GP

    class ReportingCTGAN(EpochCounter, CTGAN):
        def _train_generator_step(self, *args, **kwargs):  # once per step
            loss = super()._train_generator_step(*args, **kwargs)
            self._step_done()
            return loss

    class NormalNoiseSampling:
        def sample(self, n_samples: int) -> pd.DataFrame:
            """Fixed: ydata 2.0.1 samples these generators with uniform noise; they were trained on normal."""
            steps = n_samples // self.batch_size + 1
            data = [self.generator(tf.random.normal([self.batch_size, self.noise_dim]), training=False).numpy()
                    for _ in range(steps)]
            return self.processor.inverse_transform(np.vstack(data))

    class CyclingBatches(EpochCounter):
        def get_data_batch(self, train, batch_size, seed=0):  # once per step
            """Fixed: ydata 2.0.1 calls this with seed=0 only, i.e. trains on the same first batch every step;
            the step number as `seed` walks through the shuffled rows as its own docstring intends."""
            batch = super().get_data_batch(train, batch_size, seed=self.steps_done)
            self._step_done()
            return batch

    class ReportingWGANGP(CyclingBatches, NormalNoiseSampling, WGAN_GP):
        pass

    class ReportingCramerGAN(CyclingBatches, NormalNoiseSampling, CRAMERGAN):
        pass

    class ReportingDRAGAN(EpochCounter, NormalNoiseSampling, DRAGAN):
        def train_step(self, train_data, optimizers):  # once per step (it shuffles its own batches)
            losses = super().train_step(train_data, optimizers)
            self._step_done()
            return losses

    return {"ctgan": ReportingCTGAN, "wgangp": ReportingWGANGP, "cramer": ReportingCramerGAN,
            "dragan": ReportingDRAGAN}


_CLASSES: dict[str, type] = {}
_CLASS_NAMES = ("ReportingCTGAN", "ReportingWGANGP", "ReportingCramerGAN", "ReportingDRAGAN")


def model_class(name: str) -> type:
    """The (reporting) class of a ydata model name; defined on first use, as attributes of this module."""
    if not _CLASSES:
        for key, cls in _reporting_classes().items():
            cls.__module__, cls.__qualname__ = __name__, cls.__name__
            globals()[cls.__name__] = cls  # pickles (ydata's own save) find them here
            _CLASSES[key] = cls
    return _CLASSES[name]


def warm_up() -> None:
    """Import TensorFlow and ydata-synthetic and define the model classes, running no TensorFlow op: the ydata
    environment's zygote (inferloop/runtime/zygote.py) calls it once, and the runs it forks start with them."""
    model_class("ctgan")


def __getattr__(name: str) -> type:
    """Unpickling a saved model asks for its class before any was defined: define them then."""
    if name in _CLASS_NAMES:
        model_class("ctgan")
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@contextlib.contextmanager
def _inside(folder: str) -> Iterator[None]:
    """Run in `folder`: ydata's models write checkpoints and summaries into the working directory."""
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def tensorflow_device() -> str:
    """cuda when TensorFlow sees a GPU (it then trains there), else cpu."""
    import tensorflow as tf

    return "cuda" if tf.config.list_physical_devices("GPU") else "cpu"


def seed_tensorflow(seed: int) -> None:
    """Seed TensorFlow, numpy and random, with deterministic ops: the same seed gives the same output."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


# ---------------------------------------------------------------- the adapter


class YdataSynthesizer(Synthesizer):
    """A ydata-synthetic regular synthesizer (ctgan, wgangp, cramer, dragan) behind the common interface.

    No `_sample_known`: conditions come from the base's filtering of plain rows; constraints run through the
    base's generic runner.
    """

    min_rows = 10  # ydata's CTGAN fits a 10-component Gaussian mixture per numerical column

    def __init__(self, model_key: str, params: dict[str, Any]) -> None:
        import_ydata()
        super().__init__(model_key, params)
        self.device = tensorflow_device()
        self._codec: YdataCodec | None = None
        self._model: Any = None
        self._fit_seed: int | None = None
        self._batch_size: int | None = None

    @property
    def ydata_model(self) -> str:
        return self.model_key.split(":", 1)[1]

    def fit(self, data: pd.DataFrame, seed: int | None = None, progress: Progress | None = None,
            constraints: list[dict[str, Any]] | None = None) -> None:
        self._fit_seed = seed  # `_fit` runs inside the base's seeded block: it seeds TensorFlow from it
        super().fit(data, seed=seed, progress=progress, constraints=constraints)

    def _fit(self, data: pd.DataFrame, report: Progress) -> None:
        """Encode the table and train the ydata model on it, reporting every epoch."""
        synthesizers = import_ydata()
        if self._fit_seed is not None:
            seed_tensorflow(int(np.random.randint(0, MAX_TF_SEED)))
        p = self.params
        codec = YdataCodec(data)
        encoded = codec.encode(data)
        if self.ydata_model != "ctgan" and not (codec.numerical_keys and codec.categorical_keys):
            raise InferloopError("ALGORITHM_ERROR", f"ydata's {self.ydata_model} needs at least one numerical "
                                 "(or date) column and one categorical column (its data processor fits nothing "
                                 "otherwise); use ydata_model ctgan for this table", "algorithm")
        pac = p.get("pac", 1)
        step = pac if pac % 2 == 0 or self.ydata_model != "ctgan" else 2 * pac
        batch = batch_size_for(len(encoded), p["batch_size"], step)
        self._batch_size = batch
        model_parameters = synthesizers.ModelParameters(
            batch_size=batch, lr=(p["generator_lr"], p["discriminator_lr"]), betas=(p["beta_1"], p["beta_2"]),
            noise_dim=p["noise_dim"], layers_dim=p.get("layers_dim", 128), latent_dim=p["noise_dim"],
            generator_dims=list(p.get("generator_dim", [256, 256])),
            critic_dims=list(p.get("discriminator_dim", [256, 256])), pac=pac)
        cls = model_class(self.ydata_model)
        kwargs = {"wgangp": {"n_critic": p.get("discriminator_steps", 1)},
                  "dragan": {"n_discriminator": p.get("discriminator_steps", 1)}}.get(self.ydata_model, {})
        model = cls(model_parameters, **kwargs)
        epochs = p["epochs"]
        rows = len(encoded)
        model.steps_per_epoch = (max(rows // batch, 1) if self.ydata_model == "ctgan"
                                 else math.ceil(rows / batch) if self.ydata_model == "dragan"
                                 else int(rows / batch + 1))
        model.epoch_callback = lambda done: report(min(done / epochs, 1.0), f"Epoch {done}/{epochs}")
        # sample_interval past the last epoch: ydata still checkpoints at epoch 0, inside the scratch folder
        train = synthesizers.TrainParameters(epochs=epochs, sample_interval=epochs + 1)
        try:
            with tempfile.TemporaryDirectory(prefix="inferloop-ydata-") as scratch, _inside(scratch):
                model.fit(encoded, train, num_cols=codec.numerical_keys, cat_cols=codec.categorical_keys)
        finally:
            model.epoch_callback = None  # never pickled with the model
        self._codec, self._model = codec, model

    def _sample(self, num_rows: int, seed: int | None) -> pd.DataFrame:
        """Sample from the generator (seeded through TensorFlow) and decode."""
        if seed is not None:
            seed_tensorflow(seed)
        encoded = self._model.sample(num_rows)
        return self._codec.decode(encoded.head(num_rows))

    def _training_metadata(self) -> dict[str, Any]:
        meta = self._codec.describe()
        meta.update({"ydata_model": self.ydata_model, "library": "ydata-synthetic 2.0.1",
                     "batch_size_used": self._batch_size})
        return meta

    # ---------------------------------------------------------------- pickling

    def __getstate__(self) -> dict[str, Any]:
        """The TensorFlow model travels as the bytes of ydata's own `save` (joblib)."""
        state = dict(self.__dict__)
        model = state.pop("_model", None)
        if model is not None:
            with tempfile.TemporaryDirectory(prefix="inferloop-ydata-") as tmp:
                path = os.path.join(tmp, "model.pkl")
                model.save(path)
                with open(path, "rb") as handle:
                    state["_model_bytes"] = handle.read()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        blob = state.pop("_model_bytes", None)
        super().__setstate__(state)
        self._model = None
        if blob is not None:
            import_ydata()
            from ydata_synthetic.synthesizers.regular import RegularSynthesizer

            with tempfile.TemporaryDirectory(prefix="inferloop-ydata-") as tmp:
                path = os.path.join(tmp, "model.pkl")
                with open(path, "wb") as handle:
                    handle.write(blob)
                self._model = RegularSynthesizer.load(path)
        self.device = tensorflow_device()
