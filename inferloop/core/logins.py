"""Email + password logins for accounts (POST /api/v1/auth/login), one per account, hashed with scrypt.

A login only proves who the caller is; the tokens it yields are the platform's JWTs (`inferloop.core.auth`), so a
token from /api/v1/auth/login works on every API and a token from /api/tabular/auth/token works here.
Refresh tokens are JWTs of the same signer with their own audience (`<audience>:refresh`), so they are never
accepted as access tokens.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from datetime import datetime

from sqlalchemy import DateTime, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from inferloop.core import auth, db
from inferloop.core.errors import InferloopError
from inferloop.core.settings import Settings

SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}  # OWASP's scrypt minimum; ~50 ms per hash here
PASSWORD_MIN, PASSWORD_MAX = 8, 256
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")


class AccountLogin(db.Base):
    """An account's login: a unique email and the scrypt hash of its password (never the password)."""

    __tablename__ = "account_logins"

    account_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=db.utcnow)


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **SCRYPT)
    return "scrypt${n}${r}${p}${salt}${digest}".format(
        **SCRYPT, salt=base64.b64encode(salt).decode(), digest=base64.b64encode(digest).decode())


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(base64.b64decode(digest)))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, base64.b64decode(digest))


_DUMMY_HASH = hash_password("not-a-password", b"0" * 16)  # unknown emails cost the same time as known ones


def normalize_email(email: str, field: str = "email") -> str:
    email = (email or "").strip().lower()
    if not EMAIL.match(email):
        raise InferloopError("INVALID_REQUEST", "email must look like name@domain", field)
    return email


def check_password(password: str, field: str = "password") -> str:
    if not isinstance(password, str) or not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise InferloopError("INVALID_REQUEST", f"password must be {PASSWORD_MIN} to {PASSWORD_MAX} characters",
                             field)
    return password


def set_login(s: Session, account_id: str, email: str, password: str) -> AccountLogin:
    """Give an account its login (or replace it); the email must not belong to another account."""
    email, password = normalize_email(email), check_password(password)
    if s.get(db.Account, account_id) is None:
        raise InferloopError("NOT_FOUND", f"account '{account_id}' was not found", status=404)
    other = s.scalar(select(AccountLogin).where(AccountLogin.email == email))
    if other is not None and other.account_id != account_id:
        raise InferloopError("CONFLICT", f"email '{email}' already belongs to another account", "email",
                             status=409)
    row = s.get(AccountLogin, account_id)
    if row is None:
        row = AccountLogin(account_id=account_id, email=email, password_hash="")
        s.add(row)
    row.email, row.password_hash, row.updated_at = email, hash_password(password), db.utcnow()
    s.flush()
    return row


def email_of(s: Session, account_id: str) -> str | None:
    row = s.get(AccountLogin, account_id)
    return row.email if row else None


def login(email: str, password: str) -> auth.Principal:
    """The account whose email and password match, or 401 (the same answer for an unknown email)."""
    email = (email or "").strip().lower()
    with db.session_scope() as s:
        row = s.scalar(select(AccountLogin).where(AccountLogin.email == email))
        ok = verify_password(password or "", row.password_hash if row else _DUMMY_HASH)
        account = s.get(db.Account, row.account_id) if row is not None and ok else None
        if account is None:
            raise auth.unauthorized("Invalid email or password")
        return auth.Principal(account.id, account.tier, account.is_admin, "jwt")


def refresh_settings(settings: Settings) -> Settings:
    """The signer's settings for refresh tokens: another audience, a longer life."""
    return settings.model_copy(update={"jwt_audience": f"{settings.jwt_audience}:refresh",
                                       "jwt_ttl_seconds": settings.jwt_refresh_ttl_seconds})


def token_pair(principal: auth.Principal, settings: Settings) -> dict:
    """The documented login response."""
    access, exp = auth.issue_token(principal, settings)
    refresh, _ = auth.issue_token(principal, refresh_settings(settings))
    return {"access_token": access, "refresh_token": refresh, "token_type": "bearer",
            "expires_in": int(settings.jwt_ttl_seconds)}


def refresh(refresh_token: str, settings: Settings) -> dict:
    """A new token pair for a valid refresh token (an access token is refused here)."""
    principal = auth.authenticate_jwt(refresh_token, refresh_settings(settings))
    return token_pair(principal, settings)
