"""The duration estimate shown before launch, and the time a search leaves for the final fits."""

from __future__ import annotations

import pytest

from studio.training.estimate import (
    ENSEMBLE_MEMBERS,
    EVALUATE_S,
    FINAL_SHARE_CAP,
    LOG_S,
    MEMBERS_MARGIN,
    PastJob,
    estimate,
    final_growth,
    final_reserve_s,
)
from studio.training.spec import TrainSpec
from tests.conftest import SMALL, TWO_WORKERS


def _spec(**changes: object) -> TrainSpec:
    return TrainSpec.parse({"dataset_id": "d-v1", "dataset_hash": "h", "target": "y", "task": "binary",
                            "features": [{"name": "x", "kind": "numeric"}], "algorithms": ["linear", "lightgbm"],
                            "metric": "roc_auc", "validation": {"kind": "kfold", "folds": 5}, **changes})


def test_more_workers_and_past_jobs_move_the_estimate() -> None:
    spec = _spec(budget={"seconds": None, "max_trials": 40})
    one, two = (estimate(spec, n_rows=20_000, profile=p) for p in (SMALL, TWO_WORKERS))
    assert two.search_s == pytest.approx(one.search_s / 2) and two.parallel_trials == 2
    slower = estimate(spec, n_rows=20_000, profile=SMALL,
                      history=[PastJob(estimate_search_s=10, actual_search_s=30)] * 3)
    assert slower.search_s == pytest.approx(one.search_s * 3) and slower.calibrated_on == 3


def test_a_time_budget_bounds_the_search_estimate() -> None:
    spec = _spec(budget={"seconds": 60})
    assert estimate(spec, n_rows=1_000_000, profile=SMALL).search_s <= 60


def test_the_final_fits_reserve_follows_the_best_trials_and_is_capped() -> None:
    spec = _spec(budget={"seconds": 100})
    # the ENSEMBLE_MEMBERS best trials' seconds per split (an ensemble may take them all): one fit on all rows (the
    # held-out evaluation reuses the search's split models), then logging and registering
    best = [1.0, 2.0, 1.0, 0.6, 0.4, 20.0]
    assert ENSEMBLE_MEMBERS == 5
    assert final_reserve_s(spec, best) == pytest.approx(5 * final_growth(spec) + LOG_S + EVALUATE_S)
    assert final_reserve_s(spec, best, members=2) == pytest.approx(3 * final_growth(spec) + LOG_S + EVALUATE_S)
    single = spec.model_copy(update={"ensemble": False, "refit_all_rows": False})
    assert final_reserve_s(single, [1.0, 2.0]) == pytest.approx(1 * final_growth(single) + LOG_S + EVALUATE_S)
    assert final_reserve_s(spec, [100.0] * 3) == FINAL_SHARE_CAP * 100


def test_the_final_fit_learns_from_as_many_more_rows_than_a_split_as_the_validation_and_test_split_say() -> None:
    # 5-fold: a split fits on 4/5 of the training rows, the registered model on every row (training 4/5 of all)
    assert final_growth(_spec()) == pytest.approx(1 / (0.8 * 0.8))
    assert final_growth(_spec(refit_all_rows=False)) == pytest.approx(1 / 0.8)
    assert final_growth(_spec(validation={"kind": "holdout", "holdout_fraction": 0.25},
                              test_fraction=0.2)) == pytest.approx(1 / (0.75 * 0.8))


def test_a_trial_scored_on_fewer_splits_counts_its_time_per_split_fitted() -> None:
    import datetime

    import optuna

    from studio.training.search import seconds_per_split

    def trial(seconds: float, **attrs: object) -> optuna.trial.FrozenTrial:
        start = datetime.datetime(2026, 12, 4)
        return optuna.trial.FrozenTrial(
            number=0, state=optuna.trial.TrialState.COMPLETE, value=0.5, datetime_start=start,
            datetime_complete=start + datetime.timedelta(seconds=seconds), params={}, distributions={},
            user_attrs=attrs, system_attrs={}, intermediate_values={}, trial_id=0)

    assert seconds_per_split(trial(10.0, fold_scores=[0.1, 0.2, 0.3, 0.4, 0.5]), 5) == 2.0
    assert seconds_per_split(trial(10.0, fold_scores=[0.1, 0.2]), 5) == 5.0  # two of five splits in its time
    assert seconds_per_split(trial(10.0), 5) == 2.0
    assert final_reserve_s(_spec(budget={"seconds": None, "max_trials": 5}), [5.0]) == 0.0


