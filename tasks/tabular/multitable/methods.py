"""The multi-table methods by name: `hma` (SDV's HMA) and `parent_first` (each table by its own synthesizer,
children matched to their nearest parent)."""

from __future__ import annotations

from typing import Any

from inferloop.core.errors import invalid_request
from tasks.tabular.multitable.hma import HMAModel
from tasks.tabular.multitable.model import MultiTableModel
from tasks.tabular.multitable.parent_first import ParentFirstModel
from tasks.tabular.multitable.schema import Schema

METHODS = {"hma": HMAModel, "parent_first": ParentFirstModel}


def build_multitable(schema: Schema, method: str, model_key: str, params: dict[str, Any]) -> MultiTableModel:
    """The unfitted model for `method` (hma or parent_first)."""
    if method not in METHODS:
        raise invalid_request(f"unknown multi-table method {method!r}", "method")
    return METHODS[method](schema, model_key, params)
