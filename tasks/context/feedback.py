"""Feedback on a sample: keep, remove, add, retype and adjust fields, reject schemas — and say what changed.

`apply_feedback(spec, schema_feedback)` returns the new spec and the changes, per schema:
`kept` (fields left as they were), `removed`, `added`, `retyped` ({field: {from, to}}), `adjusted`
({field: {parameter: {from, to}}}: ranges, choices, required, ...), `rules_dropped` (rules whose fields went),
`not_present` (fields asked to be removed that the schema does not have: nothing to remove),
`already_present` (fields asked to be added that the schema has: their given type and parameters are applied
to the existing field, as an adjustment) and, for a rejected schema, `schema_removed`. The next sample or corpus is generated from the new spec
with the same seed, so unchanged fields keep their values and the changes are what differs.
"""

from __future__ import annotations

import copy
from typing import Any

from inferloop.core.errors import InferloopError
from tasks.context.fields import canonical_type, infer_field
from tasks.context.spec import (COMMON_PARAMS, TYPE_PARAMS, field_of, normalize_field, normalize_spec, owner_of,
                                schema_of)

FEEDBACK_TYPES = ("approve", "modify", "reject")
ADJUSTABLE = sorted({p for ps in TYPE_PARAMS.values() for p in ps} | {"type", "required", "null_rate", "unique",
                                                                      "description"})
RANGE_PARAMS = ("min", "max")


def invalid(message: str, field: str) -> InferloopError:
    return InferloopError("INVALID_REQUEST", message, field)


def apply_feedback(spec: dict, items: Any) -> tuple[dict, list[dict[str, Any]]]:
    """The spec with the feedback applied (400 naming the part at fault), and the changes per schema."""
    if items is None:
        return spec, []
    if not isinstance(items, list):
        raise invalid("schema_feedback must be a list", "schema_feedback")
    spec = copy.deepcopy(spec)
    changes: list[dict[str, Any]] = []
    rejected: list[str] = []
    for i, item in enumerate(items):
        where = f"schema_feedback[{i}]"
        if not isinstance(item, dict):
            raise invalid(f"{where} must be an object with schema_name", where)
        name = item.get("schema_name")
        s = schema_of(spec, name)
        if s is None:
            raise invalid(f"{where}.schema_name {name!r} is not a schema of this job "
                          f"({', '.join(x['name'] for x in spec['schemas'])})", f"{where}.schema_name")
        kind = item.get("feedback_type", "modify")
        if kind not in FEEDBACK_TYPES:
            raise invalid(f"{where}.feedback_type must be one of {', '.join(FEEDBACK_TYPES)}", f"{where}.feedback_type")
        before = {f["name"]: copy.deepcopy(f) for f in s["fields"]}
        change: dict[str, Any] = {"schema": name, "feedback_type": kind, "kept": [], "removed": [], "added": [],
                                  "retyped": {}, "adjusted": {}, "rules_dropped": [], "not_present": [],
                                  "already_present": []}
        if kind == "reject":
            rejected.append(name)
            change["schema_removed"] = True
            changes.append(change)
            continue
        if kind == "modify":
            for j, fname in enumerate(item.get("remove_fields") or []):
                _remove(spec, s, fname, f"{where}.remove_fields[{j}]", change)
            adjustments = item.get("field_adjustments") or {}
            if not isinstance(adjustments, dict):
                raise invalid(f"{where}.field_adjustments must be an object of field: {{parameter: value}}",
                              f"{where}.field_adjustments")
            for fname, adj in adjustments.items():
                _adjust(spec, s, fname, adj, f"{where}.field_adjustments.{fname}", change)
            for j, raw in enumerate(item.get("add_fields") or []):
                _add(spec, s, raw, f"{where}.add_fields[{j}]", change)
        after = {f["name"] for f in s["fields"]}
        change["kept"] = [n for n in before if n in after and n not in change["retyped"] and n not in change["adjusted"]]
        changes.append(change)
    if rejected:
        spec = _reject(spec, rejected)
    try:
        return normalize_spec(spec), changes
    except InferloopError as exc:
        raise invalid(f"the feedback leaves an invalid spec: {exc.message}", exc.field or "schema_feedback")


