"""One training run from spec to registered model: the sequence the worker executes for a train job."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from studio import names
from studio.compute.handover import HandoverPool
from studio.compute.profiles import ComputeProfile
from studio.data.catalog import DatasetCatalog
from studio.errors import DataError, SpecError, StudioError
from studio.names import Tag
from studio.training import allocate, reuse
from studio.training.driver import Pool, PoolFactory, StopReason, abandon_stale, counted_trials, drive
from studio.training.ensemble import Candidate
from studio.training.estimate import EVALUATE_S, LOG_S, refit_seconds
from studio.training.estimators import Losses
from studio.training.evaluation import evaluate_model
from studio.training.features import Feature, clipped, model_frame, within_range
from studio.training.final import FinalChoice, choose
from studio.training.follow import Reporter, TrackerLike, Watch
from studio.training.metrics import METRICS, metrics_for, score_predictions
from studio.training.model import ModelInfo, TrainedModel, encode_target, raw_predictions
from studio.training.progress import Progress, TrainResult
from studio.training.search import (
    configuration,
    make_pipeline,
    open_study,
    propose,
    score_trial,
    seconds_per_split,
)
from studio.training.spec import TrainSpec, check_against_data
from studio.training.task import Task
from studio.training.time_steps import time_split

EXAMPLE_ROWS = 5


def load_training_data(spec: TrainSpec, catalog: DatasetCatalog) -> tuple[pd.DataFrame, pd.Series, list[str]]:
    """The spec's snapshot, checked against its hash and the spec, without rows whose target is missing and,
    if the spec says so, without duplicate rows (returned with a note on each kind of row left out)."""
    record = catalog.get(spec.dataset_id)
    if record.content_hash != spec.dataset_hash:
        raise DataError(f"Dataset '{spec.dataset_id}' changed since the spec was made (hash mismatch).")
    frame = catalog.load(spec.dataset_id)
    problems = check_against_data(spec, frame)
    if problems:
        raise SpecError(" ".join(problems), problems=problems)
    notes = []
    if spec.cleaning.drop_duplicates:
        unique = frame.drop_duplicates()
        if len(unique) < len(frame):
            notes.append(f"Left out {len(frame) - len(unique)} duplicate rows (data preparation in the spec).")
        frame = unique
    kept = frame[frame[spec.target].notna()].reset_index(drop=True)
    if len(kept) < len(frame):
        notes.append(f"Left out {len(frame) - len(kept)} rows whose target '{spec.target}' is missing.")
    return kept, kept[spec.target], notes


@dataclass(frozen=True)
class Split:
    """The snapshot as model inputs: training rows for the search and refit, held-out rows for the test score."""

    frame: pd.DataFrame
    X: pd.DataFrame
    y: np.ndarray
    X_train: pd.DataFrame
    y_train: np.ndarray
    X_test: pd.DataFrame
    y_test: np.ndarray
    test_rows: np.ndarray
    classes: list[str] | None
    features: tuple[Feature, ...]  # the spec's, numeric ones bounded to the training rows' range (within_range)

    @classmethod
    def of(cls, spec: TrainSpec, catalog: DatasetCatalog, log: Callable[[str], None] = lambda _: None) -> Split:
        frame, target, notes = load_training_data(spec, catalog)
        for note in notes:
            log(note)
        X, (y, classes) = model_frame(frame, spec.features), encode_target(target, spec.task)
        if spec.forecast is not None:  # the held-out rows are the last `horizon` time steps
            train_rows, test_rows = time_split(frame, spec.forecast)
        else:
            train_rows, test_rows = train_test_split(np.arange(len(y)), test_size=spec.test_fraction,
                                                     random_state=spec.seed,
                                                     stratify=y if spec.task.is_classification else None)
        features = _bounded(spec, X.iloc[train_rows])
        split = cls(frame, X, y, X.iloc[train_rows], y[train_rows], clipped(X.iloc[test_rows], features),
                    y[test_rows], test_rows, classes, features)
        log(f"Loaded {spec.dataset_id}: {len(split.X_train)} training rows, {len(split.X_test)} test rows, "
                     f"{len(spec.features)} features.")
        return split

    @property
    def n_classes(self) -> int | None:
        return None if self.classes is None else len(self.classes)

    def example(self, spec: TrainSpec) -> pd.DataFrame:
        """A few held-out rows in the original columns: the logged model's input example."""
        return self.frame.iloc[self.test_rows[:EXAMPLE_ROWS]][[f.name for f in spec.features]].reset_index(drop=True)


