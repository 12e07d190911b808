"""How long a training job will take, shown before launch and compared with the actual time after.

A simple cost model (seconds per trial grow with rows, features and folds, shrink with threads; trials run
`parallel_trials` at a time), calibrated by this studio's own finished jobs: the median ratio of actual to
estimated search time of the last jobs that ran to their trial budget scales the next estimate.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable

from pydantic import BaseModel

from studio.compute.profiles import ComputeProfile
from studio.training.estimators import ESTIMATORS
from studio.training.spec import TrainSpec

TRIAL_OVERHEAD_S = 0.3
START_S = 2.0  # cluster start (when cold) and data scatter
LOG_S = 5.0  # logging and registering the model (3 s in a warm worker, 4.5-5 s in a fresh `train --wait`)
#: the held-out evaluation on its bounded sample (importance on 1,000 rows x 3 shuffles, SHAP on 200): 0.2-1.7 s
EVALUATE_S = 1.5
SEARCH_ALONE = 0.95  # a time-bounded search uses all of its budget


class Estimate(BaseModel):
    seconds: float
    search_s: float
    overhead_s: float
    trial_s: float
    parallel_trials: int
    cores: int | None
    memory_gb: float | None
    calibrated_on: int = 0

    def describe(self) -> str:
        basis = f", calibrated on {self.calibrated_on} past job(s)" if self.calibrated_on else ""
        return f"about {_human(self.seconds)} (~{self.trial_s:.1f} s per trial{basis})"


class PastJob(BaseModel):
    estimate_search_s: float
    actual_search_s: float


def fit_seconds(algorithm: str, n_rows: int, n_features: int, threads: int) -> float:
    size = max(n_rows, 100) / 10_000 * (max(n_features, 1) / 10) ** 0.7
    known = ESTIMATORS.get(algorithm)  # the registry holds each algorithm's unit cost and whether it is threaded
    speedup = threads ** 0.7 if known is None or known.threaded else 1.0
    return (known.seconds_per_fit if known else 1.0) * size / speedup


def estimate(spec: TrainSpec, *, n_rows: int, profile: ComputeProfile, history: Iterable[PastJob] = ()) -> Estimate:
    train_rows = int(n_rows * (1 - spec.test_fraction))
    if spec.validation.kind == "kfold":
        fits, fit_rows = spec.validation.splits, int(train_rows * (1 - 1 / spec.validation.folds))
    else:
        fits, fit_rows = 1, int(train_rows * (1 - spec.validation.holdout_fraction))
    threads = profile.threads
    per_algo = [fit_seconds(a, fit_rows, len(spec.features), threads) for a in spec.algorithms]
    trial_s = fits * statistics.fmean(per_algo) + TRIAL_OVERHEAD_S
    if spec.budget.trial_limit_s is not None:
        trial_s = min(trial_s, spec.budget.trial_limit_s)
    parallel = 1 if profile.is_remote else profile.parallel_trials
    past = list(history)[-10:]
    ratio = statistics.median(p.actual_search_s / p.estimate_search_s for p in past) if past else 1.0
    search_s = None
    if spec.budget.max_trials is not None:
        search_s = trial_s * ratio * -(-spec.budget.max_trials // parallel)
    if spec.budget.seconds is not None:
        search_s = min(search_s, spec.budget.seconds) if search_s is not None else spec.budget.seconds * SEARCH_ALONE
    refit_s = max(fit_seconds(a, train_rows, len(spec.features), threads) for a in spec.algorithms)
    overhead = START_S + refit_s + LOG_S
    return Estimate(seconds=float(search_s or 0) + overhead, search_s=float(search_s or 0), overhead_s=overhead,
                    trial_s=trial_s * ratio, parallel_trials=parallel,
                    cores=None if profile.is_remote else profile.cores,
                    memory_gb=None if profile.is_remote else profile.memory_gb * profile.workers,
                    calibrated_on=len(past))


#: The final fits never take more than this share of a time budget away from the search.
FINAL_SHARE_CAP = 1 / 3
#: The estimate of the final fits from the members the final choice would take now (`follow.Watch.reserve`) is
#: taken this many times over: a final fit runs in the job's own process, beside whatever else the machine runs.
MEMBERS_MARGIN = 1.5
#: The members an ensemble's refit is reserved for: the selection often keeps 4-6 of its candidates (3 left a
#: 10,000-row job 6 s over its budget, bench/engine.py section 4).
ENSEMBLE_MEMBERS = 5


def final_reserve_s(spec: TrainSpec, split_seconds_best_first: Iterable[float], *,
                    members: int = ENSEMBLE_MEMBERS) -> float:
    """Seconds a time-bounded search leaves at the end, so the whole job fits the budget: the chosen model is
    fitted on all rows, an ensemble once per member, then logged and registered (LOG_S) and evaluated on the
    held-out rows (EVALUATE_S): the budget is the whole job. The fits are estimated from the best trials' own time
    per validation split (`search.seconds_per_split`), of the `members` first."""
    if spec.budget.seconds is None:
        return 0.0
    fitted = list(split_seconds_best_first)[:members if spec.ensemble else 1]
    needed = refit_seconds(spec, fitted) + LOG_S + EVALUATE_S
    return min(needed, FINAL_SHARE_CAP * spec.budget.seconds)


def refit_seconds(spec: TrainSpec, split_seconds: Iterable[float]) -> float:
    """The final fit of the configurations whose trials took `split_seconds` per validation split: one fit, as the
    held-out evaluation reuses the search's split models (`training.reuse`; where it cannot, the two fits on the
    training rows and on all rows run at the same time, and take longer), on more rows than a split's."""
    return sum(split_seconds) * final_growth(spec)


def final_growth(spec: TrainSpec) -> float:
    """How many times a validation split's fit rows the final fit learns from (all rows, or the training rows)."""
    v = spec.validation
    split_share = 1 - (1 / v.folds if v.kind == "kfold" else v.holdout_fraction)
    return 1 / (split_share * (1 - spec.test_fraction if spec.refit_all_rows else 1))


def _human(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
