"""`inferloop-tabular context ...`: the context API from the command line (through `ContextClient`).

    context analyze "Online store with customers and orders"          # or --file context.txt, or - for stdin
    context sample  "..." --size 5 [--schema orders] [--seed 1] [--out folder]
    context feedback JOB --remove customers.phone --require customers.email --retype orders.status=STRING \
        --range order_items.quantity=1:3 --add customers.vip=BOOLEAN [--approve] [--start-corpus --size 100000]
    context corpus  "..." --size 100000 [--batch-size 10000] [--export sql --sql-dialect mysql] [--wait]
    context status|watch|cancel|delete JOB ;  context jobs ;  context export JOB --format xlsx
    context download JOB SCHEMA --format csv -o orders.csv

Exit codes are those of `inferloop.cli.common` (1 refused, 3 auth, 4 not found, 5 rate limited, 6 server,
7 job failed or cancelled).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from inferloop.cli.common import ApiKeyOpt, JsonOpt, UrlOpt, api_errors, emit, table
from inferloop.cli.data import TimeoutOpt

context_app = typer.Typer(help="Context-driven dataset generation (context-api.md): analyze, sample, feedback, "
                               "corpus, export", no_args_is_help=True)

FileOpt = Annotated[Path | None, typer.Option("--file", "-f", help="read the context from this file")]


def client(api_key: str | None, url: str | None):
    from inferloop_client.context import ContextClient

    return ContextClient(api_key=api_key, base_url=url)


def context_text(text: str | None, file: Path | None) -> str:
    if file is not None:
        return file.read_text(encoding="utf-8")
    if text == "-":
        return sys.stdin.read()
    if not text:
        raise typer.BadParameter("give the context as an argument, with --file, or - for stdin")
    return text


def _schemas_table(answer: dict[str, Any]) -> None:
    for s in answer.get("schemas", []):
        table(s["name"], ["field", "type", "required", "rule / parameters"],
              [[f["name"], f["type"], "yes" if f["required"] else "no",
                ", ".join(f"{k}={json.dumps(v)}" for k, v in f.items() if k not in ("name", "type", "required"))[:90]]
               for f in s["fields"]])


@context_app.command("analyze")
def analyze(text: Annotated[str | None, typer.Argument(help="the business context")] = None, file: FileOpt = None,
            domain_hint: Annotated[str | None, typer.Option(help="retail, banking, healthcare, hr, ...")] = None,
            api_key: ApiKeyOpt = None, url: UrlOpt = None, json_out: JsonOpt = False) -> None:
    """Domain, requirements, proposed schemas, relationships and rules of a context."""
    with api_errors(json_out), client(api_key, url) as c:
        a = c.analyze(context_text(text, file), domain_hint)

    def human() -> None:
        typer.echo(f"domain: {a['domain']} (confidence {a['confidence']}, analyzer {a['analyzer']})")
        table("requirements", ["name", "estimated_volume", "description"],
              [[r["name"], r["estimated_volume"], r["description"]] for r in a["requirements"]])
        _schemas_table(a)
        for r in a["relationships"]:
            typer.echo(f"relationship: {r['child']}.{r['child_key']} -> {r['parent']}.{r['parent_key']} ({r['role']})")
        for c_ in a["constraints"]:
            typer.echo(f"rule: {c_['description']} [{c_['source']}]")
        for n in a["notes"]:
            typer.echo(f"note: {n}")
    emit(a, json_out, human)


def _write_samples(answer: dict[str, Any], out: Path | None) -> None:
    if out is None:
        return
    import pandas as pd

    out.mkdir(parents=True, exist_ok=True)
    for name, rows in answer["samples"].items():
        pd.DataFrame(rows).to_csv(out / f"{name}.csv", index=False)


def _sample_human(answer: dict[str, Any]) -> None:
    typer.echo(f"job {answer['job_id']}: {answer['status']} in {answer['generation_time_ms']} ms"
               + (f" — {answer['message']}" if answer.get("message") else ""))
    for line in answer.get("summary") or []:
        typer.echo(f"change: {line}")
    for name, rows in answer.get("samples", {}).items():
        cols = list(rows[0]) if rows else []
        table(name, cols, [[r.get(c) for c in cols] for r in rows[:10]])


@context_app.command("sample")
def sample(text: Annotated[str | None, typer.Argument(help="the business context")] = None, file: FileOpt = None,
           size: Annotated[int, typer.Option("--size", help="rows per schema")] = 5,
           schema: Annotated[list[str] | None, typer.Option("--schema", help="only this schema (repeatable)")] = None,
           seed: Annotated[int | None, typer.Option(help="same seed, same rows")] = None,
           domain_hint: Annotated[str | None, typer.Option()] = None,
           out: Annotated[Path | None, typer.Option("--out", "-o", help="also write <schema>.csv files here")] = None,
           api_key: ApiKeyOpt = None, url: UrlOpt = None, json_out: JsonOpt = False) -> None:
    """Generate a sample (waits for it); prints the job id that feedback and export take."""
    with api_errors(json_out), client(api_key, url) as c:
        answer = c.sample(context_text(text, file), size, schema or None, seed, domain_hint)
    _write_samples(answer, out)
    emit(answer, json_out, lambda: _sample_human(answer))


def _split(spec: str, what: str) -> tuple[str, str, str | None]:
    target, _, value = spec.partition("=")
    schema, dot, field = target.partition(".")
    if not dot or not schema or not field:
        raise typer.BadParameter(f"expected schema.field{'=value' if what != 'field' else ''}, got '{spec}'")
    return schema, field, value or None


def build_feedback(remove: list[str], require: list[str], optional: list[str], retype: list[str],
                   ranges: list[str], add: list[str], reject: list[str]) -> list[dict[str, Any]]:
    """schema_feedback from the command's options."""
    items: dict[str, dict[str, Any]] = {}

    def item(schema: str) -> dict[str, Any]:
        return items.setdefault(schema, {"schema_name": schema, "feedback_type": "modify", "field_adjustments": {},
                                         "add_fields": [], "remove_fields": []})

    for spec in remove:
        s, f, _ = _split(spec, "field")
        item(s)["remove_fields"].append(f)
    for spec, required in [(x, True) for x in require] + [(x, False) for x in optional]:
        s, f, _ = _split(spec, "field")
        item(s)["field_adjustments"].setdefault(f, {})["required"] = required
    for spec in retype:
        s, f, t = _split(spec, "type")
        if not t:
            raise typer.BadParameter(f"--retype needs schema.field=TYPE, got '{spec}'")
        item(s)["field_adjustments"].setdefault(f, {})["type"] = t
    for spec in ranges:
        s, f, v = _split(spec, "range")
        lo, sep, hi = (v or "").partition(":")
        if not sep:
            raise typer.BadParameter(f"--range needs schema.field=MIN:MAX, got '{spec}'")
        adj = item(s)["field_adjustments"].setdefault(f, {})
        for key, raw in (("min", lo), ("max", hi)):
            if raw:
                try:
                    adj[key] = json.loads(raw)
                except ValueError:
                    adj[key] = raw
    for spec in add:
        s, f, t = _split(spec, "type")
        item(s)["add_fields"].append({"name": f, **({"type": t} if t else {})})
    out = list(items.values())
    out += [{"schema_name": s, "feedback_type": "reject"} for s in reject]
    return out


