"""algorithm=ydata in the API: its own deployments (`<flow>-ydata`, on the ydata work pool), and a clear refusal
before anything is stored or started where this platform cannot run it.

ydata can run when its deployment of the flow is registered and a worker of its work pool is online: the
embedded platform arranges both when the ydata environment exists (inferloop/runtime/ydata_env.py). Otherwise a
request with algorithm=ydata gets ALGORITHM_ERROR: 400 where ydata is not installed (no pool or deployment),
503 where it is but no worker of its pool is online at the moment.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from prefect import get_client
from prefect.client.schemas.objects import WorkPoolStatus
from prefect.exceptions import ObjectNotFound

from inferloop.runtime import ydata_env
from inferloop.core.errors import InferloopError
from inferloop.core.settings import Settings
from inferloop.runtime.zygote import zygote_socket

READY_TTL = 15.0  # seconds a positive check is trusted
_ready_at: dict[tuple[str, str], float] = {}


def is_ydata(algorithm: str | None) -> bool:
    return (algorithm or "").strip().lower() == "ydata"


def variant(algorithm: str | None) -> str | None:
    """The deployment variant that runs `algorithm` (None: the flow's own deployment)."""
    return ydata_env.VARIANT if is_ydata(algorithm) else None


async def unavailable(settings: Settings, flow_name: str = "generate") -> tuple[int, str] | None:
    """None where ydata can run `flow_name` now, else (HTTP status, why not)."""
    pool_name = settings.ydata_work_pool
    key = (pool_name, flow_name)
    if time.monotonic() - _ready_at.get(key, -READY_TTL) < READY_TTL:
        return None
    deployment = ydata_env.deployment_name(settings, flow_name)
    try:
        async with get_client() as client:
            try:
                pool = await client.read_work_pool(pool_name)
                await client.read_deployment_by_name(deployment)
            except ObjectNotFound:
                return 400, (f"the ydata environment is not installed on this platform (no work pool "
                             f"'{pool_name}' with deployment '{deployment}')")
    except Exception as exc:  # Prefect unreachable: nothing could run anyway
        return 503, f"the Prefect API is unreachable ({type(exc).__name__})"
    if pool.status != WorkPoolStatus.READY:
        return 503, f"no worker of its work pool '{pool_name}' is online"
    _ready_at[key] = time.monotonic()
    return None


async def require(algorithm: str | None, settings: Settings, flow_name: str = "generate") -> None:
    """ALGORITHM_ERROR (400 not installed, 503 no worker online) when `algorithm` is ydata and cannot run."""
    if not is_ydata(algorithm):
        return
    problem = await unavailable(settings, flow_name)
    if problem is not None:
        status, why = problem
        raise InferloopError("ALGORITHM_ERROR", f"Algorithm 'ydata' is not enabled on this server: {why}. To "
                             f"enable it, {ydata_env.ENABLE_HINT}.", "algorithm", status=status)


def sampler_zygote(algorithm: str | None, settings: Settings) -> Path | None:
    """The platform's zygote of the environment that samples `algorithm` (inferloop/runtime/zygote.py), or None
    without the warm worker."""
    if not settings.warm_worker:
        return None
    return zygote_socket(settings, "ydata" if is_ydata(algorithm) else "main")


def sampler_python(algorithm: str | None, settings: Settings) -> tuple[str, dict[str, str]]:
    """(interpreter, extra environment) of a streaming sampler process for a model of `algorithm`."""
    if not is_ydata(algorithm):
        return sys.executable, {}
    python = ydata_env.ydata_python(settings)
    if python is None:
        raise InferloopError("ALGORITHM_ERROR", "Streaming a ydata model needs the ydata environment on the "
                             f"API's host, and it is not installed here; to enable it, {ydata_env.ENABLE_HINT}. "
                             "POST /models/{id}/generate works without it (on the ydata work pool).",
                             "model_id")
    return str(python), dict(ydata_env.PROCESS_ENV)
