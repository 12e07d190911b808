"""Explanation charts and the on-demand explanations behind them."""

from __future__ import annotations

import numpy as np
import pytest

from studio.charts import explain as e
from studio.training import Task
from studio.training.evaluation import Evaluation
from studio.training.evaluation.explain import explain_row, partial_dependence
from tests.training.evaluation.conftest import fitted


def test_importance_charts_rank_features(binary_eval: Evaluation) -> None:
    perm = e.permutation_bars(binary_eval.summary.importance, metric="roc_auc").data[0]
    assert list(perm.y)[:2] == [f.feature for f in binary_eval.summary.importance[:2]]
    assert list(perm.error_x.array) == [f.std for f in binary_eval.summary.importance]
    shap = e.shap_bars(binary_eval.summary.shap_importance).data[0]
    assert list(shap.x) == sorted(shap.x, reverse=True)
    swarm = e.shap_beeswarm(binary_eval.shap, binary_eval.holdout.features, top=3)
    assert len(swarm.data) == 3 and len(swarm.data[0].x) == len(binary_eval.shap)


def test_partial_dependence_follows_the_driver(train_and_test) -> None:
    train, test = train_and_test
    model = fitted("linear", Task.REGRESSION, train)  # spend = 3 * tenure + noise
    pdp = partial_dependence(model, test, "tenure")
    curve = pdp.curves["prediction"]
    assert pdp.kind == "numeric" and curve == sorted(curve)
    slope = (curve[-1] - curve[0]) / (pdp.grid[-1] - pdp.grid[0])
    assert slope == pytest.approx(3.0, rel=0.1)
    categorical = partial_dependence(fitted("lightgbm", Task.BINARY, train), test, "plan")
    assert categorical.kind == "categorical" and set(categorical.grid) == {"basic", "plus", "pro"}
    assert list(categorical.curves) == ["P(yes)"]
    assert e.pdp_chart(categorical).data[0].type == "bar"
    with pytest.raises(ValueError, match="not a feature"):
        partial_dependence(model, test, "nope")


@pytest.mark.parametrize(("algorithm", "method"), [("lightgbm", "shap"), ("linear", "replacement")])
def test_a_rows_explanation_names_every_feature(train_and_test, algorithm: str, method: str) -> None:
    train, test = train_and_test
    model = fitted(algorithm, Task.BINARY, train)
    row = explain_row(model, test, 3)
    assert row.method == method and set(row.contributions) == {f.name for f in model.info.features}
    assert row.output == "P(yes)" and 0 <= row.value <= 1
    top = max(row.contributions, key=lambda k: abs(row.contributions[k]))
    assert top in {"tenure", "plan"}
    fig = e.row_contributions(row)
    assert np.sign(fig.data[0].x[0]) == np.sign(row.contributions[fig.data[0].y[0]])
