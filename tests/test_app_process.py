"""`studio up` on a fresh home: the app answers, a worker comes alive, and it outlives the app."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from studio.context import Studio
from studio.export.serving import free_port
from tests.conftest import make_settings

pytestmark = pytest.mark.slow


def _wait(predicate, *, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.25)
    return False


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/_stcore/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_studio_up_serves_the_app_and_starts_a_worker(tmp_path: Path) -> None:
    home = tmp_path / "home"
    port = free_port()
    env = dict(os.environ, STUDIO_HOME=str(home), STUDIO_EMBEDDED_WORKER="true",
               STUDIO_HEARTBEAT_SECONDS="0.5")  # the worker beats as often as this test's studio expects
    app = subprocess.Popen([sys.executable, "-m", "studio", "up", "--port", str(port)], env=env, cwd=tmp_path,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    studio = Studio(make_settings(home))
    try:
        assert _wait(lambda: _healthy(f"http://127.0.0.1:{port}"), timeout=60)
        assert _wait(studio.worker_alive, timeout=60)
        assert (home / "studio.db").is_file() and (home / "logs" / "worker.log").is_file()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]  # nothing written to the working dir
    finally:
        os.killpg(app.pid, signal.SIGTERM)
        app.wait(timeout=30)
    try:
        # The worker lives in its own session: stopping the app (or closing the browser) does not stop jobs.
        time.sleep(2 * studio.settings.heartbeat_seconds)
        assert studio.worker_alive()
    finally:
        for worker in studio.jobs.alive_workers(within_s=3600):
            os.kill(worker.pid, signal.SIGTERM)
    assert _wait(lambda: not studio.worker_alive(), timeout=30)  # SIGTERM stops the worker cleanly
