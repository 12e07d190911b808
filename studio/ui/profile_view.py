"""Render a dataset profile: headline numbers, a column table, and a distribution chart per column."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from studio.charts import distribution_chart
from studio.data import Profile

CHARTS_PER_ROW = 3


def show_profile(profile: Profile, preview: pd.DataFrame) -> None:
    a, b, c, d = st.columns(4)
    a.metric("Rows", f"{profile.n_rows:,}")
    b.metric("Columns", profile.n_cols)
    c.metric("Missing values", f"{profile.total_missing:,}")
    d.metric("Feature-ready columns", sum(col.kind.is_feature for col in profile.columns))
    if profile.sampled_rows:
        st.caption(f"Profile computed on a random sample of {profile.sampled_rows:,} rows.")
    st.markdown("**Preview** (first rows)")
    st.dataframe(preview.head(50), width="stretch", height=240)
    st.markdown("**Columns** (inferred types)")
    table = pd.DataFrame([{
        "column": c.name, "type": c.kind.value, "dtype": c.dtype, "missing": c.n_missing,
        "missing %": round(100 * c.n_missing / max(profile.n_rows, 1), 1), "distinct": c.n_distinct,
    } for c in profile.columns])
    st.dataframe(table, width="stretch", hide_index=True,
                 column_config={"missing %": st.column_config.ProgressColumn(min_value=0, max_value=100,
                                                                             format="%.1f%%")})
    st.markdown("**Distributions**")
    for start in range(0, len(profile.distributions), CHARTS_PER_ROW):
        cols = st.columns(CHARTS_PER_ROW)
        for col, dist in zip(cols, profile.distributions[start:start + CHARTS_PER_ROW], strict=False):
            col.plotly_chart(distribution_chart(dist), width="stretch", key=f"dist-{dist.column}")
