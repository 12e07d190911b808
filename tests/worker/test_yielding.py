"""Pages first: while a page runs, the processes below a worker are stopped, and continue after it, at the
latest MAX_PAUSE_S later; only this user's processes can ask. Real processes and real sockets."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time

import psutil
import pytest

from studio.worker import yielding
from studio.worker.yielding import MAX_PAUSE_S, PAUSE, Yielder, pages_first

pytestmark = pytest.mark.skipif(not yielding.SUPPORTED, reason="abstract Unix sockets are Linux's")


@pytest.fixture
def below():
    """A CPU-bound process below this one, as a Dask worker is below `studio worker`."""
    child = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    yield psutil.Process(child.pid)
    child.kill()
    child.wait()


def _state(process: psutil.Process, want: str, within_s: float = 2.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if process.status() == want:
            return True
        time.sleep(0.01)
    return False


def test_the_compute_below_the_worker_stops_while_a_page_runs_and_goes_on_after(below) -> None:
    yielder = Yielder("store", f"w-{os.getpid()}").start()
    try:
        with pages_first("store", [f"w-{os.getpid()}", "a-worker-that-is-gone"]):
            assert _state(below, psutil.STATUS_STOPPED)
        assert _state(below, psutil.STATUS_RUNNING)
        with pages_first("store", [f"w-{os.getpid()}"]), pages_first("store", [f"w-{os.getpid()}"]):
            assert _state(below, psutil.STATUS_STOPPED)  # two pages at once: held until both end
        assert _state(below, psutil.STATUS_RUNNING)
        assert yielder.paused_s > 0
    finally:
        yielder.close()
    assert below.status() == psutil.STATUS_RUNNING


def test_a_page_long_after_the_last_is_held_for_all_of_it(below, monkeypatch) -> None:
    """The cap counts from the PAUSE's arrival, not from when the listener began waiting for it (a page more than
    MAX_PAUSE_S after the last was let go at once: the compute ran beside it)."""
    monkeypatch.setattr(yielding, "ACK_WAIT_S", 5.0)  # the page starts once stopped, however loaded the machine
    yielder = Yielder("store", f"w-{os.getpid()}").start()
    try:
        time.sleep(MAX_PAUSE_S + 0.5)  # the listener has waited longer than the cap
        with pages_first("store", [f"w-{os.getpid()}"]):
            assert _state(below, psutil.STATUS_STOPPED)
            time.sleep(MAX_PAUSE_S / 4)
            assert below.status() == psutil.STATUS_STOPPED  # still held, well within the cap
        assert _state(below, psutil.STATUS_RUNNING)
    finally:
        yielder.close()


def test_a_page_never_holds_training_longer_than_the_cap_nor_again_at_once(below, monkeypatch) -> None:
    monkeypatch.setattr(yielding, "COOLDOWN_S", 60.0)  # a loaded machine cannot let the cooldown run out first
    yielder = Yielder("store", f"w-{os.getpid()}").start()
    address = yielding.address("store", f"w-{os.getpid()}")
    try:
        yielding._send(address, PAUSE)  # an app that died mid-page: no RESUME comes
        assert _state(below, psutil.STATUS_STOPPED)
        assert _state(below, psutil.STATUS_RUNNING, within_s=MAX_PAUSE_S + 1)
        yielding._send(address, PAUSE)  # right after a hold ran out: training runs first
        time.sleep(0.2)
        assert below.status() == psutil.STATUS_RUNNING
    finally:
        yielder.close()


def test_closing_the_worker_continues_what_it_held(below) -> None:
    yielder = Yielder("store", f"w-{os.getpid()}").start()
    yielding._send(yielding.address("store", f"w-{os.getpid()}"), PAUSE)
    assert _state(below, psutil.STATUS_STOPPED)
    yielder.close()
    assert _state(below, psutil.STATUS_RUNNING)


def test_only_this_users_processes_are_heard(below, monkeypatch) -> None:
    """The kernel's credentials, not the message, say who sent it: a sender of another uid is ignored (here the
    worker is made to believe it runs as another user, since the test cannot send as one)."""
    yielder = Yielder("store", f"w-{os.getpid()}")
    monkeypatch.setattr(yielding.os, "getuid", lambda: os.geteuid() + 12345)
    yielder.start()
    try:
        yielding._send(yielder.address, PAUSE)
        time.sleep(0.3)
        assert below.status() == psutil.STATUS_RUNNING
    finally:
        monkeypatch.undo()
        yielder.close()


def test_a_second_worker_with_the_same_id_does_not_listen() -> None:
    first = Yielder("store", "same").start()
    second = Yielder("store", "same").start()
    try:
        assert second._sock is None and first._sock is not None
    finally:
        first.close()
        second.close()
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as probe:
        probe.bind(yielding.address("store", "same"))  # closed: the name is free again


def test_a_worker_that_does_not_read_never_hangs_a_page(monkeypatch) -> None:
    """A stopped worker (Ctrl-Z, or paused by a benchmark) stops reading its socket; once its queue is full a
    blocking send would hang every page of the app, and no ACK comes: the page runs after ACK_WAIT_S."""
    monkeypatch.setattr(yielding, "ACK_WAIT_S", 0.001)
    acks = _count_acks(monkeypatch)
    deaf = Yielder("store", "deaf")  # bound, never started: nobody reads
    try:
        for _ in range(500):  # the queue holds a few dozen: a blocking send would hang here
            with pages_first("store", ["deaf"]):
                pass
    finally:
        deaf.close()
    assert acks == [0] * 500


def _count_acks(monkeypatch) -> list[int]:
    """The ACKs each page received before it ran."""
    counted: list[int] = []
    real = yielding._await_acks
    monkeypatch.setattr(yielding, "_await_acks", lambda sock, expected: counted.append(real(sock, expected)) or 0)
    return counted


def test_a_page_starts_once_the_compute_is_stopped(below, monkeypatch) -> None:
    """The worker acknowledges the PAUSE after its SIGSTOPs: the page never starts beside the training (the
    signalling made slow here, so a page that did not wait would start first)."""
    monkeypatch.setattr(yielding, "ACK_WAIT_S", 30.0)
    monkeypatch.setattr(yielding, "COOLDOWN_S", 60.0)  # a loaded machine cannot let the cooldown run out first
    events: list[str] = []
    real = yielding._Below.signal

    def slow_signal(below_, signum):
        time.sleep(0.3)
        real(below_, signum)
        events.append(f"signal {signum}")

    monkeypatch.setattr(yielding._Below, "signal", slow_signal)
    acks = _count_acks(monkeypatch)
    yielder = Yielder("store", f"w-{os.getpid()}").start()
    try:
        with pages_first("store", [f"w-{os.getpid()}", "a-worker-that-is-gone"]):
            events.append("page")
        assert events[:2] == [f"signal {int(yielding.signal.SIGSTOP)}", "page"]
        assert acks == [1]  # acknowledged, not timed out; the worker that is gone is not waited for
        monkeypatch.setattr(yielding._Below, "signal", real)
        assert _state(below, psutil.STATUS_RUNNING)
        yielding._send(yielder.address, PAUSE)  # an app that died mid-page: the cap runs out, a cooldown follows
        assert _state(below, psutil.STATUS_STOPPED)
        assert _state(below, psutil.STATUS_RUNNING, within_s=MAX_PAUSE_S + 2)
        with pages_first("store", [f"w-{os.getpid()}"]):
            events.append("page in the cooldown")
        assert acks == [1, 1] and below.status() == psutil.STATUS_RUNNING  # answered at once, not held
    finally:
        yielder.close()


def test_a_guard_stops_the_worker_itself_with_its_compute_and_ends_with_it() -> None:
    """The guard, a process of its own, stops the worker process (its search driver runs there) and what is below
    it while a page runs, never itself; stopped (SIGTERM) mid-page it lets them go on; it ends when the worker
    does. Real processes: a worker that starts its guard and a compute process, as `studio worker` does."""
    worker = _busy_worker("guarded")
    started: list[psutil.Process] = []  # the worker's own children: killed at the end, whatever happens
    try:
        process, guard, compute, started = _started(worker, "guarded")
        deadline = time.monotonic() + 10
        acks = []
        real = yielding._await_acks
        yielding._await_acks = lambda sock, expected: acks.append(real(sock, expected)) or 0
        try:
            with pages_first("store", ["guarded"]):
                assert _state(process, psutil.STATUS_STOPPED) and _state(compute, psutil.STATUS_STOPPED)
                assert guard.status() != psutil.STATUS_STOPPED
        finally:
            yielding._await_acks = real
        assert acks == [1]  # the worker was stopped before the page began
        assert _state(process, psutil.STATUS_RUNNING) and _state(compute, psutil.STATUS_RUNNING)
        yielding._send(yielding.address("store", "guarded"), PAUSE)  # a page that never ends...
        assert _state(process, psutil.STATUS_STOPPED)
        guard.terminate()  # ...and its guard stopped meanwhile: the worker goes on
        assert _state(guard, psutil.STATUS_ZOMBIE, within_s=10)  # ended (the busy worker has not reaped it)
        assert _state(process, psutil.STATUS_RUNNING) and _state(compute, psutil.STATUS_RUNNING)
        second = subprocess.Popen([sys.executable, "-m", "studio.worker.yielding", "store", "guarded-2",
                                   str(worker.pid)])
        while time.monotonic() < deadline + 10 and not _bound("guarded-2"):
            time.sleep(0.05)
        worker.kill()
        worker.wait()
        assert second.wait(timeout=10) == 0  # its worker ended: so does the guard
    finally:
        _kill(worker, started)


def _busy_worker(worker_id: str) -> subprocess.Popen[bytes]:
    """A process that starts a compute process and its guard, as `studio worker` does, and keeps busy."""
    return subprocess.Popen([sys.executable, "-c", (
        "import subprocess, sys, time\n"
        "from studio.worker import yielding\n"
        "subprocess.Popen([sys.executable, '-c', 'while True: pass'])\n"
        f"guard = yielding.start_guard('store', {worker_id!r})\n"
        "print(guard.pid, flush=True)\n"
        "while True: sum(range(10_000))\n")], stdout=subprocess.PIPE)


def _started(worker: subprocess.Popen[bytes], worker_id: str
             ) -> tuple[psutil.Process, psutil.Process, psutil.Process, list[psutil.Process]]:
    """The worker, its guard (once it listens) and its compute process, and all the worker's children."""
    assert worker.stdout is not None
    guard = psutil.Process(int(worker.stdout.readline()))
    process = psutil.Process(worker.pid)
    started = process.children()
    compute = next(p for p in started if p.pid != guard.pid)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not _bound(worker_id):  # the guard has started listening
        time.sleep(0.05)
    return process, guard, compute, started


