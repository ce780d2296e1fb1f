"""context-api.md's own "Python Client Example", run against our server.

Only two things differ from the document: its base URL is the test server's (tests/spec_examples.localize),
and every request carries the API key in X-API-Key (the document's demo mode has no key; this platform
requires one unless INFERLOOP_AUTH_DISABLED=true), added to `requests` here rather than to the program.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.spec_examples import SPEC_DIR, localize, plain_text_block, spec_or_skip
from tests.support import API_KEY



def _document() -> Path:
    """context-api.md next to the checkout (../shared/spec), also from a git worktree of it."""
    here = SPEC_DIR / "context-api.md"
    if here.is_file():
        return here
    try:
        common = subprocess.run(["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
                                cwd=Path(__file__).parent, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return here
    other = Path(common).parent.parent / "shared/spec/context-api.md" if common else here
    return other if other.is_file() else here


CONTEXT_SPEC = _document()


@pytest.fixture()
def keyed_requests(monkeypatch):
    original = requests.Session.request

    def request(self, method, url, **kwargs):
        kwargs["headers"] = {"X-API-Key": API_KEY, **(kwargs.get("headers") or {})}
        return original(self, method, url, **kwargs)

    monkeypatch.setattr(requests.Session, "request", request)


def test_python_client_example(api, keyed_requests):
    doc = spec_or_skip(CONTEXT_SPEC)
    code = localize(plain_text_block(doc, "Python Client Example", "import ", "Webhook Notifications (Future)"),
                    api, API_KEY)
    namespace: dict = {"__name__": "__main__"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<context-api.md: Python Client Example>", "exec"), namespace)
    assert namespace["analysis"]["domain"] == "healthcare"
    assert namespace["samples"]["status"] == "completed" and namespace["samples"]["samples"]["patients"]
    assert namespace["status"]["status"] == "completed"
    paths = namespace["export_info"]["export_paths"]
    assert set(paths) == set(namespace["samples"]["samples"]) and out.getvalue().rstrip().endswith(f"Files: {paths}")


def request_body(doc: str, endpoint: str) -> dict:
    """The JSON request body the document shows under `endpoint` (its `//` comments dropped)."""
    lines = doc.splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip() == endpoint)
    first = next(i for i in range(at, len(lines)) if lines[i].rstrip() == "{")
    last = next(i for i in range(first, len(lines)) if lines[i].rstrip() == "}")
    return json.loads("\n".join(re.sub(r"\s*//.*$", "", line) for line in lines[first:last + 1]))


def test_documented_sample_then_feedback_starting_the_corpus(api, keyed_requests):
    """The document's sample request, then its feedback request as written (add `phone`, which the legal
    firm's clients already have; remove `fax`, which they do not): the feedback is applied, the changes say
    so, and the corpus runs with the clients as the feedback left them."""
    doc = spec_or_skip(CONTEXT_SPEC)
    r = requests.post(f"{api}/api/v1/generate/sample", json=request_body(doc, "POST /api/v1/generate/sample"),
                      timeout=300)
    assert r.status_code == 200, r.text
    sample = r.json()
    assert set(sample["samples"]) >= {"clients", "cases", "documents"}
    feedback = {**request_body(doc, "POST /api/v1/generate/feedback"), "job_id": sample["job_id"]}
    r = requests.post(f"{api}/api/v1/generate/feedback", json=feedback, timeout=120)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] == "in_progress" and body["message"] == "Feedback applied, corpus generation started"
    clients = next(c for c in body["changes"] if c["schema"] == "clients")
    assert clients["not_present"] == ["fax"] and clients["already_present"] == ["phone"]
    assert "clients.fax: not present, nothing removed" in body["summary"]
    deadline = time.monotonic() + 300
    while (status := requests.get(f"{api}/api/v1/jobs/{sample['job_id']}/status", timeout=30).json())["status"] \
            not in ("completed", "failed"):
        assert time.monotonic() < deadline, status
        time.sleep(1)
    assert status["status"] == "completed", status
    job = requests.get(f"{api}/api/v1/jobs/{sample['job_id']}", timeout=30).json()
    assert sum(job["result"]["records"].values()) >= feedback["corpus_size"], job["result"]
    fields = {f["name"]: f for f in next(s for s in job["schemas"] if s["name"] == "clients")["fields"]}
    assert fields["phone"]["type"] == "PHONE" and fields["email"]["required"] is True and "fax" not in fields
