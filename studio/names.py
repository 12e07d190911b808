"""Every name the studio writes to MLflow: its tags, its metric names, and what a run's kind is.

Writers and readers both take the names from here (as Optuna keeps its storage keys in one place), so a tag
is spelt once and a reader never guesses. The typed reader of a run is `studio.runs.RunSummary.from_mlflow`.

Two scores, two names: `validation_<metric>` is the cross-validated (or holdout) score of the configuration the
search chose, measured on the training rows only; `test_<metric>` is the registered model's score on the
held-out test rows, which no part of the search saw. A model family has no single validation score (each
partition chose on its own inner split), so it writes only `test_<metric>`.
"""

from __future__ import annotations

from enum import StrEnum


class Tag(StrEnum):
    """MLflow tags the studio sets on its runs."""

    KIND = "studio.kind"  # RunKind
    JOB_ID = "studio.job_id"
    DATASET_ID = "studio.dataset_id"
    DATASET_HASH = "studio.dataset_hash"
    TASK = "studio.task"
    METRIC = "studio.metric"
    STUDY_NAME = "studio.study_name"
    COMPUTE = "studio.compute"
    MODEL_URI = "studio.model_uri"
    BEST_ALGORITHM = "studio.best_algorithm"  # what was chosen, in words ("lightgbm", "ensemble of ...")
    STOP_REASON = "studio.stop_reason"
    FINAL_MODEL = "studio.final_model"  # how the registered model was made, in words
    REFIT_ALL_ROWS = "studio.refit_all_rows"
    FAMILY = "studio.family"  # a model family's partition columns, comma-separated; absent for a single model
    ONNX_MAX_ABS_DIFF = "studio.onnx_max_abs_diff"
    # on a trial's child run
    ALGORITHM = "studio.algorithm"
    TRIAL_STATE = "studio.trial_state"
    TRIAL_NUMBER = "studio.trial_number"
    TRIAL_ERROR = "studio.trial_error"


class RunKind(StrEnum):
    TRAINING = "training"  # a job's parent run: one per training job (single model or family)
    TRIAL = "trial"  # a child run per finished trial of the search


#: Family summary metrics (counts of partitions); `partitions` is present on every family's run.
PARTITIONS = "partitions"
PARTITIONS_MODELED = "partitions_modeled"
N_TRIALS = "n_trials"
DURATION_S = "duration_s"
#: The per-partition table logged with a family's run.
PARTITIONS_TABLE = "partitions.parquet"

_VALIDATION = "validation_"
_LEGACY_VALIDATION = "best_"  # runs written before the rename
_TEST = "test_"


def validation(metric: str) -> str:
    """The chosen configuration's validation score (training rows only)."""
    return f"{_VALIDATION}{metric}"


def validation_spread(metric: str) -> str:
    """The standard deviation of the chosen configuration's fold scores."""
    return f"{_VALIDATION}{metric}_std"


def algorithm_validation(metric: str, algorithm: str) -> str:
    """The best validation score an algorithm reached in the search."""
    return f"{_VALIDATION}{metric}__{algorithm}"


def held_out(metric: str) -> str:
    """The registered model's score on the held-out test rows."""
    return f"{_TEST}{metric}"


def validation_of(metrics: dict[str, float], metric: str) -> float | None:
    found = metrics.get(validation(metric))
    return found if found is not None else metrics.get(f"{_LEGACY_VALIDATION}{metric}")


def spread_of(metrics: dict[str, float], metric: str) -> float | None:
    found = metrics.get(validation_spread(metric))
    return found if found is not None else metrics.get(f"{_LEGACY_VALIDATION}{metric}_std")


def per_algorithm_of(metrics: dict[str, float], metric: str) -> dict[str, float]:
    """Algorithm -> its best validation score, from a run's metrics."""
    found: dict[str, float] = {}
    for prefix in (f"{_LEGACY_VALIDATION}{metric}__", f"{_VALIDATION}{metric}__"):
        found |= {k.removeprefix(prefix): v for k, v in metrics.items() if k.startswith(prefix)}
    return found


def held_out_of(metrics: dict[str, float]) -> dict[str, float]:
    """Metric name -> the registered model's held-out test score, for every metric the run recorded."""
    return {k.removeprefix(_TEST): v for k, v in metrics.items() if k.startswith(_TEST)}


def partition_columns_of(tags: dict[str, str]) -> list[str]:
    """A family's partition columns from its run's tags; [] for a single model."""
    return [c for c in tags.get(Tag.FAMILY, "").split(",") if c]
