"""Jobs: every job with its state and progress, refreshing itself while any runs; one job in detail."""

import streamlit as st

from studio.jobs import TRAIN, JobRecord, JobStatus
from studio.jobs.training_view import TrainingView
from studio.ui.auth import creator_of
from studio.ui.common import ago, duration, get_studio, score
from studio.ui.job_view import show_job

studio = get_studio()
st.title("Jobs")


def _row(job: JobRecord, by: dict[str, str]) -> dict[str, object]:
    if job.kind != TRAIN:
        trials, validation = "-", None
    else:
        view = TrainingView.of(job)
        budget = view.progress.trials_budget
        trials, validation = f"{view.trials}" + (f" / {budget}" if budget else ""), view.validation_score
    return {"id": job.id, "name": job.name, "kind": job.kind, "status": job.shown_status, "trials": trials,
            "validation score": score(validation),
            "elapsed": duration(job.elapsed_s), "created": ago(job.created_at), "by": by.get(job.id, "-")}


jobs = studio.jobs.list(limit=200)  # the details picker below uses the same read
active = any(not j.status.is_final for j in jobs)


@st.fragment(run_every=2 if active else None)
def job_list() -> None:
    jobs = studio.jobs.list(limit=200)
    if not jobs:
        st.info("No jobs yet. Start one on the Train page.")
        st.page_link("app_pages/train.py", label="Train a model", icon=":material/arrow_forward:")
        return
    if not studio.worker_alive():
        st.warning("No worker is alive right now; one starts automatically with the app (or run `studio worker`).")
    running = sum(j.status in (JobStatus.QUEUED, JobStatus.RUNNING) for j in jobs)
    st.caption(f"{len(jobs)} jobs, {running} queued or running" + (" · refreshing every 2 s" if running else ""))
    by = creator_of("job", [j.id for j in jobs])
    st.dataframe([_row(j, by) for j in jobs], width="stretch", hide_index=True,
                 column_config={"status": st.column_config.TextColumn(width="small")})
    if bool(running) != active:
        st.rerun()  # a job started (turn auto-refresh on) or every job ended (turn it off)


job_list()
if jobs:
    default = st.query_params.get("job")
    ids = [j.id for j in jobs]
    # no status in the label: it would go stale while the list above refreshes, and a label that changes makes
    # Streamlit treat the select as a new widget and drop the user's choice
    labels = {j.id: f"{j.id} · {j.name}" for j in jobs}
    chosen = st.selectbox("Job details", ids, index=ids.index(default) if default in ids else 0,
                          format_func=labels.get)
    show_job(studio, chosen)
