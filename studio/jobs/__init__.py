"""Background jobs: the durable job store, the worker loop, and the local worker the app starts."""

from studio.jobs.store import JobRecord, JobStatus, JobStore, Lease, WorkerInfo

__all__ = ["JobRecord", "JobStatus", "JobStore", "Lease", "WorkerInfo"]
