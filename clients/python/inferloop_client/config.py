"""Client-side settings (API key and URL) for the CLI and the Python client.

Precedence: an explicit value, then INFERLOOP_API_KEY / INFERLOOP_API_URL, then the config file
(`INFERLOOP_CONFIG`, default ~/.config/inferloop/config.json, written with mode 0600).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

KNOWN_KEYS = {"api.key": "INFERLOOP_API_KEY", "api.url": "INFERLOOP_API_URL"}
DEFAULT_URL = "http://localhost:8000"


def config_path() -> Path:
    return Path(os.environ.get("INFERLOOP_CONFIG") or Path.home() / ".config" / "inferloop" / "config.json")


def load() -> dict[str, str]:
    path = config_path()
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}")
    return {k: str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def set_value(key: str, value: str) -> Path:
    """Store key=value in the config file (private to the user)."""
    if key not in KNOWN_KEYS:
        raise ValueError(f"unknown setting '{key}'; known: {', '.join(sorted(KNOWN_KEYS))}")
    data = load()
    data[key] = value
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.chmod(0o600)
    tmp.replace(path)
    return path


def get_value(key: str, explicit: str | None = None) -> str | None:
    """The effective value: explicit, then the environment, then the config file."""
    if key not in KNOWN_KEYS:
        raise ValueError(f"unknown setting '{key}'; known: {', '.join(sorted(KNOWN_KEYS))}")
    if explicit:
        return explicit
    return os.environ.get(KNOWN_KEYS[key]) or load().get(key)


def api_key(explicit: str | None = None) -> str | None:
    return get_value("api.key", explicit)


def api_url(explicit: str | None = None) -> str:
    return (get_value("api.url", explicit) or DEFAULT_URL).rstrip("/")
