"""The bar a partition model has to clear: its training mean or class shares, or for a forecast the better of
the naive forecasts (last value, seasonal naive), scored on the partition's held-out rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from studio.many.forecast import naive_baselines
from studio.training.metrics import Metric, score_predictions
from studio.training.spec import TrainSpec


@dataclass(frozen=True)
class Timing:
    """A forecasting family's time steps of the training and test rows, and its season (for the baselines)."""

    steps_train: np.ndarray
    steps_test: np.ndarray
    season: int | None

    def of(self, train_rows: np.ndarray, test_rows: np.ndarray) -> Timing:
        return Timing(self.steps_train[train_rows], self.steps_test[test_rows], self.season)


def forecast_baseline(metric: Metric, y_train: np.ndarray, y_test: np.ndarray,
                      timing: Timing) -> tuple[str, float | None]:
    """The better of the naive forecasts (last value, seasonal naive) on the partition's test steps: the bar
    a forecasting model has to clear."""
    scores = {kind: safe_score(lambda p=predicted: score_predictions(metric, y_test, p))
              for kind, predicted in naive_baselines(y_train, timing.steps_train, timing.steps_test,
                                                     timing.season).items()}
    known = {k: v for k, v in scores.items() if v is not None}
    if not known:
        return "last value", None
    kind = (max if metric.greater_is_better else min)(known, key=known.__getitem__)
    return kind, known[kind]


def baseline_score(metric: Metric, y_train: np.ndarray, y_test: np.ndarray, spec: TrainSpec,
                   n_classes: int | None = None) -> float:
    """The partition's baseline on its held-out rows: its training mean (regression) or class shares."""
    if not spec.task.is_classification:
        return score_predictions(metric, y_test, np.full(len(y_test), float(np.mean(y_train))))
    n_classes = n_classes or int(max(y_train.max(), y_test.max())) + 1
    shares = np.bincount(y_train, minlength=n_classes) / len(y_train)
    return score_predictions(metric, y_test, np.tile(shares, (len(y_test), 1)))


def safe_score(compute: Callable[..., float]) -> float | None:
    """A metric that cannot be computed on a partition's few held-out rows (one class only) is left empty."""
    try:
        value = float(compute())
    except (ValueError, IndexError, ZeroDivisionError):
        return None
    return value if np.isfinite(value) else None
