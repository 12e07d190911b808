"""Global feature importance on held-out rows: permutation (any model) and SHAP (tree models).

Permutation importance is computed per original feature, not per model column: a date's parts (year, month,
...) are shuffled together, so the answer is about the column the analyst knows. scikit-learn's
`permutation_importance` shuffles one model column at a time, hence this small loop of our own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from studio.data.schema import ColumnKind
from studio.prepare import DATE_PARTS
from studio.training.features import Feature
from studio.training.metrics import Metric, score_predictions
from studio.training.model import raw_predictions

TREE_MODELS = ("RandomForest", "ExtraTrees", "HistGradientBoosting", "XGB", "LGBM")


class FeatureImportance(BaseModel):
    feature: str
    mean: float  # how much the metric gets worse when the feature is shuffled (higher: more important)
    std: float


def model_columns_of(feature: Feature) -> list[str]:
    if feature.kind is ColumnKind.DATETIME:
        return [f"{feature.name}__{part}" for part in DATE_PARTS]
    return [feature.name]


def _predictions(model: Any, X: pd.DataFrame, n_classes: int) -> np.ndarray:
    return raw_predictions(model, X, n_classes or None)


#: Shuffled copies are predicted together, up to this many rows per call: a pipeline's per-call cost (pandas,
#: the column transformer, scikit-learn's checks) is paid once per batch, not once per feature and repeat,
#: which on a 74-column table was most of the evaluation's time.
BATCH_ROWS = 50_000


def permutation_importance(model: Any, X: pd.DataFrame, y: np.ndarray, features: Sequence[Feature], *,
                           metric: Metric, n_classes: int, repeats: int = 3, max_rows: int = 1000,
                           seed: int = 0) -> list[FeatureImportance]:
    """Per feature, the mean and spread over `repeats` shuffles of the metric's loss, best first."""
    rng = np.random.default_rng(seed)
    if len(X) > max_rows:
        keep = rng.choice(len(X), max_rows, replace=False)
        X, y = X.iloc[keep], y[keep]
    X = X.reset_index(drop=True)
    sign = 1.0 if metric.greater_is_better else -1.0
    base = score_predictions(metric, y, _predictions(model, X, n_classes))
    # every (feature, repeat) shuffle, drawn in the order a loop over features, then repeats, would draw them
    shuffles = [(feature, rng.permutation(len(X))) for feature in features for _ in range(repeats)]
    losses: dict[str, list[float]] = {f.name: [] for f in features}
    per_batch = max(1, BATCH_ROWS // max(len(X), 1))
    for start in range(0, len(shuffles), per_batch):
        batch = shuffles[start:start + per_batch]
        predicted = _predictions(model, pd.concat([_shuffled(X, f, order) for f, order in batch],
                                                  ignore_index=True), n_classes)
        for i, (feature, _) in enumerate(batch):
            part = predicted[i * len(X):(i + 1) * len(X)]
            losses[feature.name].append(sign * (base - score_predictions(metric, y, part)))
    found = [FeatureImportance(feature=f.name, mean=float(np.mean(losses[f.name])), std=float(np.std(losses[f.name])))
             for f in features]
    return sorted(found, key=lambda f: -f.mean)


def _shuffled(X: pd.DataFrame, feature: Feature, order: np.ndarray) -> pd.DataFrame:
    """X with `feature`'s model columns (a date's parts together) in the rows' shuffled `order`."""
    columns = model_columns_of(feature)
    shuffled = X.copy()
    shuffled[columns] = X[columns].to_numpy()[order]
    return shuffled


def is_tree_pipeline(model: Any) -> bool:
    """A scikit-learn Pipeline whose last step is a tree ensemble SHAP's TreeExplainer handles."""
    steps = getattr(model, "steps", None)
    return isinstance(steps, list) and bool(steps) and type(steps[-1][1]).__name__.startswith(TREE_MODELS)


def transformed_sources(preprocess: Any, features: Sequence[Feature]) -> list[str]:
    """For each column the fitted ColumnTransformer outputs, the original feature it comes from."""
    owner = {column: f.name for f in features for column in model_columns_of(f)}
    sources: list[str] = []
    for _, transformer, columns in preprocess.transformers_:
        if transformer == "drop" or not len(columns):
            continue
        last = transformer[-1] if hasattr(transformer, "steps") else transformer
        if hasattr(last, "_n_features_outs"):  # one-hot: a run of output columns per input column
            widths = list(last._n_features_outs)
        elif getattr(last, "target_type_", None) == "multiclass":  # target encoding: one column per class
            widths = [len(last.classes_)] * len(columns)
        else:
            widths = [1] * len(columns)
        for column, width in zip(columns, widths, strict=True):
            sources += [owner[column]] * width
    return sources


def tree_shap(model: Any, X: pd.DataFrame, features: Sequence[Feature], *, n_classes: int) -> pd.DataFrame:
    """SHAP values per row and original feature (a feature's one-hot, target-encoded or date-part columns summed)
    for a tree pipeline: the positive class for binary models, each row's predicted class for multiclass ones,
    in the model's raw output units (log-odds for boosters, probability for forests)."""
    import shap

    preprocess, estimator = model[:-1], model.steps[-1][1]
    transformed = np.asarray(preprocess.transform(X), dtype=float)
    values = np.asarray(shap.TreeExplainer(estimator).shap_values(transformed, check_additivity=False))
    if values.ndim == 3:  # (rows, columns, classes)
        if n_classes == 2:
            values = values[:, :, 1]
        else:
            predicted = np.asarray(model.predict_proba(X)).argmax(axis=1)
            values = values[np.arange(len(values)), :, predicted]
    per_column = pd.DataFrame(values, columns=range(values.shape[1]))
    sources = transformed_sources(model[0], features)
    return per_column.T.groupby(np.asarray(sources)).sum().T.reindex(columns=[f.name for f in features], fill_value=0.0)
