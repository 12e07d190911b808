"""Batch scoring: columns checked against the model, files scored in chunks in row order, as a job when large."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from studio.context import Studio
from studio.errors import DataError
from studio.jobs import JobStatus
from studio.scoring import ScoreRequest, check_columns, score_file, upload_path
from studio.studies import storage_for
from studio.training.draft import draft_spec
from studio.training.model import TrainedModel
from studio.training.run import train
from studio.training.spec import Budget
from studio.worker.handlers import SCORE
from studio.worker.loop import Worker
from tests.conftest import INLINE, SMALL, ListReporter, churn_frame


@pytest.fixture
def model(studio: Studio) -> TrainedModel:
    frame = churn_frame(300)
    frame["signed"] = pd.date_range("2024-01-01", periods=len(frame), freq="D").strftime("%Y-%m-%d")
    record = studio.catalog.save(frame, "churn", source="test")
    spec = draft_spec(record, frame, target="churned", algorithms=["linear"], validation={"kind": "holdout"},
                      budget=Budget(max_trials=1, seconds=None))
    result = train(spec, catalog=studio.catalog, tracker=studio.tracker, job_id="s1", profile=SMALL, pools=INLINE,
                   storage=storage_for(studio.settings, "job-s1"), reporter=ListReporter())
    return studio.tracker.load_model(result.model_uri)


def _rows(n: int = 1000) -> pd.DataFrame:
    frame = churn_frame(n, seed=3).drop(columns="churned")
    frame["signed"] = pd.date_range("2024-06-01", periods=n, freq="h").strftime("%Y-%m-%d %H:%M")
    return frame


def test_the_column_check_names_missing_extra_and_mistyped_columns(model: TrainedModel) -> None:
    frame = _rows(20).drop(columns="plan").assign(note="x")
    frame["tenure"] = frame["tenure"].astype(object)
    frame.loc[3, "tenure"] = "twelve"
    frame.loc[5, "signed"] = "not a date"
    report = check_columns(frame, model.info.features)
    assert report.missing == ["plan"] and report.extra == ["note"] and not report.ok
    assert set(report.mistyped) == {"tenure", "signed"} and "'twelve' (1 such rows)" in report.mistyped["tenure"]
    text = report.describe()
    assert "Missing column(s) the model needs: plan" in text and "Extra column(s), ignored: note" in text


@pytest.mark.parametrize(("suffix", "out_suffix"), [(".csv", ".parquet"), (".parquet", ".csv")])
def test_a_file_is_scored_in_chunks_in_row_order(model: TrainedModel, tmp_path: Path, suffix: str,
                                                 out_suffix: str) -> None:
    rows = _rows(1000)
    source = tmp_path / f"rows{suffix}"
    rows.to_csv(source, index=False) if suffix == ".csv" else rows.to_parquet(source, index=False)
    out = tmp_path / f"scored{out_suffix}"
    seen: list[tuple[int, int]] = []
    score_file(model, source, out, chunk_rows=300, keep_columns=True, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(300, 1000), (600, 1000), (900, 1000), (1000, 1000)]
    scored = pd.read_csv(out) if out_suffix == ".csv" else pd.read_parquet(out)
    whole = model.predict_frame(pd.read_csv(source) if suffix == ".csv" else pd.read_parquet(source))
    assert scored["tenure"].tolist() == rows["tenure"].tolist()  # the input columns, in order
    assert scored["prediction"].tolist() == whole["prediction"].tolist()
    np.testing.assert_allclose(scored["proba_yes"], whole["proba_yes"], rtol=1e-9)


def test_a_table_that_does_not_fit_writes_nothing(model: TrainedModel, tmp_path: Path) -> None:
    source = tmp_path / "rows.csv"
    _rows(50).drop(columns=["tenure"]).to_csv(source, index=False)
    out = tmp_path / "scored.csv"
    with pytest.raises(DataError, match="Missing column\\(s\\) the model needs: tenure"):
        score_file(model, source, out)
    assert not out.exists() and not list(tmp_path.glob("*.partial"))


def test_a_bad_value_in_a_later_chunk_leaves_no_half_file(model: TrainedModel, tmp_path: Path) -> None:
    rows = _rows(3000).astype({"tenure": object})
    rows.loc[2550, "tenure"] = "oops"  # after the 2,000 rows the column check reads, in the sixth chunk
    source, out = tmp_path / "rows.csv", tmp_path / "scored.csv"
    rows.to_csv(source, index=False)
    with pytest.raises(DataError, match="row 2551 holds 'oops'"):
        score_file(model, source, out, chunk_rows=500)
    assert not out.exists() and not list(tmp_path.glob("*.partial"))


def test_a_scoring_job_runs_in_the_background(studio: Studio, model: TrainedModel, tmp_path: Path) -> None:
    source = upload_path(studio.settings.exports_path, "upload-1", "rows.parquet")  # where the page keeps uploads
    out = studio.settings.exports_path / "scoring" / "results" / "scored.csv"
    source.parent.mkdir(parents=True)
    out.parent.mkdir(parents=True)
    _rows(700).to_parquet(source, index=False)
    job = studio.jobs.submit(SCORE, "score rows", ScoreRequest(model="churn@champion", source=str(source),
                                                               out=str(out)))
    studio.tracker.client.set_registered_model_alias("churn", "champion", "1")
    Worker(studio, worker_id="w").run(until=lambda: studio.jobs.get(job.id).status.is_final)
    done = studio.jobs.get(job.id)
    assert done.status is JobStatus.SUCCEEDED, done.error
    assert done.result and done.result["rows"] == 700 and done.progress["rows_done"] == 700
    assert len(pd.read_csv(out)) == 700
    outside = studio.jobs.submit(SCORE, "score elsewhere", ScoreRequest(model="churn@champion", source=str(source),
                                                                        out=str(tmp_path / "anywhere.csv")))
    Worker(studio, worker_id="w").run(until=lambda: studio.jobs.get(outside.id).status.is_final)
    refused = studio.jobs.get(outside.id)  # a job's paths are data too: results are written under exports only
    assert refused.status is JobStatus.FAILED and "outside" in (refused.error or "")
    assert not (tmp_path / "anywhere.csv").exists()


def test_cli_predict_scores_a_parquet_file_with_its_input(model: TrainedModel, tmp_path: Path) -> None:
    source, out = tmp_path / "rows.parquet", tmp_path / "scored.parquet"
    _rows(120).to_parquet(source, index=False)
    env = dict(os.environ)
    proc = subprocess.run([sys.executable, "-m", "studio", "predict", "models:/churn/1", "--data", str(source),
                           "--out", str(out), "--with-input"], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    scored = pd.read_parquet(out)
    assert len(scored) == 120 and {"tenure", "prediction", "proba_yes"} <= set(scored.columns)
    bad = subprocess.run([sys.executable, "-m", "studio", "predict", "models:/churn/1", "--data", str(source),
                          "--out", str(tmp_path / "scored.json")], capture_output=True, text=True, env=env, timeout=300)
    assert bad.returncode != 0 and "Write the predictions to a .csv or .parquet file" in bad.stderr