def _kill(worker: subprocess.Popen[bytes], started: list[psutil.Process]) -> None:
    """Kill the worker and every process it or this test started, whatever happened."""
    worker.kill()
    worker.wait()
    for child in [*started, *psutil.Process().children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()


def _bound(worker_id: str) -> bool:
    """Whether a guard listens for `worker_id` (its address is taken)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(yielding.address("store", worker_id))
        except OSError:
            return True
        return False


def test_a_restarted_compute_process_is_held_in_the_same_page() -> None:
    """The worker signals the processes it knows through pidfds, then reads the tree again while the page runs:
    one started since the last page (a Dask worker restarted) is stopped in the same page; grandchildren too."""
    spin = [sys.executable, "-c", "while True: pass"]
    parent = subprocess.Popen([sys.executable, "-c", "import subprocess, sys, time\n"
                               f"subprocess.Popen({spin!r}); time.sleep(60)"])
    first = psutil.Process(subprocess.Popen(spin).pid)
    yielder = Yielder("store", f"w-{os.getpid()}").start()
    me = [f"w-{os.getpid()}"]
    try:
        deadline = time.monotonic() + 10
        while len(yielding._descendants(parent.pid)) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        grandchild = psutil.Process(yielding._descendants(parent.pid)[0])
        with pages_first("store", me):
            assert _state(first, psutil.STATUS_STOPPED) and _state(grandchild, psutil.STATUS_STOPPED)
        first.kill()
        first.wait()
        second = psutil.Process(subprocess.Popen(spin).pid)
        with pages_first("store", me):  # the one that ended is forgotten, its successor stopped at once
            assert _state(second, psutil.STATUS_STOPPED) and _state(grandchild, psutil.STATUS_STOPPED)
        assert _state(second, psutil.STATUS_RUNNING) and _state(grandchild, psutil.STATUS_RUNNING)
        with pages_first("store", me):
            assert _state(second, psutil.STATUS_STOPPED)
        assert _state(second, psutil.STATUS_RUNNING)
    finally:
        yielder.close()
        for process in psutil.Process().children(recursive=True):
            process.kill()
        parent.wait()


def test_a_worker_whose_guard_was_killed_holding_it_is_continued_by_the_next_page() -> None:
    """SIGKILL gives a guard no chance to continue what it holds; the next page finds its address unbound and
    continues the worker and its compute, and leaves a worker whose guard runs to that guard."""
    worker = _busy_worker("killed")
    started: list[psutil.Process] = []
    try:
        process, guard, compute, started = _started(worker, "killed")
        registered = time.time()
        yielding._send(yielding.address("store", "killed"), PAUSE)  # a page that never ends
        assert _state(process, psutil.STATUS_STOPPED) and _state(compute, psutil.STATUS_STOPPED)
        assert not yielding.release_orphan(worker.pid, started_by=registered)  # its guard runs: left to it
        guard.kill()
        assert _state(guard, psutil.STATUS_ZOMBIE, within_s=10)  # the stopped worker cannot reap it
        deadline = time.monotonic() + 10  # its other thread may still be closing the socket (CI saw it bound)
        while _bound("killed") and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _state(process, psutil.STATUS_STOPPED)  # nothing continued them
        assert not yielding.release_orphan(worker.pid, started_by=process.create_time() - 1)  # another process
        released: list[str] = []

        def release(worker_id: str) -> None:
            released.append(worker_id)
            yielding.release_orphan(worker.pid, started_by=registered)

        with pages_first("store", ["killed"], unreached=release):
            assert released == ["killed"]
        assert _state(process, psutil.STATUS_RUNNING) and _state(compute, psutil.STATUS_RUNNING)
    finally:
        _kill(worker, started)
