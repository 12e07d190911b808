"""Roles, who is acting, and where the app may listen (the studio once listened on every interface, no login)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from studio import db
from studio.auth import (
    Actor,
    NotAllowed,
    Role,
    UserStore,
    check_exposure,
    is_loopback,
    local_actor,
    login_configured,
    read_audit,
    resolve_role,
)
from studio.errors import SpecError
from studio.export.serving import free_port, serve_command

ADMIN = Actor(id="root@example.org", name="Root", role=Role.ADMIN)


@pytest.fixture
def users(tmp_path: Path) -> UserStore:
    return UserStore(db.make_engine(f"sqlite:///{tmp_path / 'studio.db'}"))


def test_roles_come_from_the_claim_then_the_table_then_the_admins_then_the_default(users: UserStore) -> None:
    def role(claims: dict[str, object]) -> Role:
        return resolve_role(claims, users=users, claim="roles", admins=["boss@example.org"], default=Role.VIEWER)

    assert role({"email": "a@example.org", "roles": ["analyst", "viewer"]}) is Role.ANALYST  # the highest named
    assert role({"email": "a@example.org", "roles": "admin"}) is Role.ADMIN
    assert role({"email": "a@example.org", "roles": ["unknown"]}) is Role.VIEWER
    users.set_role("A@example.org", Role.ANALYST, by=ADMIN)
    assert role({"email": "a@example.org"}) is Role.ANALYST  # emails compare without case
    assert role({"sub": "boss@example.org"}) is Role.ADMIN
    assert role({"email": "nobody@example.org"}) is Role.VIEWER


def test_an_unverified_email_is_not_an_identity(users: UserStore) -> None:
    users.set_role("boss@example.org", Role.ADMIN, by=ADMIN)
    forged = {"sub": "mallory", "email": "boss@example.org", "email_verified": False}
    assert resolve_role(forged, users=users, claim="roles", admins=["boss@example.org"], default=Role.VIEWER) \
        is Role.VIEWER
    verified = {"sub": "b0ss", "email": "boss@example.org", "email_verified": True}
    assert resolve_role(verified, users=users, claim="roles", admins=[], default=Role.VIEWER) is Role.ADMIN


def test_only_an_admin_changes_roles_and_every_change_is_audited(users: UserStore) -> None:
    analyst = Actor(id="ana@example.org", name="Ana", role=Role.ANALYST)
    with pytest.raises(NotAllowed, match="needs the admin role"):
        users.set_role("ana@example.org", Role.ADMIN, by=analyst)  # no promoting oneself
    users.set_role("ana@example.org", Role.ADMIN, by=ADMIN)
    users.remove("ana@example.org", by=ADMIN)
    assert users.list() == []
    assert [(a.actor, a.action, a.model) for a in read_audit(users.engine)] == [
        ("root@example.org", "remove user", "user:ana@example.org"),
        ("root@example.org", "set role", "user:ana@example.org")]


def test_without_login_the_person_at_the_machine_is_the_local_admin(monkeypatch) -> None:
    monkeypatch.setenv("STUDIO_USER", "lee")
    assert local_actor() == Actor(id="lee", name="lee", role=Role.ADMIN)


@pytest.mark.parametrize("address", ["127.0.0.1", "localhost", "::1", "127.0.0.5"])
def test_loopback_addresses(address: str) -> None:
    assert is_loopback(address)


@pytest.mark.parametrize("address", ["0.0.0.0", "::", "10.0.0.5", "example.org"])
def test_listening_beyond_loopback_needs_login_or_insecure(address: str) -> None:
    assert not is_loopback(address)
    with pytest.raises(SpecError, match="without login"):
        check_exposure(address, login=False, insecure=False)
    check_exposure(address, login=True, insecure=False)
    check_exposure(address, login=False, insecure=True)


def test_login_is_configured_by_an_auth_section_with_a_provider(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.toml"
    assert not login_configured([secrets])
    secrets.write_text('[auth]\nredirect_uri = "http://x/oauth2callback"\ncookie_secret = "s"\n')
    assert not login_configured([secrets])  # no provider
    secrets.write_text(secrets.read_text() + 'client_id = "c"\nserver_metadata_url = "http://idp/.well-known/x"\n')
    assert login_configured([tmp_path / "missing.toml", secrets])
    secrets.write_text("[auth\n")
    with pytest.raises(SpecError, match="not valid TOML"):
        login_configured([secrets])


def test_studio_up_refuses_every_interface_without_login(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "studio", "up", "--address", "0.0.0.0"], capture_output=True,
                          text=True, timeout=120, env={**_env(tmp_path)})
    assert proc.returncode == 2 and "Refusing to listen on 0.0.0.0 without login" in proc.stderr
    assert not (tmp_path / "home" / "logs" / "worker.log").exists()  # refused before starting anything


def test_studio_up_listens_on_loopback_only_by_default(tmp_path: Path) -> None:
    from tests.e2e.browser import start_studio, stop_studio

    home = tmp_path / "home"
    home.mkdir()
    port = free_port()
    proc = start_studio(home, port, env=_env(tmp_path), worker=False)
    try:
        app = psutil.Process(proc.pid)
        listening = [c.laddr for c in app.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
        assert listening and {a.ip for a in listening if a.port == port} == {"127.0.0.1"}
    finally:
        stop_studio(proc, home)
    assert "--host" in serve_command("b:1", 3000) and "127.0.0.1" in serve_command("b:1", 3000)  # a bento, too


def _env(tmp_path: Path) -> dict[str, str]:
    import os

    return dict(os.environ, STUDIO_HOME=str(tmp_path / "home"), STUDIO_EMBEDDED_WORKER="false")


def test_an_insecure_studio_says_so_on_every_page(monkeypatch) -> None:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from tests.conftest import REPO

    st.cache_resource.clear()
    monkeypatch.setenv("STUDIO_INSECURE", "true")
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    for page in ("home", "data", "settings"):
        at.switch_page(f"app_pages/{page}.py").run()
        assert any("without login" in w.value for w in at.warning), page
