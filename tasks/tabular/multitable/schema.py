"""A multi-table schema: tables, relationships and primary keys, validated before any data is read."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from graphlib import CycleError, TopologicalSorter
from typing import Any

from inferloop.core.errors import InferloopError, invalid_request

TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
RELATIONSHIP_TYPES = ("one_to_many", "one_to_one")
METHODS = ("auto", "hma", "parent_first")
# SDV 2.0's HMASynthesizer refuses more than 5 tables or a depth above 2 (depth = tables on the longest
# parent -> child chain: customers -> orders is 2, customers -> orders -> order_items is 3)
HMA_MAX_TABLES = 5
HMA_MAX_DEPTH = 2
HMA_MODEL_KEY = "sdv:gaussian_copula"  # HMA models every table with a Gaussian copula


@dataclass(frozen=True)
class Relationship:
    """One foreign key: child.child_key references parent.parent_key (the parent's primary key)."""

    parent: str
    child: str
    parent_key: str
    child_key: str
    type: str = "one_to_many"

    @property
    def label(self) -> str:
        """`customers.customer_id -> orders.customer_id`."""
        return f"{self.parent}.{self.parent_key} -> {self.child}.{self.child_key}"

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class Schema:
    """Table names, relationships (in request order) and every known primary key."""

    tables: list[str]
    relationships: list[Relationship]
    primary_keys: dict[str, str] = field(default_factory=dict)

    def parents_of(self, table: str) -> list[tuple[int, Relationship]]:
        """(index, relationship) of each relationship in which `table` is the child, in request order."""
        return [(i, r) for i, r in enumerate(self.relationships) if r.child == table]

    def children_of(self, table: str) -> list[tuple[int, Relationship]]:
        """(index, relationship) of each relationship in which `table` is the parent."""
        return [(i, r) for i, r in enumerate(self.relationships) if r.parent == table]

    @property
    def related(self) -> list[str]:
        """Tables that take part in at least one relationship, in table order."""
        named = {t for r in self.relationships for t in (r.parent, r.child)}
        return [t for t in self.tables if t in named]

    @property
    def standalone(self) -> list[str]:
        """Tables in no relationship: generated on their own."""
        related = set(self.related)
        return [t for t in self.tables if t not in related]

    def order(self) -> list[str]:
        """Every table, parents before their children (the schema is known to be acyclic)."""
        graph = {t: {r.parent for _, r in self.parents_of(t)} for t in self.tables}
        return list(TopologicalSorter(graph).static_order())

    def depth(self) -> int:
        """Tables on the longest parent -> child chain (SDV's definition; 1 without relationships)."""
        longest: dict[str, int] = {}
        for table in self.order():
            longest[table] = 1 + max((longest[r.parent] for _, r in self.parents_of(table)), default=0)
        return max(longest.values(), default=1)

    def key_columns(self, table: str) -> list[str]:
        """The table's primary key and foreign keys."""
        keys = [self.primary_keys[table]] if table in self.primary_keys else []
        keys += [r.child_key for _, r in self.parents_of(table) if r.child_key not in keys]
        return keys

    def to_dict(self) -> dict[str, Any]:
        return {"tables": list(self.tables), "relationships": [r.to_dict() for r in self.relationships],
                "primary_keys": dict(self.primary_keys)}


def parse_schema(tables: Iterable[str], relationships: list[dict] | None,
                 primary_keys: dict[str, str] | None = None) -> Schema:
    """Validate table names, relationships and primary keys; raise INVALID_REQUEST naming the field."""
    names = list(tables)
    if not names:
        raise invalid_request("tables must name at least one table", "tables")
    for name in names:
        if not isinstance(name, str) or not TABLE_NAME.match(name):
            raise invalid_request(f"table name {name!r} must be 1-64 letters, digits, '_' or '-' and start "
                                  "with a letter or '_'", f"tables.{name}")
    if not isinstance(relationships or [], list):
        raise invalid_request("relationships must be a list", "relationships")
    rels = [_relationship(i, raw, names) for i, raw in enumerate(relationships or [])]
    keys = _primary_keys(names, rels, primary_keys or {})
    schema = Schema(names, rels, keys)
    _check_cycles(schema)
    return schema


def _relationship(i: int, raw: Any, names: list[str]) -> Relationship:
    """One relationship from its request dict."""
    where = f"relationships[{i}]"
    if not isinstance(raw, dict):
        raise invalid_request(f"{where} must be an object with parent, child, parent_key, child_key, type",
                              where)
    unknown = sorted(set(raw) - {"parent", "child", "parent_key", "child_key", "type"})
    if unknown:
        raise invalid_request(f"{where} has unknown field(s): {', '.join(unknown)}", f"{where}.{unknown[0]}")
    values = {}
    for name in ("parent", "child", "parent_key", "child_key"):
        value = raw.get(name)
        if not isinstance(value, str) or not value.strip():
            raise invalid_request(f"{where}.{name} is required (a non-empty string)", f"{where}.{name}")
        values[name] = value.strip()
    kind = raw.get("type") or "one_to_many"
    if kind not in RELATIONSHIP_TYPES:
        raise invalid_request(f"{where}.type must be one of {', '.join(RELATIONSHIP_TYPES)}, got {kind!r}",
                              f"{where}.type")
    for role in ("parent", "child"):
        if values[role] not in names:
            raise invalid_request(f"{where}.{role} names table '{values[role]}', which is not in tables "
                                  f"({', '.join(names)})", f"{where}.{role}")
    if values["parent"] == values["child"]:
        raise invalid_request(f"{where} relates '{values['parent']}' to itself: relationships form a cycle "
                              f"({values['parent']} -> {values['parent']})", "relationships")
    return Relationship(values["parent"], values["child"], values["parent_key"], values["child_key"], kind)


def _primary_keys(names: list[str], rels: list[Relationship], given: dict[str, str]) -> dict[str, str]:
    """Each parent's key (the same in all its relationships), plus keys given for other tables."""
    if not isinstance(given, dict):
        raise invalid_request("primary_keys must be an object of table: column", "primary_keys")
    keys: dict[str, str] = {}
    for table, column in given.items():
        if table not in names:
            raise invalid_request(f"primary_keys names table '{table}', which is not in tables",
                                  f"primary_keys.{table}")
        if not isinstance(column, str) or not column.strip():
            raise invalid_request(f"primary_keys.{table} must be a column name", f"primary_keys.{table}")
        keys[table] = column.strip()
    for i, r in enumerate(rels):
        if keys.setdefault(r.parent, r.parent_key) != r.parent_key:
            raise invalid_request(f"table '{r.parent}' has one primary key, '{keys[r.parent]}', but "
                                  f"relationships[{i}].parent_key names '{r.parent_key}'",
                                  f"relationships[{i}].parent_key")
    seen: dict[tuple[str, str], int] = {}
    for i, r in enumerate(rels):
        if (r.child, r.child_key) in seen:
            raise invalid_request(f"{r.child}.{r.child_key} is the foreign key of relationships"
                                  f"[{seen[(r.child, r.child_key)]}] already", f"relationships[{i}].child_key")
        seen[(r.child, r.child_key)] = i
        if keys.get(r.child) == r.child_key:
            raise invalid_request(f"{r.child}.{r.child_key} is that table's primary key and cannot also be "
                                  "its foreign key here; give the child its own key column",
                                  f"relationships[{i}].child_key")
    return keys


def _check_cycles(schema: Schema) -> None:
    """Relationships must form a DAG (a parent is generated before its children)."""
    try:
        schema.order()
    except CycleError as exc:
        cycle = exc.args[1] if len(exc.args) > 1 else []
        path = " -> ".join(str(t) for t in cycle)  # each node is a parent of the next
        raise invalid_request(f"relationships form a cycle ({path}); a parent must be generated before its "
                              "children", "relationships")


def check_method(schema: Schema, model_key: str, requested: str = "auto") -> None:
    """`method` must be known, and `hma` possible for this schema and algorithm (400 otherwise)."""
    if requested not in METHODS:
        raise invalid_request(f"method must be one of {', '.join(METHODS)}, got {requested!r}", "method")
    why_not = hma_unfit(schema, model_key)
    if requested == "hma" and why_not:
        raise InferloopError("INVALID_REQUEST", f"method 'hma' cannot run this request: {why_not}; "
                             "use method 'parent_first' or 'auto'", "method")


def hma_unfit(schema: Schema, model_key: str) -> str | None:
    """Why SDV's HMA cannot model this schema with this algorithm (None when it can)."""
    related = schema.related
    if not related:
        return "there are no relationships"
    if model_key != HMA_MODEL_KEY:
        return f"HMA models tables with a Gaussian copula only, not {model_key}"
    if len(related) > HMA_MAX_TABLES:
        return f"{len(related)} related tables (HMA takes at most {HMA_MAX_TABLES})"
    depth = schema.depth()
    if depth > HMA_MAX_DEPTH:
        return f"the longest parent -> child chain has {depth} tables (HMA takes at most {HMA_MAX_DEPTH})"
    return None
