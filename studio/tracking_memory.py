"""A tracker that keeps everything in memory: the seam that lets a training run be tested without MLflow.

It implements the `TrackerLike` protocol that `studio.training.run.train` and `studio.many.train.train_family`
take (as Optuna's `InMemoryStorage` stands in for a database): runs with their spec, tags, metrics and status,
the trials logged under them, models registered by name with increasing versions, evaluations and tables.
`studio.tracking.Tracker` is the real one; the end-to-end tests keep using it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from studio.errors import TrackingError
from studio.training.model import TrainedModel
from studio.training.search import TrialOutcome
from studio.training.spec import TrainSpec


@dataclass
class MemoryRun:
    spec: TrainSpec
    job_id: str
    study_name: str
    status: str = "RUNNING"
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    trials: dict[int, TrialOutcome] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    evaluation: Any = None
    model_uri: str | None = None


@dataclass
class MemoryTracker:
    runs: dict[str, MemoryRun] = field(default_factory=dict)
    models: dict[str, TrainedModel] = field(default_factory=dict)  # model URI -> the model as logged
    _ids: itertools.count = field(default_factory=itertools.count)

    def start_training(self, spec: TrainSpec, *, job_id: str, study_name: str) -> str:
        """A resumed job (the same job id) gets its run back, as with MLflow."""
        for run_id, run in self.runs.items():
            if run.job_id == job_id:
                run.status = "RUNNING"
                return run_id
        run_id = f"run{next(self._ids)}"
        self.runs[run_id] = MemoryRun(spec, job_id, study_name)
        return run_id

    def logged_trials(self, parent_run_id: str) -> set[int]:
        return set(self.runs[parent_run_id].trials)

    def log_trial(self, parent_run_id: str, outcome: TrialOutcome, *, metric: str) -> None:
        self.runs[parent_run_id].trials[outcome.number] = outcome

    def log_model(self, run_id: str, model: TrainedModel, *, example: pd.DataFrame, registered_name: str) -> str:
        run = self.runs[run_id]
        if run.model_uri is None:  # idempotent per run, like the real registry
            version = 1 + sum(uri.startswith(f"models:/{registered_name}/") for uri in self.models)
            run.model_uri = f"models:/{registered_name}/{version}"
            self.models[run.model_uri] = model
        return run.model_uri

    def finish(self, run_id: str, *, metrics: dict[str, float], tags: dict[str, str], status: str = "FINISHED") -> None:
        run = self.runs[run_id]
        run.metrics.update(metrics)
        run.tags.update(tags)
        run.status = status

    def log_evaluation(self, run_id: str, evaluation: Any) -> None:
        self.runs[run_id].evaluation = evaluation

    def log_table(self, run_id: str, table: pd.DataFrame, name: str) -> None:
        self.runs[run_id].tables[name] = table.copy()

    def load_table(self, run_id: str, name: str) -> pd.DataFrame:
        try:
            return self.runs[run_id].tables[name].copy()
        except KeyError:
            raise TrackingError(f"Run '{run_id}' has no {name}.") from None
