"""The Studio: settings plus the stores built from them; what the CLI, the worker, the UI and tests open."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from studio.db import make_engine
from studio.errors import SpecError
from studio.jobs.store import TRAIN, JobRecord, JobStore
from studio.settings import Settings

if TYPE_CHECKING:
    from studio.compute.profiles import ComputeProfile
    from studio.data.catalog import DatasetCatalog
    from studio.data.connections import ConnectionStore
    from studio.data.sources import Sources
    from studio.registry import Registry
    from studio.tracking import Tracker
    from studio.training.estimate import Estimate
    from studio.training.spec import TrainSpec


class Studio:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = (settings or Settings()).prepare()
        self.engine = make_engine(self.settings.db_url, busy_s=self.settings.db_busy_seconds)
        self.jobs = JobStore(self.engine, lease_seconds=self.settings.lease_seconds,
                             max_attempts=self.settings.max_attempts)

    # The stores below are built on first use: `studio jobs list` needs only the job store, and answers in half a
    # second only without their imports (the catalog's schema models, cryptography, psutil, pydantic-settings'
    # sources; bench/engine.py section 1).
    @cached_property
    def catalog(self) -> DatasetCatalog:
        from studio.data.catalog import DatasetCatalog

        return DatasetCatalog(self.engine, self.settings.datasets_path)

    @cached_property
    def connections(self) -> ConnectionStore:
        from studio.data.connections import ConnectionStore

        return ConnectionStore(self.engine, self.settings.secret_key)

    @cached_property
    def sources(self) -> Sources:
        """What reading a dataset's source needs (`studio.data.sources`; pyarrow loads with it)."""
        from studio.data.sources import Sources

        return Sources(self.catalog, self.connections, self.settings)

    @cached_property
    def tracker(self) -> Tracker:
        """MLflow is imported on first use: the CLI and pages that do not need it start fast."""
        from studio.runs import RunIndex
        from studio.tracking import Tracker

        return Tracker(self.settings, index=RunIndex(self.engine))

    @cached_property
    def registry(self) -> Registry:
        """Registered models, promotion gates and the audit log."""
        from studio.registry import Registry

        return Registry(self.tracker, self.engine)

    @property
    def compute_profiles(self) -> dict[str, ComputeProfile]:
        """Read each time: editing compute.toml takes effect without a restart."""
        from studio.compute.profiles import load_profiles

        return load_profiles(self.settings)

    def profile(self, name: str) -> ComputeProfile:
        profiles = self.compute_profiles
        if name not in profiles:
            raise SpecError(f"Compute size '{name}' is not configured here; choose from {sorted(profiles)} "
                            f"(or add it to {self.settings.root / 'compute.toml'}).")
        return profiles[name]

    def worker_alive(self) -> bool:
        return bool(self.jobs.alive_workers(within_s=3 * self.settings.heartbeat_seconds))

    # -- training jobs ----------------------------------------------------------------------------------
    def estimate(self, spec: TrainSpec, profile: ComputeProfile | None = None) -> Estimate:
        """The spec's estimated duration on `profile` (default: its compute size, read from the settings)."""
        from studio.training.estimate import PastJob, estimate
        from studio.training.progress import Progress

        past = []
        for job in reversed(self.jobs.list(kind=TRAIN, limit=50)):
            p = job.progress_as(Progress)
            if p.stop_reason == "trial budget reached" and p.estimate_search_s and p.search_s:
                past.append(PastJob(estimate_search_s=p.estimate_search_s, actual_search_s=p.search_s))
        n_rows = self.catalog.get(spec.dataset_id).n_rows
        return estimate(spec, n_rows=n_rows, profile=profile or self.profile(spec.compute), history=past)

    def submit_training(self, spec: TrainSpec) -> JobRecord:
        """Queue a training job, with its estimated duration recorded for the actual-vs-estimate view."""
        from studio.training.progress import Progress

        guess = self.estimate(spec)
        return self.jobs.submit(TRAIN, spec.run_name, spec, progress=Progress(
            estimate_s=guess.seconds, estimate_search_s=guess.search_s, trials_budget=spec.budget.max_trials,
            parallel_trials=guess.parallel_trials))

    def rerun(self, job_id: str) -> JobRecord:
        """The same job again, as a new job (a training job is re-estimated)."""
        job = self.jobs.get(job_id)
        if job.kind == TRAIN:
            from studio.training.spec import TrainSpec

            return self.submit_training(TrainSpec.parse(job.payload))
        return self.jobs.resubmit(job_id)
