"""Background jobs: the durable job store, the worker loop, and the local worker the app starts."""

from studio.jobs.store import EXPORT, SCORE, TRAIN, JobRecord, JobStatus, JobStore, Lease, WorkerInfo

__all__ = ["EXPORT", "SCORE", "TRAIN", "JobRecord", "JobStatus", "JobStore", "Lease", "WorkerInfo"]
