"""The worker runs real jobs: training to success, failures recorded, cancel keeping the best model."""

from __future__ import annotations

import threading

import pandas as pd

from studio.context import Studio
from studio.jobs import JobStatus
from studio.training.draft import draft_spec
from studio.training.spec import Budget
from studio.worker.handlers import TRAIN
from studio.worker.loop import Worker


def _submit(studio: Studio, churn: pd.DataFrame, *, max_trials: int, budget_seconds: int | None,
            **kwargs: object) -> str:
    record = studio.catalog.save(churn, "churn", source="test")
    spec = draft_spec(record, churn, target="churned", validation={"kind": "holdout"},
                      budget=Budget(seconds=budget_seconds, max_trials=max_trials), **kwargs)  # type: ignore[arg-type]
    return studio.submit_training(spec).id


def _run_until_done(studio: Studio, job_id: str) -> None:
    Worker(studio, worker_id="test-worker").run(until=lambda: studio.jobs.get(job_id).status.is_final)


def test_worker_runs_a_training_job_to_success(studio: Studio, churn: pd.DataFrame) -> None:
    job_id = _submit(studio, churn, algorithms=["linear", "random_forest"], max_trials=3, budget_seconds=None)
    _run_until_done(studio, job_id)
    job = studio.jobs.get(job_id)
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert job.result and job.result["model_uri"] == "models:/churn/1" and job.result["n_trials"] == 3
    assert job.progress["trials_done"] == 3 and job.started_at and job.ended_at
    lines = studio.jobs.logs(job_id)
    assert any("Trial 0 linear" in line for line in lines) and any("Done: roc_auc" in line for line in lines)
    assert not studio.worker_alive()  # the worker deregisters when it stops


def test_a_failing_job_is_recorded_and_the_worker_goes_on(studio: Studio, churn: pd.DataFrame) -> None:
    bad = studio.jobs.submit(TRAIN, "broken", _broken_spec(studio, churn)).id
    good = _submit(studio, churn, algorithms=["linear"], max_trials=1, budget_seconds=None)
    _run_until_done(studio, good)
    failed = studio.jobs.get(bad)
    assert failed.status is JobStatus.FAILED and "hash mismatch" in (failed.error or "")
    assert studio.jobs.get(good).status is JobStatus.SUCCEEDED


def _broken_spec(studio: Studio, churn: pd.DataFrame):
    record = studio.catalog.save(churn, "other", source="test")
    spec = draft_spec(record, churn, target="churned", budget=Budget(max_trials=1, seconds=None))
    return spec.model_copy(update={"dataset_hash": "f" * 64})


def test_cancel_stops_the_search_and_keeps_the_best_model(studio: Studio, churn: pd.DataFrame) -> None:
    job_id = _submit(studio, churn, algorithms=["linear"], max_trials=10_000, budget_seconds=600)
    worker = Worker(studio, worker_id="test-worker")

    shown: list[str] = []

    def cancel_after_three_trials() -> None:
        while studio.jobs.get(job_id).progress.get("trials_done", 0) < 3:
            threading.Event().wait(0.1)
        studio.jobs.request_cancel(job_id)
        shown.append(studio.jobs.get(job_id).shown_status)  # what the Jobs page and `jobs list` show at once

    canceller = threading.Thread(target=cancel_after_three_trials)
    canceller.start()
    worker.run(until=lambda: studio.jobs.get(job_id).status.is_final)
    canceller.join()
    job = studio.jobs.get(job_id)
    assert job.status is JobStatus.CANCELLED
    assert job.result and job.result["n_trials"] >= 3 and job.result["model_uri"] == "models:/churn/1"
    assert studio.tracker.load_model(job.result["model_uri"]).predict_frame(churn.head(3)).shape[0] == 3
    assert shown == ["stopping"] and job.shown_status == "cancelled"
    logs = "\n".join(studio.jobs.logs(job_id))  # one fit of the best configuration, no evaluation: seconds
    assert "Cancelled: keeping the best single configuration, fitted once" in logs
    assert "Recorded the held-out evaluation" not in logs and "and on all" not in logs


def test_a_database_locked_longer_than_its_busy_timeout_delays_a_job_and_loses_nothing(
        tmp_path, churn: pd.DataFrame) -> None:
    """Holding the studio database locked past SQLite's busy timeout once failed a running job for good (its
    trials lost). Writes now wait it out with backoff inside the lease; the job goes on and succeeds."""
    import sqlite3
    import time

    from tests.conftest import make_settings

    studio = Studio(make_settings(tmp_path / "home", db_busy_seconds=0.3, lease_seconds=5.0))
    job_id = _submit(studio, churn, algorithms=["linear"], max_trials=12, budget_seconds=None)
    worker = threading.Thread(target=_run_until_done, args=(studio, job_id), daemon=True)
    worker.start()
    deadline = time.monotonic() + 120
    while studio.jobs.get(job_id).progress.get("trials_done", 0) < 2 and time.monotonic() < deadline:
        worker.join(0.05)  # wait on the job's own progress
    lock = sqlite3.connect(tmp_path / "home" / "studio.db", isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")  # every writer now waits (readers still read, in WAL mode)
    locked_at = time.monotonic()
    while time.monotonic() - locked_at < 3:  # ten times the busy timeout
        worker.join(0.1)
    lock.execute("COMMIT")
    lock.close()
    worker.join(180)
    job = studio.jobs.get(job_id)
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert job.result and job.result["n_trials"] == 12 and job.attempts == 1


def test_a_warm_worker_has_its_default_compute_ready_before_any_job(studio: Studio) -> None:
    from studio.compute import cluster

    def imported() -> bool:
        import sys

        return "studio.training.search" in sys.modules

    profile = studio.profile(studio.settings.default_compute)
    Worker(studio, warm=True)._warm_up()  # what the loop starts in the background when `studio worker` starts
    client = cluster._clients[cluster._key(profile)]
    assert client.status == "running" and cluster.client_for(profile) is client  # the first job reuses it
    assert len(client.run(imported)) == profile.workers and all(client.run(imported).values())


def test_the_budget_counts_from_the_queue_for_a_job_taken_at_once_and_from_the_claim_after_a_wait() -> None:
    import time

    from studio.jobs import JobRecord, JobStatus
    from studio.training.progress import Progress
    from studio.worker.handlers import QUEUE_GRACE_S, _spent_s

    now = time.time()

    def job(queued_ago: float, claimed_ago: float, attempts: int = 1) -> JobRecord:
        return JobRecord(id="j", kind="train", name="n", payload={}, status=JobStatus.RUNNING,
                         created_at=now - queued_ago, started_at=now - claimed_ago, ended_at=None, attempts=attempts,
                         worker_id="w", cancel_requested=False, progress={}, result=None, error=None)

    assert _spent_s(job(4.0, 1.0), Progress()) >= 4.0  # picked up within the grace: the pick-up is the job's
    assert 1.0 <= _spent_s(job(QUEUE_GRACE_S + 60, 1.0), Progress()) < 2.0  # waited behind others: from the claim
    assert _spent_s(job(500, 400, attempts=2), Progress(elapsed_s=33.0)) == 33.0  # resumed: the earlier attempts
