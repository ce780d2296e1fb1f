"""Reading uploaded tables (csv, parquet, json, jsonl; gzip for text formats) with the documented errors."""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import re
import zlib
from collections import Counter
from itertools import islice
from typing import IO, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from inferloop.core.errors import InferloopError
from inferloop.core.settings import get_settings
from inferloop.core.storage import open_uri

SUPPORTED_FORMATS = ("csv", "parquet", "json", "jsonl")

_DOCUMENTED_FORMATS = "csv, parquet, json"  # the list the documented UNSUPPORTED_FORMAT message shows
_EXTENSIONS = {"csv": "csv", "parquet": "parquet", "pq": "parquet", "json": "json",
               "jsonl": "jsonl", "ndjson": "jsonl"}
_TEXT_FORMATS = frozenset({"csv", "json", "jsonl"})
_GZIP_MAGIC = b"\x1f\x8b"
_HEAD_BYTES = 1 << 20  # bytes of a csv looked at before parsing (header checks)
_BLANK_PROBE = 1 << 16  # a file shorter than this made only of whitespace counts as empty
_BUFFER = 1 << 20


def _invalid(message: str) -> InferloopError:
    """An INVALID_FILE error about the uploaded file."""
    return InferloopError("INVALID_FILE", message, field="file")


def _unsupported(ext: str) -> InferloopError:
    """The documented UNSUPPORTED_FORMAT error for an extension."""
    return InferloopError(
        "UNSUPPORTED_FORMAT",
        f"File format '{ext or 'unknown'}' is not supported. Supported formats: {_DOCUMENTED_FORMATS}",
        field="file",
    )


def detect_format(filename: str) -> str:
    """The table format of a file name or URI, from its extension (``.gz`` allowed for text formats)."""
    name = re.split(r"[/\\]", filename.strip())[-1].lower()
    parts = name.split(".")
    if len(parts) < 2:
        raise _unsupported("")
    ext = parts[-1]
    if ext == "gz" and len(parts) >= 3:
        fmt = _EXTENSIONS.get(parts[-2])
        if fmt in _TEXT_FORMATS:
            return fmt
        raise _unsupported(f"{parts[-2]}.gz")
    if ext in _EXTENSIONS:
        return _EXTENSIONS[ext]
    raise _unsupported(ext)


def _normalize_format(fmt: str) -> str:
    """A caller-given format name (aliases such as pq/ndjson accepted) as one of SUPPORTED_FORMATS."""
    key = fmt.strip().lower().lstrip(".")
    if key in _EXTENSIONS:
        return _EXTENSIONS[key]
    raise _unsupported(key)


def read_table(uri: str, fmt: str | None = None, *, max_rows: int | None = None) -> pd.DataFrame:
    """Read a csv/parquet/json/jsonl table at ``uri`` (fsspec), raising INVALID_FILE for bad content."""
    fmt = _normalize_format(fmt) if fmt else detect_format(uri)
    try:
        raw_file = open_uri(uri, "rb")
    except FileNotFoundError:
        raise _invalid(f"The file '{uri}' does not exist")
    with raw_file as raw:
        if _is_blank(raw):
            raise _invalid("The file is empty")
        if fmt == "parquet":
            df = _read_parquet(raw, max_rows)
        else:
            df = _read_text_table(raw, fmt, max_rows)
    _check_frame(df, max_rows)
    return df


def validate_upload(uri: str, fmt: str) -> dict:
    """Read an uploaded table and summarise it; raises the documented errors for bad input."""
    df = read_table(uri, fmt, max_rows=get_settings().max_rows)
    return {"rows": int(len(df)), "columns": int(df.shape[1]), "column_names": [str(c) for c in df.columns]}


# ---------------------------------------------------------------- common checks


def _is_blank(raw: IO[bytes]) -> bool:
    """Whether a (seekable) file holds no bytes or only whitespace; rewinds it."""
    probe = raw.read(_BLANK_PROBE)
    raw.seek(0)
    return len(probe) < _BLANK_PROBE and not probe.strip()


def _check_frame(df: pd.DataFrame, max_rows: int | None) -> None:
    """Checks every format shares: columns present, data rows present, row limit, unique names."""
    if df.shape[1] == 0:
        raise _invalid("The file has no columns" if len(df) else "The file has no data rows")
    if len(df) == 0:
        raise _invalid("The file has a header but no data rows")
    if max_rows is not None and len(df) > max_rows:
        raise _invalid(f"The file has more than {max_rows:,} rows; the limit is {max_rows:,} rows")
    _check_unique([str(c) for c in df.columns])


def _check_unique(names: list[str]) -> None:
    """INVALID_FILE naming the column names that occur more than once (empty names are allowed)."""
    dupes = [n for n, count in Counter(names).items() if count > 1 and n.strip()]
    if dupes:
        raise _invalid("Duplicate column names: " + ", ".join(repr(n) for n in dupes))


