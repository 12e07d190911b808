"""One job in detail (progress, live optimization history, trials, result, log, actions) and the estimate panel."""

from __future__ import annotations

import streamlit as st

from studio.auth import Role
from studio.charts import optimization_history
from studio.compute.profiles import ComputeProfile
from studio.context import Studio
from studio.errors import StudioError
from studio.jobs import JobRecord, JobStatus
from studio.jobs.training_view import TrainingView
from studio.markup import text
from studio.training.estimate import Estimate
from studio.training.metrics import METRICS
from studio.ui.auth import allowed, audit_here, can, mark_created, needs
from studio.ui.common import duration, score


def show_estimate(guess: Estimate, profile: ComputeProfile) -> None:
    """What the chosen compute size means and how long the job should take, before it is launched."""
    with st.container(border=True):
        a, b, c, d = st.columns(4)
        a.metric("Estimated duration", duration(guess.seconds), help=guess.describe())
        b.metric("Parallel trials", guess.parallel_trials if not profile.is_remote else "cluster")
        c.metric("Cores", guess.cores if guess.cores is not None else "cluster")
        d.metric("Memory", f"{guess.memory_gb:g} GB" if guess.memory_gb is not None else "cluster")
        st.caption(f"Compute **{profile.name}**: {profile.summary()}. Estimate: {guess.describe()}; "
                   f"search {duration(guess.search_s)} + start, refit and logging {duration(guess.overhead_s)}.")


def show_job(studio: Studio, job_id: str) -> None:
    job = studio.jobs.get(job_id)

    @st.fragment(run_every=2 if not job.status.is_final else None)
    def detail() -> None:
        current = studio.jobs.get(job_id)
        _header(current)
        if current.kind == "train":
            _trials(studio, current)
        if current.error:
            st.error(current.error.splitlines()[0])
            with st.expander("Full error"):
                st.code(current.error)
        st.markdown("**Log**")
        st.code("\n".join(studio.jobs.logs(job_id, tail=40)) or "(no log lines yet)", language=None, wrap_lines=True)
        if current.status.is_final != job.status.is_final:
            st.rerun()  # the job ended: stop refreshing, show the final actions

    detail()
    _actions(studio, job)


def _actions(studio: Studio, job: JobRecord) -> None:
    cells = iter(st.columns([1, 1, 1, 3] if not job.status.is_final else [1, 1, 4]))
    if not job.status.is_final:
        label = "Cancel requested…" if job.cancel_requested else "Cancel job"
        if next(cells).button(label, disabled=job.cancel_requested or not can(Role.ANALYST), icon=":material/cancel:",
                              help=needs(Role.ANALYST) or "Stops within a few seconds; finished trials and the best "
                                                          "model so far are kept.") and allowed(Role.ANALYST):
            studio.jobs.request_cancel(job.id)
            st.rerun()
    if next(cells).button("Re-run", icon=":material/replay:", disabled=not can(Role.ANALYST),
                          help=needs(Role.ANALYST) or "Queue the same spec again as a new job.") and \
            allowed(Role.ANALYST):
        again = studio.rerun(job.id)
        mark_created("job", again.id)
        st.query_params["job"] = again.id
        st.rerun()
    if next(cells).button("Delete", icon=":material/delete:", disabled=job.status is JobStatus.RUNNING or
                          not can(Role.ADMIN), help=needs(Role.ADMIN) or "Remove this job and its log (cancel a "
                                                                         "running job first). Its runs and models "
                                                                         "stay."):
        st.session_state["confirm_delete"] = job.id
    if st.session_state.get("confirm_delete") == job.id:
        _confirm_delete(studio, job)


