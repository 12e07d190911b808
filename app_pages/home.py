"""Home: what the studio holds, and the next step for a new user."""

import streamlit as st

from studio.ui.common import get_studio
from studio.ui.samples_view import sample_datasets

studio = get_studio()
st.title("ML Studio")
st.caption("Bring data in, train Optuna-tuned models in the background, compare runs, score files, export a "
           "BentoML service.")

datasets, jobs = studio.catalog.list(), studio.jobs.list(limit=500)
running = sum(j.status.value in ("queued", "running") for j in jobs)
a, b, c, d = st.columns(4)
a.metric("Datasets", len(datasets))
b.metric("Jobs", len(jobs))
c.metric("Running or queued", running)
d.metric("Worker", "alive" if studio.worker_alive() else "starting…")

if not datasets:
    st.subheader("Your first model in three clicks")
    st.markdown("Add a sample dataset (generated here, no download), press **Start training** on the Train page "
                "(the target is chosen for you), and watch the job. Or bring your own data on the Data page.")
sample_datasets(first_run=not datasets)

st.subheader("Get started")
steps = [
    ("app_pages/data.py", "1. Bring data in", "Upload a file, or read a database table or query, or a Parquet / "
     "Delta table; see its profile; save it as a versioned dataset.", bool(datasets)),
    ("app_pages/train.py", "2. Train", "Pick a target and algorithms; the search runs as a background job.",
     bool(jobs)),
    ("app_pages/jobs.py", "3. Watch the job", "Live trials, best score and log; cancel any time.", bool(jobs)),
    ("app_pages/runs.py", "4. Compare runs", "Leaderboard, tuning analytics, diagnostics and explanations.", False),
    ("app_pages/models.py", "5. Promote and score", "Gate and promote a version to champion; batch-score files.",
     False),
    ("app_pages/deploy.py", "6. Export and serve", "One click builds a BentoML service (or ONNX); try it over HTTP.",
     False),
]
for page, label, help_text, done in steps:
    left, right = st.columns([1, 3])
    left.page_link(page, label=label, icon=":material/check_circle:" if done else ":material/arrow_forward:")
    right.caption(help_text)
st.caption(f"State lives in `{studio.settings.root}` (set STUDIO_HOME to move it).")
