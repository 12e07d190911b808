"""What a run's model did on its held-out rows, saved with the run.

Diagnostics are drawn from the model fitted on the training rows only: the registered model may have been refit
on every row (held-out rows included), so its own predictions there would flatter it. The frame keeps the
original feature values (for error by segment, partial dependence and per-row explanations), the actual target
(class codes or values), the prediction and, for classification, one probability column per class.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from studio.training.model import raw_predictions
from studio.training.task import Task

ACTUAL, PREDICTED, PROBA = "__actual", "__predicted", "__proba_"
#: At most this many held-out rows are kept (a seeded sample above it).
MAX_ROWS = 50_000


@dataclass(frozen=True)
class Holdout:
    """Held-out rows with the model's predictions. Classes are codes 0..k-1; `classes` holds their labels."""

    task: Task
    classes: list[Any] | None
    frame: pd.DataFrame

    @property
    def y(self) -> np.ndarray:
        return self.frame[ACTUAL].to_numpy()

    @property
    def predicted(self) -> np.ndarray:
        return self.frame[PREDICTED].to_numpy()

    @property
    def proba(self) -> np.ndarray | None:
        if self.classes is None:
            return None
        return self.frame[[f"{PROBA}{i}" for i in range(len(self.classes))]].to_numpy(dtype=float)

    @property
    def features(self) -> pd.DataFrame:
        return feature_columns(self.frame)

    def label(self, code: int) -> str:
        return str(self.classes[code]) if self.classes is not None else str(code)

    def to_parquet(self, path: Path) -> None:
        self.frame.to_parquet(path, index=False)

    @classmethod
    def from_parquet(cls, path: Path, *, task: Task, classes: list[Any] | None) -> Holdout:
        return cls(task, classes, pd.read_parquet(path))


def feature_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """The original feature columns of a holdout frame (without the actual, predicted and probability columns)."""
    return frame[[c for c in frame.columns if not c.startswith("__")]]


def kept_rows(n: int, *, seed: int = 0, limit: int = MAX_ROWS) -> np.ndarray:
    """Positions of the rows to keep: all of them, or a seeded sample of `limit` in their original order."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, limit, replace=False))


def holdout_of(model: Any, features: pd.DataFrame, X: pd.DataFrame, y: np.ndarray, *, task: Task,
               classes: list[Any] | None, predictions: np.ndarray | None = None) -> Holdout:
    """The held-out rows with their `predictions`, or those of `model` (a fitted pipeline on the model frame X);
    `features` are the same rows in their original columns."""
    frame = features.reset_index(drop=True).copy()
    frame[ACTUAL] = y
    n_classes = None if classes is None else len(classes)
    found = raw_predictions(model, X, n_classes) if predictions is None else predictions
    if classes is None:
        frame[PREDICTED] = found
    else:
        proba = found
        frame[PREDICTED] = proba.argmax(axis=1)
        for i in range(len(classes)):
            frame[f"{PROBA}{i}"] = proba[:, i]
    return Holdout(task, classes, frame)
