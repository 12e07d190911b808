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
    cap = right.selectbox("Cap outliers in numeric features", ["none", "iqr", "zscore"],
                          format_func={"none": "no capping",
                                       "iqr": "clip to the IQR fences (Q1 - 1.5 IQR, Q3 + 1.5 IQR)",
                                       "zscore": "clip to mean ± 3 standard deviations"}.get,
                          help="The caps are measured on this dataset and stored in the spec.")
    return overrides, drop_duplicates, cap
