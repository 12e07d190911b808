"""The learning task, and how to detect it from a target column."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

#: An integer target with at most this many distinct values is treated as classes, not a quantity.
MAX_INT_CLASSES = 20


class Task(StrEnum):
    BINARY = "binary"
    MULTICLASS = "multiclass"
    REGRESSION = "regression"

    @property
    def is_classification(self) -> bool:
        return self is not Task.REGRESSION


def detect_task(target: pd.Series) -> Task:
    """Binary for two values, multiclass for a few labels, regression for a continuous quantity."""
    import pandas as pd

    values = target.dropna()
    n_distinct = values.nunique()
    if n_distinct <= 2:
        return Task.BINARY
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        return Task.MULTICLASS
    if pd.api.types.is_integer_dtype(values) and n_distinct <= MAX_INT_CLASSES:
        return Task.MULTICLASS
    return Task.REGRESSION
