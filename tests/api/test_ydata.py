"""algorithm=ydata end to end: its own environment, work pool and worker; refused clearly where not enabled.

The end-to-end tests need the ydata environment (`INFERLOOP_YDATA=1 scripts/setup.sh`, which .ci/run
does); without it they are skipped saying so, and `scripts/ydata_demo.sh` shows the same run by hand.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import time

import httpx
import pandas as pd
import psutil
import pytest

from inferloop.runtime import ydata_env
from inferloop.core.settings import PROJECT_DIR, get_settings
from tests.api.jobs_helpers import H, status, submit, upload
from tests.api.test_stream import read_events
from tests.receiver import Receiver
from tests.support import ApiServer
from tests.tabular_data import customers

YDATA_PYTHON = ydata_env.ydata_python(get_settings())
needs_ydata = pytest.mark.skipif(
    YDATA_PYTHON is None, reason="the ydata environment is not built here (INFERLOOP_YDATA=1 scripts/setup.sh "
    "builds it; scripts/ydata_demo.sh shows a ydata run by hand)")
FAST = {"algorithm": "ydata", "epochs": "3", "batch_size": "100", "noise_dim": "32"}


def generate(api: str, data: dict, rows: int = 200) -> httpx.Response:
    csv = customers(rows).to_csv(index=False).encode()
    return httpx.post(f"{api}/api/tabular/generate", files={"file": ("customers.csv", csv)}, data=data,
                      headers=H, timeout=900)


def download(api: str, gen_id: str) -> bytes:
    r = httpx.get(f"{api}/api/tabular/download/{gen_id}", params={"format": "csv"}, headers=H, timeout=120)
    assert r.status_code == 200, r.text
    return r.content


def flow_run_of(job_id: str):
    from api import dispatch
    from inferloop.core import db

    with db.session_scope() as s:
        run_id = s.get(db.Job, job_id).flow_run_id
    return asyncio.run(dispatch.read(run_id))


def stored_manifest(job_id: str) -> dict:
    from api.jobs import read_manifest

    return read_manifest(str(flow_run_of(job_id).id))


# ---------------------------------------------------------------- not enabled: a clear refusal, nothing run


@pytest.fixture(scope="module")
def api_without_ydata(prefect_platform, settings):
    """The API of a platform whose ydata work pool does not exist (as where the environment is not built)."""
    from api.main import create_app

    with ApiServer(create_app(settings.model_copy(update={"ydata_work_pool": "no-ydata-here"}),
                              run_watcher=False)) as server:
        yield server.url


def test_not_enabled_is_refused_before_anything_runs(api_without_ydata):
    r = generate(api_without_ydata, FAST)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert (err["code"], err["field"]) == ("ALGORITHM_ERROR", "algorithm")
    assert "not enabled" in err["message"] and "INFERLOOP_YDATA=1 scripts/setup.sh" in err["message"]
    up = upload(api_without_ydata, 50)
    r = submit(api_without_ydata, up["data_url"], algorithm="ydata")
    assert r.status_code == 400 and r.json()["error"]["code"] == "ALGORITHM_ERROR", r.text
    r = httpx.post(f"{api_without_ydata}/api/tabular/models", headers=H, timeout=60, json={
        "name": "m", "algorithm": "ydata", "training_data_url": up["data_url"], "parameters": {}})
    assert r.status_code == 400 and "not enabled" in r.json()["error"]["message"], r.text
    ready = httpx.get(f"{api_without_ydata}/ready", timeout=300).json()
    assert "ydata" not in ready["models_loaded"] and "scripts/setup.sh" in ready["models_not_installed"]["ydata"]


def test_bad_ydata_parameters_name_the_field(api_without_ydata):
    for data, field in [({"ydata_model": "bayes"}, "ydata_model"), ({"generator_lr": "0"}, "generator_lr"),
                        ({"privacy_level": "high"}, "privacy_level"), ({"epochs": "0"}, "epochs"),
                        ({"batch_size": "15"}, "batch_size")]:
        r = generate(api_without_ydata, {"algorithm": "ydata", **data}, rows=20)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["field"] == field


def test_multitable_refuses_ydata(api_without_ydata):
    r = httpx.post(f"{api_without_ydata}/api/tabular/multitable/generate", headers=H, timeout=60, json={
        "tables": {"t": {"url": "s3://x/t.csv"}}, "relationships": [], "algorithm": "ydata"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "ALGORITHM_ERROR", r.text


# ---------------------------------------------------------------- enabled: the ydata work pool runs it


@needs_ydata
def test_ready_lists_ydata(api):
    body = httpx.get(f"{api}/ready", timeout=300).json()
    assert "ydata" in body["models_loaded"] and "ydata" not in body["models_not_installed"]


@needs_ydata
def test_generate_runs_on_the_ydata_pool_with_epoch_progress_and_seeds(api, settings):
    data = {**FAST, "num_rows": "120", "seed": "42"}
    r = generate(api, data)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "completed" and body["algorithm"] == "ydata"
    md = body["metadata"]
    assert md["generated_rows"] == 120 and md["columns"] == 6 and 0 <= md["quality_score"] <= 1
    fr = flow_run_of(body["id"])
    assert fr.work_pool_name == settings.ydata_work_pool  # its own pool, its own worker
    manifest = stored_manifest(body["id"])
    assert manifest["model_key"] == "ydata:ctgan" and manifest["parameters"]["epochs"] == 3
    assert manifest["model_metadata"]["library"] == "ydata-synthetic 2.0.1"
    first = download(api, body["id"])
    df = pd.read_csv(io.BytesIO(first))
    assert len(df) == 120 and list(df.columns) == list(customers(5).columns)
    assert set(df["segment"].dropna()) <= {"gold", "silver", "bronze"}
    again = generate(api, data).json()
    assert download(api, again["id"]) == first  # same seed, same file (another seed: the adapter test below)


@needs_ydata
def test_async_job_reports_epochs_and_calls_back_then_a_saved_model_samples(api):
    up = upload(api, 150)
    with Receiver() as callback:
        job_id = submit(api, up["data_url"], algorithm="ydata", num_rows=40, callback_url=f"{callback.url}/cb",
                        parameters={"ydata_model": "wgangp", "epochs": 40, "batch_size": 50}).json()["job_id"]
        seen: set[float] = set()
        end = time.monotonic() + 900
        while (body := status(api, job_id))["status"] in ("pending", "running"):
            if body["progress"] is not None:
                seen.add(body["progress"])
            assert time.monotonic() < end, body
            time.sleep(0.3)
        assert body["status"] == "completed", body
        end = time.monotonic() + 60
        while not callback.requests:
            assert time.monotonic() < end, "no callback delivery"
            time.sleep(0.2)
    assert callback.requests[0].json["data"]["algorithm"] == "ydata"
    assert body["progress"] == 100
    training = sorted(p for p in seen if 10 < p < 80)  # generate's training span: 10% .. 80%, one step per epoch
    assert training, f"no progress seen during training: {sorted(seen)}"
    assert stored_manifest(job_id)["model_key"] == "ydata:wgangp"

    r = httpx.post(f"{api}/api/tabular/models", headers=H, timeout=60, json={
        "name": "ydata-model", "algorithm": "ydata", "training_data_url": up["data_url"], "seed": 5,
        "parameters": {"ydata_model": "ctgan", "epochs": 2, "batch_size": 50, "learning_rate": 0.001}})
    assert r.status_code == 202, r.text
    model_id = r.json()["model_id"]
    end = time.monotonic() + 900
    while (model := httpx.get(f"{api}/api/tabular/models/{model_id}", headers=H, timeout=60).json())["status"] \
            == "training":
        assert time.monotonic() < end
        time.sleep(1)
    assert model["status"] == "ready" and model["quality_score"] is not None, model
    url = f"{api}/api/tabular/models/{model_id}/generate"
    a = httpx.post(url, json={"num_rows": 30, "seed": 3}, headers=H, timeout=900).json()
    b = httpx.post(url, json={"num_rows": 30, "seed": 3}, headers=H, timeout=900).json()
    assert a["rows_generated"] == 30, a
    rows = [httpx.get(f"{api}{x['download_url']}", headers=H, timeout=60).text for x in (a, b)]
    assert rows[0] == rows[1]  # the saved TensorFlow model samples reproducibly on the ydata pool
    assert flow_run_of(a["generation_id"]).work_pool_name == get_settings().ydata_work_pool

    # streaming: the sampler process runs with the ydata environment's interpreter, forked from its zygote
    with httpx.stream("GET", f"{api}/api/tabular/stream/{model_id}", params={"rate": "max", "duration": "20"},
                      headers=H, timeout=300) as r:
        assert r.status_code == 200, r.read()
        launcher = psutil.Process(int(r.headers["X-Stream-Worker-Pid"])).cmdline()
        assert launcher[0] == str(YDATA_PYTHON) and launcher[3].endswith("inferloop/runtime/warm_launch.py"), launcher
        events = read_events(r.iter_lines(), stop_after_records=25)
    records = [json.loads(data) for name, data in events if name == "record"]
    assert len(records) == 25 and set(records[0]) == set(customers(5).columns)


@needs_ydata
def test_batch_runs_its_files_on_the_ydata_pool(api, settings):
    files = [{"url": upload(api, 60)["data_url"], "name": "one"}, {"url": upload(api, 50)["data_url"], "name": "two"}]
    r = httpx.post(f"{api}/api/tabular/batch", headers=H, timeout=60, json={
        "files": files, "algorithm": "ydata", "output_format": "csv",
        "common_parameters": {"num_rows": 20, "seed": 1, "epochs": 1, "batch_size": 20}})
    assert r.status_code == 202, r.text
    batch_id = r.json()["batch_id"]
    end = time.monotonic() + 900
    while (body := httpx.get(f"{api}/api/tabular/batch/{batch_id}", headers=H, timeout=60).json())["status"] \
            == "processing":
        assert time.monotonic() < end, body
        time.sleep(1)
    assert body["status"] == "completed" and body["completed"] == 2, body
    assert flow_run_of(batch_id).work_pool_name == settings.ydata_work_pool


# ---------------------------------------------------------------- the adapter itself, in the ydata environment

ADAPTER_CHECK = """
import json, sys
from tasks.tabular.synthesizers import build, load_model
from tests.tabular_data import customers
table = customers(120)
out = {}
for key in sys.argv[1:]:
    reports = []
    model = build(key, {"epochs": 2, "batch_size": 40, "noise_dim": 16, "layers_dim": 16,
                        "generator_dim": [32], "discriminator_dim": [32]})
    model.fit(table, seed=7, progress=lambda f, m: reports.append(m))
    first = model.sample(50, seed=11)
    model.save("/tmp/inferloop-ydata-check.pkl")
    again = None
    if key == "ydata:wgangp":  # (fitting ctgan twice with one seed: the end-to-end test above)
        again = build(key, {"epochs": 2, "batch_size": 40, "noise_dim": 16, "layers_dim": 16})
        again.fit(table, seed=7)
    out[key] = {"epochs": [m for m in reports if m.startswith("Epoch")],
                "dtypes": dict(first.dtypes.astype(str)) == dict(table.dtypes.astype(str)),
                "rows": len(first), "segments": sorted(set(first["segment"].dropna())),
                "age_in_range": bool(first["age"].between(18, 89).all()),
                "seeded": model.sample(50, seed=11).equals(first),
                "other_seed_differs": not model.sample(50, seed=12).equals(first),
                "loaded_same": load_model("/tmp/inferloop-ydata-check.pkl").sample(50, seed=11).equals(first),
                "refit_same": again is None or again.sample(50, seed=11).equals(first)}
