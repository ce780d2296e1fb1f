"""Each owner's image data: a private folder in storage that the API shows as `/data/...`.

The documents' paths (`/data/generated/...`, `/data/exports/...`, `/data/profiles/...`) are paths in the
caller's own area: `/data/<rest>` is `<storage>/image-data/<owner>/<rest>`. A path a user gives is normalised
and must stay inside `/data`, so no request can read or write anything else (another owner's data, the
server's files). Generated images live in `/data/generated/` (or `/data/generated/<dataset>/`), each PNG with
a JSON sidecar of its metadata (prompt, seed, parameters, annotations).
"""

from __future__ import annotations

import hashlib
import posixpath
import re

from inferloop.core import storage
from inferloop.core.errors import InferloopError

VIRTUAL_ROOT = "/data"
GENERATED = "/data/generated"
EXPORTS = "/data/exports"
PROFILES = "/data/profiles"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
_SAFE_OWNER = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def owner_root(owner: str) -> str:
    """The storage URI of an owner's area."""
    name = owner if _SAFE_OWNER.match(owner) and owner not in (".", "..") else \
        "o-" + hashlib.sha256(owner.encode()).hexdigest()[:24]
    return storage.join("image-data", name)


def normalize(path: str, field: str = "path") -> str:
    """A user's path as a clean absolute path under /data (relative paths are taken under /data)."""
    if not isinstance(path, str) or not path.strip():
        raise InferloopError("INVALID_REQUEST", f"{field} must be a path under {VIRTUAL_ROOT}", field,
                             extra={"details": {"parameter": field, "value": path,
                                                "constraint": f"a path under {VIRTUAL_ROOT}/"}})
    raw = path.strip().replace("\\", "/")
    if "\x00" in raw or re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", raw):
        raise _outside(path, field)
    if not raw.startswith("/"):
        raw = f"{VIRTUAL_ROOT}/{raw}"
    clean = posixpath.normpath(raw)
    if clean != VIRTUAL_ROOT and not clean.startswith(VIRTUAL_ROOT + "/"):
        raise _outside(path, field)
    return clean


def _outside(path: str, field: str) -> InferloopError:
    return InferloopError("INVALID_REQUEST", f"{field} '{path}' is outside your data: paths are under "
                          f"{VIRTUAL_ROOT}/ (e.g. {GENERATED}/...)", field,
                          extra={"details": {"parameter": field, "value": path,
                                             "constraint": f"a path under {VIRTUAL_ROOT}/"}})


def to_uri(owner: str, path: str, field: str = "path") -> str:
    """The storage URI of a user's /data path (checked to stay in the owner's area)."""
    clean = normalize(path, field)
    rest = clean[len(VIRTUAL_ROOT):].lstrip("/")
    return owner_root(owner) + (f"/{rest}" if rest else "")


def to_virtual(owner: str, uri: str) -> str:
    """The /data path of a storage URI inside the owner's area."""
    root = owner_root(owner)
    if uri != root and not uri.startswith(root + "/"):
        raise ValueError(f"{uri} is not in the area of {owner}")
    return VIRTUAL_ROOT + uri[len(root):]


def check_name(name: str, field: str) -> str:
    """A folder or profile name: letters, digits, '_', '-', '.' (no path separators)."""
    name = (name or "").strip()
    if not _SAFE_NAME.match(name) or ".." in name:
        raise InferloopError("INVALID_REQUEST", f"{field} must be 1-128 letters, digits, '_', '-' or '.', "
                             "starting with a letter or digit", field,
                             extra={"details": {"parameter": field, "value": name,
                                                "constraint": "[A-Za-z0-9][A-Za-z0-9_.-]{0,127}"}})
    return name


def list_images(uri: str, recursive: bool = True) -> list[str]:
    """Image files under a storage folder (sorted URIs, written like `uri`); a missing folder has none."""
    fs, root = storage.fs_for(uri)
    if not fs.isdir(root):
        return []
    found = fs.find(root) if recursive else fs.ls(root, detail=False)
    base, r = uri.rstrip("/"), root.rstrip("/")
    return sorted(base + p[len(r):] for p in found if p.startswith(r) and p.lower().endswith(IMAGE_SUFFIXES))


def sidecar_uri(image_uri: str) -> str:
    """The JSON metadata next to an image: image_x.png -> image_x.json."""
    base, _ = posixpath.splitext(image_uri)
    return base + ".json"
