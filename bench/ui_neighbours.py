"""What a neighbour in Linux's idle scheduling class costs a page: a pure-Python loop against a loop over a large
array (memory-bound, as training is), each paired with itself paused.

    .venv/bin/python bench/ui_neighbours.py [--reruns 60]

Seeds a studio home as bench/ui.py does (500 runs); for each neighbour, starts it at SCHED_IDLE, then reruns the
Runs, Deploy and Train pages headless (AppTest), each rerun paired with one while the neighbour is stopped
(SIGSTOP), the order alternating; prints running / paused at p50 and p95. A SCHED_IDLE process never holds a core
a page wants, so what remains is what the two share besides the scheduler: caches and the memory bus.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from runs_page import _seed_real_run, _seed_runs  # noqa: E402
from ui import _quantile  # noqa: E402

from studio.context import Studio  # noqa: E402
from studio.settings import Settings  # noqa: E402

IDLE = "import os\nos.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))\n"
NEIGHBOURS = {
    "pure-Python loop": IDLE + "while True: pass",
    "sum over a 400 MB array": IDLE + "import numpy as np\na = np.random.rand(50_000_000)\nwhile True: a.sum()",
}
PAGES = ["runs", "deploy", "train"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reruns", type=int, default=60)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-neighbours-")) / "home"
    os.environ["STUDIO_HOME"] = str(home)
    os.environ["STUDIO_EMBEDDED_WORKER"] = "false"
    studio = Studio(Settings(home=home, embedded_worker=False))
    _seed_real_run(studio)
    _seed_runs(studio, 499)
    from streamlit.testing.v1 import AppTest

    print("| neighbour (SCHED_IDLE) | page | running / paused p50 | p95 | paused p50 |")
    print("|---|---|---|---|---|")
    for name, code in NEIGHBOURS.items():
        neighbour = subprocess.Popen([sys.executable, "-c", code])
        try:
            time.sleep(2)  # its array is allocated
            for page in PAGES:
                at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
                at.run()
                at.switch_page(f"app_pages/{page}.py").run()
                running: list[float] = []
                paused: list[float] = []
                for i in range(args.reruns):
                    for stopped in ((True, False) if i % 2 else (False, True)):
                        neighbour.send_signal(signal.SIGSTOP if stopped else signal.SIGCONT)
                        time.sleep(0.02)
                        started = time.perf_counter()
                        at.run()
                        (paused if stopped else running).append(time.perf_counter() - started)
                neighbour.send_signal(signal.SIGCONT)
                print(f"| {name} | {page} | x{_quantile(running, 50) / _quantile(paused, 50):.2f} "
                      f"| x{_quantile(running, 95) / _quantile(paused, 95):.2f} "
                      f"| {_quantile(paused, 50) * 1000:.0f} ms |", flush=True)
        finally:
            neighbour.send_signal(signal.SIGCONT)
            neighbour.kill()
            neighbour.wait()


if __name__ == "__main__":
    main()
