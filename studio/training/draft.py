"""Draft a TrainSpec from a dataset and a few choices; the Train page and `studio train` share it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from studio.data.catalog import DatasetRecord
from studio.data.profile import numeric_summary
from studio.data.schema import ColumnKind
from studio.errors import DataError, SpecError
from studio.settings import default_compute
from studio.training.estimators import ESTIMATORS
from studio.training.features import Feature, model_frame
from studio.training.guardrails import Guardrail, check, excluded
from studio.training.metrics import DEFAULT_METRIC
from studio.training.spec import Budget, Cleaning, Forecasting, Partitioning, TrainSpec, check_against_data
from studio.training.task import Task, detect_task

_BUDGET, _CLEANING = Budget(), Cleaning()


def feature_candidates(record: DatasetRecord, target: str,
                       overrides: Mapping[str, ColumnKind] | None = None) -> list[Feature]:
    """Columns that can be features (numeric, categorical, boolean, dates), minus the target; `overrides`
    replaces inferred kinds (a column set to text or ID is left out)."""
    kinds = {c.name: ColumnKind((overrides or {}).get(c.name, c.kind)) for c in record.columns}
    return [Feature(name=c.name, kind=kinds[c.name],
                    n_distinct=c.n_distinct if kinds[c.name] is ColumnKind.CATEGORICAL else None)
            for c in record.columns if kinds[c.name].is_feature and c.name != target]


def clip_bounds(values: pd.Series, method: str) -> tuple[float, float] | None:
    """The outlier caps of a numeric column: the IQR fences, or mean +/- 3 standard deviations."""
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    if numbers.empty:
        return None
    summary = numeric_summary(numbers)
    if method == "iqr":
        return summary.iqr_low, summary.iqr_high
    return summary.mean - 3 * summary.std, summary.mean + 3 * summary.std


def _check_columns(record: DatasetRecord, frame: pd.DataFrame, *, target: str, exclude: Sequence[str],
                   partition_by: Sequence[str], task: str, time_column: str | None) -> None:
    """Every column the spec names is in the dataset (and a forecast names its time column)."""
    if target not in frame.columns:
        raise SpecError(f"The target '{target}' is not a column of '{record.id}'. "
                        f"Columns: {', '.join(map(str, frame.columns))}.")
    unknown = [c for c in exclude if c not in frame.columns]
    if unknown:
        raise SpecError(f"Columns to exclude {unknown} are not in '{record.id}'.")
    unknown_parts = [c for c in partition_by if c not in frame.columns]
    if unknown_parts:
        raise SpecError(f"Partition columns {unknown_parts} are not in '{record.id}'.")
    if task == "forecast" and not time_column:
        raise SpecError("Forecasting needs a time column (--time-column): the column holding each row's date.")
    if time_column and time_column not in frame.columns:
        raise SpecError(f"The time column '{time_column}' is not in '{record.id}'.")


def draft_spec(
    record: DatasetRecord, frame: pd.DataFrame, *, target: str, task: str = "auto",
    algorithms: Sequence[str] | None = None, metric: str | None = None, validation: dict[str, object] | None = None,
    budget: Budget = _BUDGET, cleaning: Cleaning = _CLEANING, partition: Partitioning | None = None,
    forecast: Forecasting | None = None, compute: str | None = None, seed: int = 0, name: str | None = None,
    keep: Sequence[str] = (), guardrails: Sequence[Guardrail] | None = None, ensemble: bool = True,
    class_weight: str = "auto", onnx_safe: bool = False,
) -> TrainSpec:
    """Build and fully validate a spec (including the checks only the data can answer); raises SpecError.

    The edges (the Train page, the CLI) build the spec's own sections (`Budget`, `Cleaning`, `Partitioning`,
    `Forecasting`: `studio.training.spec.section` turns their errors into SpecError) and pass them. Data guardrails
    are checked (or taken as given, e.g. cached `data_guardrails`) and recorded in the spec; the columns they
    exclude are left out unless named in `keep`."""
    exclude = list(cleaning.dropped_columns)
    partition_by = list(partition.columns) if partition else []
    time_column = forecast.time_column if forecast else None
    type_overrides = {c: k.value for c, k in cleaning.type_overrides.items()}
    _check_columns(record, frame, target=target, exclude=exclude, partition_by=partition_by, task=task,
                   time_column=time_column)
    # a partition column is a category (a store number is a name, not a quantity) and always a feature; the
    # time column of a forecast is a date and always a feature
    forced = {c: "categorical" for c in partition_by} | ({time_column: "datetime"} if time_column else {})
    overrides = _overrides({**type_overrides, **forced}, frame, target)
    keep = [*keep, *partition_by, *([time_column] if time_column else [])]
    resolved = "regression" if time_column and task in ("auto", "forecast") else (  # a forecast: a quantity ahead
        detect_task(frame[target]) if task == "auto" else task)
    candidates = feature_candidates(record, target, overrides)
    if guardrails is None and resolved in set(Task):
        guardrails = data_guardrails(record, frame, target, Task(resolved))
    found = [_kept(g) if g.column in set(keep) else g for g in guardrails or () if g.column not in set(exclude)]
    dropped = excluded(found)
    features = [f for f in candidates if f.name not in set(exclude) | dropped]
    _check_overrides_fit(frame, [f for f in features if f.name in overrides])
    features = _capped(features, frame, cleaning.cap_outliers)
    if candidates and not features and not exclude:
        raise SpecError(f"Every feature column was left out by the data checks: "
                        f"{'; '.join(f'{g.column}: {g.finding}' for g in found if g.action == 'excluded')}. "
                        "Keep one with `keep` (--keep on the CLI) if it is legitimate.")
    chosen = list(ESTIMATORS) if algorithms is None else list(algorithms)
    data: dict[str, object] = {
        "dataset_id": record.id, "dataset_hash": record.content_hash, "target": target, "task": resolved,
        "features": [f.model_dump() for f in features], "algorithms": chosen,
        "metric": metric or (DEFAULT_METRIC[Task(resolved)] if resolved in set(Task) else ""),
        "validation": resolve_validation(validation, len(frame)),
        "budget": budget.model_dump(),
        "compute": compute or default_compute(), "seed": seed, "name": name, "ensemble": ensemble,
        "class_weight": class_weight, "onnx_safe": onnx_safe,
        "guardrails": [g.model_dump() for g in found],
        "partition": None if partition is None else partition.model_dump(),
        "forecast": None if forecast is None else forecast.model_dump(),
        "cleaning": cleaning.model_copy(update={"type_overrides": overrides}).model_dump(mode="json"),
    }
    spec = TrainSpec.parse(data)
    problems = check_against_data(spec, frame)
    if problems:
        raise SpecError(" ".join(problems), problems=problems)
    return spec


def _capped(features: list[Feature], frame: pd.DataFrame, cap_outliers: str) -> list[Feature]:
    """Numeric features with the clip bounds measured on this data, when outliers are capped."""
    if cap_outliers not in ("iqr", "zscore"):
        return features
    return [f.model_copy(update={"clip": clip_bounds(frame[f.name], cap_outliers)})
            if f.kind is ColumnKind.NUMERIC else f for f in features]


def _overrides(given: Mapping[str, str], frame: pd.DataFrame, target: str) -> dict[str, ColumnKind]:
    unknown = [c for c in given if c not in frame.columns]
    if unknown:
        raise SpecError(f"Type overrides name columns that are not in the dataset: {unknown}.")
    kinds = {k.value for k in ColumnKind}
    bad = {c: k for c, k in given.items() if k not in kinds}
    if bad:
        raise SpecError(f"Unknown column types {bad}; choose from {sorted(kinds)}.")
    return {c: ColumnKind(k) for c, k in given.items() if c != target}


def _check_overrides_fit(frame: pd.DataFrame, overridden: list[Feature]) -> None:
    """A column set to numeric, boolean or date by hand must hold such values; say which row does not."""
    try:
        model_frame(frame, overridden)
    except DataError as exc:
        raise SpecError(f"A type override does not fit the data: {exc}") from None


def resolve_validation(validation: dict[str, object] | None, n_rows: int) -> dict[str, object]:
    """`kind: auto` (or nothing) picks by size: 5-fold CV repeated 3 times up to 1,000 rows, 5-fold up to
    10,000, 3-fold up to 40,000, then one 20 % holdout, so small data gets steady scores (a few hundred
    validation rows are noisy; choosing among many trials on them overfits) and large data gets more trials
    for the same budget."""
    chosen = dict(validation or {})
    if chosen.get("kind", "auto") != "auto":
        return chosen
    if n_rows <= 1_000:
        return {**chosen, "kind": "kfold", "folds": 5, "repeats": 3}
    if n_rows <= 10_000:
        return {**chosen, "kind": "kfold", "folds": 5}
    if n_rows <= 40_000:
        return {**chosen, "kind": "kfold", "folds": 3}
    return {**chosen, "kind": "holdout", "holdout_fraction": 0.2}


def data_guardrails(record: DatasetRecord, frame: pd.DataFrame, target: str, task: Task) -> list[Guardrail]:
    """The guardrails of training `target` on this dataset (before any column the user excludes)."""
    text = [c.name for c in record.columns if c.kind.value == "text" and c.name != target]
    return check(frame, target, task, feature_candidates(record, target), text_columns=text)


def _kept(guardrail: Guardrail) -> Guardrail:
    if guardrail.action != "excluded":
        return guardrail
    return guardrail.model_copy(update={"action": "note", "finding": guardrail.finding + " (kept on request)"})
