"""Tokens and key administration: POST /auth/token; admin-only /admin/accounts and /admin/keys."""

from __future__ import annotations

import time

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.deps import AdminPrincipal, CurrentPrincipal, SettingsDep
from inferloop.core import auth, db
from inferloop.core.errors import InferloopError

router = APIRouter(tags=["auth"])


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    expires_in: int | None = Field(None, ge=60, le=30 * 24 * 3600, description="seconds (default: server's)")


@router.post("/auth/token", summary="Exchange the caller's API key for a signed JWT")
async def token(principal: CurrentPrincipal, settings: SettingsDep, body: TokenRequest | None = None):
    if principal.via == "jwt":
        raise InferloopError("FORBIDDEN", "use an API key to obtain a token", status=403)
    value, exp = auth.issue_token(principal, settings, body.expires_in if body else None)
    return {"access_token": value, "token_type": "bearer", "expires_at": exp,
            "expires_in": exp - int(time.time())}


class AccountCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=256)
    tier: str = "starter"
    is_admin: bool = False


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account: str = Field(description="account name or id; created when `create_account` is true")
    name: str = ""
    tier: str = "starter"
    create_account: bool = True


def _account_view(a: db.Account) -> dict:
    return {"account_id": a.id, "name": a.name, "tier": a.tier, "is_admin": a.is_admin,
            "created_at": db.as_utc(a.created_at).isoformat()}


@router.post("/admin/accounts", status_code=201, summary="Create an account (admin)")
async def create_account(body: AccountCreate, _: AdminPrincipal):
    def work():
        with db.session_scope() as s:
            return _account_view(auth.create_account(s, body.name, body.tier, body.is_admin))
    return await run_in_threadpool(work)


@router.post("/admin/keys", status_code=201, summary="Create an API key (admin); the key is shown once")
async def create_key(body: KeyCreate, _: AdminPrincipal):
    def work():
        with db.session_scope() as s:
            account = s.get(db.Account, body.account) or auth.account_by_name(s, body.account)
            if account is None:
                if not body.create_account:
                    raise InferloopError("NOT_FOUND", f"account '{body.account}' was not found", status=404)
                account = auth.create_account(s, body.account, body.tier)
            row, plaintext = auth.create_key(s, account.id, body.name)
            return {**auth.key_view(row, account), "api_key": plaintext}
    return await run_in_threadpool(work)


@router.get("/admin/keys", summary="List API keys (admin; hashes are never shown)")
async def list_keys(_: AdminPrincipal, account: str | None = None):
    def work():
        with db.session_scope() as s:
            acct = (s.get(db.Account, account) or auth.account_by_name(s, account)) if account else None
            if account and acct is None:
                raise InferloopError("NOT_FOUND", f"account '{account}' was not found", status=404)
            return {"keys": [auth.key_view(k, a) for k, a in auth.list_keys(s, acct.id if acct else None)]}
    return await run_in_threadpool(work)


@router.delete("/admin/keys/{key_id}", summary="Revoke an API key (admin)")
async def revoke_key(key_id: str, _: AdminPrincipal):
    def work():
        with db.session_scope() as s:
            row = auth.revoke_key(s, key_id)
            return auth.key_view(row, s.get(db.Account, row.account_id))
    return await run_in_threadpool(work)
