"""Natural language -> pipeline / query, offline and deterministic.

A small parser reads the documented phrasings word by word against the connectors' real schemas:

- source and target: ``from <connector>`` / ``to|into <connector>`` where a connector is its id (conn_...), its
  name, or its type (postgresql, mysql/mariadb, sqlite, csv, parquet, s3) when the caller has one of that type;
  ``into table <name>`` / ``as <name>`` names the target table;
- tables and columns by name (``order`` finds ``orders``; ``customer id`` finds ``customer_id``);
- joins: ``joined with <table> [on <column>]``, ``with their <table>``, and the join path a mentioned column
  needs, found through ``<table>_id`` -> ``<table>s.id`` key names;
- filters: ``where|with|whose <column> <op> <value> [and ...]`` with =, is, is not, >, greater than, above,
  over, after, <, less than, below, under, before, >=, at least, <=, at most, between .. and .., in (..),
  contains, starts with, is null, is not null; time windows ``in the last N days``, ``last month``,
  ``yesterday``, ``today``, ``this week|month|year``;
- aggregations: ``total|sum|average|avg|mean|min|max|count|number of <column>`` ``by|per|for each <column>``;
  ``top N <table> by <measure>``, ``order by <column> [desc]``, ``limit N``, ``first N rows``;
- schedule words: daily, nightly, hourly, weekly, monthly, every N minutes|hours, every day|night|morning|
  evening at H[am|pm|:MM], every monday [at H], every weekday, at midnight|noon, ``cron '<expr>'``;
- load mode: append, replace / overwrite / full refresh.

Every word must be understood (or be a filler word such as "the", "data", "me"); anything else is a 400 that
lists the words it did not understand. The SQL it writes is checked with sqlglot against the real schema.
"""

from __future__ import annotations

import importlib
import re
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

import sqlglot.expressions as exp

from inferloop.core.errors import InferloopError
from tasks.etl import connectors as conns

FILLER = {
    "a", "an", "the", "all", "any", "data", "rows", "row", "records", "record", "table", "tables", "of", "please",
    "me", "show", "list", "give", "get", "find", "return", "display", "select", "fetch", "pull", "load", "copy",
    "move", "sync", "synchronize", "replicate", "extract", "transfer", "export", "import", "ingest", "send",
    "push", "write", "put", "and", "then", "it", "them", "its", "their", "our", "my", "what", "which", "are",
    "is", "was", "were", "be", "for", "in", "on", "at", "database", "db", "entries", "entry", "information",
    "info", "details", "everything", "purchase", "purchases", "pipeline", "job",
    "also", "each", "every", "do", "we", "have", "with", "from", "to", "into", "by",
    "that", "this", "those", "these", "there", "here", "some", "so", "just", "only", "please", "i", "want",
    "need", "should", "would", "like", "can", "you", "set", "up", "create", "build", "make", "run", "runs",
    "server", "instance", "warehouse", "store", "stored", "sheet", "file", "files", "folder", "bucket",
}
UNSUPPORTED_SYSTEMS = {
    "clickhouse": "ClickHouse", "snowflake": "Snowflake", "bigquery": "BigQuery", "redshift": "Redshift",
    "mongodb": "MongoDB", "mongo": "MongoDB", "oracle": "Oracle", "mssql": "SQL Server", "sqlserver": "SQL Server",
    "kafka": "Kafka", "elasticsearch": "Elasticsearch", "dynamodb": "DynamoDB", "cassandra": "Cassandra",
    "databricks": "Databricks", "redis": "Redis", "excel": "Excel", "salesforce": "Salesforce",
    "duckdb": "DuckDB", "hive": "Hive", "teradata": "Teradata", "db2": "Db2",
}
TYPE_WORDS = {"postgresql": "postgresql", "postgres": "postgresql", "pg": "postgresql", "psql": "postgresql",
              "mysql": "mysql", "mariadb": "mysql", "maria": "mysql", "sqlite": "sqlite", "csv": "csv",
              "parquet": "parquet", "s3": "s3"}
WEEKDAYS = {"sunday": 0, "monday": 1, "tuesday": 2, "wednesday": 3, "thursday": 4, "friday": 5, "saturday": 6}
AGGS = {"total": "sum", "sum": "sum", "average": "avg", "avg": "avg", "mean": "avg", "minimum": "min",
        "min": "min", "lowest": "min", "smallest": "min", "maximum": "max", "max": "max", "highest": "max",
        "largest": "max", "biggest": "max", "count": "count", "number": "count"}
UNITS = {"minute": "MINUTE", "minutes": "MINUTE", "hour": "HOUR", "hours": "HOUR", "day": "DAY", "days": "DAY",
         "week": "WEEK", "weeks": "WEEK", "month": "MONTH", "months": "MONTH", "year": "YEAR", "years": "YEAR"}
TOKEN = re.compile(r"'[^']*'|\"[^\"]*\"|\d{4}-\d{2}-\d{2}(?:[ t]\d{2}:\d{2}(?::\d{2})?)?|\d{1,2}:\d{2}(?:am|pm)?"
                   r"|\d+(?:\.\d+)?(?:am|pm|st|nd|rd|th)?|conn_[0-9a-f]+|[a-z_][a-z0-9_\-]*|>=|<=|!=|<>|=|>|<|,|\(|\)",
                   re.I)


def invalid(message: str, field: str = "description") -> InferloopError:
    return InferloopError("INVALID_REQUEST", message, field)


def tokenize(text: str) -> list[str]:
    out = []
    for m in TOKEN.finditer(text):
        tok = m.group(0)
        out.append(tok if tok[0] in "'\"" else tok.lower())
    return out


def singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("ses") and len(word) > 4:
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


# --- connectors named in a description -------------------------------------------------------------------

@dataclass
class ConnectorInfo:
    id: str
    name: str
    type: str
    role: str
    is_s3: bool = False


def _connector_words(connectors: list[ConnectorInfo]) -> dict[tuple[str, ...], list[ConnectorInfo]]:
    words: dict[tuple[str, ...], list[ConnectorInfo]] = {}
    for c in connectors:
        words.setdefault((c.id.lower(),), []).append(c)
        name = tuple(tokenize(c.name))
        if name and not (len(name) == 1 and name[0] in FILLER):
            words.setdefault(name, []).append(c)
    return words


