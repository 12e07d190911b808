"""Render a dataset profile: headline numbers, columns with spread and outliers, missing-value patterns,
associations, the relation of each column to a chosen target, distributions; the whole as HTML."""

from __future__ import annotations

import hashlib
from typing import Any

import pandas as pd
import streamlit as st

from studio.charts import distribution_chart
from studio.charts.data import association_heatmap, missing_patterns_chart, outlier_boxes, target_relation_bars
from studio.charts.profile_report import column_table, profile_html
from studio.data import Profile
from studio.data.profile import target_relations
from studio.ui.common import chart

CHARTS_PER_ROW = 3


@st.cache_resource(max_entries=16, show_spinner=False)
def _figures(_profile: Profile, fingerprint: str) -> dict[str, Any]:
    """The profile's charts, built once per profile (rebuilding them took most of a Data page rerun): the same
    figure objects are handed to every rerun and session, which only read them."""
    profile = _profile
    figures: dict[str, Any] = {"distributions": [distribution_chart(d) for d in profile.distributions]}
    if profile.numeric:
        figures["outliers"] = outlier_boxes(profile.numeric)
    if profile.missing_patterns:
        figures["missing"] = missing_patterns_chart(profile.missing_patterns, profile.sampled_rows or profile.n_rows)
    if profile.associations:
        figures["associations"] = association_heatmap(profile.associations)
    return figures


def show_profile(profile: Profile, preview: pd.DataFrame, *, name: str = "dataset", key: str = "profile") -> None:
    figures = _figures(profile, hashlib.sha1(profile.model_dump_json().encode()).hexdigest())
    a, b, c, d, e = st.columns(5)
    a.metric("Rows", f"{profile.n_rows:,}")
    b.metric("Columns", profile.n_cols)
    c.metric("Missing values", f"{profile.total_missing:,}")
    d.metric("Duplicate rows", f"{profile.duplicate_rows:,}",
             help="Rows identical to an earlier row in every column (on the profiled rows). The Train page can "
                  "drop them before training.")
    e.metric("Feature-ready columns", sum(col.kind.is_feature for col in profile.columns))
    if profile.sampled_rows:
        st.caption(f"Counts of missing and distinct values are exact; the other statistics and the charts are "
                   f"computed on a random sample of {profile.sampled_rows:,} of the {profile.n_rows:,} rows.")
    st.markdown("**Preview** (first rows)")
    st.dataframe(preview.head(50), width="stretch", height=240)
    st.markdown("**Columns** (inferred types; the Train page can override them)")
    st.dataframe(column_table(profile), width="stretch", hide_index=True, column_config={
        "missing %": st.column_config.ProgressColumn(min_value=0, max_value=100, format="%.1f%%"),
        "IQR outliers": st.column_config.NumberColumn(help="Values beyond Q1 - 1.5 IQR or Q3 + 1.5 IQR"),
        "|z|>3": st.column_config.NumberColumn(help="Values more than 3 standard deviations from the mean")})

    left, right = st.columns(2)
    if "outliers" in figures:
        chart(figures["outliers"], key=f"{key}-outliers", container=left)
    if "missing" in figures:
        chart(figures["missing"], key=f"{key}-missing", container=right)
    else:
        right.success("No missing values.")
    left, right = st.columns(2)
    if "associations" in figures:
        chart(figures["associations"], key=f"{key}-assoc", container=left)
    candidates = [c.name for c in profile.columns if c.kind.value in ("numeric", "categorical", "boolean")]
    target = right.selectbox("Relation to a target", [None, *candidates], key=f"{key}-target",
                             format_func=lambda v: "choose a column…" if v is None else v,
                             help="How strongly each column relates to the column you plan to predict.")
    relations = target_relations(preview, profile.columns, target) if target else []
    if target and relations:
        chart(target_relation_bars(relations, target), key=f"{key}-target-bars", container=right)

    st.markdown("**Distributions**")
    for start in range(0, len(profile.distributions), CHARTS_PER_ROW):
        cols = st.columns(CHARTS_PER_ROW)
        shown = zip(profile.distributions[start:start + CHARTS_PER_ROW],
                    figures["distributions"][start:start + CHARTS_PER_ROW], strict=True)
        for col, (dist, figure) in zip(cols, shown, strict=False):
            col.plotly_chart(figure, width="stretch", key=f"{key}-dist-{dist.column}")
    st.download_button("Download the profile (HTML)", icon=":material/download:", key=f"{key}-html",
                       data=lambda: profile_html(profile, name=name, target=target, relations=relations),
                       file_name=f"{name}-profile.html", mime="text/html")
