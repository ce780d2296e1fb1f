"""Fitted models in storage: save a synthesizer to a storage URI and load it back (local or s3://)."""

from __future__ import annotations

import os
import tempfile

from inferloop.core import storage
from tasks.tabular.synthesizers import Synthesizer, load_model


def save_model(model: Synthesizer, uri: str) -> int:
    """Write the fitted model to `uri`; returns its size in bytes."""
    with tempfile.TemporaryDirectory(prefix="inferloop-model-") as tmp:
        local = os.path.join(tmp, "model.pkl")
        model.save(local)
        with open(local, "rb") as src, storage.open_uri(uri, "wb") as dst:
            while block := src.read(1 << 20):
                dst.write(block)
        return os.path.getsize(local)


def load_model_from(uri: str) -> Synthesizer:
    """Load a model written by `save_model` (a pickle our own flows wrote: never a user's upload)."""
    with tempfile.TemporaryDirectory(prefix="inferloop-model-") as tmp:
        local = os.path.join(tmp, "model.pkl")
        with storage.open_uri(uri, "rb") as src, open(local, "wb") as dst:
            while block := src.read(1 << 20):
                dst.write(block)
        return load_model(local)
