"""Streaming a stored Parquet result as csv / parquet / json with gzip / snappy / no compression.

Memory stays bounded by one record batch (plus one output chunk) whatever the size of the source:
the source is read with ``ParquetFile.iter_batches`` and csv/json are encoded and compressed batch by
batch; a parquet export is re-encoded batch by batch into a spooled temporary file.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import re
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import snappy

from inferloop.core.errors import InferloopError
from inferloop.core.storage import open_uri

FORMATS = ("csv", "parquet", "json")
COMPRESSIONS = ("gzip", "snappy", "none")

_MEDIA_TYPES = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet", "json": "application/json"}
_COMPRESSED_MEDIA_TYPES = {"gzip": "application/gzip", "snappy": "application/x-snappy-framed"}
_SUFFIXES = {"gzip": ".gz", "snappy": ".sz", "none": ""}
_PARQUET_CODECS = {"gzip": "GZIP", "snappy": "SNAPPY", "none": "NONE"}  # ParquetWriter names
_FOOTER_CODECS = {"gzip": "GZIP", "snappy": "SNAPPY", "none": "UNCOMPRESSED"}  # names in file metadata
_GZIP_LEVEL = 6
_JSON_SLICE_ROWS = 10_000  # rows turned into Python objects at a time for json
_SPOOL_BYTES = 16 << 20  # a parquet export larger than this is spooled to disk
_READ_BUFFER = 1 << 20  # ParquetFile buffer: column chunks are streamed, not loaded whole
_INDEX_COLUMN = re.compile(r"^__index_level_\d+__$")  # pandas index columns are not data


def _options(fmt: str, compression: str) -> tuple[str, str]:
    """Validated, lower-cased (format, compression)."""
    fmt_key = str(fmt or "").strip().lower()
    compression_key = str(compression or "none").strip().lower()
    if fmt_key not in FORMATS:
        raise InferloopError("INVALID_REQUEST", f"Unsupported export format '{fmt}'. "
                             f"Supported formats: {', '.join(FORMATS)}", field="format")
    if compression_key not in COMPRESSIONS:
        raise InferloopError("INVALID_REQUEST", f"Unsupported compression '{compression}'. "
                             f"Supported compressions: {', '.join(COMPRESSIONS)}", field="compression")
    return fmt_key, compression_key


def check_options(fmt: str, compression: str) -> None:
    """Raise INVALID_REQUEST (field "format" or "compression") for options that cannot be exported."""
    _options(fmt, compression)


def media_type(fmt: str, compression: str) -> str:
    """The Content-Type of an export (parquet compression is internal to the file)."""
    fmt, compression = _options(fmt, compression)
    if fmt == "parquet" or compression == "none":
        return _MEDIA_TYPES[fmt]
    return _COMPRESSED_MEDIA_TYPES[compression]


def filename(base: str, fmt: str, compression: str) -> str:
    """The download file name, e.g. synthetic_data.csv.gz, synthetic_data.json.sz, synthetic_data.parquet."""
    fmt, compression = _options(fmt, compression)
    return f"{base}.{fmt}" if fmt == "parquet" else f"{base}.{fmt}{_SUFFIXES[compression]}"


def stream(uri: str, fmt: str, compression: str, batch_rows: int = 50_000,
           chunk_bytes: int = 1 << 20) -> Iterator[bytes]:
    """Chunks (about ``chunk_bytes`` each) of the Parquet file at ``uri`` exported as fmt + compression.

    Options are checked at once; the source is opened when the first chunk is asked for.
    """
    fmt, compression = _options(fmt, compression)
    if batch_rows < 1 or chunk_bytes < 1:
        raise InferloopError("INVALID_REQUEST", "batch_rows and chunk_bytes must be positive")
    if fmt == "parquet":
        return _parquet_chunks(uri, compression, batch_rows, chunk_bytes)
    pieces = _csv_pieces(uri, batch_rows) if fmt == "csv" else _json_pieces(uri, batch_rows)
    return _rechunk(_compress(pieces, compression), chunk_bytes)


# ---------------------------------------------------------------- reading the source


def _open_parquet(f: Any) -> pq.ParquetFile:
    """A ParquetFile that streams column chunks through a small buffer instead of loading them whole."""
    return pq.ParquetFile(f, buffer_size=_READ_BUFFER, pre_buffer=False)


def _batches(uri: str, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """Record batches of the source without pandas index columns; one empty batch for an empty file."""
    with open_uri(uri, "rb") as f:
        pf = _open_parquet(f)
        names = [n for n in pf.schema_arrow.names if not _INDEX_COLUMN.match(n)]
        empty = True
        for batch in pf.iter_batches(batch_size=batch_rows, columns=names):
            empty = False
            yield batch
        if empty:
            schema = pa.schema([pf.schema_arrow.field(n) for n in names])
            yield pa.RecordBatch.from_arrays([pa.array([], field.type) for field in schema], schema=schema)


# ---------------------------------------------------------------- csv


def _csv_pieces(uri: str, batch_rows: int) -> Iterator[pa.Buffer]:
    """CSV text, one buffer per batch; the header only once."""
    for i, batch in enumerate(_batches(uri, batch_rows)):
        sink = pa.BufferOutputStream()
        pcsv.write_csv(_csv_ready(batch), sink, write_options=pcsv.WriteOptions(include_header=i == 0))
        yield sink.getvalue()


def _csv_ready(batch: pa.RecordBatch) -> pa.RecordBatch:
    """A batch pyarrow's CSV writer renders as wanted: ISO datetimes, NaN as empty, nested as JSON."""
    arrays = []
    for array in batch.columns:
        array = _common_ready(array)
        if pa.types.is_nested(array.type):
            array = pa.array([None if v is None else _dumps(v) for v in array.to_pylist()], pa.string())
        arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


