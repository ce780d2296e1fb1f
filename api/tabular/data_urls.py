"""Resolve a request's data_url (upload://, s3://, allowed local path, public http) to what a flow reads."""

from __future__ import annotations

from urllib.parse import urlparse

from inferloop.core import db, storage
from inferloop.core.errors import InferloopError
from inferloop.core.settings import Settings
from inferloop.core.sources import check_data_url
from tasks.tabular.tables import detect_format


def resolve_data_url(url: str, owner: str, settings: Settings, field: str = "data_url") -> tuple[str, str, dict]:
    """Return (uri, format, known) for a data URL, or raise INVALID_REQUEST / INVALID_FILE / UNSUPPORTED_FORMAT.

    `known` carries rows/columns when the data was uploaded (for estimates).
    """
    if isinstance(url, str) and url.startswith("upload://"):
        upload_id = url[len("upload://"):]
        with db.session_scope() as s:
            up = s.get(db.Upload, upload_id)
        if up is None or up.owner != owner:
            raise InferloopError("INVALID_REQUEST", f"upload '{upload_id}' was not found", field)
        return up.uri, up.format, {"rows": up.rows, "columns": up.columns}
    checked = check_data_url(url, settings, field)
    try:
        fmt = detect_format(urlparse(checked).path if "://" in checked else checked)
    except InferloopError as exc:
        exc.field = field
        raise
    if not checked.startswith(("http://", "https://")) and not storage.exists(checked):
        raise InferloopError("INVALID_FILE", f"{field} '{url}' does not exist", field)
    return checked, fmt, {}
