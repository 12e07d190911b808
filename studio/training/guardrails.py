"""Data guardrails, checked before a job is launched and recorded in its spec: ID-like and constant columns,
a feature that nearly predicts the target on its own (leakage), text columns, class imbalance.

Each finding says what was seen and what the studio did about it (a column left out, or a note).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from studio.data.schema import ColumnKind
from studio.training.features import Feature
from studio.training.task import Task

SAMPLE_ROWS = 5_000
ID_UNIQUE_RATIO = 0.95
LEAK_AUC = 0.995
LEAK_R2 = 0.99
LEAK_ACCURACY = 0.995
IMBALANCE_SHARE = 0.10
_ID_NAME = re.compile(r"(^|[_\s-])(id|uuid|guid|key|index)$", re.IGNORECASE)


class Guardrail(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    check: Literal["id_like", "constant", "leakage", "text", "imbalance"]
    column: str | None
    finding: str
    action: Literal["excluded", "note"]


def check(frame: pd.DataFrame, target: str, task: Task, features: Sequence[Feature],
          text_columns: Sequence[str] = ()) -> list[Guardrail]:
    """Guardrails for training `target` from `features` on `frame` (a sample of it for the costly checks)."""
    found: list[Guardrail] = []
    sample = frame.sample(SAMPLE_ROWS, random_state=0) if len(frame) > SAMPLE_ROWS else frame
    sample = sample[sample[target].notna()]
    for name in text_columns:
        found.append(Guardrail(check="text", column=name, action="excluded",
                               finding="free text (many distinct, mostly unique strings); models here take no text"))
    for f in features:
        column = frame[f.name]
        if column.nunique(dropna=True) <= 1:
            found.append(Guardrail(check="constant", column=f.name, action="excluded",
                                   finding="the same value in every row (or empty): nothing to learn from"))
        elif _id_like(column, f):
            found.append(Guardrail(check="id_like", column=f.name, action="excluded",
                                   finding=f"{column.nunique(dropna=True):,} distinct values in {len(column):,} rows: "
                                           "an identifier, which would let a model memorise rows"))
    flagged = {g.column for g in found}
    for f in features if _learnable(sample[target], task) else ():
        if f.name not in flagged:
            strength = _alone(sample[f.name], sample[target], task, f.kind)
            if strength is not None:
                found.append(Guardrail(check="leakage", column=f.name, action="excluded",
                                       finding=f"predicts '{target}' almost perfectly on its own ({strength}): "
                                               "probably known only after the outcome (leakage)"))
    if task.is_classification:
        shares = frame[target].value_counts(normalize=True)
        if len(shares) and shares.iloc[-1] < IMBALANCE_SHARE:
            found.append(Guardrail(check="imbalance", column=target, action="note",
                                   finding=f"class {shares.index[-1]!r} is {shares.iloc[-1]:.1%} of the rows; "
                                           "every split is stratified so each fold and the test set hold it; "
                                           "ROC AUC, log loss, F1 or balanced accuracy judge it better than "
                                           "accuracy, and with F1 or balanced accuracy classes are weighted "
                                           "(class weights: auto)"))
    return found


def excluded(guardrails: Sequence[Guardrail]) -> set[str]:
    return {g.column for g in guardrails if g.action == "excluded" and g.column}


def _learnable(y: pd.Series, task: Task) -> bool:
    """Whether the target can be checked against at all (the spec's own checks explain why not otherwise)."""
    if len(y) < 30 or y.nunique() < 2:
        return False
    return task is not Task.REGRESSION or pd.api.types.is_numeric_dtype(y)


def _id_like(column: pd.Series, feature: Feature) -> bool:
    values = column.dropna()
    if len(values) < 50:
        return False
    unique = values.nunique() / len(values)
    if feature.kind is ColumnKind.NUMERIC:
        integral = bool(np.all(np.mod(pd.to_numeric(values, errors="coerce").fillna(0.5), 1) == 0))
        return integral and unique >= ID_UNIQUE_RATIO and (bool(_ID_NAME.search(str(column.name)))
                                                            or values.is_monotonic_increasing)
    return feature.kind is ColumnKind.CATEGORICAL and unique >= ID_UNIQUE_RATIO


def _alone(x: pd.Series, y: pd.Series, task: Task, kind: ColumnKind) -> str | None:
    """How well this one feature predicts the target on its own (3-fold, out of fold), if suspiciously well.

    The model is a histogram of the feature (up to LEAK_BINS quantile bins of a number, one bin per category,
    one for missing values) predicting each bin's training mean, written in NumPy rather than scikit-learn's
    depth-6 tree (the same piecewise-constant fit) on purpose: drafting a spec at `studio train` must not
    pay 2 s to import scikit-learn."""
    codes = _bin_codes(x, kind)
    folds = np.random.default_rng(0).permutation(len(codes)) % 3
    if task is Task.REGRESSION:
        target = pd.to_numeric(y, errors="coerce").to_numpy(dtype=float)
        pred = _out_of_fold_means(codes, target[:, None], folds)[:, 0]
        r2 = 1 - float(np.sum((target - pred) ** 2)) / max(float(np.sum((target - target.mean()) ** 2)), 1e-300)
        return f"R² {r2:.3f}" if r2 >= LEAK_R2 else None
    labels = pd.factorize(y.astype(str))[0]
    counts = np.bincount(labels)
    if counts.min() < 3 or (task is Task.BINARY and len(counts) != 2):  # not two classes: the spec's checks say so
        return None
    shares = _out_of_fold_means(codes, np.eye(len(counts))[labels], folds)
    if task is Task.BINARY:
        auc = _roc_auc(labels, shares[:, 1])
        return f"ROC AUC {auc:.3f}" if auc >= LEAK_AUC else None
    accuracy = float(np.mean(shares.argmax(axis=1) == labels))
    return f"accuracy {accuracy:.3f}" if accuracy >= LEAK_ACCURACY else None


#: Bins of a numeric feature in the leakage check (a depth-6 tree has at most 64 leaves).
LEAK_BINS = 64


def _bin_codes(x: pd.Series, kind: ColumnKind) -> np.ndarray:
    """Each row's bin: quantile bins of a number, a category's own code; missing values share one bin."""
    if kind is ColumnKind.NUMERIC or kind is ColumnKind.BOOLEAN:
        values = pd.to_numeric(x.map(lambda v: float(v) if isinstance(v, bool) else v), errors="coerce")
        edges = np.unique(np.nanquantile(values, np.linspace(0, 1, LEAK_BINS + 1)[1:-1])) \
            if values.notna().any() else np.array([])
        codes = np.searchsorted(edges, values.to_numpy(dtype=float), side="right")
        return np.where(values.isna().to_numpy(), len(edges) + 1, codes)
    codes = pd.factorize(x.astype(str))[0]
    return np.where(x.isna().to_numpy(), codes.max() + 1, codes)


def _out_of_fold_means(codes: np.ndarray, values: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """For each row, the mean of `values` over the other folds' rows in its bin (their overall mean where its bin
    has none there)."""
    n_bins = int(codes.max()) + 1
    out = np.empty_like(values, dtype=float)
    for k in np.unique(folds):
        fit, held = folds != k, folds == k
        sums = np.zeros((n_bins, values.shape[1]))
        np.add.at(sums, codes[fit], values[fit])
        counts = np.bincount(codes[fit], minlength=n_bins)[:, None]
        means = np.where(counts > 0, sums / np.maximum(counts, 1), values[fit].mean(axis=0))
        out[held] = means[codes[held]]
    return out


def _roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """The Mann-Whitney form of ROC AUC (tied scores count half)."""
    ranks = pd.Series(scores).rank(method="average").to_numpy()
    positives = labels == 1
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
