"""One training run from spec to registered model: the sequence the worker executes for a train job."""

from __future__ import annotations

import re
import time
from typing import Any, Protocol

import numpy as np
import pandas as pd
from pydantic import BaseModel
from sklearn.model_selection import train_test_split

from studio.data.catalog import DatasetCatalog
from studio.errors import DataError, SpecError, StudioError
from studio.training.features import model_frame
from studio.training.metrics import METRICS
from studio.training.model import ModelInfo, TrainedModel, encode_target
from studio.training.search import (
    TrialOutcome,
    best_configuration,
    evaluate,
    make_pipeline,
    open_study,
    run_search,
)
from studio.training.spec import TrainSpec, check_against_data

EXAMPLE_ROWS = 5


class Progress(BaseModel):
    """Live progress of a training job."""

    phase: str = "queued"
    trials_done: int = 0
    trials_failed: int = 0
    trials_budget: int | None = None
    best_score: float | None = None
    best_algorithm: str | None = None
    elapsed_s: float = 0.0
    eta_s: float | None = None


class TrainResult(BaseModel):
    """What a successful training job produced."""

    run_id: str
    model_uri: str
    metric: str
    best_score: float
    test_score: float
    best_algorithm: str
    best_params: dict[str, Any]
    n_trials: int
    duration_s: float
    study_name: str


class Reporter(Protocol):
    """How a run talks to whoever runs it (the job store in a worker, a list in tests)."""

    def log(self, line: str) -> None: ...
    def progress(self, progress: Progress) -> None: ...
    def should_stop(self) -> bool: ...


class TrackerLike(Protocol):
    def start_training(self, spec: TrainSpec, *, job_id: str, study_name: str) -> str: ...
    def log_trial(self, parent_run_id: str, outcome: TrialOutcome, *, metric: str) -> None: ...
    def log_model(self, run_id: str, model: TrainedModel, *, example: pd.DataFrame, registered_name: str) -> str: ...
    def finish(self, run_id: str, *, metrics: dict[str, float], tags: dict[str, str], status: str = ...) -> None: ...


def load_training_data(spec: TrainSpec, catalog: DatasetCatalog) -> tuple[pd.DataFrame, pd.Series, int]:
    """The spec's snapshot, checked against its hash and the spec, without rows whose target is missing
    (returned with how many were dropped)."""
    record = catalog.get(spec.dataset_id)
    if record.content_hash != spec.dataset_hash:
        raise DataError(f"Dataset '{spec.dataset_id}' changed since the spec was made (hash mismatch).")
    frame = catalog.load(spec.dataset_id)
    problems = check_against_data(spec, frame)
    if problems:
        raise SpecError(" ".join(problems), problems=problems)
    kept = frame[frame[spec.target].notna()].reset_index(drop=True)
    return kept, kept[spec.target], len(frame) - len(kept)


def train(spec: TrainSpec, *, catalog: DatasetCatalog, tracker: TrackerLike, storage: Any, job_id: str,
          n_jobs: int, reporter: Reporter) -> TrainResult:
    started = time.time()
    frame, target, dropped = load_training_data(spec, catalog)
    if dropped:
        reporter.log(f"Left out {dropped} rows whose target '{spec.target}' is missing.")
    X, (y, classes) = model_frame(frame, spec.features), encode_target(target, spec.task)
    idx_train, idx_test = train_test_split(np.arange(len(y)), test_size=spec.test_fraction, random_state=spec.seed,
                                           stratify=y if spec.task.is_classification else None)
    X_train, y_train, X_test, y_test = X.iloc[idx_train], y[idx_train], X.iloc[idx_test], y[idx_test]
    reporter.log(f"Loaded {spec.dataset_id}: {len(X_train)} training rows, {len(X_test)} test rows, "
                 f"{len(spec.features)} features.")
    study_name = f"job-{job_id}"
    run_id = tracker.start_training(spec, job_id=job_id, study_name=study_name)
    study = open_study(spec, storage=storage, study_name=study_name)
    progress = Progress(phase="searching", trials_budget=spec.budget.max_trials)
    reporter.progress(progress)

    def on_trial(outcome: TrialOutcome) -> None:
        nonlocal progress
        tracker.log_trial(run_id, outcome, metric=spec.metric)
        progress = _advance(progress, outcome, spec, started, study)
        reporter.progress(progress)
        shown = "failed" if outcome.score is None else f"{spec.metric}={outcome.score:.5g}"
        reporter.log(f"Trial {outcome.number} {outcome.algorithm}: {shown} ({outcome.duration_s:.1f}s)")

    run_search(spec, X_train, y_train, study=study, n_jobs=n_jobs, on_trial=on_trial,
               should_stop=reporter.should_stop)
    finished = [t for t in study.trials if t.value is not None]
    if not finished:
        tracker.finish(run_id, metrics={}, tags={}, status="FAILED")
        raise StudioError("No trial finished within the budget. Raise the time budget or choose faster algorithms.")
    algorithm, params = best_configuration(study)
    reporter.progress(progress.model_copy(update={"phase": "refitting"}))
    reporter.log(f"Refitting the best configuration ({algorithm}) on all {len(X_train)} training rows.")
    pipeline = make_pipeline(spec, algorithm, params, n_jobs=n_jobs).fit(X_train, y_train)
    test_score = evaluate(pipeline, X_test, y_test, METRICS[spec.metric])
    info = ModelInfo(task=spec.task, target=spec.target, features=spec.features, classes=classes,
                     metric=spec.metric, run_id=run_id)
    model = TrainedModel(pipeline, info)
    reporter.progress(progress.model_copy(update={"phase": "logging model"}))
    model_uri = tracker.log_model(run_id, model, example=frame.iloc[idx_test[:EXAMPLE_ROWS]][
        [f.name for f in spec.features]].reset_index(drop=True), registered_name=registered_name(spec))
    duration = time.time() - started
    tracker.finish(run_id, metrics={f"best_{spec.metric}": study.best_value, f"test_{spec.metric}": test_score,
                                    "n_trials": len(finished), "duration_s": duration},
                   tags={"studio.best_algorithm": algorithm})
    reporter.log(f"Done: best {spec.metric} {study.best_value:.5g} (validation), {test_score:.5g} (test). "
                 f"Model {model_uri}.")
    return TrainResult(run_id=run_id, model_uri=model_uri, metric=spec.metric, best_score=study.best_value,
                       test_score=test_score, best_algorithm=algorithm, best_params=params,
                       n_trials=len(finished), duration_s=duration, study_name=study_name)


def registered_name(spec: TrainSpec) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", spec.run_name).strip("-").lower() or "model"


def _advance(progress: Progress, outcome: TrialOutcome, spec: TrainSpec, started: float, study: Any) -> Progress:
    done = progress.trials_done + (outcome.score is not None)
    failed = progress.trials_failed + (outcome.score is None)
    elapsed = time.time() - started
    etas = []
    if spec.budget.seconds is not None:
        etas.append(max(spec.budget.seconds - elapsed, 0.0))
    if spec.budget.max_trials is not None and done + failed:
        etas.append(elapsed / (done + failed) * max(spec.budget.max_trials - done - failed, 0))
    try:
        best, best_algo = study.best_value, str(study.best_trial.params.get("algorithm"))
    except ValueError:  # no completed trial yet
        best, best_algo = None, None
    return progress.model_copy(update={"trials_done": done, "trials_failed": failed, "elapsed_s": elapsed,
                                       "eta_s": min(etas) if etas else None, "best_score": best,
                                       "best_algorithm": best_algo})
