"""Data commands of `inferloop-tabular`: generate, profile, validate, privacy, download, usage (via the client)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlparse

import typer

from inferloop.cli.common import (ApiKeyOpt, JsonOpt, ParamOpt, UrlOpt, api_errors, emit, make_client, parse_pairs,
                                  table, watch)

DataArg = Annotated[str, typer.Argument(help="a local file (CSV, Parquet, JSON) or a URL the server reads "
                                             "(s3://, https://, upload://)")]
TimeoutOpt = Annotated[float | None, typer.Option(help="stop waiting after this many seconds (the job goes on; "
                                                       "exit 6)")]


def register(app: typer.Typer) -> None:
    """Add the data commands to the root app."""
    for command in (generate, profile, validate, privacy, download, usage):
        app.command()(command)


def default_output(data: str, fmt: str) -> Path:
    """synthetic_<name of the input>.<format> in the current folder."""
    stem = Path(urlparse(data).path if "://" in data else data).name.split(".")[0] or "data"
    return Path(f"synthetic_{stem}.{fmt}")


def load_config(path: Path) -> dict[str, Any]:
    """Algorithm parameters from a JSON or YAML file (a mapping, or {"parameters": {...}})."""
    text = path.read_text()
    try:
        parsed = json.loads(text)
    except ValueError:
        import yaml

        parsed = yaml.safe_load(text)
    if parsed is None:
        return {}
    if not isinstance(parsed, dict):
        raise typer.BadParameter("the config file must hold a mapping of parameters", param_hint="--config")
    params = parsed.get("parameters", parsed)
    if not isinstance(params, dict):
        raise typer.BadParameter("'parameters' must be a mapping", param_hint="--config")
    return params


def generate(
    data: DataArg,
    algorithm: Annotated[str, typer.Option("--algorithm", "-a", help="sdv, ctgan, tabular_argn, ...")] = "sdv",
    rows: Annotated[int | None, typer.Option("--rows", "-n", help="rows to generate (default: as many as the "
                                                                  "input)")] = None,
    seed: Annotated[int | None, typer.Option(help="same seed, same rows")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="file to write (format and .gz from its "
                                                                       "suffix); default synthetic_<input>.<format>")]
    = None,
    format: Annotated[str, typer.Option(help="csv, parquet or json")] = "csv",
    param: ParamOpt = None,
    config: Annotated[Path | None, typer.Option(help="JSON/YAML file of algorithm parameters", exists=True,
                                                dir_okay=False)] = None,
    constraints: Annotated[Path | None, typer.Option(help="constraints JSON file", exists=True, dir_okay=False)]
    = None,
    constraint_id: Annotated[str | None, typer.Option(help="a stored constraint set")] = None,
    async_: Annotated[bool, typer.Option("--async", help="start the job, print its id and return "
                                                         "(then `jobs watch`)")] = False,
    timeout: TimeoutOpt = None,
    api_key: ApiKeyOpt = None,
    url: UrlOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Generate synthetic data like DATA and save it (a job with a live progress bar)."""
    params = {**(load_config(config) if config else {}), **parse_pairs(param)}
    target = output or default_output(data, format)
    with api_errors(json_out), make_client(api_key, url) as client:
        job = client.generate_async(data, algorithm, rows, seed=seed, format=format, constraints=constraints,
                                    constraint_id=constraint_id, **params)
        if async_:
            emit({**job.info, "job_id": job.id}, json_out,
                 f"{job.id} started; follow it with: inferloop-tabular jobs watch {job.id}")
            return
        info = watch(job, json_out, timeout)
        generation_id, summary = job.id, info.get("result", {})
        path = client.download(generation_id, target)
    out = {"generation_id": generation_id, "output": str(path), **summary}
    emit(out, json_out, lambda: typer.echo(
        f"wrote {summary.get('generated_rows', summary.get('rows', '?'))} rows to {path} "
        f"(quality {summary.get('quality_score')}, generation {generation_id})"))


