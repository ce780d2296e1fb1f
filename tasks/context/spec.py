"""The generation spec: schemas (fields), relationships and constraints, checked and made consistent.

A spec is plain JSON (it travels as a flow parameter and is kept on the job):

    {"domain": "retail", "locale": "en_US",
     "schemas": [{"name", "description", "volume", "primary_key", "fields": [field, ...]}],
     "relationships": [{"parent", "child", "parent_key", "child_key", "type": "one_to_many",
                        "role": "owner" | "lookup", "min_children", "max_children", "mean_children"}],
     "constraints": [{"type": "sum" | "product" | "date_order" | "range" | "one_of" | "unique" | "not_null"
                      | "positive", "schema", "field", ..., "description", "source"}]}

`normalize_spec` validates everything (400 naming the field at fault) and writes every constraint into the
fields it governs (`min`/`max`, `choices`, `unique`, `required`, `derived`, `after`), so generation builds
rows that satisfy them and validation checks the same field parameters on every row.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
from typing import Any

from inferloop.core.errors import InferloopError
from tasks.context.fields import FIELD_NAME, NUMERIC, TEMPORAL, TYPES, canonical_type, singular
from tasks.tabular.multitable.schema import TABLE_NAME, Schema, parse_schema

MAX_SCHEMAS = 20
MAX_FIELDS = 100
MAX_CHOICES = 1000
DISTRIBUTIONS = {"INTEGER": ("uniform", "normal", "poisson", "lognormal"),
                 "FLOAT": ("uniform", "normal", "lognormal"), "DECIMAL": ("uniform", "normal", "lognormal")}
CONSTRAINT_TYPES = ("sum", "product", "date_order", "range", "one_of", "unique", "not_null", "positive")
FAKER_POOLS = ("word", "job", "color_name", "catch_phrase", "bs", "url", "product_name", "company", "city",
               "street_name", "license_plate", "user_name", "domain_name", "sentence", "country", "state")
# parameters each type takes (beyond the common ones)
TYPE_PARAMS: dict[str, tuple[str, ...]] = {
    "INTEGER": ("min", "max", "distribution", "mean", "std", "choices", "weights"),
    "FLOAT": ("min", "max", "distribution", "mean", "std", "decimals"),
    "DECIMAL": ("min", "max", "distribution", "mean", "std", "decimals"),
    "BOOLEAN": ("probability",),
    "STRING": ("choices", "weights", "pattern", "faker"),
    "CATEGORY": ("choices", "weights"),
    "DATE": ("min", "max"),
    "DATETIME": ("min", "max"),
}
COMMON_PARAMS = ("name", "type", "required", "description", "primary_key", "references", "unique", "null_rate",
                 "derived", "after")
DEFAULT_RANGES: dict[str, tuple[Any, Any]] = {"INTEGER": (0, 1000), "FLOAT": (0.0, 1000.0),
                                              "DECIMAL": (1.0, 1000.0), "DATE": ("2022-01-01", "2024-12-31"),
                                              "DATETIME": ("2022-01-01", "2024-12-31")}
DEFAULT_NULL_RATE = 0.1


def invalid(message: str, field: str | None = None) -> InferloopError:
    return InferloopError("INVALID_REQUEST", message, field)


# --- fields ---------------------------------------------------------------------------------------------

def parse_date(value: Any, where: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        raise invalid(f"{where} must be a date (YYYY-MM-DD), got {value!r}", where)


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise invalid(f"{where} must be a finite number, got {value!r}", where)
    return value


def normalize_field(raw: Any, where: str) -> dict[str, Any]:
    """One field, checked: known type, parameters that type takes, consistent ranges and choices."""
    if not isinstance(raw, dict):
        raise invalid(f"{where} must be an object with at least name and type", where)
    name = raw.get("name")
    if not isinstance(name, str) or not FIELD_NAME.match(name):
        raise invalid(f"{where}.name must be 1-63 letters, digits or '_' starting with a letter or '_', "
                      f"got {name!r}", f"{where}.name")
    ftype = canonical_type(raw.get("type", "STRING"))
    if ftype is None:
        raise invalid(f"{where}.type {raw.get('type')!r} is not a known type; types are: {', '.join(TYPES)}",
                      f"{where}.type")
    allowed = set(COMMON_PARAMS) | set(TYPE_PARAMS.get(ftype, ()))
    out: dict[str, Any] = {k: copy.deepcopy(v) for k, v in raw.items() if k in allowed and v is not None}
    out["type"] = ftype
    out["required"] = bool(raw.get("required", True))
    for flag in ("primary_key", "unique"):
        if flag in out:
            out[flag] = bool(out[flag])
    if "choices" in out:
        _check_choices(out, ftype, where)
    if ftype in NUMERIC:
        _check_numeric(out, ftype, where)
    elif ftype in TEMPORAL:
        lo = parse_date(out.get("min", DEFAULT_RANGES[ftype][0]), f"{where}.min")
        hi = parse_date(out.get("max", DEFAULT_RANGES[ftype][1]), f"{where}.max")
        if lo > hi:
            raise invalid(f"{where}: min {lo} is after max {hi}", f"{where}.min")
        out["min"], out["max"] = lo.isoformat(), hi.isoformat()
    elif ftype == "BOOLEAN" and "probability" in out:
        p = _number(out["probability"], f"{where}.probability")
        if not 0 <= p <= 1:
            raise invalid(f"{where}.probability must be between 0 and 1", f"{where}.probability")
    if ftype == "STRING":
        if "pattern" in out and (not isinstance(out["pattern"], str) or not 0 < len(out["pattern"]) <= 100):
            raise invalid(f"{where}.pattern must be 1-100 characters ('#' a digit, '?' a letter)",
                          f"{where}.pattern")
        if "faker" in out and out["faker"] not in FAKER_POOLS:
            raise invalid(f"{where}.faker must be one of {', '.join(FAKER_POOLS)}", f"{where}.faker")
    if ftype == "CATEGORY" and "choices" not in out:
        raise invalid(f"{where}: a CATEGORY field needs choices", f"{where}.choices")
    if "null_rate" in out:
        rate = _number(out["null_rate"], f"{where}.null_rate")
        if not 0 <= rate < 1:
            raise invalid(f"{where}.null_rate must be at least 0 and below 1", f"{where}.null_rate")
    if out.get("primary_key"):
        out["required"] = True
    return out


def _check_choices(out: dict, ftype: str, where: str) -> None:
    choices = out["choices"]
    if not isinstance(choices, list) or not choices or len(choices) > MAX_CHOICES:
        raise invalid(f"{where}.choices must be a list of 1 to {MAX_CHOICES} values", f"{where}.choices")
    if ftype == "INTEGER":
        if not all(isinstance(c, int) and not isinstance(c, bool) for c in choices):
            raise invalid(f"{where}.choices of an INTEGER field must be whole numbers", f"{where}.choices")
    else:
        if not all(isinstance(c, (str, int, float)) and not isinstance(c, bool) for c in choices):
            raise invalid(f"{where}.choices must be text or numbers", f"{where}.choices")
        out["choices"] = [str(c) for c in choices]
    if len(set(out["choices"])) != len(out["choices"]):
        raise invalid(f"{where}.choices has a value twice", f"{where}.choices")
    weights = out.get("weights")
    if weights is not None:
        if (not isinstance(weights, list) or len(weights) != len(choices)
                or not all(isinstance(w, (int, float)) and not isinstance(w, bool) and w >= 0 for w in weights)
                or sum(weights) <= 0):
            raise invalid(f"{where}.weights must be {len(choices)} non-negative numbers (one per choice) with a "
                          "positive sum", f"{where}.weights")


def _check_numeric(out: dict, ftype: str, where: str) -> None:
    if "choices" in out:
        return
    lo_default, hi_default = DEFAULT_RANGES[ftype]
    lo = _number(out.get("min", lo_default), f"{where}.min")
    hi = _number(out.get("max", max(hi_default, lo)), f"{where}.max")
    if lo > hi:
        raise invalid(f"{where}: min {lo} is above max {hi}", f"{where}.min")
    if ftype == "INTEGER":
        lo, hi = math.ceil(lo), math.floor(hi)
        if lo > hi:
            raise invalid(f"{where}: no whole number lies between min and max", f"{where}.min")
    out["min"], out["max"] = lo, hi
    dist = out.get("distribution", "uniform")
    if dist not in DISTRIBUTIONS[ftype]:
        raise invalid(f"{where}.distribution must be one of {', '.join(DISTRIBUTIONS[ftype])}",
                      f"{where}.distribution")
    out["distribution"] = dist
    for k in ("mean", "std"):
        if k in out:
            _number(out[k], f"{where}.{k}")
    if ftype in ("DECIMAL", "FLOAT"):
        out.setdefault("decimals", 2)
    if "decimals" in out and (not isinstance(out["decimals"], int) or not 0 <= out["decimals"] <= 6):
        raise invalid(f"{where}.decimals must be a whole number from 0 to 6", f"{where}.decimals")


# --- the spec -------------------------------------------------------------------------------------------

def normalize_spec(raw: Any) -> dict[str, Any]:
    """The spec, checked and with its constraints written into the fields (400 INVALID_REQUEST otherwise)."""
    if not isinstance(raw, dict):
        raise invalid("spec must be an object with schemas", "spec")
    spec = {"domain": str(raw.get("domain") or "general"), "locale": str(raw.get("locale") or "en_US"),
            "schemas": [], "relationships": [], "constraints": []}
    schemas = raw.get("schemas")
    if not isinstance(schemas, list) or not schemas:
        raise invalid("the spec has no schemas", "schemas")
    if len(schemas) > MAX_SCHEMAS:
        raise invalid(f"at most {MAX_SCHEMAS} schemas", "schemas")
    seen: set[str] = set()
    for i, s in enumerate(schemas):
        entity = _normalize_schema(s, f"schemas[{i}]")
        if entity["name"] in seen:
            raise invalid(f"schema '{entity['name']}' appears twice", f"schemas[{i}].name")
        seen.add(entity["name"])
        spec["schemas"].append(entity)
    for i, r in enumerate(raw.get("relationships") or []):
        spec["relationships"].append(_normalize_relationship(spec, r, f"relationships[{i}]"))
    to_schema(spec, validate=True)
    for i, c in enumerate(raw.get("constraints") or []):
        spec["constraints"].append(apply_constraint(spec, c, f"constraints[{i}]"))
    _check_field_rules(spec)
    return spec


def _normalize_schema(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise invalid(f"{where} must be an object with name and fields", where)
    name = raw.get("name")
    if not isinstance(name, str) or not TABLE_NAME.match(name) or "-" in name:
        raise invalid(f"{where}.name must be 1-64 letters, digits or '_' starting with a letter or '_', "
                      f"got {name!r}", f"{where}.name")
    fields_raw = raw.get("fields")
    if not isinstance(fields_raw, list) or not fields_raw:
        raise invalid(f"{where}.fields must list at least one field", f"{where}.fields")
    if len(fields_raw) > MAX_FIELDS:
        raise invalid(f"{where} has more than {MAX_FIELDS} fields", f"{where}.fields")
    fields = [normalize_field(f, f"{where}.fields[{j}]") for j, f in enumerate(fields_raw)]
    names = [f["name"] for f in fields]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise invalid(f"{where} has two fields named '{dup}'", f"{where}.fields")
    pk = raw.get("primary_key") or next((f["name"] for f in fields if f.get("primary_key")), None)
    if pk is None:
        pk = "id" if "id" not in names else None
        if pk is None:
            raise invalid(f"{where}: field 'id' exists but is not marked primary_key", f"{where}.primary_key")
        fields.insert(0, {"name": "id", "type": "UUID", "required": True, "primary_key": True})
    pk_field = next((f for f in fields if f["name"] == pk), None)
    if pk_field is None:
        raise invalid(f"{where}.primary_key names '{pk}', which is not one of its fields", f"{where}.primary_key")
    if pk_field["type"] not in ("UUID", "INTEGER"):
        raise invalid(f"{where}: primary key '{pk}' must be UUID or INTEGER", f"{where}.primary_key")
    for f in fields:
        f.pop("primary_key", None)
    pk_field.update(primary_key=True, required=True, unique=True)
    for k in ("min", "max", "distribution", "choices", "weights", "mean", "std", "null_rate"):
        pk_field.pop(k, None)
    volume = raw.get("volume", 1000)
    if not isinstance(volume, (int, float)) or isinstance(volume, bool) or volume <= 0:
        raise invalid(f"{where}.volume must be a positive number", f"{where}.volume")
    return {"name": name, "description": str(raw.get("description") or ""), "volume": volume,
            "primary_key": pk, "fields": fields}


def schema_of(spec: dict, name: str) -> dict[str, Any] | None:
    return next((s for s in spec["schemas"] if s["name"] == name), None)


def field_of(schema: dict, name: str) -> dict[str, Any] | None:
    return next((f for f in schema["fields"] if f["name"] == name), None)


def pk_field(schema: dict) -> dict[str, Any]:
    return field_of(schema, schema["primary_key"])


def _normalize_relationship(spec: dict, raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise invalid(f"{where} must be an object with parent and child", where)
    parent, child = schema_of(spec, raw.get("parent")), schema_of(spec, raw.get("child"))
    for role, s in (("parent", parent), ("child", child)):
        if s is None:
            raise invalid(f"{where}.{role} names {raw.get(role)!r}, which is not a schema", f"{where}.{role}")
    role = raw.get("role", "owner")
    if role not in ("owner", "lookup"):
        raise invalid(f"{where}.role must be owner or lookup", f"{where}.role")
    child_key = raw.get("child_key") or f"{singular(parent['name'])}_id"
    if not isinstance(child_key, str) or not FIELD_NAME.match(child_key):
        raise invalid(f"{where}.child_key must be a field name", f"{where}.child_key")
    ptype = pk_field(parent)["type"]
    fk = field_of(child, child_key)
    if fk is None:
        at = 1 + sum(1 for f in child["fields"] if f.get("references"))
        child["fields"].insert(at, {"name": child_key, "type": ptype, "required": True})
        fk = child["fields"][at]
    elif fk.get("primary_key"):
        raise invalid(f"{where}.child_key '{child_key}' is the child's primary key", f"{where}.child_key")
    fk.update(type=ptype, required=True, references={"schema": parent["name"], "field": parent["primary_key"]})
    for k in ("min", "max", "distribution", "choices", "weights", "unique", "null_rate", "derived", "after"):
        fk.pop(k, None)
    rel = {"parent": parent["name"], "child": child["name"], "parent_key": parent["primary_key"],
           "child_key": child_key, "type": "one_to_many", "role": role}
    if role == "owner":
        lo = raw.get("min_children", 0)
        hi = raw.get("max_children")
        mean = raw.get("mean_children", 3.0)
        for k, v in (("min_children", lo), ("mean_children", mean)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                raise invalid(f"{where}.{k} must be a number of at least 0", f"{where}.{k}")
        if hi is not None and (isinstance(hi, bool) or not isinstance(hi, int) or hi < max(1, lo)):
            raise invalid(f"{where}.max_children must be a whole number of at least min_children (and 1)",
                          f"{where}.max_children")
        rel.update(min_children=int(lo), max_children=hi, mean_children=float(max(mean, lo)))
    return rel


def owner_of(spec: dict, child: str) -> dict[str, Any] | None:
    """The owner relationship of `child` (its rows belong to that parent's rows), if any."""
    return next((r for r in spec["relationships"] if r["child"] == child and r["role"] == "owner"), None)


def to_schema(spec: dict, validate: bool = False) -> Schema:
    """The multi-table schema (tables, relationships, keys) of tasks/multitable: order and integrity."""
    rels = [{k: r[k] for k in ("parent", "child", "parent_key", "child_key", "type")} for r in spec["relationships"]]
    keys = {s["name"]: s["primary_key"] for s in spec["schemas"]}
    schema = parse_schema([s["name"] for s in spec["schemas"]], rels, keys)
    if validate:
        owners: dict[str, int] = {}
        for i, r in enumerate(spec["relationships"]):
            if r["role"] == "owner":
                if r["child"] in owners:
                    raise invalid(f"schema '{r['child']}' has two owner relationships (relationships"
                                  f"[{owners[r['child']]}] and [{i}]); make one of them a lookup",
                                  f"relationships[{i}].role")
                owners[r["child"]] = i
    return schema


# --- constraints ----------------------------------------------------------------------------------------

def _target(spec: dict, c: dict, where: str, key: str = "field") -> tuple[dict, dict]:
    schema = schema_of(spec, c.get("schema"))
    if schema is None:
        raise invalid(f"{where}.schema names {c.get('schema')!r}, which is not a schema", f"{where}.schema")
    f = field_of(schema, c.get(key))
    if f is None:
        raise invalid(f"{where}.{key} names {c.get(key)!r}, which is not a field of '{schema['name']}'",
                      f"{where}.{key}")
    return schema, f


def _ref_field(spec: dict, schema: dict, ref: Any, where: str) -> tuple[str | None, dict]:
    """`field` of the same schema, or `parent.field` of its owner parent: (parent schema or None, field)."""
    if not isinstance(ref, str) or not ref:
        raise invalid(f"{where} must name a field ('field' or 'parent_schema.field')", where)
    if "." in ref:
        pname, fname = ref.split(".", 1)
        owner = owner_of(spec, schema["name"])
        if owner is None or owner["parent"] != pname:
            raise invalid(f"{where}: '{pname}' is not the owner parent of '{schema['name']}'", where)
        f = field_of(schema_of(spec, pname), fname)
        if f is None:
            raise invalid(f"{where}: '{pname}' has no field '{fname}'", where)
        return pname, f
    f = field_of(schema, ref)
    if f is None:
        raise invalid(f"{where}: '{schema['name']}' has no field '{ref}'", where)
    return None, f


def apply_constraint(spec: dict, raw: Any, where: str) -> dict[str, Any]:
    """Check one constraint and write it into the fields it governs; returns it normalised."""
    if not isinstance(raw, dict) or raw.get("type") not in CONSTRAINT_TYPES:
        raise invalid(f"{where}.type must be one of {', '.join(CONSTRAINT_TYPES)}", f"{where}.type")
    c = {k: copy.deepcopy(v) for k, v in raw.items()}
    kind = c["type"]
    schema, f = _target(spec, c, where)
    if f.get("primary_key") or f.get("references"):
        raise invalid(f"{where}: keys are generated by the platform and take no constraints", f"{where}.field")
    if kind == "range":
        _apply_range(f, c, where)
    elif kind == "positive":
        if f["type"] not in NUMERIC:
            raise invalid(f"{where}: '{f['name']}' is not numeric", f"{where}.field")
        floor = 1 if f["type"] == "INTEGER" else (0 if c.get("or_zero") else 10 ** -f.get("decimals", 2))
        f["min"] = max(f.get("min", floor), floor)
        f["max"] = max(f.get("max", floor), f["min"])
    elif kind == "one_of":
        values = c.get("values")
        if f["type"] not in ("STRING", "CATEGORY", "INTEGER"):
            raise invalid(f"{where}: one_of needs a STRING, CATEGORY or INTEGER field", f"{where}.field")
        checked = normalize_field({"name": f["name"], "type": f["type"], "choices": values}, where)
        f.update(choices=checked["choices"])
        f.pop("weights", None)
        f.pop("pattern", None)
        f.pop("faker", None)
        for k in ("min", "max", "distribution", "mean", "std"):
            f.pop(k, None)
        c["values"] = checked["choices"]
    elif kind == "unique":
        f["unique"] = True
    elif kind == "not_null":
        f["required"] = True
    elif kind == "product":
        factors = c.get("fields")
        if not isinstance(factors, list) or len(factors) != 2:
            raise invalid(f"{where}.fields must name the two factors", f"{where}.fields")
        for j, name in enumerate(factors):
            g = field_of(schema, name)
            if g is None or g["type"] not in NUMERIC or g.get("derived"):
                raise invalid(f"{where}.fields[{j}] must be a generated numeric field of '{schema['name']}'",
                              f"{where}.fields")
        if f["type"] not in ("DECIMAL", "FLOAT", "INTEGER"):
            raise invalid(f"{where}: '{f['name']}' is not numeric", f"{where}.field")
        f["derived"] = {"kind": "product", "fields": list(factors)}
    elif kind == "sum":
        child = schema_of(spec, c.get("child"))
        owner = owner_of(spec, c.get("child")) if child else None
        if child is None or owner is None or owner["parent"] != schema["name"]:
            raise invalid(f"{where}.child must be a schema owned by '{schema['name']}'", f"{where}.child")
        g = field_of(child, c.get("child_field"))
        if g is None or g["type"] not in NUMERIC:
            raise invalid(f"{where}.child_field must be a numeric field of '{child['name']}'", f"{where}.child_field")
        if f["type"] not in NUMERIC:
            raise invalid(f"{where}: '{f['name']}' is not numeric", f"{where}.field")
        f["derived"] = {"kind": "sum", "schema": child["name"], "field": g["name"]}
        if g["type"] != "INTEGER" and f["type"] == "INTEGER":
            f["type"] = g["type"]
    elif kind == "date_order":
        if f["type"] not in TEMPORAL:
            raise invalid(f"{where}: '{f['name']}' is not a date", f"{where}.field")
        parent, g = _ref_field(spec, schema, c.get("after"), f"{where}.after")
        if g["type"] not in TEMPORAL or g is f:
            raise invalid(f"{where}.after must name another date field", f"{where}.after")
        lo, hi = c.get("min_days", 1), c.get("max_days", 30)
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (lo, hi)) or lo > hi:
            raise invalid(f"{where}: min_days and max_days must be whole numbers with 0 <= min_days <= "
                          "max_days", f"{where}.min_days")
        or_equal = bool(c.get("or_equal", lo == 0))
        if lo == 0 and not or_equal:
            lo = 1
        f["after"] = {"schema": parent, "field": g["name"], "min_days": lo, "max_days": hi, "or_equal": or_equal}
        c.update(min_days=lo, max_days=hi, or_equal=or_equal)
    c.setdefault("description", describe(c))
    c.setdefault("source", "spec")
    return c


