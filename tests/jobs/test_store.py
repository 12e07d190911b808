"""The job store's guarantees: one claimant per job, leases that expire, stale writes rejected."""

from __future__ import annotations

import threading
import time

import pytest
from pydantic import BaseModel

from studio.context import Studio
from studio.errors import JobNotFound, LeaseLost
from studio.jobs import JobStatus, JobStore


class Payload(BaseModel):
    n: int = 1


def test_submit_and_read_back(studio: Studio) -> None:
    job = studio.jobs.submit("train", "demo", Payload(n=3))
    assert job.status is JobStatus.QUEUED and job.payload == {"n": 3} and job.attempts == 0
    assert [j.id for j in studio.jobs.list()] == [job.id]
    with pytest.raises(JobNotFound):
        studio.jobs.get("missing")


def test_concurrent_claims_hand_each_job_to_exactly_one_worker(studio: Studio) -> None:
    ids = {studio.jobs.submit("train", f"j{i}", Payload()).id for i in range(20)}
    claimed: list[str] = []
    lock = threading.Lock()

    def claimer(worker: str) -> None:
        while (lease := studio.jobs.claim(worker)) is not None:
            with lock:
                claimed.append(lease.job_id)

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(ids)


def test_an_expired_lease_is_reclaimed_and_the_stale_worker_cannot_write(studio: Studio) -> None:
    store = JobStore(studio.engine, lease_seconds=0.2, max_attempts=3)
    job = store.submit("train", "demo", Payload())
    first = store.claim("w1")
    assert first is not None and store.claim("w2") is None  # lease still valid
    time.sleep(0.3)
    second = store.claim("w2")
    assert second is not None and second.job_id == job.id and second.attempt == 2
    with pytest.raises(LeaseLost):
        store.set_progress(first, Payload(n=9))
    with pytest.raises(LeaseLost):
        store.finish(first, JobStatus.SUCCEEDED)
    store.finish(second, JobStatus.SUCCEEDED, result=Payload(n=2))
    done = store.get(job.id)
    assert done.status is JobStatus.SUCCEEDED and done.result == {"n": 2} and done.worker_id == "w2"


def test_a_job_that_keeps_losing_its_worker_fails_with_the_reason(studio: Studio) -> None:
    store = JobStore(studio.engine, lease_seconds=0.05, max_attempts=2)
    job = store.submit("train", "demo", Payload())
    for worker in ("w1", "w2"):
        assert store.claim(worker) is not None
        time.sleep(0.1)
    assert store.claim("w3") is None
    failed = store.get(job.id)
    assert failed.status is JobStatus.FAILED and "Gave up after 2 attempts" in (failed.error or "")


def test_heartbeat_extends_the_lease_and_reports_cancel(studio: Studio) -> None:
    store = JobStore(studio.engine, lease_seconds=0.3)
    job = store.submit("train", "demo", Payload())
    lease = store.claim("w1")
    assert lease is not None
    for _ in range(3):
        time.sleep(0.15)
        assert store.heartbeat(lease) is False
    assert store.claim("w2") is None  # kept alive past the original 0.3 s
    store.request_cancel(job.id)
    assert store.heartbeat(lease) is True


def test_cancelling_a_queued_job_ends_it_at_once(studio: Studio) -> None:
    job = studio.jobs.submit("train", "demo", Payload())
    assert studio.jobs.request_cancel(job.id).status is JobStatus.CANCELLED
    assert studio.jobs.claim("w1") is None


def test_logs_keep_order_and_tail(studio: Studio) -> None:
    studio.jobs.submit("train", "demo", Payload())
    lease = studio.jobs.claim("w1")
    assert lease is not None
    for i in range(5):
        studio.jobs.log(lease, f"line {i}")
    tail = studio.jobs.logs(lease.job_id, tail=2)
    assert [t.split("  ", 1)[1] for t in tail] == ["line 3", "line 4"]


def test_worker_liveness(studio: Studio) -> None:
    assert not studio.worker_alive()
    studio.jobs.touch_worker("w1", pid=123)
    assert studio.worker_alive() and studio.jobs.alive_workers(within_s=5)[0].pid == 123
    studio.jobs.remove_worker("w1")
    assert not studio.worker_alive()
