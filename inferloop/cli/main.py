"""`inferloop-tabular`: the command line of the platform.

Server side: serve, keys. Client side (through `inferloop_client.TabularClient`): generate, profile, validate,
privacy, download, usage, models, jobs, config. Exit codes are listed in `inferloop.cli.common`.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Annotated

import typer

EPILOG = ("Exit codes: 0 ok, 1 request refused (4xx), 2 bad command line, 3 authentication, 4 not found, "
          "5 rate limited, 6 server error/timeout/unreachable, 7 job failed or cancelled.")
app = typer.Typer(help="Inferloop synthetic data platform", no_args_is_help=True, add_completion=False,
                  epilog=EPILOG)


@app.callback()
def _root() -> None:
    """Inferloop synthetic data platform."""


@app.command()
def version() -> None:
    """Print the version."""
    from inferloop import __version__

    typer.echo(__version__)


@app.command()
def serve(port: Annotated[int, typer.Option(help="API port")] = 8000,
          host: Annotated[str, typer.Option(help="API bind address")] = "127.0.0.1",
          home: Annotated[Path | None, typer.Option(help="data folder (INFERLOOP_HOME)")] = None,
          prefect_port: Annotated[int | None, typer.Option(help="Prefect server port")] = None) -> None:
    """Start the Prefect server (with UI), the work pool, a worker and the API.

    SIGTERM, SIGHUP or Ctrl-C stops them all within INFERLOOP_SHUTDOWN_SECONDS (default 10)."""
    if home:
        os.environ["INFERLOOP_HOME"] = str(home)
    if prefect_port:
        os.environ["INFERLOOP_PREFECT_PORT"] = str(prefect_port)
    from inferloop.core.settings import get_settings
    from inferloop.runtime.embedded import EmbeddedPlatform, apply_env
    from inferloop.runtime.shutdown import ShutdownRequested, StopSignals

    signals = StopSignals()
    signals.install()
    os.environ.setdefault("INFERLOOP_PUBLIC_URL", f"http://{host}:{port}")
    settings = get_settings()
    apply_env(settings)  # before Prefect is imported anywhere in this process
    if not settings.keys and not settings.auth_disabled:
        typer.echo("warning: INFERLOOP_API_KEYS is empty, so every API request will be refused "
                   "(set it, or INFERLOOP_AUTH_DISABLED=true for a demo)", err=True)
    platform = EmbeddedPlatform(settings)
    typer.echo(f"data folder: {settings.home}")
    typer.echo(f"starting Prefect server on 127.0.0.1:{settings.prefect_port} ...")
    try:
        platform.start()
        typer.echo(f"Prefect UI:  http://127.0.0.1:{settings.prefect_port}")
        typer.echo(f"work pool '{settings.work_pool}' with 1 worker; logs in {platform.log_dir}")
        typer.echo(f"API:         http://{host}:{port}  (docs at /docs)")
        import uvicorn

        from api.main import create_app
        # open streams and slow requests get a third of the stop time, the children the rest
        config = uvicorn.Config(create_app(settings), host=host, port=port, log_level="info",
                                timeout_graceful_shutdown=max(1, int(settings.shutdown_seconds / 3)))
        signals.server = uvicorn.Server(config)
        signals.server.run()
    except ShutdownRequested:
        pass
    finally:
        signals.ignore()
        typer.echo("stopping workers and Prefect server ...")
        platform.stop(signals.remaining(settings.shutdown_seconds))
        if signals.received_at is not None:
            import time

            typer.echo(f"stopped {time.monotonic() - signals.received_at:.1f} s after "
                       f"{signal.Signals(signals.received).name}")
        else:
            typer.echo("stopped")


keys_app = typer.Typer(help="API keys (run on the server: works on its metadata store)", no_args_is_help=True)
config_app = typer.Typer(help="Client settings: api.key, api.url", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(config_app, name="config")


def _emit(data, as_json: bool, text: str) -> None:
    import json

    typer.echo(json.dumps(data, indent=2, default=str) if as_json else text)


def _store():
    from inferloop.core import db
    from inferloop.core.settings import get_settings

    db.migrate(get_settings().database)
    return db.session_scope()


@keys_app.command("create")
def keys_create(account: Annotated[str, typer.Option(help="account name (created if new)")],
                tier: Annotated[str, typer.Option(help="starter, professional, business, enterprise")] = "starter",
                admin: Annotated[bool, typer.Option(help="the account may manage keys")] = False,
                name: Annotated[str, typer.Option(help="a label for the key")] = "",
                json_out: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False) -> None:
    """Create an API key; the key is printed once and stored only as a hash."""
    from inferloop.core import auth
    from inferloop.core.errors import InferloopError

    try:
        with _store() as s:
            acct = auth.account_by_name(s, account) or auth.create_account(s, account, tier, admin)
            row, plaintext = auth.create_key(s, acct.id, name)
            view = {**auth.key_view(row, acct), "api_key": plaintext}
    except InferloopError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2)
    _emit(view, json_out, f"{plaintext}\n(key {view['key_id']} of account '{account}', tier {view['tier']}; "
                          "store it now: it is not shown again)")


@keys_app.command("list")
def keys_list(account: Annotated[str | None, typer.Option(help="only this account")] = None,
              json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List keys (prefix, account, tier, state); never the keys themselves."""
    from inferloop.core import auth

    with _store() as s:
        acct = auth.account_by_name(s, account) if account else None
        if account and acct is None:
            typer.echo(f"error: account '{account}' not found", err=True)
            raise typer.Exit(2)
        views = [auth.key_view(k, a) for k, a in auth.list_keys(s, acct.id if acct else None)]
    lines = [f"{v['key_id']}  {v['prefix']}…  {v['account']:<20} {v['tier']:<12} "
             f"{'active' if v['active'] else 'revoked'}" for v in views]
    _emit(views, json_out, "\n".join(lines) or "no keys")


@keys_app.command("revoke")
def keys_revoke(key_id: str, json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Revoke a key: requests with it get 401 from then on."""
    from inferloop.core import auth, db
    from inferloop.core.errors import InferloopError

    try:
        with _store() as s:
            row = auth.revoke_key(s, key_id)
            view = auth.key_view(row, s.get(db.Account, row.account_id))
    except InferloopError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2)
    _emit(view, json_out, f"revoked {key_id}")


@config_app.command("set")
def config_set(key: str, value: str) -> None:
    """Store a client setting (api.key, api.url) in the config file."""
    from inferloop_client import config as client_config

    try:
        path = client_config.set_value(key, value)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
    typer.echo(f"{key} saved in {path}")


@config_app.command("get")
def config_get(key: str) -> None:
    """Print a client setting's effective value (environment overrides the file)."""
    from inferloop_client import config as client_config

    try:
        value = client_config.get_value(key)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
    if value is None:
        raise typer.Exit(1)
    typer.echo(value)


from inferloop.cli import data as cli_data
from inferloop.cli.jobs import jobs_app  # noqa: E402
from inferloop.cli.models import models_app  # noqa: E402

cli_data.register(app)
app.add_typer(models_app, name="models")
app.add_typer(jobs_app, name="jobs")

# --- image (issue 13): app.add_typer(image_app, name="image") ---
from inferloop.cli.image import image_app  # noqa: E402

app.add_typer(image_app, name="image")

# --- context (issue 14) ---
from inferloop.cli.context import context_app  # noqa: E402

app.add_typer(context_app, name="context")

# --- etl (issue 15) ---
from inferloop.cli.etl import etl_app  # noqa: E402

app.add_typer(etl_app, name="etl")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
