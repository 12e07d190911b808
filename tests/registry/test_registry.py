"""Promotion through gates, rollback, the audit log and model cards, on a real MLflow registry."""

from __future__ import annotations

import pandas as pd
import pytest

from studio.context import Studio
from studio.errors import PromotionRefused
from studio.registry import GatePolicy, GateRule, Registry, build_card, to_html, to_markdown
from studio.studies import storage_for
from studio.training.draft import draft_spec
from studio.training.run import train
from studio.training.spec import Budget
from tests.conftest import INLINE, SMALL, ListReporter

pytestmark = pytest.mark.slow


def _train(studio: Studio, frame: pd.DataFrame, job: str, algorithm: str) -> str:
    record = studio.catalog.save(frame, "churn", source="test")
    spec = draft_spec(record, frame, target="churned", algorithms=[algorithm], validation={"kind": "holdout"},
                      budget=Budget(max_trials=1, seconds=None))
    return train(spec, catalog=studio.catalog, tracker=studio.tracker, job_id=job, profile=SMALL, pools=INLINE,
                 storage=storage_for(studio.settings, f"job-{job}"), reporter=ListReporter()).model_uri


@pytest.fixture
def two_versions(studio: Studio, churn: pd.DataFrame) -> Registry:
    assert _train(studio, churn, "a", "linear") == "models:/churn/1"
    assert _train(studio, churn, "b", "random_forest") == "models:/churn/2"
    return studio.registry


def test_promotion_is_gated_audited_and_rolled_back(two_versions: Registry) -> None:
    registry = two_versions
    v1, v2 = registry.version("churn", "1"), registry.version("churn", "2")
    assert {"roc_auc", "log_loss", "accuracy"} <= set(v1.held_out) and v1.metric == "roc_auc"
    registry.promote("churn", "1", actor="ana", reason="first model")
    assert registry.holder("churn").version == "1"

    worse = min(v1.held_out["roc_auc"], v2.held_out["roc_auc"])
    better = max(v1.held_out["roc_auc"], v2.held_out["roc_auc"])
    registry.set_policy("churn", GatePolicy(rules=[GateRule(metric="roc_auc", op=">=", threshold=better + 0.01)]),
                        actor="ana", reason="only strong models")
    with pytest.raises(PromotionRefused, match="held-out roc_auc >= ") as refused:
        registry.promote("churn", "2", actor="bo", reason="try")
    assert not refused.value.report.passed and registry.holder("churn").version == "1"  # nothing changed

    registry.set_policy("churn", GatePolicy(rules=[GateRule(metric="roc_auc", op=">=", threshold=worse - 0.01)]),
                        actor="ana")
    entry = registry.promote("churn", "2", actor="bo", reason="better on recent data")
    assert entry.detail["previous"] == "1" and entry.detail["gates"]["checks"][0]["passed"]
    assert registry.holder("churn").version == "2" and registry.alias_history("churn") == ["1", "2"]

    back = registry.rollback("churn", actor="cy", reason="complaints")
    assert back.version == "1" and back.detail == {"from": "2"} and registry.holder("churn").version == "1"
    with pytest.raises(PromotionRefused, match="no earlier version"):
        registry.rollback("churn", actor="cy", reason="again")

    log = registry.audit("churn")
    assert [(a.action, a.version, a.actor) for a in log] == [
        ("rollback", "1", "cy"), ("promote", "2", "bo"), ("gates", None, "ana"), ("gates", None, "ana"),
        ("promote", "1", "ana")]
    assert log[1].reason == "better on recent data"


def test_forcing_past_a_failed_gate_is_recorded(two_versions: Registry) -> None:
    two_versions.set_policy("churn", GatePolicy(rules=[GateRule(metric="roc_auc", op=">=", threshold=0.999)]),
                            actor="ana")
    entry = two_versions.promote("churn", "1", alias="challenger", actor="bo", reason="demo", force=True)
    assert entry.detail["forced"] is True and two_versions.holder("churn", "challenger").version == "1"


def test_a_model_card_has_data_metrics_gates_and_history(studio: Studio, two_versions: Registry) -> None:
    two_versions.promote("churn", "2", actor="ana", reason="launch")
    card = build_card(two_versions, studio.settings.exports_path, "churn", "2")
    text = to_markdown(card)
    assert text.startswith("# Model card: churn v2") and "aliases: champion" in text
    assert "| tenure | numeric |" in text and "| roc_auc |" in text and "promote to 'champion' by ana: launch" in text
    assert "Permutation importance" in text and "Not exported yet." in text
    page = to_html(card)
    assert page.startswith("<!doctype html>") and "<table>" in page and "<h1>Model card: churn v2</h1>" in page
