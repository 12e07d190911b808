"""How fast the Runs page is with 2,000 runs and a 2,000-trial study, against reading the runs from MLflow.

    .venv/bin/python bench/runs_page.py [--runs 2000] [--trials 2000]

Seeds a fresh studio home with one real training run (so every tab has its held-out evaluation), then 1,999
more runs logged to MLflow and indexed as the tracker does, and grows the real run's study to 2,000 trials.
Measured side by side in this process:
1. the leaderboard's data: MLflow's `search_runs` (what the page read before the run index) vs the run index;
2. the Runs page rendered headless (Streamlit's AppTest), view by view (leaderboard, compare, tuning on the
   2,000-trial study, diagnostics, explain): the first render after clearing the caches (the index, the study's
   trials, the evaluation artifacts, the model for partial dependence) and a re-render, each the median of 3.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from studio.context import Studio  # noqa: E402
from studio.settings import Settings  # noqa: E402
from studio.training.draft import draft_spec  # noqa: E402
from studio.training.spec import Budget  # noqa: E402
from tests.conftest import churn_frame  # noqa: E402


def _seed_real_run(studio: Studio) -> str:
    from studio.worker.loop import Worker

    frame = churn_frame(2000)
    record = studio.catalog.save(frame, "churn", source="bench")
    spec = draft_spec(record, frame, target="churned", algorithms=["lightgbm", "linear"],
                      budget=Budget(max_trials=6, seconds=None))
    job = studio.submit_training(spec)
    Worker(studio, worker_id="bench").run(until=lambda: studio.jobs.get(job.id).status.is_final)
    return str(studio.jobs.get(job.id).result["study_name"])


def _grow_study(studio: Studio, study_name: str, trials: int) -> None:
    """Copies of the study's finished trials, with jittered scores, until it holds `trials`."""
    import random

    import optuna

    from studio.studies import storage_for

    study = optuna.load_study(study_name=study_name, storage=storage_for(studio.settings, study_name))
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    rng = random.Random(0)
    copies = []
    while len(done) + len(copies) < trials:
        base = rng.choice(done)
        copies.append(optuna.trial.create_trial(params=base.params, distributions=base.distributions,
                                                value=base.value * rng.uniform(0.97, 1.0), user_attrs=base.user_attrs))
    study.add_trials(copies)


def _seed_runs(studio: Studio, count: int) -> None:
    """`count` finished training runs logged to MLflow (tags, params, metrics as a job logs them) and indexed."""
    from mlflow.entities import Metric, Param

    from studio.names import RunKind, Tag

    client = studio.tracker.client
    experiment = studio.tracker.experiment_id("churn")
    now = int(time.time() * 1000)
    for i in range(count):
        run = client.create_run(experiment, run_name=f"churn · bench{i:04d}", tags={
            Tag.KIND: RunKind.TRAINING, Tag.JOB_ID: f"bench{i}", Tag.DATASET_ID: "churn-v1", Tag.TASK: "binary",
            Tag.METRIC: "roc_auc", Tag.COMPUTE: "small", Tag.STUDY_NAME: f"job-bench{i}",
            Tag.BEST_ALGORITHM: ["xgboost", "lightgbm", "linear"][i % 3]})
        score = 0.70 + (i % 97) / 1000
        client.log_batch(run.info.run_id, params=[Param(k, "x") for k in ("target", "task", "metric", "algorithms",
                                                                            "validation", "folds", "seed")],
                         metrics=[Metric(f"validation_roc_auc{s}", score, now, 0) for s in ("", "_std")]
                         + [Metric(f"test_{m}", score, now, 0) for m in ("roc_auc", "log_loss", "accuracy", "f1")]
                         + [Metric("n_trials", 40, now, 0)])
        client.set_terminated(run.info.run_id)
        studio.tracker.reindex(run.info.run_id)


def _timed(fn, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


VIEWS = ("Compare", "Tuning", "Diagnostics", "Explain")


def _render_times() -> dict[str, tuple[float, float]]:
    """Per view of the Runs page (the best run selected, and the two best for Compare): the first render after
    the caches were cleared, and a re-render; medians of 3."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    times: dict[str, tuple[list[float], list[float]]] = {"leaderboard": ([], [])}
    times.update({view: ([], []) for view in VIEWS})
    for _ in range(3):
        st.cache_data.clear()
        st.cache_resource.clear()
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
        at.run()
        for view in ("leaderboard", *VIEWS):
            if view == "Compare":
                at.session_state["leaderboard-1"] = {"selection": {"rows": [0, 1], "columns": []}}
            elif view != "leaderboard":
                at.session_state["leaderboard-1"] = {"selection": {"rows": [0], "columns": []}}
            for phase in (0, 1):
                started = time.perf_counter()
                if view == "leaderboard" and phase == 0:
                    at.switch_page("app_pages/runs.py").run()
                elif view != "leaderboard" and phase == 0:
                    at.radio(key="runs-view").set_value(view).run()
                else:
                    at.run()
                times[view][phase].append(time.perf_counter() - started)
                assert not at.exception, [e.value for e in at.exception]
    return {view: (statistics.median(c), statistics.median(w)) for view, (c, w) in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--home", type=Path, help="seed this studio home, or reuse it if it is already seeded")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = args.home or Path(tmp) / "home"
        os.environ.update(STUDIO_HOME=str(home), STUDIO_EMBEDDED_WORKER="false")
        seeded = (home / "studio.db").exists()
        studio = Studio(Settings(home=home, embedded_worker=False))
        if not seeded:
            started = time.perf_counter()
            study = _seed_real_run(studio)
            _grow_study(studio, study, args.trials)
            _seed_runs(studio, args.runs - 1)
            print(f"seeded {args.runs} runs and a {args.trials}-trial study in {time.perf_counter() - started:.0f} s",
                  file=sys.stderr)
        mlflow_s = _timed(studio.tracker._search_training_runs)
        index_s = _timed(studio.tracker.training_runs)
        assert len(studio.tracker.training_runs()) == args.runs
        renders = _render_times()
        print(f"\n| what ({args.runs} runs, {args.trials}-trial study) | first render (cold caches) | re-render |")
        print("|---|---|---|")
        print(f"| leaderboard data: MLflow search_runs (before the index) | {mlflow_s:.2f} s | |")
        print(f"| leaderboard data: the run index | {index_s:.3f} s | |")
        for view, (cold, warm) in renders.items():
            print(f"| Runs page, {view.lower()} | {cold:.2f} s | {warm:.2f} s |")
        print(f"\nrun index / MLflow search: x{index_s / mlflow_s:.3f} (x{mlflow_s / index_s:.0f} faster)")


if __name__ == "__main__":
    main()
