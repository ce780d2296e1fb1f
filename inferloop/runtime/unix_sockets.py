"""Unix sockets of the platform (the zygote's, the worker's wake-up socket): only this user may connect."""

from __future__ import annotations

import contextlib
import os
import socket


def bind_private(path: str, kind: int = socket.SOCK_STREAM) -> socket.socket:
    """A Unix socket bound at `path` (a stale one is replaced), mode 0600 in a folder created 0700."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    sock = socket.socket(socket.AF_UNIX, kind)
    old = os.umask(0o077)
    try:
        sock.bind(path)
    finally:
        os.umask(old)
    return sock
