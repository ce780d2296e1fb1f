"""Artifact storage through fsspec: a local folder by default, s3://bucket/prefix via s3fs."""

from __future__ import annotations

import json
from typing import IO, Any

import fsspec
from fsspec.core import url_to_fs

from inferloop.core.settings import get_settings


def root() -> str:
    return get_settings().storage.rstrip("/")


def join(*parts: str) -> str:
    return "/".join([root(), *(p.strip("/") for p in parts)])


def fs_for(uri: str) -> tuple[fsspec.AbstractFileSystem, str]:
    return url_to_fs(uri)


def open_uri(uri: str, mode: str = "rb") -> IO[Any]:
    fs, path = fs_for(uri)
    if "w" in mode:
        parent = path.rsplit("/", 1)[0]
        if parent:
            fs.makedirs(parent, exist_ok=True)
    return fs.open(path, mode)


def exists(uri: str) -> bool:
    fs, path = fs_for(uri)
    return fs.exists(path)


def size(uri: str) -> int:
    fs, path = fs_for(uri)
    return int(fs.size(path))


def remove(uri: str, recursive: bool = True) -> None:
    fs, path = fs_for(uri)
    if fs.exists(path):
        fs.rm(path, recursive=recursive)


def write_json(uri: str, obj: Any) -> None:
    with open_uri(uri, "w") as f:
        json.dump(obj, f, default=str)


def read_json(uri: str) -> Any:
    with open_uri(uri, "r") as f:
        return json.load(f)


def run_dir(run_id: str) -> str:
    return join("runs", str(run_id))
