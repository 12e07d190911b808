"""Early stopping and pruning for the boosters (XGBoost, LightGBM), inside one validation split.

A booster's number of rounds is not searched: it grows (up to MAX_ROUNDS) until its score on the split's
validation rows has not improved for PATIENCE rounds, and the rounds it stopped at become the final model's.
Using the validation rows for stopping makes its score slightly optimistic, as in AutoGluon's bagging; on a
split too small for that to be slight (OWN_STOPPING_BELOW) it stops on rows of its own and is refitted. The
held-out test score, measured on rows no trial saw, stays honest.

Boosting rounds are also the resource for pruning. On a trial's first split the score at log-spaced
checkpoints is compared with the median score of the same algorithm's finished trials at the same checkpoint
(Optuna's median-pruner rule, after PRUNE_STARTUP trials; an XGBoost against XGBoosts, since the boosters learn
at different paces: pooled, LightGBMs set the bar at 50 rounds that XGBoosts then missed); below it, the trial
stops there and is reported pruned. A checkpoint counts rounds at REFERENCE_RATE: a trial learning at a rate r
is scored at checkpoint c after c x REFERENCE_RATE / r of its rounds, where it has made the same progress, so
configurations are compared at equal shrinkage, not at equal rounds (counted in rounds, every slow learner was
stopped at 50: on a house-price table LightGBMs at rates 0.01-0.04 scored 60,000-80,000 there against a median
of 52,000 and were pruned, while the configurations that won on it learn at 0.01-0.03). The thresholds travel
with the trial because the Dask worker running it has no access to the study; the driver reports the
checkpoints to Optuna as intermediate values when the trial comes back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from studio.training.estimators import ESTIMATORS, PATIENCE, Params
from studio.training.metrics import Metric, score_predictions, worse

CHECKPOINTS = (50, 100, 200, 400, 800, 1600)
#: The learning rate at which a checkpoint is that many rounds.
REFERENCE_RATE = 0.1
PRUNE_STARTUP = 5
#: Final models train on more rows than a validation split's; boosters get this many more rounds than they
#: stopped at (on average over the splits, or on their own stopping rows).
ROUNDS_MARGIN = 1.1
#: Below this many validation rows a booster chooses its round on rows of its own: it fits on the other
#: four fifths of its fit rows, STOPPING_SHARE of them stop it, and it is refitted on all of them with the
#: round chosen (and the margin), as the final model is. Choosing the round on a split's few dozen validation
#: rows and scoring the booster on the same rows flatters it against models that choose nothing: on diabetes
#: (56 validation rows a split) the search preferred LightGBM, and ensembles of it, to a ridge regression whose
#: held-out RMSE was 4 % lower. Scoring the booster fitted on four fifths instead (no refit) is as wrong the
#: other way on a steep learning curve: on digits (230 validation rows) LightGBM's CV log loss went from 0.100
#: to 0.123 and the search chose linear models (held out 0.120 against 0.07). The refit doubles a booster's
#: cost, which small splits afford; from 200 validation rows on, the flattery is small next to the noise.
OWN_STOPPING_BELOW = 200
STOPPING_SHARE = 0.2


def rate(params: Params) -> float:
    """A booster configuration's learning rate (REFERENCE_RATE where it sets none)."""
    return float(params.get("learning_rate", REFERENCE_RATE))


class Pruned(Exception):
    """The trial fell below the median at a checkpoint."""


def thresholds(study: optuna.Study, algorithm: str) -> dict[int, float]:
    """Per checkpoint, the median score of the completed trials of `algorithm` that reached it (once
    PRUNE_STARTUP have)."""
    reached: dict[int, list[float]] = {}
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if trial.params.get("algorithm") != algorithm:
            continue
        for step, value in trial.intermediate_values.items():
            reached.setdefault(step, []).append(value)
    return {step: float(np.median(values)) for step, values in reached.items() if len(values) >= PRUNE_STARTUP}