def train(spec: TrainSpec, *, catalog: DatasetCatalog, tracker: TrackerLike, storage: Any, job_id: str,
          profile: ComputeProfile, reporter: Reporter, spent_s: float = 0.0,
          estimate_s: float | None = None, estimate_search_s: float | None = None,
          pools: PoolFactory = HandoverPool.open) -> TrainResult:
    """Search, refit the best configuration, log and register it. Resumable: run again with the same
    `job_id` after a crash, it reuses the MLflow run and the Optuna study (finished trials are kept) and
    spends only what is left of the time budget (`spent_s` was spent before). `pools` opens the worker slots the
    trials run on (Dask by default, the first trials in this process while the cluster is still starting;
    `InlinePool.open` runs them all in this process)."""
    started = time.time() - spent_s
    end = None if spec.budget.seconds is None else time.monotonic() + spec.budget.seconds - spent_s
    split = Split.of(spec, catalog, reporter.log)
    study_name = f"job-{job_id}"
    run_id = tracker.start_training(spec, job_id=job_id, study_name=study_name)
    losses = Losses.of(spec.task, split.y_train)
    study = open_study(spec, storage=storage, study_name=study_name, losses=losses)
    stale = abandon_stale(study, "abandoned: the worker running this job stopped")
    kept = counted_trials(study)
    if kept or stale:
        reporter.log(f"Resuming the study: {kept} finished trial(s) kept, {stale} interrupted trial(s) abandoned.")
    progress = Progress(phase="searching", trials_budget=spec.budget.max_trials, estimate_s=estimate_s,
                        estimate_search_s=estimate_search_s,
                        parallel_trials=None if profile.is_remote else profile.parallel_trials)
    watch = Watch(spec, study, run_id, tracker, reporter, started, progress, split.y_train)
    pool = pools(profile, split.X_train, split.y_train)
    if isinstance(pool, HandoverPool) and pool.starting:
        reporter.log(f"Compute '{profile.name}' is starting ({profile.summary()}); the first trials run in the "
                     "worker's own process until it is ready.")
    else:
        reporter.log(f"Compute '{profile.name}' ready: {profile.summary()}.")
    def proposing(trial: Any) -> tuple[Any, ...]:  # a trial stops itself where the search's time ends
        return propose(spec, trial, None if end is None else time.time() + end - watch.reserve(end) - time.monotonic(),
                       losses)

    still_running: list[str] = []  # their workers keep the models the final phase takes (reuse): not stopped
    reason = drive(study, pool, propose=proposing, run_trial=partial(score_trial, spec),
                   max_trials=spec.budget.max_trials, trial_limit_s=spec.budget.trial_limit_s,
                   on_trial=watch.on_trial, should_stop=reporter.should_stop,
                   deadline=None if end is None else (lambda: end - watch.reserve(end)),
                   ask=partial(allocate.ask, spec), still_running=still_running)
    reporter.fence()  # stopped because another worker took the job over: leave the rest to it
    progress = watch.advance().model_copy(update={"stop_reason": reason.value, "eta_s": 0.0,
                                                  "search_s": time.time() - started})
    reporter.log(f"Search stopped: {reason.value}; {progress.trials_done} trial(s) finished"
                 + (f", {watch.reserve(end):.0f} s of the budget left for the final fits and saving the model."
                    if end is not None and watch.reserve_s else ".")
                 + (f" {len(still_running)} trial(s) still running at the deadline end on their workers at their "
                    "next step." if still_running else ""))
    _some_trial_finished(progress, reason, tracker, run_id)
    cancelled = reason == StopReason.CANCELLED
    if cancelled:  # the analyst wants the job stopped: keep its best model at the cost of one fit, no more
        spec = spec.model_copy(update={"ensemble": False, "refit_all_rows": False})
        reporter.log("Cancelled: keeping the best single configuration, fitted once on the training rows; the "
                     "held-out importance and SHAP are skipped (re-run the job for them).")
    return _refit_and_register(spec, split, study, watch.candidates, run_id, tracker, reporter, profile, progress,
                               started, pool=pool, evaluate=not cancelled)


def _some_trial_finished(progress: Progress, reason: StopReason, tracker: TrackerLike, run_id: str) -> None:
    """Raise, the run marked failed or killed, when the search ended without a finished trial."""
    if progress.trials_done:
        return
    tracker.finish(run_id, metrics={}, tags={}, status="KILLED" if reason == StopReason.CANCELLED else "FAILED")
    if reason == StopReason.CANCELLED:
        raise StudioError("Cancelled before any trial finished; there is no model to keep.")
    raise StudioError("No trial finished within the budget. Raise the time budget, the per-trial time limit, "
                      "or choose faster algorithms.")


