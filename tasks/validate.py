"""Validate task: score synthetic data against the real data with sdmetrics' QualityReport."""

from __future__ import annotations

import numpy as np
import pandas as pd
from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE


def quality_report(real: pd.DataFrame, synthetic: pd.DataFrame, max_rows: int = 20_000,
                   seed: int = 0) -> dict:
    """sdmetrics QualityReport (Column Shapes, Column Pair Trends) on up to max_rows rows of each."""
    from sdmetrics.reports.single_table import QualityReport
    from sdv.metadata import Metadata

    real_s = real.sample(n=min(len(real), max_rows), random_state=seed) if len(real) > max_rows else real
    syn_s = (synthetic.sample(n=min(len(synthetic), max_rows), random_state=seed)
             if len(synthetic) > max_rows else synthetic)
    real_s, syn_s = _plain_values(real_s), _plain_values(syn_s)
    md = Metadata.detect_from_dataframes(data={"table": real_s}, infer_keys=None)
    table_md = md.to_dict()["tables"]["table"]
    report = QualityReport()
    report.generate(real_s, syn_s, table_md, verbose=False)
    score = report.get_score()
    props = report.get_properties()
    properties = {str(r["Property"]): _finite(r["Score"]) for _, r in props.iterrows()}
    return {"score": _finite(score), "properties": properties}


def _plain_values(df: pd.DataFrame) -> pd.DataFrame:
    """numpy scalar strings break some sdmetrics queries (see notes); use plain Python values."""
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object:
            out[c] = out[c].map(lambda v: v.item() if isinstance(v, np.generic) else v)
    return out


def _finite(x) -> float | None:
    x = float(x)
    return round(x, 4) if np.isfinite(x) else None


@task(name="validate", cache_policy=NO_CACHE, persist_result=False)
def validate_quality(real: pd.DataFrame, synthetic: pd.DataFrame, max_rows: int = 20_000) -> dict:
    """Quality score, also published as a Prefect markdown artifact."""
    try:
        result = quality_report(real, synthetic, max_rows=max_rows)
    except Exception as exc:  # a report that cannot be computed must not lose the generated data
        print(f"quality report could not be computed: {exc!r}")
        result = {"score": None, "properties": {}, "error": str(exc)}
    lines = ["# Quality report", "", f"**Overall score:** {result['score']}", "",
             "| property | score |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in result["properties"].items()]
    if result.get("error"):
        lines += ["", f"Not computed: {result['error']}"]
    create_markdown_artifact("\n".join(lines), key="quality-report", description="sdmetrics QualityReport")
    return result