def resolve_connector(word: str, connectors: list[ConnectorInfo], role: str, field: str) -> ConnectorInfo:
    """The caller's connector meant by a type word (postgres, mariadb, s3, ...)."""
    t = TYPE_WORDS[word]
    found = [c for c in connectors if (c.is_s3 if t == "s3" else c.type == t)]
    if not found:
        label = {"postgresql": "PostgreSQL", "mysql": "MySQL/MariaDB", "s3": "s3:// (csv or parquet)"}.get(t, t)
        raise invalid(f"no {label} connector is configured for the {role}; add one with POST /connectors "
                      "(or name a connector by id)", field)
    if len(found) > 1:
        fitting = [c for c in found if c.role in (role, "both")]
        found = fitting or found
    if len(found) > 1:
        names = ", ".join(f"{c.id} ('{c.name}')" for c in found)
        raise invalid(f"'{word}' could mean several connectors for the {role}: {names}; name one by id or name",
                      field)
    return found[0]


# --- schedules ------------------------------------------------------------------------------------------

def _hour(tok: str, part: str | None) -> tuple[int, int] | None:
    """(hour, minute) of '2', '2am', '14', '2:30', '2:30pm' read in the light of 'night'/'evening'/'morning'."""
    m = re.fullmatch(r"(\d{1,2})(?::(\d{2}))?(am|pm)?", tok)
    if not m:
        return None
    h, minute, ampm = int(m.group(1)), int(m.group(2) or 0), m.group(3)
    if h > 23 or minute > 59:
        return None
    if ampm == "pm" and h < 12:
        h += 12
    elif ampm == "am" and h == 12:
        h = 0
    elif ampm is None and part in ("evening", "afternoon") and h < 12:
        h += 12
    elif ampm is None and part == "night" and 7 <= h <= 11:
        h += 12
    return h, minute


def next_fire_times(cron: str, n: int = 3) -> list[datetime]:
    """The next `n` times (UTC) `cron` fires at (cronsim: standard cron semantics, as Prefect's scheduler).
    Raises on an expression that never fires (`0 0 31 2 *`)."""
    from cronsim import CronSim

    it = CronSim(cron, datetime.now(timezone.utc).replace(second=0, microsecond=0))
    return [next(it) for _ in range(n)]


def check_cron(cron: str, field: str = "schedule") -> str:
    """A 5-field cron expression Prefect accepts and that fires at some time (not `0 0 31 2 *`), or 400."""
    from prefect.client.schemas.schedules import CronSchedule

    if not isinstance(cron, str) or len(cron.split()) != 5:
        raise invalid(f"invalid cron expression {cron!r}: it must have 5 fields (minute hour day month weekday)",
                      field)
    try:
        CronSchedule(cron=cron, timezone="UTC")
    except Exception:
        raise invalid(f"invalid cron expression {cron!r}", field)
    try:
        next_fire_times(cron, 1)
    except Exception as exc:
        raise invalid(f"cron expression {cron!r} never fires ({exc})", field)
    return cron


# --- the parser ----------------------------------------------------------------------------------------

@dataclass
class Plan:
    """What a description asks for; `sql()` writes the extract query."""

    source: ConnectorInfo | None = None
    target: ConnectorInfo | None = None
    tables: list[str] = field(default_factory=list)          # main table first
    joins: list[tuple[str, str, str, str]] = field(default_factory=list)  # (table, its col, other table, col)
    columns: list[tuple[str, str]] = field(default_factory=list)
    aggregates: list[tuple[str, str | None, str | None]] = field(default_factory=list)  # (func, table, col)
    group_by: list[tuple[str, str]] = field(default_factory=list)
    filters: list[exp.Expression] = field(default_factory=list)
    order: tuple[Any, bool] | None = None                     # (("agg", i) | (table, col), descending)
    limit: int | None = None
    target_table: str | None = None
    load_mode: str | None = None
    cron: str | None = None
    name: str | None = None
    understood: list[str] = field(default_factory=list)
    windows: list[tuple[int, str, tuple[str, str] | None]] = field(default_factory=list)


