"""ONNX export: every registered algorithm converts with its preprocessing and matches the native pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import optuna
import pandas as pd
import pytest
from sklearn.ensemble import VotingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from studio.context import Studio
from studio.data import ColumnKind
from studio.errors import ExportError
from studio.export.examples import example_rows
from studio.export.onnx_model import PARITY_TOLERANCE, convert, export_onnx, parity
from studio.studies import storage_for
from studio.training import ESTIMATORS, Feature, Task, TrainSpec, model_frame
from studio.training.draft import draft_spec
from studio.training.model import ModelInfo, encode_target
from studio.training.run import train
from studio.training.search import make_pipeline
from studio.training.spec import Budget
from tests.conftest import INLINE, SMALL, ListReporter

FEATURES = (Feature(name="tenure", kind=ColumnKind.NUMERIC), Feature(name="monthly charges", kind=ColumnKind.NUMERIC),
            Feature(name="plan", kind=ColumnKind.CATEGORICAL, n_distinct=3),
            Feature(name="shop", kind=ColumnKind.CATEGORICAL, n_distinct=60),  # target-encoded (> 30 values)
            Feature(name="auto_pay", kind=ColumnKind.BOOLEAN), Feature(name="signed", kind=ColumnKind.DATETIME))
TARGETS = {Task.BINARY: ("churned", "roc_auc"), Task.MULTICLASS: ("tier", "log_loss"),
           Task.REGRESSION: ("spend", "rmse")}
CASES = [(name, task) for name, est in ESTIMATORS.items() for task in Task if task in est.tasks]


def mixed_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """Numbers, booleans, low- and high-cardinality categories, a date, and missing values in each kind."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, n).astype(float)
    plan = rng.choice(["basic", "plus", "pro"], n).astype(object)
    shop = rng.choice([f"shop {i}" for i in range(60)], n).astype(object)
    frame = pd.DataFrame({
        "tenure": tenure, "monthly charges": rng.normal(70, 20, n).round(2), "plan": plan, "shop": shop,
        "auto_pay": rng.choice([True, False], n),
        "signed": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D"),
    })
    score = -0.05 * tenure + np.where(plan == "basic", 0.8, -0.4) + rng.normal(0, 0.5, n)
    frame["churned"] = np.where(score > -1.2, "yes", "no")
    frame["tier"] = np.where(score > -0.5, "gold", np.where(score > -2, "silver", "bronze"))
    frame["spend"] = 3 * tenure + rng.normal(0, 5, n)
    frame.loc[::11, "monthly charges"] = np.nan
    frame.loc[::13, "plan"] = None
    frame.loc[::17, "shop"] = None
    return frame


def _fitted(algorithm: str, task: Task, frame: pd.DataFrame, *, target: str | None = None,
            **extra: object) -> tuple[Pipeline, ModelInfo, pd.DataFrame]:
    target, metric = (target, "rmse") if target else TARGETS[task]
    y, classes = encode_target(frame[target], task)
    spec = TrainSpec.parse({"dataset_id": "d-v1", "dataset_hash": "h", "target": target, "task": task,
                            "features": [f.model_dump() for f in FEATURES], "algorithms": [algorithm],
                            "metric": metric})
    params = {**ESTIMATORS[algorithm].space(optuna.trial.FixedTrial({**ESTIMATORS[algorithm].defaults,
                                                                     "algorithm": algorithm}), task), **extra}
    X = model_frame(frame, FEATURES)
    pipeline = make_pipeline(spec, algorithm, params, n_jobs=1).fit(X, y)
    info = ModelInfo(task=task, target=target, features=FEATURES, classes=classes, metric=metric)
    return pipeline, info, X