Many = Annotated[list[str] | None, typer.Option(help="repeatable")]


@context_app.command("feedback")
def feedback(job_id: str,
             approve: Annotated[bool, typer.Option("--approve", help="approve the sample")] = False,
             remove: Annotated[list[str] | None, typer.Option("--remove", help="schema.field to remove")] = None,
             require: Annotated[list[str] | None, typer.Option("--require", help="schema.field to require")] = None,
             optional: Annotated[list[str] | None, typer.Option("--optional", help="schema.field may be empty")] = None,
             retype: Annotated[list[str] | None, typer.Option("--retype", help="schema.field=TYPE")] = None,
             range_: Annotated[list[str] | None, typer.Option("--range", help="schema.field=MIN:MAX")] = None,
             add: Annotated[list[str] | None, typer.Option("--add", help="schema.field[=TYPE] to add")] = None,
             reject: Annotated[list[str] | None, typer.Option("--reject", help="schema to drop")] = None,
             feedback_file: Annotated[Path | None, typer.Option("--feedback-file", help="schema_feedback as JSON")]
             = None,
             start_corpus: Annotated[bool, typer.Option("--start-corpus", help="then generate the corpus")] = False,
             size: Annotated[int | None, typer.Option("--size", help="corpus size (with --start-corpus)")] = None,
             api_key: ApiKeyOpt = None, url: UrlOpt = None, json_out: JsonOpt = False) -> None:
    """Change a sample's schemas; prints what changed and the new sample (or starts the corpus)."""
    items = json.loads(feedback_file.read_text()) if feedback_file else []
    items += build_feedback(remove or [], require or [], optional or [], retype or [], range_ or [], add or [],
                            reject or [])
    with api_errors(json_out), client(api_key, url) as c:
        answer = c.feedback(job_id, approved=approve or start_corpus, schema_feedback=items,
                            start_corpus=start_corpus, corpus_size=size)

    def human() -> None:
        if "samples" in answer:
            _sample_human(answer)
        else:
            typer.echo(f"job {answer['job_id']}: {answer['status']} — {answer['message']}")
            for line in answer.get("summary") or []:
                typer.echo(f"change: {line}")
    emit(answer, json_out, human)


