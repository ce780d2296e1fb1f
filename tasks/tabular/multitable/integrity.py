"""Relationship integrity measured on generated tables: keys unique, foreign keys resolve, one-to-one holds."""

from __future__ import annotations

from typing import Any

import pandas as pd

from tasks.tabular.multitable.schema import Schema


def integrity_report(frames: dict[str, pd.DataFrame], schema: Schema) -> dict[str, Any]:
    """Score = passing rows / checked rows over every check; valid = no check has a failing row.

    Checks: each primary key is present and unique in every row; each non-empty foreign key value is a
    key of its parent; in a one_to_one relationship no parent key is referenced twice.
    """
    checks = []
    for table, column in schema.primary_keys.items():
        keys = frames[table][column]
        bad = keys.isna() | keys.duplicated(keep=False)
        checks.append(_check("primary_key_unique", f"{table}.{column}", len(keys), int(bad.sum())))
    for r in schema.relationships:
        fk = frames[r.child][r.child_key]
        present = fk.dropna()
        parents = set(frames[r.parent][r.parent_key].dropna())
        checks.append(_check("foreign_key_exists", r.label, len(present), int((~present.isin(parents)).sum())))
        if r.type == "one_to_one":
            checks.append(_check("one_to_one", r.label, len(present), int(present.duplicated(keep=False).sum())))
    checked = sum(c["checked"] for c in checks)
    failed = sum(c["violations"] for c in checks)
    score = 1.0 if checked == 0 else round((checked - failed) / checked, 6)
    return {"score": score, "valid": failed == 0, "checks": checks}


def _check(kind: str, target: str, checked: int, violations: int) -> dict[str, Any]:
    return {"check": kind, "target": target, "checked": int(checked), "violations": int(violations),
            "score": 1.0 if checked == 0 else round((checked - violations) / checked, 6)}
