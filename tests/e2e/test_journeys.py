"""What users do, in real Chromium against the real app and worker: each journey from a fresh studio, a screenshot
per step (test-artifacts/e2e/<test>/)."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from studio.samples import SAMPLES
from tests.conftest import churn_frame
from tests.e2e.browser import (
    Steps,
    choose,
    fill,
    goto,
    job_status,
    multiselect,
    open_tab,
    score_and_download,
    select_rows,
    settle,
    start_training,
)
from tests.e2e.conftest import App

pytestmark = pytest.mark.slow
POSTGRES_URL = os.environ.get("STUDIO_TEST_POSTGRES_DB", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def test_first_visit_sample_dataset_train_watch_result(steps: Steps, page: Page) -> None:
    expect(page.get_by_text("Your first model in three clicks")).to_be_visible()
    steps.shot("empty-home", readme="home")
    page.locator(".st-key-sample-customer-churn button").click()  # the card's button, by its widget key
    expect(page.get_by_text("Saved as customer-churn-v1")).to_be_visible(timeout=30_000)
    steps.shot("sample-added")
    page.get_by_text("Next: train a model on it").click()
    settle(page)
    expect(page.get_by_role("combobox", name="Target column (what to predict)")).to_have_value("churned")
    fill(page, "Max trials (0 = no limit)", 6)
    steps.shot("train-ready")
    start_training(page)
    expect(page.get_by_text("phase:").or_(page.get_by_text("succeeded"))).to_be_visible(timeout=60_000)
    steps.shot("job-progress")
    job_status(page, "succeeded")
    expect(page.get_by_test_id("stAlertContentSuccess").first).to_contain_text("Model models:/customer-churn/1")
    steps.shot("job-result")
    goto(page, "Runs")
    expect(page.get_by_text("1 of 1 runs match")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("held-out roc_auc")).to_be_visible()
    steps.shot("runs")


def test_upload_profile_train_compare_promote_export_serve(steps: Steps, page: Page, tmp_path: Path) -> None:
    path = tmp_path / "churn.csv"
    churn_frame(1500).to_csv(path, index=False)
    goto(page, "Data")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))
    expect(page.get_by_text("Distributions")).to_be_visible(timeout=60_000)
    steps.shot("profile", readme="data")
    page.get_by_role("button", name="Save dataset").click()
    expect(page.get_by_text("Saved churn-v1")).to_be_visible(timeout=30_000)

    for algorithms, trials in ((["Logistic / linear (ridge) regression", "Random forest"], 4), (None, 8)):
        goto(page, "Train")
        if algorithms:
            multiselect(page, "Algorithms", algorithms)
        fill(page, "Max trials (0 = no limit)", trials)
        if algorithms is None:
            page.get_by_text("Data preparation").click()  # show the cleaning choices in the picture
            settle(page)
            steps.shot("train", readme="train")
        start_training(page)
        job_status(page, "succeeded")
        steps.shot(f"job-{trials}-trials", readme="jobs" if algorithms is None else None)

    goto(page, "Runs")
    expect(page.get_by_text("2 of 2 runs match")).to_be_visible(timeout=30_000)
    select_rows(page, [0, 1])
    expect(page.get_by_text("2 runs selected")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Only rows that differ")).to_be_visible(timeout=30_000)
    steps.shot("compare", readme="runs")
    choose(page, "Diagnostics")
    expect(page.get_by_text("Error by segment of", exact=True)).to_be_visible(timeout=60_000)
    steps.shot("diagnostics", readme="runs-diagnostics")
    choose(page, "Explain")
    expect(page.get_by_text("Partial dependence on", exact=True)).to_be_visible(timeout=60_000)
    steps.shot("explain", readme="runs-explain")

    goto(page, "Models")
    open_tab(page, "Promote or roll back")
    page.get_by_role("button", name="Promote v2 to 'champion'").click()
    expect(page.get_by_text("'churn@champion' now points at v2.")).to_be_visible(timeout=60_000)
    steps.shot("promoted", readme="models")
    open_tab(page, "Batch scoring")
    page.get_by_role("button", name="Score").click()
    expect(page.get_by_role("button", name="Download")).to_be_visible(timeout=120_000)
    steps.shot("scored", readme="scoring")

    goto(page, "Deploy")
    page.get_by_role("button", name="Convert to ONNX").click()
    expect(page.get_by_text("parity holds")).to_be_visible(timeout=240_000)
    page.get_by_role("button", name="Export as bento").click()
    # (not the text "Exported services": it also matches "No exported services yet" while the bento builds)
    expect(page.get_by_role("button", name="Start service")).to_be_visible(timeout=240_000)
    steps.shot("exported")
    page.get_by_role("button", name="Start service").click()
    expect(page.get_by_role("button", name="Send request")).to_be_visible(timeout=120_000)
    page.get_by_role("button", name="Send request").click()
    expect(page.get_by_text("HTTP 200")).to_be_visible(timeout=60_000)
    expect(page.get_by_text('"prediction"').first).to_be_visible()
    steps.shot("try-it", readme="deploy")
    page.get_by_role("button", name="Stop service").click()
    settle(page)


def test_cancel_a_running_job_and_use_its_best_model(steps: Steps, page: Page, app: App) -> None:
    app.studio.catalog.save(churn_frame(1500), "churn", source="test")
    goto(page, "Train")
    fill(page, "Time budget (seconds)", 600)  # long enough that the job is still running when cancelled
    start_training(page)
    job_status(page, "running", timeout=60_000)
    trials = page.locator('[data-testid="stMetric"]', has_text="Trials").locator('[data-testid="stMetricValue"]')
    expect(trials).not_to_have_text("0", timeout=120_000)  # a finished trial: a best model to keep
    steps.shot("running")
    page.get_by_role("button", name="Cancel job").click()
    job_status(page, "cancelled", timeout=120_000)
    expect(page.get_by_test_id("stAlertContentSuccess").first).to_contain_text("Model models:/churn/1", timeout=30_000)
    steps.shot("cancelled-with-model")
    page.get_by_text("Use this model: score data or deploy it").click()
    settle(page)
    scored = score_and_download(page)
    assert len(scored) == 1500 and {r["prediction"] for r in scored} <= {"yes", "no"}
    steps.shot("scored-with-cancelled-model")

    # an upload named to climb out of the studio's folders (it once landed where its name pointed) is stored
    # under a generated name and scored like any other
    choose(page, "a file")
    rows = churn_frame(40, seed=5).drop(columns="churned").to_csv(index=False).encode()
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        files=[{"name": "../../../escaped.csv", "mimeType": "text/csv", "buffer": rows}])
    expect(page.get_by_text("40 rows.")).to_be_visible(timeout=60_000)
    page.get_by_role("button", name="Score", exact=True).click()
    expect(page.get_by_role("button", name=re.compile(r"Download escaped-scored-\w+\.csv"))).to_be_visible(
        timeout=120_000)
    uploads = list((app.home / "exports" / "scoring" / "uploads").iterdir())
    assert len(uploads) == 1 and uploads[0].suffix == ".csv" and "escaped" not in uploads[0].name
    results = app.home / "exports" / "scoring" / "results"
    assert [p.parent for p in app.home.parent.rglob("*escaped*") if p.is_file()] == [results]  # the result only
    steps.shot("scored-upload-with-a-climbing-name")


@pytest.fixture
def warehouse_table() -> Iterator[str]:
    """A churn table in the local PostgreSQL server, dropped afterwards."""
    table = f"e2e_churn_{uuid.uuid4().hex[:6]}"
    engine = sa.create_engine(POSTGRES_URL)
    with engine.begin() as conn:
        churn_frame(800, seed=1).to_sql(table, conn, index=False)
    try:
        yield table
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP TABLE IF EXISTS "{table}"'))
        engine.dispose()


def connect_postgres(page: Page) -> None:
    """Fill the Database tab's connection form with the local server and connect (saved as 'warehouse')."""
    url = sa.make_url(POSTGRES_URL)
    goto(page, "Data")
    open_tab(page, "Database")
    for label, value in (("Host", url.host), ("Port (0 = the database's default)", url.port),
                         ("Database", url.database), ("User", url.username), ("Save as", "warehouse")):
        page.locator(f'[data-testid="stForm"] input[aria-label="{label}"]').fill(str(value))
    page.locator("button", has_text="Connect").last.click()
    expect(page.get_by_text("Connected to")).to_be_visible(timeout=30_000)


