"""Training: the typed spec, the estimator registry, preprocessing, the Optuna search and the run sequence."""

from studio.training.estimators import ESTIMATORS, EstimatorDef
from studio.training.features import Feature, build_preprocessor, model_frame
from studio.training.metrics import DEFAULT_METRIC, METRICS, Metric, metrics_for
from studio.training.model import ModelInfo, TrainedModel, encode_target
from studio.training.spec import Budget, TrainSpec, Validation, check_against_data
from studio.training.task import Task, detect_task

__all__ = [
    "DEFAULT_METRIC", "ESTIMATORS", "METRICS", "Budget", "EstimatorDef", "Feature", "Metric", "ModelInfo",
    "Task", "TrainSpec", "TrainedModel", "Validation", "build_preprocessor", "check_against_data",
    "detect_task", "encode_target", "metrics_for", "model_frame",
]
