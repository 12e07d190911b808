"""The held-out evaluation a job records: predictions, permutation importance and SHAP per original feature."""

from __future__ import annotations

import numpy as np
import pytest

from studio.training import Task, model_frame
from studio.training.evaluation import Evaluation, importance
from studio.training.evaluation.importance import transformed_sources
from studio.training.metrics import METRICS, score_predictions
from studio.training.model import encode_target, raw_predictions
from tests.export.test_onnx import FEATURES
from tests.training.evaluation.conftest import fitted


def test_the_holdout_keeps_features_actuals_predictions_and_probabilities(binary_eval: Evaluation,
                                                                          train_and_test) -> None:
    _, test = train_and_test
    h = binary_eval.holdout
    assert len(h.frame) == len(test) and list(h.features.columns) == [f.name for f in FEATURES]
    assert h.proba.shape == (len(test), 2) and np.allclose(h.proba.sum(axis=1), 1)
    assert (h.predicted == h.proba.argmax(axis=1)).all() and set(h.y) <= {0, 1}
    assert h.label(1) == "yes" and (h.predicted == h.y).mean() > 0.7


def test_permutation_importance_finds_the_features_that_drive_the_target(binary_eval: Evaluation) -> None:
    ranked = [f.feature for f in binary_eval.summary.importance]
    assert set(ranked) == {f.name for f in FEATURES}  # one entry per original feature, the date included once
    assert set(ranked[:2]) == {"tenure", "plan"}  # the target is made from tenure and plan only
    noise = next(f for f in binary_eval.summary.importance if f.feature == "monthly charges")
    assert abs(noise.mean) < binary_eval.summary.importance[0].mean / 5


@pytest.mark.parametrize(("algorithm", "task"), [("lightgbm", Task.BINARY), ("random_forest", Task.MULTICLASS),
                                               ("linear", Task.REGRESSION)])
def test_batched_permutation_importance_equals_shuffling_one_copy_at_a_time(train_and_test, monkeypatch,
                                                                            algorithm: str, task: Task) -> None:
    """The shuffled copies are predicted in batches (here several, of a few copies each); the answer is what a
    loop predicting each copy alone gives, with the same shuffles."""
    train, test = train_and_test
    model = fitted(algorithm, task, train)
    X, (y, _) = model_frame(test, FEATURES), encode_target(test[model.info.target], task)
    n_classes = len(model.info.classes or [])
    metric = METRICS[model.info.metric]
    monkeypatch.setattr(importance, "BATCH_ROWS", 5 * len(X))  # 5 copies per call: batches of 5, 5, ... and less
    batched = importance.permutation_importance(model.pipeline, X, y, FEATURES, metric=metric, n_classes=n_classes,
                                                repeats=2, seed=3)
    rng = np.random.default_rng(3)  # the reference: one prediction per feature and repeat, as before batching
    sign = 1.0 if metric.greater_is_better else -1.0
    base = score_predictions(metric, y, raw_predictions(model.pipeline, X, n_classes or None))
    expected = {}
    for feature in FEATURES:
        losses = []
        for _ in range(2):
            shuffled = importance._shuffled(X, feature, rng.permutation(len(X)))
            losses.append(sign * (base - score_predictions(metric, y, raw_predictions(model.pipeline, shuffled,
                                                                                       n_classes or None))))
        expected[feature.name] = (np.mean(losses), np.std(losses))
    assert len(batched) == len(FEATURES)
    for found in batched:
        assert (found.mean, found.std) == pytest.approx(expected[found.feature], abs=1e-12)


def test_shap_is_recorded_per_original_feature_for_tree_models(binary_eval: Evaluation,
                                                               multiclass_eval: Evaluation,
                                                               regression_eval: Evaluation) -> None:
    for ev in (binary_eval, multiclass_eval):
        assert ev.shap is not None and list(ev.shap.columns) == ["__row", *(f.name for f in FEATURES)]
        assert ev.shap["__row"].max() < len(ev.holdout.frame)
        top = max(ev.summary.shap_importance, key=ev.summary.shap_importance.get)
        assert top in {"tenure", "plan"}
    assert regression_eval.shap is None and "not one" in regression_eval.summary.shap_note
    assert regression_eval.summary.fold_scores == [0.8, 0.82, 0.79]


