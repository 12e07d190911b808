"""Train a family: a model per partition, fanned out over the compute profile's Dask workers, plus a fallback.

Per partition with at least `min_rows` training rows: a light search (the cheap algorithms of the spec, more
of them when the time budget allows) on an inner validation split, the best refitted on the partition's
training rows, scored on its held-out rows against a baseline (the training mean for regression, the
class shares for classification, the better of last value and seasonal naive for forecasting, where the test
rows are the last `horizon` time steps and the models also see the target lags the horizon allows). A partition
that fails is listed with its error; the job goes on and its rows go to the fallback. One MLflow run holds the
family: summary metrics, the per-partition table (`partitions.parquet`), and one registered model version (a
`PartitionRouter`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd
from pydantic import BaseModel
from sklearn.model_selection import train_test_split

from studio import names
from studio.compute.pool import ClientFanOut
from studio.compute.profiles import ComputeProfile
from studio.data.catalog import DatasetCatalog
from studio.errors import StudioError
from studio.many.baselines import Timing, baseline_score, forecast_baseline, safe_score
from studio.many.forecast import (
    ForecastLags,
    LagPlan,
    combined,
    row_codes,
    with_lags,
)
from studio.many.router import CACHE_SIZE, PartitionRouter, partition_rows
from studio.names import PARTITIONS_TABLE, Tag
from studio.skops_files import dumps
from studio.training.estimators import ESTIMATORS, strip_prefix
from studio.training.features import Feature
from studio.training.metrics import METRICS, Metric, score_predictions
from studio.training.model import ModelInfo, TrainedModel, raw_predictions
from studio.training.progress import Progress, TrainResult
from studio.training.run import (
    ImportanceBudget,
    Reporter,
    Split,
    TrackerLike,
    _record_evaluation,
    metrics_of,
    registered_name,
)
from studio.training.search import make_pipeline
from studio.training.spec import TrainSpec
from studio.training.time_steps import TimeSteps

#: Algorithms cheap enough to fit thousands of times, in the order they are tried per partition (the registry's
#: partition_rank).
CHEAP = tuple(sorted((e.name for e in ESTIMATORS.values() if e.partition_rank is not None),
                     key=lambda name: ESTIMATORS[name].partition_rank or 0))
#: Partitions per Dask task: enough to amortise a task's overhead, few enough to balance the workers.
BATCH = 50
#: Share of the time budget the partitions may take; the rest is for the fallback, registration and evaluation.
FAN_OUT_SHARE = 0.75
#: Seconds of budget per partition (per core) above which a second algorithm is tried.
SECOND_ALGORITHM_S = 0.5


class PartitionResult(BaseModel):
    key: str
    rows_train: int
    rows_test: int
    status: str  # "model", "fallback" (too small / one class), "failed"
    algorithm: str | None = None
    score: float | None = None  # the partition's model on its held-out rows
    baseline: float | None = None  # the baseline on the same rows
    baseline_kind: str | None = None  # mean / class shares; forecasting: the better of last value, seasonal naive
    fallback_score: float | None = None  # the fallback model on the same rows
    seconds: float = 0.0
    error: str | None = None


def _tried(spec: TrainSpec, algorithms: list[str], profile: ComputeProfile, modeled: int) -> list[str]:
    """The algorithms each partition tries: two when the budget leaves each partition time for a second one."""
    cores = 1 if profile.is_remote else max(profile.parallel_trials, 1)
    per_partition_s = (spec.budget.seconds or 0) * cores / max(modeled, 1)
    return algorithms[:2] if spec.budget.seconds is None or per_partition_s > SECOND_ALGORITHM_S else algorithms[:1]


def _fallback(spec: TrainSpec, split: Split, inputs: _Inputs, algorithms: list[str],
              columns: list[str]) -> tuple[Any, TrainSpec]:
    """The fallback model, fitted on every training row, and the spec of the partition models (without the
    partition columns, which are constant within a partition)."""
    fallback_spec = spec.model_copy(update={"features": spec.features + inputs.lag_features})
    fallback = _pipeline(fallback_spec, algorithms[-1] if len(algorithms) > 1 else algorithms[0]).fit(
        inputs.X_train, split.y_train)
    sub_spec = fallback_spec.model_copy(update={"features": tuple(
        f for f in fallback_spec.features if f.name not in columns)})
    return fallback, sub_spec


def _with_fallback(results: dict[Any, PartitionResult], train_groups: dict[Any, Any], test_groups: dict[Any, Any],
                   fallback_out: np.ndarray, metric: Metric, split: Split) -> None:
    """Every partition not modeled goes to the fallback; every partition with held-out rows gets the fallback's
    score on them (the fallback predicts all held-out rows once; each partition reads its own)."""
    for key, rows in train_groups.items():
        if key not in results:
            results[key] = PartitionResult(key=key, rows_train=len(rows), rows_test=len(test_groups.get(key, [])),
                                           status="fallback")
    for key, rows in test_groups.items():
        if key not in results:  # a partition only in the held-out rows: unseen in training
            results[key] = PartitionResult(key=key, rows_train=0, rows_test=len(rows), status="fallback")
        if len(rows):
            value = safe_score(lambda r=rows: score_predictions(metric, split.y_test[r], fallback_out[r]))
            results[key] = results[key].model_copy(update={"fallback_score": value})


def _router(columns: tuple[str, ...], blobs: dict[Any, bytes], fallback: Any, split: Split,
            inputs: _Inputs) -> PartitionRouter:
    import skops.io as sio

    trusted = sorted({t for blob in list(blobs.values())[:50] for t in sio.get_untrusted_types(data=blob)})
    return PartitionRouter(columns, blobs, fallback, tuple(trusted),
                           None if split.classes is None else len(split.classes), forecast=inputs.lags)


def _finish(tracker: TrackerLike, run_id: str, spec: TrainSpec, held_out: dict[str, float],
            summary: dict[str, float], *, duration: float, tried: list[str], columns: list[str]) -> None:
    tracker.finish(run_id, metrics={**held_out, **summary, names.DURATION_S: duration,
                                    names.N_TRIALS: float(summary[names.PARTITIONS_MODELED])},
                   tags={Tag.BEST_ALGORITHM: "partitioned: " + " / ".join(tried),
                         Tag.FAMILY: ",".join(columns), Tag.STOP_REASON: "all partitions trained",
                         Tag.FINAL_MODEL: f"{int(summary[names.PARTITIONS_MODELED])} partition models + fallback"})


class TaskFuture(Protocol):
    def done(self) -> bool: ...
    def result(self) -> Any: ...


class FanOut(Protocol):
    """Where the partition batches run: a Dask cluster (`ClientFanOut`) or, in unit tests, this process
    (`compute.inline.InlineFanOut`)."""

    def share(self, *values: Any) -> list[Any]: ...
    def submit(self, fn: Callable[..., Any], *args: Any) -> TaskFuture: ...
    def cancel(self, futures: list[Any]) -> None: ...


def train_family(spec: TrainSpec, *, catalog: DatasetCatalog, tracker: TrackerLike, job_id: str,
                 profile: ComputeProfile, reporter: Reporter,
                 fan_outs: Callable[[ComputeProfile], FanOut] = ClientFanOut.open) -> TrainResult:
    """One model per partition (fitted in batches on `fan_outs(profile)`) and a fallback, registered as one."""
    assert spec.partition is not None
    started = time.time()
    deadline = None if spec.budget.seconds is None else _now() + spec.budget.seconds * FAN_OUT_SHARE
    split = Split.of(spec, catalog, reporter.log)
    run_id = tracker.start_training(spec, job_id=job_id, study_name=f"job-{job_id}")
    columns = list(spec.partition.columns)
    train_groups = partition_rows(split.X_train, columns)
    test_groups = partition_rows(split.X_test, columns)
    modeled = [k for k, rows in train_groups.items() if len(rows) >= spec.partition.min_rows]
    reporter.log(f"{len(train_groups):,} partitions by {', '.join(columns)} in the training rows; {len(modeled):,} "
                 f"have at least {spec.partition.min_rows} rows and get their own model, the rest the fallback.")
    metric = METRICS[spec.metric]
    algorithms = _cheap(spec.algorithms)
    tried = _tried(spec, algorithms, profile, len(modeled))
    reporter.log(f"Per partition: {' vs '.join(tried)} on an inner validation split, against a baseline.")
    progress = Progress(phase="training partitions", trials_budget=len(modeled), unit="partitions")
    reporter.progress(progress)

    inputs = _Inputs.plain(split) if spec.forecast is None else _Inputs.forecasting(spec, split, train_groups,
                                                                                   test_groups, reporter)
    fallback, sub_spec = _fallback(spec, split, inputs, algorithms, columns)
    results, blobs = _fan_out(sub_spec, split, inputs, modeled, train_groups, test_groups, tried,
                              lambda: fan_outs(profile), reporter, progress, deadline)
    _with_fallback(results, train_groups, test_groups, raw_predictions(fallback, inputs.X_test, split.n_classes),
                   metric, split)
    router = _router(tuple(columns), blobs, fallback, split, inputs)
    # here every model stays loaded once read (the held-out score and the evaluation predict many times); the
    # registered family keeps the serving cache size
    in_process = len(blobs) + 1
    router.cache_size = in_process
    held_out = metrics_of(raw_predictions(router, split.X_test, split.n_classes), split.y_test, spec.task)
    test_score = held_out[names.held_out(spec.metric)]
    table = _results_table(results, reporter)
    info = ModelInfo(task=spec.task, target=spec.target, features=spec.features, classes=split.classes,
                     metric=spec.metric, run_id=run_id)
    reporter.progress(progress.model_copy(update={"phase": "logging model"}))
    reporter.fence()
    router.cache_size = CACHE_SIZE
    model_uri = tracker.log_model(run_id, TrainedModel(router, info), example=split.example(spec),
                                  registered_name=registered_name(spec))
    router.cache_size = in_process
    tracker.log_table(run_id, table, PARTITIONS_TABLE)
    summary = family_summary(table, metric)
    duration = time.time() - started
    _finish(tracker, run_id, spec, held_out, summary, duration=duration, tried=tried, columns=columns)
    # importance on fewer rows and shuffles than a single model's: every prediction routes rows to hundreds of
    # partition models, so it costs far more (measured: 4.6 s per pass over 1,000 partitions)
    _record_evaluation(spec, split, router, [], run_id, tracker, reporter, progress,
                       importance=ImportanceBudget(rows=400, repeats=2))
    reporter.progress(progress.model_copy(update={"phase": "done", "elapsed_s": duration}))
    reporter.log(f"Done: {len(modeled):,} partition models + fallback; {spec.metric} {test_score:.5g} on the "
                 f"held-out rows; {int(summary['partitions_failed'])} failed. Model {model_uri}.")
    return TrainResult(run_id=run_id, model_uri=model_uri, metric=spec.metric, validation_score=None,
                       test_score=test_score, best_algorithm="partitioned", best_params={"partition_by": columns},
                       n_trials=len(modeled), duration_s=duration, study_name="", stop_reason="all partitions trained")


def _results_table(results: dict[str, PartitionResult], reporter: Reporter) -> pd.DataFrame:
    """One row per partition (what it got and how it scored); the first failures are logged with their reason."""
    table = pd.DataFrame([r.model_dump() for r in results.values()])
    for row in table[table["status"] == "failed"].head(20).itertuples():
        reporter.log(f"Partition {row.key} failed: {row.error}")
    return table


def family_summary(table: pd.DataFrame, metric: Metric) -> dict[str, float]:
    own = table[table["status"] == "model"]
    beats = (own["score"] > own["baseline"]) if metric.greater_is_better else (own["score"] < own["baseline"])
    scored = own["score"].dropna()
    return {"partitions": float(len(table)), "partitions_modeled": float(len(own)),
            "partitions_fallback": float((table["status"] == "fallback").sum()),
            "partitions_failed": float((table["status"] == "failed").sum()),
            "partitions_beating_baseline": float(beats[own["score"].notna() & own["baseline"].notna()].mean())
            if len(own) else 0.0,
            "partition_score_median": float(scored.median()) if len(scored) else float("nan")}


def _cheap(algorithms: Sequence[str]) -> list[str]:
    ordered = [a for a in CHEAP if a in algorithms]
    if not ordered:
        raise StudioError("None of the chosen algorithms is among those trained per partition "
                          f"({', '.join(CHEAP)}).")
    return ordered


def _pipeline(spec: TrainSpec, algorithm: str) -> Any:
    """An algorithm's strong defaults (the same the search starts from), single-threaded: partitions are
    parallel already."""
    return make_pipeline(spec, algorithm, strip_prefix(algorithm, ESTIMATORS[algorithm].defaults), n_jobs=1)


@dataclass(frozen=True)
class _Inputs:
    """What the partition models and the fallback are fitted and scored on: the model frame, plus for
    forecasting the target lags (built from the training rows' history only) and each row's time step."""

    X_train: pd.DataFrame
    X_test: pd.DataFrame
    lag_features: tuple[Feature, ...] = ()
    timing: Timing | None = None
    lags: ForecastLags | None = None  # what the router keeps to build the lags when serving

    @classmethod
    def plain(cls, split: Split) -> _Inputs:
        return cls(split.X_train, split.X_test)

    @classmethod
    def forecasting(cls, spec: TrainSpec, split: Split, train_groups: dict[str, np.ndarray],
                    test_groups: dict[str, np.ndarray], reporter: Reporter) -> _Inputs:
        forecast = spec.forecast
        assert forecast is not None
        time = forecast.time_column
        steps = TimeSteps.infer(split.frame[time], time)
        steps_train = steps.numbers_from_parts(split.X_train, time)
        steps_test = steps.numbers_from_parts(split.X_test, time)
        season = forecast.season_length or steps.season
        plan = LagPlan.for_horizon(spec.target, forecast.horizon, season, len(np.unique(steps_train)))
        for rows in train_groups.values():  # each partition's rows in time order (inner splits, last value)
            rows[:] = rows[np.argsort(steps_train[rows], kind="stable")]
        codes = {key: i for i, key in enumerate(train_groups)}
        train_codes = row_codes(train_groups, codes, len(steps_train))
        test_codes = row_codes(test_groups, codes, len(steps_test))
        index = pd.Index(combined(train_codes, steps_train))
        X_train = with_lags(split.X_train, plan, train_codes, steps_train, index, split.y_train)
        X_test = with_lags(split.X_test, plan, test_codes, steps_test, index, split.y_train)
        keys = np.empty(len(split.X), dtype=object)  # the router keeps every row's history, test rows included
        all_steps = steps.numbers_from_parts(split.X, time)
        for key, rows in partition_rows(split.X, list(spec.partition.columns)).items():  # type: ignore[union-attr]
            keys[rows] = key
        lags = f"{', '.join(map(str, plan.lags))} and the mean of {plan.window} steps" if plan.lags else "none"
        seasonal = f" and seasonal naive ({season} steps)" if season else ""
        reporter.log(f"Forecasting {forecast.horizon} {steps.label}(s) ahead: the test rows are the last "
                     f"{forecast.horizon} steps; target lags {lags} (the horizon allows no shorter ones); "
                     f"baselines: last value{seasonal}.")
        return cls(X_train, X_test, plan.features(), Timing(steps_train, steps_test, season),
                   ForecastLags.of(time, steps, plan, keys, all_steps, split.y.astype(float)))


def _fan_out(sub_spec: TrainSpec, split: Split, inputs: _Inputs, keys: list[str], train_groups: dict[str, np.ndarray],
             test_groups: dict[str, np.ndarray], algorithms: list[str], open_fan_out: Callable[[], FanOut],
             reporter: Reporter, progress: Progress,
             deadline: float | None = None) -> tuple[dict[str, PartitionResult], dict[str, bytes]]:
    """Fit the partitions in batches on the Dask workers. Once `deadline` passes, the batches not finished yet are
    cancelled and their partitions left to the fallback (listed as such): the budget is kept, the job succeeds."""
    results: dict[str, PartitionResult] = {}
    blobs: dict[str, bytes] = {}
    if not keys:
        return results, blobs
    tasks = open_fan_out()
    X_train, y_train, X_test, y_test = tasks.share(inputs.X_train, split.y_train, inputs.X_test, split.y_test)
    timing = None if inputs.timing is None else tasks.share(inputs.timing)[0]
    batches = [keys[i:i + BATCH] for i in range(0, len(keys), BATCH)]
    futures = [tasks.submit(fit_batch, sub_spec, [(k, train_groups[k], test_groups.get(k, np.array([], int)))
                                                  for k in batch], X_train, y_train, X_test, y_test,
                            tuple(algorithms), timing) for batch in batches]
    for done, future in enumerate(futures, start=1):  # in submission order; the workers run them all meanwhile
        if reporter.should_stop():
            tasks.cancel(futures)
            raise StudioError("Cancelled while training the partitions.")
        if deadline is not None and _now() > deadline and not future.done():
            tasks.cancel(futures[done - 1:])
            late = [k for batch in batches[done - 1:] for k in batch]
            for key in late:
                results[key] = PartitionResult(key=key, rows_train=len(train_groups[key]),
                                               rows_test=len(test_groups.get(key, [])), status="fallback",
                                               error="the time budget ran out before this partition was trained")
            reporter.log(f"The time budget ran out: {len(late):,} partitions not trained yet are served by the "
                         "fallback model. Raise the budget to give them their own models.")
            break
        for result, blob in future.result():
            results[result.key] = result
            if blob is not None:
                blobs[result.key] = blob
        trained = sum(r.status == "model" for r in results.values())
        reporter.progress(progress.model_copy(update={"trials_done": trained}))
        if done % max(len(batches) // 10, 1) == 0 or done == len(batches):
            reporter.log(f"Partitions: {len(results):,} of {len(keys):,} done.")
    return results, blobs


def _now() -> float:
    return time.monotonic()


def fit_batch(spec: TrainSpec, batch: list[tuple[str, np.ndarray, np.ndarray]], X_train: pd.DataFrame,
              y_train: np.ndarray, X_test: pd.DataFrame, y_test: np.ndarray, algorithms: tuple[str, ...],
              timing: Timing | None = None) -> list[tuple[PartitionResult, bytes | None]]:
    """Fit the partitions of one batch (runs on a Dask worker); returns results and serialized models."""
    n_classes = int(max(y_train.max(), y_test.max(initial=0))) + 1 if spec.task.is_classification else None
    out = []
    for key, train_rows, test_rows in batch:
        started = time.perf_counter()
        try:
            result, model = fit_partition(spec, key, X_train.iloc[train_rows], y_train[train_rows],
                                          X_test.iloc[test_rows], y_test[test_rows], algorithms, n_classes,
                                          None if timing is None else timing.of(train_rows, test_rows))
            blob = dumps(model) if model is not None else None
        except Exception as exc:  # one partition's failure is reported, not fatal
            result = PartitionResult(key=key, rows_train=len(train_rows), rows_test=len(test_rows),
                                     status="failed", error=f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
            blob = None
        out.append((result.model_copy(update={"seconds": time.perf_counter() - started}), blob))
    return out


def fit_partition(spec: TrainSpec, key: str, X: pd.DataFrame, y: np.ndarray, X_test: pd.DataFrame,
                  y_test: np.ndarray, algorithms: Sequence[str],
                  n_classes: int | None = None, timing: Timing | None = None) -> tuple[PartitionResult, Any]:
    """Fit one partition (rows in time order when forecasting, `timing` then holds their steps)."""
    metric = METRICS[spec.metric]
    base = PartitionResult(key=key, rows_train=len(y), rows_test=len(y_test), status="fallback")
    if spec.task.is_classification and len(np.unique(y)) < 2:
        return base.model_copy(update={"error": "one class only in training: served by the fallback"}), None
    best, best_score = algorithms[0], None
    if len(algorithms) > 1:
        if timing is not None:  # validate on the latest quarter of the partition's training rows
            cut = len(y) - max(len(y) // 4, 1)
            fit_idx, val_idx = np.arange(cut), np.arange(cut, len(y))
        else:
            stratify = y if spec.task.is_classification and np.bincount(y).min() >= 2 else None
            fit_idx, val_idx = train_test_split(np.arange(len(y)), test_size=0.25, random_state=spec.seed,
                                                stratify=stratify)
        for algorithm in algorithms:
            pipeline = _pipeline(spec, algorithm).fit(X.iloc[fit_idx], y[fit_idx])
            value = safe_score(lambda p=pipeline: score_predictions(metric, y[val_idx],
                                                               raw_predictions(p, X.iloc[val_idx], n_classes)))
            if value is None:
                continue
            if best_score is None or (value > best_score) == metric.greater_is_better:
                best, best_score = algorithm, value
    model = _pipeline(spec, best).fit(X, y)
    result = base.model_copy(update={"status": "model", "algorithm": best})
    if len(y_test):
        if timing is not None:
            kind, baseline = forecast_baseline(metric, y, y_test, timing)
        else:
            kind, baseline = "mean" if n_classes is None else "class shares", safe_score(
                lambda: baseline_score(metric, y, y_test, spec, n_classes))
        result = result.model_copy(update={
            "score": safe_score(lambda: score_predictions(metric, y_test, raw_predictions(model, X_test, n_classes))),
            "baseline": baseline, "baseline_kind": kind})
    return result, model
