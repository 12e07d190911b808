"""The Runs page's Partitions view of a model family: per-partition leaderboard, a heat-map over two keys, the
score distribution against the baselines, the worst partitions, and one partition's diagnostics."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from studio.charts import diagnostics as diag
from studio.charts.family import score_distribution, score_heatmap, split_keys, worst_partitions
from studio.evaluation.holdout import Holdout
from studio.many.router import partition_key
from studio.many.train import PARTITIONS_TABLE
from studio.runs import RunSummary
from studio.training.metrics import METRICS
from studio.ui.common import chart, get_studio, table_download
from studio.ui.run_tabs import evaluation_of


def is_family(run: RunSummary) -> bool:
    return "partitions" in run.metrics


@st.cache_data(max_entries=8, show_spinner="Reading the partitions…")
def partitions_of(run_id: str) -> tuple[list[str], pd.DataFrame]:
    """The family's partition columns and its per-partition table (a finished run never changes)."""
    tracker = get_studio().tracker
    spec = tracker.spec_of(run_id)
    assert spec.partition is not None
    return list(spec.partition.columns), tracker.load_table(run_id, PARTITIONS_TABLE)


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
             help="Share of the partition models that score better than the partition's baseline (its training "
                  "mean, or class shares) on its held-out rows.")
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
    keys = h.features[columns].apply(lambda r: partition_key(list(r)), axis=1)
    choices = [k for k in board["key"] if k in set(keys)]
    if not choices:
        return
    key = st.selectbox("Diagnostics of one partition", choices, key="family-partition",
                       help="Its held-out rows, scored by the family fitted on the training rows.")
    part = Holdout(h.task, h.classes, h.frame[(keys == key).to_numpy()])
    st.caption(f"{len(part.frame):,} held-out rows of partition {key}.")
    left, right = st.columns(2)
    if part.classes is None:
        chart(diag.residuals({key: part}), key="family-residuals", container=left)
        chart(diag.predicted_vs_actual({key: part}), key="family-pva", container=right)
    else:
        chart(diag.confusion_matrix(part), key="family-confusion", container=left)
        chart(diag.roc_curves({key: part}), key="family-roc", container=right)
