"""Reproduce a run: the same spec on the same snapshot as a new job, compared with the original."""

from __future__ import annotations

import pandas as pd
import pytest

from studio.context import Studio
from studio.errors import DataError
from studio.jobs import JobStatus
from studio.reproduce import reproduce, reproductions
from studio.training.draft import draft_spec
from studio.training.spec import Budget
from studio.worker.loop import Worker

pytestmark = pytest.mark.slow


def _run_queue(studio: Studio) -> None:
    Worker(studio, worker_id="w").run(until=lambda: all(j.status.is_final for j in studio.jobs.list()))


def test_a_trial_budgeted_run_reproduces_exactly(studio: Studio, churn: pd.DataFrame) -> None:
    record = studio.catalog.save(churn, "churn", source="test")
    spec = draft_spec(record, churn, target="churned", algorithms=["linear", "lightgbm"],
                      budget=Budget(max_trials=4, seconds=None))
    original = studio.submit_training(spec)
    _run_queue(studio)
    run_id = studio.jobs.get(original.id).result["run_id"]
    job = reproduce(studio, run_id)
    assert [r.status for r in reproductions(studio, run_id)] == ["queued"]
    _run_queue(studio)
    (found,) = reproductions(studio, run_id)
    assert found.job_id == job.id and found.status == JobStatus.SUCCEEDED.value and found.run_id != run_id
    assert found.matches is True and found.again == found.source, found.note
    assert found.note == "identical scores: the run reproduces exactly"


def test_a_changed_or_missing_snapshot_cannot_be_reproduced(studio: Studio, churn: pd.DataFrame) -> None:
    from studio.reproduce import _verdict

    record = studio.catalog.save(churn, "churn", source="test")
    spec = draft_spec(record, churn, target="churned", algorithms=["linear"], budget=Budget(max_trials=1, seconds=None))
    job = studio.submit_training(spec)
    _run_queue(studio)
    run_id = studio.jobs.get(job.id).result["run_id"]
    studio.catalog.delete(record.id)
    with pytest.raises(DataError, match="churn-v1"):
        reproduce(studio, run_id)
    matches, note = _verdict({"validation": 0.9, "test": 0.8}, {"validation": 0.91, "test": 0.8}, timed=True,
                             done="succeeded")
    assert matches is False and "bounded by time" in note and "0.01" in note
