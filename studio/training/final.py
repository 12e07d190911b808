"""The model a training job registers: the best single configuration, or a greedy ensemble of the best
trials when that beats it on the validation rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import numpy as np

from studio.training import ensemble
from studio.training.ensemble import Candidate
from studio.training.estimate import refit_seconds
from studio.training.metrics import METRICS, score_predictions
from studio.training.search import best_trial, configuration, make_pipeline, seconds_per_split, validation_splits
from studio.training.spec import TrainSpec


@dataclass(frozen=True)
class FinalChoice:
    build: Callable[[int], Any]  # n_jobs -> the unfitted model: a Pipeline, or a soft-voting model of pipelines
    label: str  # "xgboost", or "ensemble: xgboost x3 + lightgbm x2"
    params: dict[str, Any]
    validation_score: float
    note: str
    fold_scores: list[float]  # the validation score on each split (error bars where CV folds exist)
    members: tuple[tuple[int, int], ...]  # (trial number, weight) of each configuration in it
    declined: str = ""  # why no ensemble was taken though one beat it on the validation rows ("" when none did)


def choose(spec: TrainSpec, study: Any, candidates: list[Candidate], y: np.ndarray, *,
           seconds_left: float | None = None) -> FinalChoice:
    """The ensemble when it beats the best single configuration and its refit fits `seconds_left` (what the
    time budget leaves for the final fits; None: no limit), the best single one otherwise."""
    metric = METRICS[spec.metric]
    best = best_trial(study, metric)
    algorithm, params = configuration(best)
    single = FinalChoice(partial(_pipeline, spec, algorithm, params), algorithm, params,
                         float(best.value or 0.0), f"the best single configuration ({algorithm})",
                         list(best.user_attrs.get("fold_scores", [])), ((best.number, 1),))
    if not spec.ensemble or len(candidates) < 2:
        return single
    shortlisted = ensemble.shortlist(candidates, metric, first=best.number)
    selection, declined = _affordable_selection(spec, study, shortlisted, y, seconds_left)
    if selection is None or not selection.is_ensemble:
        return replace(single, declined=declined)
    by_number = {c.number: c for c in shortlisted}
    members = sorted(((by_number[n], w) for n, w in selection.weights.items()), key=lambda m: -m[1])
    label = "ensemble: " + " + ".join(f"{c.algorithm} x{w}" for c, w in members)
    return FinalChoice(
        partial(_ensemble, spec, members), label,
        {"members": [{"trial": c.number, "algorithm": c.algorithm, "weight": w, **c.params} for c, w in members]},
        selection.score,
        f"an ensemble of {len(members)} configurations: {spec.metric} {selection.score:.5g} on the validation "
        f"rows against {selection.single_score:.5g} for the best single one",
        _fold_scores(spec, members, y),
        tuple((c.number, w) for c, w in members),
    )


def _pipeline(spec: TrainSpec, algorithm: str, params: dict[str, Any], n_jobs: int) -> Any:
    return make_pipeline(spec, algorithm, params, n_jobs=n_jobs)


def _ensemble(spec: TrainSpec, members: list[tuple[Candidate, int]], n_jobs: int) -> Any:
    return ensemble.build(spec, members, n_jobs=n_jobs)


def likely_members(spec: TrainSpec, study: Any, candidates: list[Candidate], y: np.ndarray) -> list[int]:
    """The trials the final choice would fit if the search ended now (before the time the refits leave out)."""
    best = best_trial(study, METRICS[spec.metric])
    if not spec.ensemble or len(candidates) < 2:
        return [best.number]
    rows = np.sort(np.random.default_rng(spec.seed).permutation(len(y))[:ESTIMATE_ROWS])  # it runs as trials end
    sampled = [replace(c, oof=c.oof[rows]) for c in ensemble.shortlist(candidates, METRICS[spec.metric],
                                                                        first=best.number)]
    try:
        return list(ensemble.select(sampled, y[rows], METRICS[spec.metric]).weights)
    except ValueError:  # the sample holds none of the rows the best trial validated
        return [best.number]


def _affordable_selection(spec: TrainSpec, study: Any, shortlisted: list[Candidate], y: np.ndarray,
                          seconds_left: float | None) -> tuple[ensemble.Selection | None, str]:
    """The greedy selection over the shortlist; while its members' refit would not fit `seconds_left`, the
    slowest candidate is left out and the selection made again (None: no ensemble fits, and why)."""
    metric = METRICS[spec.metric]
    took = {t.number: seconds_per_split(t, spec.validation.splits) for t in study.get_trials(deepcopy=False)
            if t.duration is not None}
    best = shortlisted[0]  # the best single configuration first
    own = refit_seconds(spec, [took.get(best.number, 0.0)])  # a member that alone would not fit is never affordable
    pool = [c for c in shortlisted if c is best or seconds_left is None
            or own + refit_seconds(spec, [took.get(c.number, 0.0)]) <= seconds_left]
    declined = ""
    for _ in range(MAX_RESELECTIONS):  # each selection over 8,000 rows takes about a second
        if len(pool) < 2:
            break
        selection = ensemble.select(pool, y, metric)
        needed = refit_seconds(spec, (took.get(n, 0.0) for n in selection.weights))
        if seconds_left is None or needed <= seconds_left:
            return selection, ""
        declined = (f"An ensemble of {len(selection.weights)} configurations would take about {needed:.1f} s to "
                    f"fit; {max(seconds_left, 0.0):.1f} s of the budget were left for it.")
        # the best single configuration stays: it is what the job falls back to, fitted whatever it costs
        pool.remove(max((c for c in pool if c is not best), key=lambda c: took.get(c.number, 0.0)))
    return None, declined or ("" if len(shortlisted) < 2 else "No configuration but the best fits in the "
                              f"{max(seconds_left or 0.0, 0.0):.1f} s of the budget left: no ensemble was tried.")


#: How many times the ensemble is selected again without its slowest candidate before the best single one is taken.
MAX_RESELECTIONS = 4
#: The selection that estimates the final fits while the search ends (`likely_members`) reads this many rows at most.
ESTIMATE_ROWS = 2_000


def _fold_scores(spec: TrainSpec, members: list[tuple[Candidate, int]], y: np.ndarray) -> list[float]:
    """The ensemble's score on each validation split, from its members' blended out-of-fold predictions."""
    blended = sum(w * c.oof.astype(np.float64) for c, w in members) / sum(w for _, w in members)
    metric = METRICS[spec.metric]
    scores = []
    for _, rows in validation_splits(spec, y):
        part = np.asarray(blended)[rows]
        if not np.isnan(part).any():
            scores.append(score_predictions(metric, y[rows], part))
    return scores
