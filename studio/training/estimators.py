"""The estimator registry: each algorithm's tasks, constructor, search space and a strong default start."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from studio.training.task import Task

if TYPE_CHECKING:
    import optuna
    from sklearn.base import BaseEstimator

Params = dict[str, Any]

#: Boosters searched with early stopping grow at most this many rounds; the rounds they stopped at become the
#: final model's `n_estimators` / `max_iter`.
MAX_ROUNDS = 2000
PATIENCE = 30
#: Without early stopping and without a value (a model built outside the search), boosters use this many rounds.
DEFAULT_ROUNDS = 200


@dataclass(frozen=True)
class Options:
    """How the search builds an estimator, beyond its hyperparameters."""

    early_stopping: bool = False  # boosters: grow up to MAX_ROUNDS, stopped by a validation set given to fit()
    metric: str = ""  # the spec's metric, for the boosters' early-stopping evaluation
    balanced: bool = False  # weight classes inversely to their frequency


@dataclass(frozen=True)
class EstimatorDef:
    """How to build and tune one algorithm. Heavy libraries are imported only when building."""

    name: str
    label: str
    tasks: frozenset[Task]
    scale: bool  # whether the preprocessing should standardise numeric columns
    build: Callable[[Task, Params, int, int, Options], BaseEstimator]
    space: Callable[[optuna.Trial, Task], Params]
    defaults: Params = field(default_factory=dict)
    #: further strong starts, queued after every algorithm's default (a different kind of model the search may
    #: not reach by itself, e.g. XGBoost's additive start)
    starts: tuple[Params, ...] = ()
    rounds_param: str | None = None  # boosters: the parameter early stopping decides (n_estimators, max_iter)
    balances_classes: bool = True  # whether Options.balanced has an effect (XGBoost has no class weights)
    onnx: bool = True  # converts to ONNX with its preprocessing (tests/export/test_onnx.py proves each one)
    #: seconds for one fit + predict of the defaults on 10,000 rows x 10 features, one thread, on the 2-core
    #: development machine (bench/jobs.py prints per-trial times to refresh these); the estimate's unit cost
    seconds_per_fit: float = 1.0
    threaded: bool = True  # whether the fit uses the worker's threads (n_jobs / nthread)
    native_booster: bool = False  # XGBoost/LightGBM: early stopping and pruning checkpoints through callbacks
    #: forests: trees are added in doubling batches until the tree count or the trial's time runs out; the count
    #: grown becomes the final model's, so a slow configuration is scored at the fidelity the budget allows
    grows_trees: bool = False
    #: histogram gradient boosting: iterations are added in doubling batches (warm_start) until it stops early,
    #: reaches its rounds, or the trial's time runs out, so it never needs its worker stopped at the limit
    grows_iterations: bool = False
    #: the order algorithms are tried in per partition of a model family (cheapest first); None: never there
    partition_rank: int | None = None
    #: whether a regression may search the Poisson loss (`Losses`): the native boosters, whose ONNX
    #: converters apply its log link (skl2onnx's histogram-boosting converter ignores the loss)
    poisson: bool = False


    @property
    def fidelity_param(self) -> str | None:
        """The parameter a trial's own fit decides (boosting rounds, trees): the final model takes its value."""
        return self.rounds_param or ("n_estimators" if self.grows_trees else None)


#: A regression's losses: squared error, and Poisson (a log link) for a target that is never negative. Poisson
#: is the loss for counts (doctor visits, units sold) whose spread grows with their mean: on randhie's visits
#: LightGBM's held-out RMSE is 2 % lower with it than with squared error, at every configuration tried.
SQUARED, POISSON = "squared_error", "poisson"


@dataclass(frozen=True)
class Losses:
    """The losses a booster's regression may search on one target, and the one its strong default uses."""

    offered: tuple[str, ...] = (SQUARED,)
    default: str = SQUARED

    @classmethod
    def of(cls, task: Task, y: Any) -> Losses:
        """Poisson too where no value is negative (and some positive: its mean must be), and the default's for
        a count (whole numbers); squared error alone otherwise and for classification."""
        import numpy as np

        values = np.asarray(y, dtype=float)
        if task is not Task.REGRESSION or not len(values) or np.nanmin(values) < 0 or not np.nansum(values) > 0:
            return cls()
        counts = bool(np.all(np.isnan(values) | (values == np.round(values))))
        return cls((SQUARED, POISSON), POISSON if counts else SQUARED)

    def suggest(self, t: optuna.Trial, name: str) -> Params:
        """The trial's loss as a searched parameter (`lightgbm__loss`) where the algorithm and target offer a
        choice; nothing (squared error) otherwise."""
        return {"loss": t.suggest_categorical(f"{name}__loss", list(self.offered))} if self._choice(name) else {}

    def defaults(self, name: str) -> Params:
        """The strong default's loss, in the study's terms, for `enqueue_trial`."""
        return {f"{name}__loss": self.default} if self._choice(name) else {}

    def _choice(self, name: str) -> bool:
        """Whether algorithm `name` has a loss to choose on this target."""
        return ESTIMATORS[name].poisson and len(self.offered) > 1


