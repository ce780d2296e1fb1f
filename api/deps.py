"""Shared FastAPI dependencies: settings, the authenticated principal (key or JWT) and its rate limit."""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Header, Request

from inferloop.core.auth import (Principal, authenticate_jwt, authenticate_key, looks_like_jwt,
                                 owner_of_bootstrap_key, unauthorized)
from inferloop.core.errors import InferloopError
from inferloop.core.ratelimit import RateState, request_limit
from inferloop.core.settings import Settings, get_settings

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


RateCounter = Callable[[Request, Principal, Settings], RateState | None]


def principal_counted_by(count: RateCounter) -> Callable[..., Principal]:
    """The one auth chain: a dependency that authenticates the caller (API key or JWT), then counts the request
    with `count`, the system's rate counter (429 over its limit); the state it returns gives the X-RateLimit-*
    headers of the response."""

    def dependency(request: Request, settings: SettingsDep,
                   x_api_key: Annotated[str | None, Header()] = None,
                   authorization: Annotated[str | None, Header()] = None) -> Principal:
        principal = authenticate(settings, x_api_key, authorization)
        request.state.principal = principal
        request.state.rate = count(request, principal, settings)
        return principal

    return dependency


def require_admin(principal: Principal) -> Principal:
    """The principal, if it is an administrator; 403 FORBIDDEN otherwise."""
    if not principal.is_admin:
        raise InferloopError("FORBIDDEN", "this endpoint is for administrators", status=403)
    return principal


def auth_chain(count: RateCounter) -> tuple[Any, Any, Any]:
    """The dependencies of one system's routes, counted by its rate counter: (principal, owner id, admin)."""
    principal_dep = Annotated[Principal, Depends(principal_counted_by(count))]

    def owner(principal: principal_dep) -> str:
        return principal.owner

    def admin(principal: principal_dep) -> Principal:
        return require_admin(principal)

    return principal_dep, Annotated[str, Depends(owner)], Annotated[Principal, Depends(admin)]


def tier_hourly(request: Request, principal: Principal, settings: Settings) -> RateState:
    """The platform's counter: the caller's tier's requests per hour."""
    return request_limit(principal, settings)


# the Tabular, SynthGen and image APIs (image-api.md's per-category limits are counted by each route)
CurrentPrincipal, CurrentOwner, AdminPrincipal = auth_chain(tier_hourly)