@pytest.mark.parametrize(("algorithm", "task"), CASES, ids=[f"{a}-{t}" for a, t in CASES])
def test_every_algorithm_converts_with_its_preprocessing_and_matches(algorithm: str, task: Task) -> None:
    frame = mixed_frame()
    pipeline, info, X = _fitted(algorithm, task, frame)
    model = convert(pipeline, info)
    report = parity(model, pipeline, X, info, model_uri="models:/m/1")
    assert report.rows == len(X) and report.holds, report
    assert report.inputs["shop"] == "string" and report.inputs["signed__month"] == "float32"
    if task.is_classification:
        assert report.compared == "probabilities" and report.labels_agree == 1.0


@pytest.mark.parametrize("algorithm", [name for name, est in ESTIMATORS.items() if est.poisson])
def test_a_booster_with_the_poisson_loss_converts_with_its_log_link(algorithm: str) -> None:
    frame = mixed_frame()
    frame["visits"] = np.random.default_rng(1).poisson(np.exp(frame["tenure"] / 40))  # a count
    pipeline, info, X = _fitted(algorithm, Task.REGRESSION, frame, target="visits", loss="poisson")
    assert pipeline[-1].get_params()["objective"] in ("poisson", "count:poisson")
    report = parity(convert(pipeline, info), pipeline, X, info, model_uri="models:/m/1")
    assert report.rows == len(X) and report.holds, report


def test_a_soft_voting_ensemble_of_pipelines_converts() -> None:
    frame = mixed_frame()
    lgbm, info, X = _fitted("lightgbm", Task.BINARY, frame)
    linear, _, _ = _fitted("linear", Task.BINARY, frame)
    y, _ = encode_target(frame["churned"], Task.BINARY)
    ensemble = VotingClassifier([("a", lgbm), ("b", linear)], voting="soft", weights=[2, 1]).fit(X, y)
    assert parity(convert(ensemble, info), ensemble, X, info, model_uri="models:/m/1").holds


def test_a_step_without_a_converter_is_named() -> None:
    frame = mixed_frame()
    pipeline, info, X = _fitted("linear", Task.REGRESSION, frame)
    y, _ = encode_target(frame["spend"], Task.REGRESSION)
    odd = Pipeline([("preprocess", pipeline[0]), ("squash", FunctionTransformer(np.tanh)),
                    ("model", pipeline[-1])]).fit(X, y)
    with pytest.raises(ExportError, match="FunctionTransformer") as caught:
        convert(odd, info)
    assert "ONNX-safe" in str(caught.value)


@pytest.mark.slow
def test_export_onnx_saves_the_model_and_parity_report_with_the_run(studio: Studio, tmp_path: Path) -> None:
    frame = mixed_frame(300)
    record = studio.catalog.save(frame.drop(columns=["tier", "spend"]), "mixed", source="test")
    spec = draft_spec(record, studio.catalog.load(record.id), target="churned", algorithms=["lightgbm", "linear"],
                      budget=Budget(max_trials=3, seconds=None))
    result = train(spec, catalog=studio.catalog, tracker=studio.tracker, job_id="o1", profile=SMALL, pools=INLINE,
                   storage=storage_for(studio.settings, "job-o1"), reporter=ListReporter())
    studio.catalog.delete(record.id)  # a kept model needs nothing from its dataset: the run holds its held-out rows
    rows = example_rows(studio.tracker, result.model_uri, n=2)
    assert len(rows) == 2 and set(rows[0]) == {f.name for f in spec.features}
    exported = export_onnx(studio.tracker, studio.settings.exports_path, result.model_uri)
    assert exported.report.holds and exported.report.rows == 60 and exported.report.tolerance == PARITY_TOLERANCE
    onnx.checker.check_model(onnx.load(exported.path))
    artifacts = {a.path for a in studio.tracker.client.list_artifacts(result.run_id, "onnx")}
    assert artifacts == {"onnx/model.onnx", "onnx/parity.json"}
    downloaded = studio.tracker.client.download_artifacts(result.run_id, "onnx/parity.json", str(tmp_path))
    saved = json.loads(Path(downloaded).read_text())
    assert saved["max_abs_diff"] == pytest.approx(exported.report.max_abs_diff)
