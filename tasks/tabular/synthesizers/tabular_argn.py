"""The `tabular_argn` model key: MOSTLY AI's TabularARGN (mostlyai-engine, Apache-2.0).

The engine works in a workspace folder (split -> analyze -> encode -> train -> generate). Training runs
in a temporary workspace; what generation needs (the workspace's ModelStore) is kept in the adapter as
the bytes of a zip, so the pickled synthesizer is self-contained, and unpacked to a temporary folder
whenever rows are sampled.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import tempfile
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from tasks.tabular.conditions import datetime_format_of
from inferloop.core.errors import InferloopError
from tasks.tabular.synthesizers.base import Progress, Synthesizer

ENGINE_LOGGER = "mostlyai.engine"
SEED_ENV = "MOSTLYAI_ENGINE_SEED"  # the engine's worker processes re-seed from this variable
MODEL_STORE = "ModelStore"
# optimizer, scheduler and accountant states only matter for resuming training, not for generation
TRAINING_ONLY = {"optimizer.pt", "lr-scheduler.pt", "dp-accountant.pt"}
MODEL_IDS = {"S": "MOSTLY_AI/Small", "M": "MOSTLY_AI/Medium", "L": "MOSTLY_AI/Large"}
# generation runs in batches whose size the engine derives from the free RAM; a fixed notional budget
# makes the batches (and so the rows drawn for a seed) the same on every run
GENERATION_BUDGET_BYTES = 2e9
MAX_GENERATION_BATCH = 100_000


class TabularARGNSynthesizer(Synthesizer):
    """TabularARGN: an autoregressive network over the table's columns, trained with early stopping."""

    neural = True
    min_rows = 3  # the engine holds out 20% for validation; with fewer rows it trains nothing

    def __init__(self, model_key: str, params: dict[str, Any]) -> None:
        super().__init__(model_key, params)
        self._keys: dict[Any, str] = {}  # training column -> plain name used inside the engine
        self._booleans: list[Any] = []  # columns the engine hands back as "True"/"False" strings
        self._dates: dict[Any, str] = {}  # date-string column -> its strftime format (modelled as datetimes)
        self._model_store: bytes | None = None  # zip of the workspace's ModelStore
        self._summary: dict[str, Any] = {}

    def _fit(self, data: pd.DataFrame, report: Progress) -> None:
        """Run the engine's split/analyze/encode/train in a temporary workspace and keep its ModelStore."""
        from mostlyai import engine

        self._keys = {name: f"c{i}" for i, name in enumerate(data.columns)}
        self._booleans = [name for name in data.columns if _is_boolean(data[name])]
        self._dates = {name: fmt for name in data.columns if (fmt := date_format(data[name]))}
        frame = self._encode(data)
        dp = self._dp_config()
        with tempfile.TemporaryDirectory(prefix="inferloop-argn-") as ws, engine_session(_derived_seed()):
            with as_algorithm_errors("train on"):
                engine.split(tgt_data=frame, model_type="TABULAR", workspace_dir=ws)
                engine.analyze(value_protection=self.params["value_protection"], differential_privacy=dp,
                               workspace_dir=ws)
                engine.encode(workspace_dir=ws)
                engine.train(model=MODEL_IDS[self.params["model_size"]],
                             max_epochs=self.params["max_epochs"],
                             max_training_time=self.params["max_training_time"],
                             batch_size=self.params["batch_size"], differential_privacy=dp,
                             device=self.device, workspace_dir=ws, update_progress=_epoch_reporter(report))
            store = Path(ws) / MODEL_STORE
            self._summary = training_summary(store, self.params)
            self._model_store = pack(store)

    def _sample(self, num_rows: int, seed: int | None) -> pd.DataFrame:
        """Generate `num_rows` rows (the engine draws from torch's global generator, seeded by the caller)."""
        return self._generate(sample_size=num_rows)

    def _sample_known(self, known: pd.DataFrame) -> pd.DataFrame:
        """One row per row of `known`, its values kept, the other columns drawn given them (seed data)."""
        unknown = [c for c in known.columns if c not in self._keys]
        if unknown:
            raise InferloopError("INVALID_REQUEST", f"Unknown column(s) for this model: "
                                 f"{', '.join(map(str, unknown))}", "conditions")
        if len(known) == 0:
            return pd.DataFrame({name: pd.Series(dtype=object) for name in self._keys})
        out = self._generate(seed_data=self._encode(known.reset_index(drop=True)))
        for name in known.columns:  # exactly the given values, whatever representation the engine chose
            out[name] = known[name].reset_index(drop=True).astype(object)
        return out

    def _generate(self, **request: Any) -> pd.DataFrame:
        """Unpack the ModelStore to a temporary workspace, generate there and decode the columns."""
        from mostlyai import engine

        with tempfile.TemporaryDirectory(prefix="inferloop-argn-") as ws, engine_session(None):
            unpack(self._model_store, Path(ws))
            with as_algorithm_errors("sample from"):
                engine.generate(batch_size=generation_batch_size(Path(ws) / MODEL_STORE), device=self.device,
                                rare_category_replacement_method="SAMPLE", workspace_dir=ws, **request)
            parts = sorted((Path(ws) / "SyntheticData").glob("*.parquet"))
            generated = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
        return self._decode(generated)

    def _encode(self, data: pd.DataFrame) -> pd.DataFrame:
        """Plain column names for the engine; date strings as datetimes; booleans as 'True' / 'False'."""
        frame = data.rename(columns=self._keys)
        for name in data.columns:
            key = self._keys[name]
            if name in self._dates:
                frame[key] = pd.to_datetime(frame[key], format=self._dates[name], errors="coerce")
            elif name in self._booleans:  # the engine models booleans as the strings "True" / "False"
                frame[key] = frame[key].map(lambda v: None if _is_null(v) else str(bool(v))).astype(object)
        return frame

    def _decode(self, generated: pd.DataFrame) -> pd.DataFrame:
        """Original column names; booleans back from strings; dates back to their format; NA as NaN."""
        frame = generated[list(self._keys.values())].rename(columns={k: n for n, k in self._keys.items()})
        for name in frame.columns:
            values = frame[name]
            if name in self._booleans:
                frame[name] = values.map(_to_bool).astype(object)
            elif name in self._dates:
                text = pd.to_datetime(values, errors="coerce").dt.strftime(self._dates[name])
                frame[name] = text.astype(object).where(text.notna(), np.nan)
            elif ptypes.is_string_dtype(values.dtype) or values.dtype == object:
                frame[name] = values.astype(object).where(values.notna(), np.nan)
        return frame

    def _dp_config(self) -> Any:
        """The engine's DifferentialPrivacyConfig, or None when DP is off."""
        dp = self.params.get("differential_privacy")
        if not dp:
            return None
        from mostlyai.engine.domain import DifferentialPrivacyConfig

        return DifferentialPrivacyConfig(**dp)

    def _training_metadata(self) -> dict[str, Any]:
        """Epochs, losses, the model's encodings and, with DP, the privacy spent."""
        summary = dict(self._summary)
        summary["encoding_types"] = {str(name): summary.get("encoding_types", {}).get(key)
                                     for name, key in self._keys.items()}
        return summary


