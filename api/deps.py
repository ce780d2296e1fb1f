"""Shared FastAPI dependencies: settings and the authenticated owner."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, Header, Request

from inferloop.errors import InferloopError
from inferloop.settings import Settings, get_settings


def settings_dep(request: Request) -> Settings:
    return getattr(request.app.state, "settings", None) or get_settings()


SettingsDep = Annotated[Settings, Depends(settings_dep)]


def owner_of_key(key: str) -> str:
    """A stable owner id for an API key, never the key itself."""
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def current_owner(settings: SettingsDep,
                  x_api_key: Annotated[str | None, Header()] = None,
                  authorization: Annotated[str | None, Header()] = None) -> str:
    """Authenticate by X-API-Key (or `Authorization: Bearer <key>`); returns the owner id."""
    if settings.auth_disabled:
        return "demo"
    key = x_api_key
    if not key and authorization and authorization.lower().startswith("bearer "):
        key = authorization[7:].strip()
    if not key:
        raise InferloopError("UNAUTHORIZED", "Missing API key: send it in the X-API-Key header", status=401)
    if not any(hmac.compare_digest(key, k) for k in settings.keys):
        raise InferloopError("UNAUTHORIZED", "Invalid API key", status=401)
    return owner_of_key(key)


CurrentOwner = Annotated[str, Depends(current_owner)]
