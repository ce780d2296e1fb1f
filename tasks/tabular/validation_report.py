"""The validation report: one self-contained HTML page (plotly.js inlined once, works offline).

Real-vs-synthetic plots per column (overlaid histograms for numeric and datetime columns, side-by-side
bars for categorical ones, string lengths for free text), every metric number, the per-column tests and
the Great Expectations results.
"""

from __future__ import annotations

import html
import json

import numpy as np
import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from inferloop.core import storage
from tasks.tabular.quality import (MAX_ROWS, NULL, NUMERIC_KINDS, OTHER, TOP_CATEGORIES, _labels, _numeric,
                                   column_kinds)

BINS = 30
REAL, SYN = "#1f77b4", "#ff7f0e"
STYLE = """body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #ccc;padding:.25rem .6rem;
text-align:left;font-size:.9rem}th{background:#f3f3f3}.ok{color:#087f23}.bad{color:#b00020}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:1rem}
.plot{border:1px solid #eee;padding:.3rem}.note{color:#666;font-size:.9rem}"""


def column_figure(name: str, kind: str, real: pd.Series, synthetic: pd.Series) -> str | None:
    """An HTML div with the plotly figure comparing one column (None for all-null columns)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    if kind in NUMERIC_KINDS or kind == "text":
        if kind == "text":
            r = real.dropna().map(lambda v: len(str(v))).astype(float)
            s = synthetic.dropna().map(lambda v: len(str(v))).astype(float)
            title = f"{html.escape(name)} (text length)"
        else:
            r, s, title = _numeric(real, kind).dropna(), _numeric(synthetic, kind).dropna(), html.escape(name)
        both = np.r_[r.to_numpy(), s.to_numpy()]
        if not len(both):
            return None
        edges = np.histogram_bin_edges(both, bins=BINS)
        centers = (edges[:-1] + edges[1:]) / 2
        x = pd.to_datetime(centers, unit="s") if kind == "datetime" else centers
        for label, values, color in (("real", r, REAL), ("synthetic", s, SYN)):
            counts, _ = np.histogram(values, bins=edges)
            share = counts / max(1, len(values))
            fig.add_bar(x=x, y=share, name=label, marker_color=color, opacity=0.6)
        fig.update_layout(barmode="overlay", bargap=0)
    elif kind == "categorical":
        rl, sl = _labels(real).fillna(NULL), _labels(synthetic).fillna(NULL)
        top = list(rl.value_counts().index[:TOP_CATEGORIES])
        rl, sl = rl.where(rl.isin(top), OTHER), sl.where(sl.isin(top), OTHER)
        cats = top + ([OTHER] if (rl == OTHER).any() or (sl == OTHER).any() else [])
        for label, values, color in (("real", rl, REAL), ("synthetic", sl, SYN)):
            share = values.value_counts(normalize=True).reindex(cats, fill_value=0.0)
            fig.add_bar(x=[str(c) for c in cats], y=share.to_numpy(), name=label, marker_color=color)
        fig.update_layout(barmode="group")
        title = html.escape(name)
    else:
        return None
    fig.update_layout(title=title, height=340, margin=dict(l=40, r=10, t=60, b=40), template="plotly_white",
                      yaxis_title="share of rows", legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"))
    return fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False})


def render_report(real: pd.DataFrame, synthetic: pd.DataFrame, result: dict, seed: int = 0) -> str:
    """The whole HTML page."""
    from plotly.offline import get_plotlyjs

    r = real.sample(n=MAX_ROWS, random_state=seed) if len(real) > MAX_ROWS else real
    s = synthetic.sample(n=MAX_ROWS, random_state=seed) if len(synthetic) > MAX_ROWS else synthetic
    kinds = column_kinds(real)
    metrics = result.get("metrics", {})
    parts = [f"<h1>Validation report</h1><p>Overall score: <b>{_fmt(result.get('overall_score'))}</b> "
             f"(mean of the scores of {', '.join(metrics) or 'no metrics'}). Original: {len(real):,} rows; "
             f"synthetic: {len(synthetic):,} rows; {real.shape[1]} columns.</p>"]
    parts.append("<h2>Metrics</h2>" + "".join(_section(k, v) for k, v in metrics.items()))
    stat = metrics.get("statistical_similarity")
    if stat:
        rows = [[c, d.get("kind"), d.get("test") or "—", d.get("statistic"), d.get("p_value"),
                 _verdict(d.get("passed")), d.get("skipped") or d.get("note") or ""]
                for c, d in stat["details"]["columns"].items()]
        parts.append(f"<h2>Per-column tests (alpha = {stat['details']['alpha']})</h2>"
                     + _table(["column", "kind", "test", "statistic", "p-value", "result", "note"], rows))
    exp = result.get("expectations")
    if exp:
        rows = [[e["column"] or "(table)", e["expectation"], _verdict(e["success"]),
                 _fmt(e.get("expected"))[:300], _fmt(e.get("observed_value"))[:200],
                 e.get("unexpected_count"), _fmt(e.get("unexpected_percent"))] for e in exp["results"]]
        parts.append(f"<h2>Great Expectations: {exp['successful']}/{exp['evaluated']} met "
                     f"({exp['success_percent']}%)</h2><p class=note>Suite derived from the original, run on the "
                     "synthetic data.</p>"
                     + _table(["column", "expectation", "result", "expected", "observed", "unexpected",
                               "unexpected %"], rows))
    figures = []
    for c, kind in kinds.items():
        div = column_figure(str(c), kind, r[c], s[c])
        figures.append(f"<div class=plot>{div}</div>" if div else
                       f"<div class=plot><h3>{html.escape(str(c))}</h3><p class=note>all values are null "
                       "in the original: nothing to plot</p></div>")
    parts.append("<h2>Real vs synthetic, per column</h2><p class=note>Share of rows per bin or category "
                 f"(up to {MAX_ROWS:,} sampled rows per side).</p><div class=grid>" + "".join(figures) + "</div>")
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>Validation report</title>"
            f"<style>{STYLE}</style><script type='text/javascript'>{get_plotlyjs()}</script></head><body>"
            + "".join(parts) + "</body></html>")


def _section(name: str, values: dict) -> str:
    flat = {k: v for k, v in values.items() if k != "details" and not isinstance(v, dict)}
    flat.update({f"details.{k}": v for k, v in values.get("details", {}).items() if k != "columns"})
    flat.update({f"{k}.{kk}": vv for k, v in values.items() if isinstance(v, dict) and k != "details"
                 for kk, vv in v.items()})
    return f"<h3>{html.escape(name)}</h3>" + _table(["measure", "value"], [[k, v] for k, v in flat.items()])


class _Html(str):
    """Markup of our own, inserted as is (everything else is escaped)."""


def _table(head: list[str], rows: list[list]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c if isinstance(c, _Html) else html.escape(_fmt(c))}</td>"
                                    for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def _verdict(passed: bool | None) -> str:
    if passed is None:
        return "—"
    return _Html("<span class=ok>passed</span>" if passed else "<span class=bad>failed</span>")


def _fmt(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, dict)):
        return json.dumps(v, default=str)
    return str(v)


@task(name="report", cache_policy=NO_CACHE, persist_result=False)
def write_report(uri: str, real: pd.DataFrame, synthetic: pd.DataFrame, result: dict) -> str:
    """Write report.html; returns its URI."""
    page = render_report(real, synthetic, result)
    with storage.open_uri(uri, "wb") as f:
        f.write(page.encode("utf-8"))
    return uri
