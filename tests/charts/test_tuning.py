"""Tuning analytics drawn from a search's trials, one algorithm at a time."""

from __future__ import annotations

import optuna
import pytest

from studio.charts import tuning


@pytest.fixture(scope="module")
def trials() -> list[optuna.trial.FrozenTrial]:
    """A search over two algorithms whose score depends on one hyperparameter of each."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))

    def objective(trial: optuna.Trial) -> float:
        algorithm = trial.suggest_categorical("algorithm", ["xgboost", "linear"])
        if algorithm == "linear":
            return -abs(trial.suggest_float("linear__C", 1e-3, 1e2, log=True) - 1.0)
        rate = trial.suggest_float("xgboost__learning_rate", 0.01, 0.3, log=True)
        trial.suggest_int("xgboost__max_depth", 2, 10)
        return 1.0 - abs(rate - 0.1)

    study.optimize(objective, n_trials=40)
    return study.trials


def test_algorithms_and_their_params(trials) -> None:
    assert set(tuning.algorithms_of(trials)) == {"xgboost", "linear"}
    assert tuning.params_of(trials, "xgboost") == ["xgboost__learning_rate", "xgboost__max_depth"]


def test_each_tuning_chart_uses_one_algorithms_trials(trials) -> None:
    xgb = [t for t in trials if t.params["algorithm"] == "xgboost"]
    coords = tuning.parallel_coordinates(trials, "xgboost", maximize=True, metric="roc_auc")
    (trace,) = coords.data  # one Parcoords trace for every trial
    labels = [d.label for d in trace.dimensions]
    assert labels == ["learning_rate (log10)", "max_depth", "roc_auc"] and len(trace.dimensions[0].values) == len(xgb)
    assert min(trace.dimensions[0].values) >= -2.01 and max(trace.dimensions[0].values) <= -0.52
    importance = tuning.param_importances(trials, "xgboost", maximize=True, metric="roc_auc")
    ranked = dict(zip(importance.data[0].y, importance.data[0].x, strict=True))
    assert ranked["xgboost__learning_rate"] > ranked["xgboost__max_depth"]  # the score depends on the rate only
    assert len(tuning.slice_plot(trials, "xgboost", maximize=True, metric="roc_auc").data) >= 2
    contour = tuning.contour_plot(trials, "xgboost", "xgboost__learning_rate", "xgboost__max_depth",
                                  maximize=True, metric="roc_auc")
    assert "Contour · xgboost" in contour.layout.title.text


def test_tuning_charts_explain_what_they_lack(trials) -> None:
    with pytest.raises(ValueError, match="at least 2"):
        tuning.parallel_coordinates(trials[:1], "xgboost" if trials[0].params["algorithm"] == "xgboost"
                                    else "linear", maximize=True, metric="roc_auc")
    with pytest.raises(ValueError, match="two different"):
        tuning.contour_plot(trials, "xgboost", "xgboost__max_depth", "xgboost__max_depth", maximize=True,
                            metric="roc_auc")
