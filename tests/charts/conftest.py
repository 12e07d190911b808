"""The chart tests draw the evaluations the evaluation tests build."""

from tests.training.evaluation.conftest import binary_eval, multiclass_eval, regression_eval, train_and_test

__all__ = ["binary_eval", "multiclass_eval", "regression_eval", "train_and_test"]
