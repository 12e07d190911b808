"""What a training job reports while it runs (`Progress`) and what it produced (`TrainResult`): the typed
contract between the run, the job store, the pages and the CLI. Pydantic only, so `studio jobs list` reads
a job without loading the ML libraries."""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, BaseModel, Field


class Progress(BaseModel):
    """Live progress of a training job."""

    phase: str = "queued"
    trials_done: int = 0
    trials_failed: int = 0
    trials_pruned: int = 0
    trials_budget: int | None = None
    best_score: float | None = None  # the best validation score so far
    best_algorithm: str | None = None
    elapsed_s: float = 0.0
    eta_s: float | None = None
    estimate_s: float | None = None
    estimate_search_s: float | None = None
    search_s: float | None = None
    parallel_trials: int | None = None
    stop_reason: str | None = None
    unit: str = "trials"  # what trials_done counts: "trials", or "partitions" for a model family


class TrainResult(BaseModel):
    """What a successful training job produced."""

    run_id: str
    model_uri: str
    metric: str
    #: the chosen configuration's validation score (training rows only); None for a family (no single one)
    validation_score: float | None = Field(validation_alias=AliasChoices("validation_score", "best_score"))
    test_score: float  # the registered model on the held-out test rows
    best_algorithm: str
    best_params: dict[str, Any]
    n_trials: int
    duration_s: float
    study_name: str
    stop_reason: str