class Parser:
    """One description, read against the source schema {table: {column: type}}."""

    def __init__(self, tokens: list[str], schema: dict[str, dict[str, str]] | None, dialect: str, *,
                 allow_target: bool, field_name: str = "description"):
        self.tokens = tokens
        self.schema = schema or {}
        self.dialect = dialect
        self.allow_target = allow_target
        self.field = field_name
        self.i = 0
        self.plan = Plan()
        self.unknown: list[str] = []
        self.last_table: str | None = None

    # -- cursor helpers
    def peek(self, k: int = 0) -> str | None:
        j = self.i + k
        return self.tokens[j] if j < len(self.tokens) else None

    def accept(self, *words: str) -> bool:
        for k, w in enumerate(words):
            if self.peek(k) != w:
                return False
        self.i += len(words)
        return True

    def accept_any(self, *phrases: str) -> str | None:
        for p in sorted(phrases, key=lambda x: -len(x.split())):
            if self.accept(*p.split()):
                return p
        return None

    def skip(self, *words: str) -> None:
        while self.peek() in words:
            self.i += 1

    def number(self) -> int | None:
        tok = self.peek()
        if tok and re.fullmatch(r"\d+", tok):
            self.i += 1
            return int(tok)
        words = {"one": 1, "two": 2, "three": 3, "five": 5, "ten": 10, "fifteen": 15, "twenty": 20, "thirty": 30}
        if tok in words:
            self.i += 1
            return words[tok]
        return None

    # -- schema lookups
    def table_named(self, word: str | None) -> str | None:
        if not word:
            return None
        for cand in (word, singular(word), word + "s", word + "es", word[:-1] + "ies" if word.endswith("y") else ""):
            if cand in self.schema:
                return cand
        return None

    def table(self) -> str | None:
        for n in (2, 1):
            words = [self.peek(k) for k in range(n)]
            if None in words:
                continue
            t = self.table_named("_".join(words))
            if t:
                self.i += n
                return t
        return None

    def involved(self) -> list[str]:
        return list(dict.fromkeys([*self.plan.tables, *(j[0] for j in self.plan.joins)]))

    def column(self) -> tuple[str, str] | None:
        """The longest run of 1-3 words naming a column (table.column, or a column of the tables in play)."""
        for n in (3, 2, 1):
            words = [self.peek(k) for k in range(n)]
            if None in words or any(not re.fullmatch(r"[a-z_][a-z0-9_]*", w) for w in words):
                continue
            name = "_".join(words)
            found = self.find_column(name)
            if found:
                self.i += n
                return found
        return None

    def find_column(self, name: str) -> tuple[str, str] | None:
        order = self.involved() + [t for t in self.schema if t not in self.involved()]
        for t in order:
            if name in self.schema.get(t, {}):
                return t, name
        return None

    def value(self) -> Any:
        tok = self.peek()
        if tok is None:
            return None
        if tok[0] in "'\"":
            self.i += 1
            return tok[1:-1]
        if re.fullmatch(r"-?\d+", tok):
            self.i += 1
            return int(tok)
        if re.fullmatch(r"-?\d+\.\d+", tok):
            self.i += 1
            return float(tok)
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}.*", tok):
            self.i += 1
            return tok.replace("t", " ")
        if tok in ("true", "false"):
            self.i += 1
            return tok == "true"
        if re.fullmatch(r"[a-z_][a-z0-9_\-]*", tok) and tok not in ("and", "or", "where", "by", "to", "into",
                                                                      "from", "every", "with"):
            self.i += 1
            return tok
        return None

    # -- rules: each returns True when it consumed words
    def rule_schedule(self) -> bool:
        start = self.i
        cron = self._schedule()
        if cron is None:
            self.i = start
            return False
        if self.plan.cron is not None and self.plan.cron != cron:
            raise invalid("the description names two different schedules", self.field)
        self.plan.cron = cron
        self.plan.understood.append("schedule " + " ".join(self.tokens[start:self.i]) + f" -> cron '{cron}'")
        return True

    def _at(self, part: str | None) -> tuple[int, int] | None:
        if self.accept("at", "midnight") or self.accept("midnight"):
            return 0, 0
        if self.accept("at", "noon") or self.accept("noon"):
            return 12, 0
        start = self.i
        if self.accept("at") or self.accept("around"):
            tok = self.peek()
            got = _hour(tok, part) if tok else None
            if got is not None:
                self.i += 1
                if self.peek() in ("am", "pm") and not re.search(r"(am|pm)$", tok):
                    got = _hour(tok + self.peek(), part)
                    self.i += 1
                self.accept("o'clock")
                self.skip("utc")
                return got
        self.i = start
        return None

    def _schedule(self) -> str | None:
        if self.accept("cron") or self.accept("schedule") or self.accept("on", "cron"):
            tok = self.peek()
            if tok and tok[0] in "'\"":
                self.i += 1
                return check_cron(tok[1:-1].strip())
            return None
        simple = {"hourly": "0 * * * *", "daily": None, "nightly": "night", "weekly": "0 0 * * 1",
                  "monthly": "0 0 1 * *"}
        tok = self.peek()
        if tok in simple:
            self.i += 1
            if tok in ("daily", "nightly"):
                at = self._at("night" if tok == "nightly" else None)
                h, m = at if at else ((2, 0) if tok == "nightly" else (0, 0))
                return f"{m} {h} * * *"
            if tok == "weekly":
                self.skip("on")
                day = WEEKDAYS.get(self.peek() or "")
                if day is not None:
                    self.i += 1
                at = self._at(None) or (0, 0)
                return f"{at[1]} {at[0]} * * {1 if day is None else day}"
            return simple[tok]
        start = self.i
        if self.accept("every") or self.accept("each") or self.accept("once", "a") or self.accept("once", "every"):
            n = self.number()
            unit = self.peek()
            if n is not None and unit in ("minutes", "minute", "mins", "min"):
                self.i += 1
                if not 1 <= n <= 59:
                    raise invalid("every N minutes needs N between 1 and 59", self.field)
                return f"*/{n} * * * *" if n > 1 else "* * * * *"
            if n is not None and unit in ("hours", "hour"):
                self.i += 1
                if not 1 <= n <= 23:
                    raise invalid("every N hours needs N between 1 and 23", self.field)
                return f"0 */{n} * * *" if n > 1 else "0 * * * *"
            if n is not None and unit in ("days", "day"):
                self.i += 1
                at = self._at(None) or (0, 0)
                return f"{at[1]} {at[0]} */{n} * *"
            if n is None and unit in ("minute", "hour"):
                self.i += 1
                return "* * * * *" if unit == "minute" else "0 * * * *"
            if unit in ("day", "night", "morning", "evening", "afternoon"):
                self.i += 1
                default = {"day": (0, 0), "night": (2, 0), "morning": (6, 0), "evening": (18, 0),
                           "afternoon": (14, 0)}[unit]
                h, m = self._at(unit) or default
                return f"{m} {h} * * *"
            if unit in ("weekday", "weekdays"):
                self.i += 1
                h, m = self._at(None) or (0, 0)
                return f"{m} {h} * * 1-5"
            if unit in ("weekend", "weekends"):
                self.i += 1
                h, m = self._at(None) or (0, 0)
                return f"{m} {h} * * 0,6"
            if unit in ("week",):
                self.i += 1
                return "0 0 * * 1"
            if unit in ("month",):
                self.i += 1
                day = 1
                if self.accept("on", "the") or self.accept("on"):
                    tok = self.peek() or ""
                    mday = re.fullmatch(r"(\d{1,2})(st|nd|rd|th)?", tok)
                    if mday and 1 <= int(mday.group(1)) <= 28:
                        day = int(mday.group(1))
                        self.i += 1
                h, m = self._at(None) or (0, 0)
                return f"{m} {h} {day} * *"
            if unit in WEEKDAYS or (unit and unit.rstrip("s") in WEEKDAYS):
                self.i += 1
                h, m = self._at(None) or (0, 0)
                return f"{m} {h} * * {WEEKDAYS[unit.rstrip('s') if unit not in WEEKDAYS else unit]}"
        self.i = start
        if self.accept("at", "midnight"):
            return "0 0 * * *"
        return None

    def rule_mode(self) -> bool:
        p = self.accept_any("append", "appending", "appended", "incrementally", "incremental", "replace",
                            "replacing", "overwrite", "overwriting", "full refresh", "truncate and load",
                            "refresh")
        if not p:
            return False
        self.plan.load_mode = "append" if p.startswith(("append", "increment")) else "replace"
        self.plan.understood.append(f"load mode {self.plan.load_mode}")
        return True

    def rule_connector(self) -> bool:
        tok = self.peek()
        if tok not in ("§source", "§target"):
            return False
        self.i += 1
        if tok == "§target" and self.accept_any("table", "as table", "as", "named", "called", "in table"):
            name = self.peek()
            if not name or not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
                raise invalid("name the target table: 'into <connector> table <name>'", self.field)
            self.i += 1
            self.plan.target_table = conns.check_ident(name, "target_table")
            self.plan.understood.append(f"target table {name}")
        return True

    def rule_target_table(self) -> bool:
        start = self.i
        if self.accept("into", "table") or self.accept("to", "table") or self.accept("as", "table") \
                or self.accept("into") or self.accept("as") or self.accept("named") or self.accept("called"):
            self.skip("the", "a", "new")
            tok = self.peek()
            if tok and (self.peek(1) in ("§target", "table", None, "in", "on", "every", "daily", "hourly", "nightly",
                                         "weekly", "monthly", "append", "replace", "overwrite", "and", ",")
                        or self.peek(-1) in ("table",)) and re.fullmatch(r"[a-z_][a-z0-9_]*", tok) \
                    and tok not in FILLER and self.allow_target:
                self.i += 1
                self.skip("table")
                if self.peek() in ("in", "on", "at", "of") and self.peek(1) == "§target":
                    self.i += 1
                self.plan.target_table = conns.check_ident(tok, "target_table")
                self.plan.understood.append(f"target table {tok}")
                return True
        self.i = start
        return False

    def rule_join(self) -> bool:
        start = self.i
        if self.accept_any("joined with", "join with", "joining", "join", "joined to", "together with",
                           "along with", "combined with", "with their", "with its", "with the matching",
                           "and their", "including their", "including"):
            self.skip("the", "their", "its", "matching")
            t = self.table()
            if t is None or not self.plan.tables:
                self.i = start
                return False
            on = None
            if self.accept("on") or self.accept("using") or self.accept("by"):
                a = self.column()
                if a is None:
                    raise invalid(f"say which column joins {t}: 'joined with {t} on <column>'", self.field)
                b = None
                if self.accept("=") or self.accept("equals"):
                    b = self.column()
                on = (a, b)
            self.add_join(t, on)
            return True
        return False

    def add_join(self, t: str, on: tuple | None = None) -> None:
        if t in self.involved():
            return
        main = self.plan.tables[0]
        if on is not None:
            (ta, ca), b = on
            if b is not None:
                (tb, cb) = b
                left, right = ((ta, ca), (tb, cb)) if tb == t else ((tb, cb), (ta, ca))
                self.plan.joins.append((t, right[1], left[0], left[1]))
            elif ca in self.schema.get(t, {}) and ca in self.schema.get(main, {}):
                self.plan.joins.append((t, ca, main, ca))
            elif ca in self.schema.get(main, {}) and "id" in self.schema.get(t, {}):
                self.plan.joins.append((t, "id", main, ca))
            elif ca in self.schema.get(t, {}) and "id" in self.schema.get(main, {}):
                self.plan.joins.append((t, ca, main, "id"))
            else:
                raise invalid(f"cannot join {t} to {main} on '{ca}': say 'joined with {t} on <column>'",
                              self.field)
        else:
            path = self.join_path(t)
            if path is None:
                raise invalid(f"cannot tell how {t} relates to {', '.join(self.involved())}: say 'joined with "
                              f"{t} on <column>'", self.field)
            for step in path:
                if step[0] not in self.involved():
                    self.plan.joins.append(step)
        self.plan.understood.append(f"join {t}")

    def edges(self, t: str) -> list[tuple[str, str, str, str]]:
        """Key-name links of t: (other table, its column, t, t's column)."""
        out = []
        for other, cols in self.schema.items():
            if other == t:
                continue
            for fk in (singular(other) + "_id", other + "_id"):
                if fk in self.schema[t] and "id" in cols:
                    out.append((other, "id", t, fk))
            for fk in (singular(t) + "_id", t + "_id"):
                if fk in cols and "id" in self.schema[t]:
                    out.append((other, fk, t, "id"))
        return out

    def join_path(self, target: str) -> list[tuple[str, str, str, str]] | None:
        """The shortest chain of key-name joins from the tables in play to `target` (breadth first)."""
        starts = self.involved()
        queue = deque([(s, []) for s in starts])
        seen = set(starts)
        while queue:
            t, path = queue.popleft()
            for step in self.edges(t):
                nxt = step[0]
                if nxt in seen:
                    continue
                if nxt == target:
                    return path + [step]
                seen.add(nxt)
                queue.append((nxt, path + [step]))
        return None

    def need(self, col: tuple[str, str]) -> tuple[str, str]:
        """Make sure the column's table is part of the query (joining it in when needed)."""
        t = col[0]
        if not self.plan.tables:
            self.plan.tables.append(t)
        elif t not in self.involved():
            self.add_join(t)
        return col

    def rule_filter(self) -> bool:
        start = self.i
        if not self.accept_any("where", "with", "whose", "having", "when", "if", "for which", "that have",
                               "that has", "filtered by", "filter", "only where", "but only where"):
            return False
        got = self.condition()
        if not got:
            self.i = start
            return False
        while True:
            mark = self.i
            if self.accept("and") or self.accept(","):
                if self.condition():
                    continue
            self.i = mark
            break
        return True

    def condition(self) -> bool:
        start = self.i
        col = self.column()
        if col is None:
            return False
        col = self.need(col)
        ref = exp.column(col[1], table=col[0], quoted=True)
        ops = [("is not null", "notnull"), ("is null", "null"), ("is not empty", "notnull"), ("is empty", "null"),
               ("is missing", "null"), ("is not", "ne"), ("not equal to", "ne"), ("!=", "ne"), ("<>", "ne"),
               ("is greater than or equal to", "ge"), ("greater than or equal to", "ge"), (">=", "ge"),
               ("at least", "ge"), ("is at least", "ge"), ("is less than or equal to", "le"),
               ("less than or equal to", "le"), ("<=", "le"), ("at most", "le"), ("is at most", "le"),
               ("is greater than", "gt"), ("greater than", "gt"), ("more than", "gt"), ("is above", "gt"),
               ("above", "gt"), ("over", "gt"), ("after", "gt"), ("is after", "gt"), (">", "gt"),
               ("is less than", "lt"), ("less than", "lt"), ("fewer than", "lt"), ("below", "lt"),
               ("under", "lt"), ("is below", "lt"), ("before", "lt"), ("is before", "lt"), ("<", "lt"),
               ("is between", "between"), ("between", "between"), ("is in", "in"), ("in", "in"),
               ("is one of", "in"), ("one of", "in"), ("contains", "like"), ("containing", "like"),
               ("starts with", "prefix"), ("starting with", "prefix"), ("ends with", "suffix"),
               ("equals", "eq"), ("equal to", "eq"), ("is equal to", "eq"), ("=", "eq"), ("is", "eq"),
               ("of", "eq")]
        window = self.window(col)
        if window:
            return True
        for phrase, op in sorted(ops, key=lambda x: -len(x[0].split())):
            if self.accept(*phrase.split()):
                break
        else:
            self.i = start
            return False
        if op in ("null", "notnull"):
            cond = exp.Is(this=ref, expression=exp.Null())
            self.plan.filters.append(cond if op == "null" else exp.Not(this=cond))
            self.plan.understood.append(f"filter {col[1]} {op}")
            return True
        if op == "between":
            lo = self.value()
            if lo is None or not self.accept("and"):
                self.i = start
                return False
            hi = self.value()
            if hi is None:
                self.i = start
                return False
            self.plan.filters.append(exp.Between(this=ref, low=_lit(lo), high=_lit(hi)))
            self.plan.understood.append(f"filter {col[1]} between {lo} and {hi}")
            return True
        if op == "in":
            if self.window(col):
                return True
            values = []
            self.accept("(")
            while True:
                v = self.value()
                if v is None:
                    break
                values.append(v)
                if not (self.accept(",") or self.accept("or") or (self.peek() == "and" and self.peek(1) and
                                                                   self.peek(1)[0] in "'\"" and self.accept("and"))):
                    break
            self.accept(")")
            if not values:
                self.i = start
                return False
            self.plan.filters.append(exp.In(this=ref, expressions=[_lit(v) for v in values]))
            self.plan.understood.append(f"filter {col[1]} in {values}")
            return True
        v = self.value()
        if v is None:
            self.i = start
            return False
        if op in ("like", "prefix", "suffix"):
            pattern = {"like": f"%{v}%", "prefix": f"{v}%", "suffix": f"%{v}"}[op]
            self.plan.filters.append(exp.Like(this=ref, expression=exp.Literal.string(pattern)))
        else:
            cls = {"eq": exp.EQ, "ne": exp.NEQ, "gt": exp.GT, "lt": exp.LT, "ge": exp.GTE, "le": exp.LTE}[op]
            self.plan.filters.append(cls(this=ref, expression=_lit(v)))
        self.plan.understood.append(f"filter {col[1]} {op} {v!r}")
        return True

    def window(self, col: tuple[str, str] | None) -> bool:
        """Time windows: in the last N days, last month, yesterday, today, this week/month/year."""
        start = self.i
        self.skip("in", "during", "within", "over", "for", "from")
        self.skip("the")
        if self.accept("last") or self.accept("past") or self.accept("previous"):
            n = self.number() or 1
            unit = UNITS.get(self.peek() or "")
            if unit is None:
                self.i = start
                return False
            self.i += 1
            self.add_window(n, unit, col)
            return True
        if self.accept("yesterday"):
            self.add_window(1, "DAY", col)
            return True
        if self.accept("today"):
            self.add_window(0, "DAY", col)
            return True
        if self.accept("this"):
            unit = UNITS.get(self.peek() or "")
            if unit is None:
                self.i = start
                return False
            self.i += 1
            self.add_window(0, unit, col)
            return True
        self.i = start
        return False

    def add_window(self, n: int, unit: str, col: tuple[str, str] | None) -> None:
        self.plan.windows.append((n, unit, col))
        self.plan.understood.append(f"time window last {n} {unit.lower()}(s)" if n else f"this {unit.lower()}")

    def rule_window(self) -> bool:
        start = self.i
        if self.window(None):
            if self.accept("by") or self.accept("using") or self.accept("on"):
                col = self.column()
                if col is None:
                    self.i = start
                    return False
                n, unit, _ = self.plan.windows[-1]
                self.plan.windows[-1] = (n, unit, self.need(col))
            return True
        return False

    def aggregate(self) -> int | None:
        """An aggregate (its index in plan.aggregates) such as 'total amount', 'count of orders'."""
        start = self.i
        self.skip("the")
        if self.accept("how", "many"):  # 'how many orders ...': a count
            fn = "count"
        else:
            word = self.peek()
            if word not in AGGS:
                return None
            self.i += 1
            fn = AGGS[word]
        self.skip("of", "the", "purchase", "order", "sales")
        if fn == "count":
            t = self.table()
            if t is not None or self.accept("rows") or self.accept("records"):
                if t is not None and not self.plan.tables:
                    self.plan.tables.append(t)
                elif t is not None:
                    self.need((t, next(iter(self.schema[t]))))
                self.plan.aggregates.append(("count", None, None))
                return len(self.plan.aggregates) - 1
        col = self.column()
        if col is None:
            if fn == "count":
                self.plan.aggregates.append(("count", None, None))
                return len(self.plan.aggregates) - 1
            self.i = start
            return None
        col = self.need(col)
        self.plan.aggregates.append((fn, col[0], col[1]))
        self.plan.understood.append(f"aggregate {fn}({col[1]})")
        return len(self.plan.aggregates) - 1

    def rule_aggregate(self) -> bool:
        return self.aggregate() is not None

    def rule_group(self) -> bool:
        start = self.i
        if not self.accept_any("grouped by", "group by", "by", "per", "for each", "for every", "broken down by",
                               "split by"):
            return False
        self.skip("the", "each")
        agg = self.aggregate()
        if agg is not None:  # 'by total amount': an ordering measure (top N ... by ...)
            self.plan.order = (("agg", agg), True)
            return True
        cols = []
        while True:
            c = self.column()
            if c is None:
                t = self.table()
                if t is not None and "id" in self.schema[t]:
                    c = (t, "id")
            if c is None:
                break
            cols.append(self.need(c))
            if not (self.accept(",") or self.accept("and")):
                break
        if not cols:
            self.i = start
            return False
        self.plan.group_by.extend(cols)
        self.plan.understood.append("group by " + ", ".join(c[1] for c in cols))
        return True

    def rule_top(self) -> bool:
        start = self.i
        word = self.accept_any("top", "bottom", "first", "last", "limit", "limit to", "at most")
        if not word:
            return False
        n = self.number()
        if n is None:
            self.i = start
            return False
        self.plan.limit = n
        t = self.table()
        if t is not None:
            if not self.plan.tables:
                self.plan.tables.append(t)
            else:
                self.need((t, next(iter(self.schema[t]))))
            if word in ("top", "bottom"):
                self.last_table = t
        self.skip("rows", "records", "results")
        if word in ("top", "bottom") and self.accept("by"):
            agg = self.aggregate()
            if agg is not None:
                self.plan.order = (("agg", agg), word == "top")
            else:
                col = self.column()
                if col is None:
                    raise invalid(f"say what '{word} {n}' ranks by: '{word} {n} ... by <column>'", self.field)
                self.plan.order = (self.need(col), word == "top")
        self.plan.understood.append(f"limit {n}")
        return True

    def rule_order(self) -> bool:
        start = self.i
        if not self.accept_any("order by", "ordered by", "sort by", "sorted by", "sorting by", "ranked by"):
            return False
        agg = self.aggregate()
        target: Any = ("agg", agg) if agg is not None else self.column()
        if target is None:
            self.i = start
            return False
        if target[0] != "agg":
            target = self.need(target)
        desc = bool(self.accept_any("desc", "descending", "highest first", "largest first", "newest first"))
        if not desc:
            self.accept_any("asc", "ascending", "lowest first", "oldest first")
        self.plan.order = (target, desc)
        self.plan.understood.append("order")
        return True

    def rule_columns(self) -> bool:
        start = self.i
        if not self.accept_any("columns", "column", "fields", "field", "only the columns", "only columns",
                               "just", "only"):
            return False
        cols = []
        while True:
            c = self.column()
            if c is None:
                break
            cols.append(self.need(c))
            if not (self.accept(",") or self.accept("and")):
                break
        if not cols:
            self.i = start
            return False
        self.plan.columns.extend(cols)
        return True

    def rule_name(self) -> bool:
        start = self.i
        if self.accept_any("called", "named", "name it", "as pipeline", "pipeline named"):
            tok = self.peek()
            if tok and tok[0] in "'\"":
                self.i += 1
                self.plan.name = tok[1:-1][:256]
                return True
        self.i = start
        return False

    def rule_mention(self) -> bool:
        t = self.table()
        if t is not None:
            if not self.plan.tables:
                self.plan.tables.append(t)
                self.plan.understood.append(f"table {t}")
            elif t not in self.involved():
                self.add_join(t)
            return True
        c = self.column()
        if c is not None:
            self.plan.columns.append(self.need(c))
            return True
        return False

    def run(self) -> Plan:
        rules: list[Callable[[], bool]] = [self.rule_connector, self.rule_schedule, self.rule_mode,
                                           self.rule_name, self.rule_top, self.rule_order, self.rule_join,
                                           self.rule_filter, self.rule_window, self.rule_group,
                                           self.rule_aggregate, self.rule_columns, self.rule_target_table,
                                           self.rule_mention]
        while self.i < len(self.tokens):
            if any(rule() for rule in rules):
                continue
            tok = self.tokens[self.i]
            if tok not in FILLER and tok not in (",", ".", "(", ")") and not re.fullmatch(r"\d+", tok):
                self.unknown.append(tok)
            self.i += 1
        return self.plan


