"""Diagnostics of a model on its held-out rows: classification (confusion matrix, ROC, precision-recall,
calibration, cumulative gains and lift) and regression (residuals, predicted against actual), and the error by
segment of a chosen column. Several runs can be overlaid where the chart allows it."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from sklearn import metrics as skm

from studio.charts._style import GREY, LEGEND_BELOW
from studio.charts._style import LAYOUT as _LAYOUT
from studio.training.evaluation.holdout import Holdout

MAX_POINTS = 5_000  # scatter plots draw a seeded sample above this


def confusion_matrix(h: Holdout, *, normalize: bool = False) -> go.Figure:
    """Actual classes down, predicted across; counts, or each actual class's row normalised to shares."""
    labels = [h.label(i) for i in range(len(h.classes or []))]
    counts = skm.confusion_matrix(h.y, h.predicted, labels=list(range(len(labels))))
    shown = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1) if normalize else counts
    text = [[f"{v:.1%}" if normalize else f"{v:,}" for v in row] for row in shown]
    fig = go.Figure(go.Heatmap(z=shown, x=labels, y=labels, text=text, texttemplate="%{text}", colorscale="Blues",
                               showscale=False))
    fig.update_layout(title="Confusion matrix" + (" (share of each actual class)" if normalize else " (rows)"),
                      xaxis_title="predicted", yaxis_title="actual", height=360 + 12 * len(labels), **_LAYOUT)
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category")
    return fig


