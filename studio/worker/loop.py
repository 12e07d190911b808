"""The worker loop: claim a job, keep its lease alive, run it, record how it ended. Never imports Streamlit."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError

from studio.errors import LeaseLost, StudioError
from studio.jobs.doorbell import Doorbell
from studio.jobs.store import JobStatus, Lease
from studio.worker.handlers import HANDLERS
from studio.worker.yielding import start_guard, stop_guard

if TYPE_CHECKING:  # a type only: the jobs package does not import the composition root
    from studio.context import Studio

log = logging.getLogger("studio.worker")


class JobReporter:
    """The Reporter a running job writes through: logs, progress, whether to stop, and the lease fence."""

    CANCEL_POLL_S = 1.0

    def __init__(self, studio: Studio, lease: Lease) -> None:
        self.studio = studio
        self.lease = lease
        self.cancelled = threading.Event()
        self.lost = threading.Event()
        self._polled = 0.0

    def log(self, line: str) -> None:
        log.info("[%s] %s", self.lease.job_id, line)
        try:
            self.studio.jobs.log(self.lease, line)
        except LeaseLost:
            self.lost.set()
        except SQLAlchemyError as exc:  # the database stayed busy past the store's retries: a log line, not a job
            log.warning("Job %s: a log line was not stored (%s).", self.lease.job_id, exc)

    def progress(self, progress: BaseModel) -> None:
        try:
            self.studio.jobs.set_progress(self.lease, progress)
        except LeaseLost:
            self.lost.set()
        except SQLAlchemyError as exc:  # the next update carries the same totals
            log.warning("Job %s: a progress update was not stored (%s).", self.lease.job_id, exc)

    def should_stop(self) -> bool:
        """Checks the job store for a cancel at most once a second, so a cancel lands within about a second."""
        now = time.monotonic()
        if now - self._polled >= self.CANCEL_POLL_S and not self.cancelled.is_set():
            self._polled = now
            try:
                if self.studio.jobs.cancel_requested(self.lease.job_id):
                    self.mark_cancelled()
            except SQLAlchemyError as exc:  # a busy database: look again next time
                log.warning("Job %s: cancel check failed (%s).", self.lease.job_id, exc)
        return self.cancelled.is_set() or self.lost.is_set()

    def mark_cancelled(self) -> None:
        if not self.cancelled.is_set():
            self.log("Cancel requested: stopping; finished trials and the best model so far are kept.")
            self.cancelled.set()

    def fence(self) -> None:
        """Renew the lease now; raises LeaseLost if another worker has taken the job over."""
        if self.lost.is_set():
            raise LeaseLost(f"Job {self.lease.job_id}: this worker lost its lease; stopping without writing results.")
        try:
            self.studio.jobs.heartbeat(self.lease)
        except LeaseLost:
            self.lost.set()
            raise


class Worker:
    def __init__(self, studio: Studio, *, worker_id: str | None = None, warm: bool = False,
                 warm_compute: str | None = None, pages_first: bool = False) -> None:
        """`warm`: prepare for the first job as soon as the loop starts (the `studio worker` process does), on
        `warm_compute` (default: the studio's default compute size). `pages_first`: pause every process below
        this one while the app runs a page (studio/worker/yielding.py; only for a process that is a worker and
        nothing else, as `studio worker` is: everything below it is compute)."""
        self.studio = studio
        self.pages_first = pages_first
        self.warm_compute = warm_compute
        self.worker_id = worker_id or f"{os.uname().nodename}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.stop_event = threading.Event()
        self.warm = warm
        self.doorbell: Doorbell | None = None

    def run(self, *, until: Callable[[], bool] | None = None) -> None:
        """Take jobs until stopped, or until `until()` is true between jobs. Between jobs the worker sleeps on its
        doorbell (a submit on this machine wakes it at once), looking at the queue at least every
        `worker_poll_seconds` (for jobs submitted elsewhere)."""
        settings = self.studio.settings
        self.doorbell = Doorbell(self.studio.jobs.identity, self.worker_id)  # bound before the worker is listed
        guard = start_guard(self.studio.jobs.identity, self.worker_id) if self.pages_first else None
        try:
            with contextlib.suppress(SQLAlchemyError):  # seen at once, before the slow imports (retried below)
                self.studio.jobs.touch_worker(self.worker_id, pid=os.getpid())
            import optuna

            optuna.logging.set_verbosity(optuna.logging.WARNING)
            log.info("Worker %s started (home %s).", self.worker_id, settings.root)
            if self.warm:
                threading.Thread(target=self._warm_up, name="warm-up", daemon=True).start()
            while not self.stop_event.is_set() and not (until and until()):
                try:
                    self.studio.jobs.touch_worker(self.worker_id, pid=os.getpid())
                    lease = self.studio.jobs.claim(self.worker_id)
                except SQLAlchemyError as exc:  # a busy or briefly unreachable database: the worker waits it out
                    log.warning("The studio database is busy or unreachable (%s); trying again.", exc)
                    self.stop_event.wait(settings.worker_poll_seconds)
                    continue
                if lease is None:  # listed as alive by a touch at least every heartbeat
                    self.doorbell.wait(min(settings.worker_poll_seconds, settings.heartbeat_seconds))
                    continue
                self.run_job(lease)
        finally:
            self.doorbell.close()
            stop_guard(guard)
            self.studio.jobs.remove_worker(self.worker_id)

    def stop(self) -> None:
        """Stop after the running job (at once when idle)."""
        self.stop_event.set()
        if self.doorbell is not None:
            self.doorbell.ring_self()

    def _warm_up(self) -> None:
        """Import the ML libraries, open the MLflow store and start the default compute size's cluster (kept for
        every job of its shape) while no job waits for them, so the first job's first trial pays for none of it."""
        started = time.monotonic()
        try:
            from studio.compute.cluster import warm_up
            from studio.training import search  # noqa: F401 - the import is the point

            profile = self.studio.profile(self.warm_compute or self.studio.settings.default_compute)
            if not profile.is_remote:  # a remote cluster is someone else's to start
                warm_up(profile)  # first: a job claimed meanwhile opens MLflow's store itself, at the same time
            self.studio.tracker  # noqa: B018 - imports MLflow and opens (on a fresh studio: creates) its store
            import studio.studies  # noqa: F401 - Optuna's storages
            log.info("Worker %s warm in %.1f s (compute '%s').", self.worker_id, time.monotonic() - started,
                     profile.name)
        except Exception as exc:  # the first job starts what it needs itself
            log.warning("Worker %s: warming up failed (%s); the first job will start its compute.", self.worker_id,
                        exc)

    def run_job(self, lease: Lease) -> None:
        job = self.studio.jobs.get(lease.job_id)
        reporter = JobReporter(self.studio, lease)
        done = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(lease, reporter, done), daemon=True)
        beat.start()
        reporter.log(f"Attempt {lease.attempt} on worker {self.worker_id}.")
        try:
            result = HANDLERS[job.kind](self.studio, job, reporter)
            status = JobStatus.CANCELLED if reporter.cancelled.is_set() else JobStatus.SUCCEEDED
            self._finish(lease, status, result=result)
        except StudioError as exc:
            reporter.log(f"Failed: {exc}")
            self._finish(lease, JobStatus.CANCELLED if reporter.cancelled.is_set() else JobStatus.FAILED,
                         error=str(exc))
        except Exception as exc:  # the job failed, the worker must not: record the traceback on the job
            reporter.log(f"Failed: {type(exc).__name__}: {exc}")
            self._finish(lease, JobStatus.FAILED, error=f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
        finally:
            done.set()
            beat.join(timeout=5)

    def _finish(self, lease: Lease, status: JobStatus, **kwargs: object) -> None:
        try:
            self.studio.jobs.finish(lease, status, **kwargs)  # type: ignore[arg-type]
        except LeaseLost as exc:
            log.warning("%s", exc)
        except SQLAlchemyError as exc:  # still unreachable after the store's retries: reclaimed when the lease ends
            log.warning("Job %s: its end could not be recorded (%s); it will be reclaimed and resumed.",
                        lease.job_id, exc)

    def _heartbeat(self, lease: Lease, reporter: JobReporter, done: threading.Event) -> None:
        interval = self.studio.settings.heartbeat_seconds
        while not done.wait(interval) and not reporter.lost.is_set():
            try:
                if self.studio.jobs.heartbeat(lease):  # the beat reads the cancel flag anyway: use it
                    reporter.mark_cancelled()
                self.studio.jobs.touch_worker(self.worker_id, pid=os.getpid())
            except LeaseLost:
                log.warning("Job %s: lease lost; stopping.", lease.job_id)
                reporter.lost.set()
            except SQLAlchemyError as exc:  # a busy or briefly unreachable database: try again next beat
                log.warning("Job %s: heartbeat failed (%s); retrying.", lease.job_id, exc)