@context_app.command("corpus")
def corpus(text: Annotated[str | None, typer.Argument(help="the business context")] = None, file: FileOpt = None,
           size: Annotated[int, typer.Option("--size", help="records over all schemas")] = 1000,
           batch_size: Annotated[int | None, typer.Option(help="records per batch")] = None,
           schema: Annotated[list[str] | None, typer.Option("--schema")] = None,
           export: Annotated[str | None, typer.Option("--export", help="csv, json, xlsx or sql when done")] = None,
           sql_dialect: Annotated[str | None, typer.Option(help="postgresql, mysql or sqlite")] = None,
           seed: Annotated[int | None, typer.Option()] = None,
           domain_hint: Annotated[str | None, typer.Option()] = None,
           wait: Annotated[bool, typer.Option("--wait", help="wait for it, with a progress bar")] = False,
           timeout: TimeoutOpt = None,
           api_key: ApiKeyOpt = None, url: UrlOpt = None, json_out: JsonOpt = False) -> None:
    """Start a corpus (asynchronous); --wait follows it to the end (exit 7 if it fails or is cancelled)."""
    with api_errors(json_out), client(api_key, url) as c:
        job = c.corpus(context_text(text, file), size, batch_size, schema or None, export,
                       {"sql_dialect": sql_dialect} if sql_dialect else None, seed, domain_hint)
        if wait:
            job.wait(timeout=timeout, progress=not json_out and sys.stderr.isatty())
    info = job.info
    emit(info, json_out, lambda: typer.echo(f"job {job.id}: {info.get('status')} "
                                            f"{(info.get('progress') or {}).get('percent_complete', '')}"
                                            f"{' — ' + info['message'] if info.get('message') else ''}"))


@context_app.command("status")
def status(job_id: str, api_key: ApiKeyOpt = None, url: UrlOpt = None, json_out: JsonOpt = False) -> None:
    """A job's status, stage and progress (exit 7 when it failed or was cancelled)."""
    with api_errors(json_out), client(api_key, url) as c:
        info = c.job(job_id).refresh()
    p = info.get("progress") or {}
    emit(info, json_out, f"{job_id}: {info['status']} ({info['stage']}) {p.get('percent_complete', 0)}% — "
                         f"{p.get('generated_records', 0)} of {p.get('total_records', 0)} records, "
                         f"{p.get('completed_schemas', 0)} of {p.get('total_schemas', 0)} schemas")
    if info["status"] == "failed":
        raise typer.Exit(7)


