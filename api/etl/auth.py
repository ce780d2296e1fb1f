"""POST /auth/login, POST /auth/refresh (etl-api.md "Authentication") and the admin endpoint that gives an
account its email + password login. Tokens are the platform's JWTs: they work on every API."""

from __future__ import annotations

import hashlib

import limits
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.deps import SettingsDep
from api.etl.deps import EtlAdmin
from inferloop.core import auth, db, logins
from inferloop.core.errors import InferloopError
from inferloop.core.ratelimit import NAMESPACE, limiter_for

router = APIRouter(tags=["etl: auth"])
LOGIN_ATTEMPTS = limits.RateLimitItemPerMinute(10, namespace=NAMESPACE)  # per email


class LoginRequest(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)


class RefreshRequest(BaseModel):
    refresh_token: str = Field(max_length=8192)


@router.post("/auth/login", summary="Exchange email and password for an access and a refresh token")
async def login(body: LoginRequest, settings: SettingsDep):
    email = body.email.strip().lower()
    if not limiter_for(settings).hit(LOGIN_ATTEMPTS, "etl-login", hashlib.sha256(email.encode()).hexdigest()[:32]):
        raise InferloopError("RATE_LIMITED", "too many login attempts for this email; retry in a minute",
                             status=429, headers={"Retry-After": "60"})
    principal = await run_in_threadpool(logins.login, email, body.password)
    return logins.token_pair(principal, settings)


@router.post("/auth/refresh", summary="A new token pair for a refresh token")
async def refresh(body: RefreshRequest, settings: SettingsDep):
    return logins.refresh(body.refresh_token, settings)


class LoginSet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account: str | None = Field(None, description="account id or name; omitted: a new account is created")
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)
    name: str | None = Field(None, max_length=256, description="name of a new account (default: the email)")
    tier: str = Field("starter", description="tier of a new account: starter, professional, business, enterprise")


@router.post("/admin/logins", status_code=201, summary="Give an account an email + password login (admin)")
async def set_login(body: LoginSet, _: EtlAdmin):
    def work():
        with db.session_scope() as s:
            if body.account:
                account = s.get(db.Account, body.account) or auth.account_by_name(s, body.account)
                if account is None:
                    raise InferloopError("NOT_FOUND", f"account '{body.account}' was not found", status=404)
            else:
                account = auth.create_account(s, body.name or logins.normalize_email(body.email), body.tier)
            row = logins.set_login(s, account.id, body.email, body.password)
            return {"account_id": account.id, "name": account.name, "tier": account.tier, "email": row.email,
                    "is_admin": account.is_admin}
    return await run_in_threadpool(work)
