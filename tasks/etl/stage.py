"""The run's staging area: each step writes Parquet parts under runs/<flow_run_id>/stage/<step>/ and the next
step streams them back in batches, so every step works in constant memory and nothing reaches the target
before the data has been validated."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from inferloop.core import storage


def write_parts(batches: Iterable[pa.RecordBatch], folder: str, on_part=None) -> tuple[list[str], int, pa.Schema]:
    """One Parquet file per batch: (part URIs, rows, schema). At least one part (empty) carries the schema."""
    uris: list[str] = []
    rows = 0
    schema: pa.Schema | None = None
    for batch in batches:
        if schema is None:
            schema = batch.schema
        elif batch.num_rows == 0:
            continue
        elif batch.schema != schema:
            batch = batch.cast(schema)
        uri = f"{folder}/part-{len(uris):05d}.parquet"
        with storage.open_uri(uri, "wb") as f:
            pq.write_table(pa.Table.from_batches([batch]), f, compression="zstd", compression_level=1)
        uris.append(uri)
        rows += batch.num_rows
        if on_part is not None:
            on_part(rows)
    if schema is None:
        raise ValueError("no batch (not even an empty one) came from the source")
    return uris, rows, schema


def iter_batches(uris: list[str], batch_rows: int) -> Iterator[pa.RecordBatch]:
    for uri in uris:
        with storage.open_uri(uri, "rb") as f:
            pf = pq.ParquetFile(f)
            for batch in pf.iter_batches(batch_size=batch_rows):
                yield batch


def schema_of(uris: list[str]) -> pa.Schema:
    with storage.open_uri(uris[0], "rb") as f:
        return pq.ParquetFile(f).schema_arrow


def scan(uris: list[str]) -> pl.LazyFrame:
    """The staged rows as one polars lazy frame (local storage: native scan; object stores: via fsspec)."""
    fs, _ = storage.fs_for(uris[0])
    if getattr(fs, "protocol", None) in ("file", ("file", "local"), "local") or "file" in (fs.protocol or ()):
        return pl.scan_parquet([storage.fs_for(u)[1] for u in uris])
    import pyarrow.dataset as ds
    from pyarrow.fs import FSSpecHandler, PyFileSystem

    dataset = ds.dataset([storage.fs_for(u)[1] for u in uris], format="parquet",
                         filesystem=PyFileSystem(FSSpecHandler(fs)))
    return pl.scan_pyarrow_dataset(dataset)


def remove(folder: str) -> None:
    storage.remove(folder)
