"""Charts of a dataset's profile."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from studio.charts._style import BLUE, ORANGE, RED
from studio.charts._style import LAYOUT as _LAYOUT
from studio.data.profile import Association, Distribution, MissingPattern, NumericSummary


def distribution_chart(dist: Distribution, *, height: int = 220) -> go.Figure:
    """A histogram (numeric columns) or a bar chart of the most frequent values (others)."""
    labels, counts = list(dist.labels), list(dist.counts)
    if dist.other_count:
        labels.append("(other)")
        counts.append(dist.other_count)
    fig = go.Figure(go.Bar(x=labels, y=counts, marker_color=BLUE))
    fig.update_layout(title=dist.column, height=height, bargap=0.05 if dist.edges else 0.2, **_LAYOUT)
    fig.update_yaxes(title="rows")
    return fig


def association_heatmap(associations: list[Association], *, height: int = 420) -> go.Figure:
    """Pairwise association of the columns (0..1: |r|, correlation ratio or Cramér's V) as a symmetric heat-map."""
    names = list(dict.fromkeys([a.a for a in associations] + [a.b for a in associations]))
    index = {n: i for i, n in enumerate(names)}
    matrix = np.eye(len(names))
    text = [["" for _ in names] for _ in names]
    for a in associations:
        i, j = index[a.a], index[a.b]
        matrix[i, j] = matrix[j, i] = a.value
        text[i][j] = text[j][i] = f"{a.value:.2f} ({_METHOD[a.method]})"
    fig = go.Figure(go.Heatmap(z=matrix, x=names, y=names, zmin=0, zmax=1, colorscale="Blues", text=text,
                               hovertemplate="%{y} × %{x}: %{text}<extra></extra>"))
    fig.update_layout(title="Association between columns", height=height, **_LAYOUT)
    fig.update_yaxes(autorange="reversed")
    return fig


def missing_patterns_chart(patterns: list[MissingPattern], n_rows: int, *, height: int = 300) -> go.Figure:
    """How many rows miss each combination of columns, most common first."""
    labels = [" + ".join(p.columns) for p in patterns]
    fig = go.Figure(go.Bar(x=[p.rows for p in patterns], y=labels, orientation="h", marker_color=ORANGE,
                           text=[f"{p.rows / max(n_rows, 1):.1%}" for p in patterns], textposition="auto"))
    fig.update_layout(title="Columns missing together", height=height, **_LAYOUT)
    fig.update_xaxes(title="rows")
    fig.update_yaxes(autorange="reversed")
    return fig


def outlier_boxes(summaries: list[NumericSummary], *, height: int = 320) -> go.Figure:
    """One box per numeric column, scaled to its own IQR so columns of different units compare; the whiskers
    are the IQR fences, and the hover gives the real values and the outlier counts."""
    fig = go.Figure()
    for s in summaries:
        scale = (s.q3 - s.q1) or 1.0
        scaled = [(v - s.median) / scale for v in (s.min, s.iqr_low, s.q1, s.median, s.q3, s.iqr_high, s.max)]
        fig.add_trace(go.Box(
            name=s.column, x=[s.column], q1=[scaled[2]], median=[scaled[3]], q3=[scaled[4]],
            lowerfence=[max(scaled[1], scaled[0])], upperfence=[min(scaled[5], scaled[6])],
            marker_color=RED if s.iqr_outliers else BLUE, showlegend=False,
            hovertext=f"{s.column}: min {s.min:.4g}, Q1 {s.q1:.4g}, median {s.median:.4g}, Q3 {s.q3:.4g}, "
                      f"max {s.max:.4g}; {s.iqr_outliers} outside the IQR fences, {s.z_outliers} with |z| > 3"))
    fig.update_layout(title="Outliers (red: the column has some)", height=height, **_LAYOUT)
    fig.update_yaxes(title="(value - median) / IQR")
    return fig


def target_relation_bars(relations: list[Association], target: str, *, height: int = 320) -> go.Figure:
    """How strongly each column relates to the target, strongest first."""
    fig = go.Figure(go.Bar(x=[r.value for r in relations], y=[r.a for r in relations], orientation="h",
                           marker_color=BLUE, text=[_METHOD[r.method] for r in relations], textposition="auto"))
    fig.update_layout(title=f"Relation of each column to '{target}'", height=height, **_LAYOUT)
    fig.update_xaxes(title="association (0..1)", range=[0, 1])
    fig.update_yaxes(autorange="reversed")
    return fig


_METHOD = {"pearson": "|r|", "correlation_ratio": "eta", "cramers_v": "Cramér's V"}
