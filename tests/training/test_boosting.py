"""Boosters stop early on each validation split, and are pruned at boosting-round checkpoints."""

from __future__ import annotations

import time

import numpy as np
import optuna
import pytest

from studio.training import boosting
from studio.training.boosting import (
    CHECKPOINTS,
    PRUNE_STARTUP,
    ROUNDS_MARGIN,
    fit_split,
    own_stopping_rows,
    thresholds,
)
from studio.training.draft import draft_spec
from studio.training.estimators import ESTIMATORS, strip_prefix
from studio.training.features import model_frame
from studio.training.metrics import METRICS
from studio.training.model import encode_target
from studio.training.rungs import Limits
from studio.training.search import configuration, make_pipeline, validation_predictions
from studio.training.spec import Budget
from tests.conftest import churn_frame


def _setup(studio, *, metric: str = "roc_auc", rows: int = 800):
    frame = churn_frame(rows)
    record = studio.catalog.save(frame, "churn", source="test")
    spec = draft_spec(record, frame, target="churned", algorithms=["xgboost", "lightgbm"], metric=metric,
                      validation={"kind": "kfold", "folds": 3}, budget=Budget(max_trials=4, seconds=None))
    X = model_frame(frame, spec.features)
    y, _ = encode_target(frame["churned"], spec.task)
    return spec, X, y


def _defaults(algorithm: str) -> dict[str, object]:
    return strip_prefix(algorithm, ESTIMATORS[algorithm].defaults)


@pytest.mark.parametrize("algorithm", ["xgboost", "lightgbm"])
def test_boosters_stop_early_and_record_their_rounds(studio, algorithm: str) -> None:
    spec, X, y = _setup(studio)
    params = {**_defaults(algorithm), "learning_rate": 0.1}  # converges (and overfits) within a few hundred rounds
    result = validation_predictions(spec, algorithm, params, X, y, n_jobs=1)
    assert result.pruned is None and 0.6 < (result.value or 0) <= 1
    assert 1 <= result.attrs["rounds"] < 500  # far fewer than the 2,000 allowed
    assert set(result.intermediate) <= set(CHECKPOINTS) and 50 in result.intermediate
    assert result.extra.shape == (len(y), 2) and not np.isnan(result.extra).any()


@pytest.mark.parametrize("algorithm", ["xgboost", "lightgbm"])
def test_a_booster_below_the_median_at_a_checkpoint_is_pruned_there(studio, algorithm: str) -> None:
    spec, X, y = _setup(studio)
    result = validation_predictions(spec, algorithm, _defaults(algorithm), X, y, n_jobs=1,
                                    limits=Limits(checkpoints={50: 1.01}))  # an AUC no model reaches
    assert result.value is None and result.pruned and "pruned at 50 rounds" in result.pruned
    assert list(result.intermediate) == [50]


def test_a_slow_learner_is_measured_where_it_has_made_the_same_progress() -> None:
    """At a fifth of the reference rate, checkpoint 50 is round 250: a slow learner is not stopped at round 50
    for having learnt a fifth as much as a fast one; a fast learner is measured earlier."""
    y = np.array([0, 1, 0, 1])
    slow = boosting.Checkpoints(METRICS["roc_auc"], y, 2, {50: 1.01}, learning_rate=boosting.REFERENCE_RATE / 5)
    assert not slow.due(50) and slow.due(250)
    slow.classes = np.array([0, 1])
    slow.at(50, np.full(4, 0.5))  # not a checkpoint of this trial: nothing scored, nothing stopped
    with pytest.raises(boosting.Pruned, match=r"pruned at 250 rounds \(checkpoint 50\)"):
        slow.at(250, np.array([0.2, 0.8, 0.3, 0.7]))
    assert slow.values == {50: pytest.approx(1.0)}
    fast = boosting.Checkpoints(METRICS["roc_auc"], y, 2, {}, learning_rate=0.3)
    assert fast.due(17) and not fast.due(50)  # 50 x 0.1 / 0.3 rounds


def _split_fit(spec, algorithm: str, X, y, fit_idx, val_idx, y_val):
    pipeline = make_pipeline(spec, algorithm, {**_defaults(algorithm), "learning_rate": 0.3}, n_jobs=1,
                             early_stopping=True)
    rounds = fit_split(pipeline, algorithm, X.iloc[fit_idx], y[fit_idx], X.iloc[val_idx], y_val, None, seed=0)
    return pipeline, rounds


