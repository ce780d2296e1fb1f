"""One Settings object for every process (API, flows, CLI); env prefix INFERLOOP_."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_DIR = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INFERLOOP_", env_file=None, extra="ignore")

    home: Path = Field(default=Path("./.inferloop"), description="data folder for all embedded state")
    storage_url: str | None = Field(default=None, description="fsspec URL for artifacts; default <home>/storage")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite in <home>")

    api_keys: str = Field(default="", description="comma-separated keys accepted by the API (bootstrap)")
    auth_disabled: bool = Field(default=False, description="demo mode: no API key needed")
    bootstrap_tier: str = Field(default="enterprise", description="tier of the INFERLOOP_API_KEYS keys (admins)")
    # JWT (Authorization: Bearer <token>): HS256 with jwt_secret, or RS256/ES256 with a key pair (PEM)
    jwt_algorithm: str = "HS256"
    jwt_secret: str = ""
    jwt_private_key: str = Field(default="", description="PEM text or a path to it (signing, RS256/ES256)")
    jwt_public_key: str = Field(default="", description="PEM text or a path to it (verifying, RS256/ES256)")
    jwt_ttl_seconds: int = 3600
    jwt_issuer: str = "inferloop"
    jwt_audience: str = "inferloop-api"

    # Prefect
    prefect_port: int = 4200
    work_pool: str = "gpu"
    worker_limit: int = 1
    deployment_prefix: str = ""  # deployments are "<flow-name>/<prefix><flow-name>"

    # limits
    max_upload_mb: float = 200.0
    max_rows: int = 10_000_000
    # below the 60 s that nginx (proxy_read_timeout) and AWS load balancers (idle timeout) allow by default;
    # a sync request estimated to take longer answers 202 with its job at once (api/sync_jobs.py)
    sync_timeout_seconds: float = 55.0
    allowed_roots: str = Field(default="", description="comma-separated local folders data paths may come from")
    quality_sample_rows: int = 20_000
    rate_limit_storage: str = Field(default="", description="limits storage URI (redis://...); empty: the DB")
    # streaming generation (GET /stream/{model_id}): each stream runs one sampler process
    stream_max_duration_seconds: float = Field(default=3600.0, description="longest stream; the default duration")
    stream_batch_rows: int = Field(default=5000, ge=1, description="rows a stream's sampler generates at a time")
    stream_max_concurrent: int = Field(default=4, ge=1, description="streams one API process serves at once")
    stream_start_timeout_seconds: float = Field(default=120.0, description="time to load a model and start")

    # webhooks and job callbacks
    webhook_allow_private: bool = Field(default=False, description="allow webhook URLs on loopback/private hosts")
    webhook_max_attempts: int = 6
    webhook_backoff_seconds: float = 2.0   # 2, 4, 8, ... seconds between attempts
    webhook_timeout_seconds: float = 10.0
    callback_secret: str = Field(default="", description="signs callback_url deliveries without their own secret")
    watcher_interval_seconds: float = 1.0
    public_url: str = Field(default="", description="base URL clients reach the API at (absolute links in webhooks)")

    # --- image (issue 13) ---
    image_model: str = Field(default="inferloop/tiny-random-sd",
                             description="model used when a request names none: the built-in offline tiny "
                                         "pipeline (random weights), a model id found in image_model_dir or the "
                                         "Hugging Face cache, or a local diffusers folder")
    image_model_dir: str = Field(default="", description="comma-separated folders holding diffusers models as "
                                                         "<folder>/<model id>/model_index.json")
    image_device: str = Field(default="auto", description="auto (CUDA when present), cuda, cpu")
    image_torch_threads: int = Field(default=0, ge=0, description="CPU threads of torch in image runs; 0: torch's "
                                                                  "default (one per core)")
    image_max_upload_mb: float = Field(default=20.0, description="largest image upload (validate, profiles)")
    image_max_upload_pixels: int = Field(default=40_000_000, description="largest decoded upload (pixels)")
    image_max_count: int = Field(default=8, ge=1, description="images per prompt in one request")
    image_max_batch_prompts: int = Field(default=64, ge=1, description="prompts in one batch request")
    image_max_steps: int = Field(default=150, ge=1, description="largest num_inference_steps")
    image_default_steps: int = Field(default=50, ge=1, description="num_inference_steps when a request gives none")
    image_rate_generation: str = Field(default="10/minute", description="per owner (enterprise: unlimited)")
    image_rate_validation: str = Field(default="20/minute", description="per owner (enterprise: unlimited)")
    image_rate_export: str = Field(default="5/minute", description="per owner (enterprise: unlimited)")

    # --- context (issue 14) ---
    context_max_bytes: int = Field(default=1_000_000, ge=1, description="largest context text (UTF-8 bytes)")
    context_analyzer: str = Field(default="lexicon", pattern="^(lexicon|llm)$",
                                  description="lexicon (offline, default) or llm (needs the three below)")
    context_llm_url: str = Field(default="", description="OpenAI-compatible base URL, e.g. http://host:8000/v1")
    context_llm_model: str = ""
    context_llm_api_key: str = ""
    context_llm_timeout_seconds: float = 60.0
    context_sample_max_rows: int = Field(default=1000, ge=1, description="largest sample_size")
    context_max_corpus_size: int = Field(default=100_000_000, ge=1, description="largest corpus (records)")
    context_default_batch_size: int = Field(default=100_000, ge=1, description="records per batch by default")
    context_max_batches: int = Field(default=20, ge=1, description="more batches than this: batch_size grows")
    context_batch_workers: int = Field(default=2, ge=1, description="batch child runs a corpus runs at once")
    context_rate_per_minute: int = Field(default=60, ge=1, description="context API requests per client/minute")
    context_rate_per_hour: int = Field(default=1000, ge=1, description="context API requests per client/hour")
    context_rows_per_second: float = Field(default=100_000.0, gt=0, description="for estimated_completion")

    # --- etl (issue 15) ---
    etl_secret_key: str = Field(default="", description="Fernet key encrypting connector credentials at rest; "
                                "empty: <home>/etl-secret.key (created 0600 on first use)")
    etl_chunk_rows: int = Field(default=100_000, ge=1_000, description="rows per chunk moved by etl_pipeline")
    etl_connect_timeout_seconds: float = Field(default=5.0, gt=0, description="connector connect/test timeout")
    etl_query_timeout_seconds: float = Field(default=30.0, gt=0, description="preview/profile/query time limit")
    jwt_refresh_ttl_seconds: int = Field(default=7 * 24 * 3600, description="life of /api/v1/auth refresh tokens")
    etl_llm_plugin: str = Field(default="", description="module:callable of an optional NL->pipeline plug-in "
                                "(off when empty); the deterministic parser is the default")

    # --- platform: warm worker, shutdown (issue 16) ---
    shutdown_seconds: float = Field(default=10.0, gt=0, le=300, description="time `serve` takes at most to stop "
                                    "every child (workers, zygote, runs, Prefect server) on SIGTERM/SIGHUP/SIGINT")
    warm_worker: bool = Field(default=True, description="flow runs of the main pool fork from a zygote that keeps "
                              "Prefect, pandas, SDV and torch imported (false: a fresh interpreter per run)")
    warm_preload: str = Field(default="", description="comma-separated modules the zygote imports beside the "
                              "default set (inferloop/runtime/zygote.py PRELOAD)")
    warm_torch_threads: int = Field(default=0, ge=0, description="torch CPU threads of each forked run; 0: the "
                                    "machine's cores divided by worker_limit")

    # --- ydata (issue 17) ---
    # algorithm=ydata runs on its own work pool, from its own environment (scripts/setup.sh --ydata);
    # empty ydata_python: the environment that script builds for this checkout (inferloop/runtime/ydata_env.py)
    ydata_python: str = Field(default="", description="interpreter of the ydata environment (auto-detected)")
    ydata_venv: str = Field(default="", description="where scripts/setup-ydata.sh built it (INFERLOOP_YDATA_VENV)")
    ydata_work_pool: str = "gpu-ydata"
    ydata_worker_limit: int = Field(default=1, ge=1, description="concurrent ydata runs of the worker")

    @field_validator("home", mode="after")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        return v.expanduser().resolve()

    @property
    def storage(self) -> str:
        return self.storage_url or str(self.home / "storage")

    @property
    def database(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'inferloop.db'}"

    @property
    def prefect_home(self) -> Path:
        return self.home / "prefect"

    @property
    def prefect_api_url(self) -> str:
        return f"http://127.0.0.1:{self.prefect_port}/api"

    @property
    def keys(self) -> set[str]:
        return {k.strip() for k in self.api_keys.split(",") if k.strip()}

    @property
    def roots(self) -> list[Path]:
        return [Path(r).expanduser().resolve() for r in self.allowed_roots.split(",") if r.strip()]

    def socket_path(self, name: str) -> Path:
        """A Unix socket of the platform (zygote, worker wake-up): <home>/run/<name>, or a short path in the
        temp folder when that is too long for a socket (108 bytes)."""
        path = self.home / "run" / name
        if len(str(path)) < 100:
            return path
        import hashlib
        import os
        import tempfile

        digest = hashlib.sha256(str(self.home).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"inferloop-{os.getuid()}" / f"{digest}-{name}"

    @property
    def worker_wake_socket(self) -> Path:
        """Where the main pool's worker listens for wake-ups (inferloop/runtime/wakeable_worker.py)."""
        return self.socket_path("worker-wake.sock")

    def deployment_name(self, flow_name: str) -> str:
        return f"{flow_name}/{self.deployment_prefix}{flow_name}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