# ---------------------------------------------------------------- json


def _json_pieces(uri: str, batch_rows: int) -> Iterator[bytes]:
    """One JSON array of records, written incrementally: "[" + records joined by "," + "]"."""
    yield b"["
    first = True
    for batch in _batches(uri, batch_rows):
        for start in range(0, batch.num_rows, _JSON_SLICE_ROWS):
            rows = _json_ready(batch.slice(start, _JSON_SLICE_ROWS)).to_pylist()
            body = _dumps(rows)[1:-1].encode()
            yield body if first else b"," + body
            first = False
    yield b"]"


def _json_ready(batch: pa.RecordBatch) -> pa.RecordBatch:
    """A batch whose Python values serialise as wanted: ISO strings for temporals, null for NaN/inf."""
    arrays = []
    for array in batch.columns:
        array = _common_ready(array)
        if pa.types.is_floating(array.type):
            array = pc.if_else(pc.is_finite(array), array, pa.scalar(None, array.type))
        elif pa.types.is_date(array.type) or pa.types.is_time(array.type):
            array = pc.cast(array, pa.string())
        elif pa.types.is_decimal(array.type):
            array = pc.cast(array, pa.float64())
        arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def _dumps(value: Any) -> str:
    """Compact UTF-8 JSON text."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_default)


def _json_default(value: Any) -> Any:
    """JSON for values the json module does not know (nested temporals, decimals, bytes)."""
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)


# ---------------------------------------------------------------- shared column preparation


def _common_ready(array: pa.Array) -> pa.Array:
    """Decode dictionaries, write timestamps as ISO 8601 and turn float NaN into null."""
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if pa.types.is_timestamp(array.type):
        return _iso_timestamps(array)
    if pa.types.is_floating(array.type):
        return pc.if_else(pc.is_nan(array), pa.scalar(None, array.type), array)
    return array


def _iso_timestamps(array: pa.Array) -> pa.Array:
    """Timestamps as ISO 8601 strings (T separator, "+01:00"/"Z" offsets), one precision per column."""
    text = pc.replace_substring(pc.cast(array, pa.string()), " ", "T", max_replacements=1)
    if array.type.tz is not None:
        text = pc.replace_substring_regex(text, r"([+-]\d\d)(\d\d)$", r"\1:\2")
    return text


# ---------------------------------------------------------------- compression and chunking


def _compress(pieces: Iterable[Any], compression: str) -> Iterator[Any]:
    """Pieces compressed as a gzip member, snappy framing format, or passed through."""
    if compression == "gzip":
        return _gzip(pieces)
    if compression == "snappy":
        return _snappy_framed(pieces)
    return iter(pieces)


def _gzip(pieces: Iterable[Any]) -> Iterator[bytes]:
    """One gzip stream (header + deflate + trailer) compressed incrementally."""
    compressor = zlib.compressobj(_GZIP_LEVEL, zlib.DEFLATED, 31)
    for piece in pieces:
        out = compressor.compress(piece)
        if out:
            yield out
    yield compressor.flush()


def _snappy_framed(pieces: Iterable[Any]) -> Iterator[bytes]:
    """The snappy framing format (stream identifier + frames), readable by snappy.StreamDecompressor."""
    compressor = snappy.StreamCompressor()
    for piece in pieces:
        if len(piece):
            yield compressor.add_chunk(bytes(piece))


def _rechunk(pieces: Iterable[Any], size: int) -> Iterator[bytes]:
    """Bytes regrouped into chunks of exactly ``size`` (the last one shorter)."""
    buffer = bytearray()
    for piece in pieces:
        view = memoryview(piece).cast("B")
        if buffer:
            take = min(size - len(buffer), len(view))
            buffer += view[:take]
            view = view[take:]
            if len(buffer) < size:
                continue
            yield bytes(buffer)
            buffer.clear()
        while len(view) >= size:
            yield view[:size].tobytes()
            view = view[size:]
        buffer += view
    if buffer:
        yield bytes(buffer)


# ---------------------------------------------------------------- parquet


def _parquet_chunks(uri: str, compression: str, batch_rows: int, chunk_bytes: int) -> Iterator[bytes]:
    """The source as a Parquet file with the requested codec: as-is when it already uses it."""
    if _uses_codec(uri, _FOOTER_CODECS[compression]):
        yield from _file_chunks(uri, chunk_bytes)
        return
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as tmp:
        _reencode(uri, tmp, _PARQUET_CODECS[compression], batch_rows)
        tmp.seek(0)
        while chunk := tmp.read(chunk_bytes):
            yield chunk


def _uses_codec(uri: str, codec: str) -> bool:
    """Whether every column chunk of the Parquet file at ``uri`` is compressed with ``codec``."""
    with open_uri(uri, "rb") as f:
        meta = pq.ParquetFile(f).metadata
        return all(meta.row_group(r).column(c).compression == codec
                   for r in range(meta.num_row_groups) for c in range(meta.num_columns))


def _file_chunks(uri: str, chunk_bytes: int) -> Iterator[bytes]:
    """The bytes of the file at ``uri`` in chunks."""
    with open_uri(uri, "rb") as f:
        while chunk := f.read(chunk_bytes):
            yield chunk


def _reencode(uri: str, sink: Any, codec: str, batch_rows: int) -> None:
    """Copy the Parquet file at ``uri`` into ``sink`` batch by batch with another codec."""
    with open_uri(uri, "rb") as f:
        pf = _open_parquet(f)
        level = _GZIP_LEVEL if codec == "GZIP" else None
        with pq.ParquetWriter(sink, pf.schema_arrow, compression=codec, compression_level=level) as writer:
            for batch in pf.iter_batches(batch_size=batch_rows):
                writer.write_batch(batch)