def test_shap_values_add_up_to_the_boosters_raw_output(train_and_test) -> None:
    from studio.training.evaluation.importance import tree_shap

    train, test = train_and_test
    model = fitted("xgboost", Task.REGRESSION, train)
    X = model_frame(test.head(20), FEATURES)
    shap = tree_shap(model.pipeline, X, list(FEATURES), n_classes=0)
    base = shap.sum(axis=1).to_numpy()
    predicted = model.pipeline.predict(X)
    offset = predicted - base  # the explainer's expected value, the same for every row
    assert np.allclose(offset, offset[0], atol=1e-3)


@pytest.mark.parametrize("task", list(Task))
def test_each_transformed_column_is_traced_to_its_feature(train_and_test, task: Task) -> None:
    train, _ = train_and_test
    model = fitted("random_forest", task, train)
    sources = transformed_sources(model.pipeline[0], FEATURES)
    width = model.pipeline[0].transform(model_frame(train.head(3), FEATURES)).shape[1]
    assert len(sources) == width and sources.count("signed") == 6 and sources.count("tenure") == 1
    assert sources.count("shop") == (3 if task is Task.MULTICLASS else 1)  # target-encoded: a column per class


def test_shap_takes_only_as_many_rows_as_its_time_allows_at_the_pace_of_its_first_rows(train_and_test,
                                                                                          monkeypatch) -> None:
    from studio.training.evaluation import record

    train, test = train_and_test
    model = fitted("lightgbm", Task.BINARY, train)
    X, target = model_frame(test, FEATURES), model.info.target
    y, _ = encode_target(test[target], Task.BINARY)
    clock = iter(range(0, 10_000, 1))  # every call to the clock a second later: the first 20 rows took 1 s

    monkeypatch.setattr(record, "monotonic", lambda: float(next(clock)))

    def evaluate(seconds: float | None) -> Evaluation:
        return record.evaluate_model(model.pipeline, features_frame=test[[f.name for f in FEATURES]], X=X, y=y,
                                     task=Task.BINARY, metric="roc_auc", classes=model.info.classes,
                                     features=list(FEATURES), fold_scores=[], shap_seconds=seconds)

    # 1 s for the first 20 rows: 3 s more allow 60 more rows (0.05 s a row)
    bounded, short, unbounded = evaluate(4.0), evaluate(0.5), evaluate(None)
    assert len(bounded.shap) == record.SHAP_FIRST_ROWS + 60
    assert len(short.shap) == record.SHAP_FIRST_ROWS  # less time than the first rows took: those only
    assert len(unbounded.shap) == min(record.SHAP_ROWS, len(test))
    assert bounded.shap.drop(columns="__row").to_numpy() == pytest.approx(  # the same rows explain the same
        unbounded.shap.set_index("__row").loc[bounded.shap["__row"]].to_numpy(), abs=1e-9)


def test_out_of_time_importance_and_shap_are_left_out_and_say_why(train_and_test) -> None:
    from studio.training.evaluation import record

    train, test = train_and_test
    model = fitted("lightgbm", Task.BINARY, train)
    y, _ = encode_target(test[model.info.target], Task.BINARY)
    spent = record.evaluate_model(model.pipeline, features_frame=test[[f.name for f in FEATURES]],
                                  X=model_frame(test, FEATURES), y=y, task=Task.BINARY, metric="roc_auc",
                                  classes=model.info.classes, features=list(FEATURES), fold_scores=[],
                                  importance_rows=0, shap_seconds=-1.0)
    assert spent.summary.importance == [] and "time budget was spent" in spent.summary.importance_note
    assert spent.shap is None and "time budget was spent" in spent.summary.shap_note
    assert len(spent.holdout.frame) == len(test)  # the held-out predictions are recorded all the same
