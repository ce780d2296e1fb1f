"""The embedded platform: a Prefect server (SQLite, UI), a process work pool, its worker and deployments.

Started, supervised and stopped together; all state under INFERLOOP_HOME. Used by
`inferloop-tabular serve` and by the test suite's fixtures.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import psutil

from inferloop.runtime.process_tree import PidFile, signal_tree, stop_trees, tree, wait_gone
from inferloop.core.settings import PROJECT_DIR, Settings
from inferloop.runtime.zygote import torch_threads_per_run, zygote_socket

SERVER_START_TIMEOUT = 180.0


def prefect_env(settings: Settings) -> dict[str, str]:
    """Environment shared by every process of the platform (server, CLI calls, worker, flow runs, API)."""
    settings.home.mkdir(parents=True, exist_ok=True)
    env = {
        "PREFECT_HOME": str(settings.prefect_home),
        "PREFECT_API_URL": settings.prefect_api_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "PREFECT_CLI_PROMPT": "false",
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_WORKER_PREFETCH_SECONDS": "5",
        "PREFECT_LOGGING_TO_API_BATCH_INTERVAL": "1",
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "false",
        "GX_ANALYTICS_ENABLED": "false",
        "TQDM_DISABLE": "1",
        "INFERLOOP_HOME": str(settings.home),
        "INFERLOOP_PROJECT_DIR": str(PROJECT_DIR),
        "INFERLOOP_WORK_POOL": settings.work_pool,
        "INFERLOOP_PYTHON": sys.executable,
        "INFERLOOP_RUN_TORCH_THREADS": str(torch_threads_per_run(settings)),  # runs that start cold (warm_launch)
    }
    if settings.warm_worker:  # flow runs and streams of the main environment fork from the zygote
        env["INFERLOOP_ZYGOTE_SOCKET"] = str(zygote_socket(settings))
    return env


def apply_env(settings: Settings) -> dict[str, str]:
    """Put the platform's environment into this process (before Prefect is imported)."""
    env = prefect_env(settings)
    os.environ.update(env)
    return env


