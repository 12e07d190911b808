"""The engine's fixed costs, measured side by side in one run against their baselines.

    .venv/bin/python bench/engine.py [--idle-seconds 60] [--rows 1000,10000] [--repeats 5]

1. The CLI: `studio jobs list`, `studio jobs show ID` and `studio train DATA` (without --wait) wall time, against
   the interpreter's own start and against importing what any store access needs (SQLAlchemy, pydantic).
2. Submit -> first scored trial, cold (a `studio worker` just started and registered, nothing trained yet) and
   warm (the same worker's next job), at each row count: from the moment the job is queued, and from the
   moment the CLI command starts.
3. Idle CPU of a warm `studio worker` and its Dask cluster (the default compute size), in cores, over
   --idle-seconds; baseline: the same worker loop without a cluster.
4. `studio train DATA --budget-seconds B --wait` wall against B (target <= 1.05x), the command running the job
   itself (no worker alive), at each row count; the job's phases from its log.

5. Cancel: a 10,000-row job on a warm worker, cancelled once 3, 15 and 40 trials have finished: seconds until the store
   shows it "stopping" (what the Jobs page draws at its next rerun) and until it is "cancelled" with its best
   model registered (target: < 1 s and < 5 s).
6. Job overhead: a --max-trials job at the largest row count on a warm worker (claimed to done: load, search,
   refit, log, register, held-out evaluation), against bare loops in this process that fit the same
   configurations with scikit-learn on the same splits (a trial stopped at its first rung or a checkpoint:
   its first split only), then the final refit(s): one fit after another with every core each (the plain
   loop), and `parallel_trials` fits at a time with joblib, as many threads each as the job's workers
   (target: <= 1.2x).

Every process it starts is stopped at the end. Figures go to docs/benchmarks.md.
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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil

from studio.context import Studio
from studio.settings import Settings
from studio.training.estimators import ESTIMATORS
from studio.training.progress import Progress, TrainResult

PY = sys.executable


def _env(home: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "STUDIO_HOME": str(home), "STUDIO_EMBEDDED_WORKER": "false", **extra}


def _wall(argv: list[str], env: dict[str, str], repeats: int) -> tuple[float, str]:
    """Median wall seconds of a command, and its last output."""
    times, out = [], ""
    for _ in range(repeats):
        started = time.perf_counter()
        out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout
        times.append(time.perf_counter() - started)
    return statistics.median(times), out


def table(rows: int, path: Path) -> Path:
    """A churn-like table: numbers and categories, a binary target."""
    rng = np.random.default_rng(rows)
    frame = pd.DataFrame({f"x{i}": rng.normal(size=rows) for i in range(16)})
    for i in range(4):
        frame[f"c{i}"] = rng.choice(list("abcdefgh"), size=rows)
    frame["y"] = (frame["x0"] + 0.5 * frame["x1"] * (frame["c0"] == "a") + rng.normal(size=rows) > 0).astype(int)
    frame.to_csv(path, index=False)
    return path


def bench_cli(home: Path, data: Path, repeats: int) -> None:
    env = _env(home)
    floor, _ = _wall([PY, "-c", "pass"], env, repeats)
    imports, _ = _wall([PY, "-c", "import sqlalchemy, pydantic_settings"], env, repeats)
    submit, out = _wall([PY, "-m", "studio", "train", str(data), "--target", "y", "--budget-seconds", "30"], env,
                        repeats)
    job_id = out.strip().splitlines()[-1]
    listing, _ = _wall([PY, "-m", "studio", "jobs", "list"], env, repeats)
    show, _ = _wall([PY, "-m", "studio", "jobs", "show", job_id], env, repeats)
    print(f"\n1. CLI wall, median of {repeats} (target: jobs list/show < 0.5 s, train submit < 1 s)")
    print(f"   python -c pass                       {floor:6.2f} s")
    print(f"   import sqlalchemy, pydantic_settings {imports:6.2f} s   (what any store access needs)")
    print(f"   studio jobs list                     {listing:6.2f} s   x{listing / imports:.2f} of the imports")
    print(f"   studio jobs show ID                  {show:6.2f} s   x{show / imports:.2f}")
    print(f"   studio train DATA (queue only)       {submit:6.2f} s   x{submit / imports:.2f}")


@contextmanager
def worker(home: Path, code: str | None = None) -> Iterator[psutil.Popen]:
    argv = [PY, "-m", "studio", "worker"] if code is None else [PY, "-c", code]
    log = open(home.parent / f"{home.name}-worker.log", "wb")  # noqa: SIM115 - closed below
    proc = psutil.Popen(argv, env=_env(home), stdout=log, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except psutil.TimeoutExpired:
            for p in [proc, *proc.children(recursive=True)]:
                p.kill()
        log.close()


def _warm(home: Path, timeout_s: float = 120) -> None:
    """Wait for the worker's "warm" log line (imports, MLflow's store, the default size's cluster)."""
    deadline = time.monotonic() + timeout_s
    while b"warm in" not in (home.parent / f"{home.name}-worker.log").read_bytes():
        if time.monotonic() > deadline:
            raise SystemExit("the worker did not warm up")
        time.sleep(0.1)


