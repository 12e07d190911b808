"""The Studio: settings plus the stores built from them; what the CLI, the worker, the UI and tests open."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from studio.data.catalog import DatasetCatalog
from studio.db import make_engine
from studio.jobs.store import JobStore
from studio.settings import Settings

if TYPE_CHECKING:
    from studio.tracking import Tracker


class Studio:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = (settings or Settings()).prepare()
        self.engine = make_engine(self.settings.db_url)
        self.catalog = DatasetCatalog(self.engine, self.settings.datasets_path)
        self.jobs = JobStore(self.engine, lease_seconds=self.settings.lease_seconds,
                             max_attempts=self.settings.max_attempts)

    @cached_property
    def tracker(self) -> Tracker:
        """MLflow is imported on first use: the CLI and pages that do not need it start fast."""
        from studio.tracking import Tracker

        return Tracker(self.settings)

    def worker_alive(self) -> bool:
        return bool(self.jobs.alive_workers(within_s=3 * self.settings.heartbeat_seconds))
