"""Validate task: score synthetic data against the real data with sdmetrics' QualityReport."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import pandas as pd
from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE


def quality_report(real: pd.DataFrame, synthetic: pd.DataFrame, max_rows: int = 20_000,
                   seed: int = 0) -> dict:
    """sdmetrics QualityReport (Column Shapes, Column Pair Trends) on up to max_rows rows of each."""
    real_s = real.sample(n=min(len(real), max_rows), random_state=seed) if len(real) > max_rows else real
    syn_s = (synthetic.sample(n=min(len(synthetic), max_rows), random_state=seed)
             if len(synthetic) > max_rows else synthetic)
    real_s, syn_s = _plain_values(real_s), _plain_values(syn_s)
    if importlib.util.find_spec("sdv") is None:  # the ydata environment: no torch, so no SDV
        return _report_in_main_environment(real_s, syn_s)
    return _report(real_s, syn_s)


def _report(real_s: pd.DataFrame, syn_s: pd.DataFrame) -> dict:
    from sdmetrics.reports.single_table import QualityReport
    from sdv.metadata import Metadata

    md = Metadata.detect_from_dataframes(data={"table": real_s}, infer_keys=None)
    table_md = md.to_dict()["tables"]["table"]
    report = QualityReport()
    report.generate(real_s, syn_s, table_md, verbose=False)
    score = report.get_score()
    props = report.get_properties()
    properties = {str(r["Property"]): _finite(r["Score"]) for _, r in props.iterrows()}
    return {"score": _finite(score), "properties": properties}


def _report_in_main_environment(real_s: pd.DataFrame, syn_s: pd.DataFrame) -> dict:
    """The same report, computed by the main environment's interpreter (`python -m tasks.tabular.validate`).

    For flows running in the ydata environment (inferloop/runtime/ydata_env.py), so that a ydata run's quality score
    is the very score of the other algorithms (SDV's metadata detection, sdmetrics' QualityReport).
    """
    from inferloop.core.settings import PROJECT_DIR
    from inferloop.runtime.warm_launch import through_zygote
    from inferloop.runtime.ydata_env import MAIN_ZYGOTE_ENV, main_python

    python = main_python()
    if python is None:
        raise RuntimeError("the quality score needs the main environment (SDV, sdmetrics): set INFERLOOP_PYTHON "
                           "to its interpreter")
    with tempfile.TemporaryDirectory(prefix="inferloop-quality-") as tmp:
        paths = [os.path.join(tmp, "real.pkl"), os.path.join(tmp, "synthetic.pkl")]
        real_s.to_pickle(paths[0])
        syn_s.to_pickle(paths[1])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_DIR),
                                                                         os.environ.get("PYTHONPATH")]))}
        args = ["-m", "tasks.tabular.validate", *paths]
        main_zygote = os.environ.get(MAIN_ZYGOTE_ENV)
        if main_zygote:  # forked from the main zygote, SDV and sdmetrics imported: ~0.5 s instead of ~5 s
            args = through_zygote(args, env, main_zygote)
        r = subprocess.run([python, *args], capture_output=True, text=True, env=env,
                           cwd=str(PROJECT_DIR), timeout=1800, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise RuntimeError(f"{python} -m tasks.tabular.validate failed: {r.stderr.strip()[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


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


if __name__ == "__main__":  # python -m tasks.tabular.validate real.pkl synthetic.pkl: the report as one JSON line
    print(json.dumps(_report(pd.read_pickle(sys.argv[1]), pd.read_pickle(sys.argv[2]))))
