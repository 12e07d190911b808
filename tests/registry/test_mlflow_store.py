"""MLflow's store as the studio opens it: a fresh studio copies an empty, migrated database instead of migrating
its own (2-4 s a fresh studio's first job waited for), and the file is in WAL mode."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from studio import mlflow_store
from studio.tracking import Tracker
from tests.conftest import make_settings


def test_a_fresh_studio_copies_the_installation_s_migrated_empty_database(tmp_path: Path, monkeypatch) -> None:
    template = tmp_path / "share" / "mlflow-empty.db"
    monkeypatch.setattr(mlflow_store, "template_path", lambda version: template)
    first = make_settings(tmp_path / "first")
    first.prepare()
    Tracker(first)  # no template yet: MLflow creates and migrates the store, which becomes the template
    assert template.is_file()
    with sqlite3.connect(template) as conn:  # saved before the switch to WAL: one whole file
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    with sqlite3.connect(first.root / "mlflow.db") as conn:  # MLflow leaves rollback-journal mode: WAL lets the
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # pages read while a job logs trials
    copies = []
    real = mlflow_store.from_template
    monkeypatch.setattr(mlflow_store, "from_template", lambda *a: copies.append(real(*a)) or copies[-1])
    second = make_settings(tmp_path / "second")
    second.prepare()
    tracker = Tracker(second)
    assert copies == [True]
    experiment = tracker.experiment_id("churn")  # a working store: MLflow found its schema current
    assert tracker.client.get_experiment(experiment).name == "churn"
    default = tracker.client.get_experiment("0")
    assert default.artifact_location == f"{second.artifact_location}/0"  # not the first studio's place
    with sqlite3.connect(second.root / "mlflow.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    Tracker(second)  # opened again: nothing is copied over a studio's own database
    assert copies == [True, None]


@pytest.mark.parametrize("uri", ["postgresql://db/mlflow", "sqlite:////elsewhere/mlflow.db"])
def test_a_tracking_store_the_studio_does_not_own_is_never_replaced(tmp_path: Path, uri: str) -> None:
    settings = make_settings(tmp_path / "home").model_copy(update={"mlflow_tracking_uri": uri})
    assert mlflow_store.from_template(settings, "0") is None
