"""One job in detail: progress, live optimization history, result, log tail, cancel."""

from __future__ import annotations

import streamlit as st

from studio.charts import optimization_history
from studio.context import Studio
from studio.errors import StudioError
from studio.jobs import JobRecord, JobStatus
from studio.training.metrics import METRICS
from studio.ui.common import duration, score


def show_job(studio: Studio, job_id: str) -> None:
    job = studio.jobs.get(job_id)

    @st.fragment(run_every=2 if not job.status.is_final else None)
    def detail() -> None:
        current = studio.jobs.get(job_id)
        _header(current)
        if current.kind == "train":
            _history(studio, current)
        if current.error:
            st.error(current.error.splitlines()[0])
            with st.expander("Full error"):
                st.code(current.error)
        st.markdown("**Log**")
        st.code("\n".join(studio.jobs.logs(job_id, tail=40)) or "(no log lines yet)", language=None)
        if current.status.is_final != job.status.is_final:
            st.rerun()  # the job ended: stop refreshing

    detail()
    if not job.status.is_final:
        label = "Cancel requested…" if job.cancel_requested else "Cancel job"
        if st.button(label, disabled=job.cancel_requested, icon=":material/cancel:"):
            studio.jobs.request_cancel(job_id)
            st.rerun()


def _header(job: JobRecord) -> None:
    progress, result = job.progress, job.result or {}
    a, b, c, d, e = st.columns(5)
    a.metric("Status", job.status.value)
    trials = result.get("n_trials", progress.get("trials_done", 0))
    budget = progress.get("trials_budget")
    b.metric("Trials", f"{trials}" + (f" / {budget}" if budget else ""))
    c.metric("Best score", score(result.get("best_score", progress.get("best_score"))))
    d.metric("Elapsed", duration(job.elapsed_s))
    e.metric("ETA", duration(progress.get("eta_s")) if job.status is JobStatus.RUNNING else "-")
    if job.status is JobStatus.RUNNING:
        budget_s = job.payload.get("budget", {}).get("seconds")
        if budget_s:
            st.progress(min((job.elapsed_s or 0) / budget_s, 1.0), text=f"phase: {progress.get('phase', '…')}")
    if result.get("model_uri"):
        st.success(f"Model **{result['model_uri']}** · best {result.get('best_algorithm')} · "
                   f"test {result.get('metric')} = {score(result.get('test_score'))}")


def _history(studio: Studio, job: JobRecord) -> None:
    from studio.studies import trial_outcomes

    if job.status is JobStatus.QUEUED:
        return
    try:
        trials = trial_outcomes(studio.settings, f"job-{job.id}")
    except StudioError:
        return
    metric = METRICS[job.payload["metric"]]
    if trials:
        st.plotly_chart(optimization_history(trials, maximize=metric.greater_is_better, metric=metric.name),
                        width="stretch", key=f"history-{job.id}-{len(trials)}")
