"""Successive halving over validation splits and rows: every configuration is scored cheaply first, and only
the promising ones are given the rest of their validation.

A trial's first rung is its first validation splits, as many as hold RUNG_VALIDATION_ROWS validation rows:
one split from about 5,000 rows; on small data a single split's few dozen rows would make the comparison a
coin toss, so the rung takes more splits (none, when that would be all of them). On a split with more than
2 x RUNG_ROWS fit rows, the rung is a sample of RUNG_ROWS of that split's fit rows (and as many of its
validation rows). Once RUNG_STARTUP trials of the same algorithm have a first-rung score, a trial whose score
there is worse than their median stops after it (reported pruned, as Optuna's median pruner would): it costs a
few splits of k, or a sample of one. The median is taken over every trial that reached the rung, pruned or not,
as in ASHA, so it does not tighten just because the survivors are good; and over the trial's own algorithm only,
as Hyperband runs per configuration space: pooled, the median of a hundred cheap linear trials on a house-price
table stopped every booster configuration that was not already better than the best linear model, so the
boosters never found their good region (their few trials scored 31,000-43,000 where a tuned booster reaches
27,500). The strong defaults are never stopped at the rung: they are what makes a model exist whatever the
budget. Within a rung the boosters' own checkpoints (boosting rounds, `studio.training.boosting`) and the
forests' tree batches keep cutting cost further.

One split with fewer rows than that (a holdout on mid-sized data) has no cheaper rung: the trial is its rung.
The threshold travels with the trial because the Dask worker running it has no access to the study.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import optuna

from studio.training.driver import FINISHED
from studio.training.kept import KeepAs
from studio.training.metrics import Metric, worse

#: The user attribute holding a trial's first-rung score.
RUNG_ATTR = "rung_score"
#: The user attribute marking an algorithm's enqueued default configuration.
DEFAULT_ATTR = "default"
RUNG_STARTUP = 6
#: On larger splits the first rung fits on this many rows.
RUNG_ROWS = 10_000
#: The first rung's score is measured on at least this many validation rows.
RUNG_VALIDATION_ROWS = 1_000


@dataclass(frozen=True)
class Limits:
    """What a trial runs under, from the study so far: the boosters' median score per round checkpoint, the
    median first-rung score (None: no rung stop, because too few trials reached it or this is a default), and
    when the job's search ends."""

    checkpoints: dict[int, float] = field(default_factory=dict)
    rung: float | None = None
    stop_by: float | None = None  # time.time() when the job's search ends: the trial stops itself there
    #: time.time() when the driver started the trial, whose per-trial limit counts from then: a worker slow to
    #: begin it (a busy machine) must not run it past the limit and be stopped and restarted
    submitted: float | None = None
    keep_as: KeepAs | None = None  # where the trial's last split model is kept for the final phase (kept.py)


def threshold(study: optuna.Study, algorithm: str) -> float | None:
    """The median first-rung score of the finished trials of `algorithm`, once RUNG_STARTUP of them have one."""
    values = [float(t.user_attrs[RUNG_ATTR]) for t in study.get_trials(deepcopy=False, states=FINISHED)
              if RUNG_ATTR in t.user_attrs and t.params.get("algorithm") == algorithm]
    return float(np.median(values)) if len(values) >= RUNG_STARTUP else None


def limits_for(trial: optuna.Trial, checkpoints: dict[int, float], stop_by: float | None = None) -> Limits:
    algorithm = str(trial.params.get("algorithm"))
    rung = None if trial.user_attrs.get(DEFAULT_ATTR) else threshold(trial.study, algorithm)
    return Limits(checkpoints, rung, stop_by, time.time(), KeepAs(trial.study.study_name, trial.number, algorithm))


def sample(fit_idx: np.ndarray, val_idx: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The first rung's rows on a large split (RUNG_ROWS fit rows, at most as many validation rows, drawn
    at random with the spec's seed), or None when the split is small enough to be the rung itself."""
    if len(fit_idx) <= 2 * RUNG_ROWS:
        return None
    rng = np.random.default_rng(seed)
    fit = np.sort(rng.choice(fit_idx, RUNG_ROWS, replace=False))
    val = np.sort(rng.choice(val_idx, min(len(val_idx), RUNG_ROWS), replace=False))
    return fit, val


def leading_splits(splits: Sequence[tuple[np.ndarray, np.ndarray]]) -> int:
    """How many leading splits make the first rung (enough validation rows), or 0 when it would take all of
    them (the whole validation is the rung: nothing to stop early)."""
    rows = 0
    for i, (_, val_idx) in enumerate(splits[:-1]):
        rows += len(val_idx)
        if rows >= RUNG_VALIDATION_ROWS:
            return i + 1
    return 0


def splits_note(done: int, total: int) -> str:
    return f"split 1 of {total}" if done == 1 else f"splits 1-{done} of {total}"


def stops(metric: Metric, value: float, limit: float | None) -> bool:
    return limit is not None and bool(np.isfinite(value)) and worse(metric, value, limit)


def stopped_note(what: str, value: float, limit: float) -> str:
    return f"stopped after its first rung ({what}): {value:.5g} is worse than the median {limit:.5g}"
