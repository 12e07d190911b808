"""Ingesting a big CSV: the studio's streaming snapshot against plain pandas, side by side in one run.

Generates a CSV of ROWS x 20 columns (numbers, categories, missing values, dates), then runs each way in its
own fresh process (so each one's peak memory is its own) and prints time and peak resident memory, with
the studio's figures as ratios to the baseline:

- baseline: `pandas.read_csv` + `DataFrame.to_parquet` (what a notebook does; no hash, no column summary);
- studio:   `studio.data.sources.snapshot_file` (stream to Parquet, hash, per-column summary, catalog row);
- studio profile: the Data page's profile of the saved snapshot (a sample read in bounded memory).

Usage: .venv/bin/python bench/data.py [--rows 1000000] [--repeat 1]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

BASELINE = """
import pandas as pd, sys
frame = pd.read_csv(sys.argv[1], low_memory=False)
frame.to_parquet(sys.argv[2], index=False)
"""

STUDIO = """
import sys
from pathlib import Path
from studio.context import Studio
from studio.data.sources import snapshot_file
from studio.settings import Settings
record = snapshot_file(Studio(Settings(home=Path(sys.argv[2]))).sources, Path(sys.argv[1]), "big")
assert record.n_rows > 0
"""

PROFILE = """
import sys
from pathlib import Path
from studio.context import Studio
from studio.data.profile import PROFILE_SAMPLE_ROWS, profile_frame
from studio.settings import Settings
studio = Studio(Settings(home=Path(sys.argv[2])))
record = studio.catalog.list()[0]
sample = studio.catalog.sample(record.id, PROFILE_SAMPLE_ROWS)
profile = profile_frame(sample, total_rows=record.n_rows, columns=record.columns)
assert profile.n_rows == record.n_rows
"""


MAKE_CSV = """
import sys
import numpy as np, pandas as pd
rows = int(sys.argv[2])
rng = np.random.default_rng(0)
columns = {}
for i in range(12):
    values = rng.normal(100, 30, rows).round(3)
    values[rng.random(rows) < 0.05] = np.nan
    columns[f"num_{i}"] = values
for i in range(5):
    columns[f"cat_{i}"] = rng.choice([f"level_{k}" for k in range(8 * (i + 1))], rows)
columns["day"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 700, rows), unit="D")
columns["count"] = rng.integers(0, 1000, rows)
columns["target"] = rng.integers(0, 2, rows)
pd.DataFrame(columns).to_csv(sys.argv[1], index=False)
"""


def run(code: str, *args: str) -> tuple[float, float]:
    """Seconds and peak resident memory (MB) of `code` in a fresh interpreter. (Linux counts a child's peak
    from before its exec too, so this process stays small: it never imports pandas or numpy.)"""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, *args], cwd=REPO)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"benchmark step failed with status {status}")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "big.csv"
        run(MAKE_CSV, str(csv_path), str(args.rows))
        size_mb = csv_path.stat().st_size / 2**20
        print(f"CSV: {args.rows:,} rows x 20 columns, {size_mb:.0f} MB")
        results: dict[str, list[tuple[float, float]]] = {"baseline": [], "studio": [], "profile": []}
        for i in range(args.repeat):
            home = Path(tmp) / f"home-{i}"
            results["baseline"].append(run(BASELINE, str(csv_path), str(Path(tmp) / "baseline.parquet")))
            results["studio"].append(run(STUDIO, str(csv_path), str(home)))
            results["profile"].append(run(PROFILE, str(csv_path), str(home)))
    base_s = min(s for s, _ in results["baseline"])
    base_mb = min(m for _, m in results["baseline"])
    print(f"{'step':42} {'seconds':>8} {'peak MB':>8} {'time ratio':>10} {'memory ratio':>12}")
    for name, label in (("baseline", "pandas read_csv + to_parquet (baseline)"),
                        ("studio", "studio snapshot (stream, hash, summary)"),
                        ("profile", "studio profile of the snapshot (sample)")):
        seconds = min(s for s, _ in results[name])
        peak = min(m for _, m in results[name])
        print(f"{label:42} {seconds:8.1f} {peak:8.0f} {seconds / base_s:10.2f} {peak / base_mb:12.2f}")


if __name__ == "__main__":
    main()
