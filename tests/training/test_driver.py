"""The search driver's guarantees, on a real Dask LocalCluster, with trial functions that misbehave on purpose."""

from __future__ import annotations

import time

import optuna
import pytest

from studio.compute.pool import TrialPool
from studio.compute.profiles import ComputeProfile
from studio.training.driver import ABANDONED, StopReason, TrialScore, abandon_stale, counted_trials, drive
from tests.conftest import SMALL, TWO_WORKERS


def sleep_then_score(threads: int, seconds: float, data: list[int]) -> float:
    time.sleep(seconds)
    return seconds + len(data)


def fail_on_negative(threads: int, x: float, data: list[int]) -> float:
    if x < 0:
        raise ValueError(f"x must be >= 0, got {x}")
    return x


def prune_negative(threads: int, x: float, data: list[int]) -> TrialScore:
    if x < 0:
        return TrialScore(None, intermediate={50: x}, pruned="pruned at 50 rounds")
    return TrialScore(x, extra="oof", intermediate={50: x / 2, 100: x}, attrs={"rounds": 120})


def allocate(threads: int, gigabytes: float, data: list[int]) -> float:
    chunks = [bytearray(50 * 2**20) for _ in range(int(gigabytes * 20)) if not time.sleep(0.02)]
    return float(len(chunks))


def _study() -> optuna.Study:
    return optuna.create_study(direction="maximize")


def _drive(study: optuna.Study, profile: ComputeProfile, run_trial, values: list[float], **kwargs):
    """Propose `values[i]` for trial i; returns (stop reason, finished trials in order, seconds taken)."""
    seen: list[optuna.trial.FrozenTrial] = []

    def on_trial(trial: optuna.trial.FrozenTrial, extra: object) -> None:
        seen.append(trial)

    options = {"max_trials": len(values), "deadline": None, "trial_limit_s": None,
               "should_stop": lambda: False} | kwargs
    started = time.monotonic()
    reason = drive(study, TrialPool.open(profile, [1, 2]), propose=lambda trial: (values[trial.number],),
                   run_trial=run_trial, on_trial=on_trial, **options)
    return reason, seen, time.monotonic() - started


def test_trials_run_in_parallel_one_per_worker() -> None:
    reason, seen, _ = _drive(_study(), TWO_WORKERS, sleep_then_score, [1.0, 1.0, 1.0, 1.0])
    assert reason is StopReason.TRIALS and [t.state.name for t in seen] == ["COMPLETE"] * 4
    assert len({t.user_attrs["worker"] for t in seen}) == 2
    first, second = sorted(seen, key=lambda t: t.datetime_start)[:2]
    assert second.datetime_start < first.datetime_complete  # they overlapped in time
    assert all(t.value == 3.0 for t in seen)  # the scattered data reached every worker


def test_a_failing_configuration_fails_its_trial_and_the_search_goes_on() -> None:
    _, seen, _ = _drive(_study(), SMALL, fail_on_negative, [1.0, -1.0, 2.0])
    assert [t.state.name for t in seen] == ["COMPLETE", "FAIL", "COMPLETE"]
    assert seen[1].user_attrs["error"] == "ValueError: x must be >= 0, got -1.0"


def test_a_pruned_trial_is_told_pruned_with_its_curve_and_counts_against_the_budget() -> None:
    study = _study()
    reason, seen, _ = _drive(study, SMALL, prune_negative, [1.0, -1.0, 2.0])
    assert reason is StopReason.TRIALS and [t.state.name for t in seen] == ["COMPLETE", "PRUNED", "COMPLETE"]
    assert seen[0].intermediate_values == {50: 0.5, 100: 1.0} and seen[0].user_attrs["rounds"] == 120
    assert seen[1].intermediate_values == {50: -1.0} and seen[1].user_attrs["pruned"] == "pruned at 50 rounds"
    assert counted_trials(study) == 3 and study.best_value == 2.0


def test_a_trial_over_the_per_trial_limit_is_stopped_and_its_worker_replaced() -> None:
    reason, seen, took = _drive(_study(), SMALL, sleep_then_score, [0.1, 120.0, 0.1], trial_limit_s=8)
    assert reason is StopReason.TRIALS and [t.state.name for t in seen] == ["COMPLETE", "FAIL", "COMPLETE"]
    assert "per-trial time limit of 8 s" in seen[1].user_attrs["error"]
    assert took < 60  # far less than the 120 s the slow trial wanted


