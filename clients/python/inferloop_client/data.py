"""What the client sends and receives: local files, DataFrames and URLs in; DataFrames and files out."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from inferloop_client.http import FilePart

if TYPE_CHECKING:
    import pandas as pd

DataInput = Union[str, Path, bytes, "pd.DataFrame", Any]

# schemes the server reads itself (the document's data_url); anything else is a local file to upload
REMOTE_SCHEMES = ("s3://", "http://", "https://", "upload://")
FORMATS = ("csv", "parquet", "json")
COMPRESSION_SUFFIXES = {".gz": "gzip", ".gzip": "gzip", ".sz": "snappy", ".snappy": "snappy"}


def is_remote(data: Any) -> bool:
    """Whether `data` is a URL the server reads (s3://, http(s)://, upload://)."""
    return isinstance(data, str) and data.strip().lower().startswith(REMOTE_SCHEMES)


def is_dataframe(data: Any) -> bool:
    return type(data).__module__.startswith("pandas") and hasattr(data, "to_parquet")


def file_part(field: str, data: DataInput, default_name: str = "data") -> FilePart:
    """A multipart file from a local path, a DataFrame (sent as Parquet: types kept), bytes or a binary file."""
    if isinstance(data, (str, Path)):
        path = Path(data).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"{field}: no such file: {path}")
        return FilePart(field, path.name, path)
    if is_dataframe(data):
        return FilePart(field, f"{default_name}.parquet", dataframe_bytes(data), "application/vnd.apache.parquet")
    if isinstance(data, (bytes, bytearray)):
        return FilePart(field, f"{default_name}.csv", bytes(data), "text/csv")
    if hasattr(data, "read"):
        body = data.read()
        name = Path(getattr(data, "name", "") or f"{default_name}.csv").name
        return FilePart(field, name, body.encode() if isinstance(body, str) else body)
    raise TypeError(f"{field}: expected a file path, a pandas DataFrame, bytes or a URL "
                    f"({', '.join(REMOTE_SCHEMES)}), got {type(data).__name__}")


def dataframe_bytes(df: "pd.DataFrame") -> bytes:
    """A DataFrame as Parquet bytes (CSV when pyarrow is missing)."""
    buf = io.BytesIO()
    try:
        df.to_parquet(buf, index=False)
    except ImportError:
        return df.to_csv(index=False).encode()
    return buf.getvalue()


def json_part(field: str, value: Any, default_name: str) -> FilePart:
    """A JSON file part from a path or a JSON-able value (e.g. a list of constraints)."""
    if isinstance(value, (str, Path)) and Path(value).expanduser().is_file():
        return file_part(field, value)
    return FilePart(field, f"{default_name}.json", json.dumps(value).encode(), "application/json")


def config_part(value: Any) -> FilePart:
    """The `config` file: a JSON/YAML path, or a dict of parameters."""
    if isinstance(value, (str, Path)):
        return file_part("config", value)
    if isinstance(value, dict):
        return FilePart("config", "config.json", json.dumps(value, default=str).encode(), "application/json")
    raise TypeError("config must be a path to a JSON/YAML file or a dict of parameters")


def output_options(path: str | Path, fmt: str | None = None, compression: str | None = None) -> tuple[str, str]:
    """(format, compression) for a file to write, from the arguments or the file's suffixes."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if compression is None:
        compression = COMPRESSION_SUFFIXES.get(suffixes[-1], "none") if suffixes else "none"
        if compression != "none":
            suffixes = suffixes[:-1]
    if fmt is None:
        ext = suffixes[-1].lstrip(".") if suffixes else "csv"
        fmt = {"pq": "parquet", "jsonl": "json"}.get(ext, ext)
        if fmt not in FORMATS:
            fmt = "csv"
    return fmt, compression


def read_frame(content: bytes, fmt: str) -> "pd.DataFrame":
    """A downloaded body as a DataFrame."""
    import pandas as pd

    if fmt == "parquet":
        return pd.read_parquet(io.BytesIO(content))
    if fmt == "json":
        return pd.DataFrame(json.loads(content or b"[]"))
    return pd.read_csv(io.BytesIO(content))
