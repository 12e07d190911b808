"""Models: the registry (versions, aliases, promotion gates, rollback, audit log, model cards) and batch scoring
with a version or alias."""

import streamlit as st

from studio.ui.common import empty_state, get_studio
from studio.ui.registry_view import registry_section
from studio.ui.scoring_view import batch_scoring

studio = get_studio()
st.title("Models")
names = studio.registry.model_names()
if not names:
    empty_state("No registered model yet. A training job registers its model when it succeeds.",
                page="app_pages/train.py", label="Train a model")

asked = st.query_params.get("model", "").removeprefix("models:/")  # e.g. churn/2 from the Runs page
asked_name, _, asked_version = asked.partition("/")
registry_tab, scoring_tab = st.tabs(["Registry", "Batch scoring"])
with registry_tab:
    name = st.selectbox("Registered model", names, index=names.index(asked_name) if asked_name in names else 0)
    registry_section(name, asked_version or None)
with scoring_tab:
    batch_scoring(studio.tracker.model_refs())