def profile(
    data: Annotated[Path, typer.Argument(help="data file (CSV, Parquet, JSON)", exists=True, dir_okay=False)],
    sample_size: Annotated[int | None, typer.Option(help="profile a uniform sample of this many rows")] = None,
    api_key: ApiKeyOpt = None,
    url: UrlOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Profile a table: column types, statistics, distributions, correlations."""
    with api_errors(json_out), make_client(api_key, url) as client:
        result = client.profile(data, sample_size=sample_size)

    def human() -> None:
        s = result["summary"]
        typer.echo(f"{s.get('rows')} rows, {s.get('columns')} columns, {s.get('missing_values')} missing values, "
                   f"{s.get('duplicate_rows')} duplicate rows, {s.get('memory_usage')}")
        rows = []
        for name, c in result["columns"].items():
            spread = f"{c.get('min')} .. {c.get('max')}" if "min" in c else \
                (f"top {c.get('top')}" if "top" in c else "")
            rows.append([name, c.get("type"), c.get("dtype"), c.get("missing"), c.get("unique"), spread,
                         c.get("distribution", "")])
        table(None, ["column", "type", "dtype", "missing", "unique", "range / top", "distribution"], rows)
        typer.echo(f"report: {client.base_url}{result['report_url']}")
    emit(result, json_out, human)


def validate(
    original: Annotated[Path, typer.Argument(help="original data file", exists=True, dir_okay=False)],
    synthetic: Annotated[Path, typer.Argument(help="synthetic data file (same columns)", exists=True, dir_okay=False)],
    metrics: Annotated[str | None, typer.Option(help="comma-separated: statistical, ml_efficacy, privacy")] = None,
    target_column: Annotated[str | None, typer.Option(help="ml_efficacy target")] = None,
    quasi_identifiers: Annotated[str | None, typer.Option(help="comma-separated columns")] = None,
    holdout: Annotated[Path | None, typer.Option(help="real rows the generator never saw", exists=True,
                                                 dir_okay=False)] = None,
    api_key: ApiKeyOpt = None,
    url: UrlOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Score synthetic data against the original (statistical similarity, ML efficacy, privacy)."""
    with api_errors(json_out), make_client(api_key, url) as client:
        result = client.validate(original, synthetic, metrics, target_column=target_column,
                                 quasi_identifiers=quasi_identifiers.split(",") if quasi_identifiers else None,
                                 holdout=holdout)

    def human() -> None:
        typer.echo(f"overall score: {result['overall_score']}")
        table(None, ["metric", "score"], [[k, v.get("score")] for k, v in result["metrics"].items()])
        exp = result.get("expectations") or {}
        if exp:
            typer.echo(f"expectations met: {exp.get('successful')}/{exp.get('evaluated')}")
        typer.echo(f"report: {client.base_url}{result['report_url']}")
    emit(result, json_out, human)


def privacy(
    data: DataArg,
    quasi_identifiers: Annotated[str, typer.Option("--quasi-identifiers", "-q", help="comma-separated columns an "
                                                                                    "attacker may know")],
    sensitive: Annotated[str | None, typer.Option(help="comma-separated sensitive attributes")] = None,
    analysis: Annotated[str | None, typer.Option(help="k_anonymity, l_diversity, t_closeness (comma-separated)")]
    = None,
    k: Annotated[int | None, typer.Option(help="target k")] = None,
    api_key: ApiKeyOpt = None,
    url: UrlOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Privacy risks of a table: k-anonymity, l-diversity, t-closeness, recommendations."""
    split = lambda v: [x.strip() for x in v.split(",") if x.strip()] if v else None  # noqa: E731
    with api_errors(json_out), make_client(api_key, url) as client:
        result = client.privacy_analyze(data, split(quasi_identifiers), split(sensitive), split(analysis), k=k)

    def human() -> None:
        table("risks", ["risk", "value"], [[k_, v] for k_, v in result.get("risks", {}).items()])
        for name, m in result.get("metrics", {}).items():
            typer.echo(f"{name}: " + ", ".join(f"{a}={b}" for a, b in m.items() if not isinstance(b, (list, dict))))
        for r in result.get("recommendations", []):
            typer.echo(f"- {r}")
    emit(result, json_out, human)


def download(
    generation_id: Annotated[str, typer.Argument(help="a generation or job id")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="default synthetic_data.<format>")] = None,
    format: Annotated[str | None, typer.Option(help="csv, parquet, json (default: from the suffix)")] = None,
    compression: Annotated[str | None, typer.Option(help="gzip, snappy, none (default: from the suffix)")] = None,
    api_key: ApiKeyOpt = None,
    url: UrlOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Download a generation's rows to a file."""
    target = output or Path(f"synthetic_data.{format or 'csv'}")
    with api_errors(json_out), make_client(api_key, url) as client:
        path = client.download(generation_id, target, format=format, compression=compression)
    emit({"generation_id": generation_id, "output": str(path), "bytes": path.stat().st_size}, json_out,
         f"saved {path} ({path.stat().st_size} bytes)")


def usage(
    period: Annotated[str, typer.Option(help="24h, 7d or 30d")] = "7d",
    timezone: Annotated[str, typer.Option(help="IANA timezone for days")] = "UTC",
    api_key: ApiKeyOpt = None,
    url: UrlOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Your usage and remaining limits, from the API."""
    with api_errors(json_out), make_client(api_key, url) as client:
        body = client.usage(period, timezone)
    u = body["usage"]
    emit(body, json_out, f"{body['period']}: {u['total_generations']} generations, "
                         f"{u['total_rows_generated']} rows, {u['total_compute_hours']} compute hours")
