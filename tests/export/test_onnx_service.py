"""ONNX end to end: an ONNX-safe job converts its model when it ends; a bento serving the ONNX graph answers over
HTTP with the native pipeline's predictions; a model whose parity does not hold is refused for ONNX serving."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from studio.context import Studio
from studio.errors import ExportError
from studio.export import onnx_model
from studio.export.bento import export_bento
from studio.export.serving import call_predict, start_service, stop_service, wait_ready
from studio.jobs import JobStatus
from studio.training.draft import draft_spec
from studio.training.spec import Budget
from studio.worker.handlers import TRAIN
from studio.worker.loop import Worker
from tests.export.test_onnx import mixed_frame

pytestmark = pytest.mark.slow


@pytest.fixture
def onnx_job(studio: Studio) -> dict[str, object]:
    """A finished ONNX-safe training job on numbers, booleans, categories, a date and missing values."""
    frame = mixed_frame(300).drop(columns=["tier", "spend"])
    record = studio.catalog.save(frame, "mixed", source="test")
    spec = draft_spec(record, frame, target="churned", algorithms=["lightgbm", "linear"], onnx_safe=True,
                      budget=Budget(max_trials=3, seconds=None))
    job = studio.jobs.submit(TRAIN, spec.run_name, spec)
    Worker(studio, worker_id="w").run(until=lambda: studio.jobs.get(job.id).status.is_final)
    done = studio.jobs.get(job.id)
    assert done.status is JobStatus.SUCCEEDED, done.error
    return {"job": done, "frame": frame}


def test_an_onnx_safe_job_converts_and_checks_its_model_when_it_ends(studio: Studio, onnx_job) -> None:
    job = onnx_job["job"]
    assert any("  ONNX: converted and checked; max |onnx - native| probabilities over 60 held-out rows" in line
               and "parity holds" in line for line in studio.jobs.logs(job.id))
    run_id = job.result["run_id"]
    assert {a.path for a in studio.tracker.client.list_artifacts(run_id, "onnx")} == {"onnx/model.onnx",
                                                                                      "onnx/parity.json"}


def test_a_bento_serving_the_onnx_graph_answers_like_the_native_model(studio: Studio, onnx_job) -> None:
    model_uri = onnx_job["job"].result["model_uri"]
    frame: pd.DataFrame = onnx_job["frame"]
    export = export_bento(studio.tracker, studio.settings, model_uri, runtime="onnx")
    schema = json.loads(Path(export.service_path).with_name("schema.json").read_text())
    assert export.runtime == "onnx" and schema["runtime"] == "onnx"
    rows = json.loads(frame.drop(columns="churned").head(25).to_json(orient="records", date_format="iso"))
    assert any(r["plan"] is None for r in rows) and any(r["monthly charges"] is None for r in rows)
    native = studio.tracker.load_model(model_uri).predict_frame(frame.head(25))
    service = start_service(studio.settings, studio.engine, export.bento_tag)
    try:
        wait_ready(service, timeout=120)
        response = call_predict(service.url, rows)
        assert response.status_code == 200, response.body
        served = pd.DataFrame([r["probabilities"] for r in response.body])
        np.testing.assert_allclose(served[["no", "yes"]].to_numpy(), native[["proba_no", "proba_yes"]].to_numpy(),
                                   atol=onnx_model.PARITY_TOLERANCE)
        assert [r["prediction"] for r in response.body] == native["prediction"].tolist()
        bad = call_predict(service.url, [{**rows[0], "tenure": "long"}])
        assert bad.status_code == 400 and "tenure" in json.dumps(bad.body)
    finally:
        stop_service(studio.engine, export.bento_tag)


def test_onnx_serving_is_refused_when_parity_does_not_hold(studio: Studio, onnx_job,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    real = onnx_model.predict_onnx
    monkeypatch.setattr(onnx_model, "predict_onnx", lambda *a: np.clip(real(*a) + 0.01, 0, 1))  # a graph that drifts
    with pytest.raises(ExportError, match=r"does not match the native one .*parity does NOT hold"):
        export_bento(studio.tracker, studio.settings, onnx_job["job"].result["model_uri"], runtime="onnx")
