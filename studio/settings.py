"""Settings: every location under STUDIO_HOME by default, each overridable by a STUDIO_* variable."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from studio import vault

#: The compute size a job gets when nobody chose one: every core of this machine (`compute.profiles`). Dask's
#: workers run at a lower CPU priority than the app (`studio worker` lowers its own, its workers inherit it).
DEFAULT_COMPUTE = "large"


def default_compute() -> str:
    """The compute size for a job that names none: STUDIO_DEFAULT_COMPUTE (`Settings.default_compute`), else
    DEFAULT_COMPUTE. Read from the environment directly so drafting a spec needs no Settings object."""
    return os.environ.get("STUDIO_DEFAULT_COMPUTE") or DEFAULT_COMPUTE


class Settings(BaseSettings):
    """Where the studio keeps its state and how its jobs behave.

    Every store is chosen by URL or path so that moving from the embedded defaults (SQLite, local
    folders) to servers is configuration, not code.
    """

    model_config = SettingsConfigDict(env_prefix="STUDIO_", frozen=True, extra="ignore")

    home: Path = Field(default=Path(".studio"), description="Root of all studio state.")
    database_url: str | None = Field(default=None, description="Jobs, catalog, services (SQLAlchemy URL).")
    mlflow_tracking_uri: str | None = None
    mlflow_artifacts: str | None = None
    optuna_storage: str | None = Field(
        default=None, description="An Optuna RDB URL; default: one journal file per study under home."
    )
    datasets_dir: Path | None = None
    bentoml_home: Path | None = None
    exports_dir: Path | None = None
    default_compute: str = Field(
        default=DEFAULT_COMPUTE, pattern=r"^[a-z][a-z0-9_-]{0,39}$",
        description="The compute size a new job gets unless it names one (the Train page's and the CLI's default), "
                    "and the one a worker starts before its first job.")
    worker_nice: int = Field(
        default=10, ge=0, le=19, description="The CPU priority (Unix nice) `studio worker` lowers itself to; its Dask "
                                             "workers inherit it, so pages stay responsive while a job trains.")
    pages_first: bool = Field(
        default=True, description="While the app runs a page, `studio worker` pauses its compute processes on this "
                                  "machine (at most 1 s at a time, never more than half the time), so pages stay "
                                  "fast beside training: studio/worker/yielding.py.")
    embedded_worker: bool = Field(default=True, description="The app starts a local worker if none is alive.")
    max_upload_mb: int = Field(default=200, ge=1)
    max_upload_rows: int = Field(default=10_000_000, ge=1, description="Most rows one uploaded file may hold.")
    max_upload_cells: int = Field(default=50_000_000, ge=1, description="Most cells (rows x columns) of one file.")
    max_decoded_mb: float = Field(default=1024, gt=0, description="Most memory one file may unpack to while read.")
    lease_seconds: float = Field(default=30.0, gt=0)
    db_busy_seconds: float = Field(default=30.0, gt=0, description="How long one SQLite statement waits on a lock.")
    heartbeat_seconds: float = Field(default=5.0, gt=0)
    max_attempts: int = Field(default=3, ge=1)
    worker_poll_seconds: float = Field(
        default=5.0, gt=0, description="How often an idle worker looks at the queue; a job submitted on its machine "
                                       "wakes it at once (studio/jobs/doorbell.py).")
    secret_key: SecretStr | None = Field(
        default=None, description="A Fernet key (`studio data secret-key`) that encrypts saved database passwords.")
    sql_timeout_seconds: float = Field(default=120.0, gt=0, description="Statement timeout for database reads.")
    sql_max_rows: int = Field(default=5_000_000, ge=1, description="Most rows one database read may return.")
    sqlite_dir: Path | None = Field(default=None, description="The only folder SQLite database files are read from.")
    data_roots: str = Field(default="", description="The folders Parquet/Delta paths are read from, separated by "
                                                    "':' (default: STUDIO_HOME/data).")
    secrets_file: Path | None = Field(default=None, description="Streamlit secrets with the [auth] login settings "
                                                                 "(default: STUDIO_HOME/secrets.toml).")
    role_claim: str = Field(default="roles", description="The identity-token claim that names a person's role.")
    admins: str = Field(default="", description="Comma-separated emails (or subjects) that are admins at sign-in.")
    default_role: Literal["viewer", "analyst", "admin"] = Field(
        default="viewer", description="The role of a signed-in person who is neither in a claim nor listed.")
    session_hours: float = Field(default=12.0, gt=0, description="A sign-in lasts this long, then asks again.")

    @model_validator(mode="before")
    @classmethod
    def _sealed(cls, data: Any) -> Any:
        """Secrets this process moved out of its environment (studio.vault) still configure it."""
        if isinstance(data, dict):
            for name in cls.model_fields:
                value = vault.sealed(f"STUDIO_{name.upper()}")
                if value is not None and name not in data:
                    data = {**data, name: value}
        return data

    @property
    def root(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.root / 'studio.db'}"

    @property
    def tracking_uri(self) -> str:
        return self.mlflow_tracking_uri or f"sqlite:///{self.root / 'mlflow.db'}"

    @property
    def artifact_location(self) -> str:
        return self.mlflow_artifacts or (self.root / "mlartifacts").as_uri()

    @property
    def datasets_path(self) -> Path:
        return (self.datasets_dir or self.root / "datasets").resolve()

    @property
    def sqlite_path(self) -> Path:
        return (self.sqlite_dir or self.root / "databases").resolve()

    @property
    def bentoml_path(self) -> Path:
        return (self.bentoml_home or self.root / "bentoml").resolve()

    @property
    def exports_path(self) -> Path:
        return (self.exports_dir or self.root / "exports").resolve()

    @property
    def optuna_dir(self) -> Path:
        return self.root / "optuna"

    @property
    def data_paths(self) -> tuple[Path, ...]:
        given = [p for p in self.data_roots.split(os.pathsep) if p.strip()]
        return tuple(Path(p).expanduser().resolve() for p in given) or (self.root / "data",)

    @property
    def secrets_path(self) -> Path:
        return (self.secrets_file or self.root / "secrets.toml").expanduser().resolve()

    @property
    def logs_path(self) -> Path:
        return self.root / "logs"

    def prepare(self) -> Settings:
        """Create the home folders and point the libraries that read environment variables at them.

        Everything the studio writes is its owner's alone: files 0600 and folders 0700 (the process's umask),
        since the home holds the studio database, MLflow's, snapshots of people's data, models and bundles.
        """
        os.umask(0o077)
        self.root.mkdir(parents=True, exist_ok=True)
        for existing in (self.root, *(self.root / n for n in ("studio.db", "mlflow.db", "secrets.toml",
                                                               "stores.toml", "compute.toml"))):
            if existing.exists() and existing.stat().st_uid == os.getuid():  # a home made before this rule
                existing.chmod(0o700 if existing.is_dir() else 0o600)
        for path in (self.root, self.datasets_path, self.bentoml_path, self.exports_path, self.optuna_dir,
                     self.logs_path, self.sqlite_path, *(() if self.data_roots.strip() else self.data_paths)):
            path.mkdir(parents=True, exist_ok=True)
        os.environ["BENTOML_HOME"] = str(self.bentoml_path)
        os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
        return self
