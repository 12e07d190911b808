"""Charts that explain a model: global importance (permutation, SHAP), partial dependence, one row's
contributions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from studio.charts._style import BLUE, GREEN, GREY, RED
from studio.charts._style import LAYOUT as _LAYOUT
from studio.training.evaluation.explain import PartialDependence, RowExplanation
from studio.training.evaluation.importance import FeatureImportance

TOP = 20


def _bars(names: list[str], values: list[float], *, title: str, axis: str, errors: list[float] | None = None,
          color: str = BLUE) -> go.Figure:
    fig = go.Figure(go.Bar(x=values, y=names, orientation="h", marker_color=color,
                           error_x={"type": "data", "array": errors, "visible": errors is not None}))
    fig.update_layout(title=title, xaxis_title=axis, height=120 + 26 * len(names), **_LAYOUT)
    fig.update_yaxes(autorange="reversed")
    return fig


def permutation_bars(importance: Sequence[FeatureImportance], *, metric: str, top: int = TOP) -> go.Figure:
    """Features by how much the held-out metric worsens when each is shuffled (error bars: spread over
    shuffles)."""
    shown = list(importance)[:top]
    return _bars([f.feature for f in shown], [f.mean for f in shown], errors=[f.std for f in shown],
                 title="Permutation importance (held-out rows)", axis=f"loss of {metric} when shuffled")


def shap_bars(mean_abs: dict[str, float], *, top: int = TOP) -> go.Figure:
    ranked = sorted(mean_abs.items(), key=lambda kv: -kv[1])[:top]
    return _bars([k for k, _ in ranked], [v for _, v in ranked], title="SHAP importance (held-out rows)",
                 axis="mean |SHAP value|", color=GREEN)


def shap_beeswarm(shap: pd.DataFrame, features: pd.DataFrame, *, top: int = 12) -> go.Figure:
    """One dot per row and feature: its SHAP value, coloured by the feature's value (numbers only; high = red)."""
    columns = [c for c in shap.columns if c != "__row"]
    order = sorted(columns, key=lambda c: -shap[c].abs().mean())[:top]
    values = features.iloc[shap["__row"].to_numpy()] if "__row" in shap else features
    fig = go.Figure()
    rng = np.random.default_rng(0)
    for i, name in enumerate(order):
        raw = pd.to_numeric(values[name], errors="coerce") if name in values else pd.Series(np.nan, index=shap.index)
        scaled = (raw - raw.min()) / (raw.max() - raw.min()) if raw.notna().any() and raw.max() > raw.min() else raw * 0
        fig.add_trace(go.Scattergl(
            x=shap[name], y=i + rng.uniform(-0.25, 0.25, len(shap)), mode="markers", name=name, showlegend=False,
            marker={"size": 5, "color": scaled.fillna(0.5), "colorscale": [[0, BLUE], [1, RED]], "opacity": 0.7},
            text=[f"{name} = {v}" for v in values[name]] if name in values else None))
    fig.add_vline(x=0, line={"dash": "dot", "color": GREY})
    fig.update_layout(title="SHAP values per row (colour: feature value, blue low, red high)",
                      xaxis_title="SHAP value", height=140 + 34 * len(order), **_LAYOUT)
    fig.update_yaxes(tickvals=list(range(len(order))), ticktext=order, autorange="reversed")
    return fig


def pdp_chart(pd_: PartialDependence) -> go.Figure:
    fig = go.Figure()
    for name, values in pd_.curves.items():
        if pd_.kind == "numeric":
            fig.add_trace(go.Scatter(x=pd_.grid, y=values, mode="lines+markers", name=name))
        else:
            fig.add_trace(go.Bar(x=[str(g) for g in pd_.grid], y=values, name=name))
    fig.update_layout(title=f"Partial dependence on {pd_.feature} (average over {pd_.rows} rows)",
                      xaxis_title=pd_.feature, yaxis_title="model output", height=380, **_LAYOUT)
    return fig


def row_contributions(explanation: RowExplanation, *, top: int = 15) -> go.Figure:
    """The largest contributions to one row's prediction, positive (pushing up) in red, negative in blue."""
    ranked = sorted(explanation.contributions.items(), key=lambda kv: -abs(kv[1]))[:top]
    fig = go.Figure(go.Bar(x=[v for _, v in ranked], y=[k for k, _ in ranked], orientation="h",
                           marker_color=[RED if v > 0 else BLUE for _, v in ranked]))
    fig.update_layout(title=f"Why {explanation.output} = {explanation.value:.4g} for this row "
                            f"({'SHAP' if explanation.method == 'shap' else 'typical-value replacement'})",
                      xaxis_title="contribution", height=120 + 26 * len(ranked), **_LAYOUT)
    fig.update_yaxes(autorange="reversed")
    return fig
