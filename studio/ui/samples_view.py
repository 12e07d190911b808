"""Sample datasets on the Home page: one click saves one, a second opens the Train page set up for it."""

from __future__ import annotations

import streamlit as st

from studio.auth import Role
from studio.samples import SAMPLES, add_sample
from studio.ui.auth import allowed, can, mark_created, needs
from studio.ui.common import get_studio


def sample_datasets(*, first_run: bool) -> None:
    with st.expander("Sample datasets", expanded=first_run, icon=":material/dataset:"):
        for column, sample in zip(st.columns(len(SAMPLES)), SAMPLES.values(), strict=True):
            with column.container(border=True):
                st.markdown(f"**{sample.label}**")
                st.caption(sample.description)
                if st.button("Add this dataset", key=f"sample-{sample.name}", icon=":material/add:",
                             disabled=not can(Role.ANALYST), help=needs(Role.ANALYST)) and allowed(Role.ANALYST):
                    with st.spinner(f"Generating {sample.label}…"):
                        record = add_sample(get_studio().catalog, sample.name)
                    mark_created("dataset", record.id)
                    st.session_state["sample-added"] = record.id
                added = st.session_state.get("sample-added", "")
                if added.rsplit("-v", 1)[0] == sample.name:
                    st.success(f"Saved as **{added}**.")
                    params = {"dataset": added, "target": sample.target}
                    if sample.partition_by:
                        params["partition"] = ",".join(sample.partition_by)
                    st.page_link("app_pages/train.py", label="Next: train a model on it", query_params=params,
                                 icon=":material/arrow_forward:")
