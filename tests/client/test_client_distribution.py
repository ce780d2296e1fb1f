"""The Python client is its own distribution (clients/python): it installs into a fresh environment with httpx
alone (no torch, SDV, Prefect or pandas) and talks to the platform from there."""

import shutil
import subprocess
import sys
import venv
from pathlib import Path

from inferloop.core.settings import PROJECT_DIR

CHECK = """
import importlib.util, json, sys
import inferloop_client, inferloop_synthdata
from inferloop_client import TabularClient, ImageClient, ContextClient, EtlClient, NotFoundError
heavy = [m for m in ("torch", "sdv", "prefect", "pandas", "fastapi", "inferloop") if importlib.util.find_spec(m)]
client = TabularClient(api_key="k", base_url="http://127.0.0.1:9")
print(json.dumps({"heavy": heavy, "client": type(client).__name__,
                  "image": inferloop_synthdata.SyntheticImageClient is ImageClient}))
"""


def test_client_installs_alone_without_the_platform(tmp_path: Path):
    env_dir = tmp_path / "client-env"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    source = tmp_path / "source"  # a copy: building leaves build/ folders behind
    shutil.copytree(PROJECT_DIR / "clients" / "python", source, ignore=shutil.ignore_patterns("*.egg-info", "build"))
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(source)],
                             capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-3000:]
    out = subprocess.run([str(python), "-I", "-c", CHECK], capture_output=True, text=True, timeout=120,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith('{"heavy": [], "client": "TabularClient", "image": true}'), out.stdout
    freeze = subprocess.run([str(python), "-m", "pip", "freeze"], capture_output=True, text=True).stdout.lower()
    assert "inferloop-client" in freeze and "httpx" in freeze
    assert not any(name in freeze for name in ("torch", "prefect", "sdv", "pandas")), freeze
    assert sys.executable != str(python)
