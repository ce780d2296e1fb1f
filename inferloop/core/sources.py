"""Where input data may come from: checks every data URL a request names before anything reads it.

Allowed: `s3://bucket/key`; a local path under one of INFERLOOP_ALLOWED_ROOTS; `http(s)://` to a public
address. Refused: `file://`, other schemes, paths outside the roots (also through `..` or symlinks), and
http(s) targets that resolve to loopback, link-local, private, reserved or multicast addresses.
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path
from urllib.parse import urlparse

from inferloop.core.errors import InferloopError
from inferloop.core.settings import Settings

ALLOWED_SCHEMES = ("s3", "http", "https")


def _refuse(message: str, field: str) -> InferloopError:
    return InferloopError("INVALID_REQUEST", message, field)


def check_data_url(url: str, settings: Settings, field: str = "data_url") -> str:
    """Return the URL/path to read, or raise INVALID_REQUEST naming the field."""
    if not isinstance(url, str) or not url.strip():
        raise _refuse(f"{field} must be a non-empty string", field)
    url = url.strip()
    if "\x00" in url:
        raise _refuse(f"{field} contains a NUL byte", field)
    parsed = urlparse(url)
    scheme = parsed.scheme.lower()
    if scheme == "" or (len(scheme) == 1 and url[1:3] in (":\\", ":/")):
        return check_local_path(url, settings, field)
    if scheme == "file":
        raise _refuse("file:// URLs are not allowed; use a path under an allowed root, s3:// or an upload", field)
    if scheme not in ALLOWED_SCHEMES:
        raise _refuse(f"URL scheme '{scheme}' is not allowed; use one of: s3, https, http", field)
    if scheme == "s3":
        if not parsed.netloc or not parsed.path.strip("/"):
            raise _refuse(f"{field} must look like s3://bucket/key", field)
        return url
    check_public_host(parsed.hostname or "", field)
    return url


def check_local_path(path: str, settings: Settings, field: str = "data_url") -> str:
    """A local path is allowed only when it resolves (symlinks included) inside an allowed root."""
    roots = settings.roots
    if not roots:
        raise _refuse("local paths are not allowed on this server (no INFERLOOP_ALLOWED_ROOTS configured)", field)
    p = Path(path).expanduser()
    if not p.is_absolute():
        raise _refuse(f"{field} must be an absolute path under an allowed root", field)
    real = p.resolve()
    if not any(real == r or r in real.parents for r in roots):
        raise _refuse(f"{field} is outside the allowed roots", field)
    return str(real)


def check_public_host(host: str, field: str = "data_url") -> None:
    """Refuse hosts that resolve to non-public addresses (SSRF guard)."""
    if not host:
        raise _refuse(f"{field} has no host", field)
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        raise _refuse(f"host '{host}' of {field} does not resolve", field)
    for info in infos:
        addr = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if not addr.is_global or addr.is_multicast:
            raise _refuse(f"host '{host}' of {field} is not a public address ({addr}); "
                          "loopback, link-local and private targets are refused", field)
