"""GET /health (liveness) and GET /ready (real checks of Prefect, the metadata store, storage, algorithms)."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from api import dispatch
from api.tabular import ydata
from api.deps import SettingsDep
from inferloop import __version__
from inferloop.core import db, storage
from inferloop.runtime import ydata_env

router = APIRouter(tags=["health"])

# algorithm -> modules whose import proves it can run on this host's workers (ydata runs in its own
# environment on its own work pool: api/tabular/ydata.py checks that pool instead)
ALGORITHM_MODULES = {"sdv": "sdv.single_table", "ctgan": "ctgan", "tabular_argn": "mostlyai.engine"}
_algo_cache: dict = {"at": 0.0, "value": []}


def importable_algorithms(ttl: float = 600.0) -> list[str]:
    """Which algorithms import in this environment (checked in a subprocess, cached)."""
    if time.monotonic() - _algo_cache["at"] < ttl and _algo_cache["at"]:
        return _algo_cache["value"]
    ok = []
    for name, module in ALGORITHM_MODULES.items():
        r = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, timeout=120)
        if r.returncode == 0:
            ok.append(name)
    _algo_cache.update(at=time.monotonic(), value=ok)
    return ok


def database_ok() -> bool:
    try:
        with db.engine().connect() as c:
            c.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


def storage_ok() -> bool:
    probe = storage.join("health", f"{uuid.uuid4()}.txt")
    try:
        with storage.open_uri(probe, "wb") as f:
            f.write(b"ok")
        storage.remove(probe, recursive=False)
        return True
    except Exception:
        return False


@router.get("/health", summary="Liveness")
async def health():
    return {"status": "healthy", "version": __version__,
            "timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}


@router.get("/ready", summary="Readiness: Prefect API, metadata store, storage and algorithms")
async def ready(settings: SettingsDep):
    prefect_ok = await dispatch.healthy()
    database = await run_in_threadpool(database_ok)
    store = await run_in_threadpool(storage_ok)
    models = list(await run_in_threadpool(importable_algorithms))
    not_installed = {}
    ydata_problem = await ydata.unavailable(settings)
    if ydata_problem is None:
        models.append("ydata")
    else:
        not_installed["ydata"] = f"{ydata_problem[1]}; to enable it, {ydata_env.ENABLE_HINT}"
    ok = prefect_ok and database and store and bool(models)
    body = {"status": "ready" if ok else "not_ready", "models_loaded": models, "models_not_installed": not_installed,
            "cache_connected": store, "database_connected": database,
            "prefect_connected": prefect_ok, "storage_connected": store}
    return JSONResponse(body, status_code=200 if ok else 503)
