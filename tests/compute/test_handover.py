"""A job claimed while its cluster is still starting scores its first trials in its own process, then hands every
trial to the cluster once that is ready."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

import optuna

from studio.compute.handover import HandoverPool
from studio.compute.inline import ADDRESS, DoneFuture, InlinePool
from studio.training.driver import drive
from tests.conftest import TWO_WORKERS


class FakeCluster:
    """The opened pool: two worker slots that run a trial when it is submitted."""

    profile = TWO_WORKERS

    def __init__(self) -> None:
        self.ran: list[str] = []
        self.stopped: list[str] = []

    def workers(self) -> dict[str, int]:
        return {"tls://w1": 1, "tls://w2": 1}

    def submit(self, address: str, fn: Any, *args: Any) -> DoneFuture:
        self.ran.append(address)
        return DoneFuture(fn, *args, "data")

    def call(self, address: str, fn: Any, *args: Any) -> Any:
        return fn(*args)

    def stop_worker(self, address: str) -> None:
        self.stopped.append(address)

    def restore(self) -> bool:
        return False


def test_trials_run_in_process_until_the_cluster_is_ready_then_on_it() -> None:
    opening: Future[Any] = Future()
    pool = HandoverPool(TWO_WORKERS, InlinePool.open(TWO_WORKERS, "data"), opening)
    cluster = FakeCluster()
    study = optuna.create_study()
    where: list[str] = []

    def on_trial(trial: optuna.trial.FrozenTrial, _: Any) -> None:
        where.append(str(trial.user_attrs["worker"]))
        if len(where) == 2:
            opening.set_result(cluster)  # the cluster finished starting while the job's first trials ran

    def run_trial(threads: int, x: float, data: str) -> float:
        assert data == "data"  # the same training data either way
        return x * x

    assert pool.starting and pool.workers() == {ADDRESS: TWO_WORKERS.threads}
    drive(study, pool, propose=lambda t: (t.suggest_float("x", -1, 1),), run_trial=run_trial, max_trials=6,
          deadline=None, trial_limit_s=None, on_trial=on_trial, should_stop=lambda: False)
    # (the slot being filled when the cluster became ready still runs here)
    assert where[:3] == [ADDRESS] * 3 and set(where[3:]) == {"tls://w1", "tls://w2"}
    assert len(cluster.ran) == 3 and not pool.starting
    pool.stop_worker(ADDRESS)  # nothing to stop in process; a cluster worker is stopped on the cluster
    pool.stop_worker("tls://w1")
    assert cluster.stopped == ["tls://w1"]


def test_a_running_cluster_is_used_at_once(monkeypatch) -> None:
    from studio.compute import cluster, handover

    opened = object()
    monkeypatch.setattr(cluster, "warmed", lambda profile: True)
    monkeypatch.setattr(handover.TrialPool, "open", classmethod(lambda cls, profile, *payload: opened))
    assert HandoverPool.open(TWO_WORKERS, "data") is opened