def _apply_range(f: dict, c: dict, where: str) -> None:
    if f["type"] in NUMERIC:
        lo = c.get("min", f.get("min"))
        hi = c.get("max", f.get("max"))
        checked = normalize_field({"name": f["name"], "type": f["type"], "min": lo, "max": hi,
                                   "decimals": f.get("decimals", 2)}, where)
        f["min"], f["max"] = checked["min"], checked["max"]
        if "mean" in f and not f["min"] <= f["mean"] <= f["max"]:
            f.pop("mean")
    elif f["type"] in TEMPORAL:
        checked = normalize_field({"name": f["name"], "type": f["type"], "min": c.get("min", f.get("min")),
                                   "max": c.get("max", f.get("max"))}, where)
        f["min"], f["max"] = checked["min"], checked["max"]
    else:
        raise invalid(f"{where}: a range needs a numeric or date field, '{f['name']}' is {f['type']}",
                      f"{where}.field")
    c["min"], c["max"] = f["min"], f["max"]


def describe(c: dict) -> str:
    """A constraint in words."""
    t, s, f = c["type"], c.get("schema"), c.get("field")
    if t == "sum":
        return f"{s}.{f} is the sum of {c.get('child')}.{c.get('child_field')} over its rows"
    if t == "product":
        a, b = (c.get("fields") or ["?", "?"])[:2]
        return f"{s}.{f} = {a} * {b}"
    if t == "date_order":
        return f"{s}.{f} is {'on or ' if c.get('or_equal') else ''}after {c.get('after')}"
    if t == "range":
        return f"{s}.{f} is between {c.get('min')} and {c.get('max')}"
    if t == "one_of":
        return f"{s}.{f} is one of {', '.join(map(str, c.get('values') or []))}"
    return f"{s}.{f} is {t.replace('_', ' ')}"