@context_app.command("watch")
def watch(job_id: str, timeout: TimeoutOpt = None, api_key: ApiKeyOpt = None, url: UrlOpt = None,
          json_out: JsonOpt = False) -> None:
    """Follow a job until it ends (exit 7 if it fails or is cancelled)."""
    with api_errors(json_out), client(api_key, url) as c:
        info = c.job(job_id).wait(timeout=timeout, progress=not json_out and sys.stderr.isatty())
    emit(info, json_out, f"{job_id}: {info['status']} ({info['stage']})")


@context_app.command("jobs")
def jobs(status_: Annotated[str | None, typer.Option("--status")] = None, limit: int = 20, skip: int = 0,
         api_key: ApiKeyOpt = None, url: UrlOpt = None, json_out: JsonOpt = False) -> None:
    """Your /api/v1 jobs, newest first."""
    with api_errors(json_out), client(api_key, url) as c:
        answer = c.jobs(status=status_, skip=skip, limit=limit)
    emit(answer, json_out, lambda: table(f"jobs ({answer['total']} in all)", ["job_id", "kind", "status", "stage",
                                                                             "created_at"],
                                         [[j["job_id"], j["kind"], j["status"], j["stage"], j["created_at"]]
                                          for j in answer["jobs"]]))


@context_app.command("cancel")
def cancel(job_id: str, api_key: ApiKeyOpt = None, url: UrlOpt = None, json_out: JsonOpt = False) -> None:
    """Cancel a running job."""
    with api_errors(json_out), client(api_key, url) as c:
        answer = c.cancel(job_id)
    emit(answer, json_out, f"{job_id}: {answer['message']}")


@context_app.command("delete")
def delete(job_id: str, api_key: ApiKeyOpt = None, url: UrlOpt = None, json_out: JsonOpt = False) -> None:
    """Delete a job and its data (a running job is stopped first)."""
    with api_errors(json_out), client(api_key, url) as c:
        answer = c.delete(job_id)
    emit(answer, json_out, f"{job_id}: {answer['message']}")


@context_app.command("export")
def export(job_id: str, format: Annotated[str, typer.Option("--format", help="csv, json, xlsx or sql")] = "csv",
           sql_dialect: Annotated[str | None, typer.Option(help="postgresql, mysql or sqlite")] = None,
           schema: Annotated[list[str] | None, typer.Option("--schema")] = None,
           api_key: ApiKeyOpt = None, url: UrlOpt = None, json_out: JsonOpt = False) -> None:
    """Export a completed job; prints the download path of each schema."""
    with api_errors(json_out), client(api_key, url) as c:
        answer = c.export(job_id, format, schema, sql_dialect)
    emit(answer, json_out, lambda: table(f"{format} export of {job_id}", ["schema", "rows", "bytes", "download"],
                                         [[n, answer["files"][n]["rows"], answer["files"][n]["bytes"], p]
                                          for n, p in answer["export_paths"].items()]))


@context_app.command("download")
def download(job_id: str, schema: str,
             format: Annotated[str, typer.Option("--format", help="csv, json, xlsx or sql")] = "csv",
             sql_dialect: Annotated[str | None, typer.Option(help="for sql")] = None,
             output: Annotated[Path | None, typer.Option("--output", "-o", help="file to write")] = None,
             api_key: ApiKeyOpt = None, url: UrlOpt = None, json_out: JsonOpt = False) -> None:
    """Save a schema's exported file (exported first if needed)."""
    target = output or Path(f"{schema}.{format}")
    with api_errors(json_out), client(api_key, url) as c:
        path = c.download(job_id, schema, format, target, sql_dialect)
    emit({"path": str(path), "bytes": path.stat().st_size}, json_out, f"wrote {path} ({path.stat().st_size} bytes)")