def test_the_time_budget_stops_the_search_and_abandons_the_running_trial() -> None:
    study = _study()
    reason, seen, took = _drive(study, SMALL, sleep_then_score, [0.1, 120.0, 0.1],
                                deadline=time.monotonic() + 3)
    assert reason is StopReason.BUDGET and [t.state.name for t in seen] == ["COMPLETE", "FAIL"]
    assert seen[1].user_attrs[ABANDONED] and "time budget" in seen[1].user_attrs["error"]
    assert counted_trials(study) == 1 and took < 60


def stop_at_wall_clock(threads: int, stop_by: float, data: list[int]) -> TrialScore:
    while time.time() < stop_by:  # a trial told when the search ends stops itself there
        time.sleep(0.05)
    return TrialScore(None, pruned="stopped: the job's time budget ran out after 1 of 5 splits")


def test_a_trial_that_stops_itself_at_the_deadline_keeps_its_worker() -> None:
    study = _study()
    pool = TrialPool.open(SMALL, [1, 2])
    before = set(pool.workers())
    seen: list[optuna.trial.FrozenTrial] = []
    reason = drive(study, pool, propose=lambda trial: (time.time() + 2.3,), run_trial=stop_at_wall_clock,
                   max_trials=1, deadline=time.monotonic() + 2, trial_limit_s=None,
                   on_trial=lambda trial, extra: seen.append(trial), should_stop=lambda: False)
    assert reason is StopReason.BUDGET and seen[0].user_attrs[ABANDONED]
    assert set(pool.workers()) == before  # not stopped and restarted: it ended within the grace


def remember(threads: int, seconds: float, data: list[int]) -> float:
    """A trial that keeps something in its worker (as trials keep their last split model), then runs on."""
    from studio.training import kept
    from studio.training.kept import KeepAs

    kept.keep(KeepAs("job-left", 0, "linear"), 0.0, {"model": seconds})
    time.sleep(seconds)
    return seconds


def test_at_the_deadline_a_trial_still_running_can_be_left_to_its_worker_which_answers_at_once() -> None:
    from studio.compute.cluster import discard
    from studio.training import kept

    own = ComputeProfile(name="left-running", workers=1, threads=1, memory_gb=2)  # its own cluster: stopped after
    study, pool, left = _study(), TrialPool.open(own, [1, 2]), []
    before = set(pool.workers())
    reason = drive(study, pool, propose=lambda trial: (30.0,), run_trial=remember, max_trials=1,
                   deadline=time.monotonic() + 3, trial_limit_s=None, on_trial=lambda trial, extra: None,
                   should_stop=lambda: False, still_running=left)
    assert reason is StopReason.BUDGET and left == list(before)  # listed, not stopped and restarted
    asked = time.monotonic()
    answer = pool.call(left[0], kept.take, "job-left", 0)  # beside the trial still sleeping on its only thread
    assert answer == {"model": 30.0} and time.monotonic() - asked < 10
    assert set(pool.workers()) == before
    discard(own)  # the trial would sleep on: its cluster goes, and no other test waits for its worker


def test_cancel_stops_at_once_and_keeps_finished_trials() -> None:
    study = _study()

    def slow_trial_is_running() -> bool:
        return any(t.number == 1 for t in study.get_trials(states=(optuna.trial.TrialState.RUNNING,)))

    reason, seen, took = _drive(study, SMALL, sleep_then_score, [0.1, 120.0, 0.1], should_stop=slow_trial_is_running)
    assert reason is StopReason.CANCELLED and seen[0].state.name == "COMPLETE", seen[0].user_attrs
    assert seen[1].user_attrs["error"].startswith("stopped: the job was cancelled") and took < 60


@pytest.mark.slow
def test_a_trial_over_its_memory_limit_fails_alone() -> None:
    tight = ComputeProfile(name="tight", workers=1, threads=1, memory_gb=0.7)
    reason, seen, _ = _drive(_study(), tight, allocate, [0.1, 3.0, 0.1])
    assert reason is StopReason.TRIALS and [t.state.name for t in seen] == ["COMPLETE", "FAIL", "COMPLETE"]
    assert "memory limit of 0.7 GB" in seen[1].user_attrs["error"]


def test_trials_a_dead_attempt_left_running_are_abandoned_not_counted() -> None:
    study = _study()
    study.tell(study.ask(), 1.0)
    study.ask()  # a trial whose worker died with it
    assert abandon_stale(study, "abandoned: the worker running this job stopped") == 1
    stale = study.trials[1]
    assert stale.state.name == "FAIL" and stale.user_attrs[ABANDONED]
    assert counted_trials(study) == 1
