"""Runs: the leaderboard of training runs; compare selected runs; a run's optimization history."""

import pandas as pd
import streamlit as st

from studio.charts import algorithm_bars, metric_bars, optimization_history
from studio.errors import StudioError
from studio.studies import trial_outcomes
from studio.training.metrics import METRICS
from studio.ui.common import ago, duration, empty_state, get_studio

studio = get_studio()
st.title("Runs")
runs = studio.tracker.training_runs()
if not runs:
    empty_state("No runs yet: each training job logs one run here when it starts.", page="pages/train.py",
                label="Train a model")

metrics = sorted({r.metric for r in runs if r.metric})
left, right = st.columns([1, 3])
metric_name = left.selectbox("Rank by metric", metrics, help="Runs optimising another metric are hidden.")
metric = METRICS[metric_name]
sign = -1 if metric.greater_is_better else 1
shown = sorted([r for r in runs if r.metric == metric_name],
               key=lambda r: (r.best_score is None, sign * (r.best_score or 0)))
right.caption(f"{len(shown)} runs · sorted by validation {metric.label} "
              f"({'higher' if metric.greater_is_better else 'lower'} is better) · click column headers to re-sort · "
              "select rows to compare")
board = pd.DataFrame([{
    "rank": i + 1, "run": r.name, "status": r.status.lower(), f"validation {metric_name}": r.best_score,
    f"test {metric_name}": r.test_score, "best algorithm": r.algorithm, "trials": r.n_trials,
    "dataset": r.dataset_id, "compute": r.compute, "duration": duration(r.duration_s), "started": ago(r.started_at),
    "model": r.model_uri,
} for i, r in enumerate(shown)])
event = st.dataframe(board, width="stretch", hide_index=True, on_select="rerun", selection_mode="multi-row",
                     key="leaderboard", column_config={f"validation {metric_name}": st.column_config.NumberColumn(
                         format="%.4f"), f"test {metric_name}": st.column_config.NumberColumn(format="%.4f")})
selected = [shown[i] for i in event.selection.rows] or shown[:1]

if len(selected) >= 2:
    st.subheader(f"Compare {len(selected)} runs")
    st.plotly_chart(metric_bars(selected, metric=metric_name), width="stretch")
    keys = sorted({k for r in selected for k in r.params} | {f"metric: {k}" for r in selected for k in r.metrics})
    table = pd.DataFrame({r.name: [r.params.get(k) if not k.startswith("metric: ")
                                   else r.metrics.get(k.removeprefix("metric: ")) for k in keys] for r in selected},
                         index=keys).astype(str)
    differs = table.nunique(axis=1) > 1
    only_diff = st.toggle("Only rows that differ", value=False)
    st.dataframe((table[differs] if only_diff else table).style.apply(
        lambda row: ["background-color: #fff3cd" if differs[row.name] else "" for _ in row], axis=1),
        width="stretch")

run = selected[0]
st.subheader(f"Optimization history · {run.name}")
try:
    trials = trial_outcomes(studio.settings, run.study_name or "")
except StudioError as exc:
    st.warning(f"No trials to show: {exc}")
else:
    st.plotly_chart(optimization_history(trials, maximize=metric.greater_is_better, metric=metric_name),
                    width="stretch")
    left, right = st.columns([3, 2])
    if run.per_algorithm_best():
        left.plotly_chart(algorithm_bars(run.per_algorithm_best(), metric=metric_name,
                                         maximize=metric.greater_is_better), width="stretch")
    if run.held_out():
        right.markdown(f"**Chosen model**: {run.final_model or run.algorithm}")
        right.dataframe(pd.DataFrame({"metric": list(run.held_out()), "held-out score": list(
            run.held_out().values())}), hide_index=True, width="stretch",
            column_config={"held-out score": st.column_config.NumberColumn(format="%.4f")})
    if run.model_uri:
        st.caption(f"Model: `{run.model_uri}` · run id `{run.run_id}`")
        st.page_link("pages/deploy.py", label="Export it on the Deploy page", icon=":material/rocket_launch:",
                     query_params={"model": run.model_uri})
