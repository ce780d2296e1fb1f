"""What the metadata store keeps for ETL: connectors (credentials encrypted) and pipelines (owner, names and the
id of the Prefect deployment that *is* the pipeline; its parameters and schedules live in Prefect).

The API and the flow (on a worker) read the same store, so `resolve` turns a connector id into a working
connector at run time.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, DateTime, String, Text, func, or_, select
from sqlalchemy.orm import Mapped, mapped_column

from inferloop.core import db
from inferloop.core.errors import InferloopError
from inferloop.core.settings import Settings, get_settings
from tasks.etl import connectors as conns
from tasks.etl import secrets as secret_box

ROLES = ("source", "target", "both")
RUN_KIND = "etl_run"
EVENTS = ("pipeline.completed", "pipeline.failed")  # the webhook events of a pipeline's runs


class EtlConnector(db.Base):
    """A configured connector: type, configuration (no secrets) and the Fernet token of its credentials."""

    __tablename__ = "etl_connectors"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(256))
    type: Mapped[str] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(16), default="both")
    description: Mapped[str] = mapped_column(Text, default="")
    config: Mapped[dict] = mapped_column(JSON, default=dict)
    secret: Mapped[str] = mapped_column(Text, default="")
    last_test: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=db.utcnow)


class EtlPipeline(db.Base):
    """A pipeline: its owner and names, and the Prefect deployment of `etl_pipeline` that runs it."""

    __tablename__ = "etl_pipelines"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(256))
    description: Mapped[str] = mapped_column(Text, default="")
    project_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    deployment_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    source_connector_id: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    target_connector_id: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    environment: Mapped[str | None] = mapped_column(String(64), nullable=True)
    deployed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=db.utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=db.utcnow)


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


# --- connectors ---------------------------------------------------------------------------------------

def connector_of(row: EtlConnector, settings: Settings | None = None) -> conns.Connector:
    """A working connector for a stored row (credentials decrypted in memory only)."""
    return conns.make(row.type, dict(row.config), secret_box.decrypt(row.secret, settings), settings)


def add_connector(owner: str, ctype: str, config: dict, secrets: dict, *, name: str = "", role: str = "both",
                  description: str = "", last_test: dict | None = None, settings: Settings | None = None
                  ) -> EtlConnector:
    if role not in ROLES:
        raise InferloopError("INVALID_REQUEST", f"role must be one of {', '.join(ROLES)}", "type")
    row = EtlConnector(id=new_id("conn"), owner=owner, name=(name or f"{ctype} connector")[:256], type=ctype,
                       role=role, description=description[:2000], config=config,
                       secret=secret_box.encrypt(secrets, settings), last_test=last_test, created_at=db.utcnow())
    with db.session_scope() as s:
        s.add(row)
    return row


def get_connector(connector_id: str, owner: str | None) -> EtlConnector:
    """The owner's connector (owner None: any, for the flow), or 404 as for an unknown id."""
    return db.owned(EtlConnector, connector_id, owner, "connector")


def list_connectors(owner: str, offset: int = 0, limit: int = 50) -> tuple[list[EtlConnector], int]:
    q = select(EtlConnector).where(EtlConnector.owner == owner)
    with db.session_scope() as s:
        total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
        rows = list(s.scalars(q.order_by(EtlConnector.created_at.desc(), EtlConnector.id).offset(offset).limit(limit)))
    return rows, int(total)


def owner_connectors(owner: str) -> list[EtlConnector]:
    with db.session_scope() as s:
        return list(s.scalars(select(EtlConnector).where(EtlConnector.owner == owner)
                              .order_by(EtlConnector.created_at)))


def record_test(connector_id: str, result: dict) -> None:
    with db.session_scope() as s:
        row = s.get(EtlConnector, connector_id)
        if row is not None:
            row.last_test = result


def delete_connector(connector_id: str, owner: str) -> None:
    row = get_connector(connector_id, owner)
    with db.session_scope() as s:
        used = s.scalars(select(EtlPipeline.id).where(or_(EtlPipeline.source_connector_id == row.id,
                                                          EtlPipeline.target_connector_id == row.id))).all()
        if used:
            raise InferloopError("CONFLICT", f"connector '{row.id}' is used by pipeline(s) {', '.join(used)}; "
                                 "delete them first", status=409)
        s.delete(s.get(EtlConnector, row.id))


