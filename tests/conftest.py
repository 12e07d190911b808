"""Shared fixtures: every store under tmp_path, tiny seeded data, no worker started behind a test's back."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from studio.compute.inline import InlinePool
from studio.compute.profiles import ComputeProfile
from studio.context import Studio
from studio.settings import Settings
from studio.training.progress import Progress

REPO = Path(__file__).resolve().parent.parent


def make_settings(home: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {"home": home, "embedded_worker": False, "heartbeat_seconds": 0.5,
                                 "worker_poll_seconds": 0.1, "lease_seconds": 30.0}
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def pytest_configure(config: pytest.Config) -> None:
    """Code that runs outside a test's own environment (module and session fixtures, a thread that outlives its
    test) sees a home of this test process, never the caller's, and never starts a worker: one such start once
    left a `studio worker` running after CI."""
    import tempfile

    config.stash[_PROCESS_HOME] = Path(tempfile.mkdtemp(prefix="studio-tests-"))
    os.environ["STUDIO_HOME"] = str(config.stash[_PROCESS_HOME] / "home")
    os.environ["STUDIO_EMBEDDED_WORKER"] = "false"
    # Two test processes share two cores: a studio the suite starts (the journeys' `studio up`) trains on one
    # core by default, not on the whole machine (tests/compute/test_profiles.py checks the real default).
    os.environ["STUDIO_DEFAULT_COMPUTE"] = "small"
    # and its workers run at the suite's own priority: a niced worker (nice 10 in use, below the app) starved
    # behind the other test process's in-process training made the suite twice as slow (tests/worker/test_local.py
    # checks the real default)
    os.environ["STUDIO_WORKER_NICE"] = "0"


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(config.stash.get(_PROCESS_HOME, None) or "/nonexistent", ignore_errors=True)


_PROCESS_HOME = pytest.StashKey[Path]()


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Subprocesses and Settings() read the environment: point it at this test's home."""
    monkeypatch.setenv("STUDIO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("STUDIO_EMBEDDED_WORKER", "false")
    monkeypatch.setenv("BENTOML_DO_NOT_TRACK", "true")
    yield
    from studio import vault

    vault.forget()  # a secret a test set and a cluster start sealed away must not reach the next test


@pytest.fixture(scope="session")
def _mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty MLflow database with its schema migrated, made once per test process: creating and migrating one
    takes about 1.5 s, and most tests start from an empty studio."""
    from studio.tracking import Tracker

    settings = make_settings(tmp_path_factory.mktemp("mlflow-template") / "home")
    settings.prepare()
    Tracker(settings)
    return settings.root / "mlflow.db"


@pytest.fixture
def settings(tmp_path: Path, _mlflow_template: Path) -> Settings:
    made = make_settings(tmp_path / "home")
    made.prepare()
    shutil.copyfile(_mlflow_template, made.root / "mlflow.db")
    return made


@pytest.fixture
def studio(settings: Settings) -> Studio:
    return Studio(settings)


POSTGRES_ADMIN_URL = os.environ.get("STUDIO_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty database on the local PostgreSQL server, dropped afterwards."""
    name = f"studio_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


MARIADB_ADMIN_URL = os.environ.get("STUDIO_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306/test")


@pytest.fixture
def mariadb_database() -> Iterator[str]:
    """A fresh, empty database on the local MariaDB server (its name), dropped afterwards."""
    name = f"studio_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(MARIADB_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE `{name}`"))
    try:
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
        admin.dispose()


# The shape of the default `small` size, fixed here so tests do not depend on this machine's cores and memory.
SMALL = ComputeProfile(name="small", workers=1, threads=1, memory_gb=2)
TWO_WORKERS = ComputeProfile(name="two", workers=2, threads=1, memory_gb=2)
#: Run a search's trials in the test's own process (tests of what a run does with its trials, not of Dask).
INLINE = InlinePool.open


class ListReporter:
    """The Reporter of a run outside the job system: keeps what it is told, stops when `stop_when()` says."""

    def __init__(self, stop_when: object = None) -> None:
        self.lines: list[str] = []
        self.updates: list[Progress] = []
        self.stop_when = stop_when

    def log(self, line: str) -> None:
        self.lines.append(line)

    def progress(self, progress: Progress) -> None:
        self.updates.append(progress)

    def should_stop(self) -> bool:
        return bool(self.stop_when and self.stop_when(self))  # type: ignore[operator]

    def fence(self) -> None:
        pass


def churn_frame(n: int = 240, seed: int = 0) -> pd.DataFrame:
    """A small binary-classification table with numeric, categorical, boolean and missing values."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, n).astype(float)
    charges = rng.normal(70, 20, n).round(2)
    plan = rng.choice(["basic", "plus", "pro"], n)
    auto_pay = rng.choice([True, False], n)
    logit = -0.05 * tenure + 0.03 * (charges - 70) + np.where(plan == "basic", 0.8, -0.4) + rng.normal(0, 0.5, n)
    frame = pd.DataFrame({"tenure": tenure, "monthly charges": charges, "plan": plan, "auto_pay": auto_pay,
                          "churned": np.where(logit > -1.2, "yes", "no")})
    frame.loc[::11, "monthly charges"] = np.nan
    frame.loc[::13, "plan"] = None
    return frame


@pytest.fixture
def churn() -> pd.DataFrame:
    return churn_frame()


@pytest.fixture
def churn_csv(tmp_path: Path, churn: pd.DataFrame) -> Path:
    path = tmp_path / "churn.csv"
    churn.to_csv(path, index=False)
    return path


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first: with two test processes (scripts/test) the long ones overlap from the start, and the
    quick ones fill the gaps at the end, instead of one long test finishing alone."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
