"""Draft a TrainSpec from a dataset and a few choices; the Train page and `studio train` share it."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from studio.data.catalog import DatasetRecord
from studio.errors import SpecError
from studio.training.estimators import ESTIMATORS
from studio.training.features import Feature
from studio.training.guardrails import Guardrail, check, excluded
from studio.training.metrics import DEFAULT_METRIC
from studio.training.spec import TrainSpec, check_against_data
from studio.training.task import Task, detect_task


def feature_candidates(record: DatasetRecord, target: str) -> list[Feature]:
    """Columns that can be features as they are (numeric, categorical, boolean), minus the target."""
    return [Feature(name=c.name, kind=c.kind, n_distinct=c.n_distinct if c.kind == "categorical" else None)
            for c in record.columns if c.kind.is_feature and c.name != target]


def draft_spec(
    record: DatasetRecord, frame: pd.DataFrame, *, target: str, task: str = "auto", exclude: Sequence[str] = (),
    algorithms: Sequence[str] | None = None, metric: str | None = None, validation: dict[str, object] | None = None,
    budget_seconds: int | None = 60, max_trials: int | None = None, trial_seconds: int | None = None,
    compute: str = "small", seed: int = 0, name: str | None = None, keep: Sequence[str] = (),
    guardrails: Sequence[Guardrail] | None = None, ensemble: bool = True, class_weight: str = "auto",
    onnx_safe: bool = False,
) -> TrainSpec:
    """Build and fully validate a spec (including the checks only the data can answer); raises SpecError.

    Data guardrails are checked (or taken as given, e.g. cached `data_guardrails`) and recorded in the spec; the
    columns they exclude are left out unless named in `keep`."""
    if target not in frame.columns:
        raise SpecError(f"The target '{target}' is not a column of '{record.id}'. "
                        f"Columns: {', '.join(map(str, frame.columns))}.")
    unknown = [c for c in exclude if c not in frame.columns]
    if unknown:
        raise SpecError(f"Columns to exclude {unknown} are not in '{record.id}'.")
    resolved = detect_task(frame[target]) if task == "auto" else task
    candidates = feature_candidates(record, target)
    if guardrails is None and resolved in set(Task):
        guardrails = data_guardrails(record, frame, target, Task(resolved))
    found = [_kept(g) if g.column in set(keep) else g for g in guardrails or () if g.column not in set(exclude)]
    dropped = excluded(found)
    features = [f for f in candidates if f.name not in set(exclude) | dropped]
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
        "budget": {"seconds": budget_seconds, "max_trials": max_trials, "trial_seconds": trial_seconds},
        "compute": compute, "seed": seed, "name": name, "ensemble": ensemble,
        "class_weight": class_weight, "onnx_safe": onnx_safe,
        "guardrails": [g.model_dump() for g in found],
    }
    spec = TrainSpec.parse(data)
    problems = check_against_data(spec, frame)
    if problems:
        raise SpecError(" ".join(problems), problems=problems)
    return spec


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
