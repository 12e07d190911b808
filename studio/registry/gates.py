"""Promotion gates: rules a model version must pass before it takes an alias such as `champion`.

A policy holds threshold rules on held-out metrics ("roc_auc >= 0.85") and, optionally, a margin against the
current champion ("not worse than the champion's roc_auc by more than 0.005"). Evaluating a policy is a pure
function of the candidate's and the champion's held-out metrics; each check carries its evidence.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from studio.training.metrics import METRICS


class GateRule(BaseModel):
    """A held-out metric compared with a threshold."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    metric: str
    op: Literal[">=", "<="]
    threshold: float

    def describe(self) -> str:
        return f"held-out {self.metric} {self.op} {self.threshold:g}"


class GatePolicy(BaseModel):
    """The gates of one registered model."""

    model_config = ConfigDict(extra="forbid")

    rules: list[GateRule] = Field(default_factory=list)
    champion_metric: str | None = None  # compare with the current champion on this held-out metric...
    champion_margin: float | None = Field(default=None, ge=0)  # ...allowing it to be worse by at most this much

    def validate_metrics(self) -> GatePolicy:
        unknown = sorted({r.metric for r in self.rules} - set(METRICS) | (
            {self.champion_metric} - set(METRICS) if self.champion_metric else set()))
        if unknown:
            raise ValueError(f"Gate metrics {unknown} are unknown; choose from {sorted(METRICS)}.")
        if (self.champion_metric is None) != (self.champion_margin is None):
            raise ValueError("A champion gate needs both a metric and a margin (e.g. roc_auc, 0.005).")
        return self


class GateCheck(BaseModel):
    gate: str
    passed: bool
    evidence: str


class GateReport(BaseModel):
    model: str
    version: str
    checks: list[GateCheck]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def summary(self) -> str:
        if not self.checks:
            return "no gates are defined for this model"
        failed = [c for c in self.checks if not c.passed]
        if not failed:
            return f"all {len(self.checks)} gate(s) passed"
        return "failed: " + "; ".join(f"{c.gate} ({c.evidence})" for c in failed)


def check_gates(policy: GatePolicy, *, model: str, version: str, held_out: dict[str, float],
             champion: tuple[str, dict[str, float]] | None) -> GateReport:
    """Check `held_out` (metric -> value of the candidate version) against the policy; `champion` is the current
    champion's (version, held-out metrics), or None when there is none (the champion gate then passes)."""
    checks = []
    for rule in policy.rules:
        value = held_out.get(rule.metric)
        if value is None:
            checks.append(GateCheck(gate=rule.describe(), passed=False,
                                    evidence=f"this version has no held-out {rule.metric}"))
            continue
        passed = value >= rule.threshold if rule.op == ">=" else value <= rule.threshold
        checks.append(GateCheck(gate=rule.describe(), passed=passed, evidence=f"{rule.metric} = {value:.4g}"))
    if policy.champion_metric is not None and policy.champion_margin is not None:
        checks.append(_champion_check(policy.champion_metric, policy.champion_margin, version, held_out, champion))
    return GateReport(model=model, version=version, checks=checks)


def _champion_check(metric: str, margin: float, version: str, held_out: dict[str, float],
                    champion: tuple[str, dict[str, float]] | None) -> GateCheck:
    gate = f"held-out {metric} not worse than the champion's by more than {margin:g}"
    if champion is None or champion[0] == version:
        return GateCheck(gate=gate, passed=True, evidence="there is no other champion to compare with")
    mine, theirs = held_out.get(metric), champion[1].get(metric)
    if mine is None or theirs is None:
        return GateCheck(gate=gate, passed=False, evidence=f"{metric} is missing for this version or for champion "
                                                           f"v{champion[0]}")
    drop = (theirs - mine) if METRICS[metric].greater_is_better else (mine - theirs)
    return GateCheck(gate=gate, passed=drop <= margin + 1e-12,
                     evidence=f"{mine:.4g} against champion v{champion[0]}'s {theirs:.4g} "
                              f"({'worse' if drop > 0 else 'better or equal'} by {abs(drop):.4g})")