def _default_signals() -> None:
    # a child of a non-interactive shell inherits SIGINT ignored; Prefect's worker then misses signals
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class EmbeddedPlatform:
    """Prefect server + process work pool + worker + deployments, as child processes."""

    def __init__(self, settings: Settings, log_dir: Path | None = None):
        self.settings = settings
        self.log_dir = log_dir or settings.home / "logs"
        self.procs: dict[str, subprocess.Popen] = {}
        self.restarts: dict[str, int] = {}
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None
        self.restarters: dict[str, Callable[[], subprocess.Popen]] = {}  # workers not of the main pool
        self.pidfile = PidFile(settings.home / "run")

    # -- helpers ---------------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        return {**os.environ, **prefect_env(self.settings)}

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "ab")
        proc = subprocess.Popen(args, env=env or self.env(), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=str(PROJECT_DIR),
                                preexec_fn=_default_signals, start_new_session=True)
        self.procs[name] = proc
        self._record()
        return proc

    def _record(self) -> None:
        """Write the pid file: this process and its live children (a crashed owner's next start reclaims them)."""
        self.pidfile.write({name: p.pid for name, p in self.procs.items() if p.poll() is None})

    def reclaim_orphans(self) -> list[int]:
        """Stop the children a crashed earlier owner of this data folder left running; refuse a live owner."""
        owner = self.pidfile.live_owner()
        if owner is not None:
            raise RuntimeError(f"another inferloop platform (pid {owner.pid}) runs on the data folder "
                               f"{self.settings.home}; stop it first")
        stopped = self.pidfile.reclaim(timeout=self.settings.shutdown_seconds)
        if stopped:
            print(f"inferloop: stopped {len(stopped)} processes left by a platform that did not stop "
                  f"cleanly: {stopped}", file=sys.stderr)
        return stopped

    def _prefect(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        r = subprocess.run([sys.executable, "-m", "prefect", *args], env=self.env(), cwd=str(PROJECT_DIR),
                           capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise RuntimeError(f"prefect {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        return r

    def server_healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.settings.prefect_api_url}/health", timeout=2) as r:
                return r.status == 200
        except Exception:
            return False

    # -- lifecycle -------------------------------------------------------------------------------
    def start_server(self, timeout: float = SERVER_START_TIMEOUT) -> None:
        """Start `prefect server start` on 127.0.0.1 (through inferloop/runtime/prefect_server.py: a short SQLite lock
        wait) and wait until /api/health answers."""
        if self.server_healthy():
            raise RuntimeError(f"a Prefect server already answers on port {self.settings.prefect_port}; "
                               "set INFERLOOP_PREFECT_PORT to another port")
        proc = self._spawn("prefect-server", [sys.executable, "-m", "inferloop.runtime.prefect_server",
                                              "--host", "127.0.0.1", "--port", str(self.settings.prefect_port)])
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if proc.poll() is not None:
                raise RuntimeError(f"Prefect server exited ({proc.returncode}); see {self.log_dir}/prefect-server.log")
            if self.server_healthy():
                return
            time.sleep(0.5)
        raise RuntimeError(f"Prefect server not healthy after {timeout:.0f} s; see {self.log_dir}")

    def ensure_work_pool(self) -> None:
        """Create or update the process work pool from deployments/process-base-job-template.json."""
        template = PROJECT_DIR / "deployments" / "process-base-job-template.json"
        self._prefect("work-pool", "create", self.settings.work_pool, "--type", "process",
                      "--base-job-template", str(template), "--overwrite")

    def deploy(self) -> None:
        """Register every deployment of prefect.yaml."""
        self._prefect("--no-prompt", "deploy", "--all", timeout=300)

    def start_worker(self, name: str = "worker-1") -> subprocess.Popen:
        """Start one process worker of the pool (its --limit is the number of concurrent runs), which the API
        wakes when it creates a run (inferloop/runtime/wakeable_worker.py)."""
        return self._spawn(name, [sys.executable, "-m", "inferloop.runtime.wakeable_worker", "--pool", self.settings.work_pool,
                                  "--name", name, "--limit", str(self.settings.worker_limit),
                                  "--wake", str(self.settings.worker_wake_socket)])

    def start_zygote(self) -> subprocess.Popen | None:
        """Start the zygote (inferloop/runtime/zygote.py) that flow runs fork from; its imports overlap the server's start.

        Until it listens, or without it (INFERLOOP_WARM_WORKER=false), runs start cold."""
        if not self.settings.warm_worker:
            return None
        return self._spawn("zygote", [sys.executable, "-m", "inferloop.runtime.zygote",
                                      "--socket", str(zygote_socket(self.settings)),
                                      "--torch-threads", str(torch_threads_per_run(self.settings))])

    def start(self, supervise: bool = True) -> None:
        self.reclaim_orphans()
        self.start_zygote()
        self.start_server()
        self.ensure_work_pool()
        self.deploy()
        self.start_worker()
        try:
            self.start_ydata()
        except Exception as exc:  # the optional ydata pool must not keep the platform from starting
            print(f"inferloop: algorithm=ydata not enabled, its worker did not start: {exc}", file=sys.stderr)
        if supervise:
            self._supervisor = threading.Thread(target=self._supervise, name="platform-supervisor", daemon=True)
            self._supervisor.start()

    def _supervise(self, every: float = 1.0) -> None:
        """Restart a worker that died (its runs are reported Crashed by Prefect; new runs need a worker)."""
        while not self._stopping.wait(every):
            for name, proc in list(self.procs.items()):
                if name.startswith(("worker", "zygote")) and proc.poll() is not None \
                        and not self._stopping.is_set():
                    self.restarts[name] = self.restarts.get(name, 0) + 1
                    print(f"inferloop: {name} exited ({proc.returncode}); restarting it", file=sys.stderr)
                    default = self.start_zygote if name == "zygote" else (lambda n=name: self.start_worker(n))
                    self.restarters.get(name, default)()

    def start_ydata(self, ready_timeout: float = 90.0) -> bool:
        """Where the ydata environment exists: its work pool, its deployments and a worker running from it.

        Added to the supervised children (restarted like the main worker). Returns whether ydata is enabled;
        waits until the worker has reported to the pool, so that the API accepts algorithm=ydata at once.
        """
        from inferloop.runtime import ydata_env

        python = ydata_env.ydata_python(self.settings)
        if python is None:
            return False
        pool = self.settings.ydata_work_pool
        env = ydata_env.process_env({**self.env(), "INFERLOOP_YDATA_WORK_POOL": pool,
                                     "INFERLOOP_YDATA_PYTHON": str(python)})
        env.pop("INFERLOOP_ZYGOTE_SOCKET", None)  # the main environment's: never for this interpreter's runs
        if self.settings.warm_worker:  # the pool's runs fork from a zygote of their own environment
            env["INFERLOOP_ZYGOTE_SOCKET"] = str(zygote_socket(self.settings, "ydata"))
            env[ydata_env.MAIN_ZYGOTE_ENV] = str(zygote_socket(self.settings))

            def start_zygote() -> subprocess.Popen:
                return self._spawn(ydata_env.ZYGOTE_NAME, [
                    str(python), "-m", "inferloop.runtime.zygote", "--preload", "ydata",
                    "--socket", env["INFERLOOP_ZYGOTE_SOCKET"]], env=env)

            self.restarters[ydata_env.ZYGOTE_NAME] = start_zygote
            start_zygote()
        self._prefect("work-pool", "create", pool, "--type", "process", "--base-job-template",
                      str(PROJECT_DIR / "deployments" / "process-base-job-template.json"), "--overwrite")
        r = subprocess.run([sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all", "--prefect-file",
                            str(ydata_env.PREFECT_FILE)], env=env, cwd=str(PROJECT_DIR), capture_output=True,
                           text=True, timeout=300, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise RuntimeError(f"deploying {ydata_env.PREFECT_FILE} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")

        def start() -> subprocess.Popen:
            return self._spawn(ydata_env.WORKER_NAME, [
                str(python), "-m", "prefect", "worker", "start", "--pool", pool, "--type", "process",
                "--name", ydata_env.WORKER_NAME, "--limit", str(self.settings.ydata_worker_limit)], env=env)

        self.restarters[ydata_env.WORKER_NAME] = start
        proc = start()
        end = time.monotonic() + ready_timeout
        while not self._pool_ready(pool):
            if proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError(f"the ydata worker did not start; see {self.log_dir}/{ydata_env.WORKER_NAME}.log")
            time.sleep(0.5)
        return True

    def _pool_ready(self, pool: str) -> bool:
        """Whether a worker of `pool` has reported to the server (the pool's status is READY)."""
        import json

        try:
            with urllib.request.urlopen(f"{self.settings.prefect_api_url}/work_pools/{pool}", timeout=5) as r:
                return json.loads(r.read()).get("status") == "READY"
        except Exception:
            return False

    def stop_process(self, name: str, timeout: float = 15.0) -> None:
        """Stop one child and its descendants (SIGTERM to its process group and tree, SIGKILL after `timeout`)."""
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(psutil.Error):
            stop_trees([psutil.Process(proc.pid)], timeout)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(1)
        self._record()

    def stop(self, timeout: float | None = None) -> None:
        """Stop every child within `timeout` s (default INFERLOOP_SHUTDOWN_SECONDS), then remove the pid file.

        Workers, the zygote and their runs get SIGTERM first (runs still report their end to the server),
        the Prefect server once they are gone or 60 % of the time has passed; whatever still runs near the
        end gets SIGKILL. Descendants in other sessions (flow-run processes) are found through the tree.
        """
        budget = self.settings.shutdown_seconds if timeout is None else timeout
        deadline = time.monotonic() + budget
        self._stopping.set()
        if self._supervisor is not None:
            self._supervisor.join(min(2.0, budget / 4))
        roots = {}
        for name, proc in self.procs.items():
            if proc.poll() is None:
                with contextlib.suppress(psutil.Error):
                    roots[name] = psutil.Process(proc.pid)
        trees = {name: tree(p) for name, p in roots.items()}
        first = [p for name, procs in trees.items() if name != "prefect-server" for p in procs]
        server = trees.get("prefect-server", [])
        signal_tree(first, signal.SIGTERM)
        left = wait_gone(first, deadline - 0.4 * budget)
        signal_tree(server, signal.SIGTERM)
        left = wait_gone(left + server, deadline - 0.5)
        if left:
            signal_tree(left, signal.SIGKILL)
            wait_gone(left, time.monotonic() + 2)
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(0.5)
        self.procs.clear()
        self.pidfile.remove()


class ApiThread:
    """The API (uvicorn) in a background thread on 127.0.0.1: for tests, benchmarks and embedding."""

    def __init__(self, app, port: int | None = None):
        import socket

        import uvicorn

        if port is None:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
        self.port = port
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> str:
        """Start serving; returns the base URL."""
        self.thread.start()
        end = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > end or not self.thread.is_alive():
                raise RuntimeError("API server did not start")
            time.sleep(0.05)
        return self.url

    def stop(self) -> None:
        """Ask uvicorn to exit and wait for its thread."""
        self.server.should_exit = True
        self.thread.join(15)

    def __enter__(self) -> "ApiThread":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def drain_prefect_clients() -> None:
    """Send this process's pending Prefect logs and events before the server goes (else exit waits on retries)."""
    import contextlib

    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogHandler, APILogWorker

    with contextlib.suppress(Exception):
        APILogHandler().flush()
    for worker_cls in (APILogWorker, EventsWorker):
        with contextlib.suppress(Exception):
            worker_cls.drain_all(timeout=10)
