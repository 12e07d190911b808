"""Every fact about an algorithm lives in its registry entry: adding one is one place."""

from __future__ import annotations

import dataclasses

import pytest

from studio.cli import main
from studio.training import estimators
from studio.training.estimate import fit_seconds


def test_a_new_registry_entry_reaches_the_estimate_and_the_cli_help(monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    linear = estimators.ESTIMATORS["linear"]
    added = dataclasses.replace(linear, name="tiny_linear", label="Tiny", seconds_per_fit=0.01, threaded=True)
    monkeypatch.setitem(estimators.ESTIMATORS, "tiny_linear", added)
    assert fit_seconds("tiny_linear", 10_000, 10, threads=1) == pytest.approx(0.01)
    assert fit_seconds("tiny_linear", 10_000, 10, threads=4) < 0.01  # threaded: more threads, less time
    assert fit_seconds("linear", 10_000, 10, threads=4) == pytest.approx(0.15)  # not threaded
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "tiny_linear" in capsys.readouterr().out


def test_the_partition_order_and_the_boosters_come_from_the_registry() -> None:
    from studio.many.train import CHEAP

    ranked = sorted((e for e in estimators.ESTIMATORS.values() if e.partition_rank is not None),
                    key=lambda e: e.partition_rank)
    assert tuple(e.name for e in ranked) == CHEAP and CHEAP[0] == "linear"
    assert {e.name for e in estimators.ESTIMATORS.values() if e.native_booster} == {"xgboost", "lightgbm"}
    assert all(e.seconds_per_fit > 0 for e in estimators.ESTIMATORS.values())
