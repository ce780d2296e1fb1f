"""What the platform knows about each kind of job, beyond its flow run: which API lists it, its webhook events,
its detailed view under /api/v1/jobs/{id} and what to remove when it is deleted.

Tabular kinds (generate, train, sample, batch, multitable, profile, validate, privacy) are built in. A system
under /api/v1 (image, context, etl) registers its kinds from its own router module with `register`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from prefect.client.schemas.objects import FlowRun

from inferloop.core import db


@dataclass(frozen=True)
class JobKind:
    name: str
    api: str = "v1"                                   # "tabular" or "v1": which jobs listing shows it
    events: dict[str, str] = field(default_factory=dict)   # final public status -> webhook event
    # (job, flow run, public status, base_url) -> webhook `data` for a final state
    event_data: Callable[[db.Job, FlowRun, str, str], dict] | None = None
    # (job, flow run or None, public status) -> extra fields of GET /api/v1/jobs/{id} (result, progress detail)
    view: Callable[[db.Job, FlowRun | None, str], Awaitable[dict[str, Any]]] | None = None
    # (job) -> remove what the job stored beyond its run folder (called on DELETE /api/v1/jobs/{id})
    on_delete: Callable[[db.Job], Awaitable[None]] | None = None
    # (job, public status) -> the `stage` shown in /api/v1/jobs listings and status (default: from the status)
    stage: Callable[[db.Job, str], str] | None = None


TABULAR_KINDS = ("generate", "train", "sample", "batch", "multitable", "profile", "validate", "privacy")
_KINDS: dict[str, JobKind] = {k: JobKind(k, api="tabular") for k in TABULAR_KINDS}


def register(kind: JobKind) -> JobKind:
    _KINDS[kind.name] = kind
    return kind


def get(name: str) -> JobKind:
    return _KINDS.get(name) or JobKind(name, api="tabular" if name in TABULAR_KINDS else "v1")


def kinds_of(api: str) -> list[str]:
    return sorted(k.name for k in _KINDS.values() if k.api == api)