print(json.dumps(out))
"""


@needs_ydata
def test_every_ydata_model_fits_samples_reproducibly_and_reloads():
    from tasks.tabular.synthesizers.registry import YDATA_MODEL_KEYS

    r = subprocess.run([str(YDATA_PYTHON), "-c", ADAPTER_CHECK, *YDATA_MODEL_KEYS], capture_output=True, text=True,
                       cwd=str(PROJECT_DIR), env=ydata_env.process_env(dict(os.environ)), timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    results = json.loads(r.stdout.strip().splitlines()[-1])
    for key, res in results.items():
        assert res["epochs"] == ["Epoch 1/2", "Epoch 2/2"], (key, res)
        assert res["dtypes"] and res["rows"] == 50 and res["age_in_range"], (key, res)
        assert set(res["segments"]) <= {"gold", "silver", "bronze"}, (key, res)
        assert res["seeded"] and res["other_seed_differs"] and res["loaded_same"] and res["refit_same"], (key, res)


@needs_ydata
def test_the_ydata_worker_is_supervised(prefect_platform):
    """A dead ydata worker is restarted from the ydata environment, like the main pool's worker."""
    import os
    import signal

    old = prefect_platform.procs[ydata_env.WORKER_NAME]
    os.killpg(old.pid, signal.SIGKILL)
    end = time.monotonic() + 60
    while prefect_platform.procs.get(ydata_env.WORKER_NAME) in (old, None):
        assert time.monotonic() < end, "the ydata worker was not restarted"
        time.sleep(0.2)
    proc = prefect_platform.procs[ydata_env.WORKER_NAME]
    assert proc.poll() is None and proc.args[0] == str(YDATA_PYTHON)
    assert prefect_platform.restarts[ydata_env.WORKER_NAME] >= 1