def _lit(v: Any) -> exp.Expression:
    if isinstance(v, bool):
        return exp.Boolean(this=v)
    if isinstance(v, (int, float)):
        return exp.Literal.number(v)
    return exp.Literal.string(str(v))


# --- SQL ----------------------------------------------------------------------------------------------

DATE_TYPES = ("date", "timestamp", "datetime", "time")


def _is_date(type_name: str) -> bool:
    t = type_name.lower()
    return any(k in t for k in DATE_TYPES) and "interval" not in t


def window_column(p: Parser, wanted: tuple[str, str] | None) -> tuple[str, str]:
    if wanted is not None:
        return wanted
    involved = p.involved()
    dates = [(t, c) for t in involved for c, ty in p.schema[t].items() if _is_date(ty)]
    if len(dates) == 1:
        return dates[0]
    measure_tables = [a[1] for a in p.plan.aggregates if a[1]]
    main = involved[0] if involved else None
    for t in measure_tables + [j[0] for j in p.plan.joins] + [j[2] for j in p.plan.joins]:
        cands = [(tt, c) for tt, c in dates if tt == t and tt != main]
        if len(cands) == 1:
            return cands[0]
    if not dates:
        raise invalid("the time window needs a date or timestamp column, and the tables in play have none",
                      p.field)
    names = ", ".join(f"{t}.{c}" for t, c in dates)
    raise invalid(f"which date column does the time window apply to ({names})? say e.g. 'in the last 7 days "
                  f"by {dates[0][1]}'", p.field)


