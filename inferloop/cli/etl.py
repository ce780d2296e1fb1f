"""`inferloop-tabular etl ...`: the ETL API from the command line (via `inferloop_client.EtlClient`).

    etl login EMAIL              a token (save it with `config set api.key <token>`)
    etl set-login ...            server side: give an account an email + password (works on the metadata store)
    etl connectors list|add|describe|test|schema|delete
    etl pipelines generate|create|list|show|deploy|run|status|pause|resume|delete
    etl query QUESTION           natural language -> SQL (checked against the source's schema)
    etl profile / preview        a table of a connector

Exit codes as for every command (inferloop.cli.common): 1 refused (400 ...), 3 authentication, 4 not found,
5 rate limited, 6 server error, 7 the run failed.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from inferloop.cli.common import ApiKeyOpt, JsonOpt, UrlOpt, api_errors, emit, parse_pairs, table

etl_app = typer.Typer(help="ETL pipelines, connectors, data profile/preview, NL queries", no_args_is_help=True)
connectors_app = typer.Typer(help="Connectors: list, add, describe, test, schema, delete", no_args_is_help=True)
pipelines_app = typer.Typer(help="Pipelines: generate, create, list, show, deploy, run, status, pause, resume, "
                                 "delete", no_args_is_help=True)
etl_app.add_typer(connectors_app, name="connectors")
etl_app.add_typer(pipelines_app, name="pipelines")

PairsOpt = Annotated[list[str] | None, typer.Option("--set", "-s", help="key=value (repeatable)")]


def client(api_key: str | None, url: str | None):
    from inferloop_client import EtlClient

    return EtlClient(api_key=api_key, base_url=url)


@etl_app.command("login")
def login(email: str, password: Annotated[str, typer.Option(prompt=True, hide_input=True)],
          url: UrlOpt = None, json_out: JsonOpt = False) -> None:
    """Exchange email and password for tokens; prints the access token."""
    from inferloop_client import EtlClient

    with api_errors(json_out):
        c = EtlClient.login(email, password, base_url=url)
    emit({"access_token": c.api_key, "refresh_token": c.refresh_token}, json_out, c.api_key)


@etl_app.command("set-login")
def set_login(email: str, password: Annotated[str, typer.Option(prompt=True, hide_input=True)],
              account: Annotated[str | None, typer.Option(help="account name or id (default: a new account)")] = None,
              tier: Annotated[str, typer.Option(help="tier of a new account")] = "starter",
              json_out: JsonOpt = False) -> None:
    """(Server side) give an account an email + password login, creating the account when needed."""
    from inferloop.core import auth, db, logins
    from inferloop.core.errors import InferloopError
    from inferloop.core.settings import get_settings

    db.migrate(get_settings().database)
    try:
        with db.session_scope() as s:
            acct = None
            if account:
                acct = s.get(db.Account, account) or auth.account_by_name(s, account)
            acct = acct or auth.create_account(s, account or logins.normalize_email(email), tier)
            row = logins.set_login(s, acct.id, email, password)
            view = {"account_id": acct.id, "name": acct.name, "tier": acct.tier, "email": row.email}
    except InferloopError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2)
    emit(view, json_out, f"{view['email']} can log in to account '{view['name']}' ({view['tier']})")


# --- connectors ---------------------------------------------------------------------------------------------

@connectors_app.command("list")
def connectors_list(api_key: ApiKeyOpt = None, url: UrlOpt = None, json_out: JsonOpt = False) -> None:
    """Your connectors (credentials are never shown)."""
    with api_errors(json_out), client(api_key, url) as c:
        rows = c.connectors.list()
    emit(rows, json_out, lambda: table(None, ["connector_id", "name", "type", "role", "test", "created"],
                                       [[r["connector_id"], r["name"], r["type"], r["role"], r["test_status"],
                                         r["created_at"]] for r in rows]) if rows else typer.echo("no connectors"))


@connectors_app.command("add")
def connectors_add(ctype: Annotated[str, typer.Argument(metavar="TYPE", help="postgresql, mysql, mariadb, sqlite, "
                                                                            "csv, parquet")],
                   conf: PairsOpt = None,
                   password: Annotated[str | None, typer.Option(help="stored encrypted, never shown")] = None,
                   name: Annotated[str, typer.Option()] = "",
                   role: Annotated[str, typer.Option(help="source, target or both")] = "both",
                   describe: Annotated[str | None, typer.Option("--describe", help="configure from a sentence "
                                                                                 "instead (TYPE: source/target)")]
                   = None,
                   api_key: ApiKeyOpt = None, url: UrlOpt = None, json_out: JsonOpt = False) -> None:
    """Configure a connector (the server tests it before storing it): --set host=... --set database=..."""
    creds = {"password": password} if password else {}
    with api_errors(json_out), client(api_key, url) as c:
        if describe:
            out = c.connectors.configure_ai(describe, ctype, parse_pairs(conf, "--set"), creds)
        else:
            out = c.connectors.create(ctype, parse_pairs(conf, "--set"), creds, name=name, role=role)
    emit(out, json_out, f"{out['connector_id']}  {out['type']}  tested: success")


@connectors_app.command("describe")
def connectors_describe(connector_id: str, api_key: ApiKeyOpt = None, url: UrlOpt = None,
                        json_out: JsonOpt = False) -> None:
    """One connector."""
    with api_errors(json_out), client(api_key, url) as c:
        out = c.connectors.get(connector_id)
    emit(out, True, "")


@connectors_app.command("test")
def connectors_test(connector_id: str, api_key: ApiKeyOpt = None, url: UrlOpt = None,
                    json_out: JsonOpt = False) -> None:
    """Connect and run a trivial query (exit 1 with the reason when it fails)."""
    with api_errors(json_out), client(api_key, url) as c:
        out = c.connectors.test(connector_id)
    emit(out, json_out, f"success: {out['server_version']}, {out['tables']} table(s), {out['latency_ms']} ms")


@connectors_app.command("schema")
def connectors_schema(connector_id: str, api_key: ApiKeyOpt = None, url: UrlOpt = None,
                      json_out: JsonOpt = False) -> None:
    """Tables and columns the connector sees."""
    with api_errors(json_out), client(api_key, url) as c:
        out = c.connectors.schema(connector_id)
    emit(out, json_out, "\n".join(f"{t['name']}: " + ", ".join(f"{x['name']} {x['type']}" for x in t["columns"])
                                  for t in out["tables"]))


@connectors_app.command("delete")
def connectors_delete(connector_id: str, api_key: ApiKeyOpt = None, url: UrlOpt = None,
                      json_out: JsonOpt = False) -> None:
    """Delete a connector no pipeline uses."""
    with api_errors(json_out), client(api_key, url) as c:
        out = c.connectors.delete(connector_id)
    emit(out, json_out, f"deleted {connector_id}")


# --- pipelines ----------------------------------------------------------------------------------------------

def _line(p: dict[str, Any]) -> str:
    sched = p.get("schedule") or {}
    when = f"cron '{sched.get('cron')}' ({'active' if sched.get('active') else 'inactive'})" if sched else "no schedule"
    return f"{p['pipeline_id']}  {p['name']}  {p['status']}  -> {p.get('target_table')}  {when}"


@pipelines_app.command("generate")
def pipelines_generate(description: str, optimize: Annotated[bool, typer.Option()] = False,
                       api_key: ApiKeyOpt = None, url: UrlOpt = None, json_out: JsonOpt = False) -> None:
    """A pipeline from a sentence, e.g. "load orders from postgres to mariadb every night at 2"."""
    with api_errors(json_out), client(api_key, url) as c:
        p = c.pipelines.generate(description, optimize=optimize)
    gen = p.info["generated"]
    emit(gen, json_out, lambda: typer.echo(f"{_line(gen['pipeline'])}\n\n{gen['pipeline']['sql'] or ''}\n\n"
                                           f"{gen['explanation']}"))


@pipelines_app.command("create")
def pipelines_create(name: str, source: Annotated[str, typer.Option()], target: Annotated[str, typer.Option()],
                     target_table: Annotated[str, typer.Option()],
                     sql: Annotated[str | None, typer.Option(help="one SELECT on the source")] = None,
                     table_name: Annotated[str | None, typer.Option("--table", help="a source table")] = None,
                     load_mode: Annotated[str, typer.Option(help="replace or append")] = "replace",
                     schedule: Annotated[str | None, typer.Option(help="cron (UTC), active once deployed")] = None,
                     api_key: ApiKeyOpt = None, url: UrlOpt = None, json_out: JsonOpt = False) -> None:
    """Configure a pipeline explicitly."""
    with api_errors(json_out), client(api_key, url) as c:
        p = c.pipelines.create(name, source, target, target_table, sql=sql, table=table_name, load_mode=load_mode,
                               schedule=schedule)
    emit(p.info, json_out, _line(p.info))


@pipelines_app.command("list")
def pipelines_list(page: int = 1, per_page: int = 20, api_key: ApiKeyOpt = None, url: UrlOpt = None,
                   json_out: JsonOpt = False) -> None:
    """Your pipelines, newest first."""
    with api_errors(json_out), client(api_key, url) as c:
        rows = c.pipelines.list(page, per_page)
    emit(rows, json_out, "\n".join(_line(p) for p in rows) or "no pipelines")


@pipelines_app.command("show")
def pipelines_show(pipeline_id: str, api_key: ApiKeyOpt = None, url: UrlOpt = None, json_out: JsonOpt = False
                   ) -> None:
    """One pipeline: definition, schedule, deployment."""
    with api_errors(json_out), client(api_key, url) as c:
        info = c.pipelines.get(pipeline_id).info
    emit(info, json_out, f"{_line(info)}\n\n{info.get('sql') or 'table ' + str(info.get('table'))}")


@pipelines_app.command("deploy")
def pipelines_deploy(pipeline_id: str, schedule: Annotated[str | None, typer.Option(help="cron (UTC)")] = None,
                     environment: str = "production", api_key: ApiKeyOpt = None, url: UrlOpt = None,
                     json_out: JsonOpt = False) -> None:
    """Deploy: the cron becomes an active Prefect schedule."""
    with api_errors(json_out), client(api_key, url) as c:
        info = c.pipelines.get(pipeline_id).deploy(schedule=schedule, environment=environment)
    emit(info, json_out, f"{_line(info)}\nnext runs: {', '.join((info.get('schedule') or {}).get('next_runs', []))}")


@pipelines_app.command("run")
def pipelines_run(pipeline_id: str, param: PairsOpt = None,
                  wait: Annotated[bool, typer.Option(help="wait for the run to end")] = True,
                  timeout: Annotated[float | None, typer.Option(help="seconds to wait")] = None,
                  api_key: ApiKeyOpt = None, url: UrlOpt = None, json_out: JsonOpt = False) -> None:
    """Run now (exit 7 when the run fails)."""
    with api_errors(json_out), client(api_key, url) as c:
        run = c.pipelines.get(pipeline_id).run(params=parse_pairs(param, "--set"))
        info = run.wait(timeout=timeout) if wait else run.info
    rows = info.get("rows") or {}
    emit(info, json_out, f"{info['run_id']}: {info['status']}" + (f", {rows.get('loaded')} rows loaded" if rows else ""))


@pipelines_app.command("status")
def pipelines_status(pipeline_id: str, run_id: Annotated[str | None, typer.Option()] = None,
                     api_key: ApiKeyOpt = None, url: UrlOpt = None, json_out: JsonOpt = False) -> None:
    """The latest (or --run-id) run: status, current task, progress, rows."""
    with api_errors(json_out), client(api_key, url) as c:
        info = c.request("GET", f"/pipelines/{pipeline_id}/status", params={"run_id": run_id})
    emit(info, json_out, f"{info.get('run_id')}: {info['status']} {info.get('progress')}% "
                         f"{info.get('current_task') or ''}")


def _simple(verb: str):
    def command(pipeline_id: str, api_key: ApiKeyOpt = None, url: UrlOpt = None, json_out: JsonOpt = False) -> None:
        with api_errors(json_out), client(api_key, url) as c:
            p = c.pipelines.get(pipeline_id)
            out = getattr(p, verb)()
        emit(out, json_out, _line(out) if "pipeline_id" in out and "name" in out else f"{verb}: {pipeline_id}")
    command.__doc__ = {"pause": "Pause the schedule.", "resume": "Resume the schedule.",
                       "delete": "Delete the pipeline (its deployment and schedule)."}[verb]
    return command


for _verb in ("pause", "resume", "delete"):
    pipelines_app.command(_verb)(_simple(_verb))


# --- data and NL -----------------------------------------------------------------------------------------------

@etl_app.command("query")
def query(question: str, source: Annotated[str | None, typer.Option(help="connector id")] = None,
          execute: Annotated[bool, typer.Option(help="also run it")] = False,
          api_key: ApiKeyOpt = None, url: UrlOpt = None, json_out: JsonOpt = False) -> None:
    """Natural language -> SQL, checked against the source's real schema."""
    with api_errors(json_out), client(api_key, url) as c:
        out = c.nl_query(question, source=source, execute=execute)
    emit(out, json_out, f"{out['sql']}\n\n{out['explanation']} (~{out['estimated_rows']} rows, "
                        f"{out['estimated_time_ms']} ms)")


@etl_app.command("profile")
def profile(source: str, table_name: str, sample_size: int = 1000, api_key: ApiKeyOpt = None, url: UrlOpt = None,
            json_out: JsonOpt = False) -> None:
    """Profile TABLE of connector SOURCE."""
    with api_errors(json_out), client(api_key, url) as c:
        out = c.data.profile(source, table_name, sample_size)
    emit(out, json_out, lambda: table(f"{table_name}: {out['row_count']} rows, {out['statistics']['size_mb']} MB",
                                      ["column", "type", "nullable", "unique", "nulls"],
                                      [[x["name"], x["type"], x["nullable"], x["unique"], x["null_count"]]
                                       for x in out["columns"]]))


@etl_app.command("preview")
def preview(source: str, table_name: str, limit: int = 20, api_key: ApiKeyOpt = None, url: UrlOpt = None,
            json_out: JsonOpt = False) -> None:
    """The first rows of TABLE of connector SOURCE."""
    with api_errors(json_out), client(api_key, url) as c:
        out = c.data.preview(source, table_name, limit)
    cols = [x["name"] for x in out["columns"]]
    emit(out, json_out, lambda: table(None, cols, [[r.get(k) for k in cols] for r in out["rows"]]))
