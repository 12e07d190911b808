"""Regenerate every README screenshot: run the real-browser journeys (tests/e2e) and keep their README steps.

Each journey starts a fresh studio (`studio up`: the app and its worker on a free port), seeds it the way a user
would (a sample dataset, an upload, a PostgreSQL table, trained runs) and drives it in headless Chromium; the
steps named for the README are saved full-height into OUTDIR. Needs Debian's chromium and the local PostgreSQL.

Usage: .venv/bin/python scripts/screenshots.py [OUTDIR]   (default docs/screenshots)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: The README's pictures, each saved by one step of a journey (`steps.shot(..., readme=NAME)`).
README_SHOTS = ["home", "data", "train", "jobs", "runs", "runs-diagnostics", "runs-explain", "models", "scoring",
                "deploy", "data-database", "runs-family"]


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, STUDIO_README_SHOTS=str(out.resolve()))
    status = subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "slow",
                              str(REPO / "tests" / "e2e")], env=env, cwd=REPO)
    missing = [name for name in README_SHOTS if not (out / f"{name}.png").exists()]
    if status or missing:
        print(f"journeys failed (status {status}); missing screenshots: {missing}", file=sys.stderr)
        return 1
    print(f"{len(README_SHOTS)} README screenshots in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
