"""Run exported bentos locally: start, stop, list, and call them over HTTP."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import httpx
import sqlalchemy as sa
from pydantic import BaseModel

from studio import db
from studio.errors import BentoNotFound, ExportError
from studio.export.bento import service_env
from studio.paths import confined, slug

if TYPE_CHECKING:
    import sqlalchemy

    from studio.settings import Settings


class ServiceInfo(BaseModel):
    bento_tag: str
    port: int
    pid: int
    started_at: float
    log_path: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class ServiceResponse(BaseModel):
    status_code: int
    body: Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_command(bento_tag: str, port: int) -> list[str]:
    return [sys.executable, "-m", "bentoml", "serve", bento_tag, "--port", str(port), "--host", "127.0.0.1"]


def check_bento(settings: Settings, bento_tag: str) -> None:
    """Raise BentoNotFound unless `name:version` (or `name:latest`, or `name`) is in the studio's bento store."""
    name, _, version = bento_tag.partition(":")
    folder = settings.bentoml_path / "bentos" / name
    if not name or not folder.is_dir() or (version not in ("", "latest") and not (folder / version).is_dir()):
        known = sorted(p.name for p in (settings.bentoml_path / "bentos").glob("*") if p.is_dir())
        raise BentoNotFound(f"No bento '{bento_tag}' in {settings.bentoml_path}. "
                            f"Exported bentos: {', '.join(known) or 'none (run `studio export MODEL` first)'}.")


def start_service(settings: Settings, engine: sqlalchemy.Engine, bento_tag: str, *,
                  port: int | None = None) -> ServiceInfo:
    """Start `bentoml serve` for `bento_tag` in the background; returns at once (see `is_ready`). The running
    services are listed in the studio database (`engine`)."""
    check_bento(settings, bento_tag)
    for running in list_services(engine):
        if running.bento_tag == bento_tag:
            return running
    port = port or free_port()
    log_path = confined(settings.logs_path, f"service-{slug(bento_tag.replace(':', '-'))}.log")
    with open(log_path, "ab") as log_file:
        proc = subprocess.Popen(serve_command(bento_tag, port), stdout=log_file, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=service_env(settings), start_new_session=True)
    info = ServiceInfo(bento_tag=bento_tag, port=port, pid=proc.pid, started_at=time.time(), log_path=str(log_path))
    with engine.begin() as conn:
        conn.execute(db.services.delete().where(db.services.c.bento_tag == bento_tag))
        conn.execute(db.services.insert().values(**info.model_dump()))
    return info


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a finished child of ours is a zombie until reaped: reap it and call it dead
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def list_services(engine: sqlalchemy.Engine) -> list[ServiceInfo]:
    """Services whose process is still alive; rows of dead ones are removed."""
    with engine.connect() as conn:
        rows = [ServiceInfo(**dict(r)) for r in conn.execute(sa.select(db.services)).mappings()]
    alive = [s for s in rows if _alive(s.pid)]
    dead = [s.bento_tag for s in rows if s not in alive]
    if dead:
        with engine.begin() as conn:
            conn.execute(db.services.delete().where(db.services.c.bento_tag.in_(dead)))
    return alive


def stop_service(engine: sqlalchemy.Engine, bento_tag: str) -> None:
    for service in list_services(engine):
        if service.bento_tag == bento_tag:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(service.pid, signal.SIGTERM)
    with engine.begin() as conn:
        conn.execute(db.services.delete().where(db.services.c.bento_tag == bento_tag))


def is_ready(service: ServiceInfo, *, timeout: float = 2.0) -> bool:
    try:
        return httpx.get(f"{service.url}/readyz", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def wait_ready(service: ServiceInfo, *, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_ready(service):
            return
        if not _alive(service.pid):
            break
        time.sleep(0.5)
    raise ExportError(f"Service {service.bento_tag} did not become ready; see {service.log_path}.")


def call_predict(url: str, rows: list[dict[str, Any]], *, timeout: float = 30.0) -> ServiceResponse:
    """POST rows to the service's /predict, returning status and JSON (or text) body."""
    try:
        response = httpx.post(f"{url}/predict", json={"rows": rows}, timeout=timeout)
    except httpx.HTTPError as exc:
        raise ExportError(f"Could not reach the service at {url}: {exc}") from None
    try:
        body = response.json()
    except ValueError:
        body = response.text
    return ServiceResponse(status_code=response.status_code, body=body)


def curl_line(url: str, row: dict[str, Any]) -> str:
    payload = json.dumps({"rows": [row]}).replace("'", "'\\''")
    return f"curl -s -X POST {url}/predict -H 'Content-Type: application/json' -d '{payload}'"