def window_condition(p: Parser, n: int, unit: str, col: tuple[str, str]) -> exp.Expression:
    ref = exp.column(col[1], table=col[0], quoted=True)
    if p.dialect == "sqlite":
        if n == 0:
            start = {"DAY": "start of day", "WEEK": "weekday 0", "MONTH": "start of month", "YEAR": "start of year",
                     "HOUR": "start of day", "MINUTE": "start of day"}[unit]
            bound = exp.Anonymous(this="datetime", expressions=[exp.Literal.string("now"), exp.Literal.string(start)])
        else:
            amount = n * 7 if unit == "WEEK" else n
            u = "days" if unit == "WEEK" else unit.lower() + "s"
            bound = exp.Anonymous(this="datetime", expressions=[exp.Literal.string("now"),
                                                                 exp.Literal.string(f"-{amount} {u}")])
        return exp.GTE(this=ref, expression=bound)
    if n == 0:
        if unit in ("DAY", "HOUR", "MINUTE"):
            return exp.GTE(this=ref, expression=exp.CurrentDate())
        return exp.GTE(this=ref, expression=exp.DateTrunc(unit=exp.Literal.string(unit), this=exp.CurrentDate()))
    interval = exp.Interval(this=exp.Literal.string(str(n)), unit=exp.Var(this=unit))
    base = exp.CurrentTimestamp() if unit in ("HOUR", "MINUTE") else exp.CurrentDate()
    return exp.GTE(this=ref, expression=exp.Sub(this=base, expression=interval))