def _scores_for(h: Holdout, overlay: bool) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, is-positive, score) pairs to draw: the positive class of a binary model; for multiclass each
    class against the rest, or the micro-average when several runs are overlaid."""
    proba = h.proba
    if proba is None:
        raise ValueError("ROC, precision-recall and gains need a classification model")
    if len(proba[0]) == 2:
        return [("", h.y == 1, proba[:, 1])]
    onehot = np.eye(proba.shape[1], dtype=bool)[h.y.astype(int)]
    if overlay:
        return [(" (micro-average)", onehot.ravel(), proba.ravel())]
    return [(f" {h.label(i)}", onehot[:, i], proba[:, i]) for i in range(proba.shape[1])]


def roc_curves(holdouts: Mapping[str, Holdout]) -> go.Figure:
    """ROC curve per run (or per class of one multiclass run), AUC in the legend."""
    fig = go.Figure(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": GREY},
                               name="chance", hoverinfo="skip"))
    for name, h in holdouts.items():
        for suffix, positive, score in _scores_for(h, overlay=len(holdouts) > 1):
            fpr, tpr, _ = skm.roc_curve(positive, score)
            auc = skm.auc(fpr, tpr)
            fig.add_trace(go.Scatter(x=fpr, y=tpr, mode="lines", name=f"{name}{suffix} · AUC {auc:.3f}"))
    fig.update_layout(title="ROC curve", xaxis_title="false positive rate", yaxis_title="true positive rate",
                      height=400, legend=LEGEND_BELOW, **_LAYOUT)
    return fig


def pr_curves(holdouts: Mapping[str, Holdout]) -> go.Figure:
    """Precision-recall curve per run (or per class), average precision in the legend."""
    fig = go.Figure()
    for name, h in holdouts.items():
        for suffix, positive, score in _scores_for(h, overlay=len(holdouts) > 1):
            precision, recall, _ = skm.precision_recall_curve(positive, score)
            ap = skm.average_precision_score(positive, score)
            fig.add_trace(go.Scatter(x=recall, y=precision, mode="lines", name=f"{name}{suffix} · AP {ap:.3f}"))
    fig.update_layout(title="Precision-recall curve", xaxis_title="recall", yaxis_title="precision",
                      yaxis_range=[0, 1.02], height=400, legend=LEGEND_BELOW, **_LAYOUT)
    return fig


def calibration(h: Holdout, *, bins: int = 10) -> go.Figure:
    """Predicted probability against the observed frequency (binary: the positive class; multiclass: the
    confidence of the predicted class against how often it was right), marker size by rows."""
    proba = h.proba
    if proba is None:
        raise ValueError("calibration needs a classification model")
    if proba.shape[1] == 2:
        confidence, hit, what = proba[:, 1], h.y == 1, f"P({h.label(1)})"
    else:
        confidence, hit, what = proba.max(axis=1), h.predicted == h.y, "confidence of the predicted class"
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    frame = pd.DataFrame({"bin": which, "p": confidence, "hit": hit}).groupby("bin").agg(
        p=("p", "mean"), hit=("hit", "mean"), rows=("p", "size"))
    fig = go.Figure([
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": GREY}, name="perfect"),
        go.Scatter(x=frame["p"], y=frame["hit"], mode="lines+markers", name="model",
                   marker={"size": 6 + 18 * np.sqrt(frame["rows"] / frame["rows"].max())},
                   text=[f"{n:,} rows" for n in frame["rows"]]),
    ])
    fig.update_layout(title="Calibration", xaxis_title=f"predicted {what}", yaxis_title="observed frequency",
                      height=400, legend=LEGEND_BELOW, **_LAYOUT)
    return fig


def _ranked_hits(h: Holdout, cls: int) -> tuple[np.ndarray, np.ndarray]:
    proba = h.proba
    if proba is None:
        raise ValueError("gains and lift need a classification model")
    order = np.argsort(-proba[:, cls], kind="stable")
    hits = (h.y[order] == cls).astype(float)
    share = np.arange(1, len(hits) + 1) / len(hits)
    return share, np.cumsum(hits) / max(hits.sum(), 1.0)


def gains_chart(h: Holdout, *, cls: int = 1) -> go.Figure:
    """Cumulative gains: the share of one class found in the top x % of rows ranked by its probability."""
    share, found = _ranked_hits(h, cls)
    fig = go.Figure([
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": GREY}, name="random"),
        go.Scatter(x=share, y=found, mode="lines", name="model"),
    ])
    fig.update_layout(title=f"Cumulative gains · class {h.label(cls)}", xaxis_title="share of rows contacted",
                      yaxis_title=f"share of '{h.label(cls)}' found", height=380, legend=LEGEND_BELOW, **_LAYOUT)
    return fig


def lift_chart(h: Holdout, *, cls: int = 1) -> go.Figure:
    """Lift: how many times more of one class the top x % of rows hold than a random x %."""
    share, found = _ranked_hits(h, cls)
    lift = found / share
    fig = go.Figure([
        go.Scatter(x=[0, 1], y=[1, 1], mode="lines", line={"dash": "dot", "color": GREY}, name="random"),
        go.Scatter(x=share, y=lift, mode="lines", name="model"),
    ])
    fig.update_layout(title=f"Lift · class {h.label(cls)}", xaxis_title="share of rows contacted", yaxis_title="lift",
                      height=380, legend=LEGEND_BELOW, **_LAYOUT)
    return fig


def _sample(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sample(MAX_POINTS, random_state=0) if len(frame) > MAX_POINTS else frame


def residuals(holdouts: Mapping[str, Holdout]) -> go.Figure:
    """Residual (actual - predicted) against the prediction, per run; a good model scatters evenly around zero."""
    fig = go.Figure()
    for name, h in holdouts.items():
        frame = _sample(pd.DataFrame({"predicted": h.predicted, "residual": h.y - h.predicted}))
        fig.add_trace(go.Scattergl(x=frame["predicted"], y=frame["residual"], mode="markers", name=name,
                                   marker={"size": 5, "opacity": 0.5}))
    fig.add_hline(y=0, line={"dash": "dot", "color": GREY})
    fig.update_layout(title="Residuals", xaxis_title="predicted", yaxis_title="actual - predicted", height=380,
                      legend=LEGEND_BELOW, **_LAYOUT)
    return fig


def predicted_vs_actual(holdouts: Mapping[str, Holdout]) -> go.Figure:
    """Predicted against actual values per run, with the diagonal a perfect model would sit on."""
    fig = go.Figure()
    low, high = np.inf, -np.inf
    for name, h in holdouts.items():
        frame = _sample(pd.DataFrame({"actual": h.y, "predicted": h.predicted}))
        low, high = min(low, frame.min().min()), max(high, frame.max().max())
        rmse = float(np.sqrt(np.mean((h.y - h.predicted) ** 2)))
        fig.add_trace(go.Scattergl(x=frame["actual"], y=frame["predicted"], mode="markers", name=f"{name} · RMSE "
                                   f"{rmse:.4g}", marker={"size": 5, "opacity": 0.5}))
    fig.add_trace(go.Scatter(x=[low, high], y=[low, high], mode="lines", line={"dash": "dot", "color": GREY},
                             name="perfect"))
    fig.update_layout(title="Predicted vs actual", xaxis_title="actual", yaxis_title="predicted", height=420,
                      legend=LEGEND_BELOW, **_LAYOUT)
    return fig


def is_ordered(values: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values))


def segments(values: pd.Series, *, top: int = 15, bins: int = 5) -> pd.Series:
    """A segment label per row: numbers (and dates) in quantile bins, other values as themselves (the `top`
    most frequent; the rest as '(other)'), missing as '(missing)'."""
    if is_ordered(values):
        binned = pd.qcut(values, q=bins, duplicates="drop").astype(str)
    else:
        common = values.value_counts().index[:top]
        binned = values.where(values.isin(common), "(other)").astype(str)
    return binned.where(values.notna(), "(missing)")


def error_by_segment(h: Holdout, column: str) -> go.Figure:
    """The error in each segment of `column` (mean absolute error, or the share of wrong classes), with how
    many rows each segment holds: bins of numbers and dates in their order, other values worst first."""
    wrong = np.abs(h.y - h.predicted) if h.classes is None else (h.y != h.predicted).astype(float)
    what = "mean absolute error" if h.classes is None else "error rate"
    frame = pd.DataFrame({"segment": segments(h.features[column]), "error": wrong})
    table = frame.groupby("segment", sort=False).agg(error=("error", "mean"), rows=("error", "size"))
    if is_ordered(h.features[column]):
        order = pd.qcut(h.features[column], q=5, duplicates="drop").cat.categories.astype(str)
        table = table.reindex([*(o for o in order if o in table.index), *(i for i in table.index if i not in order)])
    else:
        table = table.sort_values("error", ascending=False)
    fig = go.Figure(go.Bar(x=table.index, y=table["error"], text=[f"{n:,} rows" for n in table["rows"]],
                           textposition="outside"))
    overall = float(wrong.mean())
    fig.add_hline(y=overall, line={"dash": "dot", "color": GREY}, annotation_text=f"all rows {overall:.3g}")
    fig.update_layout(title=f"{what.capitalize()} by {column}", xaxis_title=column, yaxis_title=what, height=380,
                      **_LAYOUT)
    fig.update_xaxes(type="category")
    return fig
