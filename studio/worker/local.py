"""The embedded default: start a local `studio worker` process when none is alive."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

from studio import vault

if TYPE_CHECKING:  # a type only: the jobs package does not import the composition root
    from studio.context import Studio


def spawn_worker(studio: Studio) -> subprocess.Popen[bytes]:
    """Start `python -m studio worker` detached from this process, logging to STUDIO_HOME/logs/worker.log.

    It runs in its own session so it keeps going when the app (or the terminal) that started it stops.
    """
    env = vault.entitled_env(STUDIO_HOME=str(studio.settings.root))
    log_file = open(studio.settings.logs_path / "worker.log", "ab")  # noqa: SIM115 - the child owns it
    return subprocess.Popen([sys.executable, "-m", "studio", "worker"], stdout=log_file, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=env, start_new_session=True)


def ensure_worker(studio: Studio) -> bool:
    """Start a worker if none has been seen recently; returns whether one was started."""
    if not studio.settings.embedded_worker or studio.worker_alive():
        return False
    spawn_worker(studio)
    return True
