"""Fitted pipelines on mixed data (numbers, booleans, low- and high-cardinality categories, a date, missing
values) for every task, and their held-out evaluation."""

from __future__ import annotations

import optuna
import pandas as pd
import pytest

from studio.training import ESTIMATORS, Task, TrainSpec, model_frame
from studio.training.evaluation import Evaluation, evaluate_model
from studio.training.model import ModelInfo, TrainedModel, encode_target
from studio.training.search import make_pipeline
from tests.export.test_onnx import FEATURES, TARGETS, mixed_frame


def fitted(algorithm: str, task: Task, frame: pd.DataFrame) -> TrainedModel:
    target, metric = TARGETS[task]
    y, classes = encode_target(frame[target], task)
    spec = TrainSpec.parse({"dataset_id": "d-v1", "dataset_hash": "h", "target": target, "task": task,
                            "features": [f.model_dump() for f in FEATURES], "algorithms": [algorithm],
                            "metric": metric})
    params = ESTIMATORS[algorithm].space(optuna.trial.FixedTrial({**ESTIMATORS[algorithm].defaults,
                                                                  "algorithm": algorithm}), task)
    pipeline = make_pipeline(spec, algorithm, params, n_jobs=1).fit(model_frame(frame, FEATURES), y)
    return TrainedModel(pipeline, ModelInfo(task=task, target=target, features=FEATURES, classes=classes,
                                            metric=metric))


def evaluated(model: TrainedModel, frame: pd.DataFrame) -> Evaluation:
    target = model.info.target
    y, _ = encode_target(frame[target], model.info.task)
    return evaluate_model(model.pipeline, features_frame=frame[[f.name for f in FEATURES]],
                          X=model_frame(frame, FEATURES), y=y, task=model.info.task, metric=model.info.metric,
                          classes=model.info.classes, features=list(FEATURES), fold_scores=[0.8, 0.82, 0.79])


@pytest.fixture(scope="module")
def train_and_test() -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = mixed_frame(600, seed=1)
    return frame.iloc[:450].reset_index(drop=True), frame.iloc[450:].reset_index(drop=True)


@pytest.fixture(scope="module")
def binary_eval(train_and_test) -> Evaluation:
    train, test = train_and_test
    return evaluated(fitted("lightgbm", Task.BINARY, train), test)


@pytest.fixture(scope="module")
def multiclass_eval(train_and_test) -> Evaluation:
    train, test = train_and_test
    return evaluated(fitted("random_forest", Task.MULTICLASS, train), test)


@pytest.fixture(scope="module")
def regression_eval(train_and_test) -> Evaluation:
    train, test = train_and_test
    return evaluated(fitted("linear", Task.REGRESSION, train), test)

