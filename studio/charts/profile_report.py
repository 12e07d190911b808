"""A dataset profile as one self-contained HTML page (tables and interactive charts, plotly.js inlined once)."""

from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go

from studio.charts.data import (
    association_heatmap,
    distribution_chart,
    missing_patterns_chart,
    outlier_boxes,
    target_relation_bars,
)
from studio.data.profile import Association, Profile

STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f4f6f8}td:first-child,th:first-child{text-align:left}.grid{display:flex;flex-wrap:wrap;gap:8px}
.grid>div{width:360px}"""


def column_table(profile: Profile) -> pd.DataFrame:
    """One row per column: kind, dtype, missing, distinct, and for numbers the spread and outlier counts."""
    numeric = {s.column: s for s in profile.numeric}
    rows = []
    for c in profile.columns:
        s = numeric.get(c.name)
        rows.append({"column": c.name, "type": c.kind.value, "dtype": c.dtype, "missing": c.n_missing,
                     "missing %": round(100 * c.n_missing / max(profile.n_rows, 1), 1), "distinct": c.n_distinct,
                     "mean": None if s is None else round(s.mean, 4), "std": None if s is None else round(s.std, 4),
                     "min": None if s is None else s.min, "max": None if s is None else s.max,
                     "IQR outliers": None if s is None else s.iqr_outliers,
                     "|z|>3": None if s is None else s.z_outliers})
    return pd.DataFrame(rows)


def profile_html(profile: Profile, *, name: str, target: str | None = None,
                 relations: list[Association] | None = None) -> str:
    figures: list[tuple[str, go.Figure]] = []
    if profile.numeric:
        figures.append(("Outliers", outlier_boxes(profile.numeric)))
    if profile.missing_patterns:
        figures.append(("Missing values", missing_patterns_chart(profile.missing_patterns,
                                                                 profile.sampled_rows or profile.n_rows)))
    if profile.associations:
        figures.append(("Associations", association_heatmap(profile.associations)))
    if target and relations:
        figures.append((f"Relation to {target}", target_relation_bars(relations, target)))
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>Profile of {html.escape(name)}</title>"
             f"<style>{STYLE}</style></head><body><h1>Profile of {html.escape(name)}</h1>",
             f"<p>{profile.n_rows:,} rows x {profile.n_cols} columns; {profile.total_missing:,} missing values; "
             f"{profile.duplicate_rows:,} duplicate rows"
             + (f" (statistics on a random sample of {profile.sampled_rows:,} rows)" if profile.sampled_rows else "")
             + ".</p><h2>Columns</h2>", column_table(profile).to_html(index=False, na_rep="")]
    include = True  # plotly.js once, in the first chart
    for title, fig in figures:
        parts.append(f"<h2>{html.escape(title)}</h2>")
        parts.append(fig.to_html(full_html=False, include_plotlyjs=include))
        include = False
    parts.append("<h2>Distributions</h2><div class='grid'>")
    for dist in profile.distributions:
        parts.append("<div>" + distribution_chart(dist).to_html(full_html=False, include_plotlyjs=include) + "</div>")
        include = False
    parts.append("</div></body></html>")
    return "".join(parts)