#: Squared error alone: classification, a target with negative values, and what callers get by default.
SQUARED_ONLY = Losses()


def _class_weight(o: Options) -> str | None:
    return "balanced" if o.balanced else None


def _linear(task: Task, p: Params, n_jobs: int, seed: int, o: Options) -> BaseEstimator:
    from sklearn.linear_model import LogisticRegression, Ridge

    if task is Task.REGRESSION:
        return Ridge(alpha=p["alpha"], random_state=seed)
    return LogisticRegression(C=p["C"], max_iter=2000, random_state=seed, class_weight=_class_weight(o))


def _linear_space(t: optuna.Trial, task: Task) -> Params:
    if task is Task.REGRESSION:
        return {"alpha": t.suggest_float("linear__alpha", 1e-3, 1e3, log=True)}
    return {"C": t.suggest_float("linear__C", 1e-3, 1e2, log=True)}


def _trees(task: Task, p: Params, n_jobs: int, seed: int, o: Options, *, extra: bool) -> BaseEstimator:
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        ExtraTreesRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )

    if task is Task.REGRESSION:
        return (ExtraTreesRegressor if extra else RandomForestRegressor)(
            n_estimators=p["n_estimators"], max_depth=p["max_depth"], min_samples_leaf=p["min_samples_leaf"],
            max_features=p["max_features"], n_jobs=n_jobs, random_state=seed)
    return (ExtraTreesClassifier if extra else RandomForestClassifier)(
        n_estimators=p["n_estimators"], max_depth=p["max_depth"], min_samples_leaf=p["min_samples_leaf"],
        max_features=p["max_features"], n_jobs=n_jobs, random_state=seed, class_weight=_class_weight(o))


def _forest(task: Task, p: Params, n_jobs: int, seed: int, o: Options) -> BaseEstimator:
    return _trees(task, p, n_jobs, seed, o, extra=False)


def _extra(task: Task, p: Params, n_jobs: int, seed: int, o: Options) -> BaseEstimator:
    return _trees(task, p, n_jobs, seed, o, extra=True)


def _trees_space(name: str) -> Callable[[optuna.Trial, Task], Params]:
    def space(t: optuna.Trial, task: Task) -> Params:
        return {"n_estimators": t.suggest_int(f"{name}__n_estimators", 50, 500, log=True),
                "max_depth": t.suggest_int(f"{name}__max_depth", 3, 40, log=True),
                "min_samples_leaf": t.suggest_int(f"{name}__min_samples_leaf", 1, 40, log=True),
                "max_features": t.suggest_float(f"{name}__max_features", 0.1, 1.0)}

    return space


def _rounds(p: Params, o: Options, name: str) -> int:
    return MAX_ROUNDS if o.early_stopping else int(p.get(name, DEFAULT_ROUNDS))


def _hgb(task: Task, p: Params, n_jobs: int, seed: int, o: Options) -> BaseEstimator:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    common = {"learning_rate": p["learning_rate"], "max_leaf_nodes": p["max_leaf_nodes"],
              "min_samples_leaf": p["min_samples_leaf"], "l2_regularization": p["l2_regularization"],
              "max_iter": _rounds(p, o, "max_iter"), "random_state": seed,
              # no eval_set in fit(): it holds out 10 % of the rows it is given to stop on
              "early_stopping": o.early_stopping, "n_iter_no_change": 20, "validation_fraction": 0.1}
    if task is Task.REGRESSION:
        return HistGradientBoostingRegressor(**common)
    return HistGradientBoostingClassifier(**common, class_weight=_class_weight(o))


def _hgb_space(t: optuna.Trial, task: Task) -> Params:
    return {"learning_rate": t.suggest_float("hist_gradient_boosting__learning_rate", 0.01, 0.3, log=True),
            "max_leaf_nodes": t.suggest_int("hist_gradient_boosting__max_leaf_nodes", 4, 255, log=True),
            "min_samples_leaf": t.suggest_int("hist_gradient_boosting__min_samples_leaf", 2, 200, log=True),
            "l2_regularization": t.suggest_float("hist_gradient_boosting__l2_regularization", 1e-6, 10, log=True)}