def _check_field_rules(spec: dict) -> None:
    """Derived and date rules must point at fields that still exist with the right types."""
    for i, s in enumerate(spec["schemas"]):
        for j, f in enumerate(s["fields"]):
            where = f"schemas[{i}].fields[{j}]"
            d = f.get("derived")
            if d:
                if d.get("kind") == "product":
                    for name in d.get("fields", []):
                        g = field_of(s, name)
                        if g is None or g["type"] not in NUMERIC:
                            raise invalid(f"{where}: '{f['name']}' is derived from '{name}', which is not a "
                                          "numeric field of the schema", f"{where}.derived")
                elif d.get("kind") == "sum":
                    child = schema_of(spec, d.get("schema"))
                    owner = owner_of(spec, d.get("schema")) if child else None
                    if (child is None or owner is None or owner["parent"] != s["name"]
                            or field_of(child, d.get("field")) is None):
                        raise invalid(f"{where}: '{f['name']}' sums a field of a schema '{s['name']}' does not own",
                                      f"{where}.derived")
                else:
                    raise invalid(f"{where}.derived.kind must be sum or product", f"{where}.derived")
            a = f.get("after")
            if a:
                base = s if not a.get("schema") else schema_of(spec, a["schema"])
                owner = owner_of(spec, s["name"])
                if (base is None or (a.get("schema") and (owner is None or owner["parent"] != a["schema"]))
                        or field_of(base, a.get("field")) is None):
                    raise invalid(f"{where}: '{f['name']}' must come after a date that no longer exists",
                                  f"{where}.after")


