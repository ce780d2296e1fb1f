"""The platform's child processes on record: a pid file under INFERLOOP_HOME/run, identity checks, stopping trees.

The pid file (`<home>/run/platform.json`) names the process that owns the platform (`inferloop-tabular serve`
or a test session) and each child it started (Prefect server, workers, the warm zygote), each as pid +
create_time + cmdline. A crashed owner leaves it behind; the next start finds the children that are still
alive *and still the same processes* (psutil: a reused pid has another create_time or cmdline, so a
stranger's process is never touched) and stops them with their descendants.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path

import psutil

PID_FILE = "platform.json"


def identity(proc: psutil.Process) -> dict:
    """What identifies a process beyond its pid: when it started and its command line."""
    with proc.oneshot():
        return {"pid": proc.pid, "create_time": proc.create_time(), "cmdline": proc.cmdline()}


def same_process(record: dict) -> psutil.Process | None:
    """The live process the record describes, or None (gone, or the pid now belongs to another process)."""
    try:
        proc = psutil.Process(int(record["pid"]))
        if proc.create_time() != record["create_time"] or proc.cmdline() != record["cmdline"]:
            return None
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc
    except (psutil.Error, KeyError, TypeError, ValueError):
        return None


class PidFile:
    """`<run_dir>/platform.json`: the owner and its named children."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / PID_FILE

    def read(self) -> dict | None:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None

    def write(self, children: dict[str, int]) -> None:
        """Record this process as the owner and `children` (name -> pid) that are alive now."""
        recorded = {}
        for name, pid in children.items():
            with contextlib.suppress(psutil.Error):
                recorded[name] = identity(psutil.Process(pid))
        data = {"owner": identity(psutil.Process()), "children": recorded}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, self.path)

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def live_owner(self) -> psutil.Process | None:
        """The recorded owner if it still runs (and is not this process)."""
        data = self.read() or {}
        owner = same_process(data.get("owner") or {})
        return owner if owner is not None and owner.pid != os.getpid() else None

    def reclaim(self, timeout: float = 10.0) -> list[int]:
        """Stop the recorded children of a dead owner (and their descendants); returns the pids stopped."""
        data = self.read()
        if data is None:
            return []
        procs = [p for p in (same_process(r) for r in (data.get("children") or {}).values()) if p is not None]
        stopped = stop_trees(procs, timeout)
        self.remove()
        return stopped


def tree(proc: psutil.Process) -> list[psutil.Process]:
    """The process and its descendants (whatever session they run in), parents first."""
    try:
        return [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return [proc]


def signal_tree(procs: list[psutil.Process], sig: int) -> None:
    """Send `sig` once to each process: to the group of each group leader, directly to the others.

    Once only: Prefect's worker CLI takes a second SIGTERM as "kill the worker now"."""
    groups = set()
    for proc in procs:
        with contextlib.suppress(OSError):
            if os.getpgid(proc.pid) == proc.pid and proc.pid != os.getpgrp():
                os.killpg(proc.pid, sig)
                groups.add(proc.pid)
    for proc in procs:
        with contextlib.suppress(psutil.Error, OSError):
            if os.getpgid(proc.pid) not in groups:
                proc.send_signal(sig)


def stop_trees(roots: list[psutil.Process], timeout: float) -> list[int]:
    """SIGTERM the roots' trees, SIGKILL what is left after `timeout` s; returns the pids signalled."""
    procs = {p.pid: p for root in roots for p in tree(root)}
    if not procs:
        return []
    signal_tree(list(procs.values()), signal.SIGTERM)
    _, alive = psutil.wait_procs(list(procs.values()), timeout=max(0.0, timeout))
    if alive:
        signal_tree(alive, signal.SIGKILL)
        psutil.wait_procs(alive, timeout=5)
    return sorted(procs)


def wait_gone(procs: list[psutil.Process], until: float) -> list[psutil.Process]:
    """Wait until the processes exit or the monotonic clock reaches `until`; returns those still alive."""
    _, alive = psutil.wait_procs(procs, timeout=max(0.0, until - time.monotonic()))
    return alive
