"""Training: the typed spec, the estimator registry, preprocessing, the Optuna search and the run sequence.

The public names are imported on first use (PEP 562), so importing one light module of the package (the
estimator registry for the CLI's help, the spec) does not load scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "ESTIMATORS": "estimators", "EstimatorDef": "estimators", "Feature": "features",
    "build_preprocessor": "features", "model_frame": "features", "DEFAULT_METRIC": "metrics", "METRICS": "metrics",
    "Metric": "metrics", "metrics_for": "metrics", "ModelInfo": "model", "TrainedModel": "model",
    "encode_target": "model", "Budget": "spec", "TrainSpec": "spec", "Validation": "spec",
    "check_against_data": "spec", "Task": "task", "detect_task": "task",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'studio.training' has no attribute {name!r}")
    return getattr(importlib.import_module(f"studio.training.{_WHERE[name]}"), name)
