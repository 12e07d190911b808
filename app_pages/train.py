"""Train: build one validated TrainSpec from a few choices and launch it as a background job."""

import streamlit as st

from studio.auth import Role
from studio.errors import SpecError
from studio.markup import text
from studio.training import DEFAULT_METRIC, ESTIMATORS, Task, detect_task, metrics_for
from studio.training.draft import draft_spec, feature_candidates
from studio.training.metrics import MEANING
from studio.training.spec import Budget, Cleaning, Forecasting, Partitioning, section
from studio.ui.auth import allowed, can, mark_created, needs
from studio.ui.common import empty_state, get_studio, show_error
from studio.ui.data import guardrails_for, load_dataset
from studio.ui.guardrails_view import data_preparation, forecast_choice, partition_choice, show_guardrails
from studio.ui.job_view import show_estimate

studio = get_studio()
st.title("Train")
records = studio.catalog.list()
if not records:
    empty_state("There is no dataset to train on yet: upload one or read a database table on the Data page, or "
                "add a sample dataset on the Home page.", page="app_pages/data.py", label="Bring data in")

asked = st.query_params.to_dict()  # from a link (a sample dataset on Home): which dataset, target, partitions
ids = [r.id for r in records]
dataset_id = st.selectbox("Dataset", ids, index=ids.index(asked["dataset"]) if asked.get("dataset") in ids else 0,
                          help="A frozen, versioned snapshot.")
record = studio.catalog.get(dataset_id)
frame = load_dataset(dataset_id)
if asked.get("partition") and asked.get("dataset") == dataset_id:
    st.session_state.setdefault(f"partition-{dataset_id}", [c for c in asked["partition"].split(",")
                                                            if c in record.column_names])

left, right = st.columns(2)
names = record.column_names
target = left.selectbox("Target column (what to predict)", names,
                        index=names.index(asked["target"]) if asked.get("target") in names else len(names) - 1,
                        help="The column the model learns to predict; every other column may be a feature.")
detected = detect_task(frame[target])
task_choice = right.selectbox("Task", ["auto", *[t.value for t in Task]],
                              format_func=lambda t: f"auto (detected: {detected})" if t == "auto" else t,
                              help="Detected from the target's values; override if it is wrong.")
task = detected if task_choice == "auto" else Task(task_choice)
with st.expander("Data preparation: column types, duplicates, outliers", icon=":material/tune:"):
    overrides, drop_duplicates, cap_outliers = data_preparation(record, target)
with st.expander("Many models: one model per partition (e.g. per store x item)", icon=":material/grid_view:",
                 expanded=bool(st.session_state.get(f"partition-{dataset_id}"))):
    partition_by, min_rows = partition_choice(record, frame, target)
    time_column, horizon, season_length = forecast_choice(record, partition_by)
if time_column:
    task = Task.REGRESSION  # a forecast is a quantity ahead in time
candidates = [f.name for f in feature_candidates(record, target, overrides)]
checks = guardrails_for(dataset_id, target, task.value)
exclude = st.multiselect("Columns to exclude", candidates, help="Columns the model must not see.")
keep = show_guardrails(checks, exclude)
dates = [c.name for c in record.columns if c.kind == "datetime" and c.name != target]
if dates:
    st.caption("Date columns become numeric parts (year, month, day, weekday, day of year, hour): "
               + text(", ".join(dates)))

algorithms = st.multiselect("Algorithms", list(ESTIMATORS), default=list(ESTIMATORS),
                            format_func=lambda a: ESTIMATORS[a].label,
                            help="The search tries each one's strong defaults first, then tunes hyperparameters.")
metric_labels = {m.name: m.label for m in metrics_for(task)}
metric_names = list(metric_labels)

left, mid, right, last = st.columns(4)
metric = left.selectbox("Metric", metric_names, index=metric_names.index(DEFAULT_METRIC[task]),
                        format_func=metric_labels.get,
                        help="What the search optimises and the leaderboard ranks by.\n\n" + "\n".join(
                            f"- **{label}**: {MEANING[name]}" for name, label in metric_labels.items()))
validation = mid.radio("Validation", ["auto", "kfold", "holdout"], horizontal=True,
                        format_func={"auto": "auto", "kfold": "k-fold CV", "holdout": "holdout"}.get,
                        help="k-fold is steadier on small data; holdout is faster on large data. Auto: 5-fold "
                             "repeated 3 times up to 1,000 rows, 5-fold up to 10,000 rows, 3-fold up to 40,000, "
                             "then a 20% holdout.")
