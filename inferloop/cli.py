"""`inferloop-tabular`: the command line of the platform."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Inferloop synthetic data platform", no_args_is_help=True, add_completion=False)


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
    """Start the Prefect server (with UI), the work pool, a worker and the API; Ctrl-C stops them all."""
    if home:
        os.environ["INFERLOOP_HOME"] = str(home)
    if prefect_port:
        os.environ["INFERLOOP_PREFECT_PORT"] = str(prefect_port)
    from inferloop.settings import get_settings
    from inferloop.embedded import EmbeddedPlatform, apply_env

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
        uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
    finally:
        typer.echo("stopping worker and Prefect server ...")
        platform.stop()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