# --- views ----------------------------------------------------------------------------------------------

def public_schemas(spec: dict) -> list[dict[str, Any]]:
    """Schemas as the API shows them: name, description, primary key and fields with their parameters."""
    out = []
    for s in spec["schemas"]:
        fields = []
        for f in s["fields"]:
            fields.append({"name": f["name"], "type": f["type"], "required": f["required"],
                           **{k: v for k, v in f.items() if k not in ("name", "type", "required")}})
        out.append({"name": s["name"], "description": s["description"], "primary_key": s["primary_key"],
                    "fields": fields})
    return out


def select_schemas(spec: dict, names: list[str] | None, field: str = "schemas") -> tuple[dict, list[str]]:
    """Keep only the named schemas (plus the owner parents they need); returns (spec, warnings)."""
    if not names:
        return spec, []
    known = [s["name"] for s in spec["schemas"]]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise invalid(f"unknown schema(s) {', '.join(map(repr, unknown))}; this context proposes: "
                      f"{', '.join(known)}", field)
    keep = set(names)
    added = []
    frontier = list(names)
    while frontier:
        owner = owner_of(spec, frontier.pop())
        if owner and owner["parent"] not in keep:
            keep.add(owner["parent"])
            added.append(owner["parent"])
            frontier.append(owner["parent"])
    raw = copy.deepcopy(spec)
    raw["schemas"] = [s for s in raw["schemas"] if s["name"] in keep]
    raw["relationships"] = [r for r in raw["relationships"] if r["parent"] in keep and r["child"] in keep]
    dropped_fks = {(r["child"], r["child_key"]) for r in spec["relationships"]
                   if r["child"] in keep and r["parent"] not in keep}
    for s in raw["schemas"]:
        s["fields"] = [f for f in s["fields"] if (s["name"], f["name"]) not in dropped_fks]
    raw["constraints"] = [c for c in raw["constraints"] if c.get("schema") in keep
                          and c.get("child", c.get("schema")) in keep
                          and (c.get("schema"), c.get("field")) not in dropped_fks]
    _drop_dangling_rules(raw)
    warnings = [f"schema '{a}' was added: it owns rows of a schema you asked for" for a in added]
    return normalize_spec(raw), warnings


def _drop_dangling_rules(raw: dict) -> None:
    """Remove derived/after rules whose sources were removed with a schema."""
    names = {s["name"]: s for s in raw["schemas"]}
    for s in raw["schemas"]:
        for f in s["fields"]:
            d = f.get("derived")
            if d and d.get("kind") == "sum" and d.get("schema") not in names:
                f.pop("derived")
            a = f.get("after")
            if a and a.get("schema") and a["schema"] not in names:
                f.pop("after")
