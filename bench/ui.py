"""How responsive the pages are on a studio holding 500 runs: idle, and while a training job runs beside them.

    .venv/bin/python bench/ui.py [--runs 500] [--reruns 40]

Seeds a fresh studio home with one real training run and 499 more indexed runs (bench/runs_page.py's seeding),
then, side by side in this session:
1. page rerun time: each sidebar page's script re-run headless (Streamlit's AppTest, after one warm run), p50 and
   p95 of `--reruns` runs, first with the studio idle (a warm worker, as `studio up` leaves it, with no job:
   "idle before"), then while a training job (on that worker, on the `large` compute size, so every core is busy)
   runs. While it runs, the reruns come in pairs: one with the worker idle in effect (it and its Dask workers
   stopped, SIGSTOP: nothing of the job uses the CPU, its memory and files stay as they are; its pages-first guard
   answers the page as it answers for an idle worker) and one with the job running. The ratio running / idle
   compares the two in the same minutes, so a drift of the machine between the idle phase and the busy one (these
   VMs' speed moves by 10-20 % from minute to minute) does not count as the job's cost; the ratio against "idle
   before" is printed too. Until 2026-12-07 the paired half stopped the guard too and did not wait for its answer,
   which no page of a studio with a worker does, idle or not: its round trip and what it costs the run after it
   counted as the job's (docs/benchmarks.md has both). Two tables: AppTest's whole run, and the script alone up to
   the end of its pages-first hold (after it AppTest builds its element tree, which the app itself does not,
   beside the training; on home that part moved the ratio little: docs/benchmarks.md);
2. time to first paint: `studio up` serves the app; headless Chromium opens each page's URL in a fresh browser
   context and waits until Streamlit has finished the run (its status widget is gone): the first visit (the app's
   caches cold) and the median of 3 more.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from runs_page import _seed_real_run, _seed_runs  # noqa: E402

from studio.context import Studio  # noqa: E402
from studio.settings import Settings  # noqa: E402

PAGES = ["home", "data", "train", "jobs", "runs", "models", "deploy"]


def _quantile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def rerun_times(reruns: int, pause: Callable[[bool], None] | None = None
                ) -> tuple[dict[str, list[float]], dict[str, list[float]], dict[str, list[float]],
                           dict[str, list[float]]]:
    """Seconds per script re-run of each page, headless: (running, paused), each as AppTest's whole run and as the
    script alone (up to the end of its pages-first hold: AppTest then builds its element tree, which the app does
    not, beside the training once the hold is over). With `pause`, each rerun is paired with one while
    `pause(True)` holds the job's processes stopped (its guard answering: an idle worker); without, the paused
    ones are empty."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from studio.worker import yielding

    real_pages_first = yielding.pages_first
    held_until: list[float] = []

    @contextlib.contextmanager
    def timed_pages_first(*args: object, **kwargs: object):  # the page's hold, its end noted
        with real_pages_first(*args, **kwargs):  # type: ignore[arg-type]
            yield
        held_until.append(time.perf_counter())

    def timed(at: AppTest) -> tuple[float, float]:
        held_until.clear()
        started = time.perf_counter()
        at.run()
        ended = time.perf_counter()
        return ended - started, (held_until[-1] if held_until else ended) - started

    running: dict[str, list[float]] = {}
    paused: dict[str, list[float]] = {}
    running_script: dict[str, list[float]] = {}
    paused_script: dict[str, list[float]] = {}
    yielding.pages_first = timed_pages_first
    try:
        for page in PAGES:
            st.cache_data.clear()
            at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
            at.run()
            if page != "home":
                at.switch_page(f"app_pages/{page}.py").run()
            assert not at.exception, [e.value for e in at.exception]
            for i in range(reruns):
                pair = (False,) if pause is None else ((True, False) if i % 2 else (False, True))  # alternate firsts
                for stopped in pair:
                    if pause is not None:
                        pause(stopped)
                        time.sleep(0.02)  # the job's threads have left the CPUs, or are back on them
                    whole, script = timed(at)
                    (paused if stopped else running).setdefault(page, []).append(whole)
                    (paused_script if stopped else running_script).setdefault(page, []).append(script)
            if pause is not None:
                pause(False)
    finally:
        yielding.pages_first = real_pages_first
    return running, paused, running_script, paused_script


def pauser(pid: int, which: str = "all") -> Callable[[bool], None]:
    """Stops (True) or continues (False) a worker process and every process it started (its Dask workers) but its
    pages-first guard, which answers pages as for an idle worker; `which`: "all", "compute" (the Dask workers only:
    the job's own process, its search driver and its writes to the studio's databases, keeps running) or "driver"
    (the job's own process only)."""
    import psutil

    from studio.worker.yielding import is_guard

    def pause(stop: bool) -> None:
        root = psutil.Process(pid)
        below = [p for p in root.children(recursive=True) if not is_guard(p)]
        chosen = {"all": [root, *below], "compute": below, "driver": [root]}[which]
        for process in chosen:
            with contextlib.suppress(psutil.NoSuchProcess):  # a trial's process may have ended
                process.send_signal(signal.SIGSTOP if stop else signal.SIGCONT)

    return pause


