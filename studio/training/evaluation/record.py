"""The evaluation a training job records with its run, once its model is registered: held-out predictions,
permutation importance and (tree models) SHAP values, all from the model fitted on the training rows only."""

from __future__ import annotations

from collections.abc import Callable
from time import monotonic
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from studio.training.evaluation.holdout import Holdout, holdout_of, kept_rows
from studio.training.evaluation.importance import FeatureImportance, is_tree_pipeline, permutation_importance, tree_shap
from studio.training.features import Feature
from studio.training.metrics import METRICS
from studio.training.task import Task

SHAP_ROWS = 200
#: SHAP is computed on these first rows, then on as many more of SHAP_ROWS as the time it may take allows.
SHAP_FIRST_ROWS = 20
OUT_OF_TIME = ("{what} was left out: the job's time budget was spent by the time its model was registered. Re-run "
               "it with a larger budget to have it.")


class EvaluationSummary(BaseModel):
    """`evaluation/summary.json` of a run."""

    task: Task
    metric: str
    classes: list[Any] | None
    features: list[Feature]
    rows: int  # held-out rows in holdout.parquet
    importance: list[FeatureImportance]
    shap_importance: dict[str, float] | None = None  # mean |SHAP| per feature, for tree models
    shap_note: str = ""
    importance_note: str = ""  # why permutation importance is missing, when it is
    fold_scores: list[float] = []  # the chosen configuration's validation score on each split


class Evaluation(BaseModel):
    """A run's summary with its held-out rows and SHAP values, as loaded for the Runs page."""

    model_config = {"arbitrary_types_allowed": True}

    summary: EvaluationSummary
    holdout: Any  # Holdout
    shap: Any = None  # pd.DataFrame | None


def evaluate_model(model: Any, *, features_frame: pd.DataFrame, X: pd.DataFrame, y: np.ndarray, task: Task,
                   metric: str, classes: list[Any] | None, features: list[Feature], fold_scores: list[float],
                   seed: int = 0, log: Callable[[str], None] = lambda _: None, importance_rows: int = 1000,
                   importance_repeats: int = 3, predictions: np.ndarray | None = None,
                   shap_seconds: float | None = None) -> Evaluation:
    """Everything the Runs page shows about one model, computed once, on its held-out rows (`predictions` of
    them, when given, are the diagnostics' instead of the model's own); SHAP within `shap_seconds` (None: on
    SHAP_ROWS rows, however long that takes)."""
    keep = kept_rows(len(X), seed=seed)
    features_frame = features_frame.iloc[keep].reset_index(drop=True)
    X, y = X.iloc[keep].reset_index(drop=True), y[keep]
    holdout = holdout_of(model, features_frame, X, y, task=task, classes=classes,
                         predictions=None if predictions is None else predictions[keep])
    n_classes = len(classes) if classes is not None else 0
    importance: list[FeatureImportance] = []
    importance_note = ""
    if importance_rows > 0:
        importance = permutation_importance(model, X, y, features, metric=METRICS[metric], n_classes=n_classes,
                                            seed=seed, max_rows=importance_rows, repeats=importance_repeats)
    else:
        importance_note = OUT_OF_TIME.format(what="Permutation importance")
    shap, shap_importance, note = None, None, ""
    if shap_seconds is not None and shap_seconds <= 0:
        note = OUT_OF_TIME.format(what="SHAP")
    elif is_tree_pipeline(model):
        sample = X.sample(min(SHAP_ROWS, len(X)), random_state=seed)
        try:
            shap, rows = _timed_shap(model, sample, features, n_classes, shap_seconds)
        except Exception as exc:  # SHAP is an extra: its failure must not fail a job whose model is registered
            note = f"SHAP could not be computed: {type(exc).__name__}: {str(exc)[:200]}"
            log(note)
        else:
            shap.insert(0, "__row", rows)  # the row of holdout.parquet each line explains
            shap_importance = {f.name: float(shap[f.name].abs().mean()) for f in features}
    else:
        note = "SHAP values are computed for single tree models; this model is not one (see permutation importance)."
    summary = EvaluationSummary(task=task, metric=metric, classes=classes, features=features, rows=len(holdout.frame),
                                importance=importance, shap_importance=shap_importance, shap_note=note,
                                fold_scores=fold_scores, importance_note=importance_note)
    return Evaluation(summary=summary, holdout=holdout, shap=shap)


def _timed_shap(model: Any, sample: pd.DataFrame, features: list[Feature], n_classes: int,
                seconds: float | None) -> tuple[pd.DataFrame, np.ndarray]:
    """SHAP values of the sample's rows, or of as many of them as `seconds` allow at the pace of the first
    SHAP_FIRST_ROWS (a multiclass booster of a thousand rounds takes seconds per hundred rows); with the rows'
    positions in the held-out rows."""
    if seconds is None or len(sample) <= SHAP_FIRST_ROWS:
        return tree_shap(model, sample, features, n_classes=n_classes).reset_index(drop=True), sample.index.to_numpy()
    started = monotonic()
    first = tree_shap(model, sample.iloc[:SHAP_FIRST_ROWS], features, n_classes=n_classes)
    per_row = (monotonic() - started) / SHAP_FIRST_ROWS
    more = int(max(seconds - per_row * SHAP_FIRST_ROWS, 0.0) / max(per_row, 1e-9))
    rest = sample.iloc[SHAP_FIRST_ROWS:SHAP_FIRST_ROWS + more]
    found = [first] if rest.empty else [first, tree_shap(model, rest, features, n_classes=n_classes)]
    return pd.concat(found, ignore_index=True), sample.index.to_numpy()[:SHAP_FIRST_ROWS + len(rest)]


def loaded(summary: EvaluationSummary, frame: pd.DataFrame, shap: pd.DataFrame | None) -> Evaluation:
    return Evaluation(summary=summary, holdout=Holdout(summary.task, summary.classes, frame), shap=shap)