# ---------------------------------------------------------------- engine session helpers


@contextlib.contextmanager
def engine_session(seed: int | None) -> Iterator[None]:
    """Quiet engine logs and warnings; with a seed, seed the engine (workers included) and undo it after."""
    from mostlyai import engine

    logger = logging.getLogger(ENGINE_LOGGER)
    level, saved_seed = logger.level, os.environ.get(SEED_ENV)
    logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module="opacus")
            warnings.filterwarnings("ignore", category=FutureWarning)
            if seed is not None:
                engine.set_random_state(seed)
            yield
    finally:
        logger.setLevel(level)
        if saved_seed is None:
            os.environ.pop(SEED_ENV, None)
        else:
            os.environ[SEED_ENV] = saved_seed


def _derived_seed() -> int:
    """A seed drawn from numpy's global generator: fixed when the caller seeded it, random otherwise."""
    return int(np.random.randint(0, 2**31 - 1))


@contextlib.contextmanager
def as_algorithm_errors(step: str) -> Iterator[None]:
    """The engine rejects data it cannot model with ValueError: report that as ALGORITHM_ERROR."""
    try:
        yield
    except (ValueError, KeyError) as exc:
        raise InferloopError("ALGORITHM_ERROR", f"tabular_argn could not {step} this data: {exc}",
                             "algorithm") from exc


def _epoch_reporter(report: Progress) -> Any:
    """The engine's progress callback; passes each finished epoch (with its validation loss) to `report`."""

    def update(total: int | None = None, completed: int | None = None, advance: int | None = None,
               message: dict | None = None, **kwargs: Any) -> None:
        if not message or message.get("val_loss") is None or not total:
            return
        text = f"Epoch {message['epoch']:g}: val_loss {message['val_loss']:.4f}"
        if message.get("dp_eps") is not None:
            text += f", epsilon {message['dp_eps']:.3f}"
        report(min(max((completed or 0) / total, 0.0), 1.0), text)

    return update


# ---------------------------------------------------------------- the ModelStore


