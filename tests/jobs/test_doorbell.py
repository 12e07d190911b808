"""An idle worker sleeps on its doorbell: a job submitted on its machine wakes it, long before its next poll."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from studio.context import Studio
from studio.jobs import JobStatus
from studio.jobs.doorbell import Doorbell, ring
from studio.training.progress import Progress
from studio.worker.handlers import HANDLERS
from studio.worker.loop import Worker
from tests.conftest import make_settings

NEVER_S = 600.0  # a poll interval no test waits out: only the doorbell can wake the worker


def test_a_ring_wakes_the_named_worker_of_that_store_only() -> None:
    bell = Doorbell("sqlite:///a.db", "w1")
    try:
        assert not bell.wait(0.05)
        ring("sqlite:///a.db", ["w1", "gone"])  # a worker that left is skipped quietly
        assert bell.wait(30)
        assert not bell.wait(0.05)  # one ring, one wake-up
        ring("sqlite:///a.db", ["w2"])
        ring("sqlite:///other.db", ["w1"])  # the same worker id on another store
        assert not bell.wait(0.05)
        for _ in range(3):
            ring("sqlite:///a.db", ["w1"])
        assert bell.wait(30) and not bell.wait(0.05)  # rings while asleep are one wake-up
    finally:
        bell.close()


def test_a_second_doorbell_with_the_same_name_polls_instead() -> None:
    first, second = Doorbell("s", "w"), Doorbell("s", "w")
    try:
        assert not second.wait(0.05)
    finally:
        first.close()
        second.close()


@pytest.fixture
def idle(tmp_path) -> Iterator[tuple[Studio, Worker, list[str]]]:  # type: ignore[no-untyped-def]
    """A worker in a thread that would poll the queue only every 10 minutes; its jobs are recorded, not run."""
    studio = Studio(make_settings(tmp_path / "home", worker_poll_seconds=NEVER_S, heartbeat_seconds=NEVER_S))
    taken: list[str] = []
    worker = Worker(studio, worker_id="sleepy")
    thread = threading.Thread(target=worker.run, daemon=True)
    original = HANDLERS["noop"] = lambda s, job, reporter: taken.append(job.id)
    thread.start()
    deadline = time.monotonic() + 60
    while not studio.worker_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    yield studio, worker, taken
    worker.stop()
    thread.join(timeout=60)
    assert not thread.is_alive()  # stop() wakes an idle worker too
    assert HANDLERS.pop("noop") is original


def test_a_submitted_job_wakes_an_idle_worker(idle: tuple[Studio, Worker, list[str]]) -> None:
    studio, _, taken = idle
    time.sleep(0.5)  # the worker has looked at the empty queue and sleeps now
    job = studio.jobs.submit("noop", "wake up", Progress())
    deadline = time.monotonic() + 60
    while studio.jobs.get(job.id).status is not JobStatus.SUCCEEDED and time.monotonic() < deadline:
        time.sleep(0.05)
    assert taken == [job.id] and studio.jobs.get(job.id).status is JobStatus.SUCCEEDED
