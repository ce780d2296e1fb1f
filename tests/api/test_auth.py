"""Accounts, keys, JWTs, tenancy, rate limits and usage over real HTTP."""

from __future__ import annotations

import time
import uuid

import httpx
import jwt
import pytest

from tests.support import API_KEY, ApiServer

ADMIN = {"X-API-Key": API_KEY}  # bootstrap keys are administrators


def new_key(api: str, tier: str = "starter", account: str | None = None) -> tuple[str, dict]:
    account = account or f"acct-{tier}-{uuid.uuid4().hex[:8]}"
    r = httpx.post(f"{api}/api/tabular/admin/keys", json={"account": account, "tier": tier, "name": "test"},
                   headers=ADMIN)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["api_key"].startswith("il_") and body["tier"] == tier
    return body["api_key"], body


def error_of(r: httpx.Response, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code, err
    return err


# --- keys -----------------------------------------------------------------------------------------------

def test_key_lifecycle(api_no_prefect):
    api = api_no_prefect
    key, info = new_key(api, "professional")
    me = {"X-API-Key": key}
    assert httpx.get(f"{api}/api/tabular/webhooks", headers=me).status_code == 200
    assert httpx.get(f"{api}/api/tabular/webhooks", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    listed = httpx.get(f"{api}/api/tabular/admin/keys", headers=ADMIN).json()["keys"]
    mine = next(k for k in listed if k["key_id"] == info["key_id"])
    assert mine["prefix"] == key[:10] and "api_key" not in mine and "key_hash" not in mine
    assert all(key not in str(v) for v in mine.values())
    r = httpx.delete(f"{api}/api/tabular/admin/keys/{info['key_id']}", headers=ADMIN)
    assert r.status_code == 200 and r.json()["active"] is False
    err = error_of(httpx.get(f"{api}/api/tabular/webhooks", headers=me), 401, "UNAUTHORIZED")
    assert "revoked" in err["message"]


def test_admin_endpoints_need_an_admin(api_no_prefect):
    key, _ = new_key(api_no_prefect, "business")
    me = {"X-API-Key": key}
    error_of(httpx.get(f"{api_no_prefect}/api/tabular/admin/keys", headers=me), 403, "FORBIDDEN")
    error_of(httpx.post(f"{api_no_prefect}/api/tabular/admin/keys", json={"account": "x"}, headers=me),
             403, "FORBIDDEN")


def test_keys_are_stored_hashed(api_no_prefect):
    from sqlalchemy import select

    from inferloop.core import db

    key, info = new_key(api_no_prefect)
    with db.session_scope() as s:
        row = s.scalar(select(db.ApiKey).where(db.ApiKey.id == info["key_id"]))
        assert row.key_hash != key and len(row.key_hash) == 64 and key not in row.key_hash


def test_unknown_key_and_bad_authorization(api_no_prefect):
    url = f"{api_no_prefect}/api/tabular/webhooks"
    assert error_of(httpx.get(url, headers={"X-API-Key": "il_nope"}), 401, "UNAUTHORIZED")["message"] == \
        "Invalid API key"
    error_of(httpx.get(url, headers={"Authorization": "Basic abc"}), 401, "UNAUTHORIZED")
    error_of(httpx.get(url), 401, "UNAUTHORIZED")


# --- JWT ------------------------------------------------------------------------------------------------

def token_for(api: str, key: str) -> str:
    r = httpx.post(f"{api}/api/tabular/auth/token", headers={"X-API-Key": key})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer" and body["expires_in"] > 0
    return body["access_token"]


def test_jwt_works_and_keeps_the_owner(api_no_prefect):
    key, _ = new_key(api_no_prefect, "professional")
    token = token_for(api_no_prefect, key)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["tier"] == "professional" and claims["exp"] > time.time()
    r = httpx.post(f"{api_no_prefect}/api/tabular/webhooks", headers={"Authorization": f"Bearer {token}"},
                   json={"url": "https://8.8.8.8/hook", "events": ["job.failed"], "secret": "s" * 16})
    assert r.status_code == 201, r.text
    listed = httpx.get(f"{api_no_prefect}/api/tabular/webhooks", headers={"X-API-Key": key}).json()["webhooks"]
    assert [w["webhook_id"] for w in listed] == [r.json()["webhook_id"]]


def forged(settings, **changes) -> str:
    now = int(time.time())
    claims = {"sub": "acct-x", "tier": "enterprise", "iat": now, "exp": now + 600,
              "iss": settings.jwt_issuer, "aud": settings.jwt_audience}
    alg = changes.pop("alg", "HS256")
    secret = changes.pop("secret", settings.jwt_secret)
    claims.update(changes)
    return jwt.encode(claims, secret, algorithm=alg)


@pytest.mark.parametrize("case,match", [
    ("expired", "expired"), ("tampered", "signature"), ("wrong_secret", "signature"),
    ("wrong_algorithm", "algorithm"), ("none_algorithm", ""), ("wrong_audience", "audience"),
])
def test_bad_jwts_are_refused(api_no_prefect, settings, case, match):
    if case == "expired":
        token = forged(settings, exp=int(time.time()) - 10, iat=int(time.time()) - 100)
    elif case == "tampered":
        head, body, sig = forged(settings).split(".")
        token = ".".join([head, forged(settings, tier="business").split(".")[1], sig])
    elif case == "wrong_secret":
        token = forged(settings, secret="another-secret-that-is-long-enough-for-hs256")
    elif case == "wrong_algorithm":
        token = forged(settings, alg="HS512")
    elif case == "none_algorithm":
        token = jwt.encode({"sub": "acct-x", "exp": int(time.time()) + 60}, None, algorithm="none")
    else:
        token = forged(settings, aud="someone-else")
    err = error_of(httpx.get(f"{api_no_prefect}/api/tabular/webhooks",
                             headers={"Authorization": f"Bearer {token}"}), 401, "UNAUTHORIZED")
    assert match.lower() in err["message"].lower(), err


def hs256_by_hand(claims: dict, secret: bytes) -> str:
    """An HS256 token built without PyJWT (which refuses PEM keys as HMAC secrets, as it should)."""
    import base64
    import hashlib
    import hmac
    import json

    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()  # noqa: E731
    header = json.dumps({"alg": "HS256", "typ": "JWT"}).encode()
    signing_input = f"{b64(header)}.{b64(json.dumps(claims).encode())}"
    sig = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(sig)}"


def test_rs256_key_pair(settings, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from api.main import create_app

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = private.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    (tmp_path / "pub.pem").write_text(public)
    rs = settings.model_copy(update={"jwt_algorithm": "RS256", "jwt_private_key": pem,
                                     "jwt_public_key": str(tmp_path / "pub.pem"), "jwt_secret": ""})
    with ApiServer(create_app(rs, run_watcher=False)) as server:
        token = token_for(server.url, API_KEY)
        assert jwt.get_unverified_header(token)["alg"] == "RS256"
        ok = httpx.get(f"{server.url}/api/tabular/webhooks", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200, ok.text
        # an HS256 token signed with the public key as secret (algorithm confusion) is refused
        hs = hs256_by_hand({"sub": "x", "exp": int(time.time()) + 60, "iat": int(time.time()),
                            "iss": settings.jwt_issuer, "aud": settings.jwt_audience}, public.encode())
        error_of(httpx.get(f"{server.url}/api/tabular/webhooks", headers={"Authorization": f"Bearer {hs}"}),
                 401, "UNAUTHORIZED")


# --- rate limits ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("tier,limit", [("starter", 10), ("professional", 100), ("business", 1000)])
def test_rate_limit_headers_per_tier(api_no_prefect, tier, limit):
    key, _ = new_key(api_no_prefect, tier)
    r = httpx.get(f"{api_no_prefect}/api/tabular/webhooks", headers={"X-API-Key": key})
    assert r.headers["X-RateLimit-Limit"] == str(limit)
    assert r.headers["X-RateLimit-Remaining"] == str(limit - 1)
    assert int(r.headers["X-RateLimit-Reset"]) > time.time()
    assert 0 < int(r.headers["X-RateLimit-Reset-After"]) <= 3600


def test_enterprise_is_unlimited(api_no_prefect):
    key, _ = new_key(api_no_prefect, "enterprise")
    r = httpx.get(f"{api_no_prefect}/api/tabular/webhooks", headers={"X-API-Key": key})
    assert r.headers["X-RateLimit-Limit"] == "unlimited"


def test_starter_limit_429_and_counters_survive_a_restart(settings):
    from api.main import create_app

    with ApiServer(create_app(settings, run_watcher=False)) as first:
        key, _ = new_key(first.url, "starter")
        me = {"X-API-Key": key}
        for i in range(6):
            r = httpx.get(f"{first.url}/api/tabular/webhooks", headers=me)
            assert r.status_code == 200 and r.headers["X-RateLimit-Remaining"] == str(9 - i)
    with ApiServer(create_app(settings, run_watcher=False)) as second:  # a restarted API
        for i in range(6, 10):
            r = httpx.get(f"{second.url}/api/tabular/webhooks", headers=me)
            assert r.status_code == 200 and r.headers["X-RateLimit-Remaining"] == str(9 - i)
        r = httpx.get(f"{second.url}/api/tabular/webhooks", headers=me)
        err = error_of(r, 429, "RATE_LIMITED")
        assert "10" in err["message"]
        assert r.headers["X-RateLimit-Remaining"] == "0" and int(r.headers["X-RateLimit-Reset-After"]) > 0


def test_rows_per_hour_limit(api_no_prefect):
    key, _ = new_key(api_no_prefect, "starter")
    csv = b"a,b\n" + b"".join(f"{i},{i % 3}\n".encode() for i in range(50))
    r = httpx.post(f"{api_no_prefect}/api/tabular/generate", files={"file": ("d.csv", csv)},
                   data={"num_rows": "100001"}, headers={"X-API-Key": key})
    err = error_of(r, 429, "RATE_LIMITED")
    assert err.get("field") == "num_rows"
