"""Gate rules: thresholds on held-out metrics and the margin against the champion, each with its evidence."""

from __future__ import annotations

import pytest

from studio.registry import GatePolicy, GateRule, check_gates


def _policy(**kwargs: object) -> GatePolicy:
    return GatePolicy(rules=[GateRule(metric="roc_auc", op=">=", threshold=0.85)], **kwargs)


def test_a_threshold_rule_passes_and_fails_with_the_value_as_evidence() -> None:
    passed = check_gates(_policy(), model="m", version="2", held_out={"roc_auc": 0.91}, champion=None)
    assert passed.passed and passed.checks[0].evidence == "roc_auc = 0.91"
    failed = check_gates(_policy(), model="m", version="2", held_out={"roc_auc": 0.8}, champion=None)
    assert not failed.passed and failed.summary() == "failed: held-out roc_auc >= 0.85 (roc_auc = 0.8)"
    missing = check_gates(_policy(), model="m", version="2", held_out={}, champion=None)
    assert not missing.passed and "no held-out roc_auc" in missing.checks[0].evidence
    lower = GatePolicy(rules=[GateRule(metric="rmse", op="<=", threshold=2.0)])
    assert check_gates(lower, model="m", version="1", held_out={"rmse": 1.5}, champion=None).passed


@pytest.mark.parametrize(("metric", "mine", "theirs", "passed"), [
    ("roc_auc", 0.900, 0.904, True),    # worse by 0.004, within 0.005
    ("roc_auc", 0.890, 0.904, False),   # worse by 0.014
    ("roc_auc", 0.950, 0.904, True),    # better
    ("rmse", 2.003, 2.0, True),         # lower is better: worse by 0.003
    ("rmse", 2.2, 2.0, False),
])
def test_the_champion_margin_respects_the_metrics_direction(metric: str, mine: float, theirs: float,
                                                            passed: bool) -> None:
    policy = GatePolicy(champion_metric=metric, champion_margin=0.005)
    report = check_gates(policy, model="m", version="3", held_out={metric: mine}, champion=("2", {metric: theirs}))
    assert report.passed is passed and "champion v2" in report.checks[0].evidence


def test_without_a_champion_the_margin_gate_passes_and_policies_are_validated() -> None:
    policy = GatePolicy(champion_metric="roc_auc", champion_margin=0.01)
    assert check_gates(policy, model="m", version="1", held_out={"roc_auc": 0.5}, champion=None).passed
    assert check_gates(GatePolicy(), model="m", version="1", held_out={}, champion=None).summary() == (
        "no gates are defined for this model")
    with pytest.raises(ValueError, match="unknown"):
        GatePolicy(rules=[GateRule(metric="auc", op=">=", threshold=0.9)]).validate_metrics()
    with pytest.raises(ValueError, match="both a metric and a margin"):
        GatePolicy(champion_metric="roc_auc").validate_metrics()
