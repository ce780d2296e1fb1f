"""Bad input to POST /generate and /download: the documented error, and nothing started or half-written."""

from __future__ import annotations


import httpx
import pytest

from inferloop.core import db, storage
from tests.support import API_KEY
from tests.tabular_data import customers

H = {"X-API-Key": API_KEY}


def csv_bytes(n: int = 30) -> bytes:
    return customers(n).to_csv(index=False).encode()


def post(api: str, files: dict, data: dict | None = None, headers: dict | None = None) -> httpx.Response:
    return httpx.post(f"{api}/api/tabular/generate", files=files, data=data or {},
                      headers=H if headers is None else headers, timeout=60)


def assert_error(r: httpx.Response, status: int, code: str, field: str | None = None) -> dict:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code, err
    assert err["message"]
    assert err["request_id"] == r.headers["X-Request-ID"]
    if field:
        assert err.get("field") == field, err
    return err


@pytest.fixture(autouse=True)
def nothing_left_behind(settings):
    """Every rejected request leaves no job row and no stored file."""
    db.migrate()
    with db.session_scope() as s:
        before = s.query(db.Job).count()
    stored_before = stored_runs()
    yield
    with db.session_scope() as s:
        assert s.query(db.Job).count() == before
    assert stored_runs() == stored_before


def stored_runs() -> set[str]:
    fs, path = storage.fs_for(storage.join("runs"))
    return set(fs.ls(path)) if fs.exists(path) else set()


def test_missing_api_key(api_no_prefect):
    err = assert_error(post(api_no_prefect, {"file": ("d.csv", csv_bytes())}, headers={}), 401, "UNAUTHORIZED")
    assert "API key" in err["message"]


def test_wrong_api_key(api_no_prefect):
    r = post(api_no_prefect, {"file": ("d.csv", csv_bytes())}, headers={"X-API-Key": "nope"})
    assert assert_error(r, 401, "UNAUTHORIZED")["message"] == "Invalid API key"


@pytest.mark.parametrize("content,reason", [
    (b"", "empty"),
    (b"a,b,c\n", "header only"),
    (b"a,b\n1,2\n3,4,5,6\n", "ragged row"),
    (b"a,b\n\"1,2\n", "unterminated quote"),
])
def test_bad_csv(api_no_prefect, content, reason):
    assert_error(post(api_no_prefect, {"file": ("d.csv", content)}), 400, "INVALID_FILE", "file")


@pytest.mark.parametrize("name", ["data.xlsx", "data.txt", "data"])
def test_unsupported_format(api_no_prefect, name):
    err = assert_error(post(api_no_prefect, {"file": (name, csv_bytes())}), 400, "UNSUPPORTED_FORMAT", "file")
    assert "Supported formats" in err["message"]


def test_file_over_size_limit(api_no_prefect):
    big = b"a,b\n" + b"123456789,987654321\n" * 300_000  # ~6 MB > 5 MB limit of the test settings
    err = assert_error(post(api_no_prefect, {"file": ("big.csv", big)}), 400, "INVALID_FILE", "file")
    assert "limit" in err["message"]


def test_missing_file(api_no_prefect):
    assert_error(post(api_no_prefect, {}, {"algorithm": "sdv"}), 400, "INVALID_REQUEST", "file")


def test_unknown_algorithm(api_no_prefect):
    err = assert_error(post(api_no_prefect, {"file": ("d.csv", csv_bytes())}, {"algorithm": "invalid"}),
                       400, "INVALID_ALGORITHM", "algorithm")
    assert "sdv, ctgan, tabular_argn, ydata" in err["message"]


# algorithm=ydata where it is not enabled: tests/api/test_ydata.py


@pytest.mark.parametrize("value", ["0", "-5", "abc", "1.5", "1000001"])
def test_bad_num_rows(api_no_prefect, value):
    assert_error(post(api_no_prefect, {"file": ("d.csv", csv_bytes())}, {"num_rows": value}),
                 400, "INVALID_REQUEST", "num_rows")


def test_epochs_zero(api_no_prefect):
    assert_error(post(api_no_prefect, {"file": ("d.csv", csv_bytes())}, {"algorithm": "ctgan", "epochs": "0"}),
                 400, "INVALID_REQUEST", "epochs")


def test_bad_output_format(api_no_prefect):
    assert_error(post(api_no_prefect, {"file": ("d.csv", csv_bytes())}, {"format": "xml"}),
                 400, "INVALID_REQUEST", "format")


def test_bad_constraints_file(api_no_prefect):
    files = {"file": ("d.csv", csv_bytes()), "constraints": ("c.json", b'{"constraints": [')}
    assert_error(post(api_no_prefect, files), 400, "INVALID_FILE", "constraints")


def test_bad_config_file(api_no_prefect):
    files = {"file": ("d.csv", csv_bytes()), "config": ("c.yaml", b"- just\n- a list\n")}
    assert_error(post(api_no_prefect, files), 400, "INVALID_FILE", "config")


def test_unknown_download_id(api_no_prefect):
    r = httpx.get(f"{api_no_prefect}/api/tabular/download/gen-does-not-exist", headers=H)
    assert_error(r, 404, "NOT_FOUND")


@pytest.mark.parametrize("query,field", [("format=xml", "format"), ("compression=zip", "compression")])
def test_bad_download_options(api_no_prefect, query, field):
    r = httpx.get(f"{api_no_prefect}/api/tabular/download/gen-x?{query}", headers=H)
    assert_error(r, 400, "INVALID_REQUEST", field)


def test_download_needs_key(api_no_prefect):
    assert_error(httpx.get(f"{api_no_prefect}/api/tabular/download/gen-x"), 401, "UNAUTHORIZED")


def test_request_id_echoed_and_generated(api_no_prefect):
    r = httpx.get(f"{api_no_prefect}/health", headers={"X-Request-ID": "my-id-1"})
    assert r.headers["X-Request-ID"] == "my-id-1"
    r = httpx.get(f"{api_no_prefect}/health")
    assert r.headers["X-Request-ID"].startswith("req-")
    body = r.json()
    assert body["status"] == "healthy" and body["version"] and body["timestamp"].endswith("Z")


def test_v1_prefix_alias(api_no_prefect):
    r = httpx.post(f"{api_no_prefect}/api/tabular/v1/generate", files={"file": ("d.xlsx", b"x")}, headers=H)
    assert_error(r, 400, "UNSUPPORTED_FORMAT")


def test_openapi_docs(api_no_prefect):
    assert httpx.get(f"{api_no_prefect}/docs").status_code == 200
    paths = httpx.get(f"{api_no_prefect}/openapi.json").json()["paths"]
    assert "/api/tabular/generate" in paths and "/api/tabular/download/{generation_id}" in paths
