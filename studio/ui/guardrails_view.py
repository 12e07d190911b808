"""The data checks and data preparation of the Train page: what was found, what the studio did, a way to keep a
column, and the cleaning choices recorded in the spec."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import streamlit as st

from studio.data.catalog import DatasetRecord
from studio.data.schema import ColumnKind
from studio.training.guardrails import Guardrail

LABELS = {"id_like": "ID-like", "constant": "constant", "leakage": "possible leakage", "text": "free text",
          "imbalance": "class imbalance"}


def show_guardrails(checks: Sequence[Guardrail], exclude: Sequence[str]) -> list[str]:
    """Show the findings (minus columns the user excluded anyway); returns the columns to keep regardless."""
    shown = [g for g in checks if g.column not in set(exclude)]
    if not shown:
        st.caption("Data checks: no ID-like, constant, leaky or text columns, no strong class imbalance.")
        return []
    with st.container(border=True):
        st.markdown(f"**Data checks** · {len(shown)} finding{'s' * (len(shown) > 1)}, recorded with the job")
        st.dataframe([{"check": LABELS[g.check], "column": g.column, "finding": g.finding,
                       "action": "left out" if g.action == "excluded" else "note"} for g in shown],
                     hide_index=True, width="stretch")
        removable = [g.column for g in shown if g.action == "excluded" and g.check != "text" and g.column]
        if not removable:
            return []
        return st.multiselect("Keep anyway", removable, help="Use a flagged column regardless, e.g. an ID that "
                                                             "really carries meaning. The spec records your choice.")


def partition_choice(record: DatasetRecord, frame: pd.DataFrame, target: str) -> tuple[list[str], int]:
    """Partition columns and the minimum rows for a partition's own model, with a preview of the partitions."""
    from studio.charts.family import partition_sizes
    from studio.ui.common import chart

    options = [c.name for c in record.columns if c.name != target and c.kind.value in
               ("categorical", "numeric", "boolean") and 1 < c.n_distinct < len(frame)]
    left, right = st.columns([3, 1])
    columns = left.multiselect("Partition columns", options, key=f"partition-{record.id}",
                               help="One model is trained per value combination of these columns (e.g. store and "
                                    "item); each is compared with its own baseline. Leave empty for one model.")
    min_rows = right.number_input("Minimum rows for its own model", min_value=5, value=30, step=5,
                                  help="Partitions with fewer training rows, and partitions never seen in training, "
                                       "are served by a fallback model trained on every row (with the partition "
                                       "columns as features).")
    if columns:
        sizes = frame.groupby(columns, dropna=False, sort=False).size()
        own = int((sizes * 0.8 >= min_rows).sum())  # about 80 % of the rows are for training
        st.caption(f"{len(sizes):,} partitions; about {own:,} get their own model, {len(sizes) - own:,} the fallback. "
                   f"Rows per partition: median {int(sizes.median()):,}, smallest {int(sizes.min()):,}, largest "
                   f"{int(sizes.max()):,}.")
        chart(partition_sizes(sizes, int(min_rows)), key="partition-sizes")
    return columns, int(min_rows)


def forecast_choice(record: DatasetRecord, partition_by: list[str]) -> tuple[str | None, int, int | None]:
    """Forecasting per partition: the time column, the horizon and the season (None: no forecast)."""
    dates = [c.name for c in record.columns if c.kind.value == "datetime" and c.name not in partition_by]
    on = st.toggle("Forecast ahead in time", disabled=not (dates and partition_by), key=f"forecast-{record.id}",
                   help="Each partition is a time series: the models forecast the target a number of steps after "
                        "the data ends. The test rows are the last steps; the models see the calendar, lags of the "
                        "target the horizon allows and the other columns as known future values (e.g. planned "
                        "prices and promotions); each is compared with the last-value and seasonal-naive "
                        "forecasts. Needs partition columns and a date column.")
    if not on or not dates:
        return None, 7, None
    left, mid, right = st.columns(3)
    column = left.selectbox("Time column", dates, key=f"forecast-time-{record.id}")
    horizon = mid.number_input("Horizon (steps ahead)", min_value=1, max_value=10_000, value=7,
                               help="How many time steps after the data's end to forecast; a step is the data's own "
                                    "(a day for daily rows). Lags shorter than the horizon are not used: they would "
                                    "not be known yet.")
    season = right.number_input("Season length (0 = auto)", min_value=0, max_value=1_000, value=0,
                                help="Steps per season for the seasonal lags and the seasonal-naive baseline. Auto: "
                                     "7 for days, 24 for hours, 52 for weeks, 12 for months.")
    return column, int(horizon), int(season) or None


def data_preparation(record: DatasetRecord, target: str) -> tuple[dict[str, str], bool, str]:
    """Column type overrides, dropping duplicate rows and capping outliers; all recorded in the spec."""
    st.caption("Recorded in the spec and applied the same way when training and when scoring (batch scoring and "
               "the exported service clip values to the same caps and read columns as the same types).")
    kinds = [k.value for k in ColumnKind]
    table = pd.DataFrame([{"column": c.name, "inferred": c.kind.value, "use as": c.kind.value}
                          for c in record.columns if c.name != target])
    edited = st.data_editor(table, hide_index=True, width="stretch", key=f"types-{record.id}-{target}",
                            disabled=["column", "inferred"], column_config={"use as": st.column_config.SelectboxColumn(
                                options=kinds, required=True,
                                help="numeric, categorical (a code like a store number), boolean, datetime; text "
                                     "and id columns are left out")})
    overrides = {row["column"]: row["use as"] for row in edited.to_dict("records") if row["use as"] != row["inferred"]}
    left, right = st.columns(2)
    drop_duplicates = left.toggle("Drop duplicate rows before training",
                                  help="Rows identical in every column count once. Scoring keeps every row.")
    caps = {"none": "no capping", "iqr": "clip to the IQR fences (Q1 - 1.5 IQR, Q3 + 1.5 IQR)",
            "zscore": "clip to mean ± 3 standard deviations"}
    cap = right.selectbox("Cap outliers in numeric features", list(caps), format_func=lambda k: caps[k],
                          help="The caps are measured on this dataset and stored in the spec.")
    return overrides, drop_duplicates, str(cap)
