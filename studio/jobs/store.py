"""The job store: the single source of truth for job state, progress, logs and results.

Claiming is one conditional UPDATE (atomic on SQLite and PostgreSQL alike) that hands the worker a lease
token; every later write names that token, so a worker whose lease expired and moved on cannot write.
"""

from __future__ import annotations

import builtins
import json
import logging
import socket
import time
import uuid
from collections.abc import Callable
from enum import StrEnum
from typing import Any, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel

from studio import db
from studio.errors import JobError, JobNotFound, LeaseLost
from studio.jobs import doorbell

log = logging.getLogger("studio.jobs")
T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

TRAIN = "train"
EXPORT = "export"
SCORE = "score"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class JobRecord(BaseModel):
    id: str
    kind: str
    name: str
    payload: dict[str, Any]
    status: JobStatus
    created_at: float
    started_at: float | None
    ended_at: float | None
    attempts: int
    worker_id: str | None
    cancel_requested: bool
    progress: dict[str, Any]  # read with progress_as(...): the JSON of the job kind's progress model
    result: dict[str, Any] | None  # read with result_as(...)
    error: str | None

    def progress_as(self, model: type[M]) -> M:
        """The job's progress as the typed model its handler writes (e.g. training's `Progress`)."""
        return model.model_validate(self.progress)

    def result_as(self, model: type[M]) -> M | None:
        """The job's result as the typed model its handler returns; None until it succeeded."""
        return None if self.result is None else model.model_validate(self.result)

    @property
    def shown_status(self) -> str:
        """The status as pages and the CLI list show it: "stopping" from the moment a cancel is asked for until the
        worker has wound the job down (a training job keeps its best model), then "cancelled"."""
        if self.cancel_requested and not self.status.is_final:
            return "stopping"
        return self.status.value

    @property
    def elapsed_s(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.ended_at or time.time()) - self.started_at


class Lease(BaseModel):
    job_id: str
    token: str
    worker_id: str
    attempt: int


class WorkerInfo(BaseModel):
    id: str
    host: str
    pid: int
    started_at: float
    seen_at: float


