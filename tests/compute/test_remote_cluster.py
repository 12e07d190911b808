"""The `cluster` compute size against a real Dask scheduler and workers, started here as processes on loopback."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from studio.compute.cluster import discard
from studio.context import Studio
from studio.studies import storage_for, trial_outcomes
from studio.training.draft import draft_spec
from studio.training.run import train
from studio.training.spec import Budget
from tests.conftest import ListReporter

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def scheduler(tmp_path: Path) -> Iterator[tuple[str, set[str]]]:
    """A scheduler and two single-threaded workers; yields the address and the workers' addresses."""
    from distributed import Client

    address = f"tcp://127.0.0.1:{_free_port()}"
    dask = [str(Path(sys.executable).parent / "dask")]
    log = open(tmp_path / "dask.log", "wb")  # noqa: SIM115 - closed below
    procs = [subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                               "--no-dashboard"], stdout=log, stderr=subprocess.STDOUT)]
    procs.append(subprocess.Popen([*dask, "worker", address, "--nworkers", "2", "--nthreads", "1",
                                   "--memory-limit", "2GiB", "--no-dashboard", "--host", "127.0.0.1"],
                                  stdout=log, stderr=subprocess.STDOUT))
    try:
        client = Client(address, timeout="30s", set_as_default=False)
        deadline = time.monotonic() + 60
        while len(client.scheduler_info()["workers"]) < 2:
            assert time.monotonic() < deadline, (tmp_path / "dask.log").read_text()
            time.sleep(0.2)
        yield address, set(client.scheduler_info()["workers"])
        client.close()
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(timeout=30)
        log.close()


def test_the_cluster_size_runs_trials_on_the_remote_workers(scheduler, studio: Studio, churn: pd.DataFrame,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    address, remote_workers = scheduler
    monkeypatch.setenv("STUDIO_COMPUTE__CLUSTER__SCHEDULER", address)
    profile = studio.profile("cluster")
    assert profile.is_remote and profile.scheduler == address
    record = studio.catalog.save(churn, "churn", source="test")
    spec = draft_spec(record, churn, target="churned", algorithms=["linear", "random_forest"], compute="cluster",
                      validation={"kind": "holdout"}, budget=Budget(max_trials=6, seconds=None))
    try:
        result = train(spec, catalog=studio.catalog, tracker=studio.tracker, job_id="remote",
                       storage=storage_for(studio.settings, "job-remote"), profile=profile, reporter=ListReporter())
    finally:
        discard(profile)  # before the scheduler stops, so the cached client does not keep reconnecting
    outcomes = trial_outcomes(studio.settings, "job-remote")
    assert result.n_trials == 6 and result.model_uri == "models:/churn/1", [(o.state, o.error) for o in outcomes]
    used = {t.worker for t in trial_outcomes(studio.settings, "job-remote")}
    assert used == remote_workers  # both remote workers ran trials, nothing ran anywhere else
