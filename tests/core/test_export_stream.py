"""tasks.tabular.export_stream: every format x compression round-trips, in bounded memory."""

from __future__ import annotations

import gzip
import io
import json
import tracemalloc
import zlib
from pathlib import Path

import cramjam
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import snappy

from tasks.tabular import export_stream
from inferloop.core.errors import InferloopError
from tasks.tabular.export_stream import COMPRESSIONS, FORMATS, check_options, filename, media_type, stream

ROWS = 200_000
CHUNK = 256 * 1024
CODEC_NAMES = {"gzip": "GZIP", "snappy": "SNAPPY", "none": "UNCOMPRESSED"}


def source_table(rows: int) -> pa.Table:
    """A table with ints, floats holding both null and a real NaN, unicode strings, bools and datetimes."""
    rng = np.random.default_rng(7)
    floats = rng.normal(size=rows).round(6).tolist()
    floats[1], floats[2] = None, float("nan")
    words = ["plain", "árvíztűrő tükörfúrógép", "東京", "emoji 😀", 'comma, "quote"', "line\nbreak"]
    strings = [None if i % 11 == 0 else f"{words[i % len(words)]} {i}" for i in range(rows)]
    start = np.datetime64("2020-01-01T00:00:00", "s")
    stamps = start + rng.integers(0, 10**8, rows).astype("timedelta64[s]")
    return pa.table({
        "id": pa.array(np.arange(rows)),
        "amount": pa.array(floats, pa.float64(), from_pandas=False),  # keeps the NaN as NaN, not null
        "label": pa.array(strings, pa.string()),
        "flag": pa.array(rng.random(rows) > 0.5),
        "when": pa.array(stamps, pa.timestamp("s")),
        "count": pa.array([None if i % 7 == 0 else i for i in range(rows)], pa.int64()),
    })


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, pd.DataFrame]:
    """A 200k-row snappy Parquet file (several row groups) and the frame every export must reproduce."""
    table = source_table(ROWS)
    path = tmp_path_factory.mktemp("export") / "result.parquet"
    pq.write_table(table, path, compression="snappy", row_group_size=64_000)
    expected = pq.read_table(path).to_pandas()  # as stored (Parquet keeps seconds as milliseconds)
    expected["amount"] = expected["amount"].astype("float64")  # NaN and null both read back as missing
    return str(path), expected


def decompress(data: bytes, compression: str) -> bytes:
    """Undo the csv/json stream compression."""
    if compression == "gzip":
        assert data[:2] == b"\x1f\x8b"
        return gzip.decompress(data)
    if compression == "snappy":
        plain = snappy.StreamDecompressor().decompress(data)
        assert bytes(cramjam.snappy.decompress(data)) == plain  # the framing format, readable by both
        return plain
    return data


def normalise(df: pd.DataFrame) -> pd.DataFrame:
    """A read-back frame in the source's dtypes (datetimes from ISO strings, nullable ints as floats)."""
    df = df.copy()
    df["when"] = pd.to_datetime(df["when"]).astype("datetime64[s]")
    df["count"] = df["count"].astype("float64")
    df["label"] = df["label"].astype(object).where(df["label"].notna(), None)
    return df


def expected_frame(expected: pd.DataFrame) -> pd.DataFrame:
    """The source frame in the dtypes normalise() produces."""
    df = expected.copy()
    df["count"] = df["count"].astype("float64")
    df["when"] = df["when"].astype("datetime64[s]")
    return df


@pytest.mark.parametrize("compression", COMPRESSIONS)
@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip(source: tuple[str, pd.DataFrame], fmt: str, compression: str) -> None:
    uri, expected = source
    chunks = list(stream(uri, fmt, compression, batch_rows=30_000, chunk_bytes=CHUNK))
    assert len(chunks) > 1
    assert all(len(c) == CHUNK for c in chunks[:-1]) and 0 < len(chunks[-1]) <= CHUNK
    data = b"".join(chunks)
    if fmt == "parquet":
        meta = pq.ParquetFile(io.BytesIO(data)).metadata
        codecs = {meta.row_group(r).column(c).compression
                  for r in range(meta.num_row_groups) for c in range(meta.num_columns)}
        assert codecs == {CODEC_NAMES[compression]}
        if compression == "snappy":  # already snappy: streamed as-is
            assert data == Path(uri).read_bytes()
        got = pq.read_table(io.BytesIO(data)).to_pandas()
        pd.testing.assert_frame_equal(got, expected)
        return
    text = decompress(data, compression)
    if fmt == "csv":
        got = pd.read_csv(io.BytesIO(text), dtype={"label": object}, keep_default_na=False,
                          float_precision="round_trip",
                          na_values={"amount": [""], "count": [""], "label": [""]})
    else:
        got = pd.DataFrame(json.loads(text))
    pd.testing.assert_frame_equal(normalise(got), expected_frame(expected), check_exact=True)


