"""Named compute sizes: how many workers, threads and how much memory a training job may use."""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict


class ComputeProfile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str
    n_workers: int
    threads_per_worker: int
    memory_limit_gb: float

    @property
    def cores(self) -> int:
        return self.n_workers * self.threads_per_worker


def default_profiles() -> dict[str, ComputeProfile]:
    """small = 1 core, medium = 2 cores, large = every core of this machine."""
    cores = os.cpu_count() or 1
    profiles = [
        ComputeProfile(name="small", description="1 core, 2 GB", n_workers=1, threads_per_worker=1,
                       memory_limit_gb=2),
        ComputeProfile(name="medium", description=f"{min(2, cores)} cores, 4 GB", n_workers=1,
                       threads_per_worker=min(2, cores), memory_limit_gb=4),
        ComputeProfile(name="large", description=f"all {cores} cores, 8 GB", n_workers=1, threads_per_worker=cores,
                       memory_limit_gb=8),
    ]
    return {p.name: p for p in profiles}


PROFILES = default_profiles()
