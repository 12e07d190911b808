"""Charts of a model family (one model per partition): data in (the per-partition table), figure out."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from studio.charts._style import BLUE, GREY, LAYOUT, LEGEND_BELOW, ORANGE


def split_keys(table: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The per-partition table with one column per partition key ('north|17' -> store=north, item=17)."""
    parts = table["key"].str.split("|", n=len(columns) - 1, expand=True)
    parts.columns = columns
    return pd.concat([parts, table], axis=1)


def score_heatmap(table: pd.DataFrame, columns: list[str], *, rows: str, cols: str, metric: str,
                  greater_is_better: bool = True, height: int = 420) -> go.Figure:
    """The held-out metric of each partition's model over two partition keys (blank: no model); green is good
    whichever way the metric points."""
    frame = split_keys(table, columns)
    frame = frame[frame["status"] == "model"]
    grid = frame.pivot_table(index=rows, columns=cols, values="score", aggfunc="mean")
    hover = f"{rows} %{{y}} × {cols} %{{x}}: {metric} %{{z:.4g}}<extra></extra>"
    fig = go.Figure(go.Heatmap(z=grid.to_numpy(), x=[str(c) for c in grid.columns], y=[str(r) for r in grid.index],
                               colorscale="RdYlGn", reversescale=not greater_is_better, hovertemplate=hover))
    fig.update_layout(title=f"{metric} of each partition's model", height=height, **LAYOUT)
    fig.update_xaxes(title=cols, type="category")
    fig.update_yaxes(title=rows, type="category")
    return fig


def score_distribution(table: pd.DataFrame, metric: str, *, height: int = 320) -> go.Figure:
    """How the partitions' model scores spread, against their baselines'."""
    own = table[table["status"] == "model"]
    fig = go.Figure()
    fig.add_trace(go.Histogram(x=own["score"], name="partition model", marker_color=BLUE, opacity=0.75))
    fig.add_trace(go.Histogram(x=own["baseline"], name="baseline", marker_color=GREY, opacity=0.6))
    if "fallback_score" in own:
        fig.add_trace(go.Histogram(x=own["fallback_score"], name="fallback model", marker_color=ORANGE,
                                   opacity=0.5))
    fig.update_layout(title=f"{metric} over the partitions", barmode="overlay", height=height, **LAYOUT,
                      legend=LEGEND_BELOW)
    fig.update_xaxes(title=metric)
    fig.update_yaxes(title="partitions")
    return fig


def worst_partitions(table: pd.DataFrame, *, greater_is_better: bool, n: int = 20) -> pd.DataFrame:
    """The `n` partitions whose models score worst on their held-out rows, with their data size."""
    own = table[(table["status"] == "model") & table["score"].notna()]
    ranked = own.sort_values("score", ascending=greater_is_better).head(n)
    better = (ranked["score"] > ranked["baseline"]) if greater_is_better else (ranked["score"] < ranked["baseline"])
    return ranked.assign(beats_baseline=better)[["key", "score", "baseline", "fallback_score", "rows_train",
                                                 "rows_test", "algorithm", "beats_baseline"]]


def partition_sizes(sizes: pd.Series, min_rows: int, *, height: int = 260) -> go.Figure:
    """How many rows each partition has (log-scaled counts), with the minimum for a partition's own model."""
    fig = go.Figure(go.Histogram(x=sizes.to_numpy(), marker_color=BLUE, nbinsx=40))
    fig.add_vline(x=min_rows, line_dash="dash", line_color=ORANGE,
                  annotation_text=f"own model from {min_rows} rows", annotation_position="top right")
    fig.update_layout(title="Rows per partition", height=height, **LAYOUT)
    fig.update_xaxes(title="rows")
    fig.update_yaxes(title="partitions")
    return fig


def forecast_vs_actual(holdout: pd.DataFrame, time_column: str, *, title: str, height: int = 340) -> go.Figure:
    """One partition's held-out time steps: what happened against what the family forecast."""
    from studio.training.evaluation.holdout import ACTUAL, PREDICTED

    frame = holdout.assign(__time=pd.to_datetime(holdout[time_column], errors="coerce")).sort_values("__time")
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=frame["__time"], y=frame[ACTUAL], name="actual", mode="lines+markers",
                             line={"color": GREY}))
    fig.add_trace(go.Scatter(x=frame["__time"], y=frame[PREDICTED], name="forecast", mode="lines+markers",
                             line={"color": BLUE}))
    fig.update_layout(title=title, height=height, **LAYOUT, legend=LEGEND_BELOW)
    fig.update_xaxes(title=time_column)
    return fig
