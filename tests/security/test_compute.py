"""A local Dask cluster is reachable from this machine only, over TLS, with no dashboard, and its workers hold
no secret (the scheduler runs any code it is sent: once it read STUDIO_SECRET_KEY from a worker)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from studio import vault
from studio.compute.cluster import client_for, discard, security
from studio.compute.profiles import ComputeProfile
from studio.errors import SpecError


def _environment() -> dict[str, str]:
    """What a task sees of its worker: the environment, and the one the process was started with."""
    raw = Path(f"/proc/{os.getpid()}/environ").read_bytes().split(b"\0")
    started = dict(e.decode(errors="replace").split("=", 1) for e in raw if b"=" in e)
    return {**started, **os.environ}


def test_a_local_cluster_binds_loopback_over_tls_without_a_dashboard_or_secrets(monkeypatch) -> None:
    monkeypatch.setenv("STUDIO_SECRET_KEY", "the-secret-key")
    monkeypatch.setenv("WAREHOUSE_PASSWORD", "the-db-password")
    shape = ComputeProfile(name="sealed", workers=1, threads=1, memory_gb=1.0)
    client = client_for(shape)
    try:
        address = client.scheduler.address
        assert address.startswith("tls://127.0.0.1:")
        http = client.scheduler_info()["services"]["dashboard"]  # Dask's name for its HTTP server
        import httpx

        assert httpx.get(f"http://127.0.0.1:{http}/health").text == "ok"
        for page in ("/status", "/info/main/workers.html", "/json/identity.json"):  # where the address leaked
            assert httpx.get(f"http://127.0.0.1:{http}{page}").status_code == 404
        (seen,) = client.run(_environment).values()
        assert "the-secret-key" not in seen.values() and "the-db-password" not in seen.values()
        assert vault.getenv("STUDIO_SECRET_KEY") == "the-secret-key"  # this process still has it
        from studio.settings import Settings

        key = Settings().secret_key
        assert key is not None and key.get_secret_value() == "the-secret-key"
        # a plain TCP client, as a local attacker would connect, gets no answer from a TLS scheduler
        from distributed import Client

        port = int(address.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # the port is open on loopback ...
        with pytest.raises((OSError, TimeoutError)):
            Client(f"tcp://127.0.0.1:{port}", timeout="3s", set_as_default=False)  # ... but speaks only TLS
    finally:
        discard(shape)


def test_remote_clusters_take_tls_files_from_compute_toml(tmp_path) -> None:
    remote = ComputeProfile(name="cluster", scheduler="tls://10.0.0.5:8786", tls_ca_file=str(tmp_path / "ca.pem"),
                            tls_cert=str(tmp_path / "c.pem"), tls_key=str(tmp_path / "k.pem"))
    sec = security(remote)
    assert sec is not None and sec.require_encryption and sec.tls_ca_file == str(tmp_path / "ca.pem")
    assert security(ComputeProfile(name="plain", scheduler="tcp://10.0.0.5:8786")) is None
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="tls://"):
        ComputeProfile(name="bad", scheduler="tcp://10.0.0.5:8786", tls_ca_file="ca.pem")
    assert SpecError  # the profile loader turns such errors into a SpecError naming the field
