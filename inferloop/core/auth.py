"""Who is calling: API keys (stored hashed, owned by accounts with a tier) and JWT bearer tokens (PyJWT)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import jwt
from sqlalchemy import select
from sqlalchemy.orm import Session

from inferloop.core import db
from inferloop.core.errors import InferloopError
from inferloop.core.settings import Settings
from inferloop.core.tiers import limits_for

KEY_PREFIX = "il_"
SYMMETRIC = {"HS256", "HS384", "HS512"}
ASYMMETRIC = {"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "EdDSA"}


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: the owner of what it creates, its tier and rights."""

    owner: str
    tier: str
    is_admin: bool
    via: str  # api_key | jwt | bootstrap | demo


def unauthorized(message: str) -> InferloopError:
    return InferloopError("UNAUTHORIZED", message, status=401)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def owner_of_bootstrap_key(key: str) -> str:
    """A stable owner id for a bootstrap key (INFERLOOP_API_KEYS), never the key itself."""
    return "key-" + hash_key(key)[:16]


# --- accounts and keys ------------------------------------------------------------------------------

def create_account(s: Session, name: str, tier: str = "starter", is_admin: bool = False) -> db.Account:
    limits_for(tier)
    if not name or len(name) > 256:
        raise InferloopError("INVALID_REQUEST", "account name must be 1-256 characters", "name")
    if s.scalar(select(db.Account).where(db.Account.name == name)):
        raise InferloopError("INVALID_REQUEST", f"account '{name}' already exists", "name")
    account = db.Account(id=db.new_id("acct"), name=name, tier=tier, is_admin=is_admin)
    s.add(account)
    s.flush()
    return account


def account_by_name(s: Session, name: str) -> db.Account | None:
    return s.scalar(select(db.Account).where(db.Account.name == name))


def create_key(s: Session, account_id: str, name: str = "") -> tuple[db.ApiKey, str]:
    """A new key for the account; the plaintext is returned once and never stored."""
    if s.get(db.Account, account_id) is None:
        raise InferloopError("NOT_FOUND", f"account '{account_id}' was not found", status=404)
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    row = db.ApiKey(id=db.new_id("key"), account_id=account_id, name=name[:256], key_hash=hash_key(plaintext),
                    prefix=plaintext[:10])
    s.add(row)
    s.flush()
    return row, plaintext


def revoke_key(s: Session, key_id: str, account_id: str | None = None) -> db.ApiKey:
    row = s.get(db.ApiKey, key_id)
    if row is None or (account_id is not None and row.account_id != account_id):
        raise InferloopError("NOT_FOUND", f"key '{key_id}' was not found", status=404)
    if row.revoked_at is None:
        row.revoked_at = db.utcnow()
    return row


def list_keys(s: Session, account_id: str | None = None) -> list[tuple[db.ApiKey, db.Account]]:
    q = select(db.ApiKey, db.Account).join(db.Account, db.Account.id == db.ApiKey.account_id)
    if account_id:
        q = q.where(db.ApiKey.account_id == account_id)
    return list(s.execute(q.order_by(db.ApiKey.created_at)).tuples())


def key_view(key: db.ApiKey, account: db.Account) -> dict:
    """What people may see of a key (never its hash)."""
    iso = lambda d: db.as_utc(d).isoformat() if d else None  # noqa: E731
    return {"key_id": key.id, "name": key.name, "prefix": key.prefix, "account_id": account.id,
            "account": account.name, "tier": account.tier, "is_admin": account.is_admin,
            "created_at": iso(key.created_at), "revoked_at": iso(key.revoked_at),
            "last_used_at": iso(key.last_used_at), "active": key.revoked_at is None}


# --- authentication -----------------------------------------------------------------------------------

def authenticate_key(key: str, settings: Settings) -> Principal:
    """A bootstrap key (admin, bootstrap tier) or a stored, unrevoked key."""
    if any(hmac.compare_digest(key, k) for k in settings.keys):
        return Principal(owner_of_bootstrap_key(key), settings.bootstrap_tier, True, "bootstrap")
    with db.session_scope() as s:
        row = s.scalar(select(db.ApiKey).where(db.ApiKey.key_hash == hash_key(key)))
        if row is None:
            raise unauthorized("Invalid API key")
        if row.revoked_at is not None:
            raise unauthorized("API key has been revoked")
        account = s.get(db.Account, row.account_id)
        if account is None:
            raise unauthorized("Invalid API key")
        row.last_used_at = db.utcnow()
        return Principal(account.id, account.tier, account.is_admin, "api_key")


def _pem(value: str) -> str:
    value = value.strip()
    if value and not value.startswith("-----") and Path(value).expanduser().is_file():
        return Path(value).expanduser().read_text()
    return value


def _signing_key(settings: Settings) -> str:
    if settings.jwt_algorithm in SYMMETRIC:
        if not settings.jwt_secret:
            raise InferloopError("FORBIDDEN", "JWT is not configured on this server (INFERLOOP_JWT_SECRET)",
                                 status=403)
        return settings.jwt_secret
    if not settings.jwt_private_key:
        raise InferloopError("FORBIDDEN", "JWT signing is not configured (INFERLOOP_JWT_PRIVATE_KEY)", status=403)
    return _pem(settings.jwt_private_key)


def _verifying_key(settings: Settings) -> str | None:
    if settings.jwt_algorithm in SYMMETRIC:
        return settings.jwt_secret or None
    return _pem(settings.jwt_public_key) or None


def issue_token(principal: Principal, settings: Settings, ttl: int | None = None) -> tuple[str, int]:
    """A signed JWT for the principal; returns (token, expires_at epoch seconds)."""
    now = int(time.time())
    exp = now + int(ttl or settings.jwt_ttl_seconds)
    claims = {"sub": principal.owner, "tier": principal.tier, "adm": principal.is_admin, "iat": now,
              "nbf": now, "exp": exp, "iss": settings.jwt_issuer, "aud": settings.jwt_audience,
              "jti": secrets.token_hex(8)}
    return jwt.encode(claims, _signing_key(settings), algorithm=settings.jwt_algorithm), exp


def authenticate_jwt(token: str, settings: Settings) -> Principal:
    """Verify signature, algorithm (only the configured one), expiry, issuer and audience."""
    key = _verifying_key(settings)
    if key is None:
        raise unauthorized("Bearer tokens are not accepted: JWT is not configured on this server")
    try:
        claims = jwt.decode(token, key, algorithms=[settings.jwt_algorithm], audience=settings.jwt_audience,
                            issuer=settings.jwt_issuer, options={"require": ["exp", "sub", "iat"]})
    except jwt.ExpiredSignatureError:
        raise unauthorized("Token has expired")
    except jwt.InvalidAlgorithmError:
        raise unauthorized(f"Token algorithm not allowed (this server accepts {settings.jwt_algorithm})")
    except jwt.InvalidSignatureError:
        raise unauthorized("Invalid token signature")
    except jwt.PyJWTError as exc:
        raise unauthorized(f"Invalid token: {exc}")
    owner = str(claims["sub"])
    with db.session_scope() as s:
        account = s.get(db.Account, owner)
        if account is not None:  # the store is the source of truth for tier and rights
            return Principal(account.id, account.tier, account.is_admin, "jwt")
    tier = claims.get("tier", "starter")
    if tier not in ("starter", "professional", "business", "enterprise"):
        raise unauthorized("Invalid token: unknown tier")
    return Principal(owner, tier, bool(claims.get("adm", False)), "jwt")


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and not token.startswith(KEY_PREFIX)