@needs_ydata
def test_ydata_runs_fork_from_a_zygote_of_their_environment(prefect_platform):
    """The ydata pool's runs start through the warm launcher from a zygote that imported TensorFlow and
    ydata-synthetic once (the main zygote could not: another interpreter); it is supervised like the worker."""
    from inferloop.runtime.zygote import zygote_socket

    proc = prefect_platform.procs[ydata_env.ZYGOTE_NAME]
    assert proc.args[0] == str(YDATA_PYTHON)
    path = zygote_socket(prefect_platform.settings, "ydata")
    end = time.monotonic() + 120
    while not path.exists():
        assert proc.poll() is None and time.monotonic() < end, "the ydata zygote does not listen"
        time.sleep(0.2)
    env = ydata_env.process_env({**os.environ, "INFERLOOP_ZYGOTE_SOCKET": str(path)})
    launcher = subprocess.run([str(YDATA_PYTHON), "-I", "-S", str(PROJECT_DIR / "inferloop" / "runtime" / "warm_launch.py"),
                               "-m", "tests.print_fork_origin"], env=env, cwd=str(PROJECT_DIR),
                              capture_output=True, text=True, timeout=120)
    assert launcher.returncode == 0, launcher.stderr
    assert json.loads(launcher.stdout) == {"ppid": proc.pid, "tensorflow": True}
    command = (PROJECT_DIR / "deployments" / "ydata.prefect.yaml").read_text()
    assert "inferloop/runtime/warm_launch.py -m prefect.engine" in command

    proc.kill()
    end = time.monotonic() + 60
    while prefect_platform.procs.get(ydata_env.ZYGOTE_NAME) in (proc, None):
        assert time.monotonic() < end, "the ydata zygote was not restarted"
        time.sleep(0.2)
    assert prefect_platform.restarts[ydata_env.ZYGOTE_NAME] >= 1
