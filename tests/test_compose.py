"""The team deployment (compose.yaml) without Docker: its services' commands and environment, run as processes on
loopback against the local PostgreSQL (only host names, credentials and database names are swapped), and a
training job driven through them end to end."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import yaml

from studio.export.serving import free_port
from tests.conftest import POSTGRES_ADMIN_URL, REPO, churn_frame

pytestmark = pytest.mark.slow
COMPOSE = yaml.safe_load((REPO / "compose.yaml").read_text())


def test_the_compose_file_describes_app_workers_dask_and_postgres() -> None:
    services = COMPOSE["services"]
    assert set(services) == {"app", "worker", "scheduler", "dask-worker", "postgres"}
    env = COMPOSE["x-studio-env"]
    stores = {k: env[k] for k in ("STUDIO_DATABASE_URL", "STUDIO_MLFLOW_TRACKING_URI", "STUDIO_OPTUNA_STORAGE")}
    assert all(v.startswith("postgresql+psycopg://") for v in stores.values())
    assert len({v.rsplit("/", 1)[1] for v in stores.values()}) == 3  # one database each (MLflow has "datasets" too)
    assert services["worker"]["deploy"]["replicas"] >= 2 and services["app"]["environment"] == env
    assert env["STUDIO_EMBEDDED_WORKER"] == "false"  # the app leaves jobs to the worker services
    init = (REPO / "docker" / "postgres-init.sql").read_text()
    assert "CREATE DATABASE mlflow" in init and "CREATE DATABASE optuna" in init
    app = services["app"]
    assert app["command"][-2:] == ["--address", "0.0.0.0"] and app["secrets"] == ["studio-auth"]  # login required
    assert env["STUDIO_SECRETS_FILE"] == "/run/secrets/studio-auth"
    assert services["scheduler"]["ports"] == ["127.0.0.1:8787:8787"]  # the dashboard is not published
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "USER studio" in dockerfile and "HEALTHCHECK" in dockerfile


@pytest.fixture
def databases() -> Iterator[dict[str, str]]:
    """Fresh databases on the local server for the compose file's three stores: name in compose -> URL here."""
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    suffix = uuid.uuid4().hex[:8]
    names = {db: f"compose_{db}_{suffix}" for db in ("studio", "mlflow", "optuna")}
    with admin.connect() as conn:
        for name in names.values():
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    base = sa.make_url(POSTGRES_ADMIN_URL)
    try:
        yield {db: base.set(database=name).render_as_string(hide_password=False) for db, name in names.items()}
    finally:
        with admin.connect() as conn:
            for name in names.values():
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def loopback_env(home: Path, databases: dict[str, str], scheduler_port: int) -> dict[str, str]:
    """The compose environment with its hosts pointed at loopback: postgres -> the local server, the scheduler ->
    its port here, /data -> a temporary folder. Every other setting is the compose file's own."""
    env = dict(os.environ)
    for key in [k for k in env if k.startswith("STUDIO_")]:
        env.pop(key)
    for key, value in COMPOSE["x-studio-env"].items():
        value = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: os.environ.get(m.group(1), m.group(2)), str(value))
        url = re.match(r"postgresql\+psycopg://[^@]+@postgres:5432/(\w+)$", value)
        if url:
            value = databases[url.group(1)]
        value = value.replace("tcp://scheduler:8786", f"tcp://127.0.0.1:{scheduler_port}")
        env[key] = value.replace("/data", str(home))
    return env


def service_command(name: str, scheduler_port: int) -> list[str]:
    command = [str(c).replace("scheduler:8786", f"127.0.0.1:{scheduler_port}").replace("0.0.0.0", "127.0.0.1")
               for c in COMPOSE["services"][name]["command"]]  # the app listens on loopback here
    if command[:2] == ["dask", "scheduler"]:
        command[command.index("--port") + 1] = str(scheduler_port)
        command[command.index("--dashboard-address") + 1] = ":0"
    if command[0] in ("studio", "dask"):
        command = [str(Path(sys.executable).parent / command[0]), *command[1:]]
    return command


def test_the_compose_settings_run_a_training_job_on_loopback(tmp_path: Path, databases: dict[str, str]) -> None:
    scheduler_port, app_port = free_port(), free_port()
    env = loopback_env(tmp_path, databases, scheduler_port)
    procs: list[subprocess.Popen[bytes]] = []

    def start(name: str, *extra: str) -> None:
        log = open(tmp_path / f"{name}-{len(procs)}.log", "wb")  # noqa: SIM115
        procs.append(subprocess.Popen([*service_command(name, scheduler_port), *extra], env=env, stdout=log,
                                      stderr=subprocess.STDOUT, start_new_session=True, cwd=tmp_path))

    try:
        start("scheduler")
        start("dask-worker")
        for _ in range(COMPOSE["services"]["worker"]["deploy"]["replicas"]):
            start("worker")
        app = service_command("app", scheduler_port)
        app[app.index("--port") + 1] = str(app_port)
        procs.append(subprocess.Popen(app, env=env, stdout=open(tmp_path / "app.log", "wb"),  # noqa: SIM115
                                      stderr=subprocess.STDOUT, start_new_session=True, cwd=tmp_path))
        _wait_http(f"http://127.0.0.1:{app_port}/_stcore/health", procs, tmp_path)

        churn_frame(600).to_csv(tmp_path / "churn.csv", index=False)
        cli = [str(Path(sys.executable).parent / "studio")]
        subprocess.run([*cli, "data", "add", str(tmp_path / "churn.csv")], env=env, check=True, capture_output=True)
        out = subprocess.run([*cli, "train", "churn-v1", "--target", "churned", "--compute", "cluster",
                              "--algorithms", "linear,lightgbm", "--max-trials", "4", "--wait", "--json"],
                             env=env, capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:] + _logs(tmp_path)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        assert result["status"] == "succeeded" and result["n_trials"] == 4 and result["model_uri"] == "models:/churn/1"

        jobs = _rows(databases["studio"], "SELECT status, worker_id FROM jobs")
        assert [j["status"] for j in jobs] == ["succeeded"] and jobs[0]["worker_id"]  # run by a worker service
        assert _rows(databases["mlflow"], "SELECT count(*) AS n FROM runs")[0]["n"] >= 5  # parent + 4 trials
        trials = _rows(databases["optuna"], "SELECT count(*) AS n FROM trials WHERE state = 'COMPLETE'")
        assert trials[0]["n"] == 4
        workers = _rows(databases["studio"], "SELECT count(*) AS n FROM workers")
        assert workers[0]["n"] == COMPOSE["services"]["worker"]["deploy"]["replicas"]
        page = httpx.get(f"http://127.0.0.1:{app_port}/", timeout=30)
        assert page.status_code == 200
    finally:
        for proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def _wait_http(url: str, procs: list[subprocess.Popen[bytes]], logs: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        dead = [p for p in procs if p.poll() is not None]
        assert not dead, f"a service exited: {dead[0].args}\n{_logs(logs)}"
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} did not answer\n{_logs(logs)}")


def _rows(url: str, query: str) -> list[dict[str, Any]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.text(query)).mappings()]
    finally:
        engine.dispose()


def _logs(folder: Path, prefix: str = "") -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-1500:]}"
                     for p in sorted(folder.glob(f"{prefix}*.log")))