def build_sql(p: Parser) -> str:
    plan = p.plan
    if not plan.tables:
        raise invalid("the description names no table of the source; tables there: "
                      f"{', '.join(sorted(p.schema)[:30]) or '(none)'}", p.field)
    main = plan.tables[0]
    multi = bool(plan.joins)

    def col(t: str, c: str) -> exp.Column:
        return exp.column(c, table=t if multi else None, quoted=True)

    aliases: list[str] = []
    select: list[exp.Expression] = []
    if plan.aggregates:
        for t, c in dict.fromkeys(plan.group_by):
            select.append(exp.alias_(col(t, c), c if c not in aliases else f"{t}_{c}", quoted=True))
            aliases.append(c)
        if not plan.group_by and plan.order and plan.order[0][0] == "agg" and plan.limit and p.last_table:
            t = p.last_table
            keys = [k for k in ("id", "name") if k in p.schema[t]] or list(p.schema[t])[:1]
            for k in keys:
                plan.group_by.append((t, k))
                select.append(exp.alias_(col(t, k), k if k not in aliases else f"{t}_{k}", quoted=True))
                aliases.append(k)
        for fn, t, c in plan.aggregates:
            if fn == "count":
                e: exp.Expression = exp.Count(this=exp.Star())
                name = "count"
            else:
                cls = {"sum": exp.Sum, "avg": exp.Avg, "min": exp.Min, "max": exp.Max}[fn]
                e = cls(this=col(t, c))
                name = {"sum": "total", "avg": "average", "min": "min", "max": "max"}[fn] + f"_{c}"
            select.append(exp.alias_(e, name, quoted=True))
            aliases.append(name)
    elif plan.columns:
        for t, c in dict.fromkeys(plan.columns):
            select.append(exp.alias_(col(t, c), c if c not in aliases else f"{t}_{c}", quoted=True))
            aliases.append(c)
    elif multi:
        select.append(exp.Column(this=exp.Star(), table=exp.to_identifier(main, quoted=True)))
        aliases.extend(p.schema[main])
        for t, tcol, _other, _ocol in plan.joins:
            for c in p.schema[t]:
                if c == tcol:
                    continue
                name = c if c not in aliases else f"{singular(t)}_{c}"
                select.append(exp.alias_(col(t, c), name, quoted=True))
                aliases.append(name)
    else:
        select.append(exp.Star())
    q = exp.select(*select).from_(exp.Table(this=exp.to_identifier(main, quoted=True)))
    for t, tcol, other, ocol in plan.joins:
        q = q.join(exp.Table(this=exp.to_identifier(t, quoted=True)),
                   on=exp.EQ(this=col(t, tcol), expression=col(other, ocol)), join_type="inner")
    conds = list(plan.filters)
    for n, unit, wanted in plan.windows:
        conds.append(window_condition(p, n, unit, window_column(p, wanted)))
    if conds:
        if not multi:
            conds = [c.transform(lambda n: exp.column(n.name, quoted=True) if isinstance(n, exp.Column) and n.table
                                 else n) for c in conds]
        q = q.where(exp.and_(*conds))
    if plan.aggregates and plan.group_by:
        q = q.group_by(*[col(t, c) for t, c in dict.fromkeys(plan.group_by)])
    if plan.order is not None:
        target, desc = plan.order
        if target[0] == "agg":
            fn, t, c = plan.aggregates[target[1]]
            name = "count" if fn == "count" else \
                {"sum": "total", "avg": "average", "min": "min", "max": "max"}[fn] + f"_{c}"
            key: exp.Expression = exp.column(name, quoted=True)
        else:
            key = col(*target)
        q = q.order_by(exp.Ordered(this=key, desc=desc))
    if plan.limit is not None:
        q = q.limit(plan.limit)
    return q.sql(dialect=p.dialect, pretty=True)