folds = right.slider("Folds", 2, 10, 5, disabled=validation != "kfold",
                     help="k-fold only: the training rows are cut into this many parts; each trial is fitted k "
                          "times, each time scored on the part it did not see. More folds: steadier, slower.")
try:
    profiles = studio.compute_profiles
except SpecError as exc:  # a broken compute.toml: say so, fall back to nothing rather than crash
    show_error(exc)
    st.stop()
default_size = studio.settings.default_compute
compute = last.selectbox("Compute size", list(profiles), index=list(profiles).index(default_size)
                         if default_size in profiles else 0, format_func=lambda p: f"{p} · {profiles[p].description}",
                         help="A Dask cluster shape: how many trials run in parallel, the threads each uses, and "
                              "the memory limit per worker (a trial over it fails alone). Configure sizes in "
                              "compute.toml under the studio home.")
left, mid, right, last = st.columns(4)
seconds = left.number_input("Time budget (seconds)", min_value=0, value=60, step=10,
                            help="The whole training takes about this long (0 = no time limit): the search "
                                 "stops early enough to leave time for the final refits (at most a quarter of "
                                 "the budget); saving and registering the model come on top.")
trials = mid.number_input("Max trials (0 = no limit)", min_value=0, value=0, step=5,
                          help="A trial is one configuration (algorithm + hyperparameters) fitted and scored. The "
                               "search stops at this many or at the time budget, whichever comes first.")
trial_seconds = right.number_input("Per-trial limit (s, 0 = auto)", min_value=0, value=0, step=5,
                                   help="A configuration still running after this long is stopped and counted as "
                                        "failed, so one slow trial cannot eat the budget (boosters and forests "
                                        "stop growing in time and keep what they grew). Auto: a sixth of the "
                                        "time budget.")
seed = last.number_input("Seed", min_value=0, value=0, help="Same seed, same data: same search.")
left, mid, onnx_col, right = st.columns([1, 1, 1, 2])
class_weight = left.selectbox(
    "Class weights", ["auto", "balanced", "none"], disabled=not task.is_classification,
    help="Balanced weights make rare classes count as much as common ones. Auto balances them when the metric "
         "rewards rare classes (F1, macro F1, balanced accuracy) and not for ROC AUC or log loss, whose "
         "probabilities weights would distort. XGBoost has no class weights.")
ensemble = mid.toggle("Ensemble", value=True, help="After the search, try a greedy ensemble of the best "
                      "trials; it is kept only if it beats the best single model on the validation rows.")
onnx_safe = onnx_col.toggle("ONNX-safe", help="Keep to algorithms and preprocessing steps that convert to ONNX; "
                            "when training ends the model is converted and checked against the native one.")
name = right.text_input("Run name (optional)", placeholder=record.name, help="Also the registered model's name.")

try:
    spec = draft_spec(record, frame, target=target, task="forecast" if time_column else task.value,
                      algorithms=algorithms, metric=metric,
                      validation={"kind": validation, "folds": folds} if validation == "kfold"
                      else {"kind": validation},
                      budget=section(Budget, seconds=int(seconds) or None, max_trials=int(trials) or None,
                                     trial_seconds=int(trial_seconds) or None),
                      cleaning=section(Cleaning, drop_duplicates=drop_duplicates, cap_outliers=cap_outliers,
                                       type_overrides=overrides, dropped_columns=exclude),
                      partition=section(Partitioning, columns=partition_by, min_rows=min_rows) if partition_by
                      else None,
                      forecast=section(Forecasting, time_column=time_column, horizon=horizon,
                                       season_length=season_length) if time_column else None,
                      compute=compute, seed=int(seed), name=name.strip() or None, keep=keep, guardrails=checks,
                      ensemble=ensemble, class_weight=class_weight, onnx_safe=onnx_safe)
except SpecError as exc:
    spec = None
    show_error(exc)

if spec is not None:
    show_estimate(studio.estimate(spec, profiles[compute]), profiles[compute])
    with st.expander("The spec this job will run (JSON)"):
        st.code(spec.model_dump_json(indent=2), language="json")
if st.button("Start training", type="primary", disabled=spec is None or not can(Role.ANALYST),
             help=needs(Role.ANALYST)) and spec is not None and allowed(Role.ANALYST):
    job = studio.submit_training(spec)
    mark_created("job", job.id)
    st.success(f"Job **{job.id}** queued. It runs in the background; you can close the browser.")
    st.page_link("app_pages/jobs.py", label="Watch it on the Jobs page", icon=":material/arrow_forward:",
                 query_params={"job": job.id})