def _remove(spec: dict, s: dict, fname: Any, where: str, change: dict) -> None:
    if not isinstance(fname, str):
        raise invalid(f"{where} must be a field name", where)
    f = field_of(s, fname)
    if f is None:  # the schema already lacks it: what was asked holds (said in the changes)
        change["not_present"].append(fname)
        return
    if f.get("primary_key") or f.get("references"):
        raise invalid(f"{where}: '{fname}' is a key of '{s['name']}'; keys follow the schemas and relationships",
                      where)
    s["fields"].remove(f)
    change["removed"].append(fname)
    for other in spec["schemas"]:  # rules computed from the removed field go with it
        for g in other["fields"]:
            d, a = g.get("derived") or {}, g.get("after") or {}
            if (d.get("kind") == "product" and other is s and fname in d.get("fields", [])) or \
                    (d.get("kind") == "sum" and d.get("schema") == s["name"] and d.get("field") == fname) or \
                    (a and (a.get("schema") or other["name"]) == s["name"] and a.get("field") == fname):
                g.pop("derived" if d else "after")
                change["rules_dropped"].append(f"{other['name']}.{g['name']}")
    spec["constraints"] = [c for c in spec["constraints"] if not _mentions(c, s["name"], fname)]


def _mentions(c: dict, schema: str, field: str) -> bool:
    if c.get("schema") == schema and (c.get("field") == field or field in (c.get("fields") or [])
                                      or c.get("after") == field):
        return True
    if c.get("child") == schema and c.get("child_field") == field:
        return True
    return c.get("after") == f"{schema}.{field}"


def _adjust(spec: dict, s: dict, fname: str, adj: Any, where: str, change: dict) -> None:
    f = field_of(s, fname)
    if f is None:
        raise invalid(f"{where}: '{s['name']}' has no field {fname!r}", where)
    if not isinstance(adj, dict) or not adj:
        raise invalid(f"{where} must be an object of parameters ({', '.join(ADJUSTABLE)})", where)
    unknown = sorted(set(adj) - set(ADJUSTABLE))
    if unknown:
        raise invalid(f"{where}: unknown parameter(s) {', '.join(unknown)}; adjustable: {', '.join(ADJUSTABLE)}",
                      f"{where}.{unknown[0]}")
    if f.get("references"):
        raise invalid(f"{where}: '{fname}' is a foreign key; it follows its parent's key", where)
    if f.get("primary_key") and set(adj) - {"type"}:
        raise invalid(f"{where}: a primary key takes only a type (UUID or INTEGER)", where)
    if (f.get("derived") or f.get("after")) and set(adj) & {"min", "max", "distribution", "choices"}:
        raise invalid(f"{where}: '{fname}' is computed by a rule ({'derived' if f.get('derived') else 'after'}); "
                      "its values follow that rule", where)
    new = {**f, **adj}
    if "choices" in adj and "weights" not in adj:
        new.pop("weights", None)  # the old weights were for the old choices
    if "distribution" in adj and adj["distribution"] == "uniform":
        new.pop("mean", None)
        new.pop("std", None)
    if "type" in adj:
        t = canonical_type(adj["type"])
        if t is None:
            raise invalid(f"{where}.type {adj['type']!r} is not a known type", f"{where}.type")
        if t != f["type"]:
            # parameters of the old type do not carry over; the name's usual ones fill in for the new type
            kept = {k: v for k, v in new.items() if k in COMMON_PARAMS or k in adj}
            families = (("INTEGER", "FLOAT", "DECIMAL"), ("DATE", "DATETIME"))
            if any(f["type"] in fam and t in fam for fam in families):  # same kind of value: keep its range
                kept.update({k: new[k] for k in ("min", "max", "distribution", "mean", "std") if k in new})
            guess = infer_field(fname, type=t)
            new = {**{k: v for k, v in guess.items() if k in TYPE_PARAMS.get(t, ())}, **kept, "type": t}
            change["retyped"][fname] = {"from": f["type"], "to": t}
    checked = normalize_field(new, where)
    diffs = {k: {"from": f.get(k), "to": checked.get(k)} for k in sorted(set(f) | set(checked))
             if k != "type" and f.get(k) != checked.get(k) and (k in adj or k in RANGE_PARAMS or k == "required")}
    if diffs:
        change["adjusted"][fname] = diffs
    s["fields"][s["fields"].index(f)] = checked
    for c in spec["constraints"]:  # a stated range/choice rule now says what the feedback says
        if c.get("schema") == s["name"] and c.get("field") == fname:
            if c["type"] == "range" and set(adj) & set(RANGE_PARAMS):
                c.update(min=checked.get("min"), max=checked.get("max"), description=None)
            elif c["type"] == "one_of" and "choices" in adj:
                c.update(values=checked.get("choices"), description=None)
            elif c["type"] == "not_null" and adj.get("required") is False:
                c["drop"] = True
            elif c["type"] == "unique" and adj.get("unique") is False:
                c["drop"] = True
    spec["constraints"] = [{k: v for k, v in c.items() if v is not None} for c in spec["constraints"]
                           if not c.get("drop")]
    if checked["type"] not in ("INTEGER", "FLOAT", "DECIMAL", "DATE", "DATETIME"):
        spec["constraints"] = [c for c in spec["constraints"] if not (
            c.get("schema") == s["name"] and c.get("field") == fname and c["type"] in ("range", "positive"))]


