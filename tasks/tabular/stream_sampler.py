"""A stream's sampler process: load a saved model, then write SSE events to stdout, one batch after another.

Run by the API for GET /stream/{model_id} (no sampling happens in the API process):

    python -m tasks.tabular.stream_sampler <model_uri> --format json|csv --batch-rows 5000 [--seed 42]

stdout carries ready-made Server-Sent Events: first one `header` event (the columns: a JSON array, or the CSV
header line), then one `record` event per row, forever, each ending with the blank line that ends an SSE event
(a record's lines are never blank, so the API counts records by counting b"\\n\\n"). The process only stops
when it is killed or its reader goes away; the pipe's back-pressure paces it. A failure is
reported as one JSON line {"code", "message"} on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import warnings
from collections.abc import Iterable

import pandas as pd

from inferloop.core.errors import InferloopError

FORMATS = ("json", "csv")
MAX_SEED = 2**32 - 1


def event(name: str, data: str) -> str:
    """One SSE event; a multi-line payload becomes several `data:` lines (the client joins them with \\n)."""
    if "\n" in data or "\r" in data:
        lines = data.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        return f"event: {name}\n" + "".join(f"data: {line}\n" for line in lines) + "\n"
    return f"event: {name}\ndata: {data}\n\n"


def csv_lines(rows: Iterable[Iterable]) -> list[str]:
    """Each row as one CSV record (quoted where needed; no line terminator)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    out = []
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(row)
        out.append(buffer.getvalue()[:-1])
    return out


def header_event(columns: list, fmt: str) -> str:
    """The first event: the column names (JSON array for json, the CSV header line for csv)."""
    names = [str(c) for c in columns]
    return event("header", json.dumps(names) if fmt == "json" else csv_lines([names])[0])


def record_events(frame: pd.DataFrame, fmt: str) -> str:
    """One `record` event per row: a JSON object of the model's columns, or one CSV record."""
    if fmt == "json":
        text = frame.to_json(orient="records", lines=True, date_format="iso")
        return "".join(f"event: record\ndata: {line}\n\n" for line in text.split("\n") if line)
    values = frame.astype(object).where(frame.notna(), None)  # missing values are empty CSV fields
    return "".join(event("record", line) for line in csv_lines(values.itertuples(index=False, name=None)))


def batch_seed(seed: int | None, batch: int) -> int | None:
    """The seed of the n-th batch: the same seed and batch size give the same stream."""
    return None if seed is None else (seed + batch) % (MAX_SEED + 1)


def run(model_uri: str, fmt: str, batch_rows: int, seed: int | None, out) -> None:
    """Load the model, sample the first batch, write the header, then write batches until stopped."""
    from tasks.tabular.model_store import load_model_from

    model = load_model_from(model_uri)
    frame = model.sample(batch_rows, seed=batch_seed(seed, 0))
    out.write(header_event(list(frame.columns), fmt).encode())
    batch = 0
    while True:
        out.write(record_events(frame, fmt).encode())
        out.flush()
        batch += 1
        frame = model.sample(batch_rows, seed=batch_seed(seed, batch))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tasks.tabular.stream_sampler",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("model_uri", help="storage URI of a model written by tasks.tabular.model_store.save_model")
    parser.add_argument("--format", choices=FORMATS, default="json")
    parser.add_argument("--batch-rows", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=None)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    warnings.filterwarnings("ignore")  # library warnings would only fill the API's log
    out = sys.stdout.buffer
    try:
        run(args.model_uri, args.format, max(1, args.batch_rows), args.seed, out)
    except (BrokenPipeError, KeyboardInterrupt):  # the stream ended: the API closed our stdout
        pass
    except Exception as exc:  # noqa: BLE001  (reported to the API, which turns it into the documented error)
        code = exc.code if isinstance(exc, InferloopError) else "GENERATION_FAILED"
        message = exc.message if isinstance(exc, InferloopError) else f"{type(exc).__name__}: {exc}"
        sys.stderr.write(json.dumps({"code": code, "message": message}) + "\n")
        sys.stderr.flush()
        return 1
    finally:
        try:  # nothing left to flush into a closed pipe at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
