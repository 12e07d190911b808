"""A short profile of a table: shape, missing values, distinct counts and per-column distributions."""

from __future__ import annotations

from itertools import pairwise
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from studio.data.schema import ColumnInfo, ColumnKind, describe_columns

#: Profiles of bigger tables are computed on a seeded sample of this many rows, and say so.
PROFILE_SAMPLE_ROWS = 100_000
TOP_CATEGORIES = 20
HISTOGRAM_BINS = 30
MISSING_PATTERNS = 10
#: Pairwise associations are computed for at most this many columns (n^2 pairs).
MAX_ASSOCIATED = 30
ASSOCIATION_ROWS = 20_000


class Distribution(BaseModel):
    """What a distribution chart needs: bin edges and counts (numeric) or labels and counts (other)."""

    model_config = ConfigDict(frozen=True)

    column: str
    kind: ColumnKind
    labels: list[str]
    counts: list[int]
    edges: list[float] | None = None
    other_count: int = 0


class NumericSummary(BaseModel):
    """Spread and outliers of one numeric column (on the profiled rows)."""

    model_config = ConfigDict(frozen=True)

    column: str
    mean: float
    std: float
    min: float
    q1: float
    median: float
    q3: float
    max: float
    iqr_low: float  # Q1 - 1.5 IQR
    iqr_high: float  # Q3 + 1.5 IQR
    iqr_outliers: int
    z_outliers: int  # |z| > 3


class MissingPattern(BaseModel):
    """A combination of columns that are missing together, and on how many rows."""

    model_config = ConfigDict(frozen=True)

    columns: list[str]
    rows: int


class Association(BaseModel):
    """The strength of the relation between two columns, on a 0..1 scale (|Pearson r| for two numbers,
    the correlation ratio for a number and a category, Cramér's V for two categories)."""

    model_config = ConfigDict(frozen=True)

    a: str
    b: str
    method: Literal["pearson", "correlation_ratio", "cramers_v"]
    value: float


class Profile(BaseModel):
    model_config = ConfigDict(frozen=True)

    n_rows: int
    n_cols: int
    sampled_rows: int | None
    columns: list[ColumnInfo]
    distributions: list[Distribution]
    duplicate_rows: int = 0  # on the profiled rows
    numeric: list[NumericSummary] = []
    missing_patterns: list[MissingPattern] = []
    associations: list[Association] = []

    @property
    def total_missing(self) -> int:
        return sum(c.n_missing for c in self.columns)


def profile_frame(frame: pd.DataFrame, *, seed: int = 0, total_rows: int | None = None,
                  columns: list[ColumnInfo] | None = None) -> Profile:
    """Profile `frame`; tables over PROFILE_SAMPLE_ROWS rows are profiled on a sample. `total_rows` says that
    `frame` already is a sample of a bigger table (read from disk in bounded memory), and how big; `columns`
    are that table's exact column summaries (counted out of core when it was saved)."""
    sampled = len(frame) if total_rows is not None and total_rows > len(frame) else None
    data = frame
    if len(frame) > PROFILE_SAMPLE_ROWS:
        data = frame.sample(PROFILE_SAMPLE_ROWS, random_state=seed)
        sampled = PROFILE_SAMPLE_ROWS
    columns = columns or describe_columns(data)
    return Profile(
        n_rows=total_rows or len(frame),
        n_cols=frame.shape[1],
        sampled_rows=sampled,
        columns=columns,
        distributions=[_distribution(data[c.name], c) for c in columns],
        duplicate_rows=int(data.duplicated().sum()),
        numeric=[numeric_summary(data[c.name]) for c in columns
                 if c.kind == ColumnKind.NUMERIC and data[c.name].notna().any()],
        missing_patterns=missing_patterns(data),
        associations=associations(data, columns),
    )


def numeric_summary(series: pd.Series) -> NumericSummary:
    values = pd.to_numeric(series, errors="coerce").dropna().astype(float)
    q1, median, q3 = (float(v) for v in values.quantile([0.25, 0.5, 0.75]))
    low, high = q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)
    std = float(values.std(ddof=0))
    z = (values - values.mean()).abs() / std if std > 0 else values * 0
    return NumericSummary(column=str(series.name), mean=float(values.mean()), std=std, min=float(values.min()),
                          q1=q1, median=median, q3=q3, max=float(values.max()), iqr_low=low, iqr_high=high,
                          iqr_outliers=int(((values < low) | (values > high)).sum()), z_outliers=int((z > 3).sum()))


def missing_patterns(frame: pd.DataFrame, *, top: int = MISSING_PATTERNS) -> list[MissingPattern]:
    """The most common combinations of missing columns (rows with nothing missing are left out)."""
    missing = frame.isna()
    missing = missing.loc[:, missing.any()]
    if missing.empty:
        return []
    rows = missing[missing.any(axis=1)]
    counts = rows.value_counts().head(top)
    return [MissingPattern(columns=[c for c, flag in zip(missing.columns, key, strict=True) if flag], rows=int(n))
            for key, n in counts.items()]


