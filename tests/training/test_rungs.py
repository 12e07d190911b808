"""Successive halving: a configuration is scored on its first rung (one split, or a row sample of it on large
data) and only a promising one is given the rest of its validation; the defaults always are."""

from __future__ import annotations

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from studio.compute.inline import InlinePool
from studio.training import rungs
from studio.training.draft import draft_spec
from studio.training.driver import drive
from studio.training.features import model_frame
from studio.training.model import encode_target
from studio.training.rungs import RUNG_ATTR, RUNG_ROWS, RUNG_STARTUP, Limits, limits_for, threshold
from studio.training.search import open_study, outcome_of, propose, score_trial, validation_predictions
from studio.training.spec import Budget
from tests.conftest import SMALL, churn_frame


def _setup(studio, frame: pd.DataFrame, **kwargs: object):
    record = studio.catalog.save(frame, "churn", source="test")
    kwargs.setdefault("budget", Budget(seconds=None, max_trials=20))
    spec = draft_spec(record, frame, target="churned", **kwargs)  # type: ignore[arg-type]
    return spec, model_frame(frame, spec.features), encode_target(frame["churned"], spec.task)[0]


def test_a_configuration_worse_than_the_median_at_its_first_split_stops_there(studio) -> None:
    spec, X, y = _setup(studio, churn_frame(6000), algorithms=["linear"], validation={"kind": "kfold", "folds": 5})
    full = validation_predictions(spec, "linear", {"C": 1.0}, X, y, n_jobs=1)
    assert full.value is not None and len(full.attrs["fold_scores"]) == 5
    assert full.attrs[RUNG_ATTR] == full.attrs["fold_scores"][0]  # the rung is the first split's score
    stopped = validation_predictions(spec, "linear", {"C": 1.0}, X, y, n_jobs=1, limits=Limits(rung=1.01))
    assert stopped.value is None and stopped.extra is None and "fold_scores" not in stopped.attrs
    assert stopped.pruned and stopped.pruned.startswith("stopped after its first rung (split 1 of 5)")
    assert stopped.attrs[RUNG_ATTR] == full.attrs[RUNG_ATTR]
    passed = validation_predictions(spec, "linear", {"C": 1.0}, X, y, n_jobs=1, limits=Limits(rung=0.0))
    assert passed.value == full.value  # above the median: the whole validation, unchanged


