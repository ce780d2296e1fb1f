"""The model registry's lookups, shared by the Tabular and SynthGen routers, streaming and batch.

A model's record is owner-scoped: another owner's model answers exactly like an unknown one (404).
"""

from __future__ import annotations

from inferloop.core import db
from inferloop.core.errors import InferloopError


def get_model(model_id: str, owner: str) -> db.Model:
    """The owner's model record, or NOT_FOUND (unknown, deleted and other owners' models alike)."""
    return db.owned(db.Model, model_id, owner, "model")


def require_ready(model: db.Model) -> db.Model:
    """The model if it can generate; 409 CONFLICT while it trains, 400 ALGORITHM_ERROR if training failed."""
    if model.status == "training":
        raise InferloopError("CONFLICT", f"model '{model.id}' is still training; wait until its status is "
                             "ready", "model_id", status=409, extra={"model_status": model.status})
    if model.status != "ready" or not model.artifact_uri:
        raise InferloopError("CONFLICT", f"model '{model.id}' failed to train and cannot generate",
                             "model_id", status=409, extra={"model_status": model.status})
    return model


def touch(model_id: str) -> None:
    """Record that the model was used (its `last_used`)."""
    with db.session_scope() as s:
        model = s.get(db.Model, model_id)
        if model is not None:
            model.last_used = db.utcnow()
