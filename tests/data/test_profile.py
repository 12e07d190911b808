from __future__ import annotations

import numpy as np
import pandas as pd

from studio.data import ColumnKind, infer_kind, profile_frame
from studio.data import profile as profile_module


def test_profile_counts_missing_and_distinct(churn: pd.DataFrame) -> None:
    profile = profile_frame(churn)
    assert (profile.n_rows, profile.n_cols, profile.sampled_rows) == (len(churn), 5, None)
    by_name = {c.name: c for c in profile.columns}
    assert by_name["plan"].n_distinct == 3
    assert by_name["monthly charges"].n_missing == churn["monthly charges"].isna().sum()
    assert profile.total_missing == int(churn.isna().sum().sum())
    dists = {d.column: d for d in profile.distributions}
    assert dists["tenure"].edges is not None and sum(dists["tenure"].counts) == len(churn)
    assert sorted(dists["plan"].labels) == ["basic", "plus", "pro"]


def test_large_tables_are_profiled_on_a_sample(monkeypatch) -> None:
    monkeypatch.setattr(profile_module, "PROFILE_SAMPLE_ROWS", 50)
    frame = pd.DataFrame({"x": np.arange(500.0), "y": ["a", "b"] * 250})
    profile = profile_frame(frame)
    assert profile.n_rows == 500 and profile.sampled_rows == 50
    assert sum(profile.distributions[0].counts) == 50


def test_infer_kind() -> None:
    assert infer_kind(pd.Series([1.5, 2.0])) is ColumnKind.NUMERIC
    assert infer_kind(pd.Series([True, False])) is ColumnKind.BOOLEAN
    assert infer_kind(pd.Series(["true", "false", "true"])) is ColumnKind.BOOLEAN
    assert infer_kind(pd.Series(["2024-01-02", "2024-02-03"])) is ColumnKind.DATETIME
    assert infer_kind(pd.Series([f"id-{i}" for i in range(200)])) is ColumnKind.TEXT
    assert infer_kind(pd.Series(["a", "b", "a"] * 50)) is ColumnKind.CATEGORICAL