def test_on_small_data_the_first_rung_takes_enough_splits_to_hold_a_thousand_validation_rows() -> None:
    def splits(n: int, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
        return [(np.arange(n - n // k), np.arange(n // k)) for _ in range(k)]

    assert rungs.leading_splits(splits(6000, 5)) == 1  # 1,200 validation rows in one split
    assert rungs.leading_splits(splits(2400, 15)) == 7  # 160 validation rows each: 7 hold 1,120
    assert rungs.leading_splits(splits(600, 5)) == 0  # 600 rows in all: the whole validation is the rung
    assert rungs.RUNG_VALIDATION_ROWS == 1_000


def test_on_large_data_the_first_rung_is_a_row_sample_of_the_first_split(studio) -> None:
    frame = churn_frame(int(2.5 * RUNG_ROWS / 0.8) + 100)  # a holdout's fit rows above 2 x RUNG_ROWS
    spec, X, y = _setup(studio, frame, algorithms=["linear"], validation={"kind": "holdout"})
    stopped = validation_predictions(spec, "linear", {"C": 1.0}, X, y, n_jobs=1, limits=Limits(rung=1.01))
    assert stopped.pruned and f"({RUNG_ROWS} rows)" in stopped.pruned
    full = validation_predictions(spec, "linear", {"C": 1.0}, X, y, n_jobs=1, limits=Limits(rung=0.0))
    assert full.value is not None and full.attrs[RUNG_ATTR] != full.value  # sampled rung, then every row
    fit, val = rungs.sample(np.arange(30_000), np.arange(30_000, 37_500), seed=0) or (None, None)
    assert fit is not None and val is not None and len(fit) == RUNG_ROWS and len(val) == 7_500
    assert rungs.sample(np.arange(2 * RUNG_ROWS), np.arange(10), seed=0) is None  # small enough to be the rung


def test_the_threshold_is_the_median_of_every_trial_that_reached_the_rung_pruned_or_not() -> None:
    study = optuna.create_study(direction="maximize")
    for i in range(RUNG_STARTUP):
        trial = study.ask({"algorithm": optuna.distributions.CategoricalDistribution(["lightgbm"])})
        trial.set_user_attr(RUNG_ATTR, 0.5 + i / 10)
        if i == 0:
            assert threshold(study, "lightgbm") is None
        study.tell(trial, state=TrialState.PRUNED) if i % 2 else study.tell(trial, 0.9)
    assert threshold(study, "lightgbm") == pytest.approx(0.75)  # median of 0.5 .. 1.0


def test_a_trial_is_compared_at_the_rung_with_its_own_algorithm_only() -> None:
    """Many cheap linear trials must not set the bar a booster configuration meets at its first rung."""
    study = optuna.create_study(direction="minimize")
    choice = optuna.distributions.CategoricalDistribution(["linear", "lightgbm"])
    for i in range(3 * RUNG_STARTUP):
        study.add_trial(optuna.create_trial(value=30_000 + i, params={"algorithm": "linear"},
                                            distributions={"algorithm": choice}, user_attrs={RUNG_ATTR: 30_000 + i}))
    assert threshold(study, "lightgbm") is None  # no booster has reached the rung yet: none is stopped there
    for i in range(RUNG_STARTUP):
        study.add_trial(optuna.create_trial(value=33_000 + i, params={"algorithm": "lightgbm"},
                                            distributions={"algorithm": choice}, user_attrs={RUNG_ATTR: 33_000 + i}))
    assert threshold(study, "lightgbm") == pytest.approx(33_002.5)
    assert threshold(study, "linear") == pytest.approx(30_008.5)


def test_the_strong_defaults_are_never_stopped_at_the_rung(studio) -> None:
    spec, _, _ = _setup(studio, churn_frame(), algorithms=["linear", "lightgbm"])
    study = open_study(spec, storage=optuna.storages.InMemoryStorage(), study_name="s")
    choice = optuna.distributions.CategoricalDistribution(["linear", "lightgbm"])
    for algorithm in ("linear", "lightgbm"):
        for _ in range(RUNG_STARTUP):  # enough finished trials of each algorithm for a threshold
            study.add_trial(optuna.create_trial(value=0.8, params={"algorithm": algorithm},
                                                distributions={"algorithm": choice}, user_attrs={RUNG_ATTR: 0.8}))
    default = study.ask()
    assert limits_for(default, {}).rung is None
    study.tell(default, 0.8)
    second_default = study.ask()
    assert limits_for(second_default, {}).rung is None
    study.tell(second_default, 0.8)
    sampled = study.ask()
    sampled.suggest_categorical("algorithm", ["linear", "lightgbm"])  # as `propose` does before its limits
    assert limits_for(sampled, {}).rung == pytest.approx(0.8)


def test_a_search_stops_weak_configurations_at_the_rung_and_keeps_the_best(studio) -> None:
    spec, X, y = _setup(studio, churn_frame(6000), algorithms=["linear"], validation={"kind": "kfold", "folds": 5},
                        budget=Budget(seconds=None, max_trials=16))
    study = open_study(spec, storage=optuna.storages.InMemoryStorage(), study_name="s")
    seen = []
    drive(study, InlinePool.open(SMALL, X, y), propose=lambda t: propose(spec, t),
          run_trial=lambda *args: score_trial(spec, *args), max_trials=16, deadline=None, trial_limit_s=None,
          on_trial=lambda trial, _: seen.append(outcome_of(trial)), should_stop=lambda: False)
    stopped = [t for t in seen if t.state == "pruned"]
    assert len(seen) == 16 and stopped, "some sampled configurations (C down to 0.001) stop after one split"
    assert all((t.error or "").startswith("stopped after its first rung") for t in stopped)
    assert all(t.number >= RUNG_STARTUP for t in stopped)  # only once the rung has a median
    best = max(t.score for t in seen if t.score is not None)
    assert study.best_value == best and study.best_trial.state == TrialState.COMPLETE


def test_a_trial_out_of_time_for_its_next_split_is_scored_on_the_splits_it_fitted(studio, monkeypatch) -> None:
    """No worker is stopped and restarted for it, and no model is cut short: the trial returns with the splits
    that fitted in its time, each grown fully."""
    from studio.training import search

    spec, X, y = _setup(studio, churn_frame(600), algorithms=["linear"],
                        validation={"kind": "kfold", "folds": 5, "repeats": 3},
                        budget=Budget(seconds=None, max_trials=1, trial_seconds=1))
    now = [1000.0]
    monkeypatch.setattr(search.time, "monotonic", lambda: now[0])  # a clock the test moves (restored after)
    real_fit = search._fit_predict
    told = []

    def slow_fit(*args, **kwargs):  # every split takes 0.3 s of the trial's 1 s: a third would end past 0.7 s
        told.append(kwargs["stop_at"])
        now[0] += 0.3
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(search, "_fit_predict", slow_fit)
    result = validation_predictions(spec, "linear", {"C": 1.0}, X, y, n_jobs=1)
    assert result.value is not None and len(result.attrs["fold_scores"]) == 2
    assert result.value == pytest.approx(np.mean(result.attrs["fold_scores"]))
    assert result.attrs[search.SPLITS_ATTR] == "2 of 15 splits within the per-trial time limit"
    assert told == [1000 + search.TRIAL_LIMIT_USE] * 2  # each split may grow until the trial's limit, not 1/15 of it
    assert np.isnan(result.extra).any() and not np.isnan(result.extra).all()  # out-of-fold where it validated


def test_a_trial_begun_late_on_its_worker_keeps_to_the_limit_counted_from_when_the_driver_started_it(
        studio, monkeypatch) -> None:
    from studio.training import search

    spec, X, y = _setup(studio, churn_frame(600), algorithms=["linear"], validation={"kind": "kfold", "folds": 5},
                        budget=Budget(seconds=None, max_trials=1, trial_seconds=10))
    now = [1000.0]
    monkeypatch.setattr(search.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(search.time, "time", lambda: now[0] + 5e8)  # a wall clock, as far from it as it may be
    told = []
    real_fit = search._fit_predict

    def fit(*args, **kwargs):
        told.append(kwargs["stop_at"])
        now[0] += 2.0  # from the trial's own start, three splits would fit its 7 s
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(search, "_fit_predict", fit)
    result = validation_predictions(spec, "linear", {"C": 1.0}, X, y, n_jobs=1,
                                    limits=Limits(submitted=now[0] + 5e8 - 3.0))  # begun 3 s after it was started
    assert told[0] == pytest.approx(1000.0 + search.TRIAL_LIMIT_USE * 10 - 3.0)  # 7 s after the driver's start
    assert len(result.attrs["fold_scores"]) == 2  # a third split would end past it


def test_a_trial_scored_on_fewer_splits_is_the_best_only_if_it_beats_the_best_on_the_same_splits() -> None:
    from studio.training.metrics import METRICS
    from studio.training.search import SPLITS_ATTR, best_trial

    study = optuna.create_study(direction="minimize")
    full = {"fold_scores": [0.05, 0.12, 0.13]}
    for value, attrs in ((0.10, full), (0.11, {"fold_scores": [0.06, 0.13, 0.14]}),
                         (0.057, {"fold_scores": [0.057], SPLITS_ATTR: "1 of 3 splits"})):
        study.add_trial(optuna.trial.create_trial(value=value, user_attrs=attrs))
    log_loss = METRICS["log_loss"]
    assert study.best_trial.number == 2
    assert best_trial(study, log_loss).number == 0  # 0.057 on split 1, where the best fully scored had 0.05
    study.add_trial(optuna.trial.create_trial(value=0.04, user_attrs={"fold_scores": [0.04, 0.04],
                                                                      SPLITS_ATTR: "2 of 3 splits"}))
    assert best_trial(study, log_loss).number == 3  # better than 0.085 on the same two splits


def test_a_trial_scored_on_one_split_does_not_win_on_a_tie() -> None:
    from studio.training.metrics import METRICS
    from studio.training.search import SPLITS_ATTR, best_trial

    study = optuna.create_study(direction="maximize")  # roc_auc, as on breast cancer
    folds = [0.9976, 0.9924, 0.9984, 0.9928, 0.9967, 1.0, 0.9887, 0.9944]
    study.add_trial(optuna.trial.create_trial(value=float(np.mean(folds)), user_attrs={"fold_scores": folds}))
    study.add_trial(optuna.trial.create_trial(value=0.9976, user_attrs={"fold_scores": [0.9976],
                                                                        SPLITS_ATTR: "1 of 8 splits"}))
    auc = METRICS["roc_auc"]
    assert study.best_trial.number == 1
    assert best_trial(study, auc).number == 0  # equal on the one split it fitted
    study.add_trial(optuna.trial.create_trial(value=0.9977, user_attrs={"fold_scores": [0.9977],
                                                                        SPLITS_ATTR: "1 of 8 splits"}))
    assert best_trial(study, auc).number == 2  # better there


def test_a_trial_told_when_the_search_ends_stops_itself_there(studio) -> None:
    import time

    spec, X, y = _setup(studio, churn_frame(600), algorithms=["linear"],
                        validation={"kind": "kfold", "folds": 5, "repeats": 3})
    result = validation_predictions(spec, "linear", {"C": 1.0}, X, y, n_jobs=1,
                                    limits=Limits(stop_by=time.time() - 1))
    assert result.value is None and result.pruned == "stopped: the job's time budget ran out after 0 of 15 splits"
