"""What a batch request must hold (files with unique names, run options), and a batch's final status.

Shared by the API (which checks a batch before starting it) and the `batch` flow (which checks it again
when called from Python).
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlparse

from inferloop.core.errors import invalid_request
from tasks.tabular.export_stream import FORMATS
from tasks.tabular.request_checks import check_num_rows, check_seed

MAX_FILES = 100
MAX_NAME = 200


def check_files(files: list[dict]) -> list[dict]:
    """At least one file, each with a url; a missing name becomes the file's stem; names must be unique."""
    if not isinstance(files, list) or not files:
        raise invalid_request("files must list at least one file", "files")
    if len(files) > MAX_FILES:
        raise invalid_request(f"a batch holds at most {MAX_FILES} files, got {len(files)}", "files")
    checked, seen = [], set()
    for i, f in enumerate(files):
        if not isinstance(f, dict) or not isinstance(f.get("url"), str) or not f["url"].strip():
            raise invalid_request(f"files[{i}] must be an object with a url", f"files[{i}].url")
        name = default_name(f["url"]) if f.get("name") is None else str(f["name"]).strip()
        if not name or len(name) > MAX_NAME:
            raise invalid_request(f"files[{i}].name must be 1 to {MAX_NAME} characters", f"files[{i}].name")
        if name in seen:
            raise invalid_request(f"files[{i}].name '{name}' is used twice: names must be unique in a batch "
                                  "(name the files explicitly)", f"files[{i}].name")
        seen.add(name)
        checked.append({**f, "name": name})
    return checked


def default_name(url: str) -> str:
    """The file's stem (s3://b/customers.csv.gz -> customers); the upload id for upload://<id>."""
    parsed = urlparse(url)
    path = parsed.netloc if parsed.scheme == "upload" else parsed.path if "://" in url else url
    return PurePosixPath(path.replace("\\", "/")).name.split(".")[0]


def run_options(common: dict[str, Any], max_rows: int) -> tuple[int | None, int | None, dict[str, Any]]:
    """Split common_parameters into (num_rows, seed, algorithm parameters), checking num_rows and seed."""
    if not isinstance(common, dict):
        raise invalid_request("common_parameters must be an object", "common_parameters")
    params = dict(common)
    num_rows, seed = params.pop("num_rows", None), params.pop("seed", None)
    if num_rows is not None:
        check_num_rows(num_rows, max_rows)
    return num_rows, check_seed(seed), params


def check_output_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise invalid_request(f"output_format must be one of {', '.join(FORMATS)}", "output_format")
    return fmt


def batch_status(completed: int, total: int) -> str:
    """A finished batch: completed (every file), partially_failed (some files), failed (none)."""
    return "completed" if completed == total else "failed" if completed == 0 else "partially_failed"