@pytest.mark.parametrize("algorithm", ["xgboost", "lightgbm"])
def test_on_a_small_split_a_booster_chooses_its_rounds_without_the_validation_rows(studio, algorithm: str) -> None:
    """Fewer than OWN_STOPPING_BELOW validation rows: the round is chosen on a fifth of the fit rows, and the
    booster is refitted on all of them with that many rounds (and the margin), so its validation score is not
    flattered by having chosen on the rows it is scored on. The validation labels change nothing."""
    spec, X, y = _setup(studio)
    fit_idx, val_idx = np.arange(650), np.arange(650, 800)
    flipped = 1 - y[val_idx]  # the validation rows' labels turned around: would stop it at once if used
    honest, rounds = _split_fit(spec, algorithm, X, y, fit_idx, val_idx, y[val_idx])
    same, rounds_flipped = _split_fit(spec, algorithm, X, y, fit_idx, val_idx, flipped)
    assert rounds == rounds_flipped and rounds > 1
    np.testing.assert_allclose(honest.predict_proba(X.iloc[val_idx]), same.predict_proba(X.iloc[val_idx]))
    model = honest[-1]
    grown = model.get_booster().num_boosted_rounds() if algorithm == "xgboost" else model.booster_.current_iteration()
    assert grown == round(rounds * ROUNDS_MARGIN)  # refitted on every fit row at the chosen rounds


def test_on_a_large_split_a_booster_stops_on_the_validation_rows(studio, monkeypatch) -> None:
    monkeypatch.setattr(boosting, "OWN_STOPPING_BELOW", 100)  # 150 validation rows count as many here
    spec, X, y = _setup(studio)
    fit_idx, val_idx = np.arange(650), np.arange(650, 800)
    _, rounds = _split_fit(spec, "lightgbm", X, y, fit_idx, val_idx, y[val_idx])
    _, rounds_flipped = _split_fit(spec, "lightgbm", X, y, fit_idx, val_idx, 1 - y[val_idx])
    assert rounds_flipped < rounds  # the labels it stopped on were the validation rows'


def test_a_class_too_rare_to_split_stops_on_the_validation_rows() -> None:
    from lightgbm import LGBMClassifier

    y = np.array([0] * 30 + [1] * 30 + [2])  # class 2: one row, cannot be in both parts
    assert own_stopping_rows(y, 0, LGBMClassifier()) is None
    inner, held = own_stopping_rows(np.array([0, 1] * 30), 0, LGBMClassifier())
    assert len(held) == 12 and len(inner) == 48 and not set(inner) & set(held)


def test_thresholds_are_the_median_of_completed_trials_once_enough_reached_a_checkpoint() -> None:
    study = optuna.create_study(direction="maximize")
    choice = optuna.distributions.CategoricalDistribution(["xgboost"])
    for i in range(PRUNE_STARTUP):
        steps = {50: 0.5 + i / 100, **({100: 0.7} if i < 2 else {})}
        study.add_trial(optuna.create_trial(value=0.9, params={"algorithm": "xgboost"},
                                            distributions={"algorithm": choice}, intermediate_values=steps))
    assert thresholds(study, "xgboost") == {50: pytest.approx(0.52)}  # 100 was reached by 2 only


def test_a_booster_is_measured_at_its_checkpoints_against_its_own_algorithm() -> None:
    """LightGBMs that learn fast at 50 rounds do not set the bar for XGBoosts."""
    study = optuna.create_study(direction="maximize")
    choice = optuna.distributions.CategoricalDistribution(["xgboost", "lightgbm"])
    for algorithm, at_50 in (("lightgbm", 0.9), ("xgboost", 0.6)):
        for i in range(PRUNE_STARTUP):
            study.add_trial(optuna.create_trial(value=0.95, params={"algorithm": algorithm},
                                                distributions={"algorithm": choice},
                                                intermediate_values={50: at_50 + i / 100}))
    assert thresholds(study, "lightgbm") == {50: pytest.approx(0.92)}
    assert thresholds(study, "xgboost") == {50: pytest.approx(0.62)}
    assert thresholds(study, "random_forest") == {}


