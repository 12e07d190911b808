"""Greedy ensemble selection (Caruana et al., 2004) over the best trials' out-of-fold predictions.

Starting from the best single model, repeatedly add (with replacement) the candidate whose addition gives the
best averaged out-of-fold predictions on the validation rows, ROUNDS times, and keep the best of those blends.
The ensemble is kept only when it beats the best single model on those rows; it becomes a soft-voting model of
whole pipelines, so serving and export treat it like any other sklearn model.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import VotingClassifier, VotingRegressor

from studio.training.estimators import Params
from studio.training.metrics import Metric, score_predictions
from studio.training.search import make_pipeline
from studio.training.spec import TrainSpec

MAX_CANDIDATES = 12
ROUNDS = 20
MIN_GAIN = 1e-6


@dataclass(frozen=True)
class Candidate:
    number: int
    algorithm: str
    params: Params
    score: float
    oof: np.ndarray


@dataclass(frozen=True)
class Selection:
    weights: dict[int, int]  # trial number -> times chosen
    score: float  # the ensemble's score on the validation rows
    single_score: float  # the best single candidate's score on the same rows

    @property
    def is_ensemble(self) -> bool:
        return len(self.weights) > 1


def shortlist(candidates: list[Candidate], metric: Metric, first: int | None = None) -> list[Candidate]:
    """The best MAX_CANDIDATES trials, always including each algorithm's best (diversity helps ensembles), best
    first; trial `first` (the best single configuration, `search.best_trial`) leads when it is among them."""
    ranked = sorted(candidates, key=lambda c: c.score, reverse=metric.greater_is_better)
    best_per_algorithm = {c.algorithm: c for c in reversed(ranked)}
    chosen = {c.number: c for c in ranked[:MAX_CANDIDATES]}
    chosen.update({c.number: c for c in best_per_algorithm.values()})
    chosen.update({c.number: c for c in ranked if c.number == first})
    return sorted(chosen.values(), key=lambda c: (c.number != first, -c.score if metric.greater_is_better else c.score))


def select(candidates: list[Candidate], y: np.ndarray, metric: Metric) -> Selection:
    """Greedy forward selection with replacement on the rows the first (best) candidate validated, among the
    candidates that validated all of them: one scored on fewer splits within its time limit narrows the
    selection only when it is the best, and is left out otherwise."""
    if not candidates:
        raise ValueError("no candidates to select from")
    rows = _validated(candidates[0], len(y))
    candidates = [c for c in candidates if _validated(c, len(y))[rows].all()]
    target = y[rows]
    preds = [c.oof[rows].astype(np.float64) for c in candidates]
    better = (lambda a, b: a > b + MIN_GAIN) if metric.greater_is_better else (lambda a, b: a < b - MIN_GAIN)
    singles = [score_predictions(metric, target, p) for p in preds]
    first = int(np.argmax(singles) if metric.greater_is_better else np.argmin(singles))
    total, picks, best, kept = preds[first].copy(), [first], singles[first], 1
    for _ in range(ROUNDS):  # every round adds the best pick, improving or not, and the best prefix is kept: a
        # blend of 2:1 or 3:1 is reached through a 1:1 blend worse than the best model alone
        trial_scores = [score_predictions(metric, target, (total + p) / (len(picks) + 1)) for p in preds]
        pick = int(np.argmax(trial_scores) if metric.greater_is_better else np.argmin(trial_scores))
        total += preds[pick]
        picks.append(pick)
        if better(trial_scores[pick], best):
            best, kept = trial_scores[pick], len(picks)
    weights = Counter(candidates[i].number for i in picks[:kept])
    return Selection(weights=dict(weights), score=best, single_score=singles[first])


def _validated(candidate: Candidate, n_rows: int) -> np.ndarray:
    return ~np.isnan(candidate.oof.reshape(n_rows, -1)).any(axis=1)


def build(spec: TrainSpec, members: list[tuple[Candidate, int]], *, n_jobs: int) -> VotingClassifier | VotingRegressor:
    """An unfitted soft-voting model of the members' whole pipelines, weighted by how often each was picked."""
    estimators = [(f"{c.algorithm}_{c.number}", make_pipeline(spec, c.algorithm, c.params, n_jobs=n_jobs))
                  for c, _ in members]
    weights = [w for _, w in members]
    if spec.task.is_classification:
        return VotingClassifier(estimators, voting="soft", weights=weights)
    return VotingRegressor(estimators, weights=weights)
