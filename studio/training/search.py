"""The Optuna search: one study over the chosen algorithms and their hyperparameters, scored by validation."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import optuna
import pandas as pd
from pydantic import BaseModel
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline

from studio.training.estimators import ESTIMATORS, Params, strip_prefix
from studio.training.features import build_preprocessor
from studio.training.metrics import METRICS, Metric, score
from studio.training.spec import TrainSpec
from studio.training.task import Task


class TrialOutcome(BaseModel):
    """One finished trial, as the job store, MLflow and the UI see it."""

    number: int
    algorithm: str
    params: dict[str, float | int | str]
    score: float | None
    duration_s: float
    state: str
    error: str | None = None
    worker: str | None = None


def make_pipeline(spec: TrainSpec, algorithm: str, params: Params, *, n_jobs: int) -> Pipeline:
    """The whole model: preprocessing fitted with the estimator, so serving repeats it exactly."""
    definition = ESTIMATORS[algorithm]
    estimator = definition.build(spec.task, params, n_jobs, spec.seed)
    target_type = "continuous" if spec.task is Task.REGRESSION else str(spec.task.value)
    preprocess = build_preprocessor(spec.features, scale=definition.scale, seed=spec.seed, target_type=target_type)
    return Pipeline([("preprocess", preprocess),
                     ("model", estimator)])


def evaluate(pipeline: Pipeline, X: pd.DataFrame, y: np.ndarray, metric: Metric) -> float:
    """Score a fitted pipeline on (X, y), predicting probabilities only when the metric needs them."""
    proba = pipeline.predict_proba(X) if metric.needs_proba else None
    pred = None if metric.needs_proba else pipeline.predict(X)
    return score(metric, y, pred=pred, proba=proba)


def validation_splits(spec: TrainSpec, y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """k folds, or one holdout split (stratified for classification); the same for every trial of a spec."""
    stratify = y if spec.task.is_classification else None
    if spec.validation.kind == "holdout":
        fit_idx, val_idx = train_test_split(np.arange(len(y)), test_size=spec.validation.holdout_fraction,
                                            random_state=spec.seed, stratify=stratify)
        return [(fit_idx, val_idx)]
    cv_cls = StratifiedKFold if stratify is not None else KFold
    return list(cv_cls(n_splits=spec.validation.folds, shuffle=True, random_state=spec.seed).split(y, y))


def validation_predictions(spec: TrainSpec, pipeline: Any, X: pd.DataFrame, y: np.ndarray,
                           ) -> tuple[float, np.ndarray]:
    """The mean metric over the validation splits, and the out-of-fold predictions (class probabilities for
    classification; NaN on rows no split validated) that ensemble selection combines."""
    metric = METRICS[spec.metric]
    n_classes = int(y.max()) + 1 if spec.task.is_classification else 0
    oof = np.full((len(y), n_classes) if n_classes else len(y), np.nan, dtype=np.float32)
    scores = []
    for fit_idx, val_idx in validation_splits(spec, y):
        pipeline.fit(X.iloc[fit_idx], y[fit_idx])
        if n_classes:
            proba = np.zeros((len(val_idx), n_classes))
            proba[:, _fitted_classes(pipeline)] = pipeline.predict_proba(X.iloc[val_idx])
            oof[val_idx] = proba
        else:
            oof[val_idx] = pipeline.predict(X.iloc[val_idx])
        scores.append(score_predictions(metric, y[val_idx], oof[val_idx]))
    return float(np.mean(scores)), oof


def _fitted_classes(model: Any) -> np.ndarray:
    return np.asarray(model.classes_, dtype=int)  # a fold may miss a rare class: put its columns in place


def score_predictions(metric: Metric, y: np.ndarray, predictions: np.ndarray) -> float:
    """Score raw predictions: probabilities (classification, labels are their argmax) or values."""
    if predictions.ndim == 2:
        return score(metric, y, pred=predictions.argmax(axis=1), proba=predictions)
    return score(metric, y, pred=predictions, proba=None)


def open_study(spec: TrainSpec, *, storage: optuna.storages.BaseStorage | str, study_name: str) -> optuna.Study:
    """Create the job's study (or load it, to resume), seeded, with each algorithm's default queued first."""
    with warnings.catch_warnings():  # multivariate/group TPE are "experimental" in name only; chosen on purpose
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # constant_liar: trials running in parallel are assumed bad, so idle workers do not repeat them.
        sampler = optuna.samplers.TPESampler(seed=spec.seed, multivariate=True, group=True, constant_liar=True)
    study = optuna.create_study(storage=storage, study_name=study_name, sampler=sampler,
                                direction=METRICS[spec.metric].direction, load_if_exists=True)
    if not study.trials:
        # Strong defaults first: a good model exists after len(algorithms) trials, whatever the budget.
        for name in spec.algorithms:
            study.enqueue_trial({"algorithm": name, **ESTIMATORS[name].defaults}, skip_if_exists=True)
    return study


def propose(spec: TrainSpec, trial: optuna.Trial) -> tuple[str, Params]:
    """Suggest one configuration: an algorithm and its hyperparameters."""
    algorithm = trial.suggest_categorical("algorithm", list(spec.algorithms))
    return str(algorithm), ESTIMATORS[algorithm].space(trial, spec.task)


def score_trial(spec: TrainSpec, n_jobs: int, algorithm: str, params: Params, X: pd.DataFrame,
                y: np.ndarray) -> tuple[float, np.ndarray]:
    """Runs on a compute worker: the validation score of one configuration and its out-of-fold predictions,
    with `n_jobs` threads at most (estimators using OpenMP or BLAS rather than n_jobs are capped too)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=n_jobs), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        return validation_predictions(spec, make_pipeline(spec, algorithm, params, n_jobs=n_jobs), X, y)


def outcome_of(trial: optuna.trial.FrozenTrial) -> TrialOutcome:
    algorithm = str(trial.params.get("algorithm", "?"))
    duration = trial.duration.total_seconds() if trial.duration else 0.0
    return TrialOutcome(
        number=trial.number, algorithm=algorithm, params=strip_prefix(algorithm, trial.params),
        score=trial.value if trial.state == optuna.trial.TrialState.COMPLETE else None,
        duration_s=duration, state=trial.state.name.lower(), error=trial.user_attrs.get("error"),
        worker=trial.user_attrs.get("worker"),
    )


def best_configuration(study: optuna.Study) -> tuple[str, Params]:
    best = study.best_trial
    algorithm = str(best.params["algorithm"])
    return algorithm, strip_prefix(algorithm, best.params)


