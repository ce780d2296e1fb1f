"""Webhook core: checks of URLs, events and secrets; payloads; signatures vs the document's verify_webhook."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone

import pytest

from inferloop.core.errors import InferloopError
from inferloop.core.settings import Settings
from inferloop.core.webhooks import (EVENTS, canonical_json, check_events, check_secret, check_webhook_url,
                                     make_payload, render, sign)
from tests.spec_examples import load_spec_function, spec_code_block, spec_or_skip

SECRET = "whsec-core-0123456789"
T = datetime(2024, 1, 15, 10, 30, 0, 123456, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def verify_webhook():
    return load_spec_function(spec_or_skip(), "verify_webhook")


@pytest.fixture()
def strict(tmp_path) -> Settings:
    return Settings(home=tmp_path / "home", webhook_allow_private=False)


@pytest.fixture()
def lenient(tmp_path) -> Settings:
    return Settings(home=tmp_path / "home", webhook_allow_private=True)


def refused(fn, *args, field: str, match: str = "") -> InferloopError:
    with pytest.raises(InferloopError) as exc:
        fn(*args)
    assert exc.value.code == "INVALID_REQUEST" and exc.value.status == 400 and exc.value.field == field
    assert match in exc.value.message
    return exc.value


def test_events_include_documented_ones_and_cancel():
    assert {"generation.completed", "job.failed", "model.trained", "job.cancelled"} <= set(EVENTS)


def test_sign_is_hmac_sha256_hex():
    expected = hmac.new(SECRET.encode(), b"body", hashlib.sha256).hexdigest()
    assert sign(b"body", SECRET) == sign("body", SECRET) == f"sha256={expected}"


def test_payload_is_documented_shape():
    p = make_payload("generation.completed", {"generation_id": "gen-1", "quality_score": 0.91}, T)
    assert p == {"event": "generation.completed", "data": {"generation_id": "gen-1", "quality_score": 0.91},
                 "timestamp": "2024-01-15T10:30:00Z"}
    other_zone = T.astimezone(timezone(timedelta(hours=2)))
    assert make_payload("job.failed", {}, other_zone)["timestamp"] == "2024-01-15T10:30:00Z"


def test_render_signed_body_and_header_verify_with_document_function(verify_webhook):
    payload = make_payload("generation.completed", {"generation_id": "gen-1", "rows_generated": 5000}, T)
    body, headers = render(payload, SECRET)
    sent = json.loads(body)
    assert list(sent) == ["event", "data", "timestamp", "signature"]
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Inferloop-Event"] == "generation.completed"
    assert verify_webhook(body.decode(), headers["X-Inferloop-Signature"], SECRET)
    in_body = sent.pop("signature")
    assert sent == payload
    assert verify_webhook(canonical_json(sent), in_body, SECRET)
    assert not verify_webhook(body.decode(), headers["X-Inferloop-Signature"], "another-secret")
    assert not verify_webhook(body.decode().replace("5000", "5001"), headers["X-Inferloop-Signature"], SECRET)


def test_render_without_secret_is_unsigned():
    payload = make_payload("job.failed", {"job_id": "job-1"}, T)
    for secret in (None, ""):
        body, headers = render(payload, secret)
        assert json.loads(body) == payload
        assert "X-Inferloop-Signature" not in headers


def test_render_ignores_a_stale_signature_in_the_payload():
    payload = {**make_payload("job.failed", {}, T), "signature": "sha256=stale"}
    body, _ = render(payload, SECRET)
    assert json.loads(body)["signature"] == sign(canonical_json(make_payload("job.failed", {}, T)), SECRET)


@pytest.mark.parametrize("url,match", [
    ("ftp://example.com/hook", "'ftp'"),
    ("file:///etc/passwd", "'file'"),
    ("javascript:alert(1)", "'javascript'"),
    ("example.com/hook", "'none'"),
    ("", "non-empty"),
    ("https:///nohost", "no host"),
    ("https://example.com:99999/x", "port"),
    ("https://exa mple.com/x", "whitespace"),
    ("https://example.com/" + "a" * 2100, "longer"),
])
def test_bad_urls_refused(url, match, lenient):
    refused(check_webhook_url, url, lenient, field="url", match=match)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/hook", "http://localhost/hook", "http://10.1.2.3/",
                                 "http://[::1]/hook", "http://169.254.169.254/latest/meta-data",
                                 "https://192.168.0.10/hook"])
def test_private_hosts_refused_unless_allowed(url, strict, lenient):
    refused(check_webhook_url, url, strict, field="url", match="not a public address")
    assert check_webhook_url(f"  {url} ", lenient) == url


def test_url_check_names_the_field(strict):
    refused(check_webhook_url, "ftp://x/y", strict, "callback_url", field="callback_url")


def test_events_checked():
    assert check_events(["job.failed", "generation.completed", "job.failed"]) == ["job.failed",
                                                                                 "generation.completed"]
    err = refused(check_events, ["generation.completed", "gen.done", "x"], field="events")
    assert "'gen.done'" in err.message and "'x'" in err.message
    refused(check_events, [], field="events", match="non-empty")
    refused(check_events, "job.failed", field="events")
    refused(check_events, [1], field="events", match="strings")


def test_secret_checked_and_never_echoed():
    assert check_secret("12345678") == "12345678"
    refused(check_secret, None, field="secret", match="required")
    refused(check_secret, "", field="secret", match="required")
    err = refused(check_secret, "s3cr3t!", field="secret", match="8 to 256")
    assert "s3cr3t!" not in err.message
    refused(check_secret, "x" * 257, field="secret")
    refused(check_secret, 12345678, field="secret")


def test_spec_code_block_finds_the_defining_block():
    doc = ("text\n```python\nimport os\nprint(1)\n```\n```bash\ndef nope(): pass\n```\n"
           "```python\nimport math\n\ndef area(r):\n    return math.pi * r * r\n```\n"
           "```python\nclass Client:\n    pass\n```\n")
    assert "def area" in spec_code_block(doc, "area")
    assert load_spec_function(doc, "area")(1.0) == pytest.approx(3.14159, rel=1e-4)
    assert load_spec_function(doc, "Client").__name__ == "Client"
    with pytest.raises(LookupError):
        spec_code_block(doc, "nope")
    with pytest.raises(LookupError):
        spec_code_block(doc, "are")
