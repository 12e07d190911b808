"""Every page renders without exception, empty and seeded; the upload -> save -> train flow works headless."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from studio.context import Studio
from studio.jobs import JobStatus
from studio.training.draft import draft_spec
from studio.training.spec import Budget
from studio.worker.handlers import TRAIN
from studio.worker.loop import Worker
from tests.conftest import REPO, make_settings

PAGES = ["home", "data", "train", "jobs", "runs", "models", "deploy", "settings"]


@pytest.fixture
def app(tmp_path: Path) -> AppTest:
    st.cache_resource.clear()  # the cached Studio belongs to another test's home
    st.cache_data.clear()
    return AppTest.from_file(str(REPO / "app.py"), default_timeout=60)


def _open(app: AppTest, page: str) -> AppTest:
    app.run()
    app.switch_page(f"app_pages/{page}.py").run()
    assert not app.exception, [e.value for e in app.exception]
    return app


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_on_an_empty_studio(app: AppTest, page: str) -> None:
    at = _open(app, page)
    assert not at.error
    assert at.title[0].value in {"ML Studio", "Data", "Train", "Jobs", "Runs", "Models", "Deploy", "Settings"}


def test_upload_profile_save_then_submit_training(app: AppTest, tmp_path: Path, churn: pd.DataFrame) -> None:
    at = _open(app, "data")
    at.file_uploader[0].set_value(("churn.csv", churn.to_csv(index=False).encode(), "text/csv")).run()
    assert not at.exception and not at.error
    assert [m.value for m in at.metric][:2] == [f"{len(churn):,}", "5"]
    at.text_input[0].set_value("churn")
    at.button[0].click().run()
    assert "Saved **churn-v1**" in at.success[0].value

    at.switch_page("app_pages/train.py").run()
    target = next(s for s in at.selectbox if s.label.startswith("Target"))
    target.set_value("churned").run()
    assert "detected: binary" in next(s for s in at.selectbox if s.label == "Task").format_func("auto")
    algorithms = next(m for m in at.multiselect if m.label == "Algorithms")
    algorithms.set_value([]).run()
    assert "must have at least 1 item" in at.error[0].value
    assert next(b for b in at.button if b.label == "Start training").disabled
    algorithms.set_value(["linear"]).run()
    next(n for n in at.number_input if n.label.startswith("Max trials")).set_value(2).run()
    assert not at.error
    shown = {m.label: m.value for m in at.metric}
    assert shown["Parallel trials"] == "1" and shown["Cores"] == "1"  # the default size is `small`
    assert shown["Estimated duration"].endswith("s")
    next(b for b in at.button if b.label == "Start training").click().run()
    assert "queued" in at.success[0].value
    studio = Studio(make_settings(tmp_path / "home"))
    (job,) = studio.jobs.list()
    assert job.status is JobStatus.QUEUED
    assert job.payload["target"] == "churned" and job.payload["algorithms"] == ["linear"]


def test_a_broken_compute_file_is_explained_on_the_train_page(app: AppTest, tmp_path: Path,
                                                             churn: pd.DataFrame) -> None:
    studio = Studio(make_settings(tmp_path / "home"))
    studio.catalog.save(churn, "churn", source="test")
    (studio.settings.root / "compute.toml").write_text("[large]\nworkers = 0\n")
    at = _open(app, "train")
    assert "large.workers: Input should be greater than or equal to 1" in at.error[0].value


def test_train_page_shows_data_checks_and_keeps_a_flagged_column_on_request(app: AppTest, tmp_path: Path,
                                                                            churn: pd.DataFrame) -> None:
    studio = Studio(make_settings(tmp_path / "home"))
    churn.insert(0, "customer_id", range(5000, 5000 + len(churn)))
    studio.catalog.save(churn, "churn", source="test")
    at = _open(app, "train")
    next(s for s in at.selectbox if s.label.startswith("Target")).set_value("churned").run()
    assert any("Data checks" in m.value for m in at.markdown)
    table = next(d.value for d in at.dataframe if "finding" in d.value.columns)
    assert table["column"].tolist() == ["customer_id"] and table["action"].tolist() == ["left out"]
    spec = json.loads(next(c.value for c in at.code if '"guardrails"' in c.value))
    assert "customer_id" not in [f["name"] for f in spec["features"]]
    next(m for m in at.multiselect if m.label == "Keep anyway").set_value(["customer_id"]).run()
    spec = json.loads(next(c.value for c in at.code if '"guardrails"' in c.value))
    assert "customer_id" in [f["name"] for f in spec["features"]]
    assert spec["guardrails"][0]["action"] == "note"


def _finished_job(studio: Studio, churn: pd.DataFrame, status: JobStatus) -> str:
    record = studio.catalog.save(churn, "churn", source="test")
    spec = draft_spec(record, churn, target="churned", algorithms=["linear"], budget=Budget(max_trials=1, seconds=None))
    job = studio.submit_training(spec)
    if status is not JobStatus.QUEUED:
        lease = studio.jobs.claim("w1")
        assert lease is not None
        studio.jobs.finish(lease, status, error="boom" if status is JobStatus.FAILED else None)
    return job.id


def _click(at: AppTest, label: str) -> AppTest:
    next(b for b in at.button if b.label == label).click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_jobs_page_reruns_and_deletes_a_job_after_confirmation(app: AppTest, tmp_path: Path,
                                                               churn: pd.DataFrame) -> None:
    studio = Studio(make_settings(tmp_path / "home"))
    job_id = _finished_job(studio, churn, JobStatus.FAILED)
    at = _open(app, "jobs")
    _click(at, "Re-run")
    jobs = studio.jobs.list()
    assert len(jobs) == 2 and jobs[0].status is JobStatus.QUEUED and jobs[0].payload == jobs[1].payload
    at.query_params["job"] = job_id
    at = _open(at, "jobs")
    next(s for s in at.selectbox if s.label == "Job details").set_value(job_id).run()
    _click(at, "Delete")
    assert any("will be removed" in m.value for m in at.markdown)  # the confirmation, nothing deleted yet
    _click(at, "Keep it")
    assert len(studio.jobs.list()) == 2 and not any("will be removed" in m.value for m in at.markdown)
    _click(at, "Delete")
    assert len(studio.jobs.list()) == 2
    _click(at, "Delete job")
    assert [j.id for j in studio.jobs.list()] == [jobs[0].id]


def test_jobs_page_cancels_a_queued_job(app: AppTest, tmp_path: Path, churn: pd.DataFrame) -> None:
    studio = Studio(make_settings(tmp_path / "home"))
    job_id = _finished_job(studio, churn, JobStatus.QUEUED)
    at = _open(app, "jobs")
    _click(at, "Cancel job")
    assert studio.jobs.get(job_id).status is JobStatus.CANCELLED


def test_bad_upload_shows_the_reason_and_saves_nothing(app: AppTest, tmp_path: Path) -> None:
    at = _open(app, "data")
    at.file_uploader[0].set_value(("one.csv", b"only\n1\n2\n", "text/csv")).run()
    assert "only one column" in at.error[0].value
    assert Studio(make_settings(tmp_path / "home")).catalog.list() == []


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_with_a_trained_model(app: AppTest, tmp_path: Path, churn: pd.DataFrame,
                                                 page: str) -> None:
    studio = Studio(make_settings(tmp_path / "home"))
    record = studio.catalog.save(churn, "churn", source="test")
    spec = draft_spec(record, churn, target="churned", algorithms=["linear"], budget=Budget(max_trials=2, seconds=None))
    job = studio.jobs.submit(TRAIN, spec.run_name, spec)
    Worker(studio).run(until=lambda: studio.jobs.get(job.id).status.is_final)
    at = _open(app, page)
    assert not at.error, [e.value for e in at.error]
    if page == "runs":
        assert "churn" in at.dataframe[0].value["run"].iloc[0]
    if page == "jobs":
        assert any("models:/churn/1" in s.value for s in at.success)


@pytest.mark.slow
def test_models_page_checks_columns_then_scores_a_dataset(app: AppTest, tmp_path: Path, churn: pd.DataFrame) -> None:
    studio = Studio(make_settings(tmp_path / "home"))
    record = studio.catalog.save(churn, "churn", source="test")
    spec = draft_spec(record, churn, target="churned", algorithms=["linear"], budget=Budget(max_trials=1, seconds=None))
    job = studio.jobs.submit(TRAIN, spec.run_name, spec)
    Worker(studio).run(until=lambda: studio.jobs.get(job.id).status.is_final)
    studio.catalog.save(churn.drop(columns=["plan", "churned"]), "no-plan", source="test")
    at = _open(app, "models")
    assert next(s for s in at.selectbox if s.label == "Model").options[0] == "models:/churn/1"
    dataset = next(s for s in at.selectbox if s.label == "Dataset")
    dataset.set_value(next(r for r in studio.catalog.list() if r.name == "no-plan")).run()
    assert "Missing column(s) the model needs: plan" in at.error[0].value
    assert next(b for b in at.button if b.label == "Score").disabled
    dataset.set_value(record).run()
    shown = at.success[0].value
    assert f"{len(churn):,} rows. " in shown and "Extra column(s), ignored: churned" in shown
    next(b for b in at.button if b.label == "Score").click().run()
    assert not at.exception and not at.error
    scored = list((tmp_path / "home" / "exports" / "scoring" / "results").glob("*.csv"))
    assert len(scored) == 1 and len(pd.read_csv(scored[0])) == len(churn)


@pytest.mark.slow
def test_a_failed_export_is_reported_on_the_deploy_page(app: AppTest, tmp_path: Path, churn: pd.DataFrame) -> None:
    from studio.export import ExportRequest
    from studio.worker.handlers import EXPORT

    studio = Studio(make_settings(tmp_path / "home"))
    record = studio.catalog.save(churn, "churn", source="test")
    spec = draft_spec(record, churn, target="churned", algorithms=["linear"], budget=Budget(max_trials=1, seconds=None))
    studio.jobs.submit(TRAIN, spec.run_name, spec)
    export = studio.jobs.submit(EXPORT, "export", ExportRequest(model_uri="models:/churn/7"))
    Worker(studio).run(until=lambda: studio.jobs.get(export.id).status.is_final)
    at = _open(app, "deploy")
    assert "The last export (models:/churn/7) failed: No registered model 'models:/churn/7'" in at.error[0].value


@pytest.mark.slow
def test_cancel_a_running_job_from_the_jobs_page_keeps_its_best_model(app: AppTest, tmp_path: Path,
                                                                       churn: pd.DataFrame) -> None:
    studio = Studio(make_settings(tmp_path / "home"))
    record = studio.catalog.save(churn, "churn", source="test")
    spec = draft_spec(record, churn, target="churned", algorithms=["random_forest"], validation={"kind": "holdout"},
                      budget=Budget(max_trials=5000, seconds=None))
    job = studio.submit_training(spec)
    worker = threading.Thread(target=Worker(studio).run,
                              kwargs={"until": lambda: studio.jobs.get(job.id).status.is_final})
    worker.start()
    deadline = time.monotonic() + 120
    while studio.jobs.get(job.id).progress.get("trials_done", 0) < 2:
        assert time.monotonic() < deadline, "the job never got going"
        time.sleep(0.2)
    at = _open(app, "jobs")
    assert any(m.label == "ETA" for m in at.metric)  # a running job shows its ETA
    _click(at, "Cancel job")
    worker.join(timeout=120)
    done = studio.jobs.get(job.id)
    assert done.status is JobStatus.CANCELLED and done.result is not None
    assert studio.tracker.load_model(done.result["model_uri"]).predict_frame(churn.head(4)).shape[0] == 4


def test_an_empty_studio_offers_samples_and_a_guided_first_model(app: AppTest, tmp_path: Path) -> None:
    app.run()
    assert any("Your first model in three clicks" in s.value for s in app.subheader)
    app.button(key="sample-store-item-sales").click().run()
    assert not app.exception, [e.value for e in app.exception]
    assert any("Saved as **store-item-sales-v1**" in s.value for s in app.success)
    app.run()
    assert not any("Your first model in three clicks" in s.value for s in app.subheader)  # not empty any more
    # the link's query parameters, as the Train page receives them: the dataset, its target and partitions
    train = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    train.query_params.update({"dataset": "store-item-sales-v1", "target": "sales", "partition": "store,item"})
    train.run()
    train.switch_page("app_pages/train.py").run()
    assert not train.exception, [e.value for e in train.exception]
    assert next(s for s in train.selectbox if s.label.startswith("Target")).value == "sales"
    assert next(m for m in train.multiselect if m.label == "Partition columns").value == ["store", "item"]
    spec = next(c.value for c in train.code if '"partition"' in c.value)
    assert '"target": "sales"' in spec and '"task": "regression"' in spec


def test_the_sidebar_and_the_page_run_while_the_training_is_paused(app: AppTest, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Pages first holds the whole rerun of a signed-in page, its sidebar included (it was the page alone: on the
    shortest pages the sidebar ran beside the training)."""
    import contextlib

    import studio.ui.auth as auth
    import studio.ui.common as common

    events: list[str] = []

    @contextlib.contextmanager
    def recording(*_, **__):  # type: ignore[no-untyped-def]
        events.append("pause")
        yield
        events.append("resume")

    real_sidebar = auth.sidebar
    monkeypatch.setattr(common.yielding, "pages_first", recording)  # one hold a run (the second from its start)
    monkeypatch.setattr(auth, "sidebar", lambda actor: (events.append("sidebar"), real_sidebar(actor))[1])
    _open(app, "home")
    assert events == ["pause", "sidebar", "resume"] * 2