def first_paint(home: Path, repeat: int = 3) -> dict[str, tuple[float, float]]:
    """Seconds from opening a page's URL until Streamlit finished rendering it: first visit, median of more."""
    from playwright.sync_api import expect, sync_playwright

    from studio.export.serving import free_port
    from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, start_studio, stop_studio

    port = free_port()
    app = start_studio(home, port)
    out = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            for page_name in PAGES:
                times = []
                for _ in range(1 + repeat):
                    context = browser.new_context(viewport=VIEWPORT)
                    page = context.new_page()
                    started = time.perf_counter()
                    page.goto(f"http://127.0.0.1:{port}/" + ("" if page_name == "home" else page_name))
                    expect(page.locator('[data-testid="stSidebarNav"]')).to_be_visible(timeout=120_000)
                    expect(page.locator('[data-testid="stMainBlockContainer"] h1').first).to_be_visible(timeout=120_000)
                    expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0, timeout=120_000)
                    times.append(time.perf_counter() - started)
                    context.close()
                out[page_name] = (times[0], statistics.median(times[1:]))
            browser.close()
    finally:
        stop_studio(app, home)
    return out


def _print_reruns(args: argparse.Namespace, before: dict[str, list[float]], idle: dict[str, list[float]],
                  busy: dict[str, list[float]], after: dict[str, list[float]], what: str = "AppTest's whole run"
                  ) -> None:
    print(f"\nPage rerun on a studio with {args.runs} runs, {args.reruns} reruns each ({what}), p50 / p95; "
          f"paused: {args.pause}:\n")
    print("| page | idle before | job paused, guard answering | job running | running / paused (target p95: <= x1.2) "
          "| p95 ratio, 90 % interval | running / idle before | running / idle after |")
    print("|---|---|---|---|---|---|---|---|")

    def ms(values: list[float]) -> str:
        return f"{_quantile(values, 50) * 1000:.0f} / {_quantile(values, 95) * 1000:.0f} ms"

    def ratio(a: list[float], b: list[float]) -> str:
        return f"x{_quantile(a, 50) / _quantile(b, 50):.2f} / x{_quantile(a, 95) / _quantile(b, 95):.2f}"

    for page in PAGES:
        print(f"| {page} | {ms(before[page])} | {ms(idle[page])} | {ms(busy[page])} "
              f"| {ratio(busy[page], idle[page])} | {p95_interval(busy[page], idle[page])} "
              f"| {ratio(busy[page], before[page])} | {ratio(busy[page], after[page])} |")


def p95_interval(a: list[float], b: list[float], draws: int = 2000) -> str:
    """A bootstrap 90 % interval of p95(a) / p95(b): how far the p95 ratio of these reruns can be trusted (on a
    10 ms page it moved by 0.2-0.4 from run to run)."""
    import numpy as np

    rng = np.random.default_rng(0)
    a_, b_ = np.asarray(a), np.asarray(b)
    ratios = [np.quantile(rng.choice(a_, len(a_)), 0.95) / np.quantile(rng.choice(b_, len(b_)), 0.95)
              for _ in range(draws)]
    low, high = np.quantile(ratios, [0.05, 0.95])
    return f"x{low:.2f}-{high:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--reruns", type=int, default=40)
    parser.add_argument("--pause", choices=["all", "compute", "driver"], default="all",
                        help="what the paired reruns pause: the whole job (default), only its Dask workers, or "
                             "only the job's own process (to see which costs the pages)")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-ui-")) / "home"
    os.environ["STUDIO_HOME"] = str(home)
    os.environ["STUDIO_EMBEDDED_WORKER"] = "false"  # the bench starts its own worker
    studio = Studio(Settings(home=home, embedded_worker=False))
    _seed_real_run(studio)
    _seed_runs(studio, args.runs - 1)
    print(f"seeded {args.runs} runs in {home}", flush=True)

    spec = studio.jobs.list(limit=1)[0].payload  # the real run's spec, longer and on every core
    from studio.training.spec import TrainSpec

    busy_spec = TrainSpec.parse({**spec, "compute": "large", "budget": {"seconds": 600, "max_trials": None},
                                 "name": "busy"})
    log = home.parent / "worker.log"
    with open(log, "wb") as out:
        worker = subprocess.Popen([sys.executable, "-m", "studio", "worker"], env=dict(os.environ), stdout=out,
                                  stderr=subprocess.STDOUT)
    job = None
    try:
        # a worker as `studio up` leaves it (imports done, its cluster started): idle, then taking the job; the
        # pages are measured while it trains, not while a fresh worker starts
        while b"warm in" not in log.read_bytes():
            time.sleep(0.2)
        before, _, before_script, _ = rerun_times(args.reruns)
        job = studio.submit_training(busy_spec)
        while studio.jobs.get(job.id).progress.get("trials_done", 0) < 2:  # the search is under way
            time.sleep(0.2)
        pause = pauser(worker.pid, args.pause)
        try:
            busy, idle, busy_script, idle_script = rerun_times(args.reruns, pause)
        finally:
            pause(False)
        studio.jobs.request_cancel(job.id)
        while not studio.jobs.get(job.id).status.is_final:
            time.sleep(0.2)
        after, _, after_script, _ = rerun_times(args.reruns)  # idle again: brackets the busy phase's drift
    finally:
        if job is not None:
            studio.jobs.request_cancel(job.id)
        worker.terminate()
        worker.wait(timeout=60)
    paint = first_paint(home)

    _print_reruns(args, before, idle, busy, after)
    _print_reruns(args, before_script, idle_script, busy_script, after_script,
                  what="the script alone, to the end of its hold")
    print("\nTime to first paint in Chromium (`studio up`), first visit / median of 3 more:\n")
    print("| page | first visit | again |")
    print("|---|---|---|")
    for page in PAGES:
        first, again = paint[page]
        print(f"| {page} | {first:.2f} s | {again:.2f} s |")


if __name__ == "__main__":
    main()
