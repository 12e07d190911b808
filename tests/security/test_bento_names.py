"""The attack end to end: a CSV whose target and a feature are named to break out of Python source is trained,
exported with a real `bentoml build`, and served: nothing runs, and the names work as JSON keys over HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studio.context import Studio
from studio.export.bento import export_bento
from studio.export.serving import call_predict, start_service, stop_service, wait_ready
from studio.studies import storage_for
from studio.training.draft import draft_spec
from studio.training.run import train
from studio.training.spec import Budget
from tests.conftest import INLINE, SMALL, ListReporter, churn_frame

pytestmark = pytest.mark.slow


def test_a_column_named_like_code_is_only_ever_a_json_key(studio: Studio, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = f'x"""\nimport pathlib; pathlib.Path({str(marker)!r}).write_text("1")\n"""\'\'\' é 中'
    target = f'churned"""\nimport pathlib; pathlib.Path({str(marker)!r}).write_text("2")\n"""'
    frame = churn_frame(240).rename(columns={"tenure": evil, "churned": target})
    record = studio.catalog.save(frame, "evil", source="test")
    spec = draft_spec(record, frame, target=target, algorithms=["linear"], validation={"kind": "holdout"},
                      budget=Budget(max_trials=1, seconds=None))
    # trials in this process (the attack is on the export, not on the job system)
    result = train(spec, catalog=studio.catalog, tracker=studio.tracker, job_id="evil", profile=SMALL, pools=INLINE,
                   storage=storage_for(studio.settings, "job-evil"), reporter=ListReporter())
    export = export_bento(studio.tracker, studio.settings, result.model_uri)  # the real `bentoml build`
    assert not marker.exists()
    assert evil not in Path(export.service_path).read_text()
    service = start_service(studio.settings, studio.engine, export.bento_tag)
    try:
        wait_ready(service, timeout=120)
        row = json.loads(frame.drop(columns=target).head(1).to_json(orient="records"))[0]  # NaN -> null
        answer = call_predict(service.url, [row])
        assert answer.status_code == 200, answer.body
        assert answer.body[0]["prediction"] in {"yes", "no"}
        wrong = call_predict(service.url, [{**row, evil: "many"}])
        assert wrong.status_code == 400
    finally:
        stop_service(studio.engine, export.bento_tag)
    assert not marker.exists()
