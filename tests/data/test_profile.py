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


def test_outliers_duplicates_and_missing_patterns_are_counted() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, 1000)
    x[:5] = [50, -40, 30, 25, 60]  # five far outliers
    frame = pd.DataFrame({"x": x, "a": rng.choice(["p", "q"], 1000), "b": rng.normal(size=1000)})
    frame.loc[10:19, ["a", "b"]] = None  # ten rows missing both
    frame.loc[20:24, "b"] = None  # five rows missing only b
    frame = pd.concat([frame, frame.iloc[[100, 101]]], ignore_index=True)  # two duplicates
    profile = profile_frame(frame)
    assert profile.duplicate_rows == 2
    x_summary = next(s for s in profile.numeric if s.column == "x")
    assert x_summary.z_outliers == 5 and x_summary.iqr_outliers >= 5
    assert x_summary.iqr_low < x_summary.q1 < x_summary.median < x_summary.q3 < x_summary.iqr_high
    patterns = {tuple(p.columns): p.rows for p in profile.missing_patterns}
    assert patterns == {("a", "b"): 10, ("b",): 5}


def test_associations_use_the_measure_that_fits_each_pair() -> None:
    rng = np.random.default_rng(1)
    n = 2000
    group = rng.choice(["a", "b", "c"], n)
    frame = pd.DataFrame({
        "x": np.arange(n, dtype=float), "y": np.arange(n) * 2.0 + rng.normal(0, 1, n),  # |r| ~ 1
        "noise": rng.normal(size=n),
        "group": group, "by_group": np.where(group == "a", 10.0, 0.0) + rng.normal(0, 0.1, n),  # eta ~ 1
        "copy": np.where(group == "c", "C", "other"), "coin": rng.choice(["h", "t"], n)})
    pairs = {(a.a, a.b): a for a in profile_frame(frame).associations}
    assert pairs[("x", "y")].method == "pearson" and pairs[("x", "y")].value > 0.99
    assert pairs[("x", "noise")].value < 0.1
    assert pairs[("group", "by_group")].method == "correlation_ratio" and pairs[("group", "by_group")].value > 0.99
    assert pairs[("group", "copy")].method == "cramers_v" and pairs[("group", "copy")].value > 0.6
    assert pairs[("group", "coin")].value < 0.1


def test_relation_to_a_target_ranks_the_informative_columns_first(churn: pd.DataFrame) -> None:
    profile = profile_frame(churn)
    relations = profile_module.target_relations(churn, profile.columns, "churned")
    assert relations[0].a == "tenure" and {r.b for r in relations} == {"churned"}
    assert [r.value for r in relations] == sorted((r.value for r in relations), reverse=True)
    assert profile_module.target_relations(churn, profile.columns, "nope") == []


def test_the_profile_downloads_as_one_html_page(churn: pd.DataFrame) -> None:
    from studio.charts.profile_report import profile_html

    profile = profile_frame(churn)
    page = profile_html(profile, name="churn <v1>", target="churned",
                        relations=profile_module.target_relations(churn, profile.columns, "churned"))
    assert page.startswith("<!doctype html>") and "Profile of churn &lt;v1&gt;" in page
    assert page.count("plotly.js v") <= 2 and "Relation to churned" in page and "IQR outliers" in page
