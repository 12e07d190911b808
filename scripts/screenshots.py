"""Drive the real studio in headless Chromium as a new user would, and save README screenshots.

Starts `studio up` (app + worker) on a free port with a fresh STUDIO_HOME, then: uploads a CSV on the
Data page, saves it, trains twice on the Train page, waits for the jobs on the Jobs page, compares them on the Runs
leaderboard, batch-scores the dataset on the Models page, converts the model to ONNX (parity holds) and exports a
bento on the Deploy page, starts the service and sends it a row; then reads a table of the local PostgreSQL server
on the Data page's Database tab and trains one model per partition on it (plan x auto_pay), shown on the Runs page.
Needs Debian's chromium (apt-get install chromium).

Usage: .venv/bin/python scripts/screenshots.py [OUTDIR]   (default docs/screenshots)
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import sqlalchemy as sa
from playwright.sync_api import Page, expect, sync_playwright

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from studio.export.serving import free_port  # noqa: E402
from tests.conftest import churn_frame  # noqa: E402

POSTGRES_URL = os.environ.get("STUDIO_TEST_POSTGRES_DB", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-quic"]


def start_studio(home: Path, port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ, STUDIO_HOME=str(home), STUDIO_EMBEDDED_WORKER="true")
    proc = subprocess.Popen([sys.executable, "-m", "studio", "up", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/_stcore/health").status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.5)
    raise RuntimeError("the app did not start")


def settle(page: Page) -> None:
    """Wait until Streamlit has finished running the script (its status widget disappears)."""
    page.wait_for_timeout(300)
    expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0, timeout=60_000)


def goto(page: Page, name: str) -> None:
    """Open a sidebar page; a click that lands while a polling fragment reruns can be dropped, so retry it."""
    print(f"step: open {name}", flush=True)
    path = "/" if name == "Home" else f"/{name.lower()}"
    for _ in range(3):
        page.locator('[data-testid="stSidebarNav"] a', has_text=name).click()
        with contextlib.suppress(AssertionError):
            expect(page).to_have_url(re.compile(re.escape(path) + r"(\?.*)?$"), timeout=10_000)
            break
    settle(page)


def open_tab(page: Page, name: str) -> None:
    print(f"step: tab {name}", flush=True)
    page.get_by_role("tab", name=name).click()
    settle(page)


def choose(page: Page, option: str) -> None:
    """Pick an option of a horizontal radio (the Runs page's views)."""
    print(f"step: view {option}", flush=True)
    page.locator('[data-testid="stRadio"] label', has_text=option).first.click()
    settle(page)


def select_rows(page: Page, rows: list[int]) -> None:
    """st.dataframe draws on a canvas: tick rows by clicking their row-marker cells by position."""
    box = page.locator('[data-testid="stDataFrame"]').first.bounding_box()
    assert box is not None
    for row in rows:
        page.mouse.click(box["x"] + 16, box["y"] + 35 + row * 35 + 17)
        settle(page)


def shot(page: Page, out: Path, name: str) -> None:
    """Streamlit scrolls inside its own container, so grow the viewport to the content, then shoot."""
    settle(page)
    height = page.evaluate("document.querySelector('[data-testid=stMainBlockContainer]').scrollHeight")
    page.set_viewport_size({"width": 1400, "height": min(max(int(height) + 80, 900), 3200)})
    settle(page)
    page.screenshot(path=str(out / f"{name}.png"))
    page.set_viewport_size({"width": 1400, "height": 1000})
    print(f"saved {out / name}.png")


def journey(page: Page, url: str, out: Path, csv_path: Path) -> None:
    page.goto(url)
    # wait for the app's own navigation and title
    expect(page.locator('[data-testid="stSidebarNav"] a', has_text="Deploy")).to_be_visible(timeout=60_000)
    expect(page.get_by_role("heading", name="ML Studio")).to_be_visible(timeout=60_000)
    shot(page, out, "home")
    goto(page, "Data")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(csv_path))
    expect(page.get_by_text("Distributions")).to_be_visible(timeout=30_000)
    shot(page, out, "data")
    page.get_by_role("button", name="Save dataset").click()
    expect(page.get_by_text("Saved churn-v1")).to_be_visible(timeout=30_000)

    for n_trials, validation in ((6, "holdout"), (12, None)):  # two runs, so the Runs page can compare them
        goto(page, "Train")
        if validation:
            page.get_by_text(validation, exact=True).click()
            settle(page)
        trials = page.get_by_label("Max trials (0 = no limit)")
        trials.fill(str(n_trials))
        trials.press("Enter")
        settle(page)
        if validation is None:
            page.get_by_text("Data preparation").click()  # show the cleaning choices in the screenshot
            settle(page)
            shot(page, out, "train")
        page.get_by_role("button", name="Start training").click()
        expect(page.get_by_text("queued. It runs in the background")).to_be_visible(timeout=30_000)
        page.get_by_text("Watch it on the Jobs page").click()
        settle(page)
        expect(page.locator('[data-testid="stMetricValue"]', has_text="succeeded")).to_be_visible(timeout=240_000)
    shot(page, out, "jobs")

    goto(page, "Runs")
    expect(page.get_by_text("2 of 2 runs match")).to_be_visible(timeout=30_000)
    select_rows(page, [0, 1])
    expect(page.get_by_text("2 runs selected")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Only rows that differ")).to_be_visible(timeout=30_000)
    shot(page, out, "runs")
    choose(page, "Diagnostics")
    expect(page.get_by_text("Error by segment of", exact=True)).to_be_visible(timeout=60_000)
    shot(page, out, "runs-diagnostics")
    choose(page, "Explain")
    expect(page.get_by_text("Partial dependence on", exact=True)).to_be_visible(timeout=60_000)
    shot(page, out, "runs-explain")

    goto(page, "Models")  # promote the newest version to champion, then batch-score the dataset with it
    open_tab(page, "Promote or roll back")
    page.get_by_role("button", name="Promote v2 to 'champion'").click()
    expect(page.get_by_text("'churn@champion' now points at v2.")).to_be_visible(timeout=60_000)
    shot(page, out, "models")
    open_tab(page, "Batch scoring")
    page.get_by_role("button", name="Score").click()
    expect(page.get_by_role("button", name="Download")).to_be_visible(timeout=120_000)
    shot(page, out, "scoring")

    goto(page, "Deploy")
    page.get_by_role("button", name="Convert to ONNX").click()
    expect(page.get_by_text("parity holds")).to_be_visible(timeout=240_000)
    page.get_by_role("button", name="Export as bento").click()
    expect(page.get_by_text("Exported services")).to_be_visible(timeout=240_000)
    page.get_by_role("button", name="Start service").click()
    expect(page.get_by_role("button", name="Send request")).to_be_visible(timeout=120_000)
    page.get_by_role("button", name="Send request").click()
    expect(page.get_by_text("HTTP 200")).to_be_visible(timeout=60_000)
    shot(page, out, "deploy")
    page.get_by_role("button", name="Stop service").click()
    settle(page)
    database_step(page, out)
    family_step(page, out)


def family_step(page: Page, out: Path) -> None:
    """Train one model per plan x auto_pay on the database snapshot, then open its Partitions view."""
    goto(page, "Train")
    page.get_by_text("Many models: one model per partition").click()
    settle(page)
    for column in ("plan", "auto_pay"):
        page.locator('[data-testid="stMultiSelect"]', has_text="Partition columns").click()
        page.get_by_role("option", name=column, exact=True).click()
        page.keyboard.press("Escape")  # close the dropdown, or it covers the buttons below
        settle(page)
    expect(page.get_by_text("get their own model")).to_be_visible(timeout=30_000)
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_text("queued. It runs in the background")).to_be_visible(timeout=30_000)
    page.get_by_text("Watch it on the Jobs page").click()
    settle(page)
    expect(page.locator('[data-testid="stMetricValue"]', has_text="succeeded")).to_be_visible(timeout=240_000)
    goto(page, "Runs")
    name = page.locator('input[aria-label="Name contains"]')
    name.fill("warehouse")
    name.press("Enter")
    settle(page)
    expect(page.get_by_text("1 of 3 runs match")).to_be_visible(timeout=30_000)
    select_rows(page, [0])
    expect(page.get_by_text("Beat their baseline")).to_be_visible(timeout=60_000)
    shot(page, out, "runs-family")


