"""Checks of the input tables against their schema: columns, key types, unique keys, one-to-one, orphans.

Every problem is a 400 in the documented envelope naming the request field at fault, raised before
training. Orphan foreign keys (values with no parent row) follow the request's `orphans` mode: `error` (the
default) refuses them with their counts; `drop` drops those rows, parents before children (so rows left
orphaned by a dropped parent row go too), counted as `orphans_dropped`; `null` keeps the rows with that
foreign key emptied, counted as `orphans_nulled` (the models learn such rows as rows without a parent).
"""

from __future__ import annotations

import pandas as pd

from inferloop.core.errors import InferloopError, invalid_request
from tasks.tabular.multitable.schema import Relationship, Schema

EXAMPLES = 5
ORPHAN_MODES = ("error", "drop", "null")


def orphan_mode(orphans: str | None, drop_orphans: bool | None = None) -> str:
    """The request's orphan mode: `orphans`, or the older `drop_orphans: true` (= drop); both must agree."""
    if orphans is not None and orphans not in ORPHAN_MODES:
        raise invalid_request(f"orphans must be one of {', '.join(ORPHAN_MODES)}, got {orphans!r}", "orphans")
    if drop_orphans and orphans not in (None, "drop"):
        raise invalid_request(f"drop_orphans: true contradicts orphans: {orphans!r}; give one of them", "orphans")
    return orphans or ("drop" if drop_orphans else "error")


def check_tables(frames: dict[str, pd.DataFrame], schema: Schema,
                 orphans: str = "error") -> tuple[dict[str, pd.DataFrame], dict[str, int]]:
    """Validate `frames` against `schema`; return (frames with aligned key types, orphan rows dropped or
    emptied per table, by the `orphans` mode)."""
    frames = {name: df.copy() for name, df in frames.items()}
    _check_columns(frames, schema)
    for table in schema.primary_keys:
        _check_unique_key(frames[table], table, schema)
    for i, r in enumerate(schema.relationships):
        frames[r.child][r.child_key] = align_key(frames[r.parent][r.parent_key], frames[r.child][r.child_key],
                                                 r, i)
    for i, r in enumerate(schema.relationships):
        if r.type == "one_to_one":
            _check_one_to_one(frames[r.child][r.child_key], r, i)
    return _orphans(frames, schema, orphan_mode(orphans))


def _check_columns(frames: dict[str, pd.DataFrame], schema: Schema) -> None:
    """Every key column named by the request exists in its table."""
    for i, r in enumerate(schema.relationships):
        for role, table, column in (("parent_key", r.parent, r.parent_key), ("child_key", r.child, r.child_key)):
            _require_column(frames[table], table, column, f"relationships[{i}].{role}")
    for table, column in schema.primary_keys.items():
        _require_column(frames[table], table, column, f"primary_keys.{table}")


def _require_column(df: pd.DataFrame, table: str, column: str, field: str) -> None:
    if column not in df.columns:
        shown = ", ".join(str(c) for c in list(df.columns)[:20])
        raise invalid_request(f"table '{table}' has no column '{column}' (its columns: {shown})", field)


def _key_field(table: str, schema: Schema) -> str:
    """The request field that made `table`'s key a primary key."""
    for i, r in schema.children_of(table):
        return f"relationships[{i}].parent_key"
    return f"primary_keys.{table}"


def _check_unique_key(df: pd.DataFrame, table: str, schema: Schema) -> None:
    """A primary key has a value in every row and no value twice."""
    column = schema.primary_keys[table]
    keys = df[column]
    field = _key_field(table, schema)
    nulls = int(keys.isna().sum())
    if nulls:
        raise InferloopError("CONSTRAINT_VIOLATION", f"primary key {table}.{column} is empty in {nulls} row(s)",
                             field, extra={"table": table, "column": column, "null_keys": nulls})
    counts = keys.value_counts()
    duplicated = counts[counts > 1]
    if len(duplicated):
        examples = [_plain(v) for v in duplicated.index[:EXAMPLES]]
        raise InferloopError("CONSTRAINT_VIOLATION", f"primary key {table}.{column} is not unique: "
                             f"{len(duplicated)} value(s) appear more than once (e.g. {examples})", field,
                             extra={"table": table, "column": column, "duplicate_keys": len(duplicated),
                                    "duplicate_rows": int(duplicated.sum() - len(duplicated)),
                                    "examples": examples})


def key_kind(values: pd.Series) -> str:
    """number, text or other (dates, booleans, ...)."""
    if pd.api.types.is_bool_dtype(values):
        return "other"
    if pd.api.types.is_numeric_dtype(values):
        return "number"
    if pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values):
        present = values.dropna()
        return "text" if present.map(lambda v: isinstance(v, str)).all() else "other"
    return "other"


