"""Jobs survive what happens to real worker processes: SIGKILL mid-study, several workers on one queue, cancel.

Each test starts `python -m studio worker` processes against a studio under tmp_path and drives them through
the job store and the CLI, as the app and an analyst would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import optuna
import pandas as pd
import psutil
import pytest

from studio.context import Studio
from studio.jobs import JobStatus
from studio.studies import storage_for
from studio.training.draft import draft_spec
from studio.training.driver import ABANDONED, counted_trials
from studio.training.spec import Budget
from tests.conftest import churn_frame, make_settings

pytestmark = pytest.mark.slow

FAST_LEASES = {"STUDIO_LEASE_SECONDS": "3", "STUDIO_HEARTBEAT_SECONDS": "0.5", "STUDIO_WORKER_POLL_SECONDS": "0.2"}


class Workers:
    """`studio worker` processes for one studio home; all stopped at the end of the test."""

    def __init__(self, home: Path, env: dict[str, str], logs: Path) -> None:
        self.home, self.env, self.logs = home, env, logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"worker-{len(self.procs)}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen([sys.executable, "-m", "studio", "worker"], stdout=log, stderr=subprocess.STDOUT,
                                env=self.env)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[..., tuple[Studio, Workers]]]:
    started: list[Workers] = []

    def make(**env: str) -> tuple[Studio, Workers]:
        home = tmp_path / "home"
        full_env = {**os.environ, "STUDIO_HOME": str(home), **FAST_LEASES, **env}
        settings = make_settings(home, lease_seconds=float(full_env["STUDIO_LEASE_SECONDS"]),
                                 database_url=env.get("STUDIO_DATABASE_URL"))
        group = Workers(home, full_env, tmp_path)
        started.append(group)
        return Studio(settings), group

    yield make
    for group in started:
        group.stop_all()


def _wait_for(predicate: Callable[[], bool], *, timeout: float = 180, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _spec(studio: Studio, frame: pd.DataFrame, *, max_trials: int, **kwargs: object):
    record = studio.catalog.save(frame, "churn", source="test")
    return draft_spec(record, frame, target="churned", validation={"kind": "holdout"},
                      budget=Budget(seconds=None, max_trials=max_trials), **kwargs)  # type: ignore[arg-type]


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "studio", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def test_a_job_survives_sigkill_of_its_worker_and_resumes_its_study(workers) -> None:
    studio, group = workers()
    spec = _spec(studio, churn_frame(2000), algorithms=["random_forest"], max_trials=10)
    job_id = studio.submit_training(spec).id
    first = group.start()
    _wait_for(lambda: studio.jobs.get(job_id).progress.get("trials_done", 0) >= 3, what="3 trials")
    dask_children = psutil.Process(first.pid).children(recursive=True)
    first.send_signal(signal.SIGKILL)
    first.wait()
    storage = storage_for(studio.settings, f"job-{job_id}")
    before = {t.number: (t.value, t.datetime_complete) for t in
              optuna.load_study(study_name=f"job-{job_id}", storage=storage).get_trials(
                  states=(optuna.trial.TrialState.COMPLETE,))}
    assert len(before) >= 3
    _wait_for(lambda: not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in dask_children),
              timeout=30, what="the killed worker's Dask processes to exit")

    group.start()  # a new worker reclaims the job once the dead one's lease expires
    _wait_for(lambda: studio.jobs.get(job_id).status.is_final, what="the job to finish")
    job = studio.jobs.get(job_id)
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert job.attempts == 2 and job.result is not None

    study = optuna.load_study(study_name=f"job-{job_id}", storage=storage)
    after = {t.number: (t.value, t.datetime_complete) for t in study.trials}
    assert all(after[n] == before[n] for n in before)  # finished trials kept as they were, never re-run
    assert counted_trials(study) == 10 and job.result["n_trials"] >= 9
    assert sum(bool(t.user_attrs.get(ABANDONED)) for t in study.trials) <= 1  # the one the kill interrupted
    assert any(f"Resuming the study: {len(before)}" in line or "Resuming the study:" in line
               for line in studio.jobs.logs(job_id))

    client = studio.tracker.client
    experiment = client.get_experiment_by_name(spec.run_name).experiment_id
    parents = client.search_runs([experiment], f"tags.`studio.job_id` = '{job_id}'")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"  # no duplicate parent run
    children = client.search_runs([experiment], f"tags.`mlflow.parentRunId` = '{parents[0].info.run_id}'",
                                  max_results=1000)
    numbers = [int(c.data.tags["studio.trial_number"]) for c in children]
    assert sorted(numbers) == sorted(t.number for t in study.trials)  # each trial logged exactly once
    versions = client.search_model_versions(f"run_id = '{parents[0].info.run_id}'")
    assert len(versions) == 1 and job.result["model_uri"] == f"models:/churn/{versions[0].version}"


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_two_workers_share_one_queue_and_run_every_job_exactly_once(workers, store: str, request) -> None:
    env = {"STUDIO_DATABASE_URL": request.getfixturevalue("postgres_url")} if store == "postgresql" else {}
    # no worker dies here, so a lease of a normal length: with 3 s a worker starved of CPU for 3 s by the other
    # test process lost its job to the other worker, which this test would then (rightly) count as a second run
    studio, group = workers(STUDIO_LEASE_SECONDS="20", **env)
    spec = _spec(studio, churn_frame(), algorithms=["linear"], max_trials=1)
    ids = [studio.submit_training(spec).id for _ in range(6)]
    group.start()
    group.start()
    _wait_for(lambda: all(studio.jobs.get(i).status.is_final for i in ids), what="all jobs")
    jobs = [studio.jobs.get(i) for i in ids]
    assert [j.status for j in jobs] == [JobStatus.SUCCEEDED] * 6
    assert all(j.attempts == 1 for j in jobs)
    for job in jobs:
        assert sum("Attempt " in line for line in studio.jobs.logs(job.id)) == 1
    assert len({j.worker_id for j in jobs}) == 2  # both workers took jobs
    client = studio.tracker.client
    experiment = client.get_experiment_by_name(spec.run_name).experiment_id
    parents = client.search_runs([experiment], "tags.`studio.kind` = 'training'", max_results=100)
    assert sorted(r.data.tags["studio.job_id"] for r in parents) == sorted(ids)  # one run per job
    assert sorted(j.result["model_uri"] for j in jobs if j.result) == sorted(
        f"models:/churn/{v}" for v in range(1, 7))


def test_cancel_from_the_cli_keeps_the_best_model_for_predict(workers, tmp_path: Path) -> None:
    studio, group = workers()
    frame = churn_frame(2000)
    spec = _spec(studio, frame, algorithms=["random_forest", "linear"], max_trials=5000)
    job_id = studio.submit_training(spec).id
    group.start()
    _wait_for(lambda: studio.jobs.get(job_id).progress.get("trials_done", 0) >= 3, what="3 trials")
    env = group.env
    cancelled = _cli("jobs", "cancel", job_id, env=env)
    assert cancelled.returncode == 0 and "cancel requested" in cancelled.stdout
    asked = time.time()
    _wait_for(lambda: studio.jobs.get(job_id).status.is_final, timeout=120, what="the cancel")
    shown = _cli("jobs", "show", job_id, "--json", env=env)
    summary = json.loads(shown.stdout)
    assert summary["status"] == "cancelled" and summary["n_trials"] >= 3 and summary["error"] is None
    assert summary["model_uri"] == "models:/churn/1" and summary["validation_score"] > 0.5
    assert summary["stop_reason"] == "cancelled" and summary["ended_at"] - asked < 60
    contract = {"job_id", "status", "n_trials", "validation_score", "model_uri", "error", "started_at", "ended_at"}
    assert contract <= set(summary)
    rows = tmp_path / "rows.csv"
    frame.drop(columns="churned").head(25).to_csv(rows, index=False)
    predicted = _cli("predict", summary["model_uri"], "--data", str(rows), "--out", str(tmp_path / "out.csv"),
                     env=env)
    assert predicted.returncode == 0, predicted.stderr
    assert len(pd.read_csv(tmp_path / "out.csv")) == 25
