"""Server-Sent Events: parse `event:`/`data:` lines into (event, data) pairs and records."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from typing import Any

from inferloop_client.errors import InferloopAPIError, error_class


def iter_events(lines: Iterable[str]) -> Iterator[tuple[str, str]]:
    """(event, data) per SSE event; multi-line data joined with \\n; comments skipped."""
    name: str | None = None
    data: list[str] = []
    for line in lines:
        if line == "":
            if name is not None or data:
                yield name or "message", "\n".join(data)
            name, data = None, []
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[6:] if line.startswith("data: ") else line[5:])
    if name is not None or data:
        yield name or "message", "\n".join(data)


class RecordDecoder:
    """Turns a stream's `header` and `record` events into dicts (json or csv format)."""

    def __init__(self, fmt: str):
        self.fmt = fmt
        self.columns: list[str] | None = None

    def header(self, data: str) -> None:
        if self.fmt == "csv":
            self.columns = next(csv.reader([data]))
        else:
            parsed = json.loads(data)
            self.columns = parsed if isinstance(parsed, list) else parsed.get("columns")

    def record(self, data: str) -> dict[str, Any]:
        if self.fmt == "csv":
            values = next(csv.reader([data]))
            return dict(zip(self.columns or [str(i) for i in range(len(values))], values))
        return json.loads(data)


def stream_error(data: str) -> InferloopAPIError:
    """The typed error of an `error` event ({code, message})."""
    try:
        body = json.loads(data)
    except ValueError:
        body = {"message": data}
    code = body.get("code")
    return error_class(code, None)(body.get("message") or "the stream failed", code=code,
                                   details={k: v for k, v in body.items() if k not in ("code", "message")})
