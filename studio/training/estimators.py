"""The estimator registry: each algorithm's tasks, constructor, search space and a strong default start."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import optuna
from sklearn.base import BaseEstimator

from studio.training.task import Task

Params = dict[str, Any]


@dataclass(frozen=True)
class EstimatorDef:
    """How to build and tune one algorithm. Heavy libraries are imported only when building."""

    name: str
    label: str
    tasks: frozenset[Task]
    scale: bool  # whether the preprocessing should standardise numeric columns
    build: Callable[[Task, Params, int, int], BaseEstimator]
    space: Callable[[optuna.Trial, Task], Params]
    defaults: Params = field(default_factory=dict)


def _linear(task: Task, p: Params, n_jobs: int, seed: int) -> BaseEstimator:
    from sklearn.linear_model import LogisticRegression, Ridge

    if task is Task.REGRESSION:
        return Ridge(alpha=p["alpha"], random_state=seed)
    return LogisticRegression(C=p["C"], max_iter=2000, random_state=seed)


def _linear_space(t: optuna.Trial, task: Task) -> Params:
    if task is Task.REGRESSION:
        return {"alpha": t.suggest_float("linear__alpha", 1e-3, 1e3, log=True)}
    return {"C": t.suggest_float("linear__C", 1e-3, 1e2, log=True)}


def _forest(task: Task, p: Params, n_jobs: int, seed: int) -> BaseEstimator:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    cls = RandomForestRegressor if task is Task.REGRESSION else RandomForestClassifier
    return cls(n_estimators=p["n_estimators"], max_depth=p["max_depth"], min_samples_leaf=p["min_samples_leaf"],
               max_features=p["max_features"], n_jobs=n_jobs, random_state=seed)


def _forest_space(t: optuna.Trial, task: Task) -> Params:
    return {"n_estimators": t.suggest_int("random_forest__n_estimators", 50, 400, log=True),
            "max_depth": t.suggest_int("random_forest__max_depth", 3, 30, log=True),
            "min_samples_leaf": t.suggest_int("random_forest__min_samples_leaf", 1, 20, log=True),
            "max_features": t.suggest_float("random_forest__max_features", 0.2, 1.0)}


def _hgb(task: Task, p: Params, n_jobs: int, seed: int) -> BaseEstimator:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    cls = HistGradientBoostingRegressor if task is Task.REGRESSION else HistGradientBoostingClassifier
    return cls(learning_rate=p["learning_rate"], max_leaf_nodes=p["max_leaf_nodes"],
               min_samples_leaf=p["min_samples_leaf"], l2_regularization=p["l2_regularization"],
               max_iter=p["max_iter"], random_state=seed)


def _hgb_space(t: optuna.Trial, task: Task) -> Params:
    return {"learning_rate": t.suggest_float("hist_gradient_boosting__learning_rate", 0.01, 0.3, log=True),
            "max_leaf_nodes": t.suggest_int("hist_gradient_boosting__max_leaf_nodes", 7, 127, log=True),
            "min_samples_leaf": t.suggest_int("hist_gradient_boosting__min_samples_leaf", 5, 100, log=True),
            "l2_regularization": t.suggest_float("hist_gradient_boosting__l2_regularization", 1e-6, 10, log=True),
            "max_iter": t.suggest_int("hist_gradient_boosting__max_iter", 50, 500, log=True)}


def _xgb(task: Task, p: Params, n_jobs: int, seed: int) -> BaseEstimator:
    from xgboost import XGBClassifier, XGBRegressor

    cls = XGBRegressor if task is Task.REGRESSION else XGBClassifier
    return cls(n_estimators=p["n_estimators"], learning_rate=p["learning_rate"], max_depth=p["max_depth"],
               subsample=p["subsample"], colsample_bytree=p["colsample_bytree"], reg_lambda=p["reg_lambda"],
               min_child_weight=p["min_child_weight"], tree_method="hist", n_jobs=n_jobs, random_state=seed)


def _xgb_space(t: optuna.Trial, task: Task) -> Params:
    return {"n_estimators": t.suggest_int("xgboost__n_estimators", 50, 600, log=True),
            "learning_rate": t.suggest_float("xgboost__learning_rate", 0.01, 0.3, log=True),
            "max_depth": t.suggest_int("xgboost__max_depth", 2, 10),
            "subsample": t.suggest_float("xgboost__subsample", 0.5, 1.0),
            "colsample_bytree": t.suggest_float("xgboost__colsample_bytree", 0.4, 1.0),
            "reg_lambda": t.suggest_float("xgboost__reg_lambda", 1e-3, 10, log=True),
            "min_child_weight": t.suggest_float("xgboost__min_child_weight", 0.5, 20, log=True)}


def _lgbm(task: Task, p: Params, n_jobs: int, seed: int) -> BaseEstimator:
    from lightgbm import LGBMClassifier, LGBMRegressor

    cls = LGBMRegressor if task is Task.REGRESSION else LGBMClassifier
    return cls(n_estimators=p["n_estimators"], learning_rate=p["learning_rate"], num_leaves=p["num_leaves"],
               min_child_samples=p["min_child_samples"], subsample=p["subsample"], subsample_freq=1,
               colsample_bytree=p["colsample_bytree"], reg_lambda=p["reg_lambda"], n_jobs=n_jobs,
               random_state=seed, verbose=-1)


def _lgbm_space(t: optuna.Trial, task: Task) -> Params:
    return {"n_estimators": t.suggest_int("lightgbm__n_estimators", 50, 600, log=True),
            "learning_rate": t.suggest_float("lightgbm__learning_rate", 0.01, 0.3, log=True),
            "num_leaves": t.suggest_int("lightgbm__num_leaves", 7, 127, log=True),
            "min_child_samples": t.suggest_int("lightgbm__min_child_samples", 5, 100, log=True),
            "subsample": t.suggest_float("lightgbm__subsample", 0.5, 1.0),
            "colsample_bytree": t.suggest_float("lightgbm__colsample_bytree", 0.4, 1.0),
            "reg_lambda": t.suggest_float("lightgbm__reg_lambda", 1e-3, 10, log=True)}


_ALL = frozenset(Task)

ESTIMATORS: dict[str, EstimatorDef] = {e.name: e for e in [
    EstimatorDef("linear", "Logistic / linear (ridge) regression", _ALL, True, _linear, _linear_space,
                 {"linear__C": 1.0, "linear__alpha": 1.0}),
    EstimatorDef("random_forest", "Random forest", _ALL, False, _forest, _forest_space,
                 {"random_forest__n_estimators": 200, "random_forest__max_depth": 20,
                  "random_forest__min_samples_leaf": 1, "random_forest__max_features": 0.5}),
    EstimatorDef("hist_gradient_boosting", "Histogram gradient boosting", _ALL, False, _hgb, _hgb_space,
                 {"hist_gradient_boosting__learning_rate": 0.1, "hist_gradient_boosting__max_leaf_nodes": 31,
                  "hist_gradient_boosting__min_samples_leaf": 20,
                  "hist_gradient_boosting__l2_regularization": 1e-6, "hist_gradient_boosting__max_iter": 100}),
    EstimatorDef("xgboost", "XGBoost", _ALL, False, _xgb, _xgb_space,
                 {"xgboost__n_estimators": 200, "xgboost__learning_rate": 0.1, "xgboost__max_depth": 6,
                  "xgboost__subsample": 0.9, "xgboost__colsample_bytree": 0.8, "xgboost__reg_lambda": 1.0,
                  "xgboost__min_child_weight": 1.0}),
    EstimatorDef("lightgbm", "LightGBM", _ALL, False, _lgbm, _lgbm_space,
                 {"lightgbm__n_estimators": 200, "lightgbm__learning_rate": 0.1, "lightgbm__num_leaves": 31,
                  "lightgbm__min_child_samples": 20, "lightgbm__subsample": 0.9,
                  "lightgbm__colsample_bytree": 0.8, "lightgbm__reg_lambda": 1.0}),
]}


def strip_prefix(name: str, params: Params) -> Params:
    """Optuna keys are prefixed by algorithm (`xgboost__max_depth`) so spaces never clash; drop it."""
    prefix = f"{name}__"
    return {k.removeprefix(prefix): v for k, v in params.items() if k.startswith(prefix)}