def database_step(page: Page, out: Path) -> None:
    """Read a table of the local PostgreSQL server through the Data page's Database tab, as a snapshot."""
    url = sa.make_url(POSTGRES_URL)
    table = f"shots_churn_{uuid.uuid4().hex[:6]}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        churn_frame(800, seed=1).to_sql(table, conn, index=False)
    try:
        goto(page, "Data")
        open_tab(page, "Database")
        for label, value in (("Host", url.host), ("Port (0 = the database's default)", str(url.port)),
                             ("Database", url.database), ("User", url.username), ("Save as", "warehouse")):
            page.locator(f'[data-testid="stForm"] input[aria-label="{label}"]').fill(str(value))
        page.locator("button", has_text="Connect").last.click()
        expect(page.get_by_text("Connected to")).to_be_visible(timeout=30_000)
        page.get_by_role("combobox", name="Table").click()
        page.get_by_role("option", name=table).click()
        settle(page)
        name = page.locator('input[aria-label="Dataset name"]').first
        name.fill("warehouse churn")
        name.press("Enter")
        settle(page)
        page.get_by_role("button", name="Take snapshot").first.click()
        expect(page.get_by_text("Saved warehouse-churn-v1")).to_be_visible(timeout=60_000)
        shot(page, out, "data-database")
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP TABLE IF EXISTS "{table}"'))
        engine.dispose()


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="studio-shots-"))
    csv_path = work / "churn.csv"
    churn_frame(1500).to_csv(csv_path, index=False)
    port = free_port()
    app = start_studio(work / "home", port)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            try:
                journey(page, f"http://127.0.0.1:{port}", out, csv_path)
            except Exception:  # leave evidence of where the journey broke, then fail
                page.screenshot(path=str(out / "failure.png"))
                print("page text at failure:\n" + page.locator("body").inner_text()[:3000], flush=True)
                print(f"logs: {work / 'home' / 'logs'}", flush=True)
                raise
            finally:
                browser.close()
    finally:
        os.killpg(app.pid, 15)
        stop_workers(work / "home")


def stop_workers(home: Path) -> None:
    """The app started a detached worker for this home; stop it (and any service) with the session."""
    from studio.context import Studio
    from studio.export import list_services, stop_service
    from studio.settings import Settings

    studio = Studio(Settings(home=home))
    for service in list_services(studio):
        stop_service(studio, service.bento_tag)
    for worker in studio.jobs.alive_workers(within_s=3600):
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker.pid, signal.SIGTERM)


if __name__ == "__main__":
    main()
