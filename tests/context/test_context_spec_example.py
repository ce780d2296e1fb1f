"""context-api.md's own "Python Client Example", run against our server.

Only two things differ from the document: its base URL is the test server's (tests/spec_examples.localize),
and every request carries the API key in X-API-Key (the document's demo mode has no key; this platform
requires one unless INFERLOOP_AUTH_DISABLED=true), added to `requests` here rather than to the program.
"""

from __future__ import annotations

import contextlib
import io
import subprocess
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
