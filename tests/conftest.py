"""Shared fixtures: every store under tmp_path, tiny seeded data, no worker started behind a test's back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from studio.context import Studio
from studio.settings import Settings

REPO = Path(__file__).resolve().parent.parent


def make_settings(home: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {"home": home, "embedded_worker": False, "heartbeat_seconds": 0.5,
                                 "worker_poll_seconds": 0.1, "lease_seconds": 30.0}
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Subprocesses and Settings() read the environment: point it at this test's home."""
    monkeypatch.setenv("STUDIO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("STUDIO_EMBEDDED_WORKER", "false")
    monkeypatch.setenv("BENTOML_DO_NOT_TRACK", "true")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "home")


@pytest.fixture
def studio(settings: Settings) -> Studio:
    return Studio(settings)


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