@contextmanager
def warm_worker(home: Path, studio: Studio) -> Iterator[psutil.Popen]:
    """A `studio worker` once registered and warm."""
    with worker(home) as proc:
        while not studio.worker_alive():
            time.sleep(0.05)
        _warm(home)
        yield proc


def _first_trial(studio: Studio, data: Path, home: Path, *, cancel: bool = True) -> tuple[float, float]:
    """Seconds from the CLI's start and from the job's queueing to its first scored trial; then the job is
    cancelled (`cancel`) or left to finish its 10 s budget."""
    started = time.time()
    out = subprocess.run([PY, "-m", "studio", "train", str(data), "--target", "y", "--budget-seconds", "10"],
                         env=_env(home), capture_output=True, text=True, check=True).stdout
    job_id = out.strip().splitlines()[-1]
    while True:
        job = studio.jobs.get(job_id)
        if job.progress_as(Progress).trials_done >= 1:
            done = time.time()
            break
        if job.status.is_final:
            raise SystemExit(f"job {job_id} ended without a trial: {job.status.value} {job.error}")
        time.sleep(0.02)
    if cancel:
        studio.jobs.request_cancel(job_id)
    while not studio.jobs.get(job_id).status.is_final:
        time.sleep(0.1)
    return done - started, done - job.created_at


def bench_first_trial(row_counts: list[int], tmp: Path) -> None:
    print("\n2. Submit -> first scored trial, from the queueing (and from the CLI command's start) (target: < 3 s)")
    print("   cold: a fresh studio's first job, its worker warm; at once: submitted the moment a fresh worker")
    print("   registered (its warm-up still running); warm: the next job after one that ran to its end")
    print("   rows     cold                at once             warm")
    for rows in row_counts:
        figures = []
        data = table(rows, tmp / f"t{rows}.csv")
        for case in ("cold", "at once"):
            home = tmp / f"first-{rows}-{case.replace(' ', '')}"
            studio = Studio(Settings(home=home))
            with worker(home):
                while not studio.worker_alive():
                    time.sleep(0.05)
                if case == "cold":
                    _warm(home)
                figures.append(_first_trial(studio, data, home, cancel=False))
                if case == "cold":
                    figures.append(_first_trial(studio, data, home))
        cold, warm, at_once = figures
        shown = [f"{q:5.2f} s ({c:5.2f} s)" for c, q in (cold, at_once, warm)]
        print(f"   {rows:<8,} {shown[0]:19} {shown[1]:19} {shown[2]}")


def _cores(proc: psutil.Process, seconds: float) -> float:
    def total() -> float:
        used = 0.0
        for p in [proc, *proc.children(recursive=True)]:
            try:
                times = p.cpu_times()
                used += times.user + times.system
            except psutil.Error:
                continue
        return used

    before, started = total(), time.monotonic()
    time.sleep(seconds)
    return (total() - before) / (time.monotonic() - started)


def bench_idle(seconds: float, tmp: Path) -> None:
    bare = "from studio.context import Studio; from studio.worker.loop import Worker; Worker(Studio()).run()"
    figures: dict[str, float] = {}
    for name, code in (("worker loop alone", bare), ("studio worker, warm cluster", None)):
        home = tmp / f"idle-{len(figures)}"
        studio = Studio(Settings(home=home))
        with worker(home, code) as proc:
            while not studio.worker_alive():
                time.sleep(0.1)
            if code is None:
                _warm(home)
            time.sleep(5)
            figures[name] = _cores(proc, seconds)
    print(f"\n3. Idle CPU over {seconds:g} s (target: <= 0.01 core)")
    for name, cores in figures.items():
        print(f"   {name:28} {cores:.4f} cores")


