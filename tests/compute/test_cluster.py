"""The pool of Dask worker slots: data on every worker, hard stops, and recovery when a worker stays away."""

from __future__ import annotations

import os
import time

from studio.compute.cluster import client_for, discard
from studio.compute.pool import TrialPool
from studio.compute.profiles import ComputeProfile


def worker_pid(threads: int, data: list[int]) -> int:
    return os.getpid() + 0 * len(data)


def test_a_stopped_worker_is_replaced_and_gets_the_data_again() -> None:
    pool = TrialPool.open(ComputeProfile(name="one", workers=1, threads=1, memory_gb=1.5), [1, 2])
    (address,) = pool.workers()
    before = pool.submit(address, worker_pid, 1).result()
    pool.stop_worker(address)
    assert not pool.restore()  # the nanny brought a worker back; no new cluster was needed
    (fresh,) = pool.workers()
    assert fresh != address and pool.submit(fresh, worker_pid, 1).result() != before


def test_a_worker_that_never_comes_back_gets_a_fresh_cluster() -> None:
    shape = ComputeProfile(name="pair", workers=2, threads=1, memory_gb=1.25)
    pool = TrialPool.open(shape, [1])
    pool.restart_wait_s = 1
    try:
        old = pool.client
        old.cluster.scale(1)  # a worker gone for good, as when its nanny failed to restart it
        while len(pool.workers()) > 1:
            time.sleep(0.05)
        assert pool.restore()
        assert pool.client is not old and len(pool.workers()) == 2
        assert all(pool.submit(a, worker_pid, 1).result() > 0 for a in pool.workers())
    finally:
        discard(shape)


def test_sending_the_data_waits_for_a_worker_when_the_scheduler_had_none() -> None:
    class Client:  # the scheduler's refusal when no worker was registered the moment the data arrived
        calls = 0

        def scatter(self, data: list[int], **kwargs: object) -> list[str]:
            Client.calls += 1
            if Client.calls == 1:
                raise ValueError("Can not use replicate to delete data")
            return [f"future-{x}" for x in data]

    pool = TrialPool(ComputeProfile(name="one", workers=1, threads=1, memory_gb=1), Client(), (7,))  # type: ignore[arg-type]
    pool.workers = lambda: {"tcp://worker": 1}  # type: ignore[method-assign]
    pool.scatter()
    assert pool.data == ["future-7"] and Client.calls == 2


def test_a_kept_cluster_whose_nanny_is_gone_is_replaced_at_once() -> None:
    """Seen under load after a worker was stopped: its nanny went too, so no worker would ever come back; a
    job waiting for one spent its whole budget (138 s for a 10 s budget) before starting a fresh cluster."""
    shape = ComputeProfile(name="solo", workers=1, threads=1, memory_gb=1.25)
    pool = TrialPool.open(shape, [1])
    try:
        old = pool.client
        old.cluster.scale(0)  # the nanny is gone, not just its worker
        while old.cluster.workers:
            time.sleep(0.05)
        assert client_for(shape) is not old  # not kept: no waiting for a worker that cannot come back
        fresh = TrialPool.open(shape, [1])  # the next job
        assert len(fresh.workers()) == 1
        assert fresh.submit(next(iter(fresh.workers())), worker_pid, 1).result() > 0
    finally:
        discard(shape)


def test_a_cluster_whose_nanny_fails_to_start_is_tried_once_more(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Seen under load: LocalCluster raised "Nanny failed to start." and the trial run failed with it."""
    import distributed

    real, calls = distributed.LocalCluster, []

    def flaky(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("Nanny failed to start.")
        return real(*args, **kwargs)

    monkeypatch.setattr(distributed, "LocalCluster", flaky)
    shape = ComputeProfile(name="retry", workers=1, threads=1, memory_gb=1.2)
    try:
        client = client_for(shape)
        assert len(calls) == 2 and client.status == "running"
    finally:
        discard(shape)


def test_a_warm_cluster_takes_the_next_job_on_the_same_rows_without_sending_them_again(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import numpy as np
    import pandas as pd

    shape = ComputeProfile(name="reuse", workers=1, threads=1, memory_gb=1.25)
    X = pd.DataFrame({"a": np.arange(500.0), "b": ["x", "y"] * 250})
    y = np.arange(500) % 2
    try:
        first = TrialPool.open(shape, X, y)
        sent: list[int] = []
        real = first.client.scatter
        monkeypatch.setattr(first.client, "scatter", lambda *a, **k: sent.append(1) or real(*a, **k))
        again = TrialPool.open(shape, X.copy(), y.copy())  # the next job, on the same snapshot's rows
        assert sent == [] and [f.key for f in again.data] == [f.key for f in first.data]
        (address,) = again.workers()
        assert again.submit(address, lambda X, y: len(X) + len(y)).result() == 1000
        TrialPool.open(shape, X.iloc[:400], y[:400])  # other rows: sent
        assert sent == [1]
        pool = TrialPool.open(shape, X.iloc[:400], y[:400])
        pool.stop_worker(address)  # a fresh worker has none of it: restoring sends it again
        pool.restore()
        assert sent == [1, 1]
        assert TrialPool.open(shape, [1, 2]).data  # data it cannot fingerprint is sent each time
        assert sent == [1, 1, 1]
    finally:
        discard(shape)


def test_an_idle_local_cluster_keeps_dask_housekeeping_down() -> None:
    import dask

    from studio.compute.cluster import WORKER_HEARTBEAT_S

    shape = ComputeProfile(name="quiet", workers=1, threads=1, memory_gb=1.25)
    client = client_for(shape)
    try:
        def settings(dask_worker) -> dict[str, object]:  # type: ignore[no-untyped-def]
            worker = dask_worker
            return {"profile": dask.config.get("distributed.worker.profile.enabled"),
                    "tick": dask.config.get("distributed.admin.tick.interval"),
                    "callbacks": sorted(worker.periodic_callbacks),
                    "heartbeat_ms": worker.periodic_callbacks["heartbeat"].callback_time}

        deadline = time.monotonic() + 30
        while True:  # the scheduler sets the heartbeat in its answer to the worker's first beat
            (seen,) = client.run(settings).values()
            if seen["heartbeat_ms"] >= WORKER_HEARTBEAT_S * 1000 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert seen["profile"] is False and seen["tick"] == "1s"
        assert "profile" not in seen["callbacks"] and "memory_monitor" not in seen["callbacks"]
        assert seen["heartbeat_ms"] >= WORKER_HEARTBEAT_S * 1000
    finally:
        discard(shape)