# --- entry points ---------------------------------------------------------------------------------------

def mark_connectors(text: str, connectors: list[ConnectorInfo], allow_target: bool, field_name: str
                    ) -> tuple[list[str], ConnectorInfo | None, ConnectorInfo | None, list[str]]:
    """Find `from <connector>` / `to|into <connector>` and replace them by §source / §target.

    Returns (tokens, source, target, notes). Unsupported systems are a 400 naming them."""
    tokens = tokenize(text)
    words = _connector_words(connectors)
    out: list[str] = []
    source = target = None
    notes: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        prev = out[-1] if out else None
        if tok in UNSUPPORTED_SYSTEMS or (tok == "sql" and i + 1 < len(tokens) and tokens[i + 1] == "server"):
            system = UNSUPPORTED_SYSTEMS.get(tok, "SQL Server")
            raise invalid(f"{system} is not a connector type supported here; supported: PostgreSQL, MySQL/"
                          "MariaDB, SQLite, CSV and Parquet files (local or s3://)", field_name)
        match: tuple[int, ConnectorInfo | str] | None = None
        for key, found in sorted(words.items(), key=lambda kv: -len(kv[0])):
            if tuple(tokens[i:i + len(key)]) == key:
                if len(found) > 1:
                    raise invalid(f"'{' '.join(key)}' names several connectors: "
                                  f"{', '.join(c.id for c in found)}; use an id", field_name)
                match = (len(key), found[0])
                break
        if match is None and tok in TYPE_WORDS:
            match = (1, tok)
        if match is None:
            out.append(tok)
            i += 1
            continue
        n, ref = match
        i += n
        while i < len(tokens) and tokens[i] in ("database", "db", "server", "files", "file", "bucket",
                                                "instance", "connector", "warehouse"):
            i += 1
        back = [w for w in out[-3:]]
        role = "target" if prev in ("to", "into") or (len(back) >= 2 and back[-2] in ("to", "into") and
                                                     back[-1] in ("the", "our", "my")) else "source"
        if role == "target" and prev in ("the", "our", "my"):
            out.pop()
        if role == "target" and not allow_target:
            raise invalid("a query reads one source; it has no target", field_name)
        conn = ref if isinstance(ref, ConnectorInfo) else resolve_connector(ref, connectors, role, field_name)
        if role == "source":
            if source is not None and source.id != conn.id:
                raise invalid("the description names two sources; name one", field_name)
            source = conn
            if out and out[-1] in ("the", "our", "my"):
                out.pop()
            out.append("§source")
        else:
            if target is not None and target.id != conn.id:
                raise invalid("the description names two targets; name one", field_name)
            target = conn
            if out and out[-1] in ("to", "into"):
                out.pop()
            out.append("§target")
        notes.append(f"{role} {conn.id} ({conn.type})")
    # the words that carried a role were consumed with the connector ('from', 'to', 'into', 'in')
    cleaned: list[str] = []
    for k, tok in enumerate(out):
        if tok in ("from", "in", "on", "of", "at") and k + 1 < len(out) and out[k + 1] == "§source":
            continue
        cleaned.append(tok)
    return cleaned, source, target, notes


@dataclass
class Understood:
    sql: str
    plan: Plan
    source: ConnectorInfo | None
    target: ConnectorInfo | None
    explanation: str


def understand(text: str, connectors: list[ConnectorInfo], schema_of: Callable[[ConnectorInfo], dict],
               dialect_of: Callable[[ConnectorInfo], str], *, allow_target: bool, default_source=None,
               field_name: str = "description", restrict_tables: list[str] | None = None) -> Understood:
    """Parse a description into a plan and its SQL (not yet checked against the schema by sqlglot)."""
    if not isinstance(text, str) or not text.strip():
        raise invalid(f"{field_name} must be a non-empty sentence", field_name)
    if len(text) > 2000:
        raise invalid(f"{field_name} is longer than 2000 characters", field_name)
    tokens, source, target, notes = mark_connectors(text, connectors, allow_target, field_name)
    source = source or default_source
    if source is None:
        if len([c for c in connectors if c.role in ("source", "both")]) == 1:
            source = next(c for c in connectors if c.role in ("source", "both"))
        else:
            raise invalid("say where the data comes from: 'from <connector id, name or type>'", field_name)
    schema = schema_of(source)
    if restrict_tables:
        missing = [t for t in restrict_tables if t not in schema]
        if missing:
            raise invalid(f"schema.tables names table(s) that {source.id} does not have: {', '.join(missing)}",
                          "schema.tables")
        schema = {t: cols for t, cols in schema.items() if t in restrict_tables}
    parser = Parser(tokens, schema, dialect_of(source), allow_target=allow_target, field_name=field_name)
    plan = parser.run()
    if parser.unknown:
        words = ", ".join(f"'{w}'" for w in dict.fromkeys(parser.unknown))
        raise InferloopError("INVALID_REQUEST", f"could not understand: {words}. Name tables and columns of the "
                             "source as they are, and use the documented phrasings", field_name,
                             extra={"details": [{"field": field_name, "error": f"not understood: {w}"}
                                                for w in dict.fromkeys(parser.unknown)]})
    plan.source, plan.target = source, target
    sql = build_sql(parser)
    explanation = explain(plan, notes)
    return Understood(sql, plan, source, target, explanation)


