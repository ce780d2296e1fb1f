"""What the API commands of `inferloop-tabular` share: options, the client, output, errors and exit codes.

Exit codes (stable, for scripts):
    0  success
    1  the API refused the request (400 INVALID_*, 409 CONFLICT, other 4xx)
    2  bad command line (typer's usage errors), a local file that does not exist
    3  authentication: no API key, or the key/token was refused (401) or lacks permission (403)
    4  not found (404: unknown model, job, generation)
    5  rate limited (429)
    6  server error, timeout or the API unreachable (5xx, 504, connection)
    7  the job ended failed or cancelled
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from inferloop_client import TabularClient

EXIT_OK, EXIT_API_ERROR, EXIT_USAGE, EXIT_AUTH, EXIT_NOT_FOUND, EXIT_RATE_LIMITED, EXIT_SERVER, EXIT_JOB_FAILED = \
    range(8)

ApiKeyOpt = Annotated[str | None, typer.Option("--api-key", help="default: INFERLOOP_API_KEY or `config set api.key`",
                                               show_default=False)]
UrlOpt = Annotated[str | None, typer.Option("--url", help="API base URL; default: INFERLOOP_API_URL, the config, "
                                                          "http://localhost:8000", show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable JSON on stdout")]
ParamOpt = Annotated[list[str] | None, typer.Option("--param", "-p", help="algorithm parameter key=value "
                                                    "(repeatable; values parsed as JSON when they can be)")]


def exit_code_for(exc: BaseException) -> int:
    """The documented exit code of a client error."""
    from inferloop_client import errors as e

    if isinstance(exc, e.JobFailedError):
        return EXIT_JOB_FAILED
    if isinstance(exc, (e.AuthenticationError, e.PermissionDeniedError)):
        return EXIT_AUTH
    if isinstance(exc, e.NotFoundError):
        return EXIT_NOT_FOUND
    if isinstance(exc, e.RateLimitError):
        return EXIT_RATE_LIMITED
    if isinstance(exc, (e.ServerError, e.APITimeoutError, e.APIConnectionError)):
        return EXIT_SERVER
    if isinstance(exc, e.InferloopAPIError) and exc.status is not None and exc.status >= 500:
        return EXIT_SERVER
    return EXIT_API_ERROR


def make_client(api_key: str | None, url: str | None) -> "TabularClient":
    """The client every API command talks through (key and URL: option, environment, config)."""
    from inferloop_client import TabularClient

    return TabularClient(api_key=api_key, base_url=url)


@contextmanager
def api_errors(as_json: bool = False) -> Iterator[None]:
    """Turn client errors into a message on stderr (and the envelope on stdout with --json) and an exit code."""
    from inferloop_client import AuthenticationError, InferloopAPIError
    from inferloop_client import config as client_config

    try:
        yield
    except InferloopAPIError as exc:
        if as_json:
            typer.echo(json.dumps({"error": exc.to_dict()}, default=str))
        hint = ""
        if isinstance(exc, AuthenticationError) and not client_config.api_key():
            hint = " (no API key configured: use --api-key, INFERLOOP_API_KEY or `config set api.key`)"
        typer.echo(f"error: {exc}{hint}", err=True)
        raise typer.Exit(exit_code_for(exc))
    except FileNotFoundError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE)


def parse_pairs(pairs: list[str] | None, what: str = "--param") -> dict[str, Any]:
    """key=value options as a dict (values parsed as JSON when they can be: 10, true, [1,2], "x")."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"expected key=value, got '{pair}'", param_hint=what)
        try:
            out[key.strip()] = json.loads(raw)
        except ValueError:
            out[key.strip()] = raw
    return out


def emit(data: Any, as_json: bool, human: Callable[[], None] | str) -> None:
    """JSON on stdout for scripts, or the human rendering."""
    if as_json:
        typer.echo(json.dumps(data, indent=2, default=str))
    elif callable(human):
        human()
    else:
        typer.echo(human)


def console():
    """stdout; off a terminal (pipes, files) tables keep their full width instead of being cut at 80 columns."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=1000, no_color=True)


def table(title: str | None, columns: list[str], rows: list[list[Any]]) -> None:
    """A rich table on stdout."""
    from rich.table import Table

    t = Table(title=title, show_lines=False)
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*["" if v is None else str(v) for v in r])
    console().print(t)


def watch(job, as_json: bool, timeout: float | None, poll_interval: float = 1.0) -> dict[str, Any]:
    """Wait for a job or batch: a live progress bar on stderr (none with --json or off a terminal)."""
    bar = not as_json and sys.stderr.isatty()
    return job.wait(timeout=timeout, poll_interval=poll_interval, progress=bar,
                    on_update=None if bar or as_json else _plain_updates(job))


def _plain_updates(job) -> Callable[[dict[str, Any]], None]:
    """Status changes as plain lines on stderr (no terminal: logs, CI)."""
    seen: dict[str, Any] = {}

    def update(info: dict[str, Any]) -> None:
        state = (info.get("status"), info.get("progress"))
        if state != seen.get("last"):
            seen["last"] = state
            typer.echo(f"{job.kind} {job.id}: {info.get('status')} {info.get('progress') or 0}%", err=True)
    return update