def bench_budget(row_counts: list[int], budget: int, tmp: Path) -> None:
    print(f"\n4. `studio train DATA --budget-seconds {budget} --wait` wall against its budget (target: <= 1.05x)")
    for rows in row_counts:
        home = tmp / f"budget-{rows}"
        data = table(rows, tmp / f"b{rows}.csv")
        started = time.perf_counter()
        out = subprocess.run([PY, "-m", "studio", "train", str(data), "--target", "y", "--budget-seconds", str(budget),
                              "--wait", "--json"], env=_env(home), capture_output=True, text=True, check=True).stdout
        wall = time.perf_counter() - started
        summary = json.loads(out.strip().splitlines()[-1])
        print(f"   {rows:>7,} rows: {wall:6.1f} s = x{wall / budget:.3f} of the budget; job "
              f"{summary['duration_s']:.1f} s, {summary['n_trials']} trials, test {summary['metric']} "
              f"{summary['test_score']:.4f}")
        # where the time went, from the job's own log: all of it when over the target, else its final phase
        _print_job_log(home, summary["job_id"], since=None if wall > 1.05 * budget else "Search stopped")


def _print_job_log(home: Path, job_id: str, since: str | None = None) -> None:
    shown = subprocess.run([PY, "-m", "studio", "jobs", "show", job_id], env=_env(home), capture_output=True,
                           text=True, check=False).stdout
    lines = [line for line in shown.splitlines() if line[:2].isdigit() and line[2:3] == ":"]  # "19:04:33  Trial 10"
    start = next((i for i, line in enumerate(lines) if since is not None and since in line), 0)
    for line in lines[start:]:
        print(f"      {line}")


def bench_cancel(rows: int, after_trials: list[int], tmp: Path) -> None:
    print(f"\n5. Cancel at {rows:,} rows, once {after_trials} trials finished "
          "(target: stopping < 1 s, cancelled with a model < 5 s)")
    home = tmp / "cancel"
    studio = Studio(Settings(home=home))
    data = table(rows, tmp / f"c{rows}.csv")
    with warm_worker(home, studio):
        for wanted in after_trials:
            out = subprocess.run([PY, "-m", "studio", "train", str(data), "--target", "y", "--budget-seconds", "120"],
                                 env=_env(home), capture_output=True, text=True, check=True).stdout
            job_id = out.strip().splitlines()[-1]
            while studio.jobs.get(job_id).progress_as(Progress).trials_done < wanted:
                time.sleep(0.05)
            asked = time.monotonic()
            studio.jobs.request_cancel(job_id)
            while studio.jobs.get(job_id).shown_status != "stopping" and not studio.jobs.get(job_id).status.is_final:
                time.sleep(0.01)
            stopping = time.monotonic() - asked
            while not (job := studio.jobs.get(job_id)).status.is_final:
                time.sleep(0.02)
            cancelled = time.monotonic() - asked
            result = job.result_as(TrainResult)
            model = result.model_uri if result else None
            print(f"   stopping after {stopping:5.2f} s, {job.status.value} after {cancelled:5.2f} s, "
                  f"model {model}, {job.progress_as(Progress).trials_done} trials kept")


def _fits(studio: Studio, job_id: str) -> tuple[Any, int, list[tuple[Any, ...]]]:
    """The finished job's spec, threads per compute worker, and the fits its search and final refit made: each
    trial's configuration on each split it ran (a trial stopped at its first rung or a checkpoint: the first)."""
    import optuna
    from optuna.trial import TrialState

    from studio.studies import storage_for
    from studio.training.run import Split
    from studio.training.search import configuration, validation_splits
    from studio.training.spec import TrainSpec

    spec = TrainSpec.parse(studio.jobs.get(job_id).payload)
    split = Split.of(spec, studio.catalog)
    study = optuna.load_study(study_name=f"job-{job_id}", storage=storage_for(studio.settings, f"job-{job_id}"))
    splits = validation_splits(spec, split.y_train)
    work = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        algorithm, params = configuration(trial)
        if trial.state == TrialState.PRUNED and trial.intermediate_values:
            params[ESTIMATORS[algorithm].fidelity_param or ""] = max(trial.intermediate_values)
        ran = splits if trial.state == TrialState.COMPLETE else splits[:1]
        work += [(algorithm, params, split.X_train.iloc[f], split.y_train[f], split.X_train.iloc[v]) for f, v in ran]
    best, best_params = configuration(study.best_trial)
    # the final fit on all rows; on the training rows as well only where the job's log says it needed one (its
    # held-out evaluation reuses the search's split models when it can: studio/training/reuse.py)
    once = any("once, on all" in line for line in studio.jobs.logs(job_id))
    if not (once and spec.refit_all_rows):
        work.append((best, best_params, split.X_train, split.y_train, split.X_test))
    if spec.refit_all_rows:
        work.append((best, best_params, split.X, split.y, split.X_test))
    return spec, studio.profile(spec.compute).threads, work


