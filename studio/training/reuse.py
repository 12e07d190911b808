"""The held-out evaluation from what the search already fitted, so the final phase fits the chosen model once.

A trial's last validation split model stays where it was fitted (`studio.training.kept`); it learned from part of
the training rows and from no held-out row. When every member of the chosen model has one at hand, that model (or
the members' split models blended with the ensemble's weights, as the soft-voting model blends its members) gives
the job's held-out score, its diagnostics, permutation importance and SHAP, and the one fit of the final phase is
the registered model's, on all rows. The score is then that of a model fitted on a split's rows (four fifths of
the training rows with 5-fold validation), a little below what the registered model, which learns from every row,
would score: the honest side to err on. An ensemble member whose split model is not at hand (a resumed job whose
best trials ran in an earlier attempt, a restarted worker, a model dropped for the memory cap) is fitted on the
training rows, beside the registered model's fit, and blended with the others'; where no member's is at hand, the
job fits the chosen model on the training rows as well.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from studio.compute import inline
from studio.training import kept
from studio.training.driver import Pool
from studio.training.model import raw_predictions


class Blend:
    """Fitted pipelines averaged with weights, as the registered soft-voting ensemble averages its members
    (prediction only: what the held-out diagnostics and importance call)."""

    def __init__(self, members: Sequence[tuple[Any, int]], n_classes: int | None) -> None:
        self.members, self.n_classes = list(members), n_classes
        if n_classes is not None:
            self.classes_ = np.arange(n_classes)

    def _blended(self, X: pd.DataFrame) -> np.ndarray:
        weights = np.array([w for _, w in self.members], dtype=np.float64)
        stacked = np.stack([raw_predictions(m, X, self.n_classes) for m, _ in self.members])
        return np.tensordot(weights / weights.sum(), stacked, axes=1)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self._blended(X)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        blended = self._blended(X)
        return blended if self.n_classes is None else blended.argmax(axis=1)


def fetch(members: Sequence[tuple[int, int]], study: Any, pool: Pool) -> tuple[list[Any | None], str]:
    """Each of the chosen `members`' ((trial number, weight) pairs) kept split model, which learned from no held-out
    row; None where it is not at hand, with why for the first such (for the job's log; "" when all are)."""
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    alive = pool.workers()
    models: list[Any | None] = []
    why = ""
    for number, _ in members:
        model, missing = _fetched(number, trials, alive, study.study_name, pool)
        models.append(model)
        why = why or missing
    return models, why


def scored_model(models: Sequence[Any], members: Sequence[tuple[int, int]], n_classes: int | None) -> Any:
    """The held-out evaluation's model from one fitted model per member: the one member's, or a Blend of the
    members' with their weights."""
    if len(models) == 1:
        return models[0]
    return Blend([(m, w) for m, (_, w) in zip(models, members, strict=True)], n_classes)


def forget(study: Any, pool: Pool) -> None:
    """Drop this job's kept models, here and on every worker (not waited for)."""
    kept.forget(study.study_name)
    for address in pool.workers():
        try:
            pool.call(address, kept.forget, study.study_name)
        except Exception:  # a worker going away takes its models with it
            continue


def _fetched(number: int, trials: dict[int, Any], alive: dict[str, int], job: str, pool: Pool
             ) -> tuple[Any | None, str]:
    """Trial `number`'s kept model, from the worker that ran it; (None, why) when it is not at hand."""
    address = trials[number].user_attrs.get("worker") if number in trials else None
    if address is None:
        return None, f"trial {number} has no worker recorded (an earlier attempt's)"
    if address not in alive and address != inline.ADDRESS:  # this process: always there
        return None, f"trial {number}'s worker is gone (restarted or stopped)"
    try:
        model = pool.call(address, kept.take, job, number)
    except Exception:  # the worker went away since: its models with it
        return None, f"trial {number}'s worker went away"
    if model is None:
        return None, f"trial {number}'s model was not kept (dropped for the size or count cap, or never kept)"
    return model, ""
