"""Runs: a filterable leaderboard of every training run; compare runs, analyse a search, diagnose and explain a
model on its held-out rows, and reproduce a run."""

import streamlit as st

from studio.ui.common import empty_state
from studio.ui.family_view import partitions
from studio.ui.leaderboard import board, load_runs
from studio.ui.model_tabs import diagnostics, explain, reproduce_tab
from studio.ui.run_tabs import compare, tuning_analytics

st.title("Runs")
runs = load_runs()
if not runs:
    empty_state("No runs yet: each training job logs one run here when it starts.", page="app_pages/train.py",
                label="Train a model")

selected, metric_name = board(runs)
if not selected:
    st.stop()
run = selected[0]
st.subheader(run.name if len(selected) == 1 else f"{len(selected)} runs selected · details of {run.name}")
held_out = run.held_out()
if held_out:
    st.caption(f"Chosen model: {run.final_model or run.algorithm} · " + " · ".join(
        f"held-out {k} {v:.4g}" for k, v in sorted(held_out.items())))

# One view at a time: only the chosen one is computed, so the page stays fast on big searches.
VIEWS = {"Compare": lambda: compare(selected, metric_name), "Tuning": lambda: tuning_analytics(run, metric_name),
         "Diagnostics": lambda: diagnostics(run), "Explain": lambda: explain(run),
         "Reproduce": lambda: reproduce_tab(run)}
if run.is_family:  # one model per partition: its own view first, and no Optuna study to analyse
    VIEWS = {"Partitions": lambda: partitions(run), **{k: v for k, v in VIEWS.items() if k != "Tuning"}}
view = st.radio("View", list(VIEWS), horizontal=True, key="runs-view-family" if run.is_family else "runs-view",
                label_visibility="collapsed")
VIEWS[view]()

if run.model_uri:
    st.caption(f"Model: `{run.model_uri}` · run id `{run.run_id}`")
    left, right = st.columns(2)
    left.page_link("app_pages/models.py", label="Promote it on the Models page", icon=":material/workspace_premium:",
                   query_params={"model": run.model_uri})
    right.page_link("app_pages/deploy.py", label="Export it on the Deploy page", icon=":material/rocket_launch:",
                    query_params={"model": run.model_uri})
