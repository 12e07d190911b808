"""The first-run sample datasets: generated offline, seeded, and each trains to a useful model quickly."""

from __future__ import annotations

import pytest

from studio.context import Studio
from studio.errors import StudioError
from studio.samples import SAMPLES, add_sample
from studio.studies import storage_for
from studio.training.draft import draft_spec
from studio.training.run import train
from studio.training.spec import Budget
from tests.conftest import INLINE, SMALL, ListReporter


def test_samples_are_seeded_and_adding_one_twice_keeps_one_snapshot(studio: Studio) -> None:
    first = add_sample(studio.catalog, "customer-churn")
    again = add_sample(studio.catalog, "customer-churn")
    assert first.id == again.id == "customer-churn-v1" and first.source.startswith("sample:")
    for sample in SAMPLES.values():
        frame = sample.build()
        assert sample.target in frame.columns and frame.equals(sample.build())
        assert all(c in frame.columns for c in (*sample.partition_by, sample.time_column) if c)
    with pytest.raises(StudioError, match="choose from customer-churn, house-prices, store-item-sales"):
        add_sample(studio.catalog, "nope")


@pytest.mark.parametrize(("name", "metric", "floor"), [("customer-churn", "test_roc_auc", 0.85),
                                                       ("house-prices", "test_r2", 0.85)])
def test_a_sample_trains_to_a_useful_model_in_a_few_trials(studio: Studio, name: str, metric: str,
                                                           floor: float) -> None:
    record = add_sample(studio.catalog, name)
    frame = studio.catalog.load(record.id)
    spec = draft_spec(record, frame, target=SAMPLES[name].target, algorithms=["linear", "lightgbm"],
                      validation={"kind": "holdout"}, budget=Budget(max_trials=4, seconds=None))
    result = train(spec, catalog=studio.catalog, tracker=studio.tracker, storage=storage_for(studio.settings, name),
                   job_id=name, profile=SMALL, pools=INLINE, reporter=ListReporter())
    assert studio.tracker.client.get_run(result.run_id).data.metrics[metric] > floor


def test_the_cli_lists_and_adds_samples(capsys: pytest.CaptureFixture[str]) -> None:
    from studio.cli import main

    assert main(["data", "sample"]) == 0
    assert "store-item-sales" in capsys.readouterr().out
    assert main(["data", "sample", "house-prices", "--json"]) == 0
    assert '"id": "house-prices-v1"' in capsys.readouterr().out
