"""Driving the real studio in headless Chromium: start it on a free port, wait on Streamlit's own state, click
through pages, and save a screenshot per step.

Waits are on the app's state, never fixed sleeps: Streamlit's script-running indicator (`stStatusWidget`) must be
gone, and the text a step produces must be visible.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-quic"]
VIEWPORT = {"width": 1400, "height": 1000}
JOB_TIMEOUT_MS = 300_000


def start_studio(home: Path, port: int, *, env: dict[str, str] | None = None,
                 worker: bool = True) -> subprocess.Popen[bytes]:
    """`studio up` (the app, which starts its worker unless `worker` is False) on `port` with its own STUDIO_HOME;
    waits for health."""
    environment = dict(os.environ if env is None else env, STUDIO_HOME=str(home))
    environment.pop("STUDIO_EMBEDDED_WORKER", None)  # the app starts its own worker, as for a user
    if not worker:
        environment["STUDIO_EMBEDDED_WORKER"] = "false"
    log = open(home.parent / f"app-{port}.log", "wb")  # noqa: SIM115  (the process writes to it until stopped)
    proc = subprocess.Popen([sys.executable, "-m", "studio", "up", "--port", str(port)], env=environment,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the app exited with {proc.returncode}; see {log.name}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/_stcore/health").status_code == 200:
                return proc
        time.sleep(0.3)
    raise RuntimeError(f"the app did not answer on port {port}; see {log.name}")


def stop_studio(proc: subprocess.Popen[bytes], home: Path) -> None:
    """Stop the app, then the worker it started and any service started from the Deploy page."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=20)
    from studio.context import Studio
    from studio.export import list_services, stop_service
    from studio.settings import Settings
    from studio.worker.local import spawned_worker

    studio = Studio(Settings(home=home))
    for service in list_services(studio.engine):
        stop_service(studio.engine, service.bento_tag)
    for worker in studio.jobs.alive_workers(within_s=3600):
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker.pid, signal.SIGTERM)
    spawned = spawned_worker(studio.settings)  # one still starting has not registered yet
    if spawned is not None:
        spawned.terminate()


#: True once Streamlit says its script is not running, its running indicator is gone, and the page's elements have
#: stopped changing between two polls (the browser draws a finished run's elements over a few frames).
_SETTLED = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  const idle = app && app.getAttribute('data-test-script-state') === 'notRunning'
    && !document.querySelector('[data-testid="stStatusWidget"]');
  const n = idle ? document.querySelectorAll('[data-testid="stElementContainer"]').length : -1;
  const same = n > 0 && n === window.__studioElements;
  window.__studioElements = n;
  return same;
}"""


def settle(page: Page, timeout: int = 60_000) -> None:
    """Wait until Streamlit has finished running the script and the page has drawn what it produced."""
    page.wait_for_timeout(250)  # let a click's rerun begin before asking whether it has ended
    page.evaluate("window.__studioElements = -1")
    page.wait_for_function(_SETTLED, polling=300, timeout=timeout)


def open_app(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.locator('[data-testid="stSidebarNav"] a', has_text="Deploy")).to_be_visible(timeout=60_000)
    settle(page)


def goto(page: Page, name: str) -> None:
    """Open a sidebar page; a click that lands while a polling fragment reruns can be dropped, so retry it."""
    path = "/" if name == "Home" else f"/{name.lower()}"
    for _ in range(3):
        page.locator('[data-testid="stSidebarNav"] a', has_text=name).click()
        with contextlib.suppress(AssertionError):
            expect(page).to_have_url(re.compile(re.escape(path) + r"(\?.*)?$"), timeout=10_000)
            break
    expect(page.locator('[data-testid="stMain"] h1').first).to_be_visible(timeout=60_000)  # the page's title
    settle(page)


def open_tab(page: Page, name: str) -> None:
    page.get_by_role("tab", name=name).click()
    settle(page)


def choose(page: Page, option: str) -> None:
    """Pick an option of a horizontal radio (e.g. the Runs page's views)."""
    page.locator('[data-testid="stRadio"] label', has_text=option).first.click()
    settle(page)


def fill(page: Page, label: str, value: object) -> None:
    """Type into a text or number input by its label and submit it (Enter), then wait for the rerun."""
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    settle(page)


def multiselect(page: Page, label: str, options: list[str]) -> None:
    """Set a multiselect to exactly `options`: remove the other chosen values, then pick the missing ones."""
    box = page.get_by_role("combobox", name=label, exact=True)
    expect(box).to_be_visible(timeout=30_000)  # a page draws top to bottom: the widget may come after the text
    widget = page.locator('[data-testid="stMultiSelect"]').filter(has=box)
    expect(widget).to_have_count(1)

    def chosen() -> list[str]:
        return widget.locator("[data-tag]").evaluate_all("els => els.map(e => e.getAttribute('aria-label'))")

    for value in [v for v in chosen() if v not in options]:
        widget.get_by_role("button", name=f"Remove {value}", exact=True).click()
        settle(page)
    for option in [o for o in options if o not in chosen()]:
        box.click()
        page.get_by_role("option", name=option, exact=True).click()
        page.keyboard.press("Escape")  # close the dropdown, or it covers what is below
        settle(page)
    assert sorted(chosen()) == sorted(options), chosen()


def select_rows(page: Page, rows: list[int]) -> None:
    """st.dataframe draws on a canvas: tick rows by clicking their row-marker cells by position."""
    box = page.locator('[data-testid="stDataFrame"]').first.bounding_box()
    assert box is not None
    for row in rows:
        page.mouse.click(box["x"] + 16, box["y"] + 35 + row * 35 + 17)
        settle(page)


def start_training(page: Page) -> None:
    """Press Start training, follow the link to the job, and wait until it succeeded."""
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_text("queued. It runs in the background")).to_be_visible(timeout=30_000)
    page.get_by_text("Watch it on the Jobs page").click()
    settle(page)


