"""Data guardrails: found before launch, acted on, and recorded in the spec."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from studio.context import Studio
from studio.errors import SpecError
from studio.training.draft import draft_spec
from studio.training.spec import Budget
from tests.conftest import churn_frame


def _frame(n: int = 400) -> pd.DataFrame:
    frame = churn_frame(n)
    frame.insert(0, "customer_id", np.arange(1000, 1000 + n))
    frame["country"] = "NL"
    frame["cancel_reason_given"] = np.where(frame["churned"] == "yes", "price", "none")  # known only afterwards
    frame["notes"] = [f"called on day {i} about plan {i % 7} and more" for i in range(n)]
    return frame


def test_id_like_constant_leaky_and_text_columns_are_left_out_and_recorded(studio: Studio) -> None:
    frame = _frame()
    record = studio.catalog.save(frame, "churn", source="test")
    spec = draft_spec(record, frame, target="churned", budget=Budget(max_trials=1, seconds=None))
    found = {g.column: g for g in spec.guardrails}
    assert found["customer_id"].check == "id_like" and found["country"].check == "constant"
    assert found["cancel_reason_given"].check == "leakage" and "ROC AUC 1.000" in found["cancel_reason_given"].finding
    assert found["notes"].check == "text"
    assert all(g.action == "excluded" for g in found.values())
    assert {f.name for f in spec.features} == {"tenure", "monthly charges", "plan", "auto_pay"}


def test_keep_overrides_a_guardrail_and_says_so(studio: Studio) -> None:
    frame = _frame()
    record = studio.catalog.save(frame, "churn", source="test")
    spec = draft_spec(record, frame, target="churned", keep=["cancel_reason_given"],
                      budget=Budget(max_trials=1, seconds=None))
    leak = next(g for g in spec.guardrails if g.column == "cancel_reason_given")
    assert leak.action == "note" and leak.finding.endswith("(kept on request)")
    assert "cancel_reason_given" in {f.name for f in spec.features}


def test_class_imbalance_is_noted(studio: Studio) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=600), "z": rng.normal(size=600)})
    frame["fraud"] = np.where(rng.random(600) < 0.05, "yes", "no")
    record = studio.catalog.save(frame, "fraud", source="test")
    spec = draft_spec(record, frame, target="fraud", validation={"kind": "kfold", "folds": 3},
                      budget=Budget(max_trials=1, seconds=None))
    (note,) = [g for g in spec.guardrails if g.check == "imbalance"]
    assert note.action == "note" and "'yes' is" in note.finding and "stratified" in note.finding


def test_nothing_left_to_learn_from_is_refused_with_the_reasons(studio: Studio) -> None:
    frame = pd.DataFrame({"row_id": np.arange(100), "y": np.tile([0.0, 1.0, 2.5, 4.0], 25)})
    frame["copy_of_y"] = frame["y"] * 2
    record = studio.catalog.save(frame, "tiny", source="test")
    with pytest.raises(SpecError, match="Every feature column was left out by the data checks: row_id"):
        draft_spec(record, frame, target="y", budget=Budget(max_trials=1, seconds=None))


def test_the_leakage_check_flags_a_feature_that_alone_predicts_the_target_and_not_one_that_only_helps() -> None:
    from studio.data.schema import ColumnKind
    from studio.training.guardrails import _alone
    from studio.training.task import Task

    rng = np.random.default_rng(1)
    x = pd.Series(rng.uniform(0, 10, 3000))
    price = pd.Series(np.exp(x / 3) * 100)  # a monotone, non-linear function of x alone: a leak
    helpful = pd.Series(x + rng.normal(0, 3, 3000))  # correlated, not decisive
    assert _alone(x, price, Task.REGRESSION, ColumnKind.NUMERIC).startswith("R² ")
    assert _alone(helpful, price, Task.REGRESSION, ColumnKind.NUMERIC) is None
    grade = pd.Series(np.where(x < 3, "low", np.where(x < 7, "mid", "high")))
    code = grade.map({"low": "L", "mid": "M", "high": "H"})  # a relabelling of the target, with missing values
    code[::97] = None
    assert _alone(code, grade, Task.MULTICLASS, ColumnKind.CATEGORICAL) is None  # 1 % missing: accuracy < 0.995
    assert _alone(grade.map({"low": "L", "mid": "M", "high": "H"}), grade, Task.MULTICLASS,
                  ColumnKind.CATEGORICAL) == "accuracy 1.000"
    assert _alone(helpful > 5, x > 5, Task.BINARY, ColumnKind.BOOLEAN) is None
