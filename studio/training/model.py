"""A trained model as the studio uses it: the fitted pipeline plus what it needs to speak the user's labels."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict
from sklearn.pipeline import Pipeline

from studio.errors import DataError
from studio.training.features import Feature, model_frame
from studio.training.task import Task


class ModelInfo(BaseModel):
    """Saved with the model (MLflow metadata) and read by predict and the export."""

    model_config = ConfigDict(frozen=True)

    task: Task
    target: str
    features: tuple[Feature, ...]
    classes: list[Any] | None = None  # original labels, indexed by the encoded class id
    metric: str
    run_id: str | None = None


def encode_target(y: pd.Series, task: Task) -> tuple[np.ndarray, list[Any] | None]:
    """Classification labels become 0..k-1 (every booster accepts that); the original labels are kept."""
    if not task.is_classification:
        return y.to_numpy(dtype="float64"), None
    classes, codes = np.unique(y.to_numpy(), return_inverse=True)
    return codes.astype("int64"), [c.item() if hasattr(c, "item") else c for c in classes]


def raw_predictions(model: Any, X: pd.DataFrame, n_classes: int | None) -> np.ndarray:
    """Values (regression, `n_classes` None) or probabilities over all `n_classes` classes (classification: a
    model fitted on rows holding only some of the classes gets zeros for the others)."""
    if n_classes is None:
        return np.asarray(model.predict(X), dtype=float)
    proba = np.zeros((len(X), n_classes))
    proba[:, np.asarray(model.classes_, dtype=int)] = model.predict_proba(X)
    return proba


class TrainedModel:
    """A fitted pipeline with its ModelInfo; predicts in the caller's row order and labels."""

    def __init__(self, pipeline: Pipeline, info: ModelInfo, *, uri: str | None = None) -> None:
        self.pipeline = pipeline
        self.info = info
        self.uri = uri

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """`prediction` plus, for classification, a `proba_<class>` column per class."""
        X = model_frame(frame, self.info.features)
        out = pd.DataFrame(index=frame.index)
        try:
            scores = self.pipeline.predict(X) if self.info.classes is None else self.pipeline.predict_proba(X)
        except ValueError as exc:
            if "infinity" not in str(exc):
                raise
            raise DataError("Some numbers in this table are too large for the model to compute with (it "
                            "overflowed to infinity); values beyond about 1e15 are most likely errors in the "
                            "data.") from None
        if self.info.classes is None:
            out["prediction"] = scores
            return out
        proba = scores
        labels = np.asarray(self.info.classes, dtype=object)
        out["prediction"] = labels[proba.argmax(axis=1)]
        for i, label in enumerate(self.info.classes):
            out[f"proba_{label}"] = proba[:, i]
        return out
