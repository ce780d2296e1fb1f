"""The main pool's worker: Prefect's process worker, plus a wake-up socket so a new run need not wait for a poll.

`python -m inferloop.runtime.wakeable_worker --pool gpu --name worker-1 --limit 1 --wake <socket>` runs the same
`ProcessWorker` that `prefect worker start --type process` runs (same pool, same job template, same signal
handling: the first SIGTERM/SIGINT stops it gracefully, the second kills it), and it still polls every
PREFECT_WORKER_QUERY_SECONDS. Beside that it listens on a Unix datagram socket: the API sends one byte
after it creates a flow run (`wake_worker`), and the worker then looks for scheduled runs at once instead of
up to a poll interval later. A run that both paths find is submitted once (Prefect's Pending transition
decides). Without the socket nothing changes but the wait.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
from pathlib import Path

from inferloop.runtime.unix_sockets import bind_private

WAKE_BYTE = b"w"


def wake_worker(path: Path | str | None) -> None:
    """Ask the worker listening at `path` to look for scheduled runs now (best effort, never blocks)."""
    if not path:
        return
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        sock.sendto(WAKE_BYTE, str(path))


def _bind(path: str) -> socket.socket:
    sock = bind_private(path, socket.SOCK_DGRAM)
    sock.setblocking(False)
    return sock


async def _listen(worker, sock: socket.socket) -> None:
    """On each wake-up (several queued ones count once), poll the pool for scheduled runs."""
    loop = asyncio.get_running_loop()
    while True:
        await loop.sock_recv(sock, 64)
        with contextlib.suppress(BlockingIOError):
            while sock.recv(64):  # coalesce the wake-ups already queued
                pass
        try:
            await worker.get_and_submit_flow_runs()
        except Exception as exc:  # noqa: BLE001  (not started or synced yet, API hiccup: the poll loop goes on)
            worker._logger.debug("wake-up poll failed: %s", exc)


async def run(pool: str, name: str, limit: int | None, wake: str | None) -> None:
    from prefect.settings import PREFECT_WORKER_HEARTBEAT_SECONDS
    from prefect.utilities.processutils import setup_signal_handlers_worker
    from prefect.workers.process import ProcessWorker

    setup_signal_handlers_worker(os.getpid(), "the process worker", print)
    worker = ProcessWorker(name=name, work_pool_name=pool, limit=limit,
                           heartbeat_interval_seconds=int(PREFECT_WORKER_HEARTBEAT_SECONDS.value()))
    listener = None
    sock = _bind(wake) if wake else None
    try:
        if sock is not None:
            listener = asyncio.create_task(_listen(worker, sock))
        await worker.start(with_healthcheck=False, printer=print)
    except asyncio.CancelledError:
        print(f"Worker {worker.name!r} stopped!")
    finally:
        if listener is not None:
            listener.cancel()
        if sock is not None:
            sock.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(wake)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m inferloop.runtime.wakeable_worker", description=__doc__.splitlines()[0])
    parser.add_argument("--pool", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--wake", default=None, help="Unix datagram socket to listen on for wake-ups")
    args = parser.parse_args(argv)
    asyncio.run(run(args.pool, args.name, args.limit, args.wake))


if __name__ == "__main__":
    main()
