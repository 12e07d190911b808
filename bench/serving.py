"""Serving figures of an exported model, as ratios measured side by side in one run.

    .venv/bin/python bench/serving.py [--requests 400] [--rows 20000]

Trains one model (LightGBM on a 20,000-row table with numbers, categories and missing values), exports it three
ways and serves each bento with `bentoml serve` on loopback:
1. single-row latency p50/p99 with 1 client, and throughput with 32 concurrent clients, with BentoML's adaptive
   batching on vs off (native runtime);
2. the same with the ONNX runtime vs the native scikit-learn pipeline (batching on);
3. in-process predict of 1 row and of 10,000 rows: onnxruntime vs the native pipeline.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from studio.context import Studio  # noqa: E402
from studio.export.bento import export_bento, service_env  # noqa: E402
from studio.export.examples import example_rows  # noqa: E402
from studio.export.onnx_model import convert, predict_onnx, session  # noqa: E402
from studio.export.serving import ServiceInfo, free_port, serve_command, wait_ready  # noqa: E402
from studio.settings import Settings  # noqa: E402
from studio.studies import storage_for  # noqa: E402
from studio.training.draft import draft_spec  # noqa: E402
from studio.training.features import model_frame  # noqa: E402
from studio.training.run import train  # noqa: E402
from studio.training.spec import Budget  # noqa: E402
from tests.conftest import SMALL, ListReporter, churn_frame  # noqa: E402


def _train(studio: Studio, rows: int) -> str:
    frame = churn_frame(rows, seed=5)
    record = studio.catalog.save(frame, "serving", source="bench")
    spec = draft_spec(record, frame, target="churned", algorithms=["lightgbm"], validation={"kind": "holdout"},
                      ensemble=False, budget=Budget(max_trials=1, seconds=None))
    return train(spec, catalog=studio.catalog, tracker=studio.tracker, job_id="bench", profile=SMALL,
                 storage=storage_for(studio.settings, "job-bench"), reporter=ListReporter()).model_uri


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


async def _load(url: str, row: dict[str, object], clients: int, requests: int) -> tuple[list[float], float, int]:
    """Latencies (ms) of `requests` single-row calls from `clients` concurrent clients, requests/s, and how many
    calls failed (a dropped connection or a non-200 answer; counted, not retried)."""
    latencies: list[float] = []
    failed = 0
    per_client = max(requests // clients, 1)

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal failed
        for _ in range(per_client):
            started = time.perf_counter()
            try:
                response = await http.post(f"{url}/predict", json={"rows": [row]})
            except httpx.TransportError:
                failed += 1
                continue
            if response.status_code != 200:
                failed += 1
                continue
            latencies.append((time.perf_counter() - started) * 1000)

    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=clients)) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        took = time.perf_counter() - started
    return latencies, len(latencies) / took, failed


def _serve(studio: Studio, tag: str) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    log = Path(studio.settings.root) / f"serve-{port}.log"
    proc = subprocess.Popen(serve_command(tag, port), env=service_env(studio.settings), stdout=log.open("wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    info = ServiceInfo(bento_tag=tag, port=port, pid=proc.pid, started_at=0, log_path="")
    wait_ready(info, timeout=120)
    return proc, info.url, log


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rows", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["STUDIO_HOME"] = tmp
        studio = Studio(Settings(home=Path(tmp), embedded_worker=False))
        uri = _train(studio, args.rows)
        row = example_rows(studio.tracker, uri)[0]
        variants = {
            "native, batching on": export_bento(studio.tracker, studio.settings, uri, name="bench-native").bento_tag,
            "native, batching off": export_bento(studio.tracker, studio.settings, uri, name="bench-nobatch",
                                                  batching=False).bento_tag,
            "onnx, batching on": export_bento(studio.tracker, studio.settings, uri, name="bench-onnx",
                                               runtime="onnx").bento_tag,
        }
        figures: dict[str, dict[str, float]] = {}
        for label, tag in variants.items():
            proc, url, log = _serve(studio, tag)
            try:
                asyncio.run(_load(url, row, 4, 40))  # warm up
                one, _, failed_one = asyncio.run(_load(url, row, 1, args.requests))
                many, throughput, failed_many = asyncio.run(_load(url, row, 32, args.requests * 4))
            finally:
                os.killpg(proc.pid, 15)
                proc.wait(timeout=30)
            figures[label] = {"p50": statistics.median(one), "p99": _percentile(one, 99),
                              "p50_32": statistics.median(many), "p99_32": _percentile(many, 99), "rps_32": throughput,
                              "failed": failed_one + failed_many}
            if failed_one + failed_many:
                errors = [line for line in log.read_text().splitlines() if "ERROR" in line or "status=5" in line]
                print(f"{label}: {failed_one + failed_many} failed calls; the service logged:", *errors[-10:],
                      sep="\n  ", file=sys.stderr)
        print("\n| service | 1 client p50 | 1 client p99 | 32 clients p50 | 32 clients p99 | 32 clients req/s "
              "| failed |")
        print("|---|---|---|---|---|---|---|")
        for label, f in figures.items():
            print(f"| {label} | {f['p50']:.1f} ms | {f['p99']:.1f} ms | {f['p50_32']:.1f} ms | {f['p99_32']:.1f} ms "
                  f"| {f['rps_32']:.0f} | {f['failed']:.0f} |")
        on, off, onnx = (figures[k] for k in variants)
        print(f"\nbatching on / off, 32 clients: throughput x{on['rps_32'] / off['rps_32']:.2f}, "
              f"p50 x{on['p50_32'] / off['p50_32']:.2f}")
        print(f"onnx / native, served: 1-client p50 x{onnx['p50'] / on['p50']:.2f}, "
              f"32-client throughput x{onnx['rps_32'] / on['rps_32']:.2f}")

        model = studio.tracker.load_model(uri)
        frame = studio.catalog.load(studio.tracker.spec_of(model.info.run_id or "").dataset_id)
        X = model_frame(frame.head(10_000), model.info.features)
        sess = session(convert(model.pipeline, model.info))
        for n, repeat in ((1, 300), (10_000, 10)):
            part = X.head(n)
            native_s = _timed(lambda p=part: model.pipeline.predict_proba(p), repeat)
            onnx_s = _timed(lambda p=part: predict_onnx(sess, p, model.info), repeat)
            print(f"in-process predict of {n:,} row(s): native {native_s * 1000:.2f} ms, onnx {onnx_s * 1000:.2f} ms "
                  f"(onnx / native x{onnx_s / native_s:.2f})")


def _timed(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


if __name__ == "__main__":
    main()
