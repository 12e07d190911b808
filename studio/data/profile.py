"""A short profile of a table: shape, missing values, distinct counts and per-column distributions."""

from __future__ import annotations

from itertools import pairwise

import pandas as pd
from pydantic import BaseModel, ConfigDict

from studio.data.schema import ColumnInfo, ColumnKind, describe_columns

#: Profiles of bigger tables are computed on a seeded sample of this many rows, and say so.
PROFILE_SAMPLE_ROWS = 100_000
TOP_CATEGORIES = 20
HISTOGRAM_BINS = 30


class Distribution(BaseModel):
    """What a distribution chart needs: bin edges and counts (numeric) or labels and counts (other)."""

    model_config = ConfigDict(frozen=True)

    column: str
    kind: ColumnKind
    labels: list[str]
    counts: list[int]
    edges: list[float] | None = None
    other_count: int = 0


class Profile(BaseModel):
    model_config = ConfigDict(frozen=True)

    n_rows: int
    n_cols: int
    sampled_rows: int | None
    columns: list[ColumnInfo]
    distributions: list[Distribution]

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
    )


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
    import numpy as np

    counts, edges = np.histogram(values.to_numpy(), bins=HISTOGRAM_BINS)
    return [int(c) for c in counts], [float(e) for e in edges]