def associations(frame: pd.DataFrame, columns: list[ColumnInfo], *, max_columns: int = MAX_ASSOCIATED,
                 ) -> list[Association]:
    """Pairwise association of the numeric, boolean and categorical columns (up to `max_columns` of them)."""
    usable = [c for c in columns if c.kind in (ColumnKind.NUMERIC, ColumnKind.BOOLEAN, ColumnKind.CATEGORICAL)
              and c.n_distinct > 1][:max_columns]
    if len(frame) > ASSOCIATION_ROWS:  # pairwise statistics are stable on a seeded sample; n^2 pairs are not cheap
        frame = frame.sample(ASSOCIATION_ROWS, random_state=0)
    found = []
    for i, a in enumerate(usable):
        for b in usable[i + 1:]:
            value, method = association(frame[a.name], a.kind, frame[b.name], b.kind)
            if value is not None:
                found.append(Association(a=a.name, b=b.name, method=method, value=value))
    return found


def target_relations(frame: pd.DataFrame, columns: list[ColumnInfo], target: str) -> list[Association]:
    """How strongly each column relates to `target` (0..1), strongest first."""
    kinds = {c.name: c.kind for c in columns}
    if target not in kinds:
        return []
    target_kind = kinds[target] if kinds[target] == ColumnKind.NUMERIC and frame[target].nunique() > TOP_CATEGORIES \
        else ColumnKind.CATEGORICAL
    found = []
    for c in columns:
        if c.name == target or c.kind not in (ColumnKind.NUMERIC, ColumnKind.BOOLEAN, ColumnKind.CATEGORICAL):
            continue
        value, method = association(frame[c.name], c.kind, frame[target], target_kind)
        if value is not None:
            found.append(Association(a=c.name, b=target, method=method, value=value))
    return sorted(found, key=lambda r: -r.value)


def association(x: pd.Series, x_kind: ColumnKind, y: pd.Series, y_kind: ColumnKind,
                ) -> tuple[float | None, Literal["pearson", "correlation_ratio", "cramers_v"]]:
    both = pd.DataFrame({"x": x.to_numpy(), "y": y.to_numpy()}).dropna()
    if len(both) < 3:
        return None, "pearson"
    x_num, y_num = x_kind == ColumnKind.NUMERIC, y_kind == ColumnKind.NUMERIC
    if x_num and y_num:
        r = pd.to_numeric(both["x"], errors="coerce").corr(pd.to_numeric(both["y"], errors="coerce"))
        return (None if pd.isna(r) else round(abs(float(r)), 4)), "pearson"
    if x_num or y_num:
        values, groups = (both["x"], both["y"]) if x_num else (both["y"], both["x"])
        return _correlation_ratio(pd.to_numeric(values, errors="coerce"), groups.astype(str)), "correlation_ratio"
    return _cramers_v(both["x"].astype(str), both["y"].astype(str)), "cramers_v"


def _correlation_ratio(values: pd.Series, groups: pd.Series) -> float | None:
    """eta: the share of a number's spread explained by a category (0 none .. 1 fully)."""
    total = float(((values - values.mean()) ** 2).sum())
    if total == 0:
        return None
    stats = values.groupby(groups).agg(["mean", "count"])
    between = float((stats["count"] * (stats["mean"] - values.mean()) ** 2).sum())
    return round(float(np.sqrt(between / total)), 4)


def _cramers_v(a: pd.Series, b: pd.Series) -> float | None:
    """Cramér's V of two categories, bias-corrected (Bergsma 2013), 0..1."""
    table = pd.crosstab(a, b).to_numpy(dtype=float)
    n = table.sum()
    r, k = table.shape
    if n == 0 or min(r, k) < 2:
        return None
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / n
    chi2 = float(((table - expected) ** 2 / expected).sum())
    phi2 = max(chi2 / n - (k - 1) * (r - 1) / (n - 1), 0.0)
    r_c, k_c = r - (r - 1) ** 2 / (n - 1), k - (k - 1) ** 2 / (n - 1)
    denominator = min(k_c - 1, r_c - 1)
    return round(float(np.sqrt(phi2 / denominator)), 4) if denominator > 0 else None


def _distribution(series: pd.Series, info: ColumnInfo) -> Distribution:
    values = series.dropna()
    if info.kind == ColumnKind.NUMERIC and info.n_distinct > TOP_CATEGORIES and not values.empty:
        counts, edges = _histogram(values.astype(float))
        labels = [f"{lo:.3g}–{hi:.3g}" for lo, hi in pairwise(edges)]
        return Distribution(column=info.name, kind=info.kind, labels=labels, counts=counts, edges=edges)
    top = values.astype(str).value_counts()
    shown = top.head(TOP_CATEGORIES)
    return Distribution(
        column=info.name,
        kind=info.kind,
        labels=[str(v) for v in shown.index],
        counts=[int(v) for v in shown.to_numpy()],
        other_count=int(top.iloc[TOP_CATEGORIES:].sum()),
    )


def _histogram(values: pd.Series) -> tuple[list[int], list[float]]:
    counts, edges = np.histogram(values.to_numpy(), bins=HISTOGRAM_BINS)
    return [int(c) for c in counts], [float(e) for e in edges]