def test_connect_a_postgresql_table_snapshot_and_train(steps: Steps, page: Page, warehouse_table: str) -> None:
    connect_postgres(page)
    steps.shot("connected")
    page.get_by_role("combobox", name="Table").click()
    page.get_by_role("option", name=warehouse_table).click()
    settle(page)
    name = page.locator('input[aria-label="Dataset name"]').first
    name.fill("warehouse churn")
    name.press("Enter")
    settle(page)
    page.get_by_role("button", name="Take snapshot").first.click()
    expect(page.get_by_text("Saved warehouse-churn-v1")).to_be_visible(timeout=60_000)
    steps.shot("snapshot", readme="data-database")
    goto(page, "Train")
    expect(page.get_by_role("combobox", name="Dataset")).to_have_value("warehouse-churn-v1")
    fill(page, "Max trials (0 = no limit)", 4)
    start_training(page)
    job_status(page, "succeeded")
    expect(page.get_by_test_id("stAlertContentSuccess").first).to_contain_text("Model models:/warehouse-churn/1")
    steps.shot("trained")


def test_many_models_heatmap_and_routed_batch_scoring(steps: Steps, page: Page) -> None:
    page.locator(".st-key-sample-store-item-sales button").click()
    expect(page.get_by_text("Saved as store-item-sales-v1")).to_be_visible(timeout=60_000)
    page.get_by_text("Next: train a model on it").click()
    settle(page)
    expect(page.get_by_text("get their own model")).to_be_visible(timeout=30_000)  # partitions preselected
    multiselect(page, "Algorithms", ["Logistic / linear (ridge) regression"])
    steps.shot("partitions-chosen")
    start_training(page)
    expect(page.locator('[data-testid="stMetric"]', has_text="Partitions")).to_be_visible(timeout=60_000)
    job_status(page, "succeeded")
    steps.shot("family-trained")
    goto(page, "Runs")
    select_rows(page, [0])
    expect(page.get_by_text("Beat their baseline")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("of each partition's model")).to_be_visible(timeout=60_000)  # the heat-map's title
    steps.shot("partitions-view", readme="runs-family")
    goto(page, "Models")
    scored = score_and_download(page)
    assert len(scored) == len(SAMPLES["store-item-sales"].build())  # every row of the sample, routed
    assert np.isfinite([float(r["prediction"]) for r in scored]).all()
    steps.shot("routed-scores")