def _fit(spec: Any, threads: int, algorithm: str, params: dict, X: pd.DataFrame, y: np.ndarray,
         X_val: pd.DataFrame) -> None:
    from threadpoolctl import threadpool_limits

    from studio.training.search import make_pipeline

    with threadpool_limits(threads):
        make_pipeline(spec, algorithm, params, n_jobs=threads).fit(X, y).predict(X_val)


def bare_loops(studio: Studio, job_id: str) -> tuple[float, float, int]:
    """Seconds two bare loops take over the job's fits: one after another in this process with every core per
    fit (the plain loop), and with joblib, as many fits at a time as the job ran trials, each with a compute
    worker's threads (the stronger baseline: 1-thread fits pack the cores better)."""
    from joblib import Parallel, delayed

    spec, threads, work = _fits(studio, job_id)
    cores = os.cpu_count() or 1
    started = time.perf_counter()
    for item in work:
        _fit(spec, cores, *item)
    plain = time.perf_counter() - started
    parallel_trials = studio.profile(spec.compute).parallel_trials
    with Parallel(n_jobs=parallel_trials) as parallel:
        parallel(delayed(abs)(i) for i in range(parallel_trials))  # its processes started before timing
        started = time.perf_counter()
        parallel(delayed(_fit)(spec, threads, *item) for item in work)
        return plain, time.perf_counter() - started, len(work)


def bench_overhead(rows: int, trials: int, tmp: Path) -> None:
    print(f"\n6. Job overhead at {rows:,} rows, {trials} trials, single model: the job (claimed to done) against "
          "bare loops fitting the same configurations (target: <= 1.2x)")
    home = tmp / "overhead"
    studio = Studio(Settings(home=home))
    data = table(rows, tmp / f"o{rows}.csv")
    with warm_worker(home, studio):
        out = subprocess.run([PY, "-m", "studio", "train", str(data), "--target", "y", "--max-trials", str(trials),
                              "--budget-seconds", "1800", "--no-ensemble"],
                             env=_env(home), capture_output=True, text=True, check=True).stdout
        job_id = out.strip().splitlines()[-1]
        while not (job := studio.jobs.get(job_id)).status.is_final:
            time.sleep(0.1)
    if job.status.value != "succeeded" or job.started_at is None or job.ended_at is None:
        raise SystemExit(f"job {job_id} ended {job.status.value}: {job.error}")
    wall = job.ended_at - job.started_at
    progress = job.progress_as(Progress)
    plain, parallel, fits = bare_loops(studio, job_id)
    print(f"   job {wall:6.1f} s (search {progress.search_s or 0:.1f} s, {progress.trials_done} complete, "
          f"{progress.trials_pruned} stopped early), {fits} fits")
    print(f"   plain loop, {os.cpu_count()} threads per fit  {plain:6.1f} s   job x{wall / plain:.2f}")
    print(f"   joblib, a fit per trial slot   {parallel:6.1f} s   job x{wall / parallel:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--idle-seconds", type=float, default=60)
    parser.add_argument("--rows", default="1000,10000")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--budget", type=int, default=60)
    parser.add_argument("--trials", type=int, default=12, help="section 6: the job's trial budget")
    parser.add_argument("--only", default="1,2,3,4,5,6", help="which sections to run")
    args = parser.parse_args()
    print(json.dumps({"cpus": os.cpu_count(), "python": sys.version.split()[0]}))
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        rows, only = [int(r) for r in args.rows.split(",")], args.only.split(",")
        if "1" in only:
            bench_cli(tmp / "cli", table(1000, tmp / "cli.csv"), args.repeats)
        if "2" in only:
            bench_first_trial(rows, tmp)
        if "3" in only:
            bench_idle(args.idle_seconds, tmp)
        if "4" in only:
            bench_budget(rows, args.budget, tmp)
        if "5" in only:
            bench_cancel(max(rows), [3, 15, 40], tmp)
        if "6" in only:
            bench_overhead(max(rows), args.trials, tmp)


if __name__ == "__main__":
    main()