def _confirm_delete(studio: Studio, job: JobRecord) -> None:
    # A confirmation kept in session state (not st.dialog) so it survives the rerun its own buttons cause.
    with st.container(border=True):
        st.markdown(f"Delete job **{job.id}** ({job.kind} '{text(job.name)}', {job.status.value})? It and its log will "
                    "be removed. The MLflow run and any registered model it produced stay.")
        yes, no, _ = st.columns([1, 1, 4])
        if no.button("Keep it"):
            st.session_state.pop("confirm_delete", None)
            st.rerun()
        if yes.button("Delete job", type="primary", icon=":material/delete:") and allowed(Role.ADMIN):
            st.session_state.pop("confirm_delete", None)
            try:
                studio.jobs.delete(job.id)
            except StudioError as exc:
                st.error(str(exc))
                return
            audit_here("delete job", f"job:{job.id}", {"kind": job.kind, "name": job.name})
            st.query_params.pop("job", None)
            st.rerun()


def _header(job: JobRecord) -> None:
    view = TrainingView.of(job)
    progress, result = view.progress, view.result
    a, b, c, d, e = st.columns(5)
    a.metric("Status", job.shown_status)
    trials, budget = view.trials, progress.trials_budget
    failed, pruned = progress.trials_failed, progress.trials_pruned
    if view.is_family:
        b.metric("Partitions", f"{trials}" + (f" / {budget}" if budget else ""),
                 help="partitions whose own model is trained; the others are served by the fallback model")
    else:
        b.metric("Trials", f"{trials}" + (f" / {budget}" if budget else ""),
                 help=f"finished trials; also {pruned} pruned (stopped early, below the median at a boosting "
                      f"checkpoint) and {failed} failed or stopped")
    if view.is_family:
        c.metric("Test score", score(view.test_score), help="the family's routed predictions on the held-out rows")
    else:
        c.metric("Validation score", score(view.validation_score),
                 help="the best configuration's score on the validation folds (training rows only)")
    d.metric("Elapsed", duration(job.elapsed_s))
    estimate = progress.estimate_s
    if job.status.is_final:
        e.metric("Estimate", duration(estimate) if estimate else "-",
                 help="Estimated before launch; compare with Elapsed.")
    else:
        e.metric("ETA", duration(progress.eta_s) if job.status is JobStatus.RUNNING else "-",
                 help=f"Estimated before launch: {duration(estimate)}" if estimate else None)
    if job.status is JobStatus.RUNNING:
        budget_s = job.payload.get("budget", {}).get("seconds")
        done = (job.elapsed_s or 0) / budget_s if budget_s else (trials / budget if budget else 0)
        st.progress(min(done, 1.0), text=f"phase: {progress.phase}"
                    + (f" · {progress.parallel_trials} parallel trials" if progress.parallel_trials else ""))
    if job.status is JobStatus.CANCELLED and job.elapsed_s:
        st.caption(f"Cancelled after {duration(job.elapsed_s)}; the trials finished by then were kept.")
    elif job.status.is_final and estimate and job.elapsed_s:
        st.caption(f"Took {duration(job.elapsed_s)} against an estimate of {duration(estimate)} "
                   f"({job.elapsed_s / estimate:.1f}x)." + (f" Stopped: {progress.stop_reason}."
                                                            if progress.stop_reason else ""))
    if result is not None:
        st.success(f"Model **{result.model_uri}** · best {result.best_algorithm} · "
                   f"test {result.metric} = {score(result.test_score)}")
        st.page_link("app_pages/models.py", label="Use this model: score data or deploy it",
                     icon=":material/arrow_forward:")


def _trials(studio: Studio, job: JobRecord) -> None:
    from studio.studies import trial_outcomes

    if job.status is JobStatus.QUEUED:
        return
    try:
        trials = trial_outcomes(studio.settings, f"job-{job.id}")
    except StudioError:
        return
    if not trials:
        return
    metric = METRICS[job.payload["metric"]]
    st.plotly_chart(optimization_history(trials, maximize=metric.greater_is_better, metric=metric.name),
                    width="stretch", key=f"history-{job.id}-{len(trials)}")
    with st.expander(f"Trials ({len(trials)})"):
        st.dataframe([{"trial": t.number, "algorithm": t.algorithm, "state": t.state, metric.name: t.score,
                       "seconds": round(t.duration_s, 2), "worker": t.worker, "error": t.error,
                       "params": ", ".join(f"{k}={v}" for k, v in t.params.items())} for t in trials],
                     hide_index=True, width="stretch")
