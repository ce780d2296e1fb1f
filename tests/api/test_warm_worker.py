"""The warm worker: flow runs and streams fork from the platform's zygote through the warm launcher.

Real processes throughout: the session's platform (its zygote, worker and Prefect server), real jobs over
HTTP, real signals to the launcher.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx
import psutil
import pytest

from inferloop.core.auth import owner_of_bootstrap_key
from inferloop.core.settings import PROJECT_DIR
from tests.api.jobs_helpers import SLOW, flow_run_process, status, submit, upload, wait_for, wait_for_progress
from tests.api.test_stream import HEADERS, of, read_events, register_model, wait_gone
from tests.support import API_KEY

LAUNCHER = str(PROJECT_DIR / "inferloop" / "runtime" / "warm_launch.py")


@pytest.fixture()
def zygote(prefect_platform) -> psutil.Process:
    """The running zygote, once it listens (it imports for some seconds after the platform starts)."""
    from inferloop.runtime.zygote import zygote_socket

    path = zygote_socket(prefect_platform.settings)
    proc = psutil.Process(prefect_platform.procs["zygote"].pid)
    for _ in range(600):
        if path.exists():
            return proc
        assert proc.is_running(), "the zygote exited"
        psutil.wait_procs([proc], timeout=0.2)
    raise AssertionError(f"the zygote did not listen on {path}")


def launch(zygote_path: str | None, *args: str, env: dict | None = None, **kwargs) -> subprocess.Popen:
    env = dict(env or {**os.environ, "PYTHONPATH": str(PROJECT_DIR)})
    env.pop("INFERLOOP_ZYGOTE_SOCKET", None)
    if zygote_path:
        env["INFERLOOP_ZYGOTE_SOCKET"] = zygote_path
    return subprocess.Popen([sys.executable, "-I", "-S", LAUNCHER, "-m", *args], env=env, cwd=str(PROJECT_DIR),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, **kwargs)


def socket_of(platform) -> str:
    from inferloop.runtime.zygote import zygote_socket

    return str(zygote_socket(platform.settings))


def test_job_runs_in_a_forked_child_and_a_killed_launcher_takes_it_along(api, prefect_platform, zygote):
    up = upload(api, 200)
    job_id = submit(api, up["data_url"], parameters=SLOW).json()["job_id"]
    wait_for_progress(api, job_id, 11)
    run_id = status(api, job_id)["prefect_flow_run_id"]
    launcher = psutil.Process(flow_run_process(run_id))
    assert LAUNCHER in launcher.cmdline() and "prefect.engine" in launcher.cmdline()
    assert launcher.children() == []  # the run is not the launcher's child: it forked from the zygote
    forked = zygote.children()
    assert len(forked) == 1 and forked[0].ppid() == zygote.pid
    launcher.kill()  # what the worker's SIGKILL after a failed graceful cancel does
    gone, _ = psutil.wait_procs(forked, timeout=30)
    assert gone, "the forked run outlived its launcher"
    done = wait_for(api, job_id, {"failed", "completed", "cancelled"}, timeout=60, every=0.2)
    assert done["status"] == "failed", done
    assert zygote.is_running()


def test_a_plain_job_completes_with_its_rows(api, zygote):
    up = upload(api, 120)
    job_id = submit(api, up["data_url"], num_rows=30, parameters={"sdv_model": "gaussian_copula"}).json()["job_id"]
    done = wait_for(api, job_id, {"completed", "failed"}, timeout=300)
    assert done["status"] == "completed" and done["result"]["rows"] == 30, done
    psutil.wait_procs(zygote.children(), timeout=30)  # Completed is set before the process has exited
    assert zygote.children() == []  # the child ended and was reaped


def test_launcher_relays_exit_status_and_signals(prefect_platform, zygote):
    path = socket_of(prefect_platform)
    psutil.wait_procs(zygote.children(), timeout=30)  # runs of earlier tests end first
    # a module's exit status comes back through the launcher, warm and cold alike
    for socket_path in (path, "/nonexistent/zygote.sock"):
        proc = launch(socket_path, "tasks.tabular.stream_sampler", "--format", "xml", "x")
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 2 and b"invalid choice: 'xml'" in err, err
    # stdout reaches the launcher's own stdout
    proc = launch(path, "platform")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0 and out.strip(), out
    # SIGTERM to the launcher ends the forked child, and the launcher dies of the same signal
    proc = launch(path, "http.server", "0", "--bind", "127.0.0.1")
    for _ in range(600):
        children = zygote.children()
        if children:
            break
        psutil.wait_procs([zygote], timeout=0.1)
    assert len(children) == 1
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGTERM
    gone, _ = psutil.wait_procs(children, timeout=30)
    assert gone


def test_runs_get_the_torch_thread_cap_warm_and_cold(prefect_platform, zygote):
    """A forked run gets the zygote's cap; a run that starts cold (no zygote) gets it through OMP_NUM_THREADS."""
    from inferloop.runtime.zygote import torch_threads_per_run

    warm = launch(socket_of(prefect_platform), "tests.print_torch_threads")
    out, err = warm.communicate(timeout=120)
    assert warm.returncode == 0 and int(out) == torch_threads_per_run(prefect_platform.settings), err
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    cold = launch("/nonexistent/zygote.sock", "tests.print_torch_threads",
                  env={**env, "PYTHONPATH": str(PROJECT_DIR), "INFERLOOP_RUN_TORCH_THREADS": "1"})
    out, err = cold.communicate(timeout=120)
    assert cold.returncode == 0 and int(out) == 1, err


def test_stream_forks_from_the_zygote(api, zygote):
    model_id = register_model(owner_of_bootstrap_key(API_KEY))
    url = f"{api}/api/tabular/stream/{model_id}"
    with httpx.stream("GET", url, params={"rate": "max", "duration": 1}, headers=HEADERS, timeout=120) as r:
        assert r.status_code == 200
        pid = int(r.headers["X-Stream-Worker-Pid"])
        assert LAUNCHER in psutil.Process(pid).cmdline()
        events = read_events(r.iter_lines())
    assert events[0][0] == "header" and len(of(events, "record")) > 100
    assert wait_gone(pid)
    psutil.wait_procs(zygote.children(), timeout=15)
    assert zygote.children() == []


def test_the_zygote_preloads_everything_it_lists(prefect_platform, zygote):
    """Every module and warm call of the zygote's list imported (diffusers' pipeline classes among them): a
    broken preload would silently cost every run its imports again."""
    log = prefect_platform.log_dir / "zygote.log"
    for _ in range(300):
        ready = [line for line in log.read_text(errors="replace").splitlines() if " ready on " in line]
        if ready:
            break
        psutil.wait_procs([zygote], timeout=0.2)
    assert ready and "not preloaded" not in ready[-1], ready