@dataclass
class Checkpoints:
    """Scores a booster at each checkpoint on the validation rows, and prunes it below the threshold."""

    metric: Metric
    y: np.ndarray
    n_classes: int  # 0 for regression
    limits: dict[int, float]
    learning_rate: float = REFERENCE_RATE
    values: dict[int, float] = field(default_factory=dict)
    classes: np.ndarray | None = None  # the classes the booster was fitted on: its probabilities' columns

    def __post_init__(self) -> None:
        scale = REFERENCE_RATE / self.learning_rate if self.learning_rate > 0 else 1.0
        self._steps = {max(1, round(step * scale)): step for step in CHECKPOINTS}  # the round -> its checkpoint

    def due(self, rounds: int) -> bool:
        """Whether the booster reaches one of its checkpoints after `rounds` rounds."""
        return rounds in self._steps

    def at(self, rounds: int, raw: np.ndarray) -> None:
        step = self._steps.get(rounds)
        if step is None:
            return
        value = score_predictions(self.metric, self.y, self._predictions(raw))
        self.values[step] = value
        limit = self.limits.get(step)
        if limit is not None and worse(self.metric, value, limit):
            raise Pruned(f"pruned at {rounds} rounds (checkpoint {step}): {value:.5g} is worse than the median "
                         f"{limit:.5g}")

    def _predictions(self, raw: np.ndarray) -> np.ndarray:
        if not self.n_classes or self.classes is None:
            return raw
        proba = np.column_stack([1 - raw, raw]) if raw.ndim == 1 else raw
        full = np.zeros((len(proba), self.n_classes))
        full[:, self.classes] = proba
        return full


def fit_split(pipeline: Any, algorithm: str, X_fit: Any, y_fit: np.ndarray, X_val: Any, y_val: np.ndarray,
              checkpoints: Checkpoints | None, stop_at: float | None = None, seed: int = 0) -> int | None:
    """Fit `pipeline` on one split, a booster stopping early (on the validation rows, or on rows of its own on a
    small split: OWN_STOPPING_BELOW); the rounds it used (histogram gradient boosting stops on its own 10 % of
    the fit rows), None for other algorithms.

    A booster also stops growing at `stop_at` (time.monotonic()), keeping the rounds it has: a slow
    configuration then yields a model short of its best, not a trial killed at the per-trial limit."""
    if ESTIMATORS[algorithm].grows_trees and stop_at is not None:
        return grow_forest(pipeline, X_fit, y_fit, stop_at)
    if ESTIMATORS[algorithm].grows_iterations and stop_at is not None:
        return grow_iterations(pipeline, X_fit, y_fit, stop_at)
    if not ESTIMATORS[algorithm].native_booster:
        pipeline.fit(X_fit, y_fit)
        return getattr(pipeline[-1], "n_iter_", None)
    own = own_stopping_rows(y_fit, seed, pipeline[-1]) if len(y_val) < OWN_STOPPING_BELOW else None
    if own is None:
        return _fit_booster(pipeline, algorithm, X_fit, y_fit, X_val, y_val, X_val, checkpoints, stop_at)
    inner, held = own
    rounds = _fit_booster(pipeline, algorithm, X_fit.iloc[inner], y_fit[inner], X_fit.iloc[held], y_fit[held],
                          X_val, checkpoints, stop_at)
    if stop_at is None or time.monotonic() < stop_at:  # out of time: keep the model fitted on fewer rows
        pipeline[-1].set_params(n_estimators=max(1, round(rounds * ROUNDS_MARGIN)),
                                **({"early_stopping_rounds": None} if algorithm == "xgboost" else {}))
        pipeline.fit(X_fit, y_fit)
    return rounds


