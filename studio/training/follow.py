"""Following a training job: what it reports to (the Reporter and the tracker), and the watcher that logs each
finished trial, keeps the candidates for the ensemble and the reserve for the final fits, and reports progress."""

from __future__ import annotations

import time
from typing import Any, Protocol

import numpy as np
import pandas as pd
from pydantic import BaseModel

from studio.training.driver import FINISHED, counts
from studio.training.ensemble import MAX_CANDIDATES, Candidate, shortlist
from studio.training.estimate import MEMBERS_MARGIN, final_reserve_s
from studio.training.evaluation import Evaluation
from studio.training.final import likely_members
from studio.training.metrics import METRICS
from studio.training.model import TrainedModel
from studio.training.progress import Progress
from studio.training.search import SPLITS_ATTR, TrialOutcome, outcome_of, ranked_trials, seconds_per_split
from studio.training.spec import TrainSpec


class Reporter(Protocol):
    """How a run talks to whoever runs it (the job store in a worker, a list in tests)."""

    def log(self, line: str) -> None: ...
    def progress(self, progress: BaseModel) -> None:
        """Progress of the job: a training Progress, or another job kind's own model."""
    def should_stop(self) -> bool: ...
    def fence(self) -> None:
        """Raise LeaseLost if this run no longer owns its job; called before anything irreversible."""


class TrackerLike(Protocol):
    def start_training(self, spec: TrainSpec, *, job_id: str, study_name: str) -> str: ...
    def logged_trials(self, parent_run_id: str) -> set[int]: ...
    def log_trial(self, parent_run_id: str, outcome: TrialOutcome, *, metric: str) -> None: ...
    def log_model(self, run_id: str, model: TrainedModel, *, example: pd.DataFrame, registered_name: str) -> str: ...
    def finish(self, run_id: str, *, metrics: dict[str, float], tags: dict[str, str], status: str = ...) -> None: ...
    def log_evaluation(self, run_id: str, evaluation: Evaluation) -> None: ...
    def log_table(self, run_id: str, table: pd.DataFrame, name: str) -> None: ...


#: The members the final choice would take are selected again at most this often while the search ends.
RESELECT_AFTER_S = 5.0


class Watch:
    """Follows the search: logs each finished trial to MLflow once (a resumed job skips those already logged),
    and reports progress and a log line per trial."""

    def __init__(self, spec: TrainSpec, study: Any, run_id: str, tracker: TrackerLike, reporter: Reporter,
                 started: float, progress: Progress, y: np.ndarray | None = None) -> None:
        self.spec, self.study, self.run_id, self.tracker, self.reporter = spec, study, run_id, tracker, reporter
        self.started, self.progress, self.y = started, progress, y  # y: the training rows' target (the selection's)
        self.logged = tracker.logged_trials(run_id)
        self.candidates: list[Candidate] = []  # this attempt's trials with out-of-fold predictions
        self.reserve_s = 0.0  # what the search leaves of a time budget for the final fits, from the best trials
        self.members_reserve_s: float | None = None  # the same from the members the final choice would take
        self._members_of: tuple[int, ...] | None = None  # the candidates members_reserve_s was made from
        self._members_at = 0.0  # time.monotonic() when it was made
        for frozen in study.get_trials(deepcopy=False):  # finished by an earlier attempt, not yet logged
            if frozen.state.is_finished() and frozen.number not in self.logged:
                self.on_trial(frozen, None)
        reporter.progress(self.advance())

    def on_trial(self, trial: Any, oof: np.ndarray | None) -> None:
        outcome = outcome_of(trial)
        if oof is not None and outcome.score is not None:
            self.candidates.append(Candidate(outcome.number, outcome.algorithm, dict(outcome.params), outcome.score,
                                             oof))
            if len(self.candidates) > 4 * MAX_CANDIDATES:  # bounded memory on long searches
                self.candidates = shortlist(self.candidates, METRICS[self.spec.metric])
        if outcome.number not in self.logged:
            self.tracker.log_trial(self.run_id, outcome, metric=self.spec.metric)
            self.logged.add(outcome.number)
        if outcome.score is not None:
            self.reserve_s = final_reserve_s(self.spec, _split_seconds_best_first(self.study, self.spec))
        self.reporter.progress(self.advance())
        metric = self.spec.metric
        partly = f" on {trial.user_attrs[SPLITS_ATTR]}" if SPLITS_ATTR in trial.user_attrs else ""
        shown = (f"{metric}={outcome.score:.5g}{partly}" if outcome.score is not None
                 else outcome.error if outcome.state == "pruned" else f"failed: {outcome.error}")
        self.reporter.log(f"Trial {outcome.number} {outcome.algorithm}: {shown} ({outcome.duration_s:.1f}s)")

    def reserve(self, end: float) -> float:
        """What the search leaves for the final phase when its time ends at `end` (time.monotonic()): the reserve
        from the best trials and, once the search is within twice that of its end, the estimate from the
        configurations the final choice would take now, if lower (an ensemble's selection, made again when a trial
        has joined the shortlist, at most every RESELECT_AFTER_S: a selection takes up to half a second). The best
        trials are often slower than what the final choice takes (on a busy machine: a 1,445-round LightGBM where
        the ensemble took a 395-round one and a linear model)."""
        if self.y is None or not self.candidates or time.monotonic() < end - 2 * self.reserve_s:
            return self.reserve_s
        metric = METRICS[self.spec.metric]
        shortlisted = tuple(sorted(c.number for c in shortlist(self.candidates, metric)))
        if shortlisted != self._members_of and time.monotonic() > self._members_at + RESELECT_AFTER_S:
            self._members_of, self._members_at = shortlisted, time.monotonic()
            took = {t.number: seconds_per_split(t, self.spec.validation.splits)
                    for t in self.study.get_trials(deepcopy=False) if t.duration is not None}
            members = likely_members(self.spec, self.study, self.candidates, self.y)
            self.members_reserve_s = final_reserve_s(self.spec, [MEMBERS_MARGIN * took.get(n, 0.0) for n in members],
                                                     members=len(members))
        return min(self.reserve_s, self.members_reserve_s if self.members_reserve_s is not None else self.reserve_s)

    def advance(self) -> Progress:
        self.progress = _advance(self.progress, self.study, self.spec, self.started)
        return self.progress


def _split_seconds_best_first(study: Any, spec: TrainSpec) -> list[float]:
    return [seconds_per_split(t, spec.validation.splits) for t in ranked_trials(study, METRICS[spec.metric])
            if t.duration is not None]


def _advance(progress: Progress, study: Any, spec: TrainSpec, started: float) -> Progress:
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False, states=FINISHED)
    done = sum(t.state == TrialState.COMPLETE for t in trials)
    pruned = sum(t.state == TrialState.PRUNED for t in trials)
    counted = sum(map(counts, trials))
    elapsed = time.time() - started
    etas = []
    if spec.budget.seconds is not None:
        etas.append(max(spec.budget.seconds - elapsed, 0.0))
    if spec.budget.max_trials is not None and counted:
        etas.append(elapsed / counted * max(spec.budget.max_trials - counted, 0))
    try:
        best, best_algo = study.best_value, str(study.best_trial.params.get("algorithm"))
    except ValueError:  # no completed trial yet
        best, best_algo = None, None
    return progress.model_copy(update={"trials_done": done, "trials_failed": len(trials) - done - pruned,
                                       "trials_pruned": pruned, "elapsed_s": elapsed,
                                       "eta_s": min(etas) if etas else None, "best_score": best,
                                       "best_algorithm": best_algo})
