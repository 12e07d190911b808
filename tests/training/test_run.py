"""A whole training run against real MLflow and Optuna storage under tmp_path."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from studio.compute.cluster import discard, warm_up
from studio.compute.profiles import ComputeProfile
from studio.context import Studio
from studio.errors import DataError
from studio.studies import storage_for, trial_outcomes
from studio.tracking_memory import MemoryTracker
from studio.training import boosting
from studio.training.boosting import CHECKPOINTS
from studio.training.draft import draft_spec
from studio.training.run import train
from studio.training.spec import Budget
from tests.conftest import INLINE, SMALL, ListReporter, churn_frame


def test_train_logs_a_parent_run_trials_spec_and_a_registered_model(studio: Studio, churn: pd.DataFrame,
                                                                    monkeypatch) -> None:
    # boosters stop on the validation rows, as on a large table: with the patience that grows them past their
    # first checkpoint (50 rounds) on these 240 easy rows, so the checkpoints' curve is logged
    monkeypatch.setattr(boosting, "OWN_STOPPING_BELOW", 0)
    churn.loc[[3, 5], "churned"] = None
    record = studio.catalog.save(churn, "churn", source="test")
    spec = draft_spec(record, churn, target="churned", algorithms=["linear", "lightgbm"],
                      validation={"kind": "kfold", "folds": 3}, budget=Budget(max_trials=4, seconds=None))
    reporter = ListReporter()
    result = train(spec, catalog=studio.catalog, tracker=studio.tracker, storage=storage_for(studio.settings, "job-j1"),
                   job_id="j1", profile=SMALL, reporter=reporter, pools=INLINE)  # in this process: the patch holds
    assert result.n_trials == 4 and result.model_uri == "models:/churn/1" and result.metric == "roc_auc"
    assert 0.6 < result.validation_score <= 1 and 0.5 < result.test_score <= 1
    assert [u.trials_done for u in reporter.updates if u.phase == "searching"][-1] == 4
    assert "Left out 2 rows whose target 'churned' is missing." in reporter.lines
    # one fit in the final phase: the held-out score is the search's split models' (tests/training/test_reuse.py)
    assert any(f"once, on all {len(churn) - 2} rows (training and held-out), for the registered model" in line
               for line in reporter.lines)
    client = studio.tracker.client
    run = client.get_run(result.run_id)
    assert run.data.metrics["validation_roc_auc"] == pytest.approx(result.validation_score)
    assert run.data.params["dataset_hash"] == record.content_hash
    assert {"validation_roc_auc__linear", "validation_roc_auc__lightgbm"} <= set(run.data.metrics)  # per algorithm
    assert {"test_roc_auc", "test_log_loss", "test_accuracy", "test_f1", "test_balanced_accuracy"} <= set(
        run.data.metrics)  # every held-out metric of the task
    assert run.data.tags["studio.final_model"]
    children = client.search_runs([run.info.experiment_id], f"tags.mlflow.parentRunId = '{result.run_id}'")
    assert len(children) == 4 and all("roc_auc" in c.data.metrics for c in children)
    boosted = [c for c in children if c.data.tags["studio.algorithm"] == "lightgbm"]
    assert boosted and all(int(c.data.params["n_estimators"]) >= 1 for c in boosted)  # the rounds it stopped at
    curve = client.get_metric_history(boosted[0].info.run_id, "roc_auc_by_rounds")  # the pruning checkpoints
    assert curve and {m.step for m in curve} <= set(CHECKPOINTS)
    spec_path = client.download_artifacts(result.run_id, "spec.json", str(studio.settings.root))
    assert json.loads(Path(spec_path).read_text())["dataset_id"] == record.id
    assert studio.tracker.spec_of(result.run_id) == spec
    model = studio.tracker.load_model(result.model_uri)
    assert studio.tracker.load_model(result.run_id).info == model.info
    client.set_registered_model_alias("churn", "champion", "1")
    assert studio.tracker.load_model("churn@champion").info == model.info
    assert studio.tracker.run_id_of("models:/churn@champion") == result.run_id
    out = model.predict_frame(churn.drop(columns="churned"))
    assert set(out.columns) == {"prediction", "proba_no", "proba_yes"}
    assert set(out["prediction"]) <= {"yes", "no"} and (out["prediction"] == churn["churned"]).mean() > 0.7
    assert len(trial_outcomes(studio.settings, result.study_name)) == 4
    board = studio.tracker.training_runs()
    assert [r.run_id for r in board] == [result.run_id] and board[0].test_score == pytest.approx(result.test_score)


def test_a_changed_snapshot_is_refused(studio: Studio, churn: pd.DataFrame) -> None:
    record = studio.catalog.save(churn, "churn", source="test")
    spec = draft_spec(record, churn, target="churned", budget=Budget(max_trials=1, seconds=None))
    spec = spec.model_copy(update={"dataset_hash": "0" * 64})
    with pytest.raises(DataError, match="hash mismatch"):
        train(spec, catalog=studio.catalog, tracker=studio.tracker, storage=storage_for(studio.settings, "x"),
              job_id="j2", profile=SMALL, reporter=ListReporter())


def test_the_time_budget_covers_the_whole_search(studio: Studio) -> None:
    frame = churn_frame(3000)
    record = studio.catalog.save(frame, "churn", source="test")
    # a quick first algorithm so a trial finishes even on a loaded machine, then forests until the budget ends
    spec = draft_spec(record, frame, target="churned", algorithms=["linear", "random_forest"],
                      validation={"kind": "kfold", "folds": 3},
                      budget=Budget(seconds=10, trial_seconds=8))  # a sixth of 10 s is too short on a loaded machine
    reporter = ListReporter()
    # a cluster of its own, warm as a worker keeps it: the shared `small` one may hold a worker that other tests
    # stopped, whose nanny (seen twice under load) did not bring it back while this 10 s budget ran
    own = ComputeProfile(name="budget", workers=1, threads=1, memory_gb=1.75)
    warm_up(own)
    try:
        result = train(spec, catalog=studio.catalog, tracker=studio.tracker,
                       storage=storage_for(studio.settings, "job-b"), job_id="b", profile=own, reporter=reporter)
    finally:
        discard(own)
    assert result.stop_reason == "time budget reached" and result.n_trials >= 1
    searched = next(u.search_s for u in reversed(reporter.updates) if u.search_s is not None)
    assert searched < 10 + 5  # data loading, sending the data and the abandoned trial fit in the budget + a poll


def test_the_same_spec_and_seed_give_the_same_trials_and_score_on_dask_and_inline(studio: Studio) -> None:
    """The seams are faithful: a run on a Dask worker logging to MLflow and the same run in this process logging to
    memory try the same configurations, score them the same and choose the same model."""
    frame = churn_frame(600)
    record = studio.catalog.save(frame, "churn", source="test")
    spec = draft_spec(record, frame, target="churned", algorithms=["linear", "lightgbm", "xgboost"], seed=7,
                      budget=Budget(max_trials=6, seconds=None))  # the three defaults, then three sampled
    memory, reporters = MemoryTracker(), [ListReporter(), ListReporter()]
    results = [train(spec, catalog=studio.catalog, tracker=studio.tracker, job_id="r1", profile=SMALL,
                     storage=storage_for(studio.settings, "job-r1"), reporter=reporters[0]),
               train(spec, catalog=studio.catalog, tracker=memory, job_id="r2", profile=SMALL, pools=INLINE,
                     storage=storage_for(studio.settings, "job-r2"), reporter=reporters[1])]
    # both fitted their model once: the kept split models came back from the Dask worker as from this process
    assert all(any("once, on all" in line for line in r.lines) for r in reporters)
    histories = [[(t.algorithm, t.params, t.score) for t in trial_outcomes(studio.settings, f"job-{job}")]
                 for job in ("r1", "r2")]
    assert histories[0] == histories[1] and len(histories[0]) == 6
    assert results[0].validation_score == results[1].validation_score and results[0].test_score == results[1].test_score
    assert results[0].best_algorithm == results[1].best_algorithm
    run = memory.runs[results[1].run_id]  # what the in-memory tracker kept is what MLflow was told
    logged = studio.tracker.client.get_run(results[0].run_id).data
    assert run.status == "FINISHED" and len(run.trials) == 6 and run.model_uri == "models:/churn/1"
    assert run.metrics == pytest.approx({k: v for k, v in logged.metrics.items() if k != "duration_s"} | {
        "duration_s": run.metrics["duration_s"]})
    recorded = memory.models[run.model_uri].info.features  # the spec's, numbers bounded to the rows learned from
    assert [(f.name, f.kind) for f in recorded] == [(f.name, f.kind) for f in spec.features]
    assert all(f.clip is not None for f in recorded if f.kind.value == "numeric")


def test_a_linear_model_is_never_fed_values_beyond_its_training_range(studio: Studio) -> None:
    """The house-price trap: a linear member extrapolated wildly on a house larger than every training house."""
    import numpy as np

    from studio.scoring import score_frame

    rng = np.random.default_rng(0)
    area = rng.uniform(500, 3000, 400)
    frame = pd.DataFrame({"area": area, "rooms": (area / 400).round(),
                          "price": 50 * area + rng.normal(0, 5000, 400)})
    record = studio.catalog.save(frame, "houses", source="test")
    spec = draft_spec(record, frame, target="price", algorithms=["linear"], validation={"kind": "holdout"},
                      budget=Budget(max_trials=1, seconds=None))
    memory = MemoryTracker()
    result = train(spec, catalog=studio.catalog, tracker=memory, storage=storage_for(studio.settings, "job-b"),
                   job_id="b", profile=SMALL, pools=INLINE, reporter=ListReporter())
    model = memory.models[result.model_uri]
    area_feature = next(f for f in model.info.features if f.name == "area")
    training_max = float(frame["area"].max())  # the registered model learned from every row (refit_all_rows)
    assert spec.refit_all_rows and area_feature.clip == (pytest.approx(frame["area"].min()), training_max)
    beyond = frame.head(1).assign(area=1e7, rooms=5.0)
    at_edge = frame.head(1).assign(area=area_feature.clip[1], rooms=5.0)
    assert score_frame(model, beyond).equals(score_frame(model, at_edge))  # bounded, not 50 x 10 million
    assert float(score_frame(model, beyond)["prediction"].iloc[0]) < 60 * training_max


def test_the_final_fit_takes_only_the_cores_other_work_leaves_free(monkeypatch) -> None:
    import os

    import psutil

    from studio.training import run

    four = ComputeProfile(name="four", workers=2, threads=2, memory_gb=2)
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    for used_percent, threads in ((0.0, 4), (25.0, 3), (50.0, 2), (100.0, 1)):  # another program's cores: 0 to 4
        monkeypatch.setattr(psutil, "cpu_percent", lambda interval, p=used_percent: p)
        assert run._local_threads(four) == threads
    monkeypatch.setattr(psutil, "cpu_percent", lambda interval: 0.0)
    assert run._local_threads(SMALL) == 1  # never more than the compute size's cores
