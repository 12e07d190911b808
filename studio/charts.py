"""Plotly figure builders: data in, go.Figure out. Pure functions, unit-tested, used by the pages."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from studio.data.profile import Distribution
from studio.tracking import RunSummary
from studio.training.search import TrialOutcome

_LAYOUT = {"template": "plotly_white", "margin": {"l": 40, "r": 20, "t": 40, "b": 40}}


def distribution_chart(dist: Distribution, *, height: int = 220) -> go.Figure:
    """A histogram (numeric columns) or a bar chart of the most frequent values (others)."""
    labels, counts = list(dist.labels), list(dist.counts)
    if dist.other_count:
        labels.append("(other)")
        counts.append(dist.other_count)
    fig = go.Figure(go.Bar(x=labels, y=counts, marker_color="#4C78A8"))
    fig.update_layout(title=dist.column, height=height, bargap=0.05 if dist.edges else 0.2, **_LAYOUT)
    fig.update_yaxes(title="rows")
    return fig


def optimization_history(trials: Sequence[TrialOutcome], *, maximize: bool, metric: str) -> go.Figure:
    """Each trial's score by algorithm, and the best score so far as a step line."""
    done = [t for t in trials if t.score is not None]
    fig = go.Figure()
    for algorithm in sorted({t.algorithm for t in done}):
        mine = [t for t in done if t.algorithm == algorithm]
        fig.add_trace(go.Scatter(x=[t.number for t in mine], y=[t.score for t in mine], mode="markers",
                                 name=algorithm, marker={"size": 8, "opacity": 0.8}))
    best: list[float] = []
    for t in sorted(done, key=lambda t: t.number):
        score = float(t.score)  # type: ignore[arg-type]
        best.append(score if not best else (max if maximize else min)(best[-1], score))
    fig.add_trace(go.Scatter(x=[t.number for t in sorted(done, key=lambda t: t.number)], y=best, mode="lines",
                             line={"shape": "hv", "color": "#E45756", "width": 2}, name="best so far"))
    fig.update_layout(title="Optimization history", xaxis_title="trial", yaxis_title=metric, height=360, **_LAYOUT)
    return fig


def metric_bars(runs: Sequence[RunSummary], *, metric: str) -> go.Figure:
    """Validation and test score of each run, side by side."""
    names = [r.name for r in runs]
    fig = go.Figure([
        go.Bar(name="validation (best trial)", x=names, y=[r.best_score for r in runs], marker_color="#4C78A8"),
        go.Bar(name="test (held out)", x=names, y=[r.test_score for r in runs], marker_color="#F58518"),
    ])
    fig.update_layout(title=f"{metric} by run", barmode="group", yaxis_title=metric, height=360, **_LAYOUT)
    return fig


def algorithm_bars(best: dict[str, float], *, metric: str, maximize: bool) -> go.Figure:
    """The best validation score each algorithm reached in one search, best first."""
    ranked = sorted(best.items(), key=lambda kv: kv[1], reverse=maximize)
    fig = go.Figure(go.Bar(x=[v for _, v in ranked], y=[k for k, _ in ranked], orientation="h",
                           marker_color="#54A24B", text=[f"{v:.4g}" for _, v in ranked], textposition="auto"))
    fig.update_layout(title=f"Best validation {metric} per algorithm", xaxis_title=metric, height=80 + 40 * len(best),
                      **_LAYOUT)
    fig.update_yaxes(autorange="reversed")
    return fig
