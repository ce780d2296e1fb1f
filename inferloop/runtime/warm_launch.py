"""The warm launcher: run `python -m <module> [args]` in a process forked from the zygote, or cold if there is none.

The deployments' `command` job variable (prefect.yaml) is

    <python> -I -S <checkout>/inferloop/runtime/warm_launch.py -m prefect.engine

so the process the Prefect worker starts for a flow run is this small script (standard library only, no
site packages: it starts in about 20 ms). It connects to the zygote's Unix socket (INFERLOOP_ZYGOTE_SOCKET,
checked to belong to this user), hands over its stdin/stdout/stderr, environment, working directory and
arguments, and the zygote forks a child that already has Prefect, pandas, SDV and torch imported and runs
the module there (inferloop/runtime/zygote.py). The launcher then stands in for that child:

- signals it receives (the worker's SIGTERM on cancel, SIGINT, SIGHUP, ...) go to the child's process group;
- it exits with the child's exit status (killed by signal N: it kills itself with N, so the worker sees -N);
- if the launcher itself is killed (SIGKILL), the zygote sees its connection close and kills the child.

Without a zygote (none configured, not started yet, gone, or refusing) it execs the cold command
`<python> -m <module> [args]` in this same process, so plain deployments keep working everywhere.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import sys

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
SOCKET_ENV = "INFERLOOP_ZYGOTE_SOCKET"
THREADS_ENV = "INFERLOOP_RUN_TORCH_THREADS"  # the platform's torch threads per run (a forked run gets it from the zygote)
HEADER = struct.Struct("!I")  # length of the JSON request that follows


def through_zygote(args: list[str], env: dict[str, str], zygote: str) -> list[str]:
    """The interpreter arguments that run `args` (`-m module ...`) forked from the zygote at `zygote`, through
    this launcher; sets the zygote's socket in `env`, the environment the process will get."""
    env[SOCKET_ENV] = str(zygote)
    return ["-I", "-S", os.path.abspath(__file__), *args]


def cold(args: list[str]) -> None:
    """Replace this process with the plain interpreter running `args` (never returns).

    Its torch threads are capped as a forked run's are: torch takes OMP_NUM_THREADS as its default."""
    threads = os.environ.get(THREADS_ENV)
    if threads and "OMP_NUM_THREADS" not in os.environ:
        os.environ["OMP_NUM_THREADS"] = threads
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, *args])


def connect(path: str) -> socket.socket | None:
    """A connection to the zygote at `path` owned by this user, or None."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(10)
        sock.connect(path)
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _, uid, _ = struct.unpack("3i", creds)
        if uid != os.getuid():
            raise PermissionError(f"{path} is served by uid {uid}")
        return sock
    except OSError:
        sock.close()
        return None


def read_lines(sock: socket.socket):
    """The zygote's replies, one JSON object a line, until it closes the connection."""
    buffer = b""
    while True:
        try:
            chunk = sock.recv(4096)
        except InterruptedError:
            continue
        if not chunk:
            return
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            yield json.loads(line)


def main(args: list[str]) -> None:
    if len(args) < 2 or args[0] != "-m":
        sys.exit("usage: warm_launch.py -m <module> [args...]")
    path = os.environ.get(SOCKET_ENV)
    sock = connect(path) if path else None
    if sock is None:
        cold(args)
    request = json.dumps({"argv": args, "env": dict(os.environ), "cwd": os.getcwd()}).encode()
    try:
        socket.send_fds(sock, [HEADER.pack(len(request)) + request], [0, 1, 2])
        sock.settimeout(None)
        replies = read_lines(sock)
        first = next(replies, None)
    except (OSError, ValueError):
        first = None
    if not first or "pid" not in first:  # the zygote refused or went away before forking: run cold
        sock.close()
        cold(args)
    child = int(first["pid"])

    def forward(signum, frame):
        try:
            os.killpg(child, signum)
        except ProcessLookupError:
            pass

    for sig in FORWARDED:
        signal.signal(sig, forward)
    status = next(replies, None) or {}
    if "signal" in status:
        signum = int(status["signal"])
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
    if "exit" in status:
        sys.exit(int(status["exit"]))
    sys.stderr.write("inferloop warm launcher: the zygote went away while the run was in progress\n")
    sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