def pack(store: Path) -> bytes:
    """Zip what generation needs from a ModelStore folder."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(store.rglob("*")):
            if path.is_file() and path.name not in TRAINING_ONLY:
                archive.write(path, Path(MODEL_STORE) / path.relative_to(store))
    return buffer.getvalue()


def unpack(model_store: bytes | None, workspace: Path) -> None:
    """Recreate the ModelStore folder inside `workspace`."""
    if model_store is None:
        raise InferloopError("ALGORITHM_ERROR", "The tabular_argn model holds no trained weights", "model")
    with zipfile.ZipFile(io.BytesIO(model_store)) as archive:
        archive.extractall(workspace)


def _stats(store: Path) -> dict[str, Any]:
    """The engine's statistics of the training table (tgt-stats/stats.json)."""
    path = store / "tgt-stats" / "stats.json"
    return json.loads(path.read_text()) if path.exists() else {}


def generation_batch_size(store: Path) -> int:
    """The engine's own batch-size rule, with a fixed memory budget instead of the RAM free right now."""
    columns = _stats(store).get("columns", {}).values()
    one_hot = sum(sum(col.get("cardinalities", {}).values()) for col in columns)
    size = int(GENERATION_BUDGET_BYTES * 0.1 // max(1, 4 * one_hot))
    return int(np.clip(size, 100, MAX_GENERATION_BATCH))


def training_summary(store: Path, params: dict[str, Any]) -> dict[str, Any]:
    """Epochs, losses and the privacy spent, from the engine's progress-messages.csv and stats."""
    stats = _stats(store)
    summary: dict[str, Any] = {
        "engine": f"mostlyai-engine {_engine_version()}",
        "model_size": params["model_size"],
        "encoding_types": {name: col.get("encoding_type") for name, col in stats.get("columns", {}).items()},
    }
    path = store / "model-data" / "progress-messages.csv"
    messages = pd.read_csv(path) if path.exists() else pd.DataFrame()
    epochs = messages[messages["val_loss"].notna()] if "val_loss" in messages else messages.head(0)
    kept = epochs[epochs["is_checkpoint"].astype(bool)].tail(1) if len(epochs) else epochs
    if len(epochs):
        summary.update(epochs_trained=float(epochs["epoch"].iloc[-1]),
                       training_time_s=float(messages["total_time"].iloc[-1]),
                       val_loss=float(epochs["val_loss"].iloc[-1]))
    if len(kept):
        summary.update(best_epoch=float(kept["epoch"].iloc[0]), best_val_loss=float(kept["val_loss"].iloc[0]))
    dp = params.get("differential_privacy")
    if dp:
        summary["differential_privacy"] = privacy_spent(messages, kept, dp)
    return summary


def privacy_spent(messages: pd.DataFrame, kept: pd.DataFrame, dp: dict[str, Any]) -> dict[str, Any]:
    """Epsilon spent by the whole training run (value protection included) and by the weights kept."""
    spent = messages["dp_eps"].dropna() if "dp_eps" in messages else pd.Series(dtype=float)
    at_checkpoint = kept["dp_eps"].dropna() if "dp_eps" in kept else pd.Series(dtype=float)
    epsilon = float(spent.max()) if len(spent) else None
    return {
        "epsilon": epsilon,
        "checkpoint_epsilon": float(at_checkpoint.iloc[-1]) if len(at_checkpoint) else epsilon,
        "delta": dp["delta"],
        "max_epsilon": dp["max_epsilon"],
        "noise_multiplier": dp["noise_multiplier"],
        "max_grad_norm": dp["max_grad_norm"],
        "accountant": "rdp",
    }


def _engine_version() -> str:
    """The installed mostlyai-engine version."""
    from importlib.metadata import version

    return version("mostlyai-engine")


# ---------------------------------------------------------------- values


def _is_boolean(values: pd.Series) -> bool:
    """Whether a column holds only booleans (bool dtype, or objects that are all True/False)."""
    if ptypes.is_bool_dtype(values.dtype):
        return True
    present = values.dropna()
    return values.dtype == object and len(present) > 0 and all(isinstance(v, (bool, np.bool_))
                                                                for v in present)


def date_format(values: pd.Series) -> str | None:
    """The strftime format a text column of dates follows and is written back in exactly, if there is one."""
    fmt = datetime_format_of(values) if values.dtype == object else None
    if fmt is None:
        return None
    present = values.dropna()
    return fmt if (pd.to_datetime(present, format=fmt).dt.strftime(fmt) == present).all() else None


def _is_null(value: Any) -> bool:
    """None, NaN or pandas' NA."""
    return value is None or (not isinstance(value, (str, bytes)) and bool(pd.isna(value)))


def _to_bool(value: Any) -> Any:
    """'True' / 'False' (the engine's strings) -> bool; nulls -> None."""
    if _is_null(value):
        return None
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)
