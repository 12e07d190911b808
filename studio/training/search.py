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

from studio.training import boosting, kept, rungs
from studio.training.driver import TrialScore
from studio.training.estimators import ESTIMATORS, SQUARED_ONLY, Losses, Options, Params, strip_prefix
from studio.training.features import build_preprocessor
from studio.training.metrics import METRICS, Metric, score_predictions, worse
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


#: A trial's models stop growing at this share of its per-trial limit (predicting and scoring take the rest: a
#: 10-class LightGBM of 1,500 rounds grown to 8 s of a 10 s limit on a busy machine still went over it, and its
#: worker was stopped and restarted).
TRIAL_LIMIT_USE = 0.7
#: The user attribute of a trial scored on fewer splits than its validation has (and why).
SPLITS_ATTR = "validated_on"


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
    """Score one configuration over the validation splits: the mean metric and the out-of-fold predictions (class
    probabilities for classification; averaged over repeats; NaN on rows no split validated) that ensemble selection
    combines. The last split's fitted model is kept where `limits.keep_as` says (`kept`). The first rung (the first
    splits, or a row sample of the first on large data) is scored first and the trial stops there when it is worse
    than `limits.rung` (see rungs). Boosters stop early on each split (the mean rounds are recorded as the `rounds`
    attribute) and may be pruned on the first split by `limits.checkpoints`. Validation follows the per-trial time
    limit (TrialClock): every split may grow its model fully, and a split the pace so far says would not finish in
    time is not started; the trial is scored on the splits it fitted."""
    limits = limits or Limits()
    metric = METRICS[spec.metric]
    n_classes = int(y.max()) + 1 if spec.task.is_classification else 0
    oof, seen = np.zeros((len(y), n_classes) if n_classes else len(y)), np.zeros(len(y))
    scores, rounds, checkpoints, model = [], [], None, None
    attrs: dict[str, Any] = {}
    splits = validation_splits(spec, y)
    fit = partial(_fit_predict, spec, algorithm, params, X, y, n_jobs=n_jobs, n_classes=n_classes)
    rung_splits = rungs.leading_splits(splits)
    clock = TrialClock.start(spec.budget.trial_limit_s, limits.stop_by, limits.submitted)
    if (rows := rungs.sample(*splits[0], spec.seed)) is not None:
        stop_at = clock.stop_at(1 / (len(splits) + 1))  # a sample's share: the splits after it need the time
        attrs[rungs.RUNG_ATTR] = value = score_predictions(metric, y[rows[1]], fit(*rows, stop_at=stop_at)[0])
        if rungs.stops(metric, value, limits.rung):
            return TrialScore(None, pruned=rungs.stopped_note(f"{len(rows[0])} rows", value, limits.rung or 0),
                              attrs=attrs)
    began = time.monotonic()
    for i, (fit_idx, val_idx) in enumerate(splits):
        if (late := clock.late(i, len(splits))) is not None:  # it stops itself: no worker to stop and restart
            return TrialScore(None, intermediate=checkpoints.values if checkpoints else {}, attrs=attrs, pruned=late)
        if clock.no_time_for(i, began):
            attrs[SPLITS_ATTR] = f"{i} of {len(splits)} splits within the per-trial time limit"
            break
        stop_at = clock.stop_at(1.0)  # boosters and forests stop growing there: a model cut short scores nothing
        if i == 0 and ESTIMATORS[algorithm].native_booster:
            checkpoints = boosting.Checkpoints(metric, y[val_idx], n_classes, limits.checkpoints, boosting.rate(params))
        try:
            predicted, used, model = fit(fit_idx, val_idx, checkpoints=checkpoints if i == 0 else None, stop_at=stop_at)
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
    value = float(np.mean(scores))
    kept.keep(limits.keep_as, -value if metric.greater_is_better else value, model)  # for training.reuse
    return TrialScore(value, extra=averaged, intermediate=checkpoints.values if checkpoints else {}, attrs=attrs)


