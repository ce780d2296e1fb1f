"""The profile's HTML report (plotly; self-contained, plotly.js inlined once) and its Prefect summary."""

from __future__ import annotations

import html
from datetime import UTC, datetime

import numpy as np
import polars as pl
from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from scipy import stats

from inferloop.core import storage

MAX_PLOTS = 50  # plots per section; the columns table always lists every column
TOP_BARS = 20  # bars per category chart
MAX_BINS = 50

_STYLE = """body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}
th,td{border:1px solid #ddd;padding:.3rem .6rem;text-align:left}th{background:#f4f4f4}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(500px,1fr));gap:1rem}
.warn{color:#a15c00}code{background:#f4f4f4;padding:0 .2rem}"""


def _e(value: object) -> str:
    """HTML-escaped text (also used for plotly labels, which render a subset of HTML)."""
    return html.escape(str(value))


def _details(col: dict) -> str:
    """One line of a column's main statistics."""
    kind = col["type"]
    if col["unique"] == 0:
        text = "no values"
    elif kind in ("numeric", "id") and "mean" in col:
        text = f"min {col['min']}, max {col['max']}, mean {col['mean']}, std {col['std']}"
    elif kind == "datetime":
        text = f"{col['min']} … {col['max']}"
    elif kind == "text":
        text = f"mean length {col.get('mean_length')}, top {col.get('top')!r} ({col.get('freq')})"
    elif kind in ("categorical", "boolean"):
        text = f"top {col.get('top')!r} ({col.get('freq')})"
    else:
        text = ""
    return text


def _distribution(col: dict) -> str:
    """The fitted distribution and its KS test, as text."""
    fit = col.get("distribution_fit")
    if not col.get("distribution"):
        return ""
    if not fit:
        return col["distribution"]
    return f"{col['distribution']} (KS {fit['statistic']}, p={fit['p_value']})"


def _histogram(name: str, values: np.ndarray, col: dict):
    """A histogram of a numeric column, with the fitted density over it."""
    import plotly.graph_objects as go

    values = values[np.isfinite(values)]
    edges = np.histogram_bin_edges(values, bins="auto")
    if len(edges) > MAX_BINS + 1:
        edges = np.histogram_bin_edges(values, bins=MAX_BINS)
    counts, edges = np.histogram(values, bins=edges)
    width = np.diff(edges)
    fig = go.Figure(go.Bar(x=(edges[:-1] + width / 2), y=counts, width=width, name="rows",
                           marker_color="#4c78a8"))
    fit = col.get("distribution_fit")
    if fit and len(values) > 1 and None not in fit["params"].values():
        grid = np.linspace(edges[0], edges[-1], 200)
        with np.errstate(all="ignore"):
            density = getattr(stats, fit["scipy_name"]).pdf(grid, *fit["params"].values())
        fig.add_trace(go.Scatter(x=grid, y=density * len(values) * float(np.mean(width)), mode="lines",
                                 name=_e(col["distribution"]), line={"color": "#e45756"}))
    return _layout(fig, f"{_e(name)}: {_e(_distribution(col) or 'no fit')}")


def _bars(name: str, s: pl.Series, col: dict):
    """A bar chart of a column's most frequent values."""
    import plotly.graph_objects as go

    counts = (s.drop_nulls().cast(pl.String).rename("value").value_counts(name="count")
              .sort(["count", "value"], descending=[True, False]).head(TOP_BARS))
    fig = go.Figure(go.Bar(x=[_e(v) for v in counts["value"].to_list()], y=counts["count"].to_list(),
                           marker_color="#72b7b2"))
    fig.update_xaxes(type="category")
    return _layout(fig, f"{_e(name)}: top {counts.height} of {col['unique']} values")


def _heatmap(title: str, matrix: dict):
    """A correlation heatmap (−1 … 1)."""
    import plotly.graph_objects as go

    names = list(matrix)
    z = [[matrix[a][b] for b in names] for a in names]
    labels = [_e(n) for n in names]
    fig = go.Figure(go.Heatmap(z=z, x=labels, y=labels, zmin=-1, zmax=1, colorscale="RdBu_r",
                               texttemplate="%{z:.2f}" if len(names) <= 15 else None))
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, title, height=max(350, 22 * len(names) + 150))


def _layout(fig, title: str, height: int = 320):
    fig.update_layout(title=title, height=height, margin={"l": 40, "r": 20, "t": 50, "b": 40},
                      showlegend=False, template="plotly_white")
    return fig


def _figure_html(make, *args) -> str:
    """One plot as an HTML fragment; a plot that cannot be drawn is named, never fatal to the report."""
    try:
        fig = make(*args)
    except Exception as exc:
        return f"<p class=warn>{_e(args[0])}: plot unavailable ({_e(type(exc).__name__)}: {_e(exc)})</p>"
    return fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False})


