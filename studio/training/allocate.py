"""Adaptive sharing of the budget across algorithms.

After every algorithm's strong default has run, each new trial goes to the algorithm that is furthest below
its fair share. Shares follow the ranking of the algorithms' best scores so far: the leader's share is 1, and
each rank behind halves it (1, 1/2, 1/4, ...), so a clearly weaker family keeps a little exploration and a
family that overtakes the leader takes over its share at once. The currency is seconds when the search has a
time budget (an expensive family pays for its cost) and trials when it only has a trial budget (the choice
then depends on scores alone, so the same spec and seed give the same search).

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
            out[name] = 0.5 ** ranked.index(name)
        else:
            running = any(str(t.params.get("algorithm")) == name and t.state == TrialState.RUNNING for t in trials)
            out[name] = 1.0 if running or name not in started else FAILED_SHARE
    return out


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
