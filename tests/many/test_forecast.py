"""Forecasting per partition: time-ordered split, lags the horizon allows, naive baselines, lags built when serving."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from studio.context import Studio
from studio.errors import SpecError
from studio.many.forecast import LagPlan, naive_baselines
from studio.many.router import PartitionRouter
from studio.many.synthetic import store_item_sales
from studio.names import PARTITIONS_TABLE
from studio.training.features import model_frame
from studio.training.spec import Forecasting
from studio.training.time_steps import TimeSteps, time_split
from tests.many.test_family import train_shop


def weekly_sales(stores: int = 3, days: int = 84, seed: int = 0) -> pd.DataFrame:
    """Daily sales with a strong weekly pattern per store and a promotion effect: the seasonal lags and the
    promotion (a known future covariate) explain them; the mean does not."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2026-01-05", periods=days, freq="D")
    parts = []
    for store in range(stores):
        pattern = rng.uniform(20, 80, 7)
        promo = (rng.random(days) < 0.2).astype(int)
        sales = pattern[dates.dayofweek] + 30 * promo + rng.normal(0, 1, days)
        parts.append(pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "store": f"s{store}", "promo": promo,
                                   "sales": sales}))
    return pd.concat(parts, ignore_index=True)


def test_time_steps_are_inferred_and_counted() -> None:
    days = pd.Series(pd.date_range("2026-01-01", periods=10, freq="D"))
    steps = TimeSteps.infer(days, "d")
    assert steps.label == "day" and steps.season == 7
    assert np.diff(steps.numbers(days)).tolist() == [1.0] * 9
    months = pd.Series(pd.date_range("2025-01-01", periods=14, freq="MS"))
    monthly = TimeSteps.infer(months, "m")
    assert monthly.monthly and monthly.season == 12 and np.diff(monthly.numbers(months)).tolist() == [1.0] * 13
    with pytest.raises(SpecError, match="steps of an hour or longer"):
        TimeSteps.infer(pd.Series(pd.date_range("2026-01-01", periods=10, freq="min")), "t")


def test_lags_never_look_closer_than_the_horizon() -> None:
    plan = LagPlan.for_horizon("y", horizon=3, season=7, train_steps=100)
    assert plan.lags == (3, 7, 14) and min(plan.lags) >= 3
    assert LagPlan.for_horizon("y", horizon=10, season=7, train_steps=100).lags == (10, 14, 21)
    assert LagPlan.for_horizon("y", horizon=30, season=7, train_steps=40).lags == ()  # no history to learn from


def test_naive_baselines_repeat_the_last_value_and_the_last_season() -> None:
    y = np.arange(14, dtype=float)  # steps 0..13, value = step
    out = naive_baselines(y, np.arange(14.0), np.array([14.0, 15.0, 20.0, 21.0]), season=7)
    assert out["last value"].tolist() == [13.0] * 4
    assert out["seasonal naive"].tolist() == [7.0, 8.0, 13.0, 7.0]  # 14-7, 15-7, 20-7, 21-14


def test_the_test_rows_are_the_last_horizon_steps() -> None:
    frame = weekly_sales(days=30)
    train, test = time_split(frame, Forecasting(time_column="date", horizon=5))
    dates = pd.to_datetime(frame["date"])
    assert dates.iloc[train].max() < dates.iloc[test].min()
    assert dates.iloc[test].nunique() == 5 and len(train) + len(test) == len(frame)
    with pytest.raises(SpecError, match="Lower the horizon"):
        time_split(frame, Forecasting(time_column="date", horizon=25))


