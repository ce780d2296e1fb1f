"""Constraint sets as the API accepts them (range, relationship, unique, sum), parsed into normalised dicts.

Pure (no SDV): the API validates a set before storing it or starting a run; `tasks/tabular/constraints.py` turns the
normalised dicts into SDV constraint objects. Relationship expressions are parsed with sqlglot and must be
ONE comparison of a column with a column or a literal; nothing from a request is ever evaluated.
"""

from __future__ import annotations

import json
import math
import numbers
from typing import Any

import sqlglot
from sqlglot import exp

from inferloop.core.errors import InferloopError, invalid_request

KINDS: tuple[str, ...] = ("range", "relationship", "unique", "sum")
OPERATORS: tuple[str, ...] = (">", ">=", "<", "<=", "==", "!=")
MAX_CONSTRAINTS = 100
MAX_EXPRESSION = 500
_COMPARISONS: dict[type, str] = {exp.GT: ">", exp.GTE: ">=", exp.LT: "<", exp.LTE: "<=", exp.EQ: "==",
                                 exp.NEQ: "!="}
FLIPPED: dict[str, str] = {">": "<", ">=": "<=", "<": ">", "<=": ">=", "==": "==", "!=": "!="}
# keys each type accepts; relationship also accepts the keys its normalised form adds
_KEYS: dict[str, set[str]] = {
    "range": {"type", "column", "min", "max"},
    "relationship": {"type", "expression", "left", "op", "right", "value"},
    "unique": {"type", "columns"},
    "sum": {"type", "columns", "total"},
}


def parse_constraints(raw: Any) -> list[dict[str, Any]]:
    """The documented body ({"constraints": [...]}) or a bare list -> normalised dicts, or INVALID_REQUEST."""
    if isinstance(raw, dict):
        if "constraints" not in raw:
            raise invalid_request("expected an object with a 'constraints' list", "constraints")
        raw = raw["constraints"]
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise invalid_request("constraints must be a list of constraint objects", "constraints")
    if len(raw) > MAX_CONSTRAINTS:
        raise invalid_request(f"at most {MAX_CONSTRAINTS} constraints are allowed, got {len(raw)}",
                              "constraints")
    specs = [_parse_one(item, f"constraints[{i}]") for i, item in enumerate(raw)]
    transform_order(specs)  # sum constraints that cannot be chained are rejected here
    return specs


def _parse_one(item: Any, field: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise invalid_request(f"{field} must be an object with a 'type'", field)
    kind = item.get("type")
    if kind not in KINDS:
        raise invalid_request(f"{field}.type must be one of {', '.join(KINDS)}, got {kind!r}",
                              f"{field}.type")
    unknown = sorted(set(map(str, item)) - _KEYS[kind])
    if unknown:
        allowed = ", ".join(sorted(_KEYS[kind] - {"left", "op", "right", "value"}))
        raise invalid_request(f"{field}: unknown field '{unknown[0]}' for a {kind} constraint "
                              f"(allowed: {allowed})", f"{field}.{unknown[0]}")
    if kind == "range":
        return _range(item, field)
    if kind == "relationship":
        if "left" in item or "op" in item:  # the normalised form: checked field by field, never evaluated
            return _structured_relationship(item, field)
        return parse_expression(item.get("expression"), f"{field}.expression")
    if kind == "unique":
        return {"type": "unique", "columns": _columns(item, "columns", field, minimum=1)}
    columns = _columns(item, "columns", field, minimum=1)
    total = _name(item.get("total"), f"{field}.total")
    if total in columns:
        raise invalid_request(f"{field}: the total column '{total}' cannot also be one of the summed columns",
                              f"{field}.total")
    return {"type": "sum", "columns": columns, "total": total}


def _name(value: Any, field: str) -> str:
    """A column name: a non-empty string."""
    if not isinstance(value, str) or not value.strip():
        what = "missing" if value is None else f"{type(value).__name__} {value!r}"
        raise invalid_request(f"{field} must be a column name (a non-empty string), got {what}", field)
    return value


def _columns(item: dict[str, Any], key: str, field: str, minimum: int) -> list[str]:
    value = item.get(key)
    if not isinstance(value, list) or len(value) < minimum:
        raise invalid_request(f"{field}.{key} must be a list of at least {minimum} column name(s)",
                              f"{field}.{key}")
    names = [_name(v, f"{field}.{key}[{i}]") for i, v in enumerate(value)]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise invalid_request(f"{field}.{key} names '{repeated[0]}' more than once", f"{field}.{key}")
    return names


def _number(value: Any, field: str) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise invalid_request(f"{field} must be a finite number, got {value!r}", field)
    return value


def _range(item: dict[str, Any], field: str) -> dict[str, Any]:
    column = _name(item.get("column"), f"{field}.column")
    low, high = _number(item.get("min"), f"{field}.min"), _number(item.get("max"), f"{field}.max")
    if low is None and high is None:
        raise invalid_request(f"{field} needs 'min', 'max' or both", f"{field}.min")
    if low is not None and high is not None and low > high:
        raise invalid_request(f"{field}: min ({low}) is greater than max ({high})", f"{field}.min")
    return {"type": "range", "column": column, "min": low, "max": high}


# ---------------------------------------------------------------- relationship expressions


def parse_expression(expression: Any, field: str = "expression") -> dict[str, Any]:
    """'end_date >= start_date' or 'age >= 18' -> {type, expression, left, op, right | value}."""
    if not isinstance(expression, str) or not expression.strip():
        raise invalid_request(f"{field} must be a comparison such as 'end_date >= start_date'", field)
    if len(expression) > MAX_EXPRESSION:
        raise invalid_request(f"{field} is longer than {MAX_EXPRESSION} characters", field)
    try:
        statements = [s for s in sqlglot.parse(expression) if s is not None]
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError) as exc:
        raise _not_simple(expression, field, f"it does not parse ({str(exc).splitlines()[0]})") from None
    if len(statements) != 1:
        raise _not_simple(expression, field, "it holds more than one statement")
    tree = statements[0]
    op = _COMPARISONS.get(type(tree))
    if op is None:
        raise _not_simple(expression, field, f"it is {_what(tree)}, not a comparison")
    if any(node.comments for node in tree.walk()):
        raise _not_simple(expression, field, "comments are not allowed")
    left, right = _operand(tree.this, expression, field), _operand(tree.expression, expression, field)
    if "value" in left and "value" in right:
        raise _not_simple(expression, field, "it compares two constants; name at least one column")
    if "value" in left:
        left, right, op = right, left, FLIPPED[op]
    if right.get("column") == left["column"]:
        raise _not_simple(expression, field, "it compares a column with itself")
    return _relationship(left["column"], op, right)