class JobStore:
    """Jobs in the studio database. All time-based decisions use this process's clock."""

    def __init__(self, engine: sa.Engine, *, lease_seconds: float = 30.0, max_attempts: int = 3) -> None:
        self.engine = engine
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
        #: Names this queue for the workers' doorbells (the database, never its password).
        self.identity = engine.url.render_as_string(hide_password=True)

    # -- submitting and reading -------------------------------------------------------------------------
    def submit(self, kind: str, name: str, payload: BaseModel, *, progress: BaseModel | None = None) -> JobRecord:
        return self._insert(kind, name, payload.model_dump_json(),
                            "{}" if progress is None else progress.model_dump_json(exclude_none=True))

    def resubmit(self, job_id: str) -> JobRecord:
        """A new queued job with the same kind, name and payload."""
        job = self.get(job_id)
        return self._insert(job.kind, job.name, json.dumps(job.payload), "{}")

    def _insert(self, kind: str, name: str, payload_json: str, progress_json: str) -> JobRecord:
        job_id = uuid.uuid4().hex[:12]
        with self.engine.begin() as conn:
            conn.execute(db.jobs.insert().values(
                id=job_id, kind=kind, name=name, payload_json=payload_json, status=JobStatus.QUEUED,
                created_at=time.time(), attempts=0, cancel_requested=False, progress_json=progress_json,
            ))
        doorbell.ring(self.identity, self.local_workers())
        return self.get(job_id)

    def delete(self, job_id: str) -> None:
        """Remove a job that is not running, with its log. What it produced (runs, models) stays."""
        self.get(job_id)
        with self.engine.begin() as conn:
            deleted = conn.execute(db.jobs.delete().where(db.jobs.c.id == job_id,
                                                          db.jobs.c.status != JobStatus.RUNNING)).rowcount
            if deleted:
                conn.execute(db.job_logs.delete().where(db.job_logs.c.job_id == job_id))
        if not deleted:
            raise JobError(f"Job {job_id} is running; cancel it first (`studio jobs cancel {job_id}`), "
                           "then delete it.")

    def get(self, job_id: str) -> JobRecord:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(db.jobs).where(db.jobs.c.id == job_id)).mappings().first()
        if row is None:
            raise JobNotFound(f"No job '{job_id}'. Run `studio jobs list` to see jobs.")
        return _record(row)

    def list(self, *, limit: int = 200, kind: str | None = None) -> list[JobRecord]:
        query = sa.select(db.jobs).order_by(db.jobs.c.created_at.desc()).limit(limit)
        if kind:
            query = query.where(db.jobs.c.kind == kind)
        with self.engine.connect() as conn:
            return [_record(r) for r in conn.execute(query).mappings()]

    def logs(self, job_id: str, *, tail: int = 200) -> builtins.list[str]:
        query = (sa.select(db.job_logs.c.at, db.job_logs.c.line).where(db.job_logs.c.job_id == job_id)
                 .order_by(db.job_logs.c.seq.desc()).limit(tail))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [f"{time.strftime('%H:%M:%S', time.localtime(at))}  {line}" for at, line in reversed(rows)]

    def request_cancel(self, job_id: str) -> JobRecord:
        """A queued job is cancelled at once; a running one is asked to stop (its worker keeps finished work)."""
        job = self.get(job_id)
        with self.engine.begin() as conn:
            conn.execute(db.jobs.update().where(db.jobs.c.id == job_id, db.jobs.c.status == JobStatus.QUEUED)
                         .values(status=JobStatus.CANCELLED, ended_at=time.time()))
            if job.status == JobStatus.RUNNING:
                conn.execute(db.jobs.update().where(db.jobs.c.id == job_id).values(cancel_requested=True))
        return self.get(job_id)

    # -- the worker's side ------------------------------------------------------------------------------
    def claim(self, worker_id: str) -> Lease | None:
        """Take the oldest queued job, or one whose lease expired; None if there is nothing to do."""
        now = time.time()
        claimable = sa.or_(db.jobs.c.status == JobStatus.QUEUED,
                           sa.and_(db.jobs.c.status == JobStatus.RUNNING, db.jobs.c.lease_expires_at < now))
        with self.engine.connect() as conn:
            candidates = conn.execute(sa.select(db.jobs.c.id, db.jobs.c.lease_token, db.jobs.c.attempts)
                                      .where(claimable).order_by(db.jobs.c.created_at).limit(10)).all()
        for job_id, old_token, attempts in candidates:
            if attempts >= self.max_attempts:
                self._give_up(job_id, old_token, attempts)
                continue
            token = uuid.uuid4().hex
            with self.engine.begin() as conn:
                won = conn.execute(
                    db.jobs.update()
                    .where(db.jobs.c.id == job_id, claimable,
                           db.jobs.c.lease_token.is_(None) if old_token is None else db.jobs.c.lease_token == old_token)
                    .values(status=JobStatus.RUNNING, worker_id=worker_id, lease_token=token,
                            lease_expires_at=now + self.lease_seconds, attempts=attempts + 1,
                            started_at=sa.func.coalesce(db.jobs.c.started_at, now))
                ).rowcount
            if won == 1:
                return Lease(job_id=job_id, token=token, worker_id=worker_id, attempt=attempts + 1)
        return None

    def heartbeat(self, lease: Lease) -> bool:
        """Extend the lease; returns whether a cancel was requested. Raises LeaseLost if it moved on."""
        self._update(lease, lease_expires_at=time.time() + self.lease_seconds)
        return self.cancel_requested(lease.job_id)

    def cancel_requested(self, job_id: str) -> bool:
        with self.engine.connect() as conn:
            return bool(conn.execute(sa.select(db.jobs.c.cancel_requested).where(db.jobs.c.id == job_id)).scalar())

    def set_progress(self, lease: Lease, progress: BaseModel) -> None:
        self._update(lease, progress_json=progress.model_dump_json())

    def log(self, lease: Lease, line: str) -> None:
        """Append a log line, only while `lease` holds the job (a stale worker's lines are dropped)."""
        holds = sa.exists().where(db.jobs.c.id == lease.job_id, db.jobs.c.lease_token == lease.token)
        row = sa.select(sa.literal(lease.job_id), sa.literal(time.time()), sa.literal(line)).where(holds)

        def write() -> list[Any]:
            with self.engine.begin() as conn:
                # RETURNING, not rowcount: psycopg reports -1 as the rowcount of an INSERT ... SELECT.
                return list(conn.execute(db.job_logs.insert().from_select(["job_id", "at", "line"], row)
                                         .returning(db.job_logs.c.seq)).all())

        written = self._patiently(write, what=f"job {lease.job_id}'s log")
        if not written:
            raise LeaseLost(f"Job {lease.job_id}: this worker's lease is no longer valid; the log line was dropped.")

    def finish(self, lease: Lease, status: JobStatus, *, result: BaseModel | None = None,
               error: str | None = None) -> None:
        """Record how the job ended; waits out a busy database longer than other writes (this one matters most;
        if it never lands, the job is reclaimed when its lease expires and resumes with its trials)."""
        self._update(lease, patience_s=4 * self.lease_seconds, status=status, ended_at=time.time(),
                     lease_expires_at=None, result_json=None if result is None else result.model_dump_json(),
                     error=error)

    def _update(self, lease: Lease, *, patience_s: float | None = None, **values: Any) -> None:
        def write() -> int:
            with self.engine.begin() as conn:
                return int(conn.execute(db.jobs.update().where(
                    db.jobs.c.id == lease.job_id, db.jobs.c.lease_token == lease.token,
                    db.jobs.c.status == JobStatus.RUNNING).values(**values)).rowcount)

        changed = self._patiently(write, what=f"job {lease.job_id}", patience_s=patience_s)
        if changed != 1:
            raise LeaseLost(f"Job {lease.job_id}: this worker's lease is no longer valid; the write was rejected.")

    def _patiently(self, write: Callable[[], T], *, what: str, patience_s: float | None = None) -> T:
        """Run `write`, retrying with backoff while the database is busy (locked) or briefly unreachable, for up
        to `patience_s` (default: two leases; a write that late is fenced by the lease anyway). Written here
        rather than with a retry library: ten lines, and the only place the studio retries database writes."""
        deadline = time.monotonic() + (patience_s or 2 * self.lease_seconds)
        delay = 0.2
        while True:
            try:
                return write()
            except sa.exc.OperationalError as exc:  # SQLite "database is locked", a dropped server connection
                if time.monotonic() + delay > deadline:
                    raise
                log.warning("Writing %s: the studio database is busy or unreachable (%s); retrying in %.1f s.",
                            what, str(exc).splitlines()[0][:120], delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _give_up(self, job_id: str, old_token: str | None, attempts: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(db.jobs.update().where(db.jobs.c.id == job_id, db.jobs.c.lease_token == old_token)
                         .values(status=JobStatus.FAILED, ended_at=time.time(), lease_expires_at=None,
                                 error=f"Gave up after {attempts} attempts: the worker running it stopped "
                                       "responding each time (killed or out of memory)."))

    # -- workers ----------------------------------------------------------------------------------------
    def touch_worker(self, worker_id: str, *, pid: int) -> None:
        now = time.time()
        with self.engine.begin() as conn:
            updated = conn.execute(db.workers.update().where(db.workers.c.id == worker_id)
                                   .values(seen_at=now)).rowcount
            if not updated:
                conn.execute(db.workers.insert().values(id=worker_id, host=socket.gethostname(), pid=pid,
                                                        started_at=now, seen_at=now))

    def remove_worker(self, worker_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(db.workers.delete().where(db.workers.c.id == worker_id))

    def local_workers(self) -> builtins.list[str]:
        """The ids of the workers on this machine seen in the last five minutes."""
        here = socket.gethostname()
        return [w.id for w in self.alive_workers(within_s=300) if w.host == here]

    def alive_workers(self, *, within_s: float) -> builtins.list[WorkerInfo]:
        query = sa.select(db.workers).where(db.workers.c.seen_at >= time.time() - within_s)
        with self.engine.connect() as conn:
            return [WorkerInfo(**dict(r)) for r in conn.execute(query).mappings()]


def _record(row: sa.RowMapping) -> JobRecord:
    values = dict(row)
    return JobRecord(
        id=values["id"], kind=values["kind"], name=values["name"], payload=json.loads(values["payload_json"]),
        status=JobStatus(values["status"]), created_at=values["created_at"], started_at=values["started_at"],
        ended_at=values["ended_at"], attempts=values["attempts"], worker_id=values["worker_id"],
        cancel_requested=bool(values["cancel_requested"]), progress=json.loads(values["progress_json"] or "{}"),
        result=None if values["result_json"] is None else json.loads(values["result_json"]), error=values["error"],
    )
