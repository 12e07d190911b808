"""The studio's home is its owner's alone: the databases, snapshots, models and bundles are 0600, folders 0700."""

from __future__ import annotations

import stat
from pathlib import Path

import pandas as pd

from studio.context import Studio
from tests.conftest import make_settings


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_everything_the_studio_writes_is_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    (home / "secrets.toml").write_text("[auth]\n")
    (home / "secrets.toml").chmod(0o644)  # written by hand before: tightened on start
    studio = Studio(make_settings(home))
    record = studio.catalog.save(pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}), "d", source="test")
    studio.tracker.client.search_experiments()  # opens (creates) mlflow.db
    assert _mode(home) == 0o700 and _mode(home / "secrets.toml") == 0o600
    assert _mode(home / "studio.db") == 0o600 and _mode(home / "mlflow.db") == 0o600
    snapshot = Path(record.path)
    assert _mode(snapshot) == 0o600 and _mode(snapshot.parent) == 0o700
    assert all(_mode(p) == 0o700 for p in (studio.settings.exports_path, studio.settings.logs_path))