def _relationship(left: str, op: str, right: dict[str, Any]) -> dict[str, Any]:
    """The normalised relationship: {type, expression, left, op, right | value}."""
    out: dict[str, Any] = {"left": left, "op": op}
    if "column" in right:
        out["right"] = right["column"]
    else:
        out["value"] = right["value"]
    return {"type": "relationship", "expression": describe_relationship(out), **out}


def _structured_relationship(item: dict[str, Any], field: str) -> dict[str, Any]:
    """{left, op, right | value} given directly (as parse_expression returns it)."""
    left = _name(item.get("left"), f"{field}.left")
    op = item.get("op")
    if op not in OPERATORS:
        raise invalid_request(f"{field}.op must be one of {', '.join(OPERATORS)}, got {op!r}", f"{field}.op")
    if ("right" in item) == ("value" in item):
        raise invalid_request(f"{field} needs exactly one of 'right' (a column) or 'value' (a constant)",
                              field)
    if "right" in item:
        right = {"column": _name(item["right"], f"{field}.right")}
        if right["column"] == left:
            raise invalid_request(f"{field} compares the column '{left}' with itself", f"{field}.right")
    else:
        value = item["value"]
        if not isinstance(value, (str, bool)) and _number(value, f"{field}.value") is None:
            raise invalid_request(f"{field}.value must be a string, number or boolean", f"{field}.value")
        right = {"value": value}
    return _relationship(left, op, right)


def _what(tree: exp.Expression) -> str:
    """What a parsed expression is, in words."""
    if isinstance(tree, (exp.Connector, exp.Not)):
        return "boolean logic"
    if isinstance(tree, exp.Func):
        return "a function call"
    if isinstance(tree, exp.Binary):
        return "arithmetic"
    if isinstance(tree, exp.Column):
        return "a bare column"
    return f"a {type(tree).__name__} expression"


def _operand(node: exp.Expression, expression: str, field: str) -> dict[str, Any]:
    """A plain column (no table) or a literal (number, string, boolean)."""
    if isinstance(node, exp.Column) and isinstance(node.this, exp.Identifier) and not node.table:
        return {"column": node.this.name}
    if isinstance(node, exp.Literal):
        return {"value": node.this if node.is_string else _literal_number(node.this)}
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string:
        return {"value": -_literal_number(node.this.this)}
    if isinstance(node, exp.Boolean):
        return {"value": bool(node.this)}
    raise _not_simple(expression, field, f"'{node.sql()}' is not a column name or a constant (functions, "
                                         "arithmetic, logic and subqueries are not allowed)")


def _literal_number(text: str) -> int | float:
    number = float(text)
    return int(text) if text.lstrip("-").isdigit() else number


def _not_simple(expression: str, field: str, reason: str) -> InferloopError:
    return invalid_request(f"{field} '{expression}' is not one simple comparison: {reason}. Write "
                           "'<column> <op> <column or constant>' with op one of "
                           f"{', '.join(OPERATORS)}, e.g. 'end_date >= start_date' or 'age >= 18'", field)


def describe_relationship(spec: dict[str, Any]) -> str:
    """The canonical text of a relationship: column names quoted when they need it, constants as SQL."""
    right = _quoted(spec["right"]) if "right" in spec else _constant(spec["value"])
    return f"{_quoted(spec['left'])} {spec['op']} {right}"


