"""Explanations computed on demand for the registered model: partial dependence on one feature, and why the
model predicted what it did for one row (SHAP for tree models, typical-value replacement for the others)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel

from studio.data.schema import ColumnKind
from studio.training.evaluation.importance import is_tree_pipeline, tree_shap
from studio.training.features import model_frame
from studio.training.model import TrainedModel

GRID = 20
PDP_ROWS = 300


class PartialDependence(BaseModel):
    """The model's average output as one feature takes each grid value, every other feature left as it was."""

    feature: str
    kind: Literal["numeric", "categorical"]
    grid: list[float | str]
    curves: dict[str, list[float]]  # output name (a class probability, or "prediction") -> one value per grid point
    rows: int


class RowExplanation(BaseModel):
    """How much each feature moved one row's prediction."""

    output: str  # what the contributions add up to, e.g. "P(yes)" or "prediction"
    value: float  # that output for the row
    contributions: dict[str, float]
    method: Literal["shap", "replacement"]
    note: str


def _outputs(model: TrainedModel, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    X = model_frame(frame, model.info.features)
    if model.info.classes is None:
        return {"prediction": np.asarray(model.pipeline.predict(X), dtype=float)}
    proba = model.pipeline.predict_proba(X)
    labels = model.info.classes
    if len(labels) == 2:
        return {f"P({labels[1]})": proba[:, 1]}
    return {f"P({label})": proba[:, i] for i, label in enumerate(labels)}


def _grid(values: pd.Series, kind: ColumnKind) -> tuple[list[float | str], Literal["numeric", "categorical"]]:
    """Grid values (quantiles of numbers and dates, the most frequent values of the rest) and the grid's kind."""
    present = values.dropna()
    if kind is ColumnKind.DATETIME:
        stamps = pd.to_datetime(present, errors="coerce", format="mixed", utc=True).dropna()
        points = stamps.quantile(np.linspace(0.02, 0.98, GRID)).drop_duplicates()
        return [t.isoformat() for t in points], "numeric"
    if kind is ColumnKind.NUMERIC:
        points = np.unique(np.quantile(present.astype(float), np.linspace(0.02, 0.98, GRID)))
        return [float(p) for p in points], "numeric"
    return [str(v) for v in present.value_counts().index[:GRID]], "categorical"


def partial_dependence(model: TrainedModel, rows: pd.DataFrame, feature: str, *, max_rows: int = PDP_ROWS,
                       seed: int = 0) -> PartialDependence:
    """Partial dependence of the model's output on `feature`, averaged over (a sample of) `rows`."""
    kinds = {f.name: f.kind for f in model.info.features}
    if feature not in kinds:
        raise ValueError(f"'{feature}' is not a feature of this model; choose one of {sorted(kinds)}.")
    sample = rows.sample(min(max_rows, len(rows)), random_state=seed).reset_index(drop=True)
    grid, kind = _grid(rows[feature], kinds[feature])
    stacked = pd.concat([sample.assign(**{feature: value}) for value in grid], ignore_index=True)
    outputs = _outputs(model, stacked)
    curves = {name: [float(v) for v in values.reshape(len(grid), len(sample)).mean(axis=1)]
              for name, values in outputs.items()}
    return PartialDependence(feature=feature, kind=kind, grid=grid, curves=curves, rows=len(sample))


def _typical(values: pd.Series, kind: ColumnKind) -> object:
    present = values.dropna()
    if present.empty:
        return None
    if kind is ColumnKind.NUMERIC:
        return float(present.astype(float).median())
    if kind is ColumnKind.DATETIME:
        return pd.to_datetime(present, errors="coerce", format="mixed", utc=True).median().isoformat()
    return present.mode().iloc[0]


def explain_row(model: TrainedModel, rows: pd.DataFrame, row: int) -> RowExplanation:
    """Contributions of each feature to row `row` of `rows` (original columns)."""
    one = rows.iloc[[row]].reset_index(drop=True)
    outputs = _outputs(model, one)
    if model.info.classes is not None and len(model.info.classes) > 2:
        name = max(outputs, key=lambda k: outputs[k][0])  # explain the predicted class
    else:
        name = next(iter(outputs))
    value = float(outputs[name][0])
    if is_tree_pipeline(model.pipeline):
        n_classes = len(model.info.classes) if model.info.classes is not None else 0
        shap = tree_shap(model.pipeline, model_frame(one, model.info.features), list(model.info.features),
                         n_classes=n_classes)
        return RowExplanation(output=name, value=value, method="shap", contributions={
            k: float(v) for k, v in shap.iloc[0].items()},
            note="SHAP values of the model's raw output (log-odds for boosted trees, probability for forests): "
                 "positive values pushed this prediction up.")
    contributions = {}
    for f in model.info.features:
        replaced = one.assign(**{f.name: _typical(rows[f.name], f.kind)})
        contributions[f.name] = value - float(_outputs(model, replaced)[name][0])
    return RowExplanation(output=name, value=value, method="replacement", contributions=contributions,
                          note=f"How much {name} changes when the feature is replaced by a typical value (median or "
                               "most frequent): positive values pushed this prediction up.")
