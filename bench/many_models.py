"""Many models, side by side in one run, on the synthetic store x item sales set (`studio.many.synthetic`).

    .venv/bin/python bench/many_models.py [--partitions 1000,10000] [--days 60] [--compute large]

For each partition count, in this order:
1. training: the studio's family job (`train_family`: Dask fan-out, fallback, MLflow run, registration, evaluation)
   against a naive pandas `groupby` loop fitting the same pipeline per partition in one process: models per
   core-minute (the studio's cores are its compute size's) and the ratio; each in its own process, with its peak
   resident memory (the studio's is its main process; its Dask workers are separate processes);
2. routed batch scoring of every row (the registered family, `score_file` in chunks) against loading each
   partition's model from its own file and predicting partition by partition: rows per second and the ratio;
3. accuracy: how many partition models beat their baseline (the partition's training mean) on held-out rows;
and once, for the smaller count: the same partitions trained as a forecast `--horizon` days ahead (the last days
held out; the baseline the better of last value and seasonal naive), and the served bento's single-row latency
p50/p99 with a cold cache (each request a partition not loaded yet) and a warm one (the same partitions again).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

TRAIN_STUDIO = """
import json, sys, time
from pathlib import Path
from typing import Any
import pandas as pd
from studio.context import Studio
from studio.many.train import train_family, PARTITIONS_TABLE
from studio.settings import Settings
from studio.training.draft import draft_spec
from tests.conftest import ListReporter
if __name__ == "__main__":
    home, data, compute = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    horizon = int(sys.argv[4]) if len(sys.argv) > 4 else 0  # > 0: a forecast this many days ahead
    studio = Studio(Settings(home=home, embedded_worker=False))
    frame = pd.read_parquet(data)
    record = studio.catalog.save(frame, "sales", source="bench")
    spec = draft_spec(record, frame, target="sales", algorithms=["linear"], validation={"kind": "holdout"},
                      compute=compute, budget=Budget(seconds=None, max_trials=1),
                      partition=Partitioning(columns=["store", "item"], min_rows=20),
                      forecast=Forecasting(time_column="date", horizon=horizon) if horizon else None)
    profile = studio.profile(compute)
    started = time.perf_counter()
    result = train_family(spec, catalog=studio.catalog, tracker=studio.tracker, job_id="bench", profile=profile,
                          reporter=ListReporter())
    seconds = time.perf_counter() - started
    table = studio.tracker.load_table(result.run_id, PARTITIONS_TABLE)
    print(json.dumps({"seconds": seconds, "cores": profile.parallel_trials, "model_uri": result.model_uri,
                      "modeled": int((table["status"] == "model").sum()),
                      "beats": float(((table["score"] < table["baseline"]) & (table["status"] == "model")).sum()),
                      "improvement": float(((table["baseline"] - table["score"]) / table["baseline"])
                                           [table["status"] == "model"].median())}))
"""

TRAIN_NAIVE = """
import json, sys, time
import numpy as np, pandas as pd
from pathlib import Path
from typing import Any
from sklearn.model_selection import train_test_split
from studio.context import Studio
from studio.settings import Settings
from studio.training.draft import draft_spec
from studio.training.estimators import ESTIMATORS, strip_prefix
from studio.training.features import model_frame
from studio.training.search import make_pipeline
if __name__ == "__main__":
    home, data = Path(sys.argv[1]), sys.argv[2]
    frame = pd.read_parquet(data)
    studio = Studio(Settings(home=home, embedded_worker=False))
    record = studio.catalog.save(frame, "sales", source="bench")
    spec = draft_spec(record, frame, target="sales", algorithms=["linear"], budget=Budget(seconds=None, max_trials=1),
                      partition=Partitioning(columns=["store", "item"], min_rows=20))
    sub = spec.model_copy(update={"features": tuple(f for f in spec.features if f.name not in ("store", "item"))})
    params = strip_prefix("linear", ESTIMATORS["linear"].defaults)
    started = time.perf_counter()
    fitted = 0
    train_rows, _ = train_test_split(np.arange(len(frame)), test_size=spec.test_fraction, random_state=spec.seed)
    train = frame.iloc[np.sort(train_rows)]
    for _, part in train.groupby(["store", "item"], sort=False):
        if len(part) < 20:
            continue
        make_pipeline(sub, "linear", params, n_jobs=1).fit(model_frame(part, sub.features), part["sales"].to_numpy())
        fitted += 1
    print(json.dumps({"seconds": time.perf_counter() - started, "cores": 1, "modeled": fitted}))