def _check_row_limit(count: int, max_rows: int | None) -> None:
    """INVALID_FILE once more than ``max_rows`` rows were seen."""
    if max_rows is not None and count > max_rows:
        raise _invalid(f"The file has more than {max_rows:,} rows; the limit is {max_rows:,} rows")


# ---------------------------------------------------------------- parquet


def _read_parquet(raw: IO[bytes], max_rows: int | None) -> pd.DataFrame:
    """Read a Parquet file, checking row count and names from the footer before loading data."""
    try:
        pf = pq.ParquetFile(raw)
        _check_row_limit(pf.metadata.num_rows, max_rows)
        _check_unique(pf.schema_arrow.names)
        return pf.read().to_pandas()
    except pa.ArrowException as exc:
        raise _invalid(f"The file is not a valid Parquet file: {exc}") from None


# ---------------------------------------------------------------- text formats


def _read_text_table(raw: IO[bytes], fmt: str, max_rows: int | None) -> pd.DataFrame:
    """Read csv/json/jsonl, transparently un-gzipping, turning gzip damage into INVALID_FILE."""
    gzipped = raw.read(2) == _GZIP_MAGIC
    raw.seek(0)
    source: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else raw
    try:
        if fmt == "csv":
            return _read_csv(_CheckedReader(source), max_rows)
        return _read_json(source.read(), fmt, max_rows)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise _invalid(f"The file is not valid gzip: {exc}") from None


def _decode(data: bytes) -> str:
    """UTF-8 text (BOM tolerated) or INVALID_FILE with the line of the first bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise _invalid(f"The file is not valid UTF-8 text (undecodable byte on line {line})") from None


class _CheckedReader(io.RawIOBase):
    """A byte stream that checks UTF-8 validity and binary content as it is read, counting lines.

    The first ``_HEAD_BYTES`` are read up front (``head``) so the header can be checked before parsing.
    """

    def __init__(self, source: IO[bytes]):
        super().__init__()
        self._source = source
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._line = 1
        self.head = self._read_checked(_HEAD_BYTES)
        self.head_complete = len(self.head) < _HEAD_BYTES
        self._pending = memoryview(self.head)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        """Serve the already-read head first, then checked bytes from the source."""
        if self._pending:
            n = min(len(buffer), len(self._pending))
            buffer[:n] = self._pending[:n]
            self._pending = self._pending[n:]
            return n
        data = self._read_checked(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _read_checked(self, size: int) -> bytes:
        """Read up to ``size`` bytes, raising INVALID_FILE on NUL bytes or invalid UTF-8."""
        data = self._source.read(size)
        if not data:
            self._decode(b"", final=True)
            return b""
        nul = data.find(b"\x00")
        if nul >= 0:
            line = self._line + data.count(b"\n", 0, nul)
            raise _invalid(f"The file is not a text file: binary data (NUL byte) on line {line}")
        self._decode(data)
        self._line += data.count(b"\n")
        return data

    def _decode(self, data: bytes, final: bool = False) -> None:
        """Feed the incremental UTF-8 validator."""
        try:
            self._decoder.decode(data, final)
        except UnicodeDecodeError as exc:
            line = self._line + exc.object.count(b"\n", 0, exc.start)
            raise _invalid(f"The file is not valid UTF-8 text (undecodable byte on line {line})") from None


# ---------------------------------------------------------------- csv


def _read_csv(reader: _CheckedReader, max_rows: int | None) -> pd.DataFrame:
    """Parse CSV with pandas' C engine (no date parsing, errors on rows longer than the header)."""
    _check_csv_head(reader)
    try:
        df = pd.read_csv(
            io.BufferedReader(reader, _BUFFER),
            encoding="utf-8-sig",
            on_bad_lines="error",
            index_col=False,
            low_memory=False,
            nrows=None if max_rows is None else max_rows + 1,
        )
    except pd.errors.EmptyDataError:
        raise _invalid("The file is empty") from None
    except pd.errors.ParserError as exc:
        raise _invalid(_csv_reason(str(exc))) from None
    except UnicodeDecodeError:
        raise _invalid("The file is not valid UTF-8 text") from None
    _check_row_limit(len(df), max_rows)
    return df


def _check_csv_head(reader: _CheckedReader) -> None:
    """Check header names and the first data row's width from the head (pandas would silently cope)."""
    text = reader.head.decode("utf-8-sig", errors="ignore")
    rows = csv.reader(io.StringIO(text, newline=""))
    try:
        found = list(islice(((row, rows.line_num) for row in rows if _csv_row_has_data(row)), 3))
    except csv.Error:
        return
    if not reader.head_complete:
        found = found[:-1]  # the last row may be cut off by the head limit
    if not found:
        return
    header = found[0][0]
    _check_unique(header)
    if len(found) > 1 and len(found[1][0]) > len(header):
        row, line = found[1]
        raise _invalid(f"Malformed CSV: line {line} has {len(row)} fields but the header has {len(header)}")


