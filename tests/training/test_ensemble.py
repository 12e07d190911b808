"""Greedy ensemble selection: kept only when it beats the best single model, and a registrable model."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from studio.context import Studio
from studio.training.draft import draft_spec
from studio.training.ensemble import Candidate, build, select, shortlist
from studio.training.estimators import ESTIMATORS, strip_prefix
from studio.training.features import model_frame
from studio.training.final import choose
from studio.training.metrics import METRICS
from studio.training.model import ModelInfo, TrainedModel, encode_target
from studio.training.spec import Budget


def _candidate(number: int, algorithm: str, oof: np.ndarray, score: float) -> Candidate:
    return Candidate(number, algorithm, {}, score, oof)


def test_two_models_with_independent_errors_are_combined() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=2000)
    a, b = y + rng.normal(0, 1, 2000), y + rng.normal(0, 1, 2000)
    selection = select([_candidate(0, "xgboost", a, 1.0), _candidate(1, "linear", b, 1.0)], y, METRICS["rmse"])
    assert selection.is_ensemble and set(selection.weights) == {0, 1}
    assert selection.score < selection.single_score * 0.8  # averaging two independent errors: ~1/sqrt(2)


def test_a_weaker_model_joins_at_a_small_weight_when_an_even_blend_would_be_worse() -> None:
    rng = np.random.default_rng(5)
    y = rng.normal(size=4000)
    strong, weak = y + rng.normal(0, 0.5, 4000), y + rng.normal(0, 1.5, 4000)  # best blend: 9 to 1
    selection = select([_candidate(0, "lightgbm", strong, 0.5), _candidate(1, "linear", weak, 1.5)], y,
                       METRICS["rmse"])
    assert selection.is_ensemble and selection.weights[0] >= 4 * selection.weights[1]
    assert selection.score < selection.single_score


def test_a_useless_second_model_is_left_out() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=2000)
    good, noise = y + rng.normal(0, 0.1, 2000), rng.normal(0, 3, 2000)
    selection = select([_candidate(0, "lightgbm", good, 0.1), _candidate(1, "linear", noise, 3.0)], y,
                       METRICS["rmse"])
    assert not selection.is_ensemble and selection.weights == {0: 1}


def test_only_rows_every_candidate_validated_are_used() -> None:
    y = np.array([0, 1, 0, 1])
    full = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.4, 0.6]], dtype=np.float32)
    holdout = full.copy()
    holdout[:2] = np.nan
    selection = select([_candidate(0, "a", full, 0.9), _candidate(1, "b", holdout, 0.9)], y, METRICS["log_loss"])
    assert np.isfinite(selection.score)


def test_a_candidate_scored_on_fewer_splits_narrows_the_selection_only_when_it_is_the_best() -> None:
    rng = np.random.default_rng(2)
    y = rng.normal(size=2000)
    a, b, c = (y + rng.normal(0, 1, 2000) for _ in range(3))
    partial = c.copy()
    partial[400:] = np.nan  # validated on one split of five within its time limit
    rmse = METRICS["rmse"]
    behind = select([_candidate(0, "xgboost", a, 1.0), _candidate(1, "linear", b, 1.0),
                     _candidate(2, "hist_gradient_boosting", partial, 1.1)], y, rmse)
    assert set(behind.weights) == {0, 1}  # left out: the other two combine on all 2,000 rows
    ahead = select([_candidate(2, "hist_gradient_boosting", partial, 0.9), _candidate(0, "xgboost", a, 1.0)], y,
                   rmse)
    assert set(ahead.weights) == {0, 2}  # the best: the selection runs on its 400 rows
    assert ahead.single_score == pytest.approx(min(rmse_of(y[:400], c[:400]), rmse_of(y[:400], a[:400])))


def rmse_of(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.sqrt(np.mean((y - pred) ** 2)))


def test_the_shortlist_keeps_each_algorithms_best() -> None:
    many = [_candidate(i, "xgboost", np.zeros(3), 0.9 - i * 0.001) for i in range(20)]
    many.append(_candidate(99, "linear", np.zeros(3), 0.5))
    picked = shortlist(many, METRICS["roc_auc"])
    assert 99 in {c.number for c in picked} and picked[0].number == 0 and len(picked) == 13


class _Study:
    """What `choose` reads of an Optuna study: the best single trial, and how long each trial took."""

    def __init__(self, value: float, algorithm: str, params: dict, took: dict[int, float] | None = None) -> None:
        self.took = took or {}
        self.best_value = value
        self.best_trial = type("Best", (), {"params": {"algorithm": algorithm,
                                                       **{f"{algorithm}__{k}": v for k, v in params.items()}},
                                            "user_attrs": {"fold_scores": [value]}, "value": value,
                                            "number": 0})()

    def get_trials(self, deepcopy: bool = True) -> list[object]:
        return [SimpleNamespace(number=n, duration=timedelta(seconds=s), user_attrs={}) for n, s in self.took.items()]


def test_choose_takes_the_ensemble_only_when_it_wins(studio: Studio) -> None:
    frame = pd.DataFrame({"x": np.arange(40.0), "y": np.arange(40.0)})
    record = studio.catalog.save(frame, "line", source="test")
    spec = draft_spec(record, frame, target="y", algorithms=["linear", "lightgbm"],
                      budget=Budget(max_trials=2, seconds=None))
    rng = np.random.default_rng(3)
    y = rng.normal(size=500)
    a = Candidate(0, "linear", {"alpha": 1.0}, 1.0, y + rng.normal(0, 1, 500))
    b = Candidate(1, "lightgbm", strip_prefix("lightgbm", ESTIMATORS["lightgbm"].defaults), 1.0,
                  y + rng.normal(0, 1, 500))
    chosen = choose(spec, _Study(1.0, "linear", {"alpha": 1.0}), [a, b], y)
    assert chosen.label.startswith("ensemble: ") and chosen.params["members"][0]["trial"] in (0, 1)
    assert chosen.validation_score < 0.85
    alone = choose(spec.model_copy(update={"ensemble": False}), _Study(1.0, "linear", {"alpha": 1.0}), [a, b], y)
    assert alone.label == "linear" and alone.validation_score == 1.0 and alone.fold_scores == [1.0]


def test_an_ensemble_model_is_logged_registered_and_loaded_like_any_other(studio: Studio) -> None:
    rng = np.random.default_rng(2)
    n = 400
    frame = pd.DataFrame({"x": rng.normal(size=n), "z": rng.normal(size=n), "kind": rng.choice(["a", "b"], n)})
    frame["label"] = np.where(frame["x"] + np.sin(3 * frame["z"]) + (frame["kind"] == "a") > 0.5, "yes", "no")
    record = studio.catalog.save(frame, "mix", source="test")
    spec = draft_spec(record, frame, target="label", algorithms=["linear", "random_forest"],
                      budget=Budget(max_trials=2, seconds=None))
    X = model_frame(frame, spec.features)
    y, classes = encode_target(frame["label"], spec.task)
    members = [(Candidate(0, "linear", {"C": 1.0}, 0.9, np.zeros(n)), 2),
               (Candidate(1, "random_forest", {"n_estimators": 40, "max_depth": 6, "min_samples_leaf": 2,
                                               "max_features": 0.7}, 0.9, np.zeros(n)), 1)]
    model = build(spec, members, n_jobs=1).fit(X, y)
    info = ModelInfo(task=spec.task, target=spec.target, features=spec.features, classes=classes,
                     metric=spec.metric, run_id="")
    run_id = studio.tracker.start_training(spec, job_id="ens", study_name="job-ens")
    uri = studio.tracker.log_model(run_id, TrainedModel(model, info), example=frame.head(3).drop(columns="label"),
                                   registered_name="mix")
    out = studio.tracker.load_model(uri).predict_frame(frame.head(50))
    pd.testing.assert_frame_equal(out, TrainedModel(model, info).predict_frame(frame.head(50)))
    weighted = (2 * model.estimators_[0].predict_proba(X.head(5)) + model.estimators_[1].predict_proba(X.head(5))) / 3
    np.testing.assert_allclose(model.predict_proba(X.head(5)), weighted)


def test_an_ensemble_whose_refit_would_overrun_the_budget_leaves_its_slowest_member_out(studio: Studio) -> None:
    frame = pd.DataFrame({"x": np.arange(40.0), "y": np.arange(40.0)})
    record = studio.catalog.save(frame, "line", source="test")
    spec = draft_spec(record, frame, target="y", algorithms=["linear", "lightgbm"], validation={"kind": "holdout"},
                      budget=Budget(max_trials=3, seconds=60))
    rng = np.random.default_rng(4)
    y = rng.normal(size=500)
    lgbm = strip_prefix("lightgbm", ESTIMATORS["lightgbm"].defaults)
    candidates = [Candidate(0, "linear", {"alpha": 1.0}, 0.99, y + rng.normal(0, 1, 500)),
                  Candidate(1, "lightgbm", lgbm, 1.0, y + rng.normal(0, 1, 500)),
                  Candidate(2, "lightgbm", lgbm, 1.0, y + rng.normal(0, 1, 500))]
    study = _Study(0.99, "linear", {"alpha": 1.0}, took={0: 1.0, 1: 1.0, 2: 30.0})
    members = lambda choice: {m["trial"] for m in choice.params["members"]}  # noqa: E731
    assert members(choose(spec, study, candidates, y)) == {0, 1, 2}  # no limit: all three help
    assert members(choose(spec, study, candidates, y, seconds_left=10)) == {0, 1}  # the slow one is out
    assert not choose(spec, study, candidates, y, seconds_left=10).declined
    alone = choose(spec, study, candidates, y, seconds_left=0.5)  # no ensemble fits: the best single
    assert alone.label == "linear"
    assert alone.declined.startswith("No configuration but the best fits in the 0.5 s")  # the job's log says why
