"""`inferloop-tabular jobs ...`: list, status, watch (live progress bar), cancel, logs of a job (via the client)."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer

from inferloop.cli.common import ApiKeyOpt, JsonOpt, UrlOpt, api_errors, emit, make_client, table, watch
from inferloop.cli.data import TimeoutOpt

jobs_app = typer.Typer(help="Jobs: list, status, watch, cancel, logs", no_args_is_help=True)


def _summary(info: dict[str, Any]) -> str:
    line = f"{info['job_id']}: {info['status']} {info.get('progress', 0)}%"
    if info.get("error"):
        line += f"  {info['error'].get('code')}: {info['error'].get('message')}"
    if info.get("result"):
        r = info["result"]
        line += f"  rows {r.get('rows', r.get('generated_rows'))}, quality {r.get('quality_score')}"
    elif info.get("estimated_completion"):
        line += f"  (estimated completion {info['estimated_completion']})"
    return line


def _log_line(entry: dict[str, Any]) -> str:
    return f"{entry.get('timestamp', '')} {entry.get('level', ''):<7} {entry.get('message', '')}"


@jobs_app.command("list")
def list_jobs(
    status: Annotated[str | None, typer.Option(help="pending, running, completed, failed or cancelled")] = None,
    kind: Annotated[str | None, typer.Option(help="generate, train, sample, batch, multitable, profile, ...")]
    = None,
    page: Annotated[int, typer.Option(help="page number, from 1")] = 1,
    per_page: Annotated[int, typer.Option(help="jobs per page (at most 100)")] = 20,
    api_key: ApiKeyOpt = None,
    url: UrlOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Your jobs, newest first."""
    with api_errors(json_out), make_client(api_key, url) as client:
        answer = client.jobs(status=status, kind=kind, page=page, per_page=per_page)
    p = answer["pagination"]
    emit(answer, json_out, lambda: table(
        f"jobs (page {p['page']} of {max(p['pages'], 1)}, {p['total']} in all)",
        ["job_id", "kind", "status", "algorithm", "created_at", "finished_at"],
        [[j["job_id"], j["kind"], j["status"], j["algorithm"] or "", j["created_at"], j["finished_at"] or ""]
         for j in answer["jobs"]]))


@jobs_app.command("status")
def status(job_id: str, api_key: ApiKeyOpt = None, url: UrlOpt = None, json_out: JsonOpt = False) -> None:
    """A job's status, progress and result or error (exit 7 when it failed or was cancelled)."""
    with api_errors(json_out), make_client(api_key, url) as client:
        info = client.job(job_id).refresh(log_limit=1)
    emit(info, json_out, _summary(info))
    if info["status"] in ("failed", "cancelled"):
        raise typer.Exit(7)


@jobs_app.command("watch")
def watch_job(
    job_id: str,
    timeout: TimeoutOpt = None,
    interval: Annotated[float, typer.Option(help="seconds between polls")] = 1.0,
    api_key: ApiKeyOpt = None,
    url: UrlOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Follow a job with a live progress bar until it ends (exit 7 if it fails or is cancelled)."""
    with api_errors(json_out), make_client(api_key, url) as client:
        job = client.job(job_id)
        info = watch(job, json_out, timeout, poll_interval=interval)
    emit(info, json_out, _summary(info))


@jobs_app.command("cancel")
def cancel(job_id: str, api_key: ApiKeyOpt = None, url: UrlOpt = None, json_out: JsonOpt = False) -> None:
    """Cancel a pending or running job (exit 1 with CONFLICT when it has already ended)."""
    with api_errors(json_out), make_client(api_key, url) as client:
        answer = client.job(job_id).cancel()
    emit(answer, json_out, f"{job_id}: {answer['status']}")


@jobs_app.command("logs")
def logs(
    job_id: str,
    limit: Annotated[int, typer.Option(help="the last this many lines")] = 100,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="keep printing new lines until the job ends")]
    = False,
    interval: Annotated[float, typer.Option(help="seconds between polls with --follow")] = 1.0,
    api_key: ApiKeyOpt = None,
    url: UrlOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """The job's log lines (Prefect's logs of its flow run)."""
    with api_errors(json_out), make_client(api_key, url) as client:
        job = client.job(job_id)
        lines = job.logs(limit)
        if not follow:
            emit(lines, json_out, lambda: [typer.echo(_log_line(e)) for e in lines])
            return
        seen: set[tuple] = set()
        while True:
            for entry in lines:
                key = (entry.get("timestamp"), entry.get("message"))
                if key not in seen:
                    seen.add(key)
                    typer.echo(json.dumps(entry) if json_out else _log_line(entry))
            if job.info.get("status") in ("completed", "failed", "cancelled"):
                break
            time.sleep(interval)
            lines = job.logs(limit)
    if job.info.get("status") in ("failed", "cancelled"):
        raise typer.Exit(7)