def _columns_table(columns: dict) -> str:
    """Every column with its type, counts, statistics and fitted distribution."""
    head = "".join(f"<th>{h}</th>" for h in ("column", "type", "dtype", "missing", "unique", "statistics",
                                              "distribution"))
    rows = "".join("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in (
        n, c["type"], c["dtype"], c["missing"], c["unique"], _details(c), _distribution(c))) + "</tr>"
        for n, c in columns.items())
    return f"<h2>Columns</h2><table><tr>{head}</tr>{rows}</table>"


def _section(title: str, fragments: list[str]) -> str:
    return f"<h2>{_e(title)}</h2><div class=grid>" + "".join(f"<div>{f}</div>" for f in fragments) + "</div>"


def render_report(profile: dict, pf: pl.DataFrame, title: str = "Data profile") -> str:
    """A self-contained HTML report: summary, columns table, histograms, bar charts, correlation heatmaps."""
    from plotly.offline import get_plotlyjs

    summary, columns = profile["summary"], profile["columns"]
    parts = [f"<h1>{_e(title)}</h1>", f"<p>Generated {datetime.now(UTC):%Y-%m-%d %H:%M UTC}.</p>",
             "<h2>Summary</h2><table>" + "".join(
                 f"<tr><th>{_e(k.replace('_', ' '))}</th><td>{_e(v)}</td></tr>" for k, v in summary.items())
             + "</table>"]
    if profile.get("warnings"):
        parts.append("<ul class=warn>" + "".join(f"<li>{_e(w)}</li>" for w in profile["warnings"]) + "</ul>")
    parts.append(_columns_table(columns))
    numeric = [n for n, c in columns.items() if c["type"] == "numeric" and c["unique"] > 0][:MAX_PLOTS]
    if numeric:
        parts.append(_section("Distributions of numeric columns", [
            _figure_html(_histogram, n, pf.get_column(n).drop_nulls().cast(pl.Float64).to_numpy(), columns[n])
            for n in numeric]))
    categorical = [n for n, c in columns.items()
                   if c["type"] in ("categorical", "boolean") and c["unique"] > 0][:MAX_PLOTS]
    if categorical:
        parts.append(_section("Categories", [_figure_html(_bars, n, pf.get_column(n), columns[n])
                                             for n in categorical]))
    for label, matrix in profile.get("correlations", {}).items():
        if len(matrix) >= 2:
            parts.append(f"<h2>Correlations ({_e(label)})</h2>"
                         + _figure_html(_heatmap, f"{label.capitalize()} correlation", matrix))
    return ("<!DOCTYPE html><html><head><meta charset=utf-8>"
            f"<title>{_e(title)}</title><style>{_STYLE}</style>"
            f"<script type=\"text/javascript\">{get_plotlyjs()}</script></head><body>"
            + "\n".join(parts) + "</body></html>")


def markdown_summary(profile: dict, report_uri: str, max_columns: int = 100) -> str:
    """The profile as markdown for the Prefect UI: summary, then one row per column."""
    s = profile["summary"]
    lines = ["# Data profile", "",
             f"**{s['rows']:,} rows × {s['columns']} columns**, {s['missing_values']:,} missing values, "
             f"{s['duplicate_rows']:,} duplicate rows, {s['memory_usage']} in memory"
             + (f" (a sample of {s['total_rows']:,} rows)" if s.get("sampled") else "") + ".", ""]
    lines += [f"- {w}" for w in profile.get("warnings", [])]
    lines += ["", "| column | type | dtype | missing | unique | statistics | distribution |",
              "|---|---|---|---|---|---|---|"]
    def cell(v: object) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    for name, c in list(profile["columns"].items())[:max_columns]:
        lines.append(f"| {cell(name)} | {c['type']} | {cell(c['dtype'])} | {c['missing']} | {c['unique']} | "
                     f"{cell(_details(c))} | {cell(_distribution(c))} |")
    if len(profile["columns"]) > max_columns:
        lines.append(f"\n… and {len(profile['columns']) - max_columns} more columns.")
    lines += ["", f"Full report with plots: `{report_uri}`"]
    return "\n".join(lines)


@task(name="report", cache_policy=NO_CACHE, persist_result=False)
def write_report(profile: dict, pf: pl.DataFrame, uri: str, title: str = "Data profile") -> str:
    """Write report.html and publish the summary as the `profile-report` Prefect artifact; returns the URI."""
    with storage.open_uri(uri, "wb") as f:
        f.write(render_report(profile, pf, title).encode("utf-8"))
    create_markdown_artifact(markdown_summary(profile, uri), key="profile-report",
                             description="Data profile (summary and columns)")
    return uri
