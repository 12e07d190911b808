"""The studio database: one SQLAlchemy engine (SQLite in WAL mode by default) and its tables."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData()

datasets = sa.Table(
    "datasets", metadata,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("name", sa.String(120), nullable=False, index=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("n_rows", sa.Integer, nullable=False),
    sa.Column("n_cols", sa.Integer, nullable=False),
    sa.Column("columns_json", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("name", "version"),
)

dataset_origins = sa.Table(  # a separate table, so homes made before origins existed need no migration
    "dataset_origins", metadata,
    sa.Column("dataset_id", sa.String(200), primary_key=True),
    sa.Column("origin_json", sa.Text, nullable=False),
)

connections = sa.Table(
    "connections", metadata,
    sa.Column("name", sa.String(80), primary_key=True),
    sa.Column("spec_json", sa.Text, nullable=False),  # driver, host, port, database, user: never the password
    sa.Column("password_token", sa.Text),  # the password encrypted with STUDIO_SECRET_KEY (Fernet), or NULL
    sa.Column("updated_at", sa.Float, nullable=False),
)

jobs = sa.Table(
    "jobs", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("payload_json", sa.Text, nullable=False),
    sa.Column("status", sa.String(20), nullable=False, index=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float),
    sa.Column("ended_at", sa.Float),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("worker_id", sa.String(80)),
    sa.Column("lease_token", sa.String(40)),
    sa.Column("lease_expires_at", sa.Float),
    sa.Column("cancel_requested", sa.Boolean, nullable=False, default=False),
    sa.Column("progress_json", sa.Text, nullable=False, default="{}"),
    sa.Column("result_json", sa.Text),
    sa.Column("error", sa.Text),
)

job_logs = sa.Table(
    "job_logs", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.String(40), nullable=False, index=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("line", sa.Text, nullable=False),
)

workers = sa.Table(
    "workers", metadata,
    sa.Column("id", sa.String(80), primary_key=True),
    sa.Column("host", sa.String(200), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("seen_at", sa.Float, nullable=False),
)

services = sa.Table(
    "services", metadata,
    sa.Column("bento_tag", sa.String(200), primary_key=True),
    sa.Column("port", sa.Integer, nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("log_path", sa.Text, nullable=False),
)

audit_log = sa.Table(
    "audit_log", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("actor", sa.String(120), nullable=False),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("model", sa.String(200), nullable=False, index=True),
    sa.Column("version", sa.String(20)),
    sa.Column("alias", sa.String(80)),
    sa.Column("reason", sa.Text, nullable=False, default=""),
    sa.Column("detail_json", sa.Text, nullable=False, default="{}"),
)

gate_policies = sa.Table(
    "gate_policies", metadata,
    sa.Column("model", sa.String(200), primary_key=True),
    sa.Column("policy_json", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("updated_by", sa.String(120), nullable=False),
)

runs_index = sa.Table(
    "runs_index", metadata,
    sa.Column("run_id", sa.String(40), primary_key=True),
    sa.Column("started_at", sa.Float, nullable=False, index=True),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("summary_json", sa.Text, nullable=False),
)

reproductions = sa.Table(
    "reproductions", metadata,
    sa.Column("job_id", sa.String(40), primary_key=True),
    sa.Column("source_run_id", sa.String(40), nullable=False, index=True),
    sa.Column("created_at", sa.Float, nullable=False),
)

users = sa.Table(  # the role an admin gave each person who signs in (by email, else the provider's subject)
    "users", metadata,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("updated_by", sa.String(200), nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

creators = sa.Table(  # who created each dataset, job, model version and service (a table of its own: no migration)
    "creators", metadata,
    sa.Column("kind", sa.String(20), primary_key=True),
    sa.Column("object_id", sa.String(200), primary_key=True),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)


def _sqlite_pragmas(busy_s: float) -> Any:
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        # WAL lets the app read while a worker writes; busy_timeout waits on a writer instead of failing.
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_s * 1000)}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()
    return on_connect


def normalize_url(url: str) -> str:
    """`postgresql://...` means psycopg 3 here (SQLAlchemy would otherwise look for psycopg2)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def make_engine(url: str, *, busy_s: float = 30.0) -> sa.Engine:
    """Open the studio database at `url` and create its tables if they are missing (SQLite waits up to `busy_s`
    for another writer's lock on each statement)."""
    try:
        engine = sa.create_engine(normalize_url(url), future=True, pool_pre_ping=True)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as exc:
        raise ValueError(f"STUDIO_DATABASE_URL '{_masked(url)}' is not a usable database URL: {exc}") from None
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas(busy_s))
    metadata.create_all(engine)
    return engine


def _masked(url: str) -> str:
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<unparseable>"