def test_csv_content_details(tmp_path: Path) -> None:
    table = pa.table({
        "name": pa.array(["é ü", None, "東京 😀"]),
        "x": pa.array([1.25, float("nan"), None], pa.float64(), from_pandas=False),
        "n": pa.array([1, None, 3], pa.int64()),
        "t": pa.array([pd.Timestamp("2021-03-04 05:06:07"), None, pd.Timestamp("2021-03-04")],
                      pa.timestamp("ns")),
        "tz": pa.array([pd.Timestamp("2021-03-04 05:06:07", tz="UTC")] * 3, pa.timestamp("s", tz="UTC")),
    })
    uri = tmp_path / "t.parquet"
    pq.write_table(table, uri)
    text = b"".join(stream(str(uri), "csv", "none", batch_rows=1)).decode("utf-8")
    assert text.splitlines() == [
        '"name","x","n","t","tz"',
        '"é ü",1.25,1,"2021-03-04T05:06:07.000000000","2021-03-04T05:06:07.000Z"',
        ',,,,"2021-03-04T05:06:07.000Z"',
        '"東京 😀",,3,"2021-03-04T00:00:00.000000000","2021-03-04T05:06:07.000Z"',
    ]
    assert text.count('"name"') == 1  # header once although every row is its own batch


def test_json_content_details(tmp_path: Path) -> None:
    table = pa.table({
        "name": pa.array(["é ü", None, "東京 😀"]),
        "x": pa.array([1.25, float("nan"), float("inf")], pa.float64(), from_pandas=False),
        "n": pa.array([1, None, 3], pa.int64()),
        "t": pa.array([pd.Timestamp("2021-03-04 05:06:07.5"), None, None], pa.timestamp("ms")),
        "tz": pa.array([pd.Timestamp("2021-03-04 05:06:07", tz="Europe/Paris")] * 3,
                       pa.timestamp("s", tz="Europe/Paris")),
        "d": pa.array([pd.Timestamp("2021-03-04").date(), None, None], pa.date32()),
        "tags": pa.array([["a", "b"], [], None]),
    })
    uri = tmp_path / "t.parquet"
    pq.write_table(table, uri)
    text = b"".join(stream(str(uri), "json", "none", batch_rows=2)).decode("utf-8")
    assert "東京 😀" in text  # UTF-8, not \u escapes
    assert json.loads(text) == [
        {"name": "é ü", "x": 1.25, "n": 1, "t": "2021-03-04T05:06:07.500",
         "tz": "2021-03-04T05:06:07.000+01:00", "d": "2021-03-04", "tags": ["a", "b"]},
        {"name": None, "x": None, "n": None, "t": None, "tz": "2021-03-04T05:06:07.000+01:00", "d": None,
         "tags": []},
        {"name": "東京 😀", "x": None, "n": 3, "t": None, "tz": "2021-03-04T05:06:07.000+01:00", "d": None,
         "tags": None},
    ]
    df = pd.read_json(io.StringIO(text), orient="records")
    assert len(df) == 3 and pd.to_datetime(df["tz"]).iloc[0] == pd.Timestamp("2021-03-04 04:06:07", tz="UTC")


def test_empty_source(tmp_path: Path) -> None:
    uri = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"a": pa.array([], pa.int64()), "é": pa.array([], pa.string())}), uri)
    assert b"".join(stream(str(uri), "csv", "none")) == '"a","é"\n'.encode()
    assert json.loads(b"".join(stream(str(uri), "json", "none"))) == []
    assert json.loads(gzip.decompress(b"".join(stream(str(uri), "json", "gzip")))) == []
    got = pq.read_table(io.BytesIO(b"".join(stream(str(uri), "parquet", "gzip"))))
    assert got.num_rows == 0 and got.column_names == ["a", "é"]


def test_pandas_index_is_not_exported(tmp_path: Path) -> None:
    uri = tmp_path / "indexed.parquet"
    pd.DataFrame({"a": [1, 2]}, index=[10, 20]).to_parquet(uri)
    assert b"".join(stream(str(uri), "csv", "none")) == b'"a"\n1\n2\n'


