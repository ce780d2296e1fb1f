"""Read-only SQL, checked with sqlglot before anything runs: one SELECT, no writes, no server-side file or
session functions, every table and column known to the connector's real schema.

A query refused here is a 400 VALIDATION_ERROR naming what was wrong; nothing reaches the database.
"""

from __future__ import annotations

import re
from typing import Any

import sqlglot
import sqlglot.expressions as exp
from sqlglot.errors import OptimizeError, ParseError, SqlglotError
from sqlglot.optimizer.qualify import qualify

from inferloop.core.errors import InferloopError

WRITES = (exp.Insert, exp.Update, exp.Delete, exp.Drop, exp.Create, exp.Alter, exp.Merge, exp.Command,
          exp.Into, exp.Lock, exp.TruncateTable, exp.Set, exp.Use, exp.Copy, exp.Grant, exp.Transaction,
          exp.Commit, exp.Rollback)
# functions that read server files, sleep, change settings or reach other servers
BLOCKED_FUNCTIONS = re.compile(r"^(pg_read|pg_ls_|pg_stat_file|lo_|dblink|pg_sleep|sleep$|benchmark$|load_file$|"
                               r"pg_terminate|pg_cancel|set_config$|pg_reload|pg_rotate|query_to_xml|"
                               r"pg_file|pg_logdir|copy|sys_exec|sys_eval|pg_promote|txid_|pg_advisory)", re.I)


def invalid(message: str, field: str = "sql") -> InferloopError:
    return InferloopError("INVALID_REQUEST", message, field)


def parse_select(sql: str, dialect: str, field: str = "sql") -> exp.Expression:
    """The one read-only SELECT in `sql`, or 400 saying why not."""
    if not isinstance(sql, str) or not sql.strip():
        raise invalid(f"{field} must be a non-empty SELECT statement", field)
    if len(sql) > 100_000:
        raise invalid(f"{field} is longer than 100000 characters", field)
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except ParseError as exc:
        raise invalid(f"{field} does not parse as {dialect} SQL: {_short(exc)}", field)
    except SqlglotError as exc:
        raise invalid(f"{field} does not parse: {_short(exc)}", field)
    if len(statements) != 1:
        raise invalid(f"{field} must be exactly one statement; got {len(statements)}", field)
    tree = statements[0]
    for node in tree.walk():
        if isinstance(node, WRITES):
            kind = type(node).__name__.upper()
            raise invalid(f"{field} must only read: {kind} is not allowed (one SELECT statement only)", field)
    if not isinstance(tree, exp.Query):
        raise invalid(f"{field} must be a SELECT statement, got {type(tree).__name__.upper()}", field)
    for fn in tree.find_all(exp.Func):
        name = fn.sql_name() if not isinstance(fn, exp.Anonymous) else str(fn.this)
        if BLOCKED_FUNCTIONS.match(name or ""):
            raise invalid(f"{field} calls {name}(), which is not allowed in a read-only query", field)
    return tree


def _short(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:300]


def tables_of(tree: exp.Expression) -> list[exp.Table]:
    ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
    return [t for t in tree.find_all(exp.Table) if t.name and t.name not in ctes]


def check_against(tree: exp.Expression, schema: dict[str, dict[str, str]], dialect: str, where: str,
                  field: str = "sql") -> None:
    """Every table exists in `schema` and every column resolves (sqlglot qualify)."""
    unknown = sorted({t.name for t in tables_of(tree) if t.name not in schema})
    if unknown:
        known = ", ".join(sorted(schema)[:50]) or "(none)"
        raise invalid(f"unknown table(s) {', '.join(unknown)} in {where}; tables there: {known}", field)
    try:
        qualify(tree.copy(), schema=schema, dialect=dialect, validate_qualify_columns=True)
    except (OptimizeError, SqlglotError) as exc:
        raise invalid(f"{field} does not match the schema of {where}: {_short(exc)}", field)


def bind(tree: exp.Expression, params: dict[str, Any] | None, field: str = "params") -> exp.Expression:
    """Replace `:name` placeholders by literals from params (values are quoted by sqlglot, never pasted)."""
    params = params or {}
    missing: list[str] = []

    def replace(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Placeholder) and node.this:
            name = str(node.this)
            if name not in params:
                missing.append(name)
                return node
            return literal(params[name])
        return node

    out = tree.transform(replace)
    if missing:
        raise invalid(f"no value for parameter(s) {', '.join(':' + m for m in sorted(set(missing)))}; pass them "
                      "in params", field)
    return out


def literal(value: Any) -> exp.Expression:
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, (int, float)):
        return exp.Literal.number(value)
    if isinstance(value, str):
        return exp.Literal.string(value)
    raise invalid(f"parameter values must be strings, numbers, booleans or null; got {type(value).__name__}",
                  "params")


def checked_select(sql: str, dialect: str, schema: dict[str, dict[str, str]] | None, where: str,
                   params: dict[str, Any] | None = None, field: str = "sql") -> str:
    """The SQL to run: parsed, refused if it writes, bound, checked against the schema when given."""
    tree = parse_select(sql, dialect, field)
    if params is not None:
        tree = bind(tree, params)
    if schema is not None:
        check_against(tree, schema, dialect, where, field)
    return tree.sql(dialect=dialect)


def placeholders(sql: str, dialect: str) -> list[str]:
    return sorted({str(p.this) for p in parse_select(sql, dialect).find_all(exp.Placeholder) if p.this})
