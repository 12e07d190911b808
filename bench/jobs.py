"""Job system figures, each against a baseline measured in the same run.

    .venv/bin/python bench/jobs.py [--jobs 400] [--trials 16] [--skip-postgres]

1. Claim latency (p50/p99) and throughput of trivial jobs (claim + finish, 2 claiming threads) on SQLite and
   on the local PostgreSQL server.
2. Speed-up of `large` over `small` for the same trial count (clusters warmed first, so start-up is not counted).
3. Overhead of the job system per trial: a full job (worker, lease, heartbeats, Dask, MLflow child runs, job
   store progress) against the same configurations scored in a plain in-process loop.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import sqlalchemy as sa
from pydantic import BaseModel
from sklearn.datasets import make_classification

from studio.compute.cluster import client_for
from studio.context import Studio
from studio.db import make_engine
from studio.jobs import JobStatus, JobStore
from studio.settings import Settings
from studio.studies import storage_for
from studio.training.draft import draft_spec
from studio.training.driver import TrialScore
from studio.training.features import model_frame
from studio.training.model import encode_target
from studio.training.progress import Progress
from studio.training.run import train
from studio.training.search import open_study, propose, score_trial
from studio.training.spec import Budget
from studio.worker.loop import Worker

POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


class Noop(BaseModel):
    n: int = 0


def claims(store: JobStore, n_jobs: int, threads: int = 2) -> tuple[float, float, float]:
    """(p50 ms, p99 ms, jobs per second) for claiming and finishing n_jobs trivial jobs."""
    for i in range(n_jobs):
        store.submit("noop", f"j{i}", Noop(n=i))
    latencies: list[float] = []
    lock = threading.Lock()

    def claimer(worker: str) -> None:
        while True:
            start = time.perf_counter()
            lease = store.claim(worker)
            took = time.perf_counter() - start
            if lease is None:
                return
            store.finish(lease, JobStatus.SUCCEEDED)
            with lock:
                latencies.append(took)

    started = time.perf_counter()
    workers = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    wall = time.perf_counter() - started
    assert len(latencies) == n_jobs, "every job claimed exactly once"
    q = statistics.quantiles(latencies, n=100)
    return q[49] * 1000, q[98] * 1000, n_jobs / wall


def bench_claims(n_jobs: int, skip_postgres: bool) -> None:
    print(f"\n## Claim latency and throughput ({n_jobs} trivial jobs, 2 claiming threads)\n")
    print("| store | claim p50 | claim p99 | jobs/s |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        p50, p99, rate = claims(JobStore(engine), n_jobs)
        print(f"| SQLite (WAL) | {p50:.1f} ms | {p99:.1f} ms | {rate:.0f} |")
        engine.dispose()
    if skip_postgres:
        return
    name = f"studio_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        engine = make_engine(POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}")
        p50, p99, rate = claims(JobStore(engine), n_jobs)
        print(f"| PostgreSQL 15 | {p50:.1f} ms | {p99:.1f} ms | {rate:.0f} |")
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


class Quiet:
    def log(self, line: str) -> None:
        pass

    def progress(self, progress: Progress) -> None:
        self.last = progress

    def should_stop(self) -> bool:
        return False

    def fence(self) -> None:
        pass


def _dataset(studio: Studio, rows: int) -> tuple[object, pd.DataFrame]:
    X, y = make_classification(n_samples=rows, n_features=20, n_informative=8, random_state=0)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(20)]).assign(label=np.where(y, "yes", "no"))
    return studio.catalog.save(frame, "bench", source="bench"), frame


def bench_speedup(studio: Studio, trials: int) -> None:
    record, frame = _dataset(studio, 4000)
    spec = draft_spec(record, frame, target="label",
                      algorithms=["random_forest", "hist_gradient_boosting", "lightgbm", "xgboost"],
                      validation={"kind": "kfold", "folds": 3}, budget=Budget(seconds=None, max_trials=trials))
    print(f"\n## `large` over `small`: the same {trials} configurations, 4,000 rows x 20 features, 3-fold CV\n")
    print("| size | shape | search wall | trials |")
    print("|---|---|---|---|")
    # The same configurations for both sizes (TPE would sample differently when trials run in parallel):
    # drawn once at random, queued into each size's study before its job runs.
    draw = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    configs = []
    for _ in range(trials):
        trial = draw.ask()
        propose(spec, trial)
        configs.append(trial.params)
    searched = {}
    for name in ("small", "large"):
        queued = optuna.create_study(study_name=f"job-speed-{name}", direction="maximize",
                                     storage=storage_for(studio.settings, f"job-speed-{name}"))
        for params in configs:
            queued.enqueue_trial(params)
        profile = studio.profile(name)
        # Warm: cluster start-up and the workers' first import of the ML libraries happen once per worker
        # process, not once per job.
        client_for(profile).run(importlib.import_module, "studio.training.search")
        reporter = Quiet()
        result = train(spec.model_copy(update={"compute": name}), catalog=studio.catalog, tracker=studio.tracker,
                       storage=storage_for(studio.settings, f"job-speed-{name}"), job_id=f"speed-{name}",
                       profile=profile, reporter=reporter)
        searched[name] = reporter.last.search_s or 0.0
        print(f"| {name} | {profile.summary()} | {searched[name]:.1f} s | {result.n_trials} |")
    print(f"\nspeed-up large/small: {searched['small'] / searched['large']:.2f}x")


def _value(evaluation: TrialScore) -> float:
    if evaluation.value is None:
        raise optuna.TrialPruned(evaluation.pruned)
    return evaluation.value


def bench_overhead(studio: Studio, trials: int) -> None:
    record, frame = _dataset(studio, 2000)
    spec = draft_spec(record, frame, target="label", algorithms=["linear", "lightgbm", "hist_gradient_boosting"],
                      validation={"kind": "holdout"}, budget=Budget(seconds=None, max_trials=trials), compute="small")
    X = model_frame(frame, spec.features)
    y, _ = encode_target(frame["label"], spec.task)
    # Baseline: the same sampler, seed and objective, trials scored one after another in this process.
    study = open_study(spec, storage=optuna.storages.InMemoryStorage(), study_name="plain")
    started = time.perf_counter()
    study.optimize(lambda trial: _value(score_trial(spec, 1, *propose(spec, trial), X, y)), n_trials=trials)
    plain = time.perf_counter() - started

    client_for(studio.profile("small")).run(importlib.import_module, "studio.training.search")
    job = studio.submit_training(spec)
    started = time.perf_counter()
    Worker(studio, worker_id="bench").run(until=lambda: studio.jobs.get(job.id).status.is_final)
    total = time.perf_counter() - started
    done = studio.jobs.get(job.id)
    assert done.status is JobStatus.SUCCEEDED, done.error
    search = float(done.progress["search_s"])
    print(f"\n## Job-system overhead: {trials} trials on `small` (2,000 rows, holdout)\n")
    print("| | wall |")
    print("|---|---|")
    print(f"| plain in-process loop (baseline) | {plain:.1f} s |")
    print(f"| job: search (Dask, Optuna journal, MLflow child run and progress per trial) | {search:.1f} s |")
    print(f"| job: whole (claim, load, search, refit, log and register the model) | {total:.1f} s |")
    print(f"\nper-trial overhead: {(search - plain) / trials * 1000:.0f} ms "
          f"(search {search / plain:.2f}x the baseline); fixed per job: {total - search:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=400)
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    bench_claims(args.jobs, args.skip_postgres)
    with tempfile.TemporaryDirectory() as tmp:
        studio = Studio(Settings(home=Path(tmp), embedded_worker=False, heartbeat_seconds=1.0))
        bench_speedup(studio, args.trials)
        bench_overhead(studio, 2 * args.trials)


if __name__ == "__main__":
    main()
