"""The Runs page's Compare and Tuning tabs, with the cached loaders they share with the other tabs."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from optuna.trial import FrozenTrial

from studio.charts import algorithm_bars, metric_bars, optimization_history, trial_durations, tuning
from studio.charts import diagnostics as diag
from studio.errors import StudioError
from studio.runs import RunSummary
from studio.studies import load_trials
from studio.training.evaluation import Evaluation
from studio.training.metrics import METRICS
from studio.training.search import outcome_of
from studio.ui.common import chart, get_studio, table_download


@st.cache_data(max_entries=24, show_spinner="Loading the held-out evaluation…")
def evaluation_of(run_id: str) -> Evaluation | None:
    """A run's recorded evaluation (a finished run's never changes), or None if it recorded none."""
    try:
        return get_studio().tracker.load_evaluation(run_id)
    except StudioError:
        return None


@st.cache_data(max_entries=8, show_spinner="Loading the study…")
def trials_of(study_name: str, stamp: str) -> list[FrozenTrial]:
    """A study's finished trials; `stamp` (status and trial count) changes while the study still runs."""
    return [t for t in load_trials(get_studio().settings, study_name) if t.state.is_finished()]


def study_trials(run: RunSummary) -> list[FrozenTrial] | None:
    try:
        return trials_of(run.study_name or "", f"{run.status}:{run.n_trials}")
    except StudioError as exc:
        st.warning(f"No trials to show: {exc}")
        return None


def compare(selected: list[RunSummary], metric_name: str) -> None:
    if len(selected) < 2:
        st.info("Select two to ten runs on the leaderboard to compare them side by side.")
        return
    chart(metric_bars(selected, metric=metric_name), key="compare-scores")
    keys = sorted({k for r in selected for k in r.params} | {f"metric: {k}" for r in selected for k in r.metrics})
    table = pd.DataFrame({r.name: [r.params.get(k) if not k.startswith("metric: ")
                                   else r.metrics.get(k.removeprefix("metric: ")) for k in keys] for r in selected},
                         index=keys).astype(str)
    differs = table.nunique(axis=1) > 1
    only_diff = st.toggle("Only rows that differ", value=False)
    shown = table[differs] if only_diff else table
    st.dataframe(shown.style.apply(lambda row: ["background-color: #fff3cd" if differs[row.name] else ""
                                                for _ in row], axis=1), width="stretch")
    table_download(shown.reset_index(names="field"), name="runs-compared", key="compare")
    evaluations = {r.name: e for r in selected if (e := evaluation_of(r.run_id)) is not None}
    if not evaluations:
        st.caption("These runs recorded no held-out evaluation, so there are no curves to overlay.")
        return
    holdouts = {name: e.holdout for name, e in evaluations.items()}
    left, right = st.columns(2)
    if next(iter(holdouts.values())).classes is not None:
        chart(diag.roc_curves(holdouts), key="compare-roc", container=left)
        chart(diag.pr_curves(holdouts), key="compare-pr", container=right)
    else:
        chart(diag.predicted_vs_actual(holdouts), key="compare-pva", container=left)
        chart(diag.residuals(holdouts), key="compare-residuals", container=right)


@st.cache_data(max_entries=16, show_spinner="Drawing the search…")
def _search_charts(study_name: str, stamp: str, metric_name: str, best: dict[str, float]) -> dict[str, go.Figure]:
    """The search-wide charts, built once per state of the study (a finished study's never change)."""
    metric = METRICS[metric_name]
    outcomes = [outcome_of(t) for t in trials_of(study_name, stamp)]
    charts = {"history": optimization_history(outcomes, maximize=metric.greater_is_better, metric=metric_name),
              "durations": trial_durations(outcomes)}
    if best:
        charts["per-algorithm"] = algorithm_bars(best, metric=metric_name, maximize=metric.greater_is_better)
    return charts


@st.cache_data(max_entries=32, show_spinner="Analysing the hyperparameters…")
def _tuning_charts(study_name: str, stamp: str, algorithm: str, metric_name: str,
                   contour: tuple[str, str] | None) -> dict[str, go.Figure | str]:
    """One algorithm's tuning charts (fANOVA importance is the slow one), or a sentence saying what is missing."""
    trials, metric = trials_of(study_name, stamp), METRICS[metric_name]
    maximize = metric.greater_is_better
    try:
        charts: dict[str, go.Figure | str] = {
            "importance": tuning.param_importances(trials, algorithm, maximize=maximize, metric=metric_name),
            "parallel": tuning.parallel_coordinates(trials, algorithm, maximize=maximize, metric=metric_name),
            "slice": tuning.slice_plot(trials, algorithm, maximize=maximize, metric=metric_name)}
        if contour is not None:
            charts["contour"] = tuning.contour_plot(trials, algorithm, *contour, maximize=maximize,
                                                    metric=metric_name)
    except (ValueError, RuntimeError) as exc:  # too few trials for fANOVA or a contour, said in words
        return {"note": str(exc)}
    return charts


def tuning_analytics(run: RunSummary, metric_name: str) -> None:
    trials = study_trials(run)
    if trials is None:
        return
    stamp = f"{run.status}:{run.n_trials}"
    search = _search_charts(run.study_name or "", stamp, metric_name, run.per_algorithm_best())
    chart(search["history"], key="history")
    left, right = st.columns(2)
    if "per-algorithm" in search:
        chart(search["per-algorithm"], key="per-algorithm", container=left)
    chart(search["durations"], key="durations", container=right)
    algorithms = tuning.algorithms_of(trials)
    if not algorithms:
        return
    algorithm = st.selectbox("Hyperparameters of", algorithms, key="tuning-algorithm",
                             help="Each algorithm has its own hyperparameters, so the charts below show one at a time.")
    params = tuning.params_of(trials, algorithm)
    contour = None
    if len(params) >= 2:
        a, b = st.columns(2)
        contour = (a.selectbox("Contour: x", params, index=0, key="contour-x"),
                   b.selectbox("Contour: y", params, index=1, key="contour-y"))
    charts = _tuning_charts(run.study_name or "", stamp, algorithm, metric_name, contour)
    if "note" in charts:
        st.info(str(charts["note"]))
        return
    left, right = st.columns(2)
    chart(charts["importance"], key="importance", container=left)
    chart(charts["parallel"], key="parallel", container=right)
    chart(charts["slice"], key="slice")
    if "contour" in charts:
        chart(charts["contour"], key="contour")
