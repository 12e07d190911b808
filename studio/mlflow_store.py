"""MLflow's own SQLite store as the studio opens it: a fresh studio copies an empty database already migrated for
the installed MLflow, and the file runs in WAL mode so pages read while a job logs."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sqlite3
import sys
from pathlib import Path

from studio.settings import Settings

log = logging.getLogger("studio.tracking")


def template_path(version: str) -> Path:
    """An empty MLflow database migrated for this MLflow version, kept beside the installed packages (it holds
    no studio's data); the first fresh studio of an installation makes it."""
    return Path(sys.prefix) / "share" / "studio" / f"mlflow-{version}-empty.db"


def from_template(settings: Settings, version: str) -> bool | None:
    """Give a fresh studio its MLflow database by copying the template: creating and migrating one (about 40
    Alembic migrations) takes 2-4 s, which a fresh studio's first job would wait for before its first trial.
    True: copied; False: a fresh database MLflow is about to make (no template yet); None: nothing to do
    (it exists, or the tracking store is not the studio's own SQLite file)."""
    target = settings.root / "mlflow.db"
    if settings.tracking_uri != f"sqlite:///{target}" or target.exists():
        return None
    template = template_path(version)
    if not template.is_file():
        return False
    partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.copyfile(template, partial)
    with contextlib.closing(sqlite3.connect(partial)) as conn, conn:  # the default experiment's artifacts live
        conn.execute("UPDATE experiments SET artifact_location = ? WHERE experiment_id = 0",  # in this studio
                     (f"{settings.artifact_location}/0",))
    partial.replace(target)
    return True


def save_template(settings: Settings, version: str) -> None:
    template = template_path(version)
    partial = template.with_name(f".{template.name}.{os.getpid()}.tmp")
    try:
        template.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(settings.root / "mlflow.db", partial)  # still in rollback-journal mode: one whole file
        partial.replace(template)
    except OSError as exc:  # a read-only installation: every fresh studio migrates its own
        log.debug("No MLflow template saved: %s", exc)


def write_ahead_log(tracking_uri: str) -> None:
    """Put MLflow's own SQLite database in WAL mode (kept in the file, so once is enough): MLflow leaves it in
    rollback-journal mode, where every trial a job logs locks out the pages reading runs and models (the Models
    page reran 1.8x slower while a job trained, bench/ui.py); with WAL, readers never wait for the writer."""
    if not tracking_uri.startswith("sqlite:///"):
        return
    with contextlib.closing(sqlite3.connect(tracking_uri.removeprefix("sqlite:///"), timeout=30)) as conn:
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            conn.execute("PRAGMA journal_mode=WAL")
