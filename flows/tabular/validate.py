"""Flow `validate`: load original + synthetic -> selected metrics -> Great Expectations -> report.html -> result.json.

overall_score is the mean of the scores of the selected metrics that could be computed
(statistical_similarity, ml_efficacy, privacy); a metric whose score is null (e.g. too few rows) is left out.
"""

from __future__ import annotations

import time

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import flow_run

from flows.outputs import run_outputs, write_result
from flows.progress import Progress
from inferloop.core.settings import get_settings
from tasks.tabular.expectations import check_expectations
from tasks.tabular.load import load_table
from tasks.tabular.quality import (check_inputs, compute_ml_efficacy, compute_privacy, compute_statistical,
                                   jsonable, parse_metrics)
from tasks.tabular.validation_report import write_report

SECTIONS = {"statistical": "statistical_similarity", "ml_efficacy": "ml_efficacy", "privacy": "privacy"}


@flow(name="validate", persist_result=True, log_prints=True)
def validate(original: str, synthetic: str, metrics: list[str] | None = None, target_column: str | None = None,
             quasi_identifiers: list[str] | None = None, original_format: str | None = None,
             synthetic_format: str | None = None, holdout: str | None = None,
             holdout_format: str | None = None) -> dict:
    """Score `synthetic` against `original` (paths or storage URIs); returns the validation result."""
    with run_outputs() as out:
        return _validate(out, original, synthetic, metrics, target_column, quasi_identifiers or None,
                         original_format, synthetic_format, holdout, holdout_format)


def _validate(out: str, original: str, synthetic: str, metrics: list[str] | None, target_column: str | None,
              quasi_identifiers: list[str] | None, original_format: str | None, synthetic_format: str | None,
              holdout: str | None, holdout_format: str | None) -> dict:
    settings = get_settings()
    started = time.perf_counter()
    progress = Progress("validate")
    selected = parse_metrics(metrics)
    real = load_table(original, original_format, max_rows=settings.max_rows)
    syn = load_table(synthetic, synthetic_format, max_rows=settings.max_rows)
    hold = load_table(holdout, holdout_format, max_rows=settings.max_rows) if holdout else None
    check_inputs(real, syn, selected, target_column, quasi_identifiers, hold)
    syn = syn[list(real.columns)]
    progress.set(10, f"loaded {len(real)} original and {len(syn)} synthetic rows", force=True)

    timings: dict[str, float] = {}
    results: dict[str, dict] = {}
    steps = {"statistical": lambda: compute_statistical(real, syn),
             "ml_efficacy": lambda: compute_ml_efficacy(real, syn, target_column),
             "privacy": lambda: compute_privacy(real, syn, quasi_identifiers, hold)}
    for i, name in enumerate(selected):
        t = time.perf_counter()
        results[SECTIONS[name]] = steps[name]()
        timings[name] = time.perf_counter() - t
        progress.set(10 + 60 * (i + 1) / len(selected), f"{name} done", force=True)

    t = time.perf_counter()
    expectations = check_expectations(real, syn)
    timings["expectations"] = time.perf_counter() - t
    progress.set(80, f"expectations: {expectations['success_percent']}% met", force=True)

    scores = [v["score"] for v in results.values() if v.get("score") is not None]
    result = jsonable({
        "flow_run_id": flow_run.id,
        "overall_score": round(sum(scores) / len(scores), 4) if scores else None,
        "metrics": results,
        "expectations": expectations,
        "selected_metrics": selected,
        "rows": {"original": len(real), "synthetic": len(syn), "holdout": len(hold) if hold is not None else None},
        "report_uri": f"{out}/report.html",
    })
    t = time.perf_counter()
    write_report(result["report_uri"], real, syn, result)
    timings["report"] = time.perf_counter() - t
    result["timings"] = {k: round(v, 3) for k, v in timings.items()}
    result["validation_time"] = round(time.perf_counter() - started, 3)
    _publish(result)
    # result.json is written last: its presence is what marks the outputs complete
    write_result(out, result)
    progress.set(100, "done", force=True)
    return result


def _publish(result: dict) -> None:
    """The scores as a Prefect markdown artifact (key validation-report)."""
    lines = ["# Validation report", "", f"**Overall score:** {result['overall_score']}", "",
             "| metric | score |", "|---|---|"]
    lines += [f"| {k} | {v.get('score')} |" for k, v in result["metrics"].items()]
    exp = result["expectations"]
    lines += ["", f"**Great Expectations:** {exp['successful']}/{exp['evaluated']} met ({exp['success_percent']}%)"]
    failed = [e for e in exp["results"] if not e["success"]]
    if failed:
        lines += ["", "| column | failed expectation | unexpected % |", "|---|---|---|"]
        lines += [f"| {str(e['column'] or '(table)').replace('|', '&#124;')} | {e['expectation']} | "
                  f"{e['unexpected_percent']} |" for e in failed[:50]]
    create_markdown_artifact("\n".join(lines), key="validation-report", description="Synthetic data validation")
