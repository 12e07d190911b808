"""The Optuna search: one study over the chosen algorithms and their hyperparameters, scored by validation."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import optuna
import pandas as pd
from pydantic import BaseModel
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import (
    KFold,
    RepeatedKFold,
    RepeatedStratifiedKFold,
    StratifiedKFold,
    train_test_split,
)
from sklearn.pipeline import Pipeline

from studio.training import boosting, rungs
from studio.training.driver import TrialScore
from studio.training.estimators import ESTIMATORS, SQUARED_ONLY, Losses, Options, Params, strip_prefix
from studio.training.features import build_preprocessor
from studio.training.metrics import METRICS, Metric, score, score_predictions
from studio.training.rungs import Limits
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
    error: str | None = None  # why it failed, or why it was pruned
    worker: str | None = None
    intermediate: dict[int, float] = {}  # boosters: the validation score at each checkpoint (boosting rounds)


TRIAL_LIMIT_USE = 0.8
#: A trial past this share of its limit starts no further split (one started before it grows a first batch only).
TRIAL_SPLITS_USE = 0.95


def make_pipeline(spec: TrainSpec, algorithm: str, params: Params, *, n_jobs: int,
                  early_stopping: bool = False) -> Pipeline:
    """The whole model: preprocessing fitted with the estimator, so serving repeats it exactly."""
    definition = ESTIMATORS[algorithm]
    options = Options(early_stopping=early_stopping and definition.rounds_param is not None, metric=spec.metric,
                      balanced=spec.balanced_classes)
    estimator = definition.build(spec.task, params, n_jobs, spec.seed, options)
    target_type = "continuous" if spec.task is Task.REGRESSION else str(spec.task.value)
    preprocess = build_preprocessor(spec.features, scale=definition.scale, seed=spec.seed, target_type=target_type)
    return Pipeline([("preprocess", preprocess),
                     ("model", estimator)])


def score_on(pipeline: Pipeline, X: pd.DataFrame, y: np.ndarray, metric: Metric) -> float:
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
    folds, repeats = spec.validation.folds, spec.validation.repeats
    if repeats > 1:
        repeated = RepeatedStratifiedKFold if stratify is not None else RepeatedKFold
        return list(repeated(n_splits=folds, n_repeats=repeats, random_state=spec.seed).split(y, y))
    cv_cls = StratifiedKFold if stratify is not None else KFold
    return list(cv_cls(n_splits=folds, shuffle=True, random_state=spec.seed).split(y, y))


def validation_predictions(spec: TrainSpec, algorithm: str, params: Params, X: pd.DataFrame, y: np.ndarray, *,
                           n_jobs: int, limits: Limits | None = None) -> TrialScore:
    """Score one configuration over the validation splits: the mean metric and the out-of-fold predictions
    (class probabilities for classification; averaged over repeats; NaN on rows no split validated) that
    ensemble selection combines.
    The first rung (the first splits, or a row sample of the first on large data) is scored first and the trial stops
    there when it is worse than `limits.rung` (see rungs). Boosters stop early on each split (the mean rounds
    are recorded as the `rounds` attribute) and may be pruned on the first split by `limits.checkpoints`."""
    limits = limits or Limits()
    metric = METRICS[spec.metric]
    n_classes = int(y.max()) + 1 if spec.task.is_classification else 0
    oof, seen = np.zeros((len(y), n_classes) if n_classes else len(y)), np.zeros(len(y))
    scores, rounds, checkpoints = [], [], None
    attrs: dict[str, Any] = {}
    splits = validation_splits(spec, y)
    fit = partial(_fit_predict, spec, algorithm, params, X, y, n_jobs=n_jobs, n_classes=n_classes)
    rung_splits = rungs.leading_splits(splits)
    clock = TrialClock.start(spec.budget.trial_limit_s, limits.stop_by)
    if (rows := rungs.sample(*splits[0], spec.seed)) is not None:
        stop_at = clock.stop_at(1 / (len(splits) + 1))  # a split's share of the time, as below
        attrs[rungs.RUNG_ATTR] = value = score_predictions(metric, y[rows[1]], fit(*rows, stop_at=stop_at)[0])
        if rungs.stops(metric, value, limits.rung):
            return TrialScore(None, pruned=rungs.stopped_note(f"{len(rows[0])} rows", value, limits.rung or 0),
                              attrs=attrs)
    for i, (fit_idx, val_idx) in enumerate(splits):
        if (late := clock.late(i, len(splits))) is not None:  # it stops itself: no worker to stop and restart
            return TrialScore(None, intermediate=checkpoints.values if checkpoints else {}, attrs=attrs, pruned=late)
        stop_at = clock.stop_at((i + 1) / len(splits))  # boosters and forests stop growing at this split's share
        if i == 0 and ESTIMATORS[algorithm].native_booster:
            checkpoints = boosting.Checkpoints(metric, y[val_idx], n_classes, limits.checkpoints)
        try:
            predicted, used = fit(fit_idx, val_idx, checkpoints=checkpoints if i == 0 else None, stop_at=stop_at)
        except boosting.Pruned as stop:
            return TrialScore(None, intermediate=checkpoints.values if checkpoints else {}, pruned=str(stop),
                              attrs=attrs)
        if used is not None:
            rounds.append(used)
        oof[val_idx] += predicted
        seen[val_idx] += 1
        scores.append(score_predictions(metric, y[val_idx], predicted))
        if i + 1 == rung_splits and rungs.RUNG_ATTR not in attrs:
            attrs[rungs.RUNG_ATTR] = value = float(np.mean(scores))
            if rungs.stops(metric, value, limits.rung):
                return TrialScore(None, intermediate=checkpoints.values if checkpoints else {}, attrs=attrs,
                                  pruned=rungs.stopped_note(rungs.splits_note(i + 1, len(splits)), value,
                                                            limits.rung or 0))
    attrs["fold_scores"] = [float(s) for s in scores]  # error bars on the Runs page
    if rounds:
        attrs["rounds"] = max(1, round(float(np.mean(rounds)) * boosting.ROUNDS_MARGIN))
    with np.errstate(invalid="ignore"):
        averaged = (oof.T / np.where(seen > 0, seen, np.nan)).T.astype(np.float32)
    return TrialScore(float(np.mean(scores)), extra=averaged, intermediate=checkpoints.values if checkpoints else {},
                      attrs=attrs)


@dataclass(frozen=True)
class TrialClock:
    """When a trial stops growing its models (TRIAL_LIMIT_USE of its per-trial limit, each split at its share)
    and stops starting splits (TRIAL_SPLITS_USE of it), and at the job's own deadline (the time budget's end,
    less what the final fits need), whichever comes first. Stopping itself, a trial never needs its worker
    stopped and restarted."""

    started: float  # time.monotonic()
    limit: float | None
    deadline: float | None  # time.monotonic(), from the wall-clock time the driver gave

    @classmethod
    def start(cls, limit: float | None, stop_by: float | None) -> TrialClock:
        now = time.monotonic()
        return cls(now, limit, None if stop_by is None else now + stop_by - time.time())

    def stop_at(self, share: float) -> float | None:
        """Where growing stops for a fit that ends `share` of the way through the trial."""
        ends = [t for t in (None if self.limit is None else self.started + TRIAL_LIMIT_USE * self.limit * share,
                            self.deadline) if t is not None]
        return min(ends) if ends else None

    def late(self, done: int, total: int) -> str | None:
        """Why the trial stops before fitting its next split (`done` of `total` fitted), or None to go on."""
        now = time.monotonic()
        if self.deadline is not None and now > self.deadline:
            return f"stopped: the job's time budget ran out after {done} of {total} splits"
        if self.limit is not None and now > self.started + TRIAL_SPLITS_USE * self.limit:
            return f"stopped: {done} of {total} splits fitted within the per-trial time limit of {self.limit:g} s"
        return None


def _fit_predict(spec: TrainSpec, algorithm: str, params: Params, X: pd.DataFrame, y: np.ndarray,
                 fit_idx: np.ndarray, val_idx: np.ndarray, *, n_jobs: int, n_classes: int,
                 stop_at: float | None, checkpoints: boosting.Checkpoints | None = None,
                 ) -> tuple[np.ndarray, int | None]:
    """Fit one split and predict its validation rows (every class's probability column, or the values); with
    the rounds or trees the fit used."""
    pipeline = make_pipeline(spec, algorithm, params, n_jobs=n_jobs, early_stopping=True)
    used = boosting.fit_split(pipeline, algorithm, X.iloc[fit_idx], y[fit_idx], X.iloc[val_idx], y[val_idx],
                              checkpoints, stop_at, seed=spec.seed)
    if not n_classes:
        return pipeline.predict(X.iloc[val_idx]), used
    predicted = np.zeros((len(val_idx), n_classes))
    predicted[:, _fitted_classes(pipeline)] = pipeline.predict_proba(X.iloc[val_idx])
    return predicted, used


def _fitted_classes(model: Any) -> np.ndarray:
    return np.asarray(model.classes_, dtype=int)  # a fold may miss a rare class: put its columns in place


def open_study(spec: TrainSpec, *, storage: optuna.storages.BaseStorage | str, study_name: str,
               losses: Losses = SQUARED_ONLY) -> optuna.Study:
    """Create the job's study (or load it, to resume), seeded, with each algorithm's default queued first
    (with the loss `losses` chooses for it)."""
    with warnings.catch_warnings():  # multivariate/group TPE are "experimental" in name only; chosen on purpose
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # constant_liar: trials running in parallel are assumed bad, so idle workers do not repeat them.
        sampler = optuna.samplers.TPESampler(seed=spec.seed, multivariate=True, group=True, constant_liar=True)
    study = optuna.create_study(storage=storage, study_name=study_name, sampler=sampler,
                                direction=METRICS[spec.metric].direction, load_if_exists=True)
    if not study.trials:
        # Strong defaults first: a good model exists after len(algorithms) trials, whatever the budget.
        for name in spec.algorithms:
            study.enqueue_trial({"algorithm": name, **ESTIMATORS[name].defaults, **losses.defaults(name)},
                                user_attrs={rungs.DEFAULT_ATTR: True}, skip_if_exists=True)
    return study


def propose(spec: TrainSpec, trial: optuna.Trial, stop_by: float | None = None,
            losses: Losses = SQUARED_ONLY) -> tuple[str, Params, Limits]:
    """Suggest one configuration: an algorithm, its hyperparameters (its loss among `losses`), and the limits it
    runs under (pruning thresholds; `stop_by`, the wall-clock time the job's search ends)."""
    algorithm = str(trial.suggest_categorical("algorithm", list(spec.algorithms)))
    params = {**ESTIMATORS[algorithm].space(trial, spec.task), **losses.suggest(trial, algorithm)}
    return algorithm, params, rungs.limits_for(trial, boosting.thresholds(trial.study, METRICS[spec.metric]), stop_by)


def score_trial(spec: TrainSpec, n_jobs: int, algorithm: str, params: Params, limits: Limits,
                X: pd.DataFrame, y: np.ndarray) -> TrialScore:
    """Runs on a compute worker: the validation score of one configuration and its out-of-fold predictions,
    with `n_jobs` threads at most (estimators using OpenMP or BLAS rather than n_jobs are capped too)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=n_jobs), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        return validation_predictions(spec, algorithm, params, X, y, n_jobs=n_jobs, limits=limits)


def configuration(trial: optuna.trial.FrozenTrial) -> tuple[str, Params]:
    """The algorithm and parameters a trial's model used, including the boosting rounds early stopping chose."""
    algorithm = str(trial.params.get("algorithm", "?"))
    params = strip_prefix(algorithm, trial.params)
    rounds_param = ESTIMATORS[algorithm].fidelity_param if algorithm in ESTIMATORS else None
    if rounds_param and "rounds" in trial.user_attrs:
        params[rounds_param] = int(trial.user_attrs["rounds"])
    return algorithm, params


def outcome_of(trial: optuna.trial.FrozenTrial) -> TrialOutcome:
    algorithm, params = configuration(trial)
    duration = trial.duration.total_seconds() if trial.duration else 0.0
    return TrialOutcome(
        number=trial.number, algorithm=algorithm, params=params,
        score=trial.value if trial.state == optuna.trial.TrialState.COMPLETE else None,
        duration_s=duration, state=trial.state.name.lower(),
        error=trial.user_attrs.get("error") or trial.user_attrs.get("pruned"), worker=trial.user_attrs.get("worker"),
        intermediate=dict(trial.intermediate_values),
    )


def best_configuration(study: optuna.Study) -> tuple[str, Params]:
    return configuration(study.best_trial)