def score_and_download(page: Page) -> list[dict[str, str]]:
    """On the Models page: open Batch scoring, score with the defaults, download the CSV and read its rows."""
    open_tab(page, "Batch scoring")
    page.get_by_role("button", name="Score").click()
    expect(page.get_by_role("button", name="Download")).to_be_visible(timeout=120_000)
    for attempt in range(3):  # a click that lands while a rerun is still drawing is dropped (seen under load)
        settle(page)
        try:
            with page.expect_download(timeout=20_000) as download:
                page.get_by_role("button", name="Download").click()
            break
        except PlaywrightTimeoutError:
            if attempt == 2:
                raise
    return list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))


def job_status(page: Page, status: str, timeout: int = JOB_TIMEOUT_MS) -> None:
    expect(page.locator('[data-testid="stMetricValue"]', has_text=status).first).to_be_visible(timeout=timeout)


@dataclass
class Steps:
    """Saves a screenshot per step (`NN-name.png`) into the test's artifact folder, and README screenshots into
    `readme` when a README refresh asked for them (scripts/screenshots.py)."""

    page: Page
    out: Path
    readme: Path | None = None
    taken: list[str] = field(default_factory=list)

    def shot(self, name: str, *, readme: str | None = None) -> None:
        settle(self.page)
        self.out.mkdir(parents=True, exist_ok=True)
        self.taken.append(name)
        path = self.out / f"{len(self.taken):02d}-{name}.png"
        if readme is None or self.readme is None:
            self.page.screenshot(path=str(path))
            return
        # a README picture shows the whole page: Streamlit scrolls inside its own container, so grow the viewport
        height = self.page.evaluate("document.querySelector('[data-testid=stMainBlockContainer]').scrollHeight")
        self.page.set_viewport_size({"width": VIEWPORT["width"], "height": min(max(int(height) + 80, 900), 3200)})
        settle(self.page)
        self.page.screenshot(path=str(path))
        self.readme.mkdir(parents=True, exist_ok=True)
        (self.readme / f"{readme}.png").write_bytes(path.read_bytes())
        self.page.set_viewport_size(VIEWPORT)