#: The boosters' own evaluation metric for early stopping, where the spec's metric has one; else their loss.
#: RMSE too: under the Poisson loss their own metric would be its deviance.
_XGB_METRIC = {"roc_auc": "auc", "mae": "mae", "mape": "mape", "rmse": "rmse"}
_LGBM_METRIC = {"roc_auc": "auc", "mae": "l1", "mape": "mape", "rmse": "rmse"}


def _xgb(task: Task, p: Params, n_jobs: int, seed: int, o: Options) -> BaseEstimator:
    from xgboost import XGBClassifier, XGBRegressor

    cls = XGBRegressor if task is Task.REGRESSION else XGBClassifier
    stopping = {"early_stopping_rounds": PATIENCE, "eval_metric": _XGB_METRIC.get(o.metric)} if o.early_stopping else {}
    if p.get("loss") == POISSON:
        stopping["objective"] = "count:poisson"  # its ONNX converter applies the log link
    return cls(n_estimators=_rounds(p, o, "n_estimators"), learning_rate=p["learning_rate"],
               max_depth=p["max_depth"], subsample=p["subsample"], colsample_bytree=p["colsample_bytree"],
               reg_lambda=p["reg_lambda"], reg_alpha=p.get("reg_alpha", 0.0), min_child_weight=p["min_child_weight"],
               tree_method="hist", n_jobs=n_jobs, random_state=seed, **stopping)


#: XGBoost's second start: boosted stumps (depth 1), an additive model of one function per feature (as an
#: explainable boosting machine is), at the space's highest rate with as many rounds as early stopping allows. Where
#: the signal is additive and noisy it beats every deeper tree: on fair_affairs (6,366 marriages, 8 survey answers)
#: its 5-fold AUC is 0.759 and held out 0.741, against 0.758 and 0.736 for the best depth-2 XGBoost a 60 s search
#: found (FLAML's winner there is stumps too); a random search rarely draws depth 1 with a high rate, so it is
#: queued. On a house-price table it is the best single trial by far (CV RMSE 20,529 against 38,980 for the default
#: XGBoost); where the signal is not additive it scores below the deeper trees and costs one cheap trial.
ADDITIVE_START: Params = {"xgboost__learning_rate": 0.3, "xgboost__max_depth": 1, "xgboost__subsample": 0.9,
                          "xgboost__colsample_bytree": 0.8, "xgboost__reg_lambda": 10.0, "xgboost__reg_alpha": 1e-4,
                          "xgboost__min_child_weight": 10.0}


#: The boosters' capacity reaches deep trees (XGBoost to depth 20, LightGBM to 4,096 leaves, both drawn on a log
#: scale, so most trials stay small): on randhie, 20,190 visits of 2,719 people, the best models memorise the
#: people; with depth capped at 10 and 255 leaves most XGBoost trials sat at the bound (56 of 89 in one search) and
#: the studio fell behind FLAML (whose trees reach 32,767 leaves): held-out RMSE 3.47-3.49, 3.51-3.54 with the caps.
def _xgb_space(t: optuna.Trial, task: Task) -> Params:
    return {"learning_rate": t.suggest_float("xgboost__learning_rate", 0.01, 0.3, log=True),
            "max_depth": t.suggest_int("xgboost__max_depth", 1, 20, log=True),
            "subsample": t.suggest_float("xgboost__subsample", 0.5, 1.0),
            "colsample_bytree": t.suggest_float("xgboost__colsample_bytree", 0.4, 1.0),
            "reg_lambda": t.suggest_float("xgboost__reg_lambda", 1e-3, 10, log=True),
            "reg_alpha": t.suggest_float("xgboost__reg_alpha", 1e-4, 10, log=True),
            "min_child_weight": t.suggest_float("xgboost__min_child_weight", 0.5, 50, log=True)}


