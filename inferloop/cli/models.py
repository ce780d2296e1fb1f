"""`inferloop-tabular models ...`: train once, generate many (via the client)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from inferloop.cli.common import (ApiKeyOpt, JsonOpt, ParamOpt, UrlOpt, api_errors, emit, make_client, parse_pairs,
                                  table, watch)
from inferloop.cli.data import DataArg, TimeoutOpt

models_app = typer.Typer(help="Saved models: create (train), list, get, generate, delete", no_args_is_help=True)


def _describe(m: dict) -> str:
    return (f"{m['model_id']}  {m['name']}  {m.get('algorithm')}/{m.get('model_type')}  {m['status']}"
            f"  quality {m.get('quality_score')}  {m.get('size_mb')} MB")


@models_app.command("create")
def create(
    data: DataArg,
    name: Annotated[str, typer.Option(help="the model's name")],
    algorithm: Annotated[str, typer.Option("--algorithm", "-a")] = "sdv",
    param: ParamOpt = None,
    description: Annotated[str, typer.Option()] = "",
    seed: Annotated[int | None, typer.Option(help="reproducible training and default sampling")] = None,
    constraints: Annotated[Path | None, typer.Option(help="constraints JSON file", exists=True, dir_okay=False)]
    = None,
    constraint_id: Annotated[str | None, typer.Option(help="a stored constraint set")] = None,
    wait: Annotated[bool, typer.Option(help="wait for training (progress bar); --no-wait returns at once")] = True,
    timeout: TimeoutOpt = None,
    api_key: ApiKeyOpt = None,
    url: UrlOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Train a model on DATA and save it for reuse."""
    with api_errors(json_out), make_client(api_key, url) as client:
        created = client.models.create(data, name, algorithm, parameters=parse_pairs(param), description=description,
                                       seed=seed, constraints=constraints, constraint_id=constraint_id)
        if not wait:
            emit(created, json_out, f"{created['model_id']} training (job {created['training_job_id']}); "
                                    f"follow it with: inferloop-tabular jobs watch {created['training_job_id']}")
            return
        watch(client.job(created["training_job_id"]), json_out, timeout)
        model = client.models.get(created["model_id"])
    emit(model, json_out, _describe(model))


@models_app.command("list")
def list_models(
    algorithm: Annotated[str | None, typer.Option(help="only this algorithm")] = None,
    sort: Annotated[str | None, typer.Option(help="name, created_at, quality_score, last_used")] = None,
    order: Annotated[str | None, typer.Option(help="asc or desc")] = None,
    api_key: ApiKeyOpt = None,
    url: UrlOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List your saved models."""
    with api_errors(json_out), make_client(api_key, url) as client:
        models = client.models.list(algorithm=algorithm, sort=sort, order=order)
    emit(models, json_out, lambda: table(None, ["model_id", "name", "algorithm", "type", "status", "quality",
                                                "MB", "created", "last used"],
                                         [[m["model_id"], m["name"], m["algorithm"], m.get("model_type"),
                                           m["status"], m.get("quality_score"), m.get("size_mb"), m.get("created_at"),
                                           m.get("last_used")] for m in models]) if models else typer.echo("no models"))


@models_app.command("get")
def get(model_id: str, api_key: ApiKeyOpt = None, url: UrlOpt = None, json_out: JsonOpt = False) -> None:
    """A model: status, parameters, the columns it learned."""
    with api_errors(json_out), make_client(api_key, url) as client:
        model = client.models.get(model_id)

    def human() -> None:
        typer.echo(_describe(model))
        typer.echo(f"parameters: {model.get('parameters')}")
        typer.echo(f"columns: {', '.join(model.get('columns') or [])}")
        if model.get("error"):
            typer.echo(f"error: {model['error']}")
    emit(model, json_out, human)


@models_app.command("generate")
def generate(
    model_id: str,
    rows: Annotated[int, typer.Option("--rows", "-n", help="rows to generate")] = 1000,
    seed: Annotated[int | None, typer.Option()] = None,
    condition: Annotated[list[str] | None, typer.Option("--condition", "-c", help="column=value, column='>30', "
                                                        "column=[a,b] (repeatable)")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="default synthetic_<model>.csv")] = None,
    api_key: ApiKeyOpt = None,
    url: UrlOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Generate rows from a saved model and save them."""
    conditions = parse_pairs(condition, "--condition") or None
    target = output or Path(f"synthetic_{model_id}.csv")
    with api_errors(json_out), make_client(api_key, url) as client:
        path = client.models.generate(model_id, rows, conditions=conditions, seed=seed, output=target)
    emit({"model_id": model_id, "output": str(path), "rows": rows}, json_out, f"wrote {rows} rows to {path}")


@models_app.command("delete")
def delete(model_id: str, api_key: ApiKeyOpt = None, url: UrlOpt = None, json_out: JsonOpt = False) -> None:
    """Delete a model, its jobs and its stored artifacts."""
    with api_errors(json_out), make_client(api_key, url) as client:
        answer = client.models.delete(model_id)
    emit(answer, json_out, f"deleted {model_id}")
