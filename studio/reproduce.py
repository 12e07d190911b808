"""Reproduce a run: launch its exact spec on its exact dataset snapshot as a new job, then compare the scores.

The same spec and seed give the same trials on one worker with a trial budget; a time budget makes the
number of trials depend on the machine's speed, and parallel trials on the order they finish in, so those
reproductions are reported as close rather than identical.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import sqlalchemy as sa
from pydantic import BaseModel

from studio import db
from studio.errors import DataError
from studio.training.progress import TrainResult

if TYPE_CHECKING:
    from studio.context import Studio
    from studio.jobs.store import JobRecord

TOLERANCE = 1e-9


class Reproduction(BaseModel):
    job_id: str
    source_run_id: str
    status: str
    run_id: str | None
    metric: str
    source: dict[str, float | None]  # validation and test score of the original run
    again: dict[str, float | None]  # the same for the reproduction (None until it ends)
    matches: bool | None  # None while the job has not succeeded
    note: str


def reproduce(studio: Studio, run_id: str) -> JobRecord:
    """Queue the run's spec again; DataError if its dataset snapshot is gone or changed."""
    spec = studio.tracker.spec_of(run_id)
    record = studio.catalog.get(spec.dataset_id)  # DatasetNotFound names the snapshot
    if record.content_hash != spec.dataset_hash:
        raise DataError(f"Dataset '{spec.dataset_id}' no longer has the content run {run_id[:8]} trained on "
                        "(its hash changed); it cannot be reproduced exactly.")
    job = studio.submit_training(spec)
    with studio.engine.begin() as conn:
        conn.execute(sa.insert(db.reproductions).values(job_id=job.id, source_run_id=run_id, created_at=time.time()))
    return job


def reproductions(studio: Studio, run_id: str) -> list[Reproduction]:
    """The reproductions of a run, newest first, each compared with the original when it has ended."""
    query = (sa.select(db.reproductions.c.job_id).where(db.reproductions.c.source_run_id == run_id)
             .order_by(db.reproductions.c.created_at.desc()))
    with studio.engine.connect() as conn:
        job_ids = [row[0] for row in conn.execute(query)]
    source = studio.tracker.index.get(run_id) if studio.tracker.index else None
    spec = studio.tracker.spec_of(run_id)
    out = []
    for job_id in job_ids:
        job = studio.jobs.get(job_id)
        result = job.result_as(TrainResult)
        original = {"validation": source.validation_score if source else None,
                    "test": source.test_score if source else None}
        again = {"validation": result.validation_score if result else None,
                 "test": result.test_score if result else None}
        matches, note = _verdict(original, again, timed=spec.budget.seconds is not None, done=job.status.value)
        out.append(Reproduction(job_id=job_id, source_run_id=run_id, status=job.status.value,
                                run_id=result.run_id if result else None, metric=spec.metric, source=original,
                                again=again, matches=matches, note=note))
    return out


def _verdict(original: dict[str, float | None], again: dict[str, float | None], *, timed: bool,
             done: str) -> tuple[bool | None, str]:
    if done != "succeeded":
        return None, f"the reproduction is {done}"
    pairs = zip(original.values(), again.values(), strict=True)
    gaps = [abs(a - b) for a, b in pairs if a is not None and b is not None]
    if gaps and max(gaps) <= TOLERANCE:
        return True, "identical scores: the run reproduces exactly"
    why = ("the search was bounded by time, so how many trials ran depends on the machine's speed; give it a trial "
           "budget to reproduce exactly") if timed else "parallel trials or another worker changed the trial order"
    return False, f"scores differ by up to {max(gaps, default=float('nan')):.3g}: {why}"
