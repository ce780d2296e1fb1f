"""tasks.tabular.tables: format detection, reading csv/parquet/json(l) and the documented INVALID_FILE errors."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tasks.tabular import tables
from inferloop.core.errors import InferloopError
from tasks.tabular.tables import SUPPORTED_FORMATS, detect_format, read_table, validate_upload


def write(tmp_path: Path, name: str, data: bytes | str) -> str:
    """Write bytes (or UTF-8 text) to tmp_path/name and return the path."""
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return str(path)


def read_error(uri: str, fmt: str | None = None, **kwargs) -> InferloopError:
    """The InferloopError read_table raises for uri."""
    with pytest.raises(InferloopError) as info:
        read_table(uri, fmt, **kwargs)
    return info.value


def assert_invalid(err: InferloopError, *fragments: str) -> None:
    """An INVALID_FILE error on field "file" whose message contains every fragment."""
    assert err.code == "INVALID_FILE", err
    assert err.field == "file"
    assert err.status == 400
    for fragment in fragments:
        assert fragment in err.message, err.message


# ---------------------------------------------------------------- detect_format


@pytest.mark.parametrize(("name", "fmt"), [
    ("data.csv", "csv"), ("DATA.CSV", "csv"), ("a.b.parquet", "parquet"), ("x.PQ", "parquet"),
    ("x.json", "json"), ("x.jsonl", "jsonl"), ("x.ndjson", "jsonl"), ("x.csv.gz", "csv"),
    ("x.JSON.GZ", "json"), ("s3://bucket/prefix/x.ndjson.gz", "jsonl"), ("/tmp/dir.v2/table.csv", "csv"),
])
def test_detect_format(name: str, fmt: str) -> None:
    assert detect_format(name) == fmt
    assert fmt in SUPPORTED_FORMATS


def test_detect_format_documented_message() -> None:
    with pytest.raises(InferloopError) as info:
        detect_format("report.xlsx")
    err = info.value
    assert (err.code, err.field, err.status) == ("UNSUPPORTED_FORMAT", "file", 400)
    assert err.message == "File format 'xlsx' is not supported. Supported formats: csv, parquet, json"


@pytest.mark.parametrize("name", ["a.xls", "notes.txt", "data", "dir.csv/data", "x.parquet.gz", "x.gz",
                                  "x.tsv"])
def test_detect_format_rejects(name: str) -> None:
    with pytest.raises(InferloopError) as info:
        detect_format(name)
    assert info.value.code == "UNSUPPORTED_FORMAT"
    assert "is not supported" in info.value.message


def test_unknown_explicit_format(tmp_path: Path) -> None:
    err = read_error(write(tmp_path, "a.csv", "a\n1\n"), "xlsx")
    assert err.code == "UNSUPPORTED_FORMAT"


# ---------------------------------------------------------------- csv values


def test_csv_inference_keeps_date_strings(tmp_path: Path) -> None:
    uri = write(tmp_path, "a.csv", "i,f,b,s,d\n1,1.5,true,x,2020-01-01\n2,,False,y,2020-01-02 10:00:00\n")
    df = read_table(uri)
    assert list(df.columns) == ["i", "f", "b", "s", "d"]
    assert df["i"].dtype == np.int64
    assert df["f"].dtype == np.float64 and np.isnan(df["f"][1])
    assert df["b"].dtype == bool and df["b"].tolist() == [True, False]
    assert df["d"].dtype == object and df["d"].tolist() == ["2020-01-01", "2020-01-02 10:00:00"]


def test_csv_unicode_and_bom_round_trip(tmp_path: Path) -> None:
    source = pd.DataFrame({"név": ["árvíztűrő", "東京"], "emoji 😀": ["🎉", "naïve, \"quoted\""], "n": [1, 2]})
    uri = str(tmp_path / "u.csv")
    source.to_csv(uri, index=False, encoding="utf-8-sig")  # with BOM
    assert Path(uri).read_bytes().startswith(b"\xef\xbb\xbf")
    pd.testing.assert_frame_equal(read_table(uri), source)


def test_csv_gzip_and_explicit_format(tmp_path: Path) -> None:
    text = "a,b\n1,x\n2,y\n"
    expected = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    packed = gzip.compress(text.encode())
    pd.testing.assert_frame_equal(read_table(write(tmp_path, "a.csv.gz", packed)), expected)
    # the stored upload may have any name: the format comes from the caller, gzip from the magic bytes
    pd.testing.assert_frame_equal(read_table(write(tmp_path, "upload.bin", packed), "CSV"), expected)
    pd.testing.assert_frame_equal(read_table(write(tmp_path, "upload2.bin", text), ".csv"), expected)


def test_csv_short_rows_are_padded(tmp_path: Path) -> None:
    df = read_table(write(tmp_path, "a.csv", "a,b,c\n1,2,3\n4,5\n"))
    assert df.shape == (2, 3) and np.isnan(df["c"][1])


# ---------------------------------------------------------------- csv errors


@pytest.mark.parametrize("data", [b"", b"   ", b" \n\n\t\r\n "])
def test_empty_file(tmp_path: Path, data: bytes) -> None:
    for name in ("a.csv", "a.json", "a.jsonl", "a.parquet"):
        assert_invalid(read_error(write(tmp_path, name, data)), "The file is empty")
    assert_invalid(read_error(write(tmp_path, "a.csv.gz", gzip.compress(data))), "The file is empty")


@pytest.mark.parametrize("data", ["a,b\n", "a,b", "a,b\n\n\n", "\ufeffa,b\r\n"])
def test_header_only(tmp_path: Path, data: str) -> None:
    assert_invalid(read_error(write(tmp_path, "a.csv", data)), "The file has a header but no data rows")


def test_ragged_row_has_line_number(tmp_path: Path) -> None:
    err = read_error(write(tmp_path, "a.csv", "a,b\n1,2\n3,4\n5,6,7\n8,9\n"))
    assert_invalid(err, "Malformed CSV", "line 4", "3 fields", "header has 2")


def test_ragged_first_row_is_not_taken_as_index(tmp_path: Path) -> None:
    # pandas would silently use the first column as the index here
    err = read_error(write(tmp_path, "a.csv", "a,b\n1,2,3\n4,5,6\n"))
    assert_invalid(err, "Malformed CSV", "line 2", "3 fields", "header has 2")


def test_ragged_row_far_into_the_file(tmp_path: Path) -> None:
    rows = [f"{i},value {i}" for i in range(200_000)]
    rows[150_000] += ",extra"
    err = read_error(write(tmp_path, "a.csv", "id,name\n" + "\n".join(rows) + "\n"))
    assert_invalid(err, "line 150002", "3 fields")


def test_unterminated_quote(tmp_path: Path) -> None:
    err = read_error(write(tmp_path, "a.csv", 'a,b\n1,2\n3,"unterminated\n5,6\n'))
    assert_invalid(err, "Malformed CSV", "unterminated quoted field", "line 3")


def test_binary_garbage(tmp_path: Path) -> None:
    garbage = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    assert_invalid(read_error(write(tmp_path, "a.csv", garbage)), "The file is")
    parquet_bytes = tmp_path / "p.parquet"
    pq.write_table(pa.table({"a": [1, 2]}), parquet_bytes)
    err = read_error(write(tmp_path, "renamed.csv", parquet_bytes.read_bytes()))
    assert_invalid(err, "not a text file", "line 1")


def test_undecodable_bytes_have_line_number(tmp_path: Path) -> None:
    err = read_error(write(tmp_path, "a.csv", b"a,b\n1,x\n2,caf\xe9\n"))  # latin-1, not UTF-8
    assert_invalid(err, "not valid UTF-8", "line 3")


def test_undecodable_bytes_far_into_the_file(tmp_path: Path) -> None:
    body = b"".join(b"%d,ok\n" % i for i in range(300_000))  # > 1 MiB, past the pre-read head
    err = read_error(write(tmp_path, "a.csv", b"a,b\n" + body + b"1,\xff\xfe\n"))
    assert_invalid(err, "not valid UTF-8", "line 300002")


def test_truncated_utf8_at_end(tmp_path: Path) -> None:
    assert_invalid(read_error(write(tmp_path, "a.csv", b"a,b\n1,\xc3")), "not valid UTF-8", "line 2")


def test_duplicate_columns_named(tmp_path: Path) -> None:
    err = read_error(write(tmp_path, "a.csv", "id,name,id,age,name\n1,a,2,3,b\n"))
    assert_invalid(err, "Duplicate column names", "'id'", "'name'")
    assert "age" not in err.message


def test_max_rows(tmp_path: Path) -> None:
    uri = write(tmp_path, "a.csv", "a\n" + "\n".join(map(str, range(10))) + "\n")
    assert len(read_table(uri, max_rows=10)) == 10
    assert_invalid(read_error(uri, max_rows=9), "limit is 9 rows")


def test_bad_gzip(tmp_path: Path) -> None:
    data = gzip.compress(b"a,b\n" + b"1,2\n" * 1000)
    assert_invalid(read_error(write(tmp_path, "a.csv.gz", data[: len(data) // 2])), "not valid gzip")


# ---------------------------------------------------------------- parquet


def test_parquet_round_trip(tmp_path: Path) -> None:
    source = pd.DataFrame({"i": [1, 2, 3], "f": [0.5, None, 2.0], "s": ["é", None, "東京"],
                           "t": pd.to_datetime(["2020-01-01", "2021-06-30", None]), "b": [True, False, True]})
    uri = str(tmp_path / "a.parquet")
    source.to_parquet(uri, index=False)
    pd.testing.assert_frame_equal(read_table(uri), source)
    assert len(read_table(uri, "pq")) == 3
    assert_invalid(read_error(uri, max_rows=2), "limit is 2 rows")


def test_parquet_errors(tmp_path: Path) -> None:
    assert_invalid(read_error(write(tmp_path, "a.parquet", "a,b\n1,2\n")), "not a valid Parquet file")
    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"a": list(range(100))}), good)
    truncated = good.read_bytes()[:-20]
    assert_invalid(read_error(write(tmp_path, "t.parquet", truncated)), "not a valid Parquet file")
    empty = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"a": pa.array([], pa.int64())}), empty)
    assert_invalid(read_error(str(empty)), "The file has a header but no data rows")
    dupes = tmp_path / "dupes.parquet"
    pq.write_table(pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["x", "x"]), dupes)
    assert_invalid(read_error(str(dupes)), "Duplicate column names", "'x'")


# ---------------------------------------------------------------- json


JSON_EXPECTED = pd.DataFrame({"a": [1, 2], "s": ["2020-01-01", "ü"]})


@pytest.mark.parametrize("orient", ["records", "columns", "split", "table", "index_free_lists", "lines"])
def test_json_layouts(tmp_path: Path, orient: str) -> None:
    if orient == "index_free_lists":
        text = json.dumps({"a": [1, 2], "s": ["2020-01-01", "ü"]})
    elif orient == "lines":
        text = JSON_EXPECTED.to_json(orient="records", lines=True, force_ascii=False)
    else:
        text = JSON_EXPECTED.to_json(orient=orient, force_ascii=False)
    df = read_table(write(tmp_path, "a.json", text))  # JSON lines are also accepted in a .json file
    pd.testing.assert_frame_equal(df, JSON_EXPECTED)  # date strings stay strings


def test_jsonl_and_gzip(tmp_path: Path) -> None:
    text = '{"a": 1, "s": "2020-01-01"}\n\n{"a": 2, "s": "ü"}\n'
    pd.testing.assert_frame_equal(read_table(write(tmp_path, "a.jsonl", text)), JSON_EXPECTED)
    gz = gzip.compress(text.encode())
    pd.testing.assert_frame_equal(read_table(write(tmp_path, "a.ndjson.gz", gz)), JSON_EXPECTED)
    array = JSON_EXPECTED.to_json(orient="records")
    pd.testing.assert_frame_equal(read_table(write(tmp_path, "b.jsonl", array)), JSON_EXPECTED)


def test_json_missing_keys_and_types(tmp_path: Path) -> None:
    text = '[{"a": 1, "b": true, "c": "x"}, {"a": null, "c": "y"}, {"a": 3, "b": false, "d": 1.5}]'
    df = read_table(write(tmp_path, "a.json", "\ufeff" + text))
    assert list(df.columns) == ["a", "b", "c", "d"]
    assert df["a"].dtype == np.float64 and np.isnan(df["a"][1])
    assert df["b"].tolist()[0] is True and pd.isna(df["b"][1])


@pytest.mark.parametrize(("text", "fragments"), [
    ('[{"a": 1},\n {"a": 2,}]', ["Invalid JSON", "line 2", "column"]),
    ('{"a": 1', ["Invalid JSON", "line 1"]),
    ("[1, 2]", ["array items must be objects", "item 1 is a number"]),
    ('[{"a": 1}, "x"]', ["item 2 is a string"]),
    ('{"a": 1, "b": 2}', ["object of columns", "'a'"]),
    ('"hello"', ["array of objects", "not a string"]),
    ('{"a": [1, 2], "b": [1]}', ["Invalid JSON columns", "same length"]),
    ("[]", ["no data rows"]),
    ('{"a": [], "b": []}', ["The file has a header but no data rows"]),
    ("[{}, {}]", ["no columns"]),
])
def test_json_errors(tmp_path: Path, text: str, fragments: list[str]) -> None:
    assert_invalid(read_error(write(tmp_path, "a.json", text)), *fragments)


def test_jsonl_errors(tmp_path: Path) -> None:
    err = read_error(write(tmp_path, "a.jsonl", '{"a": 1}\n{"a": 2\n{"a": 3}\n'))
    assert_invalid(err, "Invalid JSON on line 2")
    assert_invalid(read_error(write(tmp_path, "b.jsonl", '{"a": 1}\n[2]\n')), "line 2 is an array")
    assert_invalid(read_error(write(tmp_path, "c.jsonl", b'{"a": "\xff"}\n')), "not valid UTF-8", "line 1")
    lines = "".join(f'{{"a": {i}}}\n' for i in range(5))
    assert_invalid(read_error(write(tmp_path, "d.jsonl", lines), max_rows=4), "limit is 4 rows")


# ---------------------------------------------------------------- validate_upload


def test_validate_upload(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    uri = write(tmp_path, "upload", "x,ünïcode\n1,a\n2,b\n3,c\n")
    assert validate_upload(uri, "csv") == {"rows": 3, "columns": 2, "column_names": ["x", "ünïcode"]}
    monkeypatch.setattr(tables, "get_settings", lambda: SimpleNamespace(max_rows=2))
    with pytest.raises(InferloopError) as info:
        validate_upload(uri, "csv")
    assert_invalid(info.value, "limit is 2 rows")
    with pytest.raises(InferloopError) as info:
        validate_upload(write(tmp_path, "empty", ""), "csv")
    assert_invalid(info.value, "The file is empty")


# ---------------------------------------------------------------- object storage


def test_read_from_s3(s3_bucket: str) -> None:
    from inferloop.core.storage import open_uri

    with open_uri(f"{s3_bucket}/in/data.csv", "wb") as f:
        f.write("a,é\n1,ü\n2,ö\n".encode())
    df = read_table(f"{s3_bucket}/in/data.csv")
    assert df.to_dict("list") == {"a": [1, 2], "é": ["ü", "ö"]}
    with open_uri(f"{s3_bucket}/in/data.parquet", "wb") as f:
        pq.write_table(pa.table({"a": [1, 2, 3]}), f)
    assert validate_upload(f"{s3_bucket}/in/data.parquet", "parquet")["rows"] == 3
    with open_uri(f"{s3_bucket}/in/empty.csv", "wb") as f:
        f.write(b"")
    assert_invalid(read_error(f"{s3_bucket}/in/empty.csv"), "The file is empty")