def _quoted(name: str) -> str:
    """The name as it reads back as the same column: bare when it can be, else double-quoted."""
    try:
        node = sqlglot.parse_one(name)
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError):
        node = None
    plain = isinstance(node, exp.Column) and not node.table and node.this.name == name and \
        not node.this.quoted and name.replace("_", "a").isalnum()
    return name if plain else '"' + name.replace('"', '""') + '"'


def _constant(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


# ---------------------------------------------------------------- helpers for callers


def transform_order(specs: list[dict[str, Any]]) -> list[int]:
    """Indexes of `specs` in the order their transforms run: the others first, then the sums, each sum
    before any sum whose total is one of its columns (its own total is dropped first, its columns later)."""
    sums = [i for i, s in enumerate(specs) if s["type"] == "sum"]
    totals: dict[str, int] = {}
    for i in sums:
        total = specs[i]["total"]
        if total in totals:
            raise invalid_request(f"constraints[{i}].total: '{total}' is already the total of "
                                  f"constraints[{totals[total]}]; a column can be the total of one sum only",
                                  f"constraints[{i}].total")
        totals[total] = i
    ordered, pending = [], list(sums)
    while pending:  # a sum is ready once no pending sum uses its total as a column
        ready = [i for i in pending if not any(specs[i]["total"] in specs[j]["columns"]
                                               for j in pending if j != i)]
        if not ready:
            raise invalid_request(f"constraints[{pending[0]}]: these sum constraints define each other's "
                                  "totals in a cycle", f"constraints[{pending[0]}]")
        ordered.append(ready[0])
        pending.remove(ready[0])
    return [i for i, s in enumerate(specs) if s["type"] != "sum"] + ordered


def derived_columns(specs: list[dict[str, Any]]) -> set[str]:
    """Columns computed from others (sum totals): conditions cannot fix them."""
    return {s["total"] for s in specs if s["type"] == "sum"}


def constraint_columns(spec: dict[str, Any]) -> list[str]:
    """The columns a normalised constraint names."""
    if spec["type"] == "range":
        return [spec["column"]]
    if spec["type"] == "relationship":
        return [spec["left"]] + ([spec["right"]] if "right" in spec else [])
    if spec["type"] == "sum":
        return [*spec["columns"], spec["total"]]
    return list(spec["columns"])


def describe(spec: dict[str, Any]) -> str:
    """A short human description of a normalised constraint."""
    if spec["type"] == "range":
        low, high = spec.get("min"), spec.get("max")
        if low is not None and high is not None:
            return f"range {low} <= {spec['column']} <= {high}"
        return f"range {spec['column']} >= {low}" if low is not None else f"range {spec['column']} <= {high}"
    if spec["type"] == "relationship":
        return f"relationship '{spec['expression']}'"
    if spec["type"] == "sum":
        return f"sum {' + '.join(spec['columns'])} = {spec['total']}"
    return f"unique ({', '.join(spec['columns'])})"


def check_columns_exist(specs: list[dict[str, Any]], column_names: list[str]) -> None:
    """CONSTRAINT_VIOLATION naming the first constraint that names a column the data does not have."""
    present = set(column_names)
    for i, spec in enumerate(specs):
        missing = [c for c in constraint_columns(spec) if c not in present]
        if missing:
            raise InferloopError("CONSTRAINT_VIOLATION", f"constraints[{i}] ({describe(spec)}) names column "
                                 f"'{missing[0]}', which the data does not have (columns: "
                                 f"{', '.join(column_names[:30])})", f"constraints[{i}]")


def load_constraint_file(raw: bytes | str, field: str = "constraints") -> list[dict[str, Any]]:
    """An uploaded constraints file (JSON: the documented body or a bare list) -> normalised dicts."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        parsed = json.loads(text) if text.strip() else None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InferloopError("INVALID_FILE", f"the constraints file is not valid JSON: {exc}",
                             field) from None
    if parsed is None:
        raise InferloopError("INVALID_FILE", "the constraints file is empty", field)
    if not isinstance(parsed, (dict, list)):
        raise InferloopError("INVALID_FILE", "the constraints file must hold an object with a 'constraints' "
                             "list, or a list", field)
    return parse_constraints(parsed)


def constraints_for(constraint_id: str, owner: str) -> list[dict[str, Any]]:
    """The normalised constraints of the owner's stored set (NOT_FOUND for unknown or others' sets)."""
    from inferloop.core import db

    stored = db.owned(db.ConstraintSet, constraint_id, owner, "constraint set")
    return parse_constraints(list(stored.constraints or []))


def inline_or_stored_constraints(inline: list | None, constraint_id: str | None,
                                 owner: str) -> list[dict[str, Any]] | None:
    """Constraints given inline or by a stored set's id (one way only), normalised; None if neither."""
    constraint_id = (constraint_id or "").strip() or None
    if inline is not None and constraint_id:
        raise invalid_request("give constraints one way: inline or by constraint_id, not both", "constraints")
    if constraint_id:
        return constraints_for(constraint_id, owner)
    return parse_constraints(inline) or None
