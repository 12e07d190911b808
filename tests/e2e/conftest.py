"""Real-browser journeys: the real app and its worker on free ports, Debian's Chromium through pytest-playwright.

Each test gets a fresh studio (its own STUDIO_HOME) and saves a screenshot per step under
`test-artifacts/e2e/<test>/` (or $STUDIO_E2E_ARTIFACTS); a failing test also leaves `failure.png` and the page's text
there. With $STUDIO_README_SHOTS set, the steps named for the README are copied there too (scripts/screenshots.py).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from studio.context import Studio
from studio.export.serving import free_port
from studio.settings import Settings
from tests.conftest import REPO
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, Steps, open_app, start_studio, stop_studio

ARTIFACTS = Path(os.environ.get("STUDIO_E2E_ARTIFACTS", REPO / "test-artifacts" / "e2e"))


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    assert Path(CHROMIUM).exists(), "Debian's chromium is needed: apt-get install chromium"
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "headless": True, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": VIEWPORT, "accept_downloads": True}


@dataclass(frozen=True)
class App:
    url: str
    home: Path

    @property
    def studio(self) -> Studio:
        """The same studio the app runs on, for setting up and checking state behind the browser."""
        return Studio(Settings(home=self.home, embedded_worker=False))


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    home = tmp_path / "home"
    home.mkdir()
    port = free_port()
    proc = start_studio(home, port)
    try:
        yield App(f"http://127.0.0.1:{port}", home)
    finally:
        stop_studio(proc, home)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.stash[FAILED] = report.failed


FAILED = pytest.StashKey[bool]()


@pytest.fixture
def steps(page: Page, app: App, request: pytest.FixtureRequest) -> Iterator[Steps]:
    """The browser on the app's Home page, and a screenshot per step into the test's artifact folder."""
    out = ARTIFACTS / request.node.name
    shutil.rmtree(out, ignore_errors=True)
    readme = os.environ.get("STUDIO_README_SHOTS")
    open_app(page, app.url)
    recorder = Steps(page, out, Path(readme) if readme else None)
    yield recorder
    if request.node.stash.get(FAILED, False):  # leave evidence of where the journey broke
        out.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out / "failure.png"))
        (out / "failure.txt").write_text(page.locator("body").inner_text()[:20_000])
