"""How a trained model behaves on rows it never saw: held-out predictions, importance, explanations."""

from studio.training.evaluation.holdout import Holdout, holdout_of
from studio.training.evaluation.importance import FeatureImportance, permutation_importance
from studio.training.evaluation.record import Evaluation, EvaluationSummary, evaluate_model

__all__ = ["Evaluation", "EvaluationSummary", "FeatureImportance", "Holdout", "evaluate_model", "holdout_of",
           "permutation_importance"]