def test_options() -> None:
    for fmt in FORMATS:
        for compression in COMPRESSIONS:
            check_options(fmt, compression)
    with pytest.raises(InferloopError) as info:
        check_options("xlsx", "gzip")
    assert (info.value.code, info.value.field, info.value.status) == ("INVALID_REQUEST", "format", 400)
    with pytest.raises(InferloopError) as info:
        check_options("csv", "brotli")
    assert (info.value.code, info.value.field) == ("INVALID_REQUEST", "compression")
    with pytest.raises(InferloopError) as info:
        stream("/nonexistent.parquet", "csv", "zstd")  # checked before anything is opened
    assert info.value.field == "compression"


@pytest.mark.parametrize(("fmt", "compression", "media", "name"), [
    ("csv", "none", "text/csv", "synthetic_data.csv"),
    ("csv", "gzip", "application/gzip", "synthetic_data.csv.gz"),
    ("csv", "snappy", "application/x-snappy-framed", "synthetic_data.csv.sz"),
    ("json", "none", "application/json", "synthetic_data.json"),
    ("json", "gzip", "application/gzip", "synthetic_data.json.gz"),
    ("json", "snappy", "application/x-snappy-framed", "synthetic_data.json.sz"),
    ("parquet", "none", "application/vnd.apache.parquet", "synthetic_data.parquet"),
    ("parquet", "gzip", "application/vnd.apache.parquet", "synthetic_data.parquet"),
    ("parquet", "snappy", "application/vnd.apache.parquet", "synthetic_data.parquet"),
])
def test_media_type_and_filename(fmt: str, compression: str, media: str, name: str) -> None:
    assert media_type(fmt, compression) == media
    assert filename("synthetic_data", fmt, compression) == name


def test_memory_stays_bounded(tmp_path: Path) -> None:
    """1.5M rows as csv+gzip: Python and Arrow peaks stay far below the size of the output."""
    path = tmp_path / "big.parquet"
    rng = np.random.default_rng(1)
    rows = 1_500_000
    table = pa.table({
        "id": np.arange(rows),
        "x": rng.normal(size=rows),
        "k": pa.array(rng.integers(0, 1000, rows)).cast(pa.string()),
        "flag": rng.random(rows) > 0.5,
        "ts": pa.array(np.datetime64("2020-01-01", "s")
                       + rng.integers(0, 10**9, rows).astype("timedelta64[s]")),
    })
    pq.write_table(table, path)
    del table
    arrow_base = pa.total_allocated_bytes()
    output = arrow_peak = chunks = 0
    checker = zlib.decompressobj(31)
    tracemalloc.start()
    try:
        for chunk in stream(str(path), "csv", "gzip"):
            output += len(chunk)
            chunks += 1
            arrow_peak = max(arrow_peak, pa.total_allocated_bytes() - arrow_base)
            if chunks == 1:
                assert checker.decompress(chunk, 64)[:24] == b'"id","x","k","flag","ts"'
        python_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert output > 20 * 2**20  # the whole (compressed) output is tens of MiB ...
    assert python_peak < output / 3, (python_peak, output)  # ... Python memory a few MiB (one chunk/batch)
    assert arrow_peak < output, (arrow_peak, output)  # Arrow holds one batch, not the table


# ---------------------------------------------------------------- object storage


def test_stream_from_s3(s3_bucket: str) -> None:
    from inferloop.core.storage import open_uri

    uri = f"{s3_bucket}/runs/r1/synthetic.parquet"
    with open_uri(uri, "wb") as f:
        pq.write_table(source_table(5_000), f)
    text = decompress(b"".join(stream(uri, "csv", "snappy", batch_rows=1_000)), "snappy")
    assert len(pd.read_csv(io.BytesIO(text))) == 5_000
    parquet = b"".join(stream(uri, "parquet", "gzip", batch_rows=1_000, chunk_bytes=4096))
    with open_uri(uri, "rb") as f:
        original = pq.read_table(f).to_pandas()
    pd.testing.assert_frame_equal(pq.read_table(io.BytesIO(parquet)).to_pandas(), original)


def test_module_constants() -> None:
    assert export_stream.FORMATS == ("csv", "parquet", "json")
    assert export_stream.COMPRESSIONS == ("gzip", "snappy", "none")