def own_stopping_rows(y: np.ndarray, seed: int, model: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """The fit rows' positions a booster trains on and those it stops on (STOPPING_SHARE, stratified for a
    classifier), or None where a class is too rare to be on both sides (it then stops on the validation rows)."""
    from sklearn.base import is_classifier
    from sklearn.model_selection import train_test_split

    classifier = is_classifier(model)
    try:
        inner, held = train_test_split(np.arange(len(y)), test_size=STOPPING_SHARE, random_state=seed,
                                       stratify=y if classifier else None)
    except ValueError:  # a class with a single row, or too few rows
        return None
    if classifier and len(np.unique(y[inner])) < len(np.unique(y)):
        return None
    return np.asarray(inner), np.asarray(held)


def _fit_booster(pipeline: Any, algorithm: str, X_fit: Any, y_fit: np.ndarray, X_stop: Any, y_stop: np.ndarray,
                 X_val: Any, checkpoints: Checkpoints | None, stop_at: float | None) -> int:
    """Fit an XGBoost / LightGBM pipeline stopping early on (X_stop, y_stop), its checkpoints scored on the
    validation rows X_val; the rounds it kept."""
    preprocess, model = pipeline[:-1], pipeline[-1]
    Xf = preprocess.fit_transform(X_fit, y_fit)
    Xs = preprocess.transform(X_stop)
    Xv = Xs if X_val is X_stop else preprocess.transform(X_val)
    if checkpoints is not None:
        checkpoints.classes = np.unique(y_fit)  # a fold may miss a rare class
    if algorithm == "xgboost":
        model.set_params(callbacks=[_xgb_watch(checkpoints, Xv, stop_at)])
        try:
            model.fit(Xf, y_fit, eval_set=[(Xs, y_stop)], verbose=False)
        finally:
            model.set_params(callbacks=None)  # the fitted model must not hold the validation rows
        try:
            return int(model.best_iteration) + 1
        except AttributeError:  # the time limit stopped it before early stopping recorded a best round (loaded
            return max(int(model.get_booster().num_boosted_rounds()), 1)  # machine): keep the rounds it grew
    import lightgbm

    callbacks = [lightgbm.early_stopping(PATIENCE, verbose=False), _lgbm_watch(checkpoints, Xv, stop_at)]
    model.fit(Xf, y_fit, eval_X=Xs, eval_y=y_stop, callbacks=callbacks)
    return int(model.best_iteration_ or model.n_estimators)


#: Trees a forest starts with before its count doubles (a batch per thread pool round keeps the cores busy).
FIRST_TREES = 16


def grow_forest(pipeline: Any, X_fit: Any, y_fit: np.ndarray, stop_at: float) -> int:
    """Fit a random forest / extra trees pipeline adding trees in doubling batches (scikit-learn's warm_start)
    until its `n_estimators` or `stop_at` (time.monotonic()); returns the trees grown. After the first
    FIRST_TREES, a batch is cut to the trees the time left allows at the pace so far, so growing ends near
    `stop_at` rather than a whole batch past it."""
    return _grow(pipeline, X_fit, y_fit, stop_at, param="n_estimators", first=FIRST_TREES)


#: Iterations histogram gradient boosting starts with before its count doubles.
FIRST_ITERATIONS = 8


def grow_iterations(pipeline: Any, X_fit: Any, y_fit: np.ndarray, stop_at: float) -> int:
    """Fit a histogram gradient boosting pipeline adding iterations in doubling batches (warm_start keeps its
    trees, its own early-stopping rows and their score history) until it stops early, reaches `max_iter`, or
    `stop_at` (time.monotonic()); returns the iterations grown. scikit-learn's estimator has no callback, so
    this is how it keeps to a trial's time like the other boosters do."""
    return _grow(pipeline, X_fit, y_fit, stop_at, param="max_iter", first=FIRST_ITERATIONS,
                 grown_by=lambda model: int(model.n_iter_))


def _grow(pipeline: Any, X_fit: Any, y_fit: np.ndarray, stop_at: float, *, param: str, first: int,
          grown_by: Callable[[Any], int] | None = None) -> int:
    """Warm-start the pipeline's model in doubling batches of `param`, the last batch cut to the time left at
    the pace so far; `grown_by(model)` says how many it grew (fewer than asked: it stopped early on its own)."""
    preprocess, model = pipeline[:-1], pipeline[-1]
    Xf = preprocess.fit_transform(X_fit, y_fit)
    target, grown = int(model.get_params()[param]), 0
    started = time.monotonic()
    model.set_params(warm_start=True)
    try:
        while grown < target:
            step = min(target, max(first, 2 * grown)) - grown
            if grown:
                per_unit = (time.monotonic() - started) / grown
                step = min(step, int((stop_at - time.monotonic()) / max(per_unit, 1e-9)))
                if step < 1:
                    break
            model.set_params(**{param: grown + step})
            model.fit(Xf, y_fit)
            asked, grown = grown + step, grown + step if grown_by is None else grown_by(model)
            if grown < asked:
                break
    finally:
        model.set_params(warm_start=False)
    return grown


def _xgb_watch(checkpoints: Checkpoints | None, Xv: Any, stop_at: float | None) -> Any:
    from xgboost.callback import TrainingCallback

    class Watch(TrainingCallback):
        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            if checkpoints is not None and checkpoints.due(epoch + 1):
                checkpoints.at(epoch + 1, model.inplace_predict(Xv, iteration_range=(0, epoch + 1)))
            return stop_at is not None and time.monotonic() > stop_at  # True stops training

    return Watch()


def _lgbm_watch(checkpoints: Checkpoints | None, Xv: Any, stop_at: float | None) -> Any:
    from lightgbm.callback import EarlyStopException

    def watch(env: Any) -> None:
        rounds = env.iteration + 1
        if checkpoints is not None and checkpoints.due(rounds):
            checkpoints.at(rounds, env.model.predict(Xv, num_iteration=rounds))
        if stop_at is not None and time.monotonic() > stop_at:
            raise EarlyStopException(env.iteration, env.evaluation_result_list)

    return watch
