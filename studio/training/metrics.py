"""Metrics per task: name, direction, whether they need probabilities, and how to compute them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import numpy as np

from studio.training.task import Task


@cache
def _skm() -> Any:
    """scikit-learn's metrics, imported at the first score: the spec and the CLI read this table without them."""
    from sklearn import metrics

    return metrics


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    tasks: frozenset[Task]
    greater_is_better: bool
    needs_proba: bool
    fn: Callable[[np.ndarray, np.ndarray], float]

    @property
    def direction(self) -> Literal["maximize", "minimize"]:
        return "maximize" if self.greater_is_better else "minimize"


def _rmse(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.sqrt(_skm().mean_squared_error(y, p)))


def _mape(y: np.ndarray, p: np.ndarray) -> float:
    """Mean absolute percentage error; undefined (NaN, so it is left out) when a target is 0, where scikit-learn's
    epsilon would report astronomically large values."""
    y = np.asarray(y, dtype=float)
    return float("nan") if (y == 0).any() else float(_skm().mean_absolute_percentage_error(y, p))


def _wape(y: np.ndarray, p: np.ndarray) -> float:
    """Weighted absolute percentage error: total absolute error over total absolute actuals. Unlike MAPE it stays
    defined with zero targets (sales of a slow item on most days), which is why forecasters report it."""
    y = np.asarray(y, dtype=float)
    total = np.abs(y).sum()
    return float("nan") if total == 0 else float(np.abs(y - np.asarray(p, dtype=float)).sum() / total)


def _log_loss(y: np.ndarray, proba: np.ndarray) -> float:
    return float(_skm().log_loss(y, np.clip(proba, 1e-15, 1.0), labels=list(range(proba.shape[1]))))


_BIN = frozenset({Task.BINARY})
_CLS = frozenset({Task.BINARY, Task.MULTICLASS})
_REG = frozenset({Task.REGRESSION})

METRICS: dict[str, Metric] = {m.name: m for m in [
    Metric("roc_auc", "ROC AUC", _BIN, True, True, lambda y, p: float(_skm().roc_auc_score(y, p[:, 1]))),
    Metric("log_loss", "Log loss", _CLS, False, True, _log_loss),
    Metric("accuracy", "Accuracy", _CLS, True, False, lambda y, p: float(_skm().accuracy_score(y, p))),
    Metric("f1", "F1", _BIN, True, False, lambda y, p: float(_skm().f1_score(y, p))),
    Metric("balanced_accuracy", "Balanced accuracy", _CLS, True, False,
           lambda y, p: float(_skm().balanced_accuracy_score(y, p))),
    Metric("f1_macro", "Macro F1", frozenset({Task.MULTICLASS}), True, False,
           lambda y, p: float(_skm().f1_score(y, p, average="macro"))),
    Metric("rmse", "RMSE", _REG, False, False, _rmse),
    Metric("mae", "MAE", _REG, False, False, lambda y, p: float(_skm().mean_absolute_error(y, p))),
    Metric("r2", "R²", _REG, True, False, lambda y, p: float(_skm().r2_score(y, p))),
    Metric("mape", "MAPE", _REG, False, False, _mape),
    Metric("wape", "WAPE", _REG, False, False, _wape),
]}

#: One line per metric for the Train page's help: what it measures, in an analyst's words.
MEANING: dict[str, str] = {
    "roc_auc": "how well the scores rank positives above negatives (1 = perfect, 0.5 = chance)",
    "log_loss": "how good the predicted probabilities are (lower is better; punishes confident mistakes)",
    "accuracy": "share of rows with the right class (misleading when one class is rare)",
    "f1": "balance of precision and recall on the positive class",
    "balanced_accuracy": "accuracy averaged over classes, so a rare class counts as much as a common one",
    "f1_macro": "F1 averaged over classes",
    "rmse": "typical error in the target's units; large errors weigh more",
    "mae": "average absolute error in the target's units; robust to a few large errors",
    "r2": "share of the target's variance explained (1 = perfect, 0 = no better than the mean)",
    "mape": "average error as a percentage of the actual value (undefined when an actual is 0)",
    "wape": "total absolute error as a share of total actuals; fine with zeros (e.g. daily sales)",
}

DEFAULT_METRIC = {Task.BINARY: "roc_auc", Task.MULTICLASS: "log_loss", Task.REGRESSION: "rmse"}


def metrics_for(task: Task) -> list[Metric]:
    return [m for m in METRICS.values() if task in m.tasks]


def score(metric: Metric, y_true: np.ndarray, *, pred: np.ndarray | None, proba: np.ndarray | None) -> float:
    """Score predictions with `metric`, using probabilities when it needs them."""
    if metric.needs_proba:
        if proba is None:
            raise ValueError(f"Metric '{metric.name}' needs class probabilities.")
        return metric.fn(y_true, proba)
    if pred is None:
        raise ValueError(f"Metric '{metric.name}' needs predicted labels or values.")
    return metric.fn(y_true, pred)


def score_predictions(metric: Metric, y: np.ndarray, predictions: np.ndarray) -> float:
    """Score raw predictions: class probabilities (2-D; the labels are their argmax) or values (1-D)."""
    if predictions.ndim == 2:
        return score(metric, y, pred=predictions.argmax(axis=1), proba=predictions)
    return score(metric, y, pred=predictions, proba=None)


def worse(metric: Metric, value: float, than: float) -> bool:
    return value < than if metric.greater_is_better else value > than