def _refit_and_register(spec: TrainSpec, split: Split, study: Any, candidates: list[Candidate], run_id: str,
                        tracker: TrackerLike, reporter: Reporter, profile: ComputeProfile, progress: Progress,
                        started: float, *, pool: Pool | None = None, evaluate: bool = True) -> TrainResult:
    reporter.progress(progress.model_copy(update={"phase": "refitting"}))
    final = _final_fits(spec, split, study, candidates, reporter, profile, pool, _seconds_left(spec, started))
    choice, pipeline = final.choice, final.registered
    test_score = score_predictions(METRICS[spec.metric], split.y_test, final.held_out)
    held_out = metrics_of(final.held_out, split.y_test, spec.task)
    # the registered model's inputs are bounded to the range of the rows it learned from
    features = _bounded(spec, split.X) if final.all_rows else split.features
    info = ModelInfo(task=spec.task, target=spec.target, features=features, classes=split.classes,
                     metric=spec.metric, run_id=run_id)
    reporter.progress(progress.model_copy(update={"phase": "logging model"}))
    reporter.fence()  # checked again: a worker that lost this job must not register a model for it
    model_uri = tracker.log_model(run_id, TrainedModel(pipeline, info), example=split.example(spec),
                                  registered_name=registered_name(spec))
    duration = time.time() - started
    stop_reason = progress.stop_reason or ""
    spread = ({names.validation_spread(spec.metric): float(np.std(choice.fold_scores))}
              if len(choice.fold_scores) > 1 else {})
    tracker.finish(run_id, metrics={names.validation(spec.metric): choice.validation_score, **spread,
                                    **held_out, names.held_out(spec.metric): test_score,
                                    names.N_TRIALS: progress.trials_done, names.DURATION_S: duration,
                                    **per_algorithm_best(study, spec.metric)},
                   tags={Tag.BEST_ALGORITHM: choice.label, Tag.STOP_REASON: stop_reason,
                         Tag.FINAL_MODEL: choice.note, Tag.REFIT_ALL_ROWS: str(final.all_rows)})
    if evaluate:
        left = _seconds_left(spec, started)
        importance = ImportanceBudget.within(left, predict_s=final.predict_s, predicted_rows=len(split.X_test),
                                             n_features=len(spec.features))
        _record_evaluation(spec, split, final.scored, choice.fold_scores, run_id, tracker, reporter, progress,
                           importance, final.held_out, shap_seconds=None if left is None else left / 4)
    if pool is not None:
        reuse.forget(study, pool)
    reporter.progress(progress.model_copy(update={"phase": "done", "elapsed_s": duration}))
    reporter.log(f"Done: {spec.metric} {choice.validation_score:.5g} (validation), {test_score:.5g} (test). "
                 f"Model {model_uri}.")
    return TrainResult(run_id=run_id, model_uri=model_uri, metric=spec.metric, validation_score=choice.validation_score,
                       test_score=test_score, best_algorithm=choice.label, best_params=choice.params,
                       n_trials=progress.trials_done, duration_s=duration, study_name=study.study_name,
                       stop_reason=stop_reason)


@dataclass(frozen=True)
class FinalFits:
    """The final phase's models: the registered one, and one that learned from no held-out row (with its
    predictions of those rows and how long one prediction of them took, which importance repeats)."""

    choice: FinalChoice
    registered: Any
    scored: Any
    held_out: np.ndarray
    predict_s: float
    all_rows: bool = True  # whether the registered model learned from every row (else: the training rows)


