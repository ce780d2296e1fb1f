"""How well generated related tables keep the real ones' statistics: sdmetrics' multi-table QualityReport.

Its four properties: column shapes (each column's distribution), column pair trends (pairs within a table),
cardinality (children per parent row) and intertable trends (a parent column against a child column, over the
rows joined by the foreign key: the measure of children being conditioned on their parents). `parent_child`
breaks intertable trends down per relationship. As in sdmetrics, trend averages count the column pairs whose
real association or correlation is strong enough to matter ("Meets Threshold?"). Tables that are no table's
parent and are longer than `max_rows` are compared on a random sample of that many rows (fixed seed).
"""

from __future__ import annotations

import math
import time
import warnings
from typing import Any

import pandas as pd

from tasks.tabular.multitable.metadata import sdv_metadata
from tasks.tabular.multitable.schema import Schema

MAX_ROWS = 50_000
PROPERTIES = {"Column Shapes": "column_shapes", "Column Pair Trends": "column_pair_trends",
              "Cardinality": "cardinality", "Intertable Trends": "intertable_trends"}


def quality_report(real: dict[str, pd.DataFrame], synthetic: dict[str, pd.DataFrame], schema: Schema,
                   max_rows: int = MAX_ROWS) -> dict[str, Any]:
    """Overall score, the four property scores and a parent-child column-pair score per relationship."""
    from sdmetrics.reports import QualityReport  # the unified report (its multi_table one is deprecated)

    started = time.perf_counter()
    leaves = {t for t in schema.tables if not schema.children_of(t)}  # sampling a parent would orphan rows
    real = {t: _sample(df, max_rows) if t in leaves else df for t, df in real.items()}
    synthetic = {t: _sample(df, max_rows) if t in leaves else df for t, df in synthetic.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        metadata = sdv_metadata(real, schema).to_dict()
        report = QualityReport()
        report.generate(real, synthetic, metadata, verbose=False)
        properties = report.get_properties().set_index("Property")["Score"]
        trends = report.get_details("Intertable Trends") if schema.relationships else pd.DataFrame()
    out: dict[str, Any] = {"score": _number(report.get_score())}
    out.update({key: _number(properties.get(name)) for name, key in PROPERTIES.items()})
    out["parent_child"] = [_pairs(trends, r.parent, r.child, r.child_key, r.label) for r in schema.relationships]
    out["seconds"] = round(time.perf_counter() - started, 3)
    return out


def _pairs(trends: pd.DataFrame, parent: str, child: str, key: str, label: str) -> dict[str, Any]:
    """Intertable trends of one relationship: mean score over its contributing (parent, child) column pairs."""
    if trends.empty:
        return {"relationship": label, "score": None, "pairs": 0}
    rows = trends[(trends["Parent Table"] == parent) & (trends["Child Table"] == child)
                  & (trends["Foreign Key"].astype(str) == key)]
    if "Meets Threshold?" in rows.columns:
        rows = rows[rows["Meets Threshold?"].astype("boolean").fillna(False)]
    scores = pd.to_numeric(rows["Score"], errors="coerce").dropna()
    return {"relationship": label, "score": _number(scores.mean()) if len(scores) else None,
            "pairs": int(len(scores))}


def _sample(df: pd.DataFrame, max_rows: int) -> pd.DataFrame:
    return df.sample(n=max_rows, random_state=0) if len(df) > max_rows else df


def _number(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else round(value, 4)
