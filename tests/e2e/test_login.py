"""Login and roles in real Chromium against a real OIDC provider on loopback (oidc-provider-mock): a visitor sees
only the sign-in screen, a viewer may look but not act, an admin gives roles on the Settings page (audited), the new
analyst brings data (recorded as theirs), sign-out ends the session, and an expired sign-in asks again."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from studio.auth import creators, read_audit
from studio.context import Studio
from studio.export.serving import free_port
from studio.settings import Settings
from tests.e2e.browser import goto, settle, start_studio, stop_studio

pytestmark = pytest.mark.slow
USERS = [{"sub": "alice", "email": "alice@example.org", "name": "Alice", "roles": ["admin"]},
         {"sub": "bob", "email": "bob@example.org", "name": "Bob"}]


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[str]:
    """The OIDC provider process, on a free loopback port; yields its URL."""
    port = free_port()
    args = [sys.executable, "-m", "oidc_provider_mock", "--port", str(port), "--host", "127.0.0.1"]
    for user in USERS:
        args += ["--user-claims", json.dumps(user)]
    log = (tmp_path / "oidc.log").open("wb")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/.well-known/openid-configuration").status_code == 200:
                    break
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _start(home: Path, provider: str, **env: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    (home / "secrets.toml").write_text(
        '[auth]\n'
        f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        'cookie_secret = "a-test-cookie-secret-of-forty-characters!"\n'
        'client_id = "studio"\nclient_secret = "studio-client-secret"\n'
        f'server_metadata_url = "{provider}/.well-known/openid-configuration"\n')
    return start_studio(home, port, env=dict(os.environ, **env)), f"http://127.0.0.1:{port}"


def _sign_in(page: Page, url: str, sub: str) -> None:
    page.goto(url)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/oauth2/authorize**", timeout=30_000)
    page.get_by_role("button", name=sub, exact=True).click()
    expect(page.get_by_text("Signed in as")).to_be_visible(timeout=60_000)
    settle(page)


def _sign_out(page: Page) -> None:
    """Sign out: Streamlit clears its cookie and sends the browser to the provider's end-session page (OIDC
    RP-initiated logout), whose confirmation brings it back to the studio's sign-in screen."""
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="End session").click(timeout=30_000)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=30_000)


def test_sign_in_roles_settings_and_sign_out(page: Page, provider: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    proc, url = _start(home, provider)
    shots = tmp_path / "shots"
    shots.mkdir()
    try:
        # a visitor, on any page's address, sees the sign-in screen and nothing of the studio
        for path in ("/", "/data", "/settings"):
            page.goto(url + path)
            expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=60_000)
            settle(page)
            assert "Sample datasets" not in page.locator("body").inner_text()
        page.screenshot(path=str(shots / "01-sign-in.png"))

        _sign_in(page, url, "bob")  # no role claim, not in the table: the default role, viewer
        expect(page.get_by_text("Bob · viewer")).to_be_visible()
        assert page.locator('[data-testid="stSidebarNav"] a', has_text="Settings").count() == 0
        expect(page.get_by_role("button", name="Add this dataset").first).to_be_disabled()
        goto(page, "Train")
        page.screenshot(path=str(shots / "02-viewer.png"))
        _sign_out(page)

        _sign_in(page, url, "alice")  # roles: ["admin"] in her token
        expect(page.get_by_text("Alice · admin")).to_be_visible()
        goto(page, "Settings")
        page.get_by_label("Email (or the provider's subject)").fill("bob@example.org")
        page.get_by_role("button", name="Save role").click()
        expect(page.get_by_text("bob@example.org is now analyst.")).to_be_visible(timeout=30_000)
        settle(page)
        page.screenshot(path=str(shots / "03-settings.png"))
        _sign_out(page)

        _sign_in(page, url, "bob")  # the table now says analyst
        expect(page.get_by_text("Bob · analyst")).to_be_visible()
        page.get_by_role("button", name="Add this dataset").first.click()
        expect(page.get_by_text("Saved as")).to_be_visible(timeout=60_000)
        _sign_out(page)
        page.goto(url + "/data")
        expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=30_000)
    finally:
        stop_studio(proc, home)
    studio = Studio(Settings(home=home, embedded_worker=False))
    entry = next(a for a in read_audit(studio.engine) if a.action == "set role")
    assert entry.actor == "alice@example.org" and entry.model == "user:bob@example.org"
    assert entry.detail == {"role": "analyst"}
    made = creators(studio.engine, "dataset", [r.id for r in studio.catalog.list()])
    assert list(made.values()) == ["bob@example.org"]


def test_an_expired_sign_in_asks_again(page: Page, provider: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    proc, url = _start(home, provider, STUDIO_SESSION_HOURS=str(4 / 3600))  # a sign-in lasts 4 s
    try:
        _sign_in(page, url, "alice")
        signed_in = time.monotonic()
        while time.monotonic() - signed_in < 5:  # the app's state is what we wait on: reload until it expires
            page.wait_for_timeout(500)
        page.reload()
        expect(page.get_by_text("Your session has expired")).to_be_visible(timeout=60_000)
        assert "Signed in as" not in page.locator("body").inner_text()
        page.get_by_role("button", name="Sign in again").click()
        # Streamlit's logout sends the browser to the provider's end-session page when it reads the provider's
        # metadata in time, and straight back otherwise (both seen in CI): confirm there if asked
        sign_in, end_session = (page.get_by_role("button", name=n) for n in ("Sign in", "End session"))
        expect(sign_in.or_(end_session)).to_be_visible(timeout=30_000)
        for _ in range(3):  # a click while the provider's page still loads is lost (seen once in CI): click again
            if end_session.is_visible():
                end_session.click()
            try:
                expect(sign_in).to_be_visible(timeout=10_000)
                break
            except AssertionError:
                continue
        expect(sign_in).to_be_visible(timeout=10_000)
    finally:
        stop_studio(proc, home)