"""

SCORE = """
import json, sys, time, tempfile
from pathlib import Path
from typing import Any
import numpy as np, pandas as pd, skops.io as sio
from studio.context import Studio
from studio.scoring import score_file
from studio.many.router import partition_rows
from studio.settings import Settings
from studio.training.features import model_frame
if __name__ == "__main__":
    home, data, model_uri = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    studio = Studio(Settings(home=home, embedded_worker=False))
    model = studio.tracker.load_model(model_uri)
    rows = len(pd.read_parquet(data, columns=["sales"]))
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        score_file(model, data, Path(tmp) / "scored.parquet")
        routed = time.perf_counter() - started
        router = model.pipeline
        folder = Path(tmp) / "models"
        folder.mkdir()
        for key, blob in router.models.items():  # the baseline: one model file per partition
            (folder / f"{abs(hash(key))}.skops").write_bytes(blob)
        frame = pd.read_parquet(data)
        started = time.perf_counter()
        X = model_frame(frame, model.info.features)
        out = np.zeros(len(X))
        for key, idx in partition_rows(X, list(router.partition_columns)).items():
            path = folder / f"{abs(hash(key))}.skops"
            part = X.iloc[idx]
            fitted = sio.load(path, trusted=list(router.trusted)) if path.exists() else router.fallback
            out[idx] = fitted.predict(part)
        per_partition = time.perf_counter() - started
    print(json.dumps({"rows": rows, "routed_s": routed, "per_partition_s": per_partition}))