def _final_fits(spec: TrainSpec, split: Split, study: Any, candidates: list[Candidate], reporter: Reporter,
                profile: ComputeProfile, pool: Pool | None, seconds_left: float | None) -> FinalFits:
    """Fit the chosen model once on all rows when the search's split models can be its held-out evaluation
    (`studio.training.reuse`); otherwise on the training rows for the held-out score and, with refit_all_rows,
    again on all rows for registration, the two at the same time with half the threads each (small fits scale
    poorly with threads, so this is faster than one after the other)."""
    threads = _local_threads(profile)
    left = None if seconds_left is None else seconds_left - LOG_S - EVALUATE_S
    choice = choose(spec, study, candidates, split.y_train, seconds_left=left)
    if choice.declined:
        reporter.log(choice.declined)
    reusable = spec.refit_all_rows and pool is not None
    at_hand, missing = reuse.fetch(choice.members, study, pool) if reusable and pool is not None else ([], "")
    absent = ([number for (number, _), model in zip(choice.members, at_hand, strict=True) if model is None]
              if at_hand else [])  # nothing fetched: a cancelled job, or one registered from the training rows
    # the one fit on all rows is made whatever the time left; a member fitted for the held-out score only where
    # it fits beside it (else both the registered and the scored model are fitted on the training rows, below)
    if at_hand and len(absent) < len(at_hand) and (not absent or left is None or threads >= 2 or _refit_s(
            spec, study, choice) + _refit_s(spec, study, choice, only=absent) < left):
        return _fitted_once(spec, split, study, choice, at_hand, absent, threads, reporter, missing)
    if reusable:
        reporter.log(f"The search's split models are not all at hand ({missing}): the held-out score needs a fit on "
                     "the training rows.")
    all_rows = spec.refit_all_rows and (left is None or threads >= 2 or 2 * _refit_s(spec, study, choice) < left)
    if spec.refit_all_rows and not all_rows:
        reporter.log("No time left for a second fit on one free core: the registered model is the one fitted on the "
                     "training rows.")
    half = max(1, threads // 2) if all_rows else threads
    reporter.log(f"Refitting {choice.note} on all {len(split.X_train)} training rows"
                 + (f", and on all {len(split.X)} rows (training and held-out) for the registered model."
                    if all_rows else "."))
    with ThreadPoolExecutor(max_workers=2) as fitting:  # the estimators release the GIL while fitting
        on_training_rows = fitting.submit(choice.build(half).fit, split.X_train, split.y_train)
        full = fitting.submit(choice.build(half).fit, split.X, split.y) if all_rows else on_training_rows
        fitted = on_training_rows.result()
        predicting = time.monotonic()
        held_out = raw_predictions(fitted, split.X_test, split.n_classes)
        predict_s = time.monotonic() - predicting
        return FinalFits(choice, full.result(), fitted, held_out, predict_s, all_rows)


def _fitted_once(spec: TrainSpec, split: Split, study: Any, choice: FinalChoice, at_hand: list[Any | None],
                 absent: list[int], threads: int, reporter: Reporter, missing: str) -> FinalFits:
    """The registered model fitted once, on all rows; the held-out score from the members' kept split models,
    the `absent` members' (not at hand) fitted on the training rows meanwhile (half the threads each)."""
    if absent:
        reporter.log(f"Not every member's split model is at hand ({missing}): {len(absent)} of the "
                     f"{len(choice.members)} members fitted on the {len(split.X_train)} training rows for the "
                     "held-out score.")
    reporter.log(f"Fitting {choice.note} once, on all {len(split.X)} rows (training and held-out), for the "
                 "registered model; the held-out score is that of the search's last split model"
                 f"{'s' if len(choice.members) > 1 else ''}, which learned from no held-out row.")
    share = max(1, threads // 2) if absent else threads
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    with ThreadPoolExecutor(max_workers=1) as fitting:  # the estimators release the GIL while fitting
        registered = fitting.submit(choice.build(share).fit, split.X, split.y)
        models = [model if model is not None else
                  make_pipeline(spec, *configuration(trials[number]), n_jobs=share).fit(split.X_train, split.y_train)
                  for (number, _), model in zip(choice.members, at_hand, strict=True)]
        scored = reuse.scored_model(models, choice.members, split.n_classes)
        predicting = time.monotonic()
        held_out = raw_predictions(scored, split.X_test, split.n_classes)
        predict_s = time.monotonic() - predicting
        return FinalFits(choice, registered.result(), scored, held_out, predict_s)


def _refit_s(spec: TrainSpec, study: Any, choice: FinalChoice, only: list[int] | None = None) -> float:
    """The chosen model's fit on all rows (or that of its members `only`), estimated from its members' trials."""
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    return refit_seconds(spec, (seconds_per_split(trials[n], spec.validation.splits) for n, _ in choice.members
                                if n in trials and (only is None or n in only)))


@dataclass(frozen=True)
class ImportanceBudget:
    """How many held-out rows and shuffles permutation importance uses."""

    rows: int = 1000
    repeats: int = 3

    #: Fewer rows than this make importance noise: where the time left does not afford this many, importance is
    #: left out (rows 0) rather than run over the budget (50 rows x 64 features through an ensemble of two
    #: 10-class boosters took 6 s of a job already at its budget's end).
    FLOOR_ROWS: ClassVar[int] = 50

    @classmethod
    def within(cls, seconds: float | None, *, predict_s: float, predicted_rows: int,
               n_features: int) -> ImportanceBudget:
        """The default, or as much of it as fits the `seconds` a time budget has left: permutation importance
        predicts its rows once per feature and repeat, each row costing what the held-out prediction did. Half
        of what is left goes to it (the held-out rows and SHAP are saved too)."""
        full = cls()
        if seconds is None:
            return full
        per_pass_row = predict_s / max(predicted_rows, 1) * max(n_features, 1)
        affordable = max(seconds, 0.0) / 2 / max(per_pass_row, 1e-9)  # row-passes: rows x repeats
        if affordable >= full.rows * full.repeats:
            return full
        repeats = max(1, min(full.repeats, int(affordable // full.rows)))
        rows = min(full.rows, int(affordable / repeats))
        return cls(rows=rows if rows >= cls.FLOOR_ROWS else 0, repeats=repeats)


def _record_evaluation(spec: TrainSpec, split: Split, model: Any, fold_scores: list[float], run_id: str,
                       tracker: TrackerLike, reporter: Reporter, progress: Progress,
                       importance: ImportanceBudget = ImportanceBudget(),
                       predictions: np.ndarray | None = None, shap_seconds: float | None = None) -> None:
    """Held-out predictions (`predictions`, or the model's own), importance and SHAP values for the Runs page,
    from a model that learned from no held-out row. The model is registered already, so a failure here is logged
    and the job still succeeds."""
    reporter.progress(progress.model_copy(update={"phase": "evaluating"}))
    started = time.monotonic()
    try:
        evaluation = evaluate_model(
            model, features_frame=split.frame.iloc[split.test_rows][[f.name for f in spec.features]],
            X=split.X_test, y=split.y_test, task=spec.task, metric=spec.metric, classes=split.classes,
            features=list(spec.features), fold_scores=fold_scores, seed=spec.seed, log=reporter.log,
            importance_rows=importance.rows, importance_repeats=importance.repeats, predictions=predictions,
            shap_seconds=shap_seconds)
        tracker.log_evaluation(run_id, evaluation)
    except (ValueError, TypeError, MemoryError) as exc:
        reporter.log(f"The held-out evaluation could not be recorded: {type(exc).__name__}: {exc}")
        return
    shuffled = (f"importance on {min(evaluation.summary.rows, importance.rows)} x {importance.repeats}"
                if importance.rows else "importance left out")
    explained = "" if evaluation.shap is None else f", SHAP on {len(evaluation.shap)}"
    reporter.log(f"Recorded the held-out evaluation ({evaluation.summary.rows} rows, {shuffled}{explained}) in "
                 f"{time.monotonic() - started:.1f} s.")


def metrics_of(predictions: np.ndarray, y: np.ndarray, task: Task) -> dict[str, float]:
    scores = {}
    for metric in metrics_for(task):
        try:
            value = score_predictions(metric, y, predictions)
        except ValueError:
            continue
        if np.isfinite(value):
            scores[names.held_out(metric.name)] = value
    return scores


def per_algorithm_best(study: Any, metric: str) -> dict[str, float]:
    """`best_<metric>__<algorithm>`: the best validation score each algorithm reached."""
    from optuna.trial import TrialState

    best: dict[str, float] = {}
    pick = max if METRICS[metric].greater_is_better else min
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        name = names.algorithm_validation(metric, str(t.params.get("algorithm")))
        best[name] = pick(best.get(name, t.value), t.value)
    return best


def _bounded(spec: TrainSpec, X: pd.DataFrame) -> tuple[Feature, ...]:
    """The spec's features bounded to the range of `X`; as they are where going past the training range is the
    point (a forecast's time runs ahead), and for a model family, whose promotion mixes partition models of
    different versions (each learned from its own rows) under one set of features."""
    if spec.forecast is not None or spec.partition is not None:
        return tuple(spec.features)
    return within_range(spec.features, X)


def _seconds_left(spec: TrainSpec, started: float) -> float | None:
    """What the job's time budget has left (None: no time budget)."""
    return None if spec.budget.seconds is None else spec.budget.seconds - (time.time() - started)


def _local_threads(profile: ComputeProfile) -> int:
    """Threads for the final fit, which runs in the job's own process: the compute size's cores, less those other
    work keeps busy right now. OpenMP's threads wait for each other at every step, so a fit given a core that
    another process holds crawls: a 10-class LightGBM of 1,600 rounds took 100 s with two threads on two cores,
    one of them running another program, where one thread needs about 10 s."""
    import psutil

    cpus = os.cpu_count() or 1
    busy = psutil.cpu_percent(interval=BUSY_SAMPLE_S) / 100 * cpus  # our own trials have stopped by now
    free = max(1, round(cpus - busy))
    return min(free, cpus if profile.is_remote else max(1, min(profile.cores, cpus)))


#: How long the final phase samples the machine's CPU use to choose its threads.
BUSY_SAMPLE_S = 0.2


def registered_name(spec: TrainSpec) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", spec.run_name).strip("-").lower() or "model"