def test_importance_takes_what_the_budget_has_left_and_is_left_out_below_its_floor() -> None:
    from studio.training.run import ImportanceBudget

    # 2,000 held-out rows predicted in 0.1 s, 20 features: a full importance (1,000 rows x 3) costs 3 s
    cost = {"predict_s": 0.1, "predicted_rows": 2000, "n_features": 20}
    assert ImportanceBudget.within(None, **cost) == ImportanceBudget()
    assert ImportanceBudget.within(60, **cost) == ImportanceBudget()
    assert ImportanceBudget.within(4, **cost) == ImportanceBudget(rows=1000, repeats=2)  # 2 s of row passes
    assert ImportanceBudget.within(1, **cost) == ImportanceBudget(rows=500, repeats=1)
    assert ImportanceBudget.within(0.1, **cost) == ImportanceBudget(rows=ImportanceBudget.FLOOR_ROWS, repeats=1)
    assert ImportanceBudget.within(0.09, **cost) == ImportanceBudget(rows=0, repeats=1)  # below the floor: left out
    assert ImportanceBudget.within(0, **cost) == ImportanceBudget(rows=0, repeats=1)  # spent: left out
    assert ImportanceBudget.within(-5, **cost) == ImportanceBudget(rows=0, repeats=1)


def test_near_its_end_the_search_reserves_for_the_members_the_final_choice_would_take() -> None:
    import datetime
    import time

    import numpy as np
    import optuna

    from studio.training.ensemble import Candidate
    from studio.training.follow import Watch
    from studio.training.progress import Progress

    spec = _spec(budget={"seconds": 100})
    y = np.arange(100) % 2
    study = optuna.create_study(direction="maximize")
    start = datetime.datetime(2026, 12, 6)
    for number, (score, seconds) in enumerate([(0.95, 5.0), (0.90, 100.0)]):  # 1 s and 20 s a split, 5 splits
        study.add_trial(optuna.trial.FrozenTrial(
            number=number, state=optuna.trial.TrialState.COMPLETE, value=score, datetime_start=start,
            datetime_complete=start + datetime.timedelta(seconds=seconds), params={"algorithm": "linear"},
            distributions={"algorithm": optuna.distributions.CategoricalDistribution(["linear"])},
            user_attrs={"fold_scores": [score] * 5}, system_attrs={}, intermediate_values={}, trial_id=number))

    class Quiet:
        def logged_trials(self, run_id: str) -> set[int]:
            return {0, 1}

        def progress(self, progress: object) -> None: ...

    watch = Watch(spec, study, "r", Quiet(), Quiet(), time.time(), Progress(phase="searching"), y)  # type: ignore[arg-type]
    # the best trial predicts the rows perfectly; the slow one adds nothing to a blend, so the selection is one member
    watch.candidates = [Candidate(0, "linear", {}, 0.95, np.c_[1 - y, y].astype(np.float32)),
                        Candidate(1, "linear", {}, 0.90, np.full((100, 2), 0.5, dtype=np.float32))]
    watch.reserve_s = final_reserve_s(spec, [1.0, 20.0])  # from the best trials: capped at a third of the budget
    assert watch.reserve_s == FINAL_SHARE_CAP * 100
    assert watch.reserve(time.monotonic() + 1000) == watch.reserve_s  # far from the end: not selected yet
    near = watch.reserve(time.monotonic() + 10)
    assert near == pytest.approx(MEMBERS_MARGIN * 1.0 * final_growth(spec) + LOG_S + EVALUATE_S)