def test_the_final_model_uses_the_rounds_early_stopping_chose(studio) -> None:
    spec, X, y = _setup(studio)
    study = optuna.create_study(direction="maximize")
    trial = study.ask({"algorithm": optuna.distributions.CategoricalDistribution(["lightgbm"])})
    trial.set_user_attr("rounds", 37)
    study.tell(trial, 0.9)
    algorithm, params = configuration(study.best_trial)
    assert algorithm == "lightgbm" and params["n_estimators"] == 37
    model = make_pipeline(spec, algorithm, {**_defaults("lightgbm"), **params}, n_jobs=1).fit(X, y)[-1]
    assert model.n_estimators_ == 37


@pytest.mark.parametrize("algorithm", ["xgboost", "lightgbm", "hist_gradient_boosting"])
def test_a_slow_booster_stops_growing_within_the_per_trial_limit_and_keeps_its_model(studio, algorithm: str) -> None:
    spec, X, y = _setup(studio, rows=3000)
    spec = spec.model_copy(update={"budget": spec.budget.model_copy(update={"trial_seconds": 1})})
    params = {**_defaults(algorithm), "learning_rate": 0.001}  # would grow all 2,000 rounds on every split
    started = time.monotonic()
    result = validation_predictions(spec, algorithm, params, X, y, n_jobs=1)
    assert time.monotonic() - started < 10  # 70 % of the 1 s limit, plus predicting and the last round
    if result.pruned is not None:  # a machine too busy for even its first batches on every split: the trial
        assert result.pruned.startswith("stopped: ")  # stopped itself, with no worker to stop and restart
        return
    assert result.value is not None and result.attrs["rounds"] < 2000


@pytest.mark.parametrize("algorithm", ["random_forest", "extra_trees"])
def test_a_slow_forest_stops_adding_trees_within_the_per_trial_limit_and_the_final_model_keeps_that_many(
        studio, algorithm: str) -> None:
    from studio.training.boosting import FIRST_TREES

    spec, X, y = _setup(studio, rows=3000)
    spec = spec.model_copy(update={"algorithms": (algorithm,),
                                   "budget": spec.budget.model_copy(update={"trial_seconds": 1})})
    params = {**_defaults(algorithm), "n_estimators": 5000}  # far more trees than a second allows
    result = validation_predictions(spec, algorithm, params, X, y, n_jobs=1)
    assert result.value is not None and FIRST_TREES <= result.attrs["rounds"] < 5000
    study = optuna.create_study(direction="maximize")
    trial = study.ask({"algorithm": optuna.distributions.CategoricalDistribution([algorithm])})
    trial.set_user_attr("rounds", result.attrs["rounds"])
    study.tell(trial, result.value)
    assert configuration(study.best_trial)[1]["n_estimators"] == result.attrs["rounds"]
    unbounded = spec.model_copy(update={"budget": Budget(max_trials=1, seconds=None)})  # no limit: every tree
    assert "rounds" not in validation_predictions(unbounded, algorithm, {**params, "n_estimators": 20}, X, y,
                                                  n_jobs=1).attrs


def test_no_trial_gets_more_than_a_sixth_of_the_time_budget() -> None:
    assert Budget(seconds=60).trial_limit_s == 10 and Budget(seconds=30).trial_limit_s == 5
    assert Budget(seconds=60, trial_seconds=25).trial_limit_s == 25  # asked for explicitly
    assert Budget(seconds=None, max_trials=3).trial_limit_s is None


def test_histogram_boosting_grown_in_batches_matches_one_fit_and_stops_early_on_its_own(studio) -> None:
    spec, X, y = _setup(studio, rows=3000)
    spec = spec.model_copy(update={"algorithms": ("hist_gradient_boosting",)})
    params = {**_defaults("hist_gradient_boosting"), "learning_rate": 0.3}
    grown = make_pipeline(spec, "hist_gradient_boosting", params, n_jobs=1, early_stopping=True)
    from studio.training.boosting import grow_iterations

    rounds = grow_iterations(grown, X, y, stop_at=time.monotonic() + 600)
    once = make_pipeline(spec, "hist_gradient_boosting", params, n_jobs=1, early_stopping=True).fit(X, y)
    # stopped early by its own validation rows, as one fit does (a batch's last iteration is checked one later)
    assert abs(rounds - once[-1].n_iter_) <= 1 and rounds < 2000
    assert np.abs(grown.predict_proba(X) - once.predict_proba(X)).mean() < 0.01
    assert grown[-1].warm_start is False  # the model that is kept does not warm-start a later fit
