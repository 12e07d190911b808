"""Adaptive sharing of the budget across algorithms.

After every algorithm's strong default has run, each new trial goes to the algorithm that is furthest below
its fair share. Shares follow the ranking of the algorithms' best scores so far: the leader's share is 1, and
each rank behind halves it (1, 1/2, 1/4, ...), so a clearly weaker family keeps a little exploration and a
family that overtakes the leader takes over its share at once. A family that has stopped improving (PLATEAU
finished trials in a row without bettering its best by more than PLATEAU_GAIN) keeps only CONVERGED_SHARE of
its share: a linear model has one or two hyperparameters, and on a house-price table where it led the boosters
early it took 95 of 109 trials, a third of the trials' time, to move its score by 0.4 %, while the boosters, a
few thousand short of it and far from tuned, got one to seven trials each. The currency is seconds when the
search has a time budget (an expensive family pays for its cost) and trials when it only has a trial budget (the
choice then depends on scores alone, so the same spec and seed give the same search).

Optuna's TPE still samples each trial's hyperparameters; only the algorithm is fixed, by enqueueing it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import optuna
from optuna.trial import FrozenTrial, TrialState

from studio.training.driver import counts
from studio.training.metrics import METRICS
from studio.training.spec import TrainSpec

#: An algorithm whose every trial failed ranks below all others.
FAILED_SHARE = 1 / 64
#: A family whose last PLATEAU finished trials did not improve its best score by more than PLATEAU_GAIN
#: (relative) has converged: its share is multiplied by CONVERGED_SHARE (it keeps a little exploration).
PLATEAU = 12
PLATEAU_GAIN = 1e-3
CONVERGED_SHARE = 1 / 8


def shares(algorithms: Sequence[str], trials: Sequence[FrozenTrial], *, greater_is_better: bool) -> dict[str, float]:
    """Each algorithm's share of the budget by the rank of its best completed score (an algorithm still
    waiting for its first result is treated as a leader)."""
    best: dict[str, float] = {}
    started: set[str] = set()
    for t in trials:
        name = str(t.params.get("algorithm"))
        started.add(name)
        if t.state == TrialState.COMPLETE and t.value is not None:
            value = t.value if greater_is_better else -t.value
            best[name] = max(best.get(name, value), value)
    ranked = sorted(best, key=lambda name: -best[name])
    out = {}
    for name in algorithms:
        if name in best:
            out[name] = 0.5 ** ranked.index(name) * (CONVERGED_SHARE if converged(name, trials, greater_is_better)
                                                     else 1.0)
        else:
            running = any(str(t.params.get("algorithm")) == name and t.state == TrialState.RUNNING for t in trials)
            out[name] = 1.0 if running or name not in started else FAILED_SHARE
    return out


def converged(algorithm: str, trials: Sequence[FrozenTrial], greater_is_better: bool) -> bool:
    """Whether the algorithm's last PLATEAU finished trials (in the order they finished) all failed to better its
    best score before them by more than PLATEAU_GAIN of it."""
    finished = sorted((t for t in trials if str(t.params.get("algorithm")) == algorithm and t.datetime_complete
                       and t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)),
                      key=lambda t: t.datetime_complete or datetime.min)
    if len(finished) <= PLATEAU:
        return False
    sign = 1.0 if greater_is_better else -1.0
    best = None
    since = 0  # finished trials since the best last moved by more than PLATEAU_GAIN
    for t in finished:
        value = sign * t.value if t.state == TrialState.COMPLETE and t.value is not None else None
        if value is not None and (best is None or value > best + PLATEAU_GAIN * abs(best)):
            best, since = value, 0
        else:
            since += 1
            if value is not None:
                best = max(best, value) if best is not None else value
    return best is not None and since >= PLATEAU


def spent(algorithms: Sequence[str], trials: Sequence[FrozenTrial], *, by_time: bool,
          now: datetime | None = None) -> dict[str, float]:
    """What each algorithm has used: seconds (running trials up to `now`) or counted trials."""
    used = dict.fromkeys(algorithms, 0.0)
    for t in trials:
        name = str(t.params.get("algorithm"))
        if name not in used:
            continue
        if not by_time:
            used[name] += 1.0 if counts(t) or t.state == TrialState.RUNNING else 0.0
        elif t.datetime_start is not None:
            end = t.datetime_complete or now or datetime.now()
            used[name] += max((end - t.datetime_start).total_seconds(), 0.0)
    return used


def pick(spec: TrainSpec, trials: Sequence[FrozenTrial], now: datetime | None = None) -> str:
    """The algorithm furthest below its share (ties: the order of spec.algorithms)."""
    metric = METRICS[spec.metric]
    share = shares(spec.algorithms, trials, greater_is_better=metric.greater_is_better)
    used = spent(spec.algorithms, trials, by_time=spec.budget.seconds is not None, now=now)
    return min(spec.algorithms, key=lambda name: used[name] / share[name])


def ask(spec: TrainSpec, study: optuna.Study) -> optuna.Trial:
    """Start the next trial: queued trials (the defaults) first, then one of the algorithm `pick` chooses."""
    if len(spec.algorithms) > 1 and not study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        study.enqueue_trial({"algorithm": pick(spec, study.get_trials(deepcopy=False))})
    return study.ask()
