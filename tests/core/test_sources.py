"""Data URL checks: allowed schemes, roots, and SSRF guards."""

from __future__ import annotations

import os

import pytest

from inferloop.core.errors import InferloopError
from inferloop.core.settings import Settings
from inferloop.core.sources import check_data_url


@pytest.fixture()
def roots(tmp_path):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "d.csv").write_text("a\n1\n")
    outside = tmp_path / "outside.csv"
    outside.write_text("a\n1\n")
    os.symlink(outside, allowed / "link.csv")
    return Settings(allowed_roots=str(allowed), home=tmp_path / "home"), allowed, outside


def refused(url, settings, match=""):
    with pytest.raises(InferloopError) as exc:
        check_data_url(url, settings)
    assert exc.value.code == "INVALID_REQUEST" and exc.value.field == "data_url"
    assert match in exc.value.message
    return exc.value


def test_s3_allowed(roots):
    assert check_data_url("s3://bucket/data.csv", roots[0]) == "s3://bucket/data.csv"
    refused("s3://bucket", roots[0], "s3://bucket/key")


def test_local_path_under_root(roots):
    settings, allowed, _ = roots
    assert check_data_url(str(allowed / "d.csv"), settings) == str((allowed / "d.csv").resolve())


@pytest.mark.parametrize("make", [
    lambda a, o: str(o),
    lambda a, o: str(a / ".." / "outside.csv"),
    lambda a, o: str(a / "link.csv"),
    lambda a, o: "relative/path.csv",
])
def test_local_path_outside_root(roots, make):
    settings, allowed, outside = roots
    refused(make(allowed, outside), settings)


def test_no_roots_no_local_paths(tmp_path):
    refused(str(tmp_path / "x.csv"), Settings(home=tmp_path), "no INFERLOOP_ALLOWED_ROOTS")


@pytest.mark.parametrize("url", ["file:///etc/passwd", "FILE:///tmp/x.csv"])
def test_file_scheme_refused(roots, url):
    refused(url, roots[0], "file://")


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8000/x.csv", "http://localhost/x.csv", "https://169.254.169.254/latest/meta-data",
    "http://10.0.0.5/x.csv", "http://192.168.1.1/x.csv", "http://172.16.0.1/x.csv", "http://[::1]/x.csv",
    "http://0.0.0.0/x.csv",
])
def test_private_http_targets_refused(roots, url):
    refused(url, roots[0])


@pytest.mark.parametrize("url", ["ftp://host/x.csv", "gs://b/x.csv", "ssh://h/x"])
def test_other_schemes_refused(roots, url):
    refused(url, roots[0], "not allowed")


def test_public_ip_literal_allowed(roots):
    assert check_data_url("https://8.8.8.8/data.csv", roots[0]) == "https://8.8.8.8/data.csv"
