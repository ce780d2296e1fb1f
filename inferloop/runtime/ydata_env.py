"""The ydata environment: where algorithm=ydata runs (its own virtual environment and its own work pool).

ydata-synthetic 2.0.1 needs TensorFlow 2.15 and numpy < 2, so it cannot live in the main environment.
`scripts/setup.sh --ydata` builds it (scripts/setup-ydata.sh) under ~/.cache/inferloop/ydata-venv-<hash>,
the hash of requirements-ydata.txt and that script; this module finds it the same way. When it exists the
embedded platform creates the ydata work pool, deploys deployments/ydata.prefect.yaml (the same flows,
named `<flow>-ydata`, run by that interpreter) and starts a second worker from it.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

from inferloop.core.settings import PROJECT_DIR, Settings

VARIANT = "ydata"  # the ydata deployments are "<flow>/<prefix><flow>-ydata"
FLOWS = ("generate", "train_model", "sample_model", "batch")  # deployed on the ydata work pool
PREFECT_FILE = PROJECT_DIR / "deployments" / "ydata.prefect.yaml"
WORKER_NAME = "worker-ydata"
ZYGOTE_NAME = "zygote-ydata"  # its runs fork from it (inferloop/runtime/zygote.py --preload ydata)
ENABLE_HINT = ("build its environment with `INFERLOOP_YDATA=1 scripts/setup.sh` (or `scripts/setup.sh "
               "--ydata`) and restart `inferloop-tabular serve`")
# every process of the ydata pool: no usage pings from ydata-synthetic (it would otherwise call home on
# every model it creates), quiet TensorFlow, and the checkout importable (the project is not installed there)
PROCESS_ENV = {"YDATA_SYNTHETIC_NO_ANALYTICS": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "TQDM_DISABLE": "1"}
# in the ydata pool's processes: the main environment's zygote, where their quality score is computed
MAIN_ZYGOTE_ENV = "INFERLOOP_MAIN_ZYGOTE_SOCKET"


def _hash(*files: Path) -> str:
    """The first 12 hex digits of sha256 over the files' bytes, as `cat files | sha256sum` in the scripts."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "inferloop"


def default_venv() -> Path:
    """Where scripts/setup-ydata.sh builds the ydata environment for this checkout's pins."""
    pins = _hash(PROJECT_DIR / "requirements-ydata.txt", PROJECT_DIR / "scripts" / "setup-ydata.sh")
    return _cache_dir() / f"ydata-venv-{pins}"


def ydata_python(settings: Settings) -> Path | None:
    """The ydata environment's interpreter, or None where it is not built (INFERLOOP_YDATA_PYTHON wins)."""
    if settings.ydata_python:
        python = Path(settings.ydata_python).expanduser()
        return python if python.exists() else None
    venv = Path(settings.ydata_venv).expanduser() if settings.ydata_venv else default_venv()
    python = venv / "bin" / "python"
    return python if (venv / ".complete").exists() and python.exists() else None


def process_env(base: dict[str, str]) -> dict[str, str]:
    """`base` plus what every process of the ydata pool needs (the checkout on PYTHONPATH first)."""
    path = os.pathsep.join(filter(None, [str(PROJECT_DIR), base.get("PYTHONPATH")]))
    return {**base, **PROCESS_ENV, "PYTHONPATH": path}


def main_python() -> str | None:
    """The main environment's interpreter (SDV, sdmetrics), for work the ydata environment cannot do.

    The platform sets INFERLOOP_PYTHON for every process; else the venv scripts/setup.sh built for this
    checkout; else this interpreter when it is the main environment itself.
    """
    named = os.environ.get("INFERLOOP_PYTHON")
    if named and Path(named).exists():
        return named
    venv = _cache_dir() / "venv-{}".format(_hash(PROJECT_DIR / "requirements.txt", PROJECT_DIR / "requirements-test.txt",
                                                 PROJECT_DIR / "scripts" / "setup.sh"))
    if (venv / ".complete").exists():
        return str(venv / "bin" / "python")
    import importlib.util

    return sys.executable if importlib.util.find_spec("sdv") is not None else None


def deployment_name(settings: Settings, flow_name: str) -> str:
    """The ydata deployment of a flow: "<flow>/<prefix><flow>-ydata"."""
    return f"{settings.deployment_name(flow_name)}-{VARIANT}"
