"""Train: build one validated TrainSpec from a few choices and launch it as a background job."""

import streamlit as st

from studio.compute import PROFILES
from studio.errors import SpecError
from studio.jobs.handlers import TRAIN
from studio.training import DEFAULT_METRIC, ESTIMATORS, Task, detect_task, metrics_for
from studio.training.draft import draft_spec, feature_candidates
from studio.ui.common import empty_state, get_studio, show_error
from studio.ui.data import load_dataset

studio = get_studio()
st.title("Train")
records = studio.catalog.list()
if not records:
    empty_state("There is no dataset to train on yet.", page="pages/data.py", label="Upload one on the Data page")

dataset_id = st.selectbox("Dataset", [r.id for r in records], help="A frozen, versioned snapshot.")
record = studio.catalog.get(dataset_id)
frame = load_dataset(dataset_id)

left, right = st.columns(2)
target = left.selectbox("Target column (what to predict)", record.column_names, index=len(record.columns) - 1)
detected = detect_task(frame[target])
task_choice = right.selectbox("Task", ["auto", *[t.value for t in Task]],
                              format_func=lambda t: f"auto (detected: {detected})" if t == "auto" else t,
                              help="Detected from the target's values; override if it is wrong.")
task = detected if task_choice == "auto" else Task(task_choice)
candidates = [f.name for f in feature_candidates(record, target)]
skipped = [c.name for c in record.columns if not c.kind.is_feature and c.name != target]
exclude = st.multiselect("Columns to exclude", candidates, help="Identifiers or leaky columns.")
if skipped:
    st.caption(f"Left out automatically (text, identifiers or dates): {', '.join(skipped)}")

algorithms = st.multiselect("Algorithms", list(ESTIMATORS), default=list(ESTIMATORS),
                            format_func=lambda a: ESTIMATORS[a].label,
                            help="The search tries each one's strong defaults first, then tunes hyperparameters.")
metric_labels = {m.name: m.label for m in metrics_for(task)}
metric_names = list(metric_labels)

left, mid, right, last = st.columns(4)
metric = left.selectbox("Metric", metric_names, index=metric_names.index(DEFAULT_METRIC[task]),
                        format_func=metric_labels.get, help="What the search optimises and the leaderboard ranks by.")
validation = mid.radio("Validation", ["kfold", "holdout"], horizontal=True,
                        format_func={"kfold": "k-fold CV", "holdout": "holdout"}.get,
                        help="k-fold is steadier on small data; holdout is faster on large data.")
folds = right.slider("Folds", 2, 10, 5, disabled=validation != "kfold")
compute = last.selectbox("Compute size", list(PROFILES), format_func=lambda p: f"{p} ({PROFILES[p].description})",
                          help="Cores and memory the job may use.")
left, mid, right = st.columns(3)
seconds = left.number_input("Time budget (seconds)", min_value=0, value=60, step=10,
                            help="The search stops after this long (0 = no time limit).")
trials = mid.number_input("Max trials (0 = no limit)", min_value=0, value=0, step=5)
seed = right.number_input("Seed", min_value=0, value=0, help="Same seed, same data: same search.")
name = st.text_input("Run name (optional)", placeholder=record.name, help="Also the registered model's name.")

try:
    spec = draft_spec(record, frame, target=target, task=task.value, exclude=exclude, algorithms=algorithms,
                      metric=metric, validation={"kind": validation, "folds": folds},
                      budget_seconds=int(seconds) or None, max_trials=int(trials) or None, compute=compute,
                      seed=int(seed), name=name.strip() or None)
except SpecError as exc:
    spec = None
    show_error(exc)

if spec is not None:
    with st.expander("The spec this job will run (JSON)"):
        st.code(spec.model_dump_json(indent=2), language="json")
if st.button("Start training", type="primary", disabled=spec is None):
    job = studio.jobs.submit(TRAIN, spec.run_name, spec)
    st.success(f"Job **{job.id}** queued. It runs in the background; you can close the browser.")
    st.page_link("pages/jobs.py", label="Watch it on the Jobs page", icon=":material/arrow_forward:",
                 query_params={"job": job.id})
