"""The Runs page's Partitions view of a model family: per-partition leaderboard, a heat-map over two keys, the
score distribution against the baselines, the worst partitions, and one partition's diagnostics."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from studio.auth import Role
from studio.charts import diagnostics as diag
from studio.charts.family import (
    forecast_vs_actual,
    score_distribution,
    score_heatmap,
    split_keys,
    worst_partitions,
)
from studio.errors import StudioError
from studio.many.router import partition_rows
from studio.markup import text
from studio.names import PARTITIONS_TABLE
from studio.registry import VersionInfo
from studio.runs import RunSummary
from studio.training.evaluation.holdout import Holdout
from studio.training.metrics import METRICS
from studio.ui.auth import allowed, can, needs
from studio.ui.common import chart, get_studio, show_error, table_download
from studio.ui.run_tabs import evaluation_of


@st.cache_data(max_entries=8, show_spinner="Reading the partitions…")
def partitions_of(run_id: str) -> tuple[list[str], pd.DataFrame]:
    """The family's partition columns and its per-partition table (a finished run never changes)."""
    tracker = get_studio().tracker
    spec = tracker.spec_of(run_id)
    assert spec.partition is not None
    return list(spec.partition.columns), tracker.load_table(run_id, PARTITIONS_TABLE)


@st.cache_data(max_entries=8, show_spinner=False)
def forecast_column(run_id: str) -> str | None:
    """A forecasting family's time column (None for regression and classification families)."""
    forecast = get_studio().tracker.spec_of(run_id).forecast
    return None if forecast is None else forecast.time_column


def partitions(run: RunSummary) -> None:
    columns, table = partitions_of(run.run_id)
    metric = METRICS[run.metric]
    m = run.metrics
    a, b, c, d, e = st.columns(5)
    a.metric("Partitions", f"{int(m.get('partitions', 0)):,}")
    b.metric("Own model", f"{int(m.get('partitions_modeled', 0)):,}")
    c.metric("Fallback", f"{int(m.get('partitions_fallback', 0)):,}",
             help="Partitions with fewer training rows than the minimum, or unseen in training: the fallback model "
                  "(trained on every row, with the partition columns as features) serves them.")
    d.metric("Failed", f"{int(m.get('partitions_failed', 0)):,}")
    e.metric("Beat their baseline", f"{m.get('partitions_beating_baseline', 0):.0%}",
             help="Share of the partition models that score better than the partition's baseline on its held-out "
                  "rows: its training mean (regression), class shares (classification), or the better of the "
                  "last-value and seasonal-naive forecasts (forecasting; see baseline_kind).")
    board = split_keys(table, columns).sort_values("score", ascending=not metric.greater_is_better)
    st.dataframe(board.drop(columns="key"), hide_index=True, width="stretch", height=260,
                 column_config={"score": st.column_config.NumberColumn(run.metric, format="%.4g"),
                                "baseline": st.column_config.NumberColumn(format="%.4g"),
                                "fallback_score": st.column_config.NumberColumn("fallback", format="%.4g"),
                                "seconds": st.column_config.NumberColumn(format="%.2f")})
    table_download(board, name=f"{run.name}-partitions", key="partitions")
    left, right = st.columns(2)
    if len(columns) >= 2:
        rows = left.selectbox("Heat-map rows", columns, index=0, key="family-rows")
        cols = left.selectbox("Heat-map columns", [c for c in columns if c != rows], key="family-cols")
        chart(score_heatmap(table, columns, rows=rows, cols=cols, metric=run.metric,
                            greater_is_better=metric.greater_is_better), key="family-heatmap", container=left)
    chart(score_distribution(table, run.metric), key="family-distribution", container=right)
    st.markdown("**Worst partitions** (their models' held-out score, with their data size)")
    st.dataframe(worst_partitions(table, greater_is_better=metric.greater_is_better), hide_index=True,
                 width="stretch")
    failed = table[table["status"] == "failed"]
    if len(failed):
        with st.expander(f"{len(failed)} partitions failed (served by the fallback)"):
            st.dataframe(failed[["key", "rows_train", "error"]], hide_index=True, width="stretch")
    _drill_down(run, columns, board)


