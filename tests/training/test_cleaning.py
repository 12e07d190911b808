"""Data preparation recorded in the spec and applied the same way in training, batch scoring and the service."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from studio.context import Studio
from studio.errors import SpecError
from studio.export.service_code import service_schema
from studio.scoring import score_frame
from studio.studies import storage_for
from studio.training.draft import draft_spec
from studio.training.features import model_frame
from studio.training.run import train
from studio.training.spec import Budget, Cleaning, TrainSpec, section
from tests.conftest import INLINE, SMALL, ListReporter, churn_frame


def _data() -> pd.DataFrame:
    frame = churn_frame(300)
    frame["store"] = np.arange(300) % 7  # a code that looks numeric
    frame["customer_id"] = np.arange(300)
    frame.loc[0, "monthly charges"] = 10_000.0  # a data-entry error
    return pd.concat([frame, frame.iloc[:20]], ignore_index=True)  # twenty duplicate rows


def test_cleaning_choices_shape_the_features_and_are_recorded(studio: Studio) -> None:
    frame = _data()
    record = studio.catalog.save(frame, "shop", source="test")
    spec = draft_spec(record, frame, target="churned", algorithms=["linear"], budget=Budget(max_trials=1, seconds=None),
                      cleaning=Cleaning(type_overrides={"store": "categorical", "customer_id": "id"},
                                        drop_duplicates=True, cap_outliers="iqr", dropped_columns=["auto_pay"]))
    features = {f.name: f for f in spec.features}
    assert features["store"].kind == "categorical" and features["store"].n_distinct == 7
    assert "customer_id" not in features and "auto_pay" not in features
    low, high = features["monthly charges"].clip  # type: ignore[misc]
    assert high < 200 and low < 70 < high
    assert features["tenure"].clip is not None and features["plan"].clip is None
    assert spec.cleaning.model_dump() == {"drop_duplicates": True, "cap_outliers": "iqr",
                                          "type_overrides": {"store": "categorical", "customer_id": "id"},
                                          "dropped_columns": ("auto_pay",)}
    assert TrainSpec.parse(spec.model_dump_json()) == spec  # the spec carries it all, through JSON
    capped = model_frame(frame.head(2), spec.features)
    assert capped.loc[0, "monthly charges"] == pytest.approx(high) and capped.loc[1, "store"] == "1"


def test_bad_overrides_are_refused(studio: Studio) -> None:
    frame = _data()
    record = studio.catalog.save(frame, "shop", source="test")
    with pytest.raises(SpecError, match="not in the dataset"):
        draft_spec(record, frame, target="churned", cleaning=Cleaning(type_overrides={"nope": "numeric"}))
    with pytest.raises(SpecError, match=r"type_overrides\.store"):  # an unknown kind is refused where it is typed
        draft_spec(record, frame, target="churned",
                   cleaning=section(Cleaning, type_overrides={"store": "colour"}))
    with pytest.raises(SpecError, match=r"does not fit the data: Column 'plan' must hold finite numbers, but row \d+"):
        draft_spec(record, frame, target="churned", cleaning=Cleaning(type_overrides={"plan": "numeric"}))


def test_training_drops_duplicates_and_scoring_caps_like_training(studio: Studio) -> None:
    frame = _data()
    record = studio.catalog.save(frame, "shop", source="test")
    spec = draft_spec(record, frame, target="churned", algorithms=["linear"], validation={"kind": "holdout"},
                      budget=Budget(max_trials=2, seconds=None),
                      cleaning=Cleaning(drop_duplicates=True, cap_outliers="zscore",
                                        type_overrides={"customer_id": "id"}))
    reporter = ListReporter()
    result = train(spec, catalog=studio.catalog, tracker=studio.tracker, storage=storage_for(studio.settings, "j"),
                   job_id="j", profile=SMALL, pools=INLINE, reporter=reporter)
    assert "Left out 20 duplicate rows (data preparation in the spec)." in reporter.lines
    model = studio.tracker.load_model(result.model_uri)
    high = next(f for f in model.info.features if f.name == "monthly charges").clip[1]  # type: ignore[index]
    rows = frame.head(1).copy()
    extreme, at_cap = rows.assign(**{"monthly charges": 1e6}), rows.assign(**{"monthly charges": high})
    assert score_frame(model, extreme).equals(score_frame(model, at_cap))
    schema = service_schema(model.info, model_tag="m:1", model_uri=result.model_uri, service_name="S")
    assert next(c.clip for c in schema.columns if c.name == "monthly charges")[1] == pytest.approx(high)  # type: ignore[index]


def test_the_cli_records_cleaning_in_the_spec(studio: Studio, tmp_path, capsys) -> None:
    import json

    from studio.cli import main

    path = tmp_path / "shop.csv"
    _data().to_csv(path, index=False)
    assert main(["train", str(path), "--target", "churned", "--type", "store=categorical", "--type",
                 "customer_id=id", "--drop-duplicates", "--cap-outliers", "iqr", "--json"]) == 0
    job_id = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["job_id"]
    spec = TrainSpec.parse(studio.jobs.get(job_id).payload)
    assert spec.cleaning.drop_duplicates and spec.cleaning.cap_outliers == "iqr"
    assert spec.cleaning.type_overrides == {"store": "categorical", "customer_id": "id"}
    assert main(["train", str(path), "--target", "churned", "--type", "store"]) == 2
    assert "--type takes COLUMN=KIND" in capsys.readouterr().err