def _csv_row_has_data(row: list[str]) -> bool:
    """Whether a csv row is not a blank line (pandas skips those)."""
    return len(row) > 1 or (len(row) == 1 and bool(row[0].strip()))


_EXPECTED_FIELDS = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_EOF_IN_STRING = re.compile(r"EOF inside string starting at row (\d+)")


def _csv_reason(message: str) -> str:
    """A readable reason (with a line number when pandas gives one) for a pandas CSV parser error."""
    if m := _EXPECTED_FIELDS.search(message):
        expected, line, saw = m.groups()
        return f"Malformed CSV: line {line} has {saw} fields but the header has {expected}"
    if m := _EOF_IN_STRING.search(message):
        return f"Malformed CSV: unterminated quoted field starting on line {int(m.group(1)) + 1}"
    reason = message.replace("Error tokenizing data. C error:", "").strip()
    return f"Malformed CSV: {reason}"


# ---------------------------------------------------------------- json


def _read_json(data: bytes, fmt: str, max_rows: int | None) -> pd.DataFrame:
    """Parse a JSON document (records or columns) or JSON lines into a DataFrame."""
    text = _decode(data)
    if not text.strip():
        raise _invalid("The file is empty")
    starts_with_array = text.lstrip().startswith("[")
    if fmt == "jsonl" and not starts_with_array:
        return _frame_from_records(_parse_json_lines(text, max_rows), max_rows)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data" and text.lstrip().startswith("{"):
            return _frame_from_records(_parse_json_lines(text, max_rows), max_rows)
        raise _invalid(f"Invalid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    return _frame_from_document(doc, max_rows)


def _parse_json_lines(text: str, max_rows: int | None) -> list[dict]:
    """JSON lines: one object per non-blank line."""
    records: list[dict] = []
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _invalid(f"Invalid JSON on line {number}: {exc.msg} (column {exc.colno})") from None
        if not isinstance(record, dict):
            raise _invalid(f"Invalid JSON lines: line {number} is {_json_type(record)}, not an object")
        records.append(record)
        _check_row_limit(len(records), max_rows)
    return records


def _frame_from_document(doc: Any, max_rows: int | None) -> pd.DataFrame:
    """A DataFrame from an array of records or an object of columns (pandas orients columns/split/table)."""
    if isinstance(doc, list):
        return _frame_from_records(doc, max_rows)
    if isinstance(doc, dict):
        if _is_split(doc):
            return _frame_from_rows(doc["data"], doc["columns"], max_rows)
        if set(doc) == {"schema", "data"} and isinstance(doc["data"], list):
            frame = _frame_from_records(doc["data"], max_rows)
            keys = doc["schema"].get("primaryKey", []) if isinstance(doc["schema"], dict) else []
            return frame.drop(columns=[k for k in keys if k in frame.columns])
        return _frame_from_columns(doc, max_rows)
    raise _invalid(
        f"JSON must be an array of objects, an object of columns or JSON lines, not {_json_type(doc)}"
    )


def _is_split(doc: dict) -> bool:
    """Whether a JSON object is pandas' orient='split' layout."""
    return (set(doc) <= {"columns", "data", "index"} and {"columns", "data"} <= set(doc)
            and isinstance(doc["columns"], list) and isinstance(doc["data"], list))


def _frame_from_records(records: list, max_rows: int | None) -> pd.DataFrame:
    """A DataFrame from a list of JSON objects."""
    for i, item in enumerate(records):
        if not isinstance(item, dict):
            raise _invalid(f"JSON array items must be objects; item {i + 1} is {_json_type(item)}")
    _check_row_limit(len(records), max_rows)
    return pd.DataFrame(records)


def _frame_from_rows(rows: list, columns: list, max_rows: int | None) -> pd.DataFrame:
    """A DataFrame from pandas' split layout (rows of values plus column names)."""
    _check_row_limit(len(rows), max_rows)
    _check_unique([str(c) for c in columns])
    try:
        return pd.DataFrame(rows, columns=[str(c) for c in columns])
    except (ValueError, TypeError) as exc:
        raise _invalid(f"Invalid JSON table: {exc}") from None


def _frame_from_columns(doc: dict, max_rows: int | None) -> pd.DataFrame:
    """A DataFrame from an object mapping column names to arrays or to {row: value} objects."""
    for name, values in doc.items():
        if not isinstance(values, (list, dict)):
            raise _invalid(
                "JSON must be an array of objects, an object of columns or JSON lines; "
                f"column '{name}' holds {_json_type(values)}, not an array or object of values"
            )
    try:
        df = pd.DataFrame.from_dict(doc, orient="columns")
    except (ValueError, TypeError) as exc:
        raise _invalid(f"Invalid JSON columns: {exc}") from None
    _check_row_limit(len(df), max_rows)
    return df.reset_index(drop=True)


def _json_type(value: Any) -> str:
    """The JSON name of a parsed value's type, with its article ("an array", "null")."""
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
             float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
