"""Saving wide tables: seconds per 1,000 columns as the column count grows, against pandas writing the same Parquet.

For each width, generates a CSV of ROWS rows (numbers and categories), then in one run side by side:

- baseline: `pandas.read_csv` + `DataFrame.to_parquet` (no hash, no column summary);
- studio:   `studio.data.sources.snapshot_file` (Parquet, content hash, per-column summary, catalog row);
- before:   the column summary as it was (one `pq.read_table` per column), on the studio's own file.

Ingest cost should grow linearly with columns: the studio's seconds per 1,000 columns stay flat across widths,
and its ratio to the baseline does not grow. (Before: 2,000 columns took 73 s to save, 10,000 never finished.)

Usage: .venv/bin/python bench/wide_tables.py [--rows 200] [--widths 500,2000,10000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq


def wide_csv(path: Path, rows: int, columns: int) -> Path:
    rng = np.random.default_rng(0)
    data = {f"n{i}": rng.normal(size=rows).round(3) for i in range(columns - columns // 4)}
    data |= {f"c{i}": rng.choice(["a", "b", "c"], rows) for i in range(columns // 4)}
    pd.DataFrame(data).to_csv(path, index=False)
    return path


def per_column_summary(path: Path) -> None:
    """The old describe_file's reads: one file open and footer parse per column."""
    for name in pq.read_schema(path).names:
        pq.read_table(path, columns=[name])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--widths", default="500,2000,10000")
    args = parser.parse_args()
    from studio.context import Studio
    from studio.data.sources import snapshot_file
    from studio.settings import Settings

    print(f"{'columns':>8} {'baseline s':>11} {'studio s':>9} {'ratio':>6} {'studio s/1k cols':>17} "
          f"{'old summary s':>14}")
    with tempfile.TemporaryDirectory() as tmp:
        studio = Studio(Settings(home=Path(tmp) / "home", embedded_worker=False))
        for width in (int(w) for w in args.widths.split(",")):
            csv = wide_csv(Path(tmp) / f"w{width}.csv", args.rows, width)
            started = time.perf_counter()
            pd.read_csv(csv, low_memory=False).to_parquet(Path(tmp) / "baseline.parquet", index=False)
            baseline = time.perf_counter() - started
            started = time.perf_counter()
            record = snapshot_file(studio.sources, csv, f"w{width}")
            ours = time.perf_counter() - started
            assert record.n_cols == width
            old = "-"
            if width <= 2000:  # the old way is quadratic: 10,000 columns never finished
                started = time.perf_counter()
                per_column_summary(Path(record.path))
                old = f"{time.perf_counter() - started:.1f}"
            print(f"{width:>8,} {baseline:>11.2f} {ours:>9.2f} {ours / baseline:>6.1f} "
                  f"{ours / width * 1000:>17.2f} {old:>14}")


if __name__ == "__main__":
    main()