@dataclass(frozen=True)
class TrialClock:
    """When a trial stops growing its models (TRIAL_LIMIT_USE of its per-trial limit) and starts no further split
    (one that at the pace of the splits before it would end past that), and the job's own deadline (the time
    budget's end, less what the final fits need), whichever comes first. Stopping itself, a trial never needs its
    worker stopped and restarted.

    Every split may use the time left, rather than an equal share of it: a booster given a fifth of the time on
    each of five splits stops after a few of its rounds, and its score then says how fast it is, not how good (on a
    busy machine, the default histogram boosting on digits scored a log loss of 0.62 with 9 of its iterations;
    grown fully on one split, 0.12). Scored on fewer splits, a slow configuration's score is noisier, not wrong."""

    started: float  # time.monotonic()
    limit: float | None
    deadline: float | None  # time.monotonic(), from the wall-clock time the driver gave

    @classmethod
    def start(cls, limit: float | None, stop_by: float | None, submitted: float | None = None) -> TrialClock:
        """The clock of a trial the driver started at `submitted` (time.time(); None: now)."""
        now, wall = time.monotonic(), time.time()
        started = now if submitted is None else now - max(0.0, wall - submitted)
        return cls(started, limit, None if stop_by is None else now + stop_by - wall)

    def stop_at(self, share: float) -> float | None:
        """Where growing stops for a fit that may use `share` of the trial's time."""
        ends = [t for t in (None if self.limit is None else self.started + TRIAL_LIMIT_USE * self.limit * share,
                            self.deadline) if t is not None]
        return min(ends) if ends else None

    def no_time_for(self, done: int, began: float) -> bool:
        """Whether a split after the `done` fitted since `began` would, at their pace, end past the growing limit
        (never before the first: a trial is scored on one split at least)."""
        if done == 0 or self.limit is None:
            return False
        now = time.monotonic()
        return now + (now - began) / done > self.started + TRIAL_LIMIT_USE * self.limit

    def late(self, done: int, total: int) -> str | None:
        """Why the trial stops, pruned, before fitting its next split (`done` of `total` fitted), or None."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            return f"stopped: the job's time budget ran out after {done} of {total} splits"
        return None


def _fit_predict(spec: TrainSpec, algorithm: str, params: Params, X: pd.DataFrame, y: np.ndarray,
                 fit_idx: np.ndarray, val_idx: np.ndarray, *, n_jobs: int, n_classes: int,
                 stop_at: float | None, checkpoints: boosting.Checkpoints | None = None,
                 ) -> tuple[np.ndarray, int | None, Pipeline]:
    """Fit one split and predict its validation rows (every class's probability column, or the values); with
    the rounds or trees the fit used, and the fitted pipeline."""
    pipeline = make_pipeline(spec, algorithm, params, n_jobs=n_jobs, early_stopping=True)
    used = boosting.fit_split(pipeline, algorithm, X.iloc[fit_idx], y[fit_idx], X.iloc[val_idx], y[val_idx],
                              checkpoints, stop_at, seed=spec.seed)
    if not n_classes:
        return pipeline.predict(X.iloc[val_idx]), used, pipeline
    predicted = np.zeros((len(val_idx), n_classes))
    predicted[:, _fitted_classes(pipeline)] = pipeline.predict_proba(X.iloc[val_idx])
    return predicted, used, pipeline


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
        # Strong defaults first: a good model exists after len(algorithms) trials, whatever the budget; then the
        # further starts some algorithms have.
        starts = [(name, ESTIMATORS[name].defaults) for name in spec.algorithms]
        starts += [(name, more) for name in spec.algorithms for more in ESTIMATORS[name].starts]
        for name, params in starts:
            study.enqueue_trial({"algorithm": name, **params, **losses.defaults(name)},
                                user_attrs={rungs.DEFAULT_ATTR: True}, skip_if_exists=True)
    return study


def propose(spec: TrainSpec, trial: optuna.Trial, stop_by: float | None = None,
            losses: Losses = SQUARED_ONLY) -> tuple[str, Params, Limits]:
    """Suggest one configuration: an algorithm, its hyperparameters (its loss among `losses`), and the limits it
    runs under (pruning thresholds; `stop_by`, the wall-clock time the job's search ends)."""
    algorithm = str(trial.suggest_categorical("algorithm", list(spec.algorithms)))
    params = {**ESTIMATORS[algorithm].space(trial, spec.task), **losses.suggest(trial, algorithm)}
    return algorithm, params, rungs.limits_for(trial, boosting.thresholds(trial.study, algorithm), stop_by)


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


def seconds_per_split(trial: optuna.trial.FrozenTrial, splits: int) -> float:
    """A finished trial's time per validation split it fitted (over `splits` when it recorded no split scores)."""
    duration = trial.duration.total_seconds() if trial.duration else 0.0
    return duration / max(1, len(trial.user_attrs.get("fold_scores", ())) or splits)


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


def ranked_trials(study: optuna.Study, metric: Metric) -> list[optuna.trial.FrozenTrial]:
    """The completed trials, best first."""
    return sorted(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)),
                  key=lambda t: float(t.value or 0.0), reverse=metric.greater_is_better)


def best_trial(study: optuna.Study, metric: Metric) -> optuna.trial.FrozenTrial:
    """The best trial, where one scored on fewer splits (SPLITS_ATTR) must also beat the best fully validated
    trial on the same splits, strictly: the first split may be easier for every configuration, and one lucky split
    should not pick the model (on a busy machine, a LightGBM scored on split 1 of 5 ranked first with 0.057 and
    scored 0.112 held out). A tie goes to the fully validated trial: on breast cancer a slow histogram boosting
    scored on 1 of 15 splits equalled the best extra trees there (an AUC of 0.9976 on 91 rows), was chosen, left no
    time for an ensemble, and scored 0.982 held out, where the linear model an ensemble would have held scored
    0.994. (A margin of the fully validated trial's standard error was tried: its spread over splits is mostly how
    hard each split is, which a paired comparison cancels; on digits one hard fold of five gave a linear model a
    margin of 0.049 that kept a LightGBM at 0.069 on split 1, against the linear model's 0.096 there, from being
    chosen.)"""
    best = study.best_trial
    if SPLITS_ATTR not in best.user_attrs:
        return best
    ranked = ranked_trials(study, metric)
    champion = next((t for t in ranked if SPLITS_ATTR not in t.user_attrs), None)
    if champion is None:
        return best
    for trial in ranked:
        if trial is champion:
            return champion
        fitted = len(trial.user_attrs.get("fold_scores", ()))
        paired = champion.user_attrs.get("fold_scores", ())[:fitted]
        if not paired or worse(metric, float(np.mean(paired)), float(trial.value or 0.0)):  # strictly better
            return trial
    return champion


