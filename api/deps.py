"""Shared FastAPI dependencies: settings, the authenticated principal (key or JWT) and its rate limit."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from inferloop.auth import (Principal, authenticate_jwt, authenticate_key, looks_like_jwt,
                            owner_of_bootstrap_key, unauthorized)
from inferloop.errors import InferloopError
from inferloop.ratelimit import request_limit
from inferloop.settings import Settings, get_settings

owner_of_key = owner_of_bootstrap_key  # the owner id of a bootstrap key (INFERLOOP_API_KEYS)


def settings_dep(request: Request) -> Settings:
    return getattr(request.app.state, "settings", None) or get_settings()


SettingsDep = Annotated[Settings, Depends(settings_dep)]


def authenticate(settings: Settings, x_api_key: str | None, authorization: str | None) -> Principal:
    """X-API-Key, or `Authorization: Bearer <JWT or API key>` (the SynthGen document sends keys that way)."""
    if settings.auth_disabled:
        return Principal("demo", "enterprise", True, "demo")
    if x_api_key:
        return authenticate_key(x_api_key.strip(), settings)
    if authorization:
        scheme, _, credential = authorization.partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise unauthorized("Authorization must be 'Bearer <token or API key>'")
        if looks_like_jwt(credential):
            return authenticate_jwt(credential, settings)
        return authenticate_key(credential, settings)
    raise unauthorized("Missing API key: send it in the X-API-Key header (or a Bearer token)")


def current_principal(request: Request, settings: SettingsDep,
                      x_api_key: Annotated[str | None, Header()] = None,
                      authorization: Annotated[str | None, Header()] = None) -> Principal:
    """Authenticate, then count the request against the caller's hourly limit (429 over it)."""
    principal = authenticate(settings, x_api_key, authorization)
    request.state.principal = principal
    request.state.rate = request_limit(principal, settings)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def current_owner(principal: CurrentPrincipal) -> str:
    return principal.owner


CurrentOwner = Annotated[str, Depends(current_owner)]


def admin_principal(principal: CurrentPrincipal) -> Principal:
    if not principal.is_admin:
        raise InferloopError("FORBIDDEN", "this endpoint is for administrators", status=403)
    return principal


AdminPrincipal = Annotated[Principal, Depends(admin_principal)]
