from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from studio.context import Studio
from studio.errors import SpecError
from studio.training import Task, TrainSpec, detect_task
from studio.training.draft import draft_spec
from studio.training.estimators import ESTIMATORS
from studio.training.spec import Cleaning


def _spec_data(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "dataset_id": "d-v1", "dataset_hash": "h", "target": "y", "task": "binary",
        "features": [{"name": "x", "kind": "numeric"}], "algorithms": ["xgboost"], "metric": "roc_auc",
    }
    data.update(overrides)
    return data


def test_spec_is_frozen_and_round_trips_through_json() -> None:
    spec = TrainSpec.parse(_spec_data())
    assert TrainSpec.parse(spec.model_dump_json()) == spec
    with pytest.raises(Exception):  # noqa: B017 - pydantic raises ValidationError on assignment to frozen
        spec.target = "z"  # type: ignore[misc]


@pytest.mark.parametrize(("overrides", "message"), [
    ({"budget": {"seconds": 0}}, "The 'budget.seconds' parameter of TrainSpec must be an int in [1, 604800]. "
                                 "Got 0 instead."),
    ({"budget": {"seconds": None, "max_trials": 0}}, "'budget.max_trials' parameter of TrainSpec must be an int"),
    ({"budget": {"seconds": None, "max_trials": None}}, "needs a time limit"),
    ({"algorithms": []}, "The 'algorithms' parameter of TrainSpec must have at least 1 item(s)."),
    ({"algorithms": ["svm"]}, "algorithms ['svm'] are unknown"),
    ({"metric": "rmse"}, "metric 'rmse' does not fit the binary task"),
    ({"compute": "Huge size!"}, "The 'compute' parameter of TrainSpec is invalid: string should match pattern"),
    ({"features": [{"name": "y", "kind": "numeric"}]}, "cannot also be a feature"),
    ({"features": [{"name": "t", "kind": "text"}]}, "are free text or identifiers, which models here cannot take"),
    ({"features": [{"name": "t", "kind": "id"}]}, "features ['t'] are free text or identifiers"),
    ({"features": [{"name": "t", "kind": "categorical", "clip": [0, 1]}]}, "are not numeric, so they cannot be"),
    ({"features": [{"name": "t", "kind": "numeric", "clip": [5, 1]}]}, "low <= high"),
    ({"cleaning": {"cap_outliers": "mad"}}, "'cleaning.cap_outliers' parameter of TrainSpec"),
    ({"validation": {"kind": "kfold", "folds": 1}}, "'validation.folds' parameter of TrainSpec must be an int in "
                                                    "[2, 20]. Got 1 instead."),
    ({"surprise": 1}, "The 'surprise' parameter of TrainSpec is not a known parameter"),
])
def test_invalid_specs_explain_themselves(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(SpecError) as info:
        TrainSpec.parse(_spec_data(**overrides))
    assert message in str(info.value)


def test_task_detection() -> None:
    assert detect_task(pd.Series(["yes", "no", "yes"])) is Task.BINARY
    assert detect_task(pd.Series([0, 1, 2, 1])) is Task.MULTICLASS
    assert detect_task(pd.Series(["a", "b", "c"])) is Task.MULTICLASS
    assert detect_task(pd.Series([0.5, 1.7, 3.2, 9.9] * 10)) is Task.REGRESSION


def test_draft_spec_detects_task_and_picks_defaults(studio: Studio, churn: pd.DataFrame) -> None:
    record = studio.catalog.save(churn, "churn", source="test")
    spec = draft_spec(record, churn, target="churned", cleaning=Cleaning(dropped_columns=["auto_pay"]))
    assert spec.task is Task.BINARY and spec.metric == "roc_auc"
    assert [f.name for f in spec.features] == ["tenure", "monthly charges", "plan"]
    assert spec.dataset_hash == record.content_hash and spec.run_name == "churn"
    assert spec.algorithms == tuple(ESTIMATORS)  # every family by default


def test_a_spec_section_built_at_an_edge_refuses_bad_values_in_the_house_shape() -> None:
    from studio.training.spec import Budget, Cleaning, section

    with pytest.raises(SpecError, match=r"The 'seconds' parameter of Budget must be an int in \[1,"):
        section(Budget, seconds=0)
    with pytest.raises(SpecError, match=r"'type_overrides.plan' parameter of Cleaning is invalid: input should be"):
        section(Cleaning, type_overrides={"plan": "colour"})


@pytest.mark.parametrize(("frame_change", "kwargs", "message"), [
    (lambda f: f.assign(churned="yes"), {}, "is constant"),
    (lambda f: f, {"target": "nope"}, "not a column"),
    (lambda f: f.assign(churned=["rare"] * 3 + ["common"] * (len(f) - 3)), {}, "'rare' (3 rows)"),
    (lambda f: f, {"task": "regression"}, "needs a numeric target"),
    (lambda f: f, {"algorithms": []}, "must have at least 1 item"),
    (lambda f: f.assign(tenure=f["tenure"].where(f.index % 7 > 0, 0)), {"target": "tenure", "metric": "mape"},
     "Choose WAPE"),
])
def test_draft_spec_refuses_what_cannot_train(studio: Studio, churn: pd.DataFrame, frame_change, kwargs,
                                              message: str) -> None:
    frame = frame_change(churn)
    record = studio.catalog.save(frame, "churn", source="test")
    with pytest.raises(SpecError) as info:
        draft_spec(record, frame, **{"target": "churned", **kwargs})
    assert message in str(info.value)


@pytest.mark.parametrize(("rows", "expected"), [
    (500, {"kind": "kfold", "folds": 5, "repeats": 3}), (5_000, {"kind": "kfold", "folds": 5}),
    (10_000, {"kind": "kfold", "folds": 5}),
    (25_000, {"kind": "kfold", "folds": 3}), (50_000, {"kind": "holdout", "holdout_fraction": 0.2}),
])
def test_auto_validation_follows_the_size_of_the_data(rows: int, expected: dict[str, object]) -> None:
    from studio.training.draft import resolve_validation

    assert resolve_validation({"kind": "auto"}, rows) == expected
    assert resolve_validation(None, rows) == expected
    assert resolve_validation({"kind": "holdout"}, rows) == {"kind": "holdout"}  # an explicit choice stays


def test_mape_is_left_out_with_zero_targets_and_wape_stays_defined() -> None:
    from studio.training.metrics import MEANING, METRICS

    assert set(MEANING) == set(METRICS)  # the Train page explains every metric

    y, p = np.array([0.0, 10.0, 20.0]), np.array([1.0, 12.0, 18.0])
    assert np.isnan(METRICS["mape"].fn(y, p))  # scikit-learn's epsilon would say ~4.5e15
    assert METRICS["mape"].fn(y[1:], p[1:]) == pytest.approx(0.15)
    assert METRICS["wape"].fn(y, p) == pytest.approx(5 / 30)
    assert not METRICS["wape"].greater_is_better
