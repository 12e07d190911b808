"""Promote a model family partition by partition.

Rules apply to each partition's model on its held-out rows: "beats its baseline by at least X %" and "not
worse than the current champion's model for that partition by more than Y %". A partition that passes takes the
candidate's model; one that fails keeps the champion's model for that partition (or, with none, the fallback).
The result is registered as a new version (versions never change), which records every partition's verdict and
where its model came from, and the champion alias moves to it through the registry (gates and audit log).
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from studio.errors import PromotionRefused
from studio.many.router import PartitionRouter
from studio.names import PARTITIONS_TABLE, Tag
from studio.registry.store import CHAMPION, Registry
from studio.training.metrics import METRICS, Metric


class PartitionRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    beat_baseline_by: float = Field(default=0.0, ge=0, le=1, description="Relative gain over the baseline.")
    champion_margin: float | None = Field(default=0.0, ge=0, le=1, description="How much worse (relative) than "
                                          "the champion's model for the partition is tolerated; None: not checked.")


class FamilyPromotion(BaseModel):
    name: str
    candidate: str
    champion: str | None
    version: str  # the registered version holding the merged family
    passed: int
    kept_champion: int
    to_fallback: int
    table: list[dict[str, Any]]


def judge(candidate: pd.DataFrame, champion: pd.DataFrame | None, rules: PartitionRules,
          metric: Metric) -> pd.DataFrame:
    """One row per candidate partition with its own model: passed, why not, and whose model it keeps."""
    own = candidate[candidate["status"] == "model"].set_index("key")
    theirs = None if champion is None else champion[champion["status"] == "model"].set_index("key")
    rows = []
    for key, row in own.iterrows():
        reasons = []
        score, baseline = row["score"], row["baseline"]
        if pd.isna(score):
            reasons.append("no held-out score")
        elif not pd.isna(baseline):
            gain = _gain(score, baseline, metric)
            if gain < rules.beat_baseline_by:
                reasons.append(f"gain over the baseline {gain:.1%} < {rules.beat_baseline_by:.0%}")
        champion_score = None
        if theirs is not None and key in theirs.index:
            champion_score = theirs.loc[key, "score"]
            if rules.champion_margin is not None and not pd.isna(champion_score) and not pd.isna(score):
                loss = -_gain(score, champion_score, metric)
                if loss > rules.champion_margin:
                    reasons.append(f"{loss:.1%} worse than the champion's model > {rules.champion_margin:.0%}")
        passed = not reasons
        source = "candidate" if passed else ("champion" if champion_score is not None else "fallback")
        rows.append({"key": key, "passed": passed, "source": source, "score": score, "baseline": baseline,
                     "champion_score": champion_score, "why_not": "; ".join(reasons)})
    return pd.DataFrame(rows, columns=["key", "passed", "source", "score", "baseline", "champion_score", "why_not"])


def _gain(score: float, reference: float, metric: Metric) -> float:
    """Relative improvement of `score` over `reference` (positive is better)."""
    scale = abs(reference) or 1.0
    return float((score - reference) / scale if metric.greater_is_better else (reference - score) / scale)


def _merged(router: PartitionRouter, champion: PartitionRouter | None, verdicts: pd.DataFrame) -> PartitionRouter:
    """One family of the candidate's partition models that passed and the champion's where they did not."""
    blobs = {}
    for row in verdicts.itertuples():
        if row.source == "candidate":
            blobs[row.key] = router.models[row.key]  # type: ignore[index]
        elif row.source == "champion" and champion is not None:
            blobs[row.key] = champion.models[row.key]  # type: ignore[index]
    trusted = sorted(set(router.trusted) | set(champion.trusted if champion else ()))
    return PartitionRouter(router.partition_columns, blobs, router.fallback, tuple(trusted), router.n_classes,
                           router.cache_size, router.forecast)


def _summary(verdicts: pd.DataFrame, *, partitions: int, modeled: int) -> dict[str, float]:
    counts = verdicts["source"].value_counts()
    return {"partitions": float(partitions), "partitions_modeled": float(modeled),
            "partitions_passed": float(counts.get("candidate", 0)),
            "partitions_kept_champion": float(counts.get("champion", 0)),
            "partitions_to_fallback": float(counts.get("fallback", 0))}


def promote_family(registry: Registry, name: str, version: str, rules: PartitionRules, *, actor: str,
                   reason: str) -> FamilyPromotion:
    """Judge a family version partition by partition against the champion, register the merged family (each
    partition's better model) as a new version scored on the candidate's recorded held-out rows, and make it
    the champion."""
    from studio.training.evaluation.holdout import holdout_of
    from studio.training.features import model_frame
    from studio.training.model import TrainedModel, raw_predictions
    from studio.training.run import EXAMPLE_ROWS, metrics_of

    tracker = registry.tracker
    candidate = tracker.load_model(f"models:/{name}/{version}")
    if not isinstance(candidate.pipeline, PartitionRouter):
        raise PromotionRefused(f"v{version} of '{name}' is a single model; promote it with the model gates.")
    run_id = tracker.run_id_of(f"models:/{name}/{version}")
    spec = tracker.spec_of(run_id)
    metric = METRICS[spec.metric]
    holder = registry.holder(name, CHAMPION)
    champion_router = champion_table = None
    if holder is not None and holder.version != str(version):
        champion = tracker.load_model(holder.uri)
        if isinstance(champion.pipeline, PartitionRouter):
            champion_router = champion.pipeline
            champion_table = tracker.load_table(holder.run_id, PARTITIONS_TABLE)
    verdicts = judge(tracker.load_table(run_id, PARTITIONS_TABLE), champion_table, rules, metric)
    router: PartitionRouter = candidate.pipeline
    merged = _merged(router, champion_router, verdicts)
    blobs = merged.models or {}
    evaluation = tracker.load_evaluation(run_id)  # the candidate's held-out rows, kept with its run
    features = evaluation.holdout.features
    X_test, classes = model_frame(features, candidate.info.features), candidate.info.classes
    merged.cache_size = len(blobs) + 1
    held_out = metrics_of(raw_predictions(merged, X_test, router.n_classes), evaluation.holdout.y, spec.task)
    merged_holdout = holdout_of(merged, features, X_test, evaluation.holdout.y, task=spec.task, classes=classes)
    merged.cache_size = router.cache_size
    # a fresh id each time: start_training resumes the run of a known job id (and its registered version)
    promo_run = tracker.start_training(spec, job_id=f"promote-{name}-v{version}-{uuid.uuid4().hex[:8]}", study_name="")
    uri = tracker.log_model(promo_run, TrainedModel(merged, candidate.info.model_copy(update={"run_id": promo_run})),
                            example=features.head(EXAMPLE_ROWS), registered_name=name)
    # the merged family's own predictions on the same rows; the importance stays the candidate's
    tracker.log_evaluation(promo_run, evaluation.model_copy(update={"holdout": merged_holdout}))
    table = tracker.load_table(run_id, PARTITIONS_TABLE).merge(verdicts[["key", "passed", "source", "champion_score",
                                                                         "why_not"]], on="key", how="left")
    tracker.log_table(promo_run, table, PARTITIONS_TABLE)
    summary = _summary(verdicts, partitions=len(table), modeled=len(blobs))
    tracker.finish(promo_run, metrics={**held_out, **summary},
                   tags={Tag.BEST_ALGORITHM: f"promoted family from v{version}", Tag.FAMILY: ",".join(
                       router.partition_columns), Tag.FINAL_MODEL: f"v{version} partitions that passed, the "
                       f"champion's (v{holder.version if holder else '-'}) for those that did not"})
    merged_version = uri.rsplit("/", 1)[1]
    note = (f"family promotion of v{version}: {int(summary['partitions_passed'])} of {len(verdicts)} partitions "
            f"passed, {int(summary['partitions_kept_champion'])} kept the champion's model, "
            f"{int(summary['partitions_to_fallback'])} went to the fallback")
    registry.promote(name, merged_version, actor=actor, reason=f"{reason} ({note})" if reason else note)
    return FamilyPromotion(name=name, candidate=str(version), champion=holder.version if holder else None,
                           version=merged_version, passed=int(summary["partitions_passed"]),
                           kept_champion=int(summary["partitions_kept_champion"]),
                           to_fallback=int(summary["partitions_to_fallback"]),
                           table=verdicts.replace({np.nan: None}).to_dict("records"))