def resolve(ref: dict | str, owner: str | None = None, settings: Settings | None = None) -> conns.Connector:
    """A connector from `{"connector_id": ...}` (or the id itself) or an inline
    `{"type", "configuration", "credentials"}` (plain flow calls without the store)."""
    settings = settings or get_settings()
    if isinstance(ref, str):
        ref = {"connector_id": ref}
    if not isinstance(ref, dict):
        raise InferloopError("INVALID_REQUEST", "a connector is {'connector_id': ...} or "
                             "{'type', 'configuration', 'credentials'}", "source")
    if ref.get("connector_id"):
        return connector_of(get_connector(ref["connector_id"], owner), settings)
    ctype = conns.canonical_type(ref.get("type", ""))
    config, secrets = conns.normalize_config(ctype, ref.get("configuration"), ref.get("credentials"), settings)
    return conns.make(ctype, config, secrets, settings)


# --- pipelines ----------------------------------------------------------------------------------------

def add_pipeline(row: EtlPipeline) -> EtlPipeline:
    with db.session_scope() as s:
        s.add(row)
    return row


def get_pipeline(pipeline_id: str, owner: str | None) -> EtlPipeline:
    return db.owned(EtlPipeline, pipeline_id, owner, "pipeline")


def update_pipeline(pipeline_id: str, **values) -> EtlPipeline:
    with db.session_scope() as s:
        row = s.get(EtlPipeline, pipeline_id)
        for k, v in values.items():
            setattr(row, k, v)
        row.updated_at = db.utcnow()
    return row


def list_pipelines(owner: str, offset: int = 0, limit: int = 50) -> tuple[list[EtlPipeline], int]:
    q = select(EtlPipeline).where(EtlPipeline.owner == owner)
    with db.session_scope() as s:
        total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
        rows = list(s.scalars(q.order_by(EtlPipeline.created_at.desc(), EtlPipeline.id).offset(offset).limit(limit)))
    return rows, int(total)


def owner_pipelines(owner: str) -> list[EtlPipeline]:
    with db.session_scope() as s:
        return list(s.scalars(select(EtlPipeline).where(EtlPipeline.owner == owner)))


def delete_pipeline(pipeline_id: str) -> None:
    with db.session_scope() as s:
        row = s.get(EtlPipeline, pipeline_id)
        if row is not None:
            s.delete(row)


# --- runs as platform jobs ------------------------------------------------------------------------------

def run_job(owner: str, pipeline_id: str | None, flow_run_id: str | None = None, trigger: str = "api") -> db.Job:
    """The job row (not yet stored) of one run of a pipeline (the watcher sends its pipeline.* webhooks)."""
    return db.Job(id=new_id("run"), kind=RUN_KIND, owner=owner, flow_run_id=flow_run_id,
                  input_uri=f"pipeline:{pipeline_id}" if pipeline_id else None,
                  options={"pipeline_id": pipeline_id, "trigger": trigger}, created_at=db.utcnow())


def new_run_job(owner: str, pipeline_id: str | None, flow_run_id: str | None = None,
                trigger: str = "api") -> db.Job:
    """Store the job row of a run that started without the API (a scheduled run, recorded by its flow)."""
    job = run_job(owner, pipeline_id, flow_run_id, trigger)
    with db.session_scope() as s:
        s.add(job)
    return job


def ensure_run_job(flow_run_id: str, pipeline_id: str) -> str | None:
    """Called by the flow: a scheduled run gets its job row here (API runs already have one)."""
    with db.session_scope() as s:
        found = s.scalar(select(db.Job.id).where(db.Job.flow_run_id == flow_run_id))
        if found:
            return found
        pipe = s.get(EtlPipeline, pipeline_id)
    if pipe is None:
        return None
    return new_run_job(pipe.owner, pipeline_id, flow_run_id, trigger="schedule").id


def run_jobs(owner: str, pipeline_id: str, limit: int = 20) -> list[db.Job]:
    """The pipeline's runs, newest first (its job rows name it in input_uri)."""
    with db.session_scope() as s:
        return list(s.scalars(select(db.Job).where(db.Job.owner == owner, db.Job.kind == RUN_KIND,
                                                   db.Job.input_uri == f"pipeline:{pipeline_id}")
                              .order_by(db.Job.created_at.desc()).limit(limit)))
