"""A new user's whole journey in real Chromium, against the real app and worker (`scripts/screenshots.py`).

The script asserts each step with Playwright's `expect` (upload -> profile -> save -> train twice -> jobs
succeed -> compare two runs -> export -> start service -> "try it" answers HTTP 200) and saves a screenshot
per page; this test runs it as a user would and checks it finished with every screenshot.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow
PAGES = ["home", "data", "train", "jobs", "runs", "runs-diagnostics", "runs-explain", "models", "scoring", "deploy",
         "data-database", "runs-family"]


def test_upload_train_watch_compare_export_serve_in_chromium(tmp_path: Path) -> None:
    assert Path("/usr/bin/chromium").exists(), "Debian's chromium is needed: apt-get install chromium"
    out = tmp_path / "shots"
    env = dict(os.environ, TMPDIR=str(tmp_path))
    env.pop("STUDIO_EMBEDDED_WORKER", None)  # the app must start its own worker, as for a user
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "screenshots.py"), str(out)], env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert sorted(p.stem for p in out.glob("*.png")) == sorted(PAGES)
    assert all(p.stat().st_size > 20_000 for p in out.glob("*.png"))
