"""Connector credentials encrypted at rest with Fernet (cryptography).

The key is INFERLOOP_ETL_SECRET_KEY, else `<INFERLOOP_HOME>/etl-secret.key`, created once with mode 0600.
The API and the workers read the same metadata store and the same key, so a flow run resolves a connector id
to its credentials at run time; the API never returns them.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from inferloop.core.errors import InferloopError
from inferloop.core.settings import Settings, get_settings

KEY_FILE = "etl-secret.key"


def _key_file(home: Path) -> bytes:
    path = home / KEY_FILE
    home.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    key = Fernet.generate_key()
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


@lru_cache(maxsize=8)
def _fernet(explicit: str, home: str) -> Fernet:
    key = explicit.encode() if explicit else _key_file(Path(home))
    try:
        return Fernet(key)
    except ValueError as exc:
        raise InferloopError("GENERATION_FAILED", f"the ETL secret key is not a Fernet key: {exc}", status=500)


def fernet(settings: Settings | None = None) -> Fernet:
    s = settings or get_settings()
    return _fernet(s.etl_secret_key, str(s.home))


def encrypt(values: dict[str, str], settings: Settings | None = None) -> str:
    """The Fernet token of the JSON of `values` ('' when there is nothing secret)."""
    if not values:
        return ""
    return fernet(settings).encrypt(json.dumps(values, sort_keys=True).encode()).decode()


def decrypt(token: str, settings: Settings | None = None) -> dict[str, str]:
    if not token:
        return {}
    try:
        return json.loads(fernet(settings).decrypt(token.encode()))
    except InvalidToken:
        raise InferloopError("GENERATION_FAILED", "connector credentials cannot be decrypted with this server's "
                             "ETL secret key (INFERLOOP_ETL_SECRET_KEY or <home>/etl-secret.key changed?)",
                             status=500)
