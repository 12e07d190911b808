"""Adaptive budget sharing: each algorithm's share halves with each rank it falls behind the leader."""

from __future__ import annotations

from datetime import datetime, timedelta

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial

from studio.training import allocate
from studio.training.spec import TrainSpec

ALGORITHMS = ("linear", "random_forest", "lightgbm")
T0 = datetime(2026, 1, 1)


def _trial(algorithm: str, value: float | None, state: TrialState):
    return create_trial(params={"algorithm": algorithm}, state=state, value=value,
                        distributions={"algorithm": CategoricalDistribution(list(ALGORITHMS))})


def _timed(algorithm: str, value: float | None, seconds: float, state: TrialState = TrialState.COMPLETE):
    trial = _trial(algorithm, value, state)
    trial.datetime_start, trial.datetime_complete = T0, T0 + timedelta(seconds=seconds)
    return trial


def _running(algorithm: str):
    trial = _trial(algorithm, None, TrialState.RUNNING)
    trial.datetime_start = T0
    return trial


def _spec(*, seconds: int | None) -> TrainSpec:
    return TrainSpec.parse({"dataset_id": "d-v1", "dataset_hash": "h", "target": "y", "task": "binary",
                            "features": [{"name": "x", "kind": "numeric"}], "algorithms": list(ALGORITHMS),
                            "metric": "roc_auc", "budget": {"seconds": seconds, "max_trials": 50}})


def test_shares_halve_with_each_rank_and_a_failing_family_gets_little() -> None:
    trials = [_timed("linear", 0.80, 1), _timed("random_forest", 0.90, 1), _timed("lightgbm", None, 1, TrialState.FAIL)]
    shares = allocate.shares(ALGORITHMS, trials, greater_is_better=True)
    assert shares == {"random_forest": 1.0, "linear": 0.5, "lightgbm": allocate.FAILED_SHARE}


def test_with_a_time_budget_the_family_furthest_below_its_share_of_seconds_goes_next() -> None:
    # seconds used / share: lightgbm 30 / 1, random forest 5 / 0.5, linear 10 / 0.25
    trials = [_timed("lightgbm", 0.95, 30), _timed("random_forest", 0.90, 5), _timed("linear", 0.80, 10)]
    assert allocate.pick(_spec(seconds=60), trials) == "random_forest"
    # ... and once random forest has had its half (17 / 0.5 > 30 / 1), the leader goes again
    trials.append(_timed("random_forest", 0.85, 12))
    assert allocate.pick(_spec(seconds=60), trials) == "lightgbm"


def test_running_trials_count_up_to_now_and_a_new_family_waits_for_its_first_result() -> None:
    trials = [_timed("linear", 0.80, 1), _timed("random_forest", 0.90, 1), _running("lightgbm")]
    now = T0 + timedelta(seconds=100)
    assert allocate.spent(ALGORITHMS, trials, by_time=True, now=now)["lightgbm"] == 100
    assert allocate.shares(ALGORITHMS, trials, greater_is_better=True)["lightgbm"] == 1.0
    assert allocate.pick(_spec(seconds=600), trials, now=now) == "random_forest"


def test_with_only_a_trial_budget_trials_are_the_currency_so_the_choice_is_reproducible() -> None:
    trials = [_timed("lightgbm", 0.95, 300), _timed("random_forest", 0.90, 1), _timed("linear", 0.80, 1)]
    used = allocate.spent(ALGORITHMS, trials, by_time=False)
    assert used == {"linear": 1, "random_forest": 1, "lightgbm": 1}
    assert allocate.pick(_spec(seconds=None), trials) == "lightgbm"  # 1/1 < 1/0.5 < 1/0.25


def test_ask_runs_the_queued_defaults_first_then_enqueues_the_pick() -> None:
    spec = _spec(seconds=None)
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({"algorithm": "linear"})
    first = allocate.ask(spec, study)
    assert first.suggest_categorical("algorithm", list(ALGORITHMS)) == "linear"
    study.tell(first, 0.7)
    second = allocate.ask(spec, study)  # nothing queued: random forest has used nothing of its share
    assert second.suggest_categorical("algorithm", list(ALGORITHMS)) == "random_forest"


def _finished_at(algorithm: str, value: float | None, second: int, state: TrialState = TrialState.COMPLETE):
    trial = _trial(algorithm, value, state)
    trial.datetime_start, trial.datetime_complete = T0, T0 + timedelta(seconds=second)
    return trial


def test_a_family_that_stopped_improving_keeps_only_a_little_of_its_share() -> None:
    """A cheap family leading early must not take the budget once more trials no longer move its best score."""
    flat = [_finished_at("linear", 0.900 + i * 1e-5, i) for i in range(allocate.PLATEAU + 1)]
    flat.append(_finished_at("linear", None, 99, TrialState.PRUNED))
    boosters = [_finished_at("lightgbm", 0.85, 1), _finished_at("random_forest", 0.80, 1)]
    shares = allocate.shares(ALGORITHMS, [*flat, *boosters], greater_is_better=True)
    assert allocate.converged("linear", flat, greater_is_better=True)
    assert shares["linear"] == allocate.CONVERGED_SHARE and shares["lightgbm"] == 0.5
    assert allocate.pick(_spec(seconds=None), [*flat, *boosters]) == "lightgbm"

    improving = [_finished_at("linear", 0.80 + i / 100, i) for i in range(allocate.PLATEAU + 1)]  # +1 % a trial
    assert not allocate.converged("linear", improving, greater_is_better=True)
    assert not allocate.converged("linear", flat[:allocate.PLATEAU], greater_is_better=True)  # too few to say
    # lower is better (an RMSE): a family still lowering its error is not converged
    falling = [_finished_at("linear", 100 - i, i) for i in range(allocate.PLATEAU + 1)]
    assert not allocate.converged("linear", falling, greater_is_better=False)
    assert allocate.converged("linear", falling, greater_is_better=True)  # read as a score, it never improved
