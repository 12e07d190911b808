"""The Optuna search: one study over the chosen algorithms and their hyperparameters, scored by validation."""

from __future__ import annotations

import warnings

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
    return Pipeline([("preprocess", build_preprocessor(spec.features, scale=definition.scale)),
                     ("model", estimator)])


def evaluate(pipeline: Pipeline, X: pd.DataFrame, y: np.ndarray, metric: Metric) -> float:
    """Score a fitted pipeline on (X, y), predicting probabilities only when the metric needs them."""
    proba = pipeline.predict_proba(X) if metric.needs_proba else None
    pred = None if metric.needs_proba else pipeline.predict(X)
    return score(metric, y, pred=pred, proba=proba)


def validation_score(spec: TrainSpec, pipeline: Pipeline, X: pd.DataFrame, y: np.ndarray) -> float:
    """Mean metric over k folds, or the metric on one holdout split (stratified for classification)."""
    metric = METRICS[spec.metric]
    stratify = spec.task.is_classification
    if spec.validation.kind == "holdout":
        idx = np.arange(len(y))
        fit_idx, val_idx = train_test_split(idx, test_size=spec.validation.holdout_fraction,
                                            random_state=spec.seed, stratify=y if stratify else None)
        splits = [(fit_idx, val_idx)]
    else:
        cv_cls = StratifiedKFold if stratify else KFold
        splits = list(cv_cls(n_splits=spec.validation.folds, shuffle=True, random_state=spec.seed).split(X, y))
    scores = []
    for fit_idx, val_idx in splits:
        pipeline.fit(X.iloc[fit_idx], y[fit_idx])
        scores.append(evaluate(pipeline, X.iloc[val_idx], y[val_idx], metric))
    return float(np.mean(scores))


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


def score_trial(spec: TrainSpec, n_jobs: int, algorithm: str, params: Params, X: pd.DataFrame, y: np.ndarray) -> float:
    """Runs on a compute worker: the validation score of one configuration, with `n_jobs` threads at most
    (estimators that use OpenMP or BLAS rather than an n_jobs argument are capped too)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=n_jobs), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        return validation_score(spec, make_pipeline(spec, algorithm, params, n_jobs=n_jobs), X, y)


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


