"""Diagnostic charts drawn from recorded held-out evaluations (binary, multiclass, regression)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from studio.charts import diagnostics as d
from studio.training import Task
from studio.training.evaluation import Evaluation, Holdout


def test_confusion_matrix_counts_and_normalises(multiclass_eval: Evaluation) -> None:
    h = multiclass_eval.holdout
    counts = d.confusion_matrix(h).data[0]
    assert np.asarray(counts.z).sum() == len(h.frame) and list(counts.x) == ["bronze", "gold", "silver"]
    shares = np.asarray(d.confusion_matrix(h, normalize=True).data[0].z)
    assert np.allclose(shares.sum(axis=1), 1.0)


def test_roc_and_pr_match_sklearn_and_overlay_runs(binary_eval: Evaluation, multiclass_eval: Evaluation) -> None:
    h = binary_eval.holdout
    auc = skm.roc_auc_score(h.y, h.proba[:, 1])
    roc = d.roc_curves({"run a": h})
    assert roc.data[1].name == f"run a · AUC {auc:.3f}"
    overlay = d.roc_curves({"run a": h, "run b": h})
    assert [t.name.split(" ·")[0] for t in overlay.data[1:]] == ["run a", "run b"]
    per_class = d.roc_curves({"m": multiclass_eval.holdout})
    assert len(per_class.data) == 1 + 3  # chance + one curve per class
    micro = d.pr_curves({"m": multiclass_eval.holdout, "n": multiclass_eval.holdout})
    assert all("micro-average" in t.name for t in micro.data)
    with pytest.raises(ValueError, match="classification"):
        d.roc_curves({"r": Holdout(Task.REGRESSION, None, pd.DataFrame({"__actual": [1.0], "__predicted": [1.0]}))})


def test_calibration_bins_are_observed_frequencies() -> None:
    y = np.array([0, 0, 1, 1, 1, 0, 1, 1])
    p = np.array([0.05, 0.1, 0.95, 0.9, 0.92, 0.15, 0.97, 0.08])
    frame = pd.DataFrame({"x": range(8), "__actual": y, "__predicted": (p > 0.5).astype(int),
                          "__proba_0": 1 - p, "__proba_1": p})
    fig = d.calibration(Holdout(Task.BINARY, ["no", "yes"], frame), bins=2)
    model = fig.data[1]
    assert list(model.y) == pytest.approx([1 / 4, 1.0])  # low bin: 1 of 4 positive; high bin: all positive


def test_gains_reach_one_and_lift_starts_high(binary_eval: Evaluation) -> None:
    h = binary_eval.holdout
    gains = d.gains_chart(h).data[1]
    assert gains.y[-1] == pytest.approx(1.0) and gains.y[len(gains.y) // 5] > 0.2
    lift = d.lift_chart(h).data[1]
    assert lift.y[len(lift.y) // 10] > 1.2 and lift.y[-1] == pytest.approx(1.0)


def test_regression_residuals_and_predicted_vs_actual(regression_eval: Evaluation) -> None:
    h = regression_eval.holdout
    resid = d.residuals({"a": h}).data[0]
    assert np.allclose(np.asarray(resid.y), h.y - h.predicted)
    overlay = d.predicted_vs_actual({"a": h, "b": h})
    assert overlay.data[0].name.startswith("a · RMSE") and overlay.data[-1].name == "perfect"


def test_error_by_segment_ranks_segments_worst_first(regression_eval: Evaluation, binary_eval: Evaluation) -> None:
    fig = d.error_by_segment(regression_eval.holdout, "plan")
    errors = list(fig.data[0].y)
    assert errors == sorted(errors, reverse=True) and "(missing)" in list(fig.data[0].x)
    numeric = d.error_by_segment(binary_eval.holdout, "tenure")
    assert len(numeric.data[0].x) == 5 and fig.layout.yaxis.title.text == "mean absolute error"
    assert numeric.layout.yaxis.title.text == "error rate"
