"""The embedded default: start a local `studio worker` process when none is alive."""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

from studio import vault

if TYPE_CHECKING:  # a type only: the jobs package does not import the composition root
    from studio.context import Studio
    from studio.settings import Settings

#: The last worker this home started: a worker registers in the job store only once it runs, so until then this
#: file is what tells `studio up` and the app (which both ask for a worker within a second) that one is coming.
PID_FILE = "worker.pid"


def spawn_worker(studio: Studio) -> subprocess.Popen[bytes]:
    """Start `python -m studio worker` detached from this process, logging to STUDIO_HOME/logs/worker.log.

    It runs in its own session so it keeps going when the app (or the terminal) that started it stops.
    """
    env = vault.entitled_env(STUDIO_HOME=str(studio.settings.root))
    log_file = open(studio.settings.logs_path / "worker.log", "ab")  # noqa: SIM115 - the child owns it
    proc = subprocess.Popen([sys.executable, "-m", "studio", "worker"], stdout=log_file, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    # the pid with its start time: a reused pid has another (a command line is no test: it reads empty for a moment
    # after the exec, before the kernel sets up the new program's arguments, and a busy machine lets another
    # thread look in that moment — CI started two workers that way)
    (studio.settings.root / PID_FILE).write_text(f"{proc.pid} {psutil.Process(proc.pid).create_time()!r}")
    return proc


def spawned_worker(settings: Settings) -> psutil.Process | None:
    """The worker process this home last started, while it runs (not a zombie, not a reused pid)."""
    try:
        pid, started = (settings.root / PID_FILE).read_text().split()
        proc = psutil.Process(int(pid))
        running = proc.status() != psutil.STATUS_ZOMBIE and proc.create_time() == float(started)
    except (OSError, ValueError, psutil.Error):
        return None
    return proc if running else None


def ensure_worker(studio: Studio) -> bool:
    """Start a worker if none has been seen recently and none is starting; returns whether one was started."""
    if not studio.settings.embedded_worker:
        return False
    with _spawn_lock(studio.settings.root):
        if studio.worker_alive() or spawned_worker(studio.settings) is not None:
            return False
        spawn_worker(studio)
        return True


@contextlib.contextmanager
def _spawn_lock(root: Path) -> Iterator[None]:
    """One process at a time decides whether to start a worker for this home."""
    with open(root / "worker.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def lower_priority(niceness: int) -> None:
    """Run this process (and every process it starts from now on: the Dask workers) at `niceness` or lower priority,
    so the app's pages and the machine's other users come first when a job trains on every core."""
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if niceness > current:
        os.setpriority(os.PRIO_PROCESS, 0, niceness)
