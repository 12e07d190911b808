"""Named compute sizes. Each local profile is a Dask LocalCluster shape (workers x threads, a memory limit
per worker that Dask enforces); a `cluster` profile names a remote Dask scheduler.

Defaults are derived from this machine; `STUDIO_HOME/compute.toml` overrides or adds profiles, and the
environment overrides both (`STUDIO_COMPUTE__LARGE__MEMORY_GB=12`,
`STUDIO_COMPUTE__CLUSTER__SCHEDULER=tcp://10.0.0.5:8786`).
"""

from __future__ import annotations

import os
import tomllib
from typing import Annotated, Any, Self

import psutil
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from studio.errors import SpecError
from studio.settings import Settings

PROFILE_NAME = r"^[a-z][a-z0-9_-]{0,39}$"
ProfileName = Annotated[str, StringConstraints(pattern=PROFILE_NAME)]
CONFIG_FILE = "compute.toml"


class ComputeProfile(BaseModel):
    """One compute size. `parallel_trials` trials run at once, each with `threads` estimator threads."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: ProfileName = "custom"
    workers: int = Field(default=1, ge=1, le=512)
    threads: int = Field(default=1, ge=1, le=256)
    memory_gb: float = Field(default=2.0, gt=0.1, le=4096)
    scheduler: str | None = Field(default=None, description="A remote Dask scheduler address (tcp://host:8786).")
    description: str = ""
    dashboard: bool = Field(default=False, description="A local cluster's Dask dashboard, on loopback (off by "
                                                       "default: it tells whoever reaches it the scheduler's address).")
    tls_ca_file: str | None = Field(default=None, description="A remote cluster's CA certificate (tls:// address).")
    tls_cert: str | None = Field(default=None, description="This client's certificate for a remote TLS cluster.")
    tls_key: str | None = Field(default=None, description="This client's private key for a remote TLS cluster.")

    @model_validator(mode="after")
    def _scheduler_address(self) -> Self:
        if self.scheduler is not None and "://" not in self.scheduler:
            raise ValueError(f"scheduler must be an address like tcp://host:8786, not '{self.scheduler}'")
        if self.tls_ca_file is not None and not (self.scheduler or "").startswith("tls://"):
            raise ValueError("TLS files need a scheduler address like tls://host:8786")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        return self

    @property
    def is_remote(self) -> bool:
        return self.scheduler is not None

    @property
    def cores(self) -> int:
        return self.workers * self.threads

    @property
    def parallel_trials(self) -> int:
        return self.workers

    def summary(self) -> str:
        if self.is_remote:
            return f"remote Dask cluster at {self.scheduler}"
        return (f"{self.workers} worker{'s' * (self.workers > 1)} x {self.threads} thread{'s' * (self.threads > 1)}, "
                f"{self.memory_gb:g} GB each ({self.parallel_trials} parallel trial{'s' * (self.parallel_trials > 1)})")


def default_profiles(cores: int | None = None, memory_gb: float | None = None) -> dict[str, dict[str, Any]]:
    """small = 1 worker x 1 thread; medium = 2 workers; large = every core of this machine, its memory shared."""
    cores = cores or os.cpu_count() or 1
    memory_gb = memory_gb or psutil.virtual_memory().total / 2**30
    large_workers = cores if cores < 4 else cores // 2  # 2 threads per worker on bigger machines
    return {
        "small": {"workers": 1, "threads": 1, "memory_gb": round(min(2.0, memory_gb / 2), 1),
                  "description": "1 core; quick looks and small data"},
        "medium": {"workers": min(2, cores), "threads": 1, "memory_gb": round(min(4.0, memory_gb / 4), 1),
                   "description": f"{min(2, cores)} cores; most datasets"},
        "large": {"workers": large_workers, "threads": cores // large_workers,
                  "memory_gb": round(memory_gb * 0.75 / large_workers, 1),
                  "description": f"all {cores} cores of this machine"},
    }


class _ComputeSettings(BaseSettings):
    # The environment wins over compute.toml, which wins over the defaults (passed in as init values).
    model_config = SettingsConfigDict(env_prefix="STUDIO_", env_nested_delimiter="__", extra="ignore")

    compute: dict[ProfileName, ComputeProfile] = {}

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return env_settings, init_settings


def load_profiles(settings: Settings) -> dict[str, ComputeProfile]:
    """The profiles this studio offers, in order: defaults, then STUDIO_HOME/compute.toml, then environment."""
    merged = default_profiles()
    path = settings.root / CONFIG_FILE
    if path.exists():
        try:
            from_file = tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SpecError(f"{path} is not valid TOML: {exc}. Fix or remove it.") from None
        for name, values in from_file.items():
            if not isinstance(values, dict):
                raise SpecError(f"{path}: '{name}' must be a table like [{name}] with workers/threads/memory_gb.")
            merged[name] = {**merged.get(name, {}), **values}
    try:
        loaded = _ComputeSettings.model_validate({"compute": merged}).compute
    except ValidationError as exc:
        problems = [f"compute profile {'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors()]
        raise SpecError(f"Bad compute settings ({path} or STUDIO_COMPUTE__*): " + "; ".join(problems),
                        problems=problems) from None
    return {name: profile.model_copy(update={"name": name}) for name, profile in loaded.items()}