def explain(plan: Plan, notes: list[str]) -> str:
    parts = []
    if plan.aggregates:
        aggs = ", ".join(f"{fn}({c or '*'})" for fn, _t, c in plan.aggregates)
        parts.append(f"computes {aggs}")
        if plan.group_by:
            parts.append("per " + ", ".join(c for _t, c in plan.group_by))
    else:
        parts.append("reads " + (", ".join(c for _t, c in plan.columns) if plan.columns else "all columns"))
    parts.append("from " + plan.tables[0])
    if plan.joins:
        parts.append("joined with " + ", ".join(j[0] for j in plan.joins))
    if plan.filters or plan.windows:
        parts.append(f"keeping rows that meet {len(plan.filters) + len(plan.windows)} condition(s)")
    if plan.order is not None:
        parts.append("ordered " + ("descending" if plan.order[1] else "ascending"))
    if plan.limit is not None:
        parts.append(f"limited to {plan.limit} rows")
    return "This query " + " ".join(parts) + "."


# --- the optional LLM plug-in ---------------------------------------------------------------------------

class NLPlugin:
    """The one interface of an optional LLM plug-in (off by default: INFERLOOP_ETL_LLM_PLUGIN=module:callable).

    `__call__(description, context)` returns {"sql": ..., "target_table"?, "schedule"?, "load_mode"?} for a
    description the deterministic parser did not understand; its SQL is checked like any other before use.
    """

    def __call__(self, description: str, context: dict) -> dict:  # pragma: no cover - interface only
        raise NotImplementedError


def load_plugin(spec: str) -> Callable[[str, dict], dict] | None:
    if not spec:
        return None
    module, _, attr = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), attr or "plugin")
    except Exception as exc:
        raise InferloopError("GENERATION_FAILED", f"the NL plug-in {spec!r} cannot be loaded: {exc}", status=500)


# --- connectors from a description ------------------------------------------------------------------------

HINT_FIELDS = {"host": "host", "hostname": "host", "server": "host", "port": "port", "database": "database",
               "db": "database", "dbname": "database", "schema": "schema", "user": "user", "username": "user",
               "ssl_mode": "ssl_mode", "sslmode": "ssl_mode", "path": "path", "url": "url", "bucket": "url",
               "endpoint_url": "endpoint_url", "region": "region", "delimiter": "delimiter", "flavor": "flavor"}


def connector_from_text(description: str, hints: dict | None) -> tuple[str, dict, list[str]]:
    """(type, configuration, notes) read from a description such as "Connect to our production PostgreSQL
    database analytics on db.company.com port 5433 as user etl with ssl" plus explicit hints (which win)."""
    if not isinstance(description, str) or not description.strip():
        raise invalid("description must say which database or files to connect to")
    text = description.strip()
    low = text.lower()
    notes: list[str] = []
    for word, system in UNSUPPORTED_SYSTEMS.items():
        if re.search(rf"\b{word}\b", low):
            raise invalid(f"{system} is not a connector type supported here; supported: PostgreSQL, MySQL/MariaDB, "
                          "SQLite, CSV and Parquet files (local or s3://)")
    hints = dict(hints or {})
    ctype = None
    if hints.get("type"):
        ctype = conns.canonical_type(hints.pop("type"), "hints.type")
    for word, t in (("postgresql", "postgresql"), ("postgres", "postgresql"), ("mariadb", "mysql"),
                    ("mysql", "mysql"), ("sqlite", "sqlite"), ("parquet", "parquet"), ("csv", "csv")):
        if ctype is None and re.search(rf"\b{word}\b", low):
            ctype = t
            notes.append(f"type {t} from '{word}'")
    url = re.search(r"\b(s3://[\w.\-/]+)", text)
    if ctype is None and url:
        ext = url.group(1).rsplit(".", 1)[-1].lower()
        ctype = ext if ext in ("csv", "parquet") else None
    if ctype is None:
        raise invalid("could not tell the connector type from the description; name one of: PostgreSQL, MySQL, "
                      "MariaDB, SQLite, CSV, Parquet (or pass hints.type)")
    conf: dict[str, Any] = {}
    if ctype == "mysql" and re.search(r"\bmariadb\b", low):
        conf["flavor"] = "mariadb"
    patterns = {"host": r"\b(?:on|at|host|server|hostname)\s+([a-z0-9][a-z0-9.\-]*\.[a-z0-9.\-]+|localhost|"
                        r"\d{1,3}(?:\.\d{1,3}){3})\b",
                "port": r"\bport\s+(\d{2,5})\b",
                "database": r"\b(?:database|db|dbname)\s+(?:named\s+|called\s+)?[\"']?([a-z_][a-z0-9_]*)",
                "schema": r"\bschema\s+[\"']?([a-z_][a-z0-9_]*)",
                "user": r"\b(?:user|username|as user|login)\s+[\"']?([a-z_][a-z0-9_.\-]*)"}
    for key, rx in patterns.items():
        m = re.search(rx, text, re.I)
        if m and not (key == "database" and m.group(1).lower() in ("on", "at", "with", "as", "for", "in")):
            conf[key] = int(m.group(1)) if key == "port" else m.group(1)
            notes.append(f"{key} {m.group(1)} from the description")
    if re.search(r"\b(ssl|tls|encrypted|secure)\b", low) and ctype == "postgresql":
        conf["ssl_mode"] = "require"
        notes.append("ssl_mode require (the description asks for SSL)")
    if url and ctype in ("csv", "parquet"):
        conf["url"] = url.group(1)
    path = re.search(r"(/[\w.\-/]+)", text)
    if ctype in ("sqlite", "csv", "parquet") and path and "url" not in conf:
        conf["path" if ctype == "sqlite" else "url"] = path.group(1)
    for k, v in hints.items():
        key = HINT_FIELDS.get(k)
        if key is None:
            raise invalid(f"unknown hint '{k}'; hints: {', '.join(sorted(set(HINT_FIELDS)))}", f"hints.{k}")
        conf[key] = v
    defaults = conns.SPECS[ctype].defaults
    conf = {k: v for k, v in conf.items() if k in defaults or k in conns.SPECS[ctype].required}
    return ctype, conf, notes
