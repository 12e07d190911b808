"""Charts of runs and searches: the optimization history, per-algorithm bests, trial durations, and runs side by
side (scores with their spread over the validation folds)."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from studio.charts._style import BLUE, GREEN, ORANGE, RED
from studio.charts._style import LAYOUT as _LAYOUT
from studio.runs import RunSummary
from studio.training.search import TrialOutcome


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
                             line={"shape": "hv", "color": RED, "width": 2}, name="best so far"))
    fig.update_layout(title="Optimization history", xaxis_title="trial", yaxis_title=metric, height=360, **_LAYOUT)
    return fig


def metric_bars(runs: Sequence[RunSummary], *, metric: str) -> go.Figure:
    """Validation and test score of each run, side by side; the validation bar carries the standard deviation
    over the chosen model's validation folds as an error bar (runs validated on one holdout have none)."""
    names = [r.name for r in runs]
    spread = [r.validation_spread for r in runs]
    fig = go.Figure([
        go.Bar(name="validation (chosen model)", x=names, y=[r.validation_score for r in runs], marker_color=BLUE,
               error_y={"type": "data", "array": [s or 0.0 for s in spread], "visible": any(spread)}),
        go.Bar(name="test (held out)", x=names, y=[r.test_score for r in runs], marker_color=ORANGE),
    ])
    fig.update_layout(title=f"{metric} by run", barmode="group", yaxis_title=metric, height=360, **_LAYOUT)
    return fig


def algorithm_bars(best: dict[str, float], *, metric: str, maximize: bool) -> go.Figure:
    """The best validation score each algorithm reached in one search, best first."""
    ranked = sorted(best.items(), key=lambda kv: kv[1], reverse=maximize)
    fig = go.Figure(go.Bar(x=[v for _, v in ranked], y=[k for k, _ in ranked], orientation="h",
                           marker_color=GREEN, text=[f"{v:.4g}" for _, v in ranked], textposition="auto"))
    fig.update_layout(title=f"Best validation {metric} per algorithm", xaxis_title=metric, height=80 + 40 * len(best),
                      **_LAYOUT)
    fig.update_yaxes(autorange="reversed")
    return fig


def trial_durations(trials: Sequence[TrialOutcome]) -> go.Figure:
    """How long trials took, by algorithm (pruned and failed trials included: they cost time too)."""
    fig = go.Figure()
    for algorithm in sorted({t.algorithm for t in trials}):
        fig.add_trace(go.Histogram(x=[t.duration_s for t in trials if t.algorithm == algorithm], name=algorithm,
                                   opacity=0.75, nbinsx=30))
    fig.update_layout(title="Trial durations", barmode="overlay", xaxis_title="seconds", yaxis_title="trials",
                      height=320, **_LAYOUT)
    return fig