"""


def run(code: str, *args: str) -> tuple[dict, float]:
    """The JSON line `code` prints and its peak resident memory (MB), in a fresh interpreter.
    (Linux counts a child's peak from before its exec too; this process stays small: no pandas import.)"""
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as script:
        script.write(code)  # a file, not -c: Dask's spawned workers re-import the main module
    try:
        proc = subprocess.Popen([sys.executable, script.name, *args], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        out = proc.stdout.read() if proc.stdout else ""
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        os.unlink(script.name)
    if status != 0:
        raise SystemExit(f"benchmark step failed (status {status})")
    return json.loads(out.strip().splitlines()[-1]), usage.ru_maxrss / 1024


MAKE = """
import sys
from studio.many.synthetic import store_item_sales
if __name__ == "__main__":
    stores, items, days = (int(v) for v in sys.argv[2:5])
    store_item_sales(stores, items, days, seed=1).to_parquet(sys.argv[1], index=False)
    print('{}')
"""


def service_latency(home: Path, model_uri: str, data: Path) -> dict[str, float]:
    import httpx

    code = f"""
import json, sys
from pathlib import Path
from typing import Any
from studio.context import Studio
from studio.export.bento import export_bento
from studio.settings import Settings
from studio.training.spec import Budget, Forecasting, Partitioning
if __name__ == "__main__":
    print(json.dumps({{"tag": export_bento(Studio(Settings(home=Path({str(home)!r}))), {model_uri!r}).bento_tag}}))
"""
    tag = run(code)[0]["tag"]
    from studio.export.serving import start_service, stop_service, wait_ready

    sys.path.insert(0, str(ROOT))
    from studio.context import Studio
    from studio.settings import Settings

    studio = Studio(Settings(home=home, embedded_worker=False))
    os.environ["STUDIO_FAMILY_CACHE_SIZE"] = "64"
    service = start_service(studio.settings, studio.engine, tag)
    try:
        wait_ready(service, timeout=180)
        import pyarrow.parquet as pq

        frame = pq.read_table(data).to_pandas()
        rows = frame.drop(columns=["sales"]).groupby(["store", "item"]).head(1).head(200)
        payloads = [json.loads(r.to_json(date_format="iso")) for _, r in rows.iterrows()]
        with httpx.Client(timeout=60) as client:
            def latency(batch: list[dict]) -> list[float]:
                times = []
                for row in batch:
                    started = time.perf_counter()
                    response = client.post(f"{service.url}/predict", json={"rows": [row]})
                    response.raise_for_status()
                    times.append((time.perf_counter() - started) * 1000)
                return times
            cold = latency(payloads[:64])  # each a partition not loaded yet
            warm = latency(payloads[:64] * 3)  # the same 64 again: all in the cache
            info = client.post(f"{service.url}/cache_info", json={}).json()
    finally:
        stop_service(studio.engine, tag)
    q = lambda v, p: statistics.quantiles(v, n=100)[p - 1]  # noqa: E731
    return {"cold_p50": q(cold, 50), "cold_p99": q(cold, 99), "warm_p50": q(warm, 50), "warm_p99": q(warm, 99),
            "hits": info["hits"], "misses": info["misses"]}


def print_table(lines: list[dict[str, Any]]) -> None:
    print("\n| partitions | studio: models per core-minute (wall s, cores) | naive groupby loop (wall s) | ratio "
          "| peak MB studio / naive | routed scoring rows/s | per-partition loading rows/s | ratio "
          "| beat baseline | median RMSE gain |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for x in lines:
        print(f"| {x['partitions']:,} | {x['studio_per_core_min']:,.0f} ({x['studio_s']:.0f} s, {x['studio_cores']}) "
              f"| {x['naive_per_core_min']:,.0f} ({x['naive_s']:.0f} s) | x{x['ratio']:.2f} "
              f"| {x['studio_peak_mb']:.0f} / {x['naive_peak_mb']:.0f} | {x['routed_rows_s']:,.0f} "
              f"| {x['per_partition_rows_s']:,.0f} | x{x['routed_rows_s'] / x['per_partition_rows_s']:.2f} "
              f"| {x['beats_share']:.0%} | {x['improvement']:.0%} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--partitions", default="1000,10000")
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--compute", default="large")
    parser.add_argument("--skip-service", action="store_true")
    parser.add_argument("--horizon", type=int, default=14, help="forecast days ahead for the accuracy check "
                                                                "against the naive forecasts (0: skip it)")
    args = parser.parse_args()
    counts = [int(v) for v in args.partitions.split(",")]
    lines = []
    served: tuple[Path, str, Path] | None = None
    with tempfile.TemporaryDirectory() as tmp:
        for count in counts:
            stores = 10 if count <= 1000 else 40
            items = max(count * 4 // (3 * stores), 1)  # about 3 in 4 items are stocked per store
            data = Path(tmp) / f"sales-{count}.parquet"
            run(MAKE, str(data), str(stores), str(items), str(args.days))
            home = Path(tmp) / f"home-{count}"
            studio_out, studio_mb = run(TRAIN_STUDIO, str(home), str(data), args.compute)
            naive_out, naive_mb = run(TRAIN_NAIVE, str(Path(tmp) / f"naive-{count}"), str(data))
            per_core_min = lambda o: o["modeled"] / (o["seconds"] * o["cores"] / 60)  # noqa: E731
            scoring, _ = run(SCORE, str(home), str(data), studio_out["model_uri"])
            line = {"partitions": studio_out["modeled"], "studio_s": studio_out["seconds"],
                    "studio_cores": studio_out["cores"], "studio_per_core_min": per_core_min(studio_out),
                    "naive_s": naive_out["seconds"], "naive_per_core_min": per_core_min(naive_out),
                    "ratio": per_core_min(studio_out) / per_core_min(naive_out), "studio_peak_mb": studio_mb,
                    "naive_peak_mb": naive_mb, "rows": scoring["rows"],
                    "routed_rows_s": scoring["rows"] / scoring["routed_s"],
                    "per_partition_rows_s": scoring["rows"] / scoring["per_partition_s"],
                    "beats_share": studio_out["beats"] / max(studio_out["modeled"], 1),
                    "improvement": studio_out["improvement"]}
            lines.append(line)
            print(json.dumps(line), flush=True)
            if count == min(counts):
                served = (home, studio_out["model_uri"], data)
                if args.horizon:  # the same partitions as a forecast: the last days held out, naive baselines
                    forecast, _ = run(TRAIN_STUDIO, str(Path(tmp) / "forecast"), str(data), args.compute,
                                      str(args.horizon))
                    print(json.dumps({"forecast": forecast}), flush=True)
        if not args.skip_service:  # last: it imports the studio here, which would inflate the children's peaks
            assert served is not None
            latency = service_latency(*served)
            print(json.dumps({"service": latency}), flush=True)
    print_table(lines)
    if args.horizon:
        print(f"\nForecasting {args.horizon} days ahead ({forecast['modeled']:,} partition models, "
              f"{forecast['seconds']:.0f} s): {forecast['beats'] / max(forecast['modeled'], 1):.0%} beat the better "
              f"of last value and seasonal naive; median RMSE gain over it {forecast['improvement']:.0%}.")
    if not args.skip_service:
        print(f"\nServed family ({lines[0]['partitions']:,} partitions, cache of 64 models): single-row latency "
              f"cold p50 {latency['cold_p50']:.0f} ms / p99 {latency['cold_p99']:.0f} ms, warm p50 "
              f"{latency['warm_p50']:.0f} ms / p99 {latency['warm_p99']:.0f} ms ({latency['hits']} hits, "
              f"{latency['misses']} misses).")


if __name__ == "__main__":
    main()