def test_bad_inputs_show_their_message_and_the_studio_stays_usable(steps: Steps, page: Page, app: App,
                                                                   tmp_path: Path) -> None:
    app.studio.catalog.save(churn_frame(300), "churn", source="test")
    corrupt = tmp_path / "broken.parquet"
    corrupt.write_bytes(b"PAR1 this is not really parquet" * 10)
    goto(page, "Data")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(corrupt))
    expect(page.locator('[data-testid="stAlertContentError"]')).to_contain_text("Parquet", timeout=30_000)
    steps.shot("corrupt-upload")

    goto(page, "Train")
    fill(page, "Time budget (seconds)", 0)  # no time limit and no trial limit: a spec that cannot run
    expect(page.locator('[data-testid="stAlertContentError"]')).to_contain_text("time limit", timeout=30_000)
    expect(page.get_by_role("button", name="Start training")).to_be_disabled()
    steps.shot("invalid-spec")

    connect_postgres(page)
    page.get_by_text("A query", exact=True).click()
    settle(page)
    query = page.get_by_role("textbox", name="SELECT query")
    query.fill("DELETE FROM pg_catalog.pg_class")
    query.press("Control+Enter")
    settle(page)
    page.get_by_role("button", name="Take snapshot").first.click()
    expect(page.locator('[data-testid="stAlertContentError"]')).to_contain_text("DELETE", timeout=30_000)
    steps.shot("refused-sql")

    goto(page, "Home")  # still usable: the pages render and the saved dataset is untouched
    expect(page.locator('[data-testid="stMetric"]', has_text="Datasets")).to_contain_text("1")
    goto(page, "Train")
    fill(page, "Max trials (0 = no limit)", 3)
    start_training(page)
    job_status(page, "succeeded")
    steps.shot("still-usable")