def test_a_forecasting_family_beats_its_naive_baselines_and_serves_with_its_own_history(studio: Studio) -> None:
    frame = weekly_sales()
    result = train_shop(studio, frame, job_id="fc", partition_by=["store"], time_column="date", horizon=7,
                        algorithms=["linear", "lightgbm"], min_rows=20)
    table = studio.tracker.load_table(result.run_id, PARTITIONS_TABLE)
    own = table[table["status"] == "model"]
    assert len(own) == 3 and own["rows_test"].eq(7).all()  # one week held out per store, the last one
    assert set(own["baseline_kind"]) <= {"last value", "seasonal naive"}
    assert (own["score"] < own["baseline"]).all()  # RMSE: the promotions beat the best naive forecast

    model = studio.tracker.load_model(result.model_uri)
    router = model.pipeline
    assert isinstance(router, PartitionRouter) and router.forecast is not None
    assert router.forecast.lags == (7, 14)
    # the next week, after the data ends: the request carries keys, date and covariates, never the target
    ahead = pd.DataFrame({"date": pd.date_range("2026-03-30", periods=7, freq="D").strftime("%Y-%m-%d"),
                          "store": "s0", "promo": 0})
    X = model_frame(ahead, model.info.features)
    lagged = router.forecast.add(X, {"s0": np.arange(7)})
    history = frame[frame["store"] == "s0"].set_index(pd.to_datetime(frame.loc[frame["store"] == "s0", "date"]))
    expected = history["sales"].reindex(pd.to_datetime(ahead["date"]) - pd.Timedelta(days=7)).to_numpy()
    assert lagged["sales__lag_7"].to_numpy() == pytest.approx(expected)  # looked up in the kept history
    predicted = model.predict_frame(ahead)["prediction"].to_numpy()
    promo = model.predict_frame(ahead.assign(promo=1))["prediction"].to_numpy()
    assert (promo - predicted).mean() == pytest.approx(30, abs=6)  # a known future covariate moves the forecast
    assert np.abs(predicted - expected).mean() < 8  # and the weekly pattern carries over


def test_the_sample_store_item_sales_train_as_a_forecast(studio: Studio) -> None:
    frame = store_item_sales(n_stores=2, n_items=6, days=90, seed=3)
    result = train_shop(studio, frame, job_id="fc-sample", partition_by=["store", "item"], time_column="date",
                        horizon=14, min_rows=30)
    table = studio.tracker.load_table(result.run_id, PARTITIONS_TABLE)
    assert (table.loc[table["status"] == "model", "rows_test"] <= 14).all()
    scored = studio.tracker.load_model(result.model_uri).predict_frame(frame.tail(40))
    assert scored["prediction"].notna().all() and len(scored) == 40


def test_forecasting_specs_are_checked(studio: Studio) -> None:
    frame = weekly_sales(days=30)
    with pytest.raises(SpecError, match="choose partition columns"):
        train_shop(studio, frame, job_id="x", partition_by=[], time_column="date")
    with pytest.raises(SpecError, match="must be regression"):
        train_shop(studio, frame, job_id="x", task="binary", time_column="date", partition_by=["store"])
    with pytest.raises(SpecError, match="needs a time column"):
        train_shop(studio, frame, job_id="x", task="forecast", partition_by=["store"])


def test_the_cli_trains_a_forecast_and_predicts_the_next_week(tmp_path, capsys) -> None:
    import json

    from studio.cli import main

    frame = weekly_sales(stores=2)
    frame.to_csv(tmp_path / "daily.csv", index=False)
    assert main(["train", str(tmp_path / "daily.csv"), "--target", "sales", "--partition-by", "store", "--task",
                 "forecast", "--time-column", "date", "--horizon", "7", "--min-rows", "20", "--budget-seconds", "30",
                 "--wait", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["status"] == "succeeded" and out["model_uri"] == "models:/daily/1" and out["n_trials"] == 2
    ahead = pd.DataFrame({"date": pd.date_range("2026-03-30", periods=7).strftime("%Y-%m-%d").tolist() * 2,
                          "store": ["s1"] * 7 + ["s0"] * 7, "promo": 0})
    ahead.to_csv(tmp_path / "ahead.csv", index=False)
    assert main(["predict", out["model_uri"], "--data", str(tmp_path / "ahead.csv"), "--out",
                 str(tmp_path / "forecast.csv"), "--with-input"]) == 0
    forecast = pd.read_csv(tmp_path / "forecast.csv")
    assert forecast["store"].tolist() == ahead["store"].tolist()  # row order kept
    last_week = frame.groupby("store").tail(7).set_index(["store", "date"])["sales"]
    expected = [last_week[(s, (pd.Timestamp(d) - pd.Timedelta(days=7)).strftime("%Y-%m-%d"))]
                for s, d in zip(ahead["store"], ahead["date"], strict=True)]
    assert np.corrcoef(forecast["prediction"], expected)[0, 1] > 0.8  # the weekly pattern carries on
    assert main(["train", str(tmp_path / "daily.csv"), "--target", "sales", "--partition-by", "store",
                 "--time-column", "nope"]) == 2
    assert "The time column 'nope' is not in" in capsys.readouterr().err
