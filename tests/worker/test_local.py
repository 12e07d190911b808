"""The embedded worker: `studio up` and the app both ask for one within a second; exactly one starts."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from studio.compute.cluster import TRIALS_NICE_STEP
from studio.context import Studio
from studio.worker.local import PID_FILE, ensure_worker, spawned_worker
from studio.worker.yielding import pages_first
from tests.conftest import make_settings


@pytest.fixture
def embedded(tmp_path: Path) -> Studio:
    settings = make_settings(tmp_path / "home", embedded_worker=True)
    settings.prepare()
    studio = Studio(settings)
    yield studio
    proc = spawned_worker(settings)
    if proc is not None:
        proc.terminate()
        proc.wait(timeout=30)


def test_asking_for_a_worker_twice_while_it_starts_starts_one(embedded: Studio, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("STUDIO_WORKER_NICE")  # the real default (the suite runs its own workers at nice 0)
    with ThreadPoolExecutor(4) as pool:
        started = list(pool.map(lambda _: ensure_worker(embedded), range(4)))
    assert started.count(True) == 1
    proc = spawned_worker(embedded.settings)
    assert proc is not None and proc.cmdline()[-2:] == ["studio", "worker"]
    assert not ensure_worker(embedded)  # still starting or already registered: no second one
    deadline = time.monotonic() + 60
    while not embedded.worker_alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [w.pid for w in embedded.jobs.alive_workers(within_s=60)] == [proc.pid]
    # it runs below the app's priority, and so do the Dask workers its warm-up starts (they inherit it)
    while len(proc.children(recursive=True)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    niceness = {p.pid: p.nice() for p in [proc, *proc.children(recursive=True)]}
    assert len(niceness) >= 3 and min(niceness.values()) >= 10, niceness
    # and its Dask worker processes run below it (the job's own bookkeeping runs in the worker process)
    def dask_workers() -> list[int]:
        return [p.nice() for p in proc.children(recursive=True) if "spawn_main" in " ".join(p.cmdline())]

    while time.monotonic() < deadline and not (dask_workers() and min(dask_workers()) >= 10 + TRIALS_NICE_STEP):
        time.sleep(0.2)
    assert dask_workers() and min(dask_workers()) >= 10 + TRIALS_NICE_STEP, dask_workers()
    # every thread of them, in the idle scheduling class: a page that wakes up takes the core at once
    def threads() -> list[tuple[int, int]]:  # (nice, scheduling class) of each
        workers = [p for p in proc.children(recursive=True) if "spawn_main" in " ".join(p.cmdline())]
        found = []
        for tid in (t.id for p in workers for t in p.threads()):
            with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
                found.append((os.getpriority(os.PRIO_PROCESS, tid), os.sched_getscheduler(tid)))
        return found

    lowered = (10 + TRIALS_NICE_STEP, os.SCHED_IDLE)
    while time.monotonic() < deadline and not all(nice >= lowered[0] and cls == lowered[1] for nice, cls in threads()):
        time.sleep(0.2)
    assert threads() and all(nice >= lowered[0] and cls == lowered[1] for nice, cls in threads()), threads()
    # and while a page runs, they are stopped, with the worker itself: no scheduling class keeps them off the
    # memory bus (yielding.py); its guard, which stops them, is not
    guards = [p for p in proc.children() if "studio.worker.yielding" in " ".join(p.cmdline())]
    held = [proc, *(p for p in proc.children(recursive=True) if p not in guards)]
    assert len(guards) == 1 and len(held) >= 3
    with pages_first(embedded.jobs.identity, embedded.jobs.local_workers()):
        while time.monotonic() < deadline and {p.status() for p in held} != {psutil.STATUS_STOPPED}:
            time.sleep(0.01)
        assert {p.status() for p in held} == {psutil.STATUS_STOPPED}
        assert guards[0].status() != psutil.STATUS_STOPPED
    while time.monotonic() < deadline and psutil.STATUS_STOPPED in {p.status() for p in held}:
        time.sleep(0.01)
    assert psutil.STATUS_STOPPED not in {p.status() for p in held}


def test_a_worker_is_known_by_its_pid_and_start_time_before_its_command_line_reads(embedded: Studio) -> None:
    # the command line of a process that has just exec'd reads empty for a moment (CI started two workers in it);
    # a process with another command line and the recorded start time counts as the worker this home started
    other = subprocess.Popen(["sleep", "60"])
    try:
        (embedded.settings.root / PID_FILE).write_text(f"{other.pid} {psutil.Process(other.pid).create_time()!r}")
        found = spawned_worker(embedded.settings)
        assert found is not None and found.pid == other.pid
        assert not ensure_worker(embedded)  # so no second one is started
    finally:
        other.kill()
        other.wait()


def test_a_worker_that_exited_is_started_again(embedded: Studio) -> None:
    assert ensure_worker(embedded)
    first = spawned_worker(embedded.settings)
    assert first is not None
    first.terminate()
    first.wait(timeout=30)
    deadline = time.monotonic() + 30  # a worker stopped before it deregistered is forgotten after 3 heartbeats
    while embedded.worker_alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert spawned_worker(embedded.settings) is None
    assert ensure_worker(embedded)
    second = spawned_worker(embedded.settings)
    assert second is not None and second.pid != first.pid


def test_a_pid_file_naming_another_process_is_not_a_worker(embedded: Studio) -> None:
    me = psutil.Process()
    (embedded.settings.root / PID_FILE).write_text(f"{me.pid} {me.create_time() - 5!r}")  # a reused pid
    assert spawned_worker(embedded.settings) is None
    (embedded.settings.root / PID_FILE).write_text(str(me.pid))  # no start time
    assert spawned_worker(embedded.settings) is None
    (embedded.settings.root / PID_FILE).write_text("not a pid")
    assert spawned_worker(embedded.settings) is None
