"""Promoting a family partition by partition: rules per partition, the champion's model kept where they fail."""

from __future__ import annotations

import numpy as np
import pandas as pd

from studio.context import Studio
from studio.many.promote import PartitionRules, judge, promote_family
from studio.names import PARTITIONS_TABLE
from studio.training.features import model_frame
from studio.training.metrics import METRICS
from tests.many.test_family import shop_frame, train_shop


def _table(scores: dict[str, float], baseline: float = 10.0) -> pd.DataFrame:
    return pd.DataFrame([{"key": k, "status": "model", "score": v, "baseline": baseline} for k, v in scores.items()])


def test_rules_judge_each_partition_against_its_baseline_and_the_champion() -> None:
    rmse = METRICS["rmse"]
    candidate = _table({"a": 5.0, "b": 9.5, "c": 6.0, "d": 4.0})
    champion = _table({"a": 6.0, "c": 5.0})
    verdicts = judge(candidate, champion, PartitionRules(beat_baseline_by=0.10, champion_margin=0.05),
                     rmse).set_index("key")
    assert verdicts.loc["a", "passed"] and verdicts.loc["d", "passed"]  # 50 % and 60 % better, not worse than it
    assert verdicts.loc["b", "source"] == "fallback" and "5.0% < 10%" in verdicts.loc["b", "why_not"]
    assert verdicts.loc["c", "source"] == "champion" and "20.0% worse than the champion" in verdicts.loc["c", "why_not"]
    auc = METRICS["roc_auc"]
    up = judge(_table({"a": 0.9}, baseline=0.5), None, PartitionRules(beat_baseline_by=0.5), auc)
    assert up["passed"].tolist() == [True]  # greater is better: (0.9 - 0.5) / 0.5 = 80 %


def test_a_failing_partition_keeps_the_champions_model(studio: Studio) -> None:
    frame = shop_frame(n_stores=2, n_items=2)
    first = train_shop(studio, frame, job_id="v1")
    studio.registry.promote("shop", "1", actor="ana", reason="first family")
    second = train_shop(studio, frame, job_id="v2", seed=1)
    assert second.model_uri == "models:/shop/2"
    # demand that each partition be no worse than the champion at all, and 99 % better than its baseline:
    # nothing passes, so every partition keeps v1's model
    strict = promote_family(studio.registry, "shop", "2", PartitionRules(beat_baseline_by=0.99, champion_margin=0.0),
                            actor="ana", reason="strict")
    assert strict.version == "3" and strict.passed == 0 and strict.kept_champion == 4
    assert studio.registry.holder("shop").version == "3"
    v1, v3 = (studio.tracker.load_model(f"models:/shop/{v}") for v in ("1", "3"))
    X = frame.head(40)
    assert np.allclose(v1.predict_frame(X)["prediction"], v3.predict_frame(X)["prediction"])
    table = studio.tracker.load_table(studio.registry.holder("shop").run_id, PARTITIONS_TABLE)
    judged = table.dropna(subset=["source"])  # the tiny partition has no model of its own: not judged
    assert set(judged["source"]) == {"champion"} and judged["why_not"].str.contains("baseline").all()
    entry = studio.registry.audit("shop")[0]
    assert entry.action == "promote" and "0 of 4 partitions passed, 4 kept the champion's model" in entry.reason

    lenient = promote_family(studio.registry, "shop", "2", PartitionRules(beat_baseline_by=0.0, champion_margin=None),
                             actor="ana", reason="")
    assert lenient.passed == 4 and lenient.version == "4"
    v2, v4 = (studio.tracker.load_model(f"models:/shop/{v}") for v in ("2", "4"))
    assert np.allclose(v2.predict_frame(X)["prediction"], v4.predict_frame(X)["prediction"])
    assert model_frame(X, v4.info.features).shape[0] == 40
    assert first.run_id != second.run_id


def test_the_cli_promotes_a_family_with_partition_rules(studio: Studio, capsys) -> None:
    import json

    from studio.cli import main

    frame = shop_frame(n_stores=1, n_items=3)
    train_shop(studio, frame, job_id="c1")
    assert main(["models", "promote", "shop", "1", "--beat-baseline", "0.1", "--champion-margin", "off",
                 "--json"]) == 0
    done = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert done["candidate"] == "1" and done["version"] == "2" and done["passed"] == 3
    assert studio.registry.holder("shop").version == "2"
    assert main(["models", "promote", "shop", "1", "--beat-baseline", "7"]) == 2
    assert "Partition rules" in capsys.readouterr().err
