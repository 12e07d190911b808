"""The Runs page's leaderboard: filters, sorting, paging and row selection over the run index."""

from __future__ import annotations

import datetime as dt
import time

import pandas as pd
import streamlit as st

from studio.runs import SORTABLE, RunFilter, RunSummary, facets, query
from studio.training.metrics import METRICS
from studio.ui.common import ago, duration, get_studio, table_download

ANY = "(any)"
PAGE_SIZES = (25, 50, 100, 200)


@st.cache_data(max_entries=4, show_spinner="Reading the runs…")
def _runs_at(stamp: tuple[int, float]) -> list[RunSummary]:
    return get_studio().tracker.training_runs()


def load_runs() -> list[RunSummary]:
    """Every training run, cached until any run's summary changes."""
    tracker = get_studio().tracker
    if tracker.index is not None and tracker.index.stamp()[0] == 0:
        tracker.sync_index()  # a studio whose runs predate the index: copied from MLflow once
    return _runs_at(tracker.index.stamp() if tracker.index is not None else (0, time.time()))


def _pick(container: st.delta_generator.DeltaGenerator, label: str, options: list[str], key: str,
          help_text: str | None = None) -> str | None:
    chosen = container.selectbox(label, [ANY, *options], key=key, help=help_text)
    return None if chosen == ANY else chosen


def filters(runs: list[RunSummary]) -> tuple[RunFilter, str]:
    """The filter and sort widgets; returns the filter and the column to sort by."""
    values = facets(runs)
    a, b, c, d = st.columns(4)
    metric = a.selectbox("Rank by metric", values["metric"], key="lb-metric",
                         help="Runs optimising another metric are not on this board.")
    task = _pick(b, "Task", values["task"], "lb-task")
    dataset = _pick(c, "Dataset", values["dataset"], "lb-dataset")
    algorithm = _pick(d, "Algorithm", values["algorithm"], "lb-algorithm",
                      "The chosen model's algorithm (or one member of a chosen ensemble).")
    a, b, c, d = st.columns(4)
    status = _pick(a, "Status", values["status"], "lb-status")
    today = dt.date.today()
    dates = b.date_input("Started between", value=[], key="lb-dates", max_value=today,
                         help="Leave empty for any date.")
    text = c.text_input("Name contains", key="lb-text")
    sort = d.selectbox("Sort by", SORTABLE, key="lb-sort",
                       format_func=lambda s: {"validation": "validation score", "test": "test score"}.get(s, s))
    since = until = None
    if isinstance(dates, tuple) and len(dates) == 2:
        since = time.mktime(dates[0].timetuple())
        until = time.mktime((dates[1] + dt.timedelta(days=1)).timetuple())
    f = RunFilter(metric=metric, task=task, dataset=dataset, algorithm=algorithm, status=status, since=since,
                  until=until, text=text or None)
    return f, sort


def board(runs: list[RunSummary]) -> tuple[list[RunSummary], str]:
    """Filters, the current page of the board, paging, and the runs the user selected (the first run when
    none is selected); also returns the metric the board ranks by."""
    f, sort = filters(runs)
    assert f.metric is not None
    metric = METRICS[f.metric]
    left, mid, right = st.columns([1, 1, 4])
    size = left.selectbox("Rows per page", PAGE_SIZES, index=1, key="lb-size")
    page_no = int(mid.number_input("Page", min_value=1, value=1, step=1, key="lb-page"))
    page = query(runs, f, sort=sort, greater_is_better=metric.greater_is_better, page=page_no, page_size=size)
    right.caption(f"{page.total:,} of {len(runs):,} runs match · page {page.page} of {page.pages} · "
                  f"{metric.label}: {'higher' if metric.greater_is_better else 'lower'} is better · select rows to "
                  "compare (up to 10)")
    table = pd.DataFrame([{
        "rank": (page.page - 1) * size + i + 1, "run": r.name, "status": r.status.lower(),
        f"validation {f.metric}": r.validation_score, f"test {f.metric}": r.test_score, "algorithm": r.algorithm,
        "trials": r.n_trials, "dataset": r.dataset_id, "compute": r.compute, "duration": duration(r.duration_s),
        "started": ago(r.started_at), "model": r.model_uri,
    } for i, r in enumerate(page.runs)])
    if table.empty:
        st.info("No run matches these filters.")
        return [], f.metric
    number = st.column_config.NumberColumn(format="%.4f")
    event = st.dataframe(table, width="stretch", hide_index=True, on_select="rerun", selection_mode="multi-row",
                         key=f"leaderboard-{page.page}", column_config={f"validation {f.metric}": number,
                                                                         f"test {f.metric}": number})
    everything = query(runs, f, sort=sort, greater_is_better=metric.greater_is_better, page=1,
                       page_size=max(len(runs), 1)).runs
    table_download(pd.DataFrame([r.model_dump(exclude={"params", "metrics"}) for r in everything]),
                   name="leaderboard", key="leaderboard")
    selected = [page.runs[i] for i in event.selection.rows][:10]
    return selected or page.runs[:1], f.metric