def align_key(parent: pd.Series, child: pd.Series, r: Relationship, i: int) -> pd.Series:
    """The child's foreign key in the parent key's type; 400 when its values cannot match the parent's."""
    pk, fk = key_kind(parent), key_kind(child)
    if pk == fk or child.isna().all():
        return child
    present = child.notna()
    if pk == "number" and fk == "text":
        converted = pd.to_numeric(child.where(present), errors="coerce")
        failed = present & converted.isna()
    elif pk == "text" and fk == "number":
        converted = child.map(_as_text)
        failed = pd.Series(False, index=child.index)
    else:
        converted, failed = child, present
    matched = converted[present & ~failed].isin(set(parent.dropna()))
    if failed.any() or not matched.any():
        examples = [_plain(v) for v in child[present].unique()[:EXAMPLES]]
        raise InferloopError("INVALID_REQUEST", f"key types do not match in {r.label}: the parent key holds "
                             f"{_kind_name(parent)} but the child key holds {_kind_name(child)} "
                             f"(e.g. {examples}) that cannot match it", f"relationships[{i}].child_key",
                             extra={"parent_type": _kind_name(parent), "child_type": _kind_name(child),
                                    "examples": examples})
    if pk == "number" and not converted.isna().any() and pd.api.types.is_integer_dtype(parent):
        converted = converted.astype(parent.dtype)
    return converted


def _as_text(value):
    """A numeric key as the text it would be written as (2.0 -> '2')."""
    if value is None or pd.isna(value):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _kind_name(values: pd.Series) -> str:
    kind = key_kind(values)
    if kind == "number":
        return "integers" if pd.api.types.is_integer_dtype(values) or _integral(values) else "numbers"
    return {"text": "text", "other": str(values.dtype)}[kind]


def _integral(values: pd.Series) -> bool:
    present = values.dropna()
    return bool(len(present)) and bool((present == present.round()).all())


def _check_one_to_one(fk: pd.Series, r: Relationship, i: int) -> None:
    """In a one_to_one relationship no parent row has two children."""
    counts = fk.dropna().value_counts()
    several = counts[counts > 1]
    if len(several):
        raise InferloopError("CONSTRAINT_VIOLATION", f"{r.label} is one_to_one, but {len(several)} parent "
                             f"key(s) have several children (e.g. {[_plain(v) for v in several.index[:EXAMPLES]]})",
                             f"relationships[{i}].type",
                             extra={"parents_with_several_children": len(several)})


def orphan_mask(parent_keys: pd.Series, fk: pd.Series) -> pd.Series:
    """Rows whose foreign key has a value that no parent row has."""
    return fk.notna() & ~fk.isin(set(parent_keys.dropna()))


def _orphans(frames: dict[str, pd.DataFrame], schema: Schema,
             mode: str) -> tuple[dict[str, pd.DataFrame], dict[str, int]]:
    """Refuse orphan foreign keys with their counts, drop them parents-first, or empty them; count them."""
    if mode == "drop":
        return _drop_orphans(frames, schema)
    found = {}
    for i, r in enumerate(schema.relationships):
        bad = orphan_mask(frames[r.parent][r.parent_key], frames[r.child][r.child_key])
        if bad.any():
            found[i] = bad
    if mode == "null":
        nulled: dict[str, pd.Series] = {}
        for i, bad in found.items():
            r = schema.relationships[i]
            fk = frames[r.child][r.child_key]
            if pd.api.types.is_integer_dtype(fk) and not pd.api.types.is_extension_array_dtype(fk):
                fk = fk.astype("Int64")  # stays integer with empty values
            frames[r.child][r.child_key] = fk.mask(bad)
            nulled[r.child] = nulled[r.child] | bad if r.child in nulled else bad
        return frames, {table: int(rows.sum()) for table, rows in nulled.items()}
    if found:
        per_table: dict[str, int] = {}
        for i, bad in found.items():
            per_table[schema.relationships[i].child] = per_table.get(schema.relationships[i].child, 0) + int(bad.sum())
        detail = "; ".join(f"{schema.relationships[i].label}: {int(bad.sum())}" for i, bad in found.items())
        raise InferloopError("CONSTRAINT_VIOLATION", f"foreign keys with no parent row ({detail}); fix the "
                             "data, or set orphans: \"drop\" to drop those rows or orphans: \"null\" to keep "
                             "them with an empty key", f"relationships[{min(found)}].child_key",
                             extra={"orphans": per_table,
                                    "orphans_by_relationship": {schema.relationships[i].label: int(bad.sum())
                                                                for i, bad in found.items()}})
    return frames, {}


def _drop_orphans(frames: dict[str, pd.DataFrame], schema: Schema) -> tuple[dict[str, pd.DataFrame], dict[str, int]]:
    """Drop rows with an orphan foreign key, parents before children; rows per table dropped."""
    dropped: dict[str, int] = {}
    for table in schema.order():
        df = frames[table]
        bad = pd.Series(False, index=df.index)
        for _, r in schema.parents_of(table):
            bad |= orphan_mask(frames[r.parent][r.parent_key], df[r.child_key])
        if bad.any():
            dropped[table] = int(bad.sum())
            frames[table] = df[~bad].reset_index(drop=True)
            if frames[table].empty:
                raise InferloopError("INVALID_FILE", f"every row of table '{table}' is an orphan (its foreign "
                                     "keys match no parent row); nothing is left to learn from",
                                     f"tables.{table}", extra={"orphans_dropped": dropped})
    return frames, dropped


def _plain(value):
    """A JSON-friendly key value."""
    return value.item() if hasattr(value, "item") else value
