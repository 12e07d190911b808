"""The data checks of the Train page: what was found, what the studio did, and a way to keep a column."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

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
