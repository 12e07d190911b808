"""The search's sampler: Optuna's TPE, with a floor on the trials each leading algorithm gets.

TPE chooses the algorithm like any other parameter: once one leads, it spends nearly every trial on it (on
randhie, 59 of 65 finished trials were XGBoost; the random forests and LightGBM configurations that scored best
held out were barely tried), and ensemble selection then mixes near copies of one model. FLAML avoids this by
design (each learner is searched on its own and chosen by its expected cost of improvement); here a floor is
enough: each of the TOP algorithms by best score so far gets at least FLOOR of the sampled trials, the one
furthest below it first. TPE still chooses every other trial's algorithm, and every trial's parameters.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

#: How many leading algorithms the floor keeps searched, and the share of sampled trials each gets at least.
TOP = 3
FLOOR = 1 / 6
ALGORITHM = "algorithm"


class SpreadTPESampler(optuna.samplers.TPESampler):
    """TPE whose algorithm choice is overruled when a leading algorithm is below its floor of trials."""

    def __init__(self, *, default_attr: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._default_attr = default_attr  # the user attribute of the enqueued defaults, which do not count

    # Overrides TPE's per-group sampling (a private method of the pinned Optuna) rather than sample_relative, so
    # that the algorithm the constant liar records for this running trial is the one it runs.
    def _sample_relative(self, study: Study, trial: FrozenTrial,
                         search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        params = super()._sample_relative(study, trial, search_space)
        if ALGORITHM in params:
            params[ALGORITHM] = due_algorithm(study, trial.number, self._default_attr) or params[ALGORITHM]
        return params


def due_algorithm(study: Study, number: int, default_attr: str) -> str | None:
    """The leading algorithm (of TOP by best completed score) furthest below FLOOR of the sampled trials
    started before trial `number` and this one, or None when every one has its share."""
    sampled = [t for t in study.get_trials(deepcopy=False)
               if t.number < number and not t.user_attrs.get(default_attr) and ALGORITHM in t.params]
    best: dict[str, float] = {}
    maximize = study.direction == StudyDirection.MAXIMIZE
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        algorithm, value = str(t.params.get(ALGORITHM)), t.value
        if value is not None and (algorithm not in best or (value > best[algorithm]) == maximize):
            best[algorithm] = value
    leaders = sorted(best, key=best.__getitem__, reverse=maximize)[:TOP]
    counts = Counter(str(t.params[ALGORITHM]) for t in sampled)
    share = FLOOR * (len(sampled) + 1)
    behind = [a for a in leaders if counts[a] < share]
    return min(behind, key=lambda a: counts[a]) if behind else None
