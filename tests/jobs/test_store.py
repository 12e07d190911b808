"""The job store's guarantees: one claimant per job, leases that expire, stale writes rejected.

Every test runs against SQLite (the embedded default) and the local PostgreSQL server (the scale-out store).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from pydantic import BaseModel

from studio.db import make_engine
from studio.errors import JobError, JobNotFound, LeaseLost
from studio.jobs import JobStatus, JobStore
from studio.settings import Settings


class Payload(BaseModel):
    n: int = 1


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, settings: Settings) -> Iterator[JobStore]:
    url = settings.prepare().db_url if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    yield JobStore(engine, lease_seconds=30, max_attempts=3)
    engine.dispose()


def _with(store: JobStore, **options: float) -> JobStore:
    return JobStore(store.engine, **options)  # type: ignore[arg-type]


def test_submit_and_read_back(store: JobStore) -> None:
    job = store.submit("train", "demo", Payload(n=3))
    assert job.status is JobStatus.QUEUED and job.payload == {"n": 3} and job.attempts == 0
    assert [j.id for j in store.list()] == [job.id]
    with pytest.raises(JobNotFound):
        store.get("missing")


def test_concurrent_claims_hand_each_job_to_exactly_one_worker(store: JobStore) -> None:
    ids = {store.submit("train", f"j{i}", Payload()).id for i in range(20)}
    claimed: list[str] = []
    lock = threading.Lock()

    def claimer(worker: str) -> None:
        while (lease := store.claim(worker)) is not None:
            with lock:
                claimed.append(lease.job_id)

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(ids)


class _Clock:
    """The store's view of time, moved forward by the test (a real lease short enough to expire in a test also
    expired between two claims on a loaded machine)."""

    monotonic, sleep = staticmethod(time.monotonic), staticmethod(time.sleep)

    def __init__(self) -> None:
        self.ahead_s = 0.0

    def time(self) -> float:
        return _real_time() + self.ahead_s


_real_time = time.time


def test_an_expired_lease_is_reclaimed_and_the_stale_worker_cannot_write(store: JobStore,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import studio.jobs.store as store_module

    clock = _Clock()
    monkeypatch.setattr(store_module, "time", clock)
    store = _with(store, lease_seconds=30, max_attempts=3)
    job = store.submit("train", "demo", Payload())
    first = store.claim("w1")
    assert first is not None and store.claim("w2") is None  # lease still valid
    clock.ahead_s = 31
    second = store.claim("w2")
    assert second is not None and second.job_id == job.id and second.attempt == 2
    with pytest.raises(LeaseLost):
        store.set_progress(first, Payload(n=9))
    with pytest.raises(LeaseLost):
        store.finish(first, JobStatus.SUCCEEDED)
    store.finish(second, JobStatus.SUCCEEDED, result=Payload(n=2))
    done = store.get(job.id)
    assert done.status is JobStatus.SUCCEEDED and done.result == {"n": 2} and done.worker_id == "w2"


def test_a_job_that_keeps_losing_its_worker_fails_with_the_reason(store: JobStore) -> None:
    store = _with(store, lease_seconds=0.05, max_attempts=2)
    job = store.submit("train", "demo", Payload())
    for worker in ("w1", "w2"):
        assert store.claim(worker) is not None
        time.sleep(0.1)
    assert store.claim("w3") is None
    failed = store.get(job.id)
    assert failed.status is JobStatus.FAILED and "Gave up after 2 attempts" in (failed.error or "")


def test_heartbeat_extends_the_lease_and_reports_cancel(store: JobStore) -> None:
    store = _with(store, lease_seconds=0.3)
    job = store.submit("train", "demo", Payload())
    lease = store.claim("w1")
    assert lease is not None
    for _ in range(3):
        time.sleep(0.15)
        assert store.heartbeat(lease) is False
    assert store.claim("w2") is None  # kept alive past the original 0.3 s
    store.request_cancel(job.id)
    assert store.heartbeat(lease) is True


def test_cancelling_a_queued_job_ends_it_at_once(store: JobStore) -> None:
    job = store.submit("train", "demo", Payload())
    assert store.request_cancel(job.id).status is JobStatus.CANCELLED
    assert store.claim("w1") is None


def test_logs_keep_order_and_tail(store: JobStore) -> None:
    store.submit("train", "demo", Payload())
    lease = store.claim("w1")
    assert lease is not None
    for i in range(5):
        store.log(lease, f"line {i}")
    tail = store.logs(lease.job_id, tail=2)
    assert [t.split("  ", 1)[1] for t in tail] == ["line 3", "line 4"]


def test_worker_liveness(store: JobStore) -> None:
    assert not store.alive_workers(within_s=5)
    store.touch_worker("w1", pid=123)
    assert store.alive_workers(within_s=5)[0].pid == 123
    store.remove_worker("w1")
    assert not store.alive_workers(within_s=5)


def test_a_stale_workers_log_lines_are_dropped(store: JobStore) -> None:
    fast = _with(store, lease_seconds=0.05)
    job = fast.submit("train", "demo", Payload())
    stale = fast.claim("w1")
    assert stale is not None
    time.sleep(0.1)
    fresh = fast.claim("w2")
    assert fresh is not None
    fast.log(fresh, "from the new owner")
    with pytest.raises(LeaseLost):
        fast.log(stale, "from the old owner")
    assert [line.split("  ", 1)[1] for line in fast.logs(job.id)] == ["from the new owner"]


def test_rerun_queues_a_copy_and_delete_removes_only_finished_jobs(store: JobStore) -> None:
    job = store.submit("train", "demo", Payload(n=7))
    lease = store.claim("w1")
    assert lease is not None
    store.log(lease, "working")
    with pytest.raises(JobError, match="cancel it first"):
        store.delete(job.id)
    store.finish(lease, JobStatus.SUCCEEDED)
    again = store.resubmit(job.id)
    assert again.id != job.id and again.payload == {"n": 7} and again.status is JobStatus.QUEUED
    store.delete(job.id)
    with pytest.raises(JobNotFound):
        store.get(job.id)
    assert store.logs(job.id) == [] and [j.id for j in store.list()] == [again.id]
    with pytest.raises(JobNotFound):
        store.delete("missing")
