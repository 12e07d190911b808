"""Contract: every registered algorithm, on every task it claims, fits, predicts, and survives save/load."""

from __future__ import annotations

import numpy as np
import optuna
import pandas as pd
import pytest
import skops.io as sio

from studio.data import ColumnKind
from studio.training import ESTIMATORS, Feature, Task, TrainSpec, model_frame
from studio.training.model import encode_target
from studio.training.search import make_pipeline
from tests.conftest import churn_frame

FEATURES = (Feature(name="tenure", kind=ColumnKind.NUMERIC), Feature(name="monthly charges", kind=ColumnKind.NUMERIC),
            Feature(name="plan", kind=ColumnKind.CATEGORICAL), Feature(name="auto_pay", kind=ColumnKind.BOOLEAN))
TARGETS = {Task.BINARY: ("churned", "roc_auc"), Task.MULTICLASS: ("plan3", "log_loss"),
           Task.REGRESSION: ("tenure2", "rmse")}
CASES = [(name, task) for name, est in ESTIMATORS.items() for task in Task if task in est.tasks]


def _data(task: Task) -> tuple[pd.DataFrame, pd.Series]:
    frame = churn_frame(180, seed=1)
    frame["plan3"] = np.where(frame["tenure"] < 24, "new", np.where(frame["tenure"] < 48, "mid", "old"))
    frame["tenure2"] = frame["tenure"] * 2 + np.random.default_rng(0).normal(0, 1, len(frame))
    return model_frame(frame, FEATURES), frame[TARGETS[task][0]]


@pytest.mark.parametrize(("algorithm", "task"), CASES, ids=[f"{a}-{t}" for a, t in CASES])
def test_fit_predict_save_load(algorithm: str, task: Task) -> None:
    X, target = _data(task)
    y, classes = encode_target(target, task)
    spec = TrainSpec.parse({"dataset_id": "d-v1", "dataset_hash": "h", "target": TARGETS[task][0], "task": task,
                            "features": [f.model_dump() for f in FEATURES], "algorithms": [algorithm],
                            "metric": TARGETS[task][1]})
    trial = optuna.trial.FixedTrial({**ESTIMATORS[algorithm].defaults, "algorithm": algorithm})
    params = ESTIMATORS[algorithm].space(trial, task)
    pipeline = make_pipeline(spec, algorithm, params, n_jobs=1).fit(X, y)
    pred = pipeline.predict(X)
    assert pred.shape == (len(X),)
    if task.is_classification:
        proba = pipeline.predict_proba(X)
        assert proba.shape == (len(X), len(classes)) and np.allclose(proba.sum(axis=1), 1)
        assert (pred == y).mean() > 0.6
    else:
        assert np.corrcoef(pred, y)[0, 1] > 0.8
    blob = sio.dumps(pipeline)
    loaded = sio.loads(blob, trusted=sio.get_untrusted_types(data=blob))
    np.testing.assert_allclose(loaded.predict(X), pred)


@pytest.mark.parametrize(("metric", "class_weight", "balanced"), [
    ("f1", "auto", True), ("balanced_accuracy", "auto", True), ("roc_auc", "auto", False),
    ("roc_auc", "balanced", True), ("f1", "none", False),
])
def test_classes_are_weighted_when_the_metric_rewards_rare_classes(metric: str, class_weight: str,
                                                                   balanced: bool) -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=2000)})
    y = (X["x"] + rng.normal(0, 1, 2000) > 2.0).astype(int).to_numpy()  # about 8 % positives
    spec = TrainSpec.parse({"dataset_id": "d-v1", "dataset_hash": "h", "target": "y", "task": "binary",
                            "features": [{"name": "x", "kind": "numeric"}], "algorithms": ["linear"],
                            "metric": metric, "class_weight": class_weight})
    assert spec.balanced_classes is balanced
    built = {name: make_pipeline(spec, name, ESTIMATORS[name].space(optuna.trial.FixedTrial(
        {**ESTIMATORS[name].defaults, "algorithm": name}), Task.BINARY), n_jobs=1)[-1] for name in ESTIMATORS}
    weighted = {name for name, model in built.items() if getattr(model, "class_weight", None) == "balanced"}
    assert weighted == ({name for name, e in ESTIMATORS.items() if e.balances_classes} if balanced else set())
    flagged = make_pipeline(spec, "linear", {"C": 1.0}, n_jobs=1).fit(X, y).predict(X).mean()
    assert bool(flagged > 0.2) is balanced  # balanced weights flag many more rows as the rare class
