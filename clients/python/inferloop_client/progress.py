"""A live rich progress bar for a job: percent, status and its latest log line (on stderr)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


def last_message(info: dict[str, Any], width: int = 70) -> str:
    """The job's latest log line, shortened to `width`."""
    logs = info.get("logs") or []
    text = str(logs[-1].get("message", "")) if logs else ""
    text = text.splitlines()[0] if text else ""
    return text if len(text) <= width else text[: width - 1] + "…"


@contextmanager
def progress_bar(label: str, console: Any = None) -> Iterator[Callable[[dict[str, Any]], None]]:
    """Yield `update(status)`; the bar follows `progress` (0-100), `status` and the last log line."""
    from rich.console import Console
    from rich.progress import (BarColumn, Progress, SpinnerColumn, TaskProgressColumn, TextColumn,
                               TimeElapsedColumn)

    console = console or Console(stderr=True)
    columns = (SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), TaskProgressColumn(),
               TimeElapsedColumn(), TextColumn("{task.fields[status]}"), TextColumn("[dim]{task.fields[message]}"))
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(label, total=100, status="pending", message="")

        def update(info: dict[str, Any]) -> None:
            done = 100 if info.get("status") == "completed" else (info.get("progress") or 0)
            bar.update(task, completed=done, status=info.get("status", ""), message=last_message(info))

        yield update