def _lgbm(task: Task, p: Params, n_jobs: int, seed: int, o: Options) -> BaseEstimator:
    from lightgbm import LGBMClassifier, LGBMRegressor

    common = {"n_estimators": _rounds(p, o, "n_estimators"), "learning_rate": p["learning_rate"],
              "num_leaves": p["num_leaves"], "min_child_samples": p["min_child_samples"], "subsample": p["subsample"],
              "subsample_freq": 1, "colsample_bytree": p["colsample_bytree"], "reg_lambda": p["reg_lambda"],
              "reg_alpha": p.get("reg_alpha", 0.0), "n_jobs": n_jobs, "random_state": seed, "verbose": -1}
    if o.early_stopping and o.metric in _LGBM_METRIC:
        common["metric"] = _LGBM_METRIC[o.metric]
    if task is Task.REGRESSION:
        return LGBMRegressor(**common, objective="poisson" if p.get("loss") == POISSON else "regression")
    return LGBMClassifier(**common, class_weight=_class_weight(o))


def _lgbm_space(t: optuna.Trial, task: Task) -> Params:
    return {"learning_rate": t.suggest_float("lightgbm__learning_rate", 0.01, 0.3, log=True),
            "num_leaves": t.suggest_int("lightgbm__num_leaves", 4, 4096, log=True),
            "min_child_samples": t.suggest_int("lightgbm__min_child_samples", 2, 200, log=True),
            "subsample": t.suggest_float("lightgbm__subsample", 0.5, 1.0),
            "colsample_bytree": t.suggest_float("lightgbm__colsample_bytree", 0.4, 1.0),
            "reg_lambda": t.suggest_float("lightgbm__reg_lambda", 1e-3, 10, log=True),
            "reg_alpha": t.suggest_float("lightgbm__reg_alpha", 1e-4, 10, log=True)}


_ALL = frozenset(Task)

ESTIMATORS: dict[str, EstimatorDef] = {e.name: e for e in [
    EstimatorDef("linear", "Logistic / linear (ridge) regression", _ALL, True, _linear, _linear_space,
                 {"linear__C": 1.0, "linear__alpha": 1.0}, seconds_per_fit=0.15, threaded=False, partition_rank=0),
    EstimatorDef("random_forest", "Random forest", _ALL, False, _forest, _trees_space("random_forest"),
                 {"random_forest__n_estimators": 200, "random_forest__max_depth": 20,
                  "random_forest__min_samples_leaf": 1, "random_forest__max_features": 0.5},
                 seconds_per_fit=1.6, partition_rank=3, grows_trees=True),
    EstimatorDef("extra_trees", "Extra trees", _ALL, False, _extra, _trees_space("extra_trees"),
                 {"extra_trees__n_estimators": 200, "extra_trees__max_depth": 30,
                  "extra_trees__min_samples_leaf": 2, "extra_trees__max_features": 0.7},
                 seconds_per_fit=0.8, partition_rank=4, grows_trees=True),
    EstimatorDef("hist_gradient_boosting", "Histogram gradient boosting", _ALL, False, _hgb, _hgb_space,
                 {"hist_gradient_boosting__learning_rate": 0.1, "hist_gradient_boosting__max_leaf_nodes": 31,
                  "hist_gradient_boosting__min_samples_leaf": 20, "hist_gradient_boosting__l2_regularization": 1e-6},
                 rounds_param="max_iter", seconds_per_fit=0.9, partition_rank=2, grows_iterations=True),
    EstimatorDef("xgboost", "XGBoost", _ALL, False, _xgb, _xgb_space,
                 {"xgboost__learning_rate": 0.1, "xgboost__max_depth": 6, "xgboost__subsample": 0.9,
                  "xgboost__colsample_bytree": 0.8, "xgboost__reg_lambda": 1.0, "xgboost__reg_alpha": 1e-4,
                  "xgboost__min_child_weight": 1.0},
                 starts=(ADDITIVE_START,), rounds_param="n_estimators", balances_classes=False, seconds_per_fit=0.7,
                 native_booster=True, partition_rank=5, poisson=True),
    EstimatorDef("lightgbm", "LightGBM", _ALL, False, _lgbm, _lgbm_space,
                 {"lightgbm__learning_rate": 0.1, "lightgbm__num_leaves": 31, "lightgbm__min_child_samples": 20,
                  "lightgbm__subsample": 0.9, "lightgbm__colsample_bytree": 0.8, "lightgbm__reg_lambda": 1.0,
                  "lightgbm__reg_alpha": 1e-4},
                 rounds_param="n_estimators", seconds_per_fit=0.45, native_booster=True, partition_rank=1,
                 poisson=True),
]}


def strip_prefix(name: str, params: Params) -> Params:
    """Optuna keys are prefixed by algorithm (`xgboost__max_depth`) so spaces never clash; drop it."""
    prefix = f"{name}__"
    return {k.removeprefix(prefix): v for k, v in params.items() if k.startswith(prefix)}
