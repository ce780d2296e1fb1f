"""Fitted multi-table models in storage: save to a storage URI and load back (local or s3://)."""

from __future__ import annotations

import cloudpickle

from inferloop.core import storage
from inferloop.core.errors import InferloopError
from tasks.tabular.multitable.model import MultiTableModel


def save_multitable(model: MultiTableModel, uri: str) -> int:
    """Pickle the fitted model (cloudpickle) to `uri`; returns its size in bytes."""
    payload = cloudpickle.dumps(model)
    with storage.open_uri(uri, "wb") as f:
        f.write(payload)
    return len(payload)


def load_multitable(uri: str) -> MultiTableModel:
    """Load a model written by `save_multitable` (a pickle our own flows wrote: never a user's upload)."""
    with storage.open_uri(uri, "rb") as f:
        model = cloudpickle.load(f)
    if not isinstance(model, MultiTableModel):
        raise InferloopError("INVALID_FILE", f"{uri} does not hold a multi-table model", "model_id")
    return model
