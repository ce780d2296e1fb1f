"""Primary keys of generated tables: fresh unique values shaped like the originals, foreign keys remapped."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tasks.tabular.multitable.schema import Schema

_PREFIXED = re.compile(r"^(\D*)(\d+)$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@dataclass
class KeyFormat:
    """How a table's primary key values look: integers from `start`, prefix + digits, UUIDs or plain text."""

    kind: str             # integer, prefixed, uuid, text
    start: int = 1
    prefix: str = ""
    width: int = 0
    dtype: str = "int64"

    @classmethod
    def of(cls, keys: pd.Series, fallback_prefix: str) -> KeyFormat:
        """Learn the format from the original keys."""
        present = keys.dropna()
        if pd.api.types.is_numeric_dtype(keys) and not pd.api.types.is_bool_dtype(keys):
            start = int(present.min()) if len(present) else 1
            return cls("integer", start=start, dtype=str(keys.dtype) if pd.api.types.is_integer_dtype(keys)
                       else "int64")
        text = present.astype(str)
        if len(text) and text.map(lambda v: bool(_UUID.match(v))).all():
            return cls("uuid", dtype="object")
        parts = text.str.extract(_PREFIXED)
        if len(text) and parts[0].notna().all() and parts[0].nunique() == 1:
            digits = parts[1]
            return cls("prefixed", prefix=str(parts[0].iloc[0]), width=int(digits.str.len().max()),
                       start=int(digits.astype("int64").min()), dtype="object")
        return cls("prefixed", prefix=f"{fallback_prefix}_", width=0, start=1, dtype="object")

    def make(self, n: int, rng: np.random.Generator) -> pd.Series:
        """`n` distinct keys."""
        if self.kind == "integer":
            return pd.Series(np.arange(self.start, self.start + n, dtype="int64")).astype(self.dtype)
        if self.kind == "uuid":
            return pd.Series([str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in range(n)], dtype=object)
        numbers = range(self.start, self.start + n)
        return pd.Series([f"{self.prefix}{i:0{self.width}d}" for i in numbers], dtype=object)


def key_formats(frames: dict[str, pd.DataFrame], schema: Schema) -> dict[str, KeyFormat]:
    """The key format of every table that has a primary key."""
    return {t: KeyFormat.of(frames[t][c], c) for t, c in schema.primary_keys.items()}


def rekey(frames: dict[str, pd.DataFrame], schema: Schema, formats: dict[str, KeyFormat],
          seed: int | None = None) -> dict[str, pd.DataFrame]:
    """Give every primary key fresh values in its table's format and remap the foreign keys to them.

    The mapping is one-to-one per table, so whatever pointed at an existing parent row still does; a
    foreign key value with no parent row (none is produced, but the integrity check would see it) becomes
    empty rather than being given a parent it never had.
    """
    rng = np.random.default_rng(seed)
    out = {name: df.copy() for name, df in frames.items()}
    mappings: dict[str, dict] = {}
    for table, column in schema.primary_keys.items():
        old = out[table][column]
        new = formats[table].make(len(old), rng)
        mappings[table] = dict(zip(old.tolist(), new.tolist()))
        out[table][column] = new.values
    for r in schema.relationships:
        mapping = mappings[r.parent]
        fk = out[r.child][r.child_key]
        mapped = fk.map(lambda v, m=mapping: m.get(v) if pd.notna(v) else None)
        out[r.child][r.child_key] = _typed(mapped, formats[r.parent])
    return out


def _typed(values: pd.Series, fmt: KeyFormat) -> pd.Series:
    """Foreign key values in the parent key's dtype (nullable Int64 when some are empty)."""
    if fmt.kind != "integer":
        return values.astype(object)
    if values.isna().any():
        return values.astype("Int64")
    return values.astype(fmt.dtype)