def _drill_down(run: RunSummary, columns: list[str], board: pd.DataFrame) -> None:
    evaluation = evaluation_of(run.run_id)
    if evaluation is None:
        return
    h = evaluation.holdout
    rows = partition_rows(h.features, columns)  # the router's own grouping: one pass, not a Python call per row
    choices = [k for k in board["key"] if k in rows]
    if not choices:
        return
    key = st.selectbox("Diagnostics of one partition", choices, key="family-partition",
                       help="Its held-out rows, scored by the family fitted on the training rows.")
    part = Holdout(h.task, h.classes, h.frame.iloc[rows[key]])
    st.caption(f"{len(part.frame):,} held-out rows of partition {text(key)}.")
    time_column = forecast_column(run.run_id)
    if time_column is not None and time_column in part.frame:
        chart(forecast_vs_actual(part.frame, time_column, title=f"Forecast of partition {key} over its held-out "
                                 "steps"), key="family-forecast")
    left, right = st.columns(2)
    if part.classes is None:
        chart(diag.residuals({key: part}), key="family-residuals", container=left)
        chart(diag.predicted_vs_actual({key: part}), key="family-pva", container=right)
    else:
        chart(diag.confusion_matrix(part), key="family-confusion", container=left)
        chart(diag.roc_curves({key: part}), key="family-roc", container=right)


def family_promotion(chosen: VersionInfo, actor: str, reason: str) -> None:
    """Promote a family partition by partition: rules, a preview of every partition's verdict, the button."""
    from studio.many.promote import PartitionRules, judge, promote_family
    from studio.registry import CHAMPION

    studio = get_studio()
    st.markdown("**Partition rules** (a model family: each partition's model is judged on its own held-out rows)")
    left, mid, right = st.columns(3)
    gain = left.number_input("Beat its baseline by at least (%)", min_value=0.0, max_value=100.0, value=10.0,
                             step=5.0, key="family-gain")
    compare = mid.toggle("Compare with the champion's model", value=True, key="family-compare")
    margin = right.number_input("…and be at most this much worse (%)", min_value=0.0, max_value=100.0, value=0.0,
                                step=1.0, key="family-margin", disabled=not compare)
    rules = PartitionRules(beat_baseline_by=gain / 100, champion_margin=margin / 100 if compare else None)
    name, version = chosen.name, chosen.version
    _, candidate = partitions_of(chosen.run_id)
    holder = studio.registry.holder(name, CHAMPION)
    champion = None  # the champion's partitions, when it is a family itself (as promote_family reads it)
    if holder is not None and holder.version != version and holder.partition_by:
        champion = partitions_of(holder.run_id)[1]
    verdicts = judge(candidate, champion, rules, METRICS[chosen.metric])
    counts = verdicts["source"].value_counts()
    st.caption(f"{counts.get('candidate', 0)} partitions pass and take v{version}'s model; "
               f"{counts.get('champion', 0)} keep the champion's"
               + (f" (v{holder.version})" if holder else "") + f"; {counts.get('fallback', 0)} go to the fallback.")
    st.dataframe(verdicts, hide_index=True, width="stretch", height=240)
    if st.button(f"Promote v{version}'s passing partitions to '{CHAMPION}'", type="primary",
                 icon=":material/workspace_premium:", key="family-promote", disabled=not can(Role.ADMIN),
                 help=needs(Role.ADMIN)) and allowed(Role.ADMIN):
        with st.spinner("Merging the partitions, registering the family and checking its gates…"):
            try:
                done = promote_family(studio.registry, name, version, rules, actor=actor, reason=reason)
            except StudioError as exc:
                show_error(exc)
                return
        st.session_state["registry-flash"] = (
            f"'{name}@{CHAMPION}' now points at v{done.version}: v{version}'s model for {done.passed} partitions, "
            f"the champion's for {done.kept_champion}, the fallback for {done.to_fallback}.")
        st.rerun()
