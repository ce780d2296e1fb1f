"""`inferloop-tabular serve` stops everything it started on SIGTERM and SIGHUP, and a crashed serve's children
are reclaimed by the next start (real processes, real signals, a real Prefect server per serve)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from inferloop.core.settings import PROJECT_DIR
from tests.support import free_port

START_TIMEOUT = 300  # a Prefect server needs ~20 s here, more on a loaded machine


class Serve:
    """One `python -m inferloop.cli serve` in its own session, on its own ports and data folder."""

    def __init__(self, home: Path, api_port: int, prefect_port: int, ydata: bool = True):
        self.home, self.api_port = home, api_port
        env = {**os.environ, "INFERLOOP_HOME": str(home), "INFERLOOP_PREFECT_PORT": str(prefect_port),
               "INFERLOOP_AUTH_DISABLED": "true", "INFERLOOP_WORK_POOL": "shutdown-test",
               "PYTHONPATH": str(PROJECT_DIR)}
        if not ydata:  # a venv that does not exist: no ydata pool or worker (each start ~5 s quicker alone, more in CI)
            env["INFERLOOP_YDATA_VENV"] = str(home / "no-ydata-venv")
        home.mkdir(parents=True, exist_ok=True)
        self.log = open(home / "serve.out", "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "inferloop.cli", "serve", "--port", str(api_port)],
                                     env=env, cwd=str(PROJECT_DIR), stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)

    def wait_ready(self) -> dict:
        """Wait until the API answers; returns the pid file's content."""
        end = time.monotonic() + START_TIMEOUT
        while True:
            assert self.proc.poll() is None, self.output()
            try:
                if httpx.get(f"http://127.0.0.1:{self.api_port}/health", timeout=2).status_code == 200:
                    return json.loads((self.home / "run" / "platform.json").read_text())
            except httpx.HTTPError:
                pass
            assert time.monotonic() < end, self.output()
            time.sleep(0.5)

    def output(self) -> str:
        return (self.home / "serve.out").read_text(errors="replace")[-4000:]

    def processes(self, pidfile: dict) -> list[psutil.Process]:
        """serve's recorded children and all their descendants, as they are now."""
        procs = []
        for rec in pidfile["children"].values():
            root = psutil.Process(rec["pid"])
            procs += [root, *root.children(recursive=True)]
        return procs

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.log.close()


def alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    return [p for p in procs if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


@pytest.fixture()
def ports():
    return free_port(), free_port()


def test_sigterm_stops_every_child(tmp_path, ports):
    serve = Serve(tmp_path / "home", *ports)
    try:
        pidfile = serve.wait_ready()
        assert {"prefect-server", "worker-1"} <= set(pidfile["children"]), pidfile
        assert pidfile["owner"]["pid"] == serve.proc.pid
        procs = serve.processes(pidfile)
        serve.proc.send_signal(signal.SIGTERM)
        assert serve.proc.wait(120) == 0, serve.output()
        _, left = psutil.wait_procs(procs, timeout=5)
        assert not alive(left), [p.cmdline() for p in alive(left)]
        assert not (tmp_path / "home" / "run" / "platform.json").exists()
        # within INFERLOOP_SHUTDOWN_SECONDS (10): by then whatever is left has been sent SIGKILL
        took = re.search(r"stopped ([0-9.]+) s after SIGTERM", serve.output())
        assert took and float(took.group(1)) <= 10, serve.output()
    finally:
        serve.kill()


def test_crashed_serve_is_reclaimed_and_sighup_stops(tmp_path, ports):
    home = tmp_path / "home"
    # the SIGTERM test covers the ydata worker where its environment exists; here the two starts skip it
    crashed = Serve(home, *ports, ydata=False)
    try:
        pidfile = crashed.wait_ready()
        orphans = crashed.processes(pidfile)
        crashed.proc.send_signal(signal.SIGKILL)  # serve alone dies; its children run on in their sessions
        crashed.proc.wait()
        assert len(alive(orphans)) == len(orphans)
        # a stranger's process is never taken for one of ours: same pid file entry shape, other create_time
        stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
        data = json.loads((home / "run" / "platform.json").read_text())
        data["children"]["stranger"] = {"pid": stranger.pid, "create_time": 1.0,
                                        "cmdline": psutil.Process(stranger.pid).cmdline()}
        (home / "run" / "platform.json").write_text(json.dumps(data))

        second = Serve(home, *ports, ydata=False)
        try:
            pidfile = second.wait_ready()
            _, left = psutil.wait_procs(orphans, timeout=5)
            assert not alive(left), [p.cmdline() for p in alive(left)]
            assert stranger.poll() is None
            assert "left by a platform that did not stop cleanly" in second.output()
            procs = second.processes(pidfile)
            second.proc.send_signal(signal.SIGHUP)
            assert second.proc.wait(120) == 0, second.output()
            _, left = psutil.wait_procs(procs, timeout=5)
            assert not alive(left), [p.cmdline() for p in alive(left)]
        finally:
            second.kill()
            stranger.kill()
            stranger.wait()
    finally:
        for p in alive(orphans):
            p.kill()
        crashed.kill()
