"""Metadata store: SQLAlchemy 2 models and sessions; SQLite by default, PostgreSQL by URL.

Only what Prefect does not know lives here (owners, public ids, links to flow runs).
Job *state* is always read from Prefect. Schema changes go through Alembic (inferloop/migrations).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TypeVar
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

from sqlalchemy import JSON, Boolean, DateTime, Float, Integer, String, Text, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from inferloop.core.settings import get_settings

T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4()}"


class Base(DeclarativeBase):
    pass


class Job(Base):
    """A public job: links the public id and its owner to the Prefect flow run that does the work."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)          # generate, ...
    owner: Mapped[str] = mapped_column(String(64), index=True)
    flow_run_id: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    algorithm: Mapped[str | None] = mapped_column(String(64), nullable=True)
    input_uri: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    options: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    callback_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    callback_secret: Mapped[str | None] = mapped_column(String(256), nullable=True)
    cancel_requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # set once the job's final state has been turned into webhook deliveries
    final_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    notified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # usage, recorded with the final state
    rows_generated: Mapped[int | None] = mapped_column(Integer, nullable=True)
    compute_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # the registry model a train / sample job belongs to, and the batch a batch job runs
    model_id: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)


class Model(Base):
    """A registry entry: a fitted synthesizer in storage, trained by a `train_model` job.

    Shared by the Tabular (/api/tabular/models) and SynthGen (/api/synthgen/models) APIs. While its
    training job runs the status comes from Prefect; the final facts (status, artifact, scores) are copied
    here from the run's manifest when the job ends.
    """

    __tablename__ = "models"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(256))
    algorithm: Mapped[str] = mapped_column(String(64), index=True)       # sdv, ctgan, tabular_argn
    model_key: Mapped[str] = mapped_column(String(64))                   # sdv:ctgan, ctgan, tabular_argn
    model_type: Mapped[str] = mapped_column(String(64))                  # SynthGen's name: ctgan, tvae, ...
    parameters: Mapped[dict] = mapped_column(JSON, default=dict)
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="training")  # training, ready, failed
    training_job_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    training_data_uri: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    artifact_uri: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    size_mb: Mapped[float | None] = mapped_column(Float, nullable=True)
    quality_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    model_metadata: Mapped[dict] = mapped_column("metadata", JSON, default=dict)
    constraint_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    project_id: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    dataset_version_id: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    error: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class DatasetVersion(Base):
    """A table registered once for SynthGen training: an uploaded file or a storage URL."""

    __tablename__ = "dataset_versions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), index=True)
    project_id: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    project_name: Mapped[str | None] = mapped_column(String(256), nullable=True)
    dataset_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(256))
    version: Mapped[int] = mapped_column(Integer, default=0)
    uri: Mapped[str] = mapped_column(String(1024))
    format: Mapped[str | None] = mapped_column(String(16), nullable=True)
    rows: Mapped[int | None] = mapped_column(Integer, nullable=True)
    columns: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ConstraintSet(Base):
    """A named, validated list of constraints, applied by id to generation and training."""

    __tablename__ = "constraint_sets"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(256))
    constraints: Mapped[list] = mapped_column(JSON, default=list)
    validation_status: Mapped[str] = mapped_column(String(16), default="valid")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Batch(Base):
    """A batch: one parent flow run (its Job row, kind "batch") that runs one child flow per file."""

    __tablename__ = "batches"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), index=True)
    job_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    files: Mapped[list] = mapped_column(JSON, default=list)       # [{"url", "name"}] as requested
    options: Mapped[dict] = mapped_column(JSON, default=dict)     # algorithm, common_parameters, output_format
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Account(Base):
    """An owner of keys and of everything they create; its tier sets its limits."""

    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    tier: Mapped[str] = mapped_column(String(32), default="starter")
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiKey(Base):
    """An API key, stored only as its SHA-256; `prefix` is shown to people to tell keys apart."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(256), default="")
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class RateCounter(Base):
    """A fixed-window counter (storage for the `limits` library); survives API restarts."""

    __tablename__ = "rate_counters"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[float] = mapped_column(Float, index=True)


class Upload(Base):
    """A file uploaded once and named later as `upload://<id>` (e.g. by async generation)."""

    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), index=True)
    uri: Mapped[str] = mapped_column(String(1024))
    format: Mapped[str] = mapped_column(String(16))
    filename: Mapped[str] = mapped_column(String(512))
    rows: Mapped[int] = mapped_column(Integer)
    columns: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Webhook(Base):
    """An owner's subscription: events delivered to url, signed with secret."""

    __tablename__ = "webhooks"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[list] = mapped_column(JSON, default=list)
    secret: Mapped[str] = mapped_column(String(256))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WebhookDelivery(Base):
    """One event to one URL, with its attempts; never deleted, so failures stay visible."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), index=True)
    webhook_id: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)  # None: callback_url
    job_id: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    event: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(2048))
    payload: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True, default="pending")  # pending/delivered/failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    response_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


def as_utc(dt: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes: they are UTC."""
    if dt is None:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


@lru_cache
def engine_for(url: str) -> Engine:
    kwargs: dict = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        Path(url.split("///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    eng = create_engine(url, **kwargs)
    if url.startswith("sqlite"):
        @event.listens_for(eng, "connect")
        def _wal(dbapi_conn, _record):  # concurrent readers while a writer works
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.close()
    return eng


def engine() -> Engine:
    return engine_for(get_settings().database)


@contextmanager
def session_scope() -> Iterator[Session]:
    maker = sessionmaker(bind=engine(), expire_on_commit=False)
    with maker() as s:
        try:
            yield s
            s.commit()
        except Exception:
            s.rollback()
            raise


def owned(model: type[T], ident: object, owner: str | None, what: str) -> T:
    """The one "owned or 404": the row of `model` with this primary key if `owner` owns it (None: any owner);
    NOT_FOUND otherwise, worded exactly as for an unknown id, so another owner's rows are never revealed."""
    from inferloop.core.errors import not_found

    with session_scope() as s:
        row = s.get(model, ident) if isinstance(ident, str) else None
    if row is None or (owner is not None and row.owner != owner):
        raise not_found(what, str(ident))
    return row


def migrate(url: str | None = None) -> None:
    """Bring the schema to the newest Alembic revision."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.set_main_option("sqlalchemy.url", (url or get_settings().database).replace("%", "%%"))
    engine_for(url or get_settings().database)  # creates the SQLite folder
    command.upgrade(cfg, "heads")  # each system adds its own branch of revisions (down_revision "0004")