def _add(spec: dict, s: dict, raw: Any, where: str, change: dict) -> None:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise invalid(f"{where} must be an object with a name (and a type)", where)
    if field_of(s, raw["name"]) is not None:  # it is there: what the entry gives is applied to it
        change["already_present"].append(raw["name"])
        given = {k: v for k, v in raw.items() if k != "name"}
        if given:
            _adjust(spec, s, raw["name"], given, where, change)
        return
    base = infer_field(raw["name"])
    if raw["name"] != base["name"]:
        base["name"] = raw["name"]
    t = canonical_type(raw.get("type")) if raw.get("type") is not None else base["type"]
    if t is None:
        raise invalid(f"{where}.type {raw.get('type')!r} is not a known type", f"{where}.type")
    if t != base["type"]:
        base = infer_field(raw["name"], type=t)
        base = {k: v for k, v in base.items() if k in COMMON_PARAMS or k in TYPE_PARAMS.get(t, ())}
        base["name"] = raw["name"]
    field = normalize_field({**base, **{k: v for k, v in raw.items() if k != "type"}, "type": t}, where)
    s["fields"].append(field)
    change["added"].append(field["name"])


def _reject(spec: dict, names: list[str]) -> dict:
    """The spec without the rejected schemas (a schema whose rows another kept schema owns cannot go)."""
    keep = [s["name"] for s in spec["schemas"] if s["name"] not in names]
    if not keep:
        raise invalid("every schema was rejected; nothing would be left to generate", "schema_feedback")
    for name in keep:
        owner = owner_of(spec, name)
        if owner and owner["parent"] in names:
            raise invalid(f"'{owner['parent']}' owns the rows of '{name}'; reject '{name}' too, or keep both",
                          "schema_feedback")
    from tasks.context.spec import select_schemas

    return select_schemas(spec, keep)[0]


def summary(changes: list[dict[str, Any]]) -> list[str]:
    """The changes as sentences (for messages and the CLI)."""
    out = []
    for c in changes:
        s = c["schema"]
        if c.get("schema_removed"):
            out.append(f"{s}: schema removed")
            continue
        out += [f"{s}.{f}: removed" for f in c["removed"]]
        out += [f"{s}.{f}: added" for f in c["added"]]
        out += [f"{s}.{f}: retyped {v['from']} -> {v['to']}" for f, v in c["retyped"].items()]
        for f, params in c["adjusted"].items():
            out += [f"{s}.{f}: {p} {v['from']} -> {v['to']}" for p, v in params.items()]
        out += [f"{s}: rule on {r} dropped (its field was removed)" for r in c["rules_dropped"]]
        out += [f"{s}.{f}: not present, nothing removed" for f in c.get("not_present", [])]
        out += [f"{s}.{f}: already present, kept" for f in c.get("already_present", [])
                if f not in c["retyped"] and f not in c["adjusted"]]
        if not any(c[k] for k in ("removed", "added", "retyped", "adjusted")):
            out.append(f"{s}: kept as it was ({c['feedback_type']})")
    return out
